//! Pure domain logic: no SQL, no HTTP, no clock reads, no I/O.

pub mod access;
pub mod alert;
pub mod change;
pub mod channel;
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
