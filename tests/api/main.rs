//! The black-box test binary: the real server on 127.0.0.1:0, a temp SQLite file, a manual
//! clock, fake receivers. `tests/postgres` runs the tests that depend on the database again on
//! PostgreSQL.

/// This binary runs on SQLite files.
pub const POSTGRES: bool = false;

mod actions;
mod auth;
mod browser;
mod calendar;
mod cli;
mod delivery;
mod docs;
mod durability;
mod engine;
mod external;
mod fake;
mod intake;
mod lifecycle;
mod openapi;
mod ops;
mod packaging;
mod personal;
mod pg;
mod process;
mod resources;
mod scheduler;
mod schedules;
mod store;
mod support;
mod tools;
mod trust;
mod ui;
mod webdriver;
