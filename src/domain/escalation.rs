//! Escalation: the state machines of escalation policies and of simple-mode reminders.
//!
//! A policy's rule 0 fires at intake; rule `i` fires `delay_seconds(i)` after rule `i - 1`.
//! After the last rule the policy starts over `repeat_count` times, waiting rule 0's delay
//! first, then stops. In simple mode (a route with a rotation and no policy), an unacknowledged
//! alert is re-notified every reminder interval; after `escalation_after_reminders` reminders
//! (when the team enables escalation) it escalates to the next rotation member and the reminder
//! count starts again.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// What an escalation rule pages.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum TargetType {
    /// The rotation's current on-call user (through the route's channels).
    Rotation,
    /// A specific user (through the route's channels).
    User,
    /// A channel.
    Channel,
}

impl TargetType {
    pub fn as_str(self) -> &'static str {
        match self {
            TargetType::Rotation => "rotation",
            TargetType::User => "user",
            TargetType::Channel => "channel",
        }
    }
    pub fn parse(s: &str) -> Option<TargetType> {
        [TargetType::Rotation, TargetType::User, TargetType::Channel].into_iter().find(|t| t.as_str() == s)
    }
}

/// Seconds from firing rule `level` (in repeat `cycle`) to the next step; `None` when the policy
/// has run all its steps and repeats.
pub fn next_after(delays: &[i64], repeat_count: i64, level: i64, cycle: i64) -> Option<i64> {
    let next = (level + 1) as usize;
    if next < delays.len() {
        Some(delays[next].max(0))
    } else if cycle < repeat_count {
        delays.first().map(|d| (*d).max(0))
    } else {
        None
    }
}

/// What a due policy timer does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PolicyStep {
    /// Fire rule `level` of repeat `cycle`; the following timer is `next_in` seconds away.
    Fire { level: i64, cycle: i64, next_in: Option<i64> },
    /// Nothing left: the policy has stopped.
    Stop,
}

/// The step due after rule `level` of `cycle` fired.
pub fn policy_step(delays: &[i64], repeat_count: i64, level: i64, cycle: i64) -> PolicyStep {
    let (level, cycle) = if ((level + 1) as usize) < delays.len() {
        (level + 1, cycle)
    } else if cycle < repeat_count {
        (0, cycle + 1)
    } else {
        return PolicyStep::Stop;
    };
    PolicyStep::Fire { level, cycle, next_in: next_after(delays, repeat_count, level, cycle) }
}

/// What a due simple-mode timer does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SimpleStep {
    /// Re-notify the assignee; this is reminder number `reminder_count`.
    Remind { reminder_count: i64 },
    /// Escalate to the next rotation member (the reminder count starts again).
    Escalate,
}

pub fn simple_step(reminder_count: i64, escalation_enabled: bool, escalate_after: i64) -> SimpleStep {
    if escalation_enabled && reminder_count >= escalate_after {
        SimpleStep::Escalate
    } else {
        SimpleStep::Remind { reminder_count: reminder_count + 1 }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn policy_runs_rules_then_repeats_then_stops() {
        // Rule delays: rule 0 (its delay is the wait before a repeat), rule 1 after 300 s, rule 2 after 600 s.
        let d = [120, 300, 600];
        assert_eq!(next_after(&d, 1, 0, 0), Some(300), "rule 0 fired at intake; rule 1 in 300 s");
        let mut trace = Vec::new();
        let (mut level, mut cycle) = (0, 0);
        while let PolicyStep::Fire { level: l, cycle: c, next_in } = policy_step(&d, 1, level, cycle) {
            trace.push((l, c, next_in));
            level = l;
            cycle = c;
        }
        assert_eq!(
            trace,
            [(1, 0, Some(600)), (2, 0, Some(120)), (0, 1, Some(300)), (1, 1, Some(600)), (2, 1, None)],
            "after the last rule it waits rule 0's delay, repeats once, and stops"
        );
    }

    #[test]
    fn a_single_rule_without_repeats_never_fires_again() {
        assert_eq!(next_after(&[0], 0, 0, 0), None);
        assert_eq!(policy_step(&[0], 0, 0, 0), PolicyStep::Stop);
        assert_eq!(next_after(&[60], 2, 0, 0), Some(60));
        assert_eq!(policy_step(&[60], 2, 0, 1), PolicyStep::Fire { level: 0, cycle: 2, next_in: None });
    }

    #[test]
    fn simple_mode_escalates_after_n_reminders() {
        assert_eq!(simple_step(0, true, 2), SimpleStep::Remind { reminder_count: 1 });
        assert_eq!(simple_step(1, true, 2), SimpleStep::Remind { reminder_count: 2 });
        assert_eq!(simple_step(2, true, 2), SimpleStep::Escalate);
        assert_eq!(simple_step(2, false, 2), SimpleStep::Remind { reminder_count: 3 }, "disabled: reminders only");
        assert_eq!(simple_step(0, true, 0), SimpleStep::Escalate);
    }
}
