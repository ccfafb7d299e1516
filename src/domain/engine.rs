//! The engine's steps, named once: for the engine's cycle, its advisory locks on PostgreSQL and
//! its metrics.

/// The steps of a cycle, in order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    Escalate,
    Remind,
    Dispatch,
    Housekeeping,
}

impl Step {
    pub const ALL: [Step; 4] = [Step::Escalate, Step::Remind, Step::Dispatch, Step::Housekeeping];

    pub fn as_str(self) -> &'static str {
        match self {
            Step::Escalate => "escalate",
            Step::Remind => "remind",
            Step::Dispatch => "dispatch",
            Step::Housekeeping => "housekeeping",
        }
    }

    /// The advisory lock a step takes on PostgreSQL while it works on many rows at once
    /// ("IRE" and the step's number).
    pub fn lock_key(self) -> i64 {
        0x4952_4500 + self as i64
    }
}
