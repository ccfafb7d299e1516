//! Pure domain logic: no SQL, no HTTP, no clock reads, no I/O.

pub mod access;
pub mod alert;
pub mod change;
pub mod channel;
pub mod contact;
pub mod engine;
pub mod escalation;
pub mod flapping;
pub mod ical;
pub mod lifecycle;
pub mod matcher;
pub mod message;
pub mod rotation;
pub mod routing;
pub mod time;
pub mod validate;

/// "1 notification", "3 notifications": a count with its noun, for timelines and messages.
pub fn count(n: impl Into<i64>, noun: &str) -> String {
    let n = n.into();
    if n == 1 { format!("1 {noun}") } else { format!("{n} {noun}s") }
}

#[cfg(test)]
mod tests {
    #[test]
    fn counts_agree_with_their_nouns() {
        assert_eq!(super::count(1, "notification"), "1 notification");
        assert_eq!(super::count(0, "page"), "0 pages");
        assert_eq!(super::count(2_i32, "target"), "2 targets");
    }
}
