//! Pure domain logic: no SQL, no HTTP, no clock reads, no I/O.

pub mod access;
pub mod alert;
pub mod escalation;
pub mod matcher;
pub mod rotation;
pub mod time;
pub mod validate;
