//! The black-box suite on PostgreSQL: the tests of `tests/api` that depend on the database run
//! again with the server on a throwaway PostgreSQL cluster (`tests/api/pg.rs`) instead of a
//! SQLite file, and the tests of several `serve` processes on one database (`cluster`) and of
//! the commands on PostgreSQL (`commands`) run here only. Tests whose subject is not the
//! database run once, in `tests/api`: the docs, the OpenAPI document, packaging, the browser,
//! real monitoring tools and client libraries (`external`), and the SQLite file's own
//! commands and leader lock (`cli`, `ops`, `scheduler`; their PostgreSQL counterparts are
//! `commands` and `cluster`).
//!
//! Without PostgreSQL installed this binary skips (see `pg::database_or_skip`).

/// This binary runs on PostgreSQL.
pub const POSTGRES: bool = true;

#[path = "../api/actions.rs"]
mod actions;
#[path = "../api/auth.rs"]
mod auth;
#[path = "../api/calendar.rs"]
mod calendar;
mod cluster;
mod commands;
#[path = "../api/delivery.rs"]
mod delivery;
#[path = "../api/durability.rs"]
mod durability;
#[path = "../api/engine.rs"]
mod engine;
#[path = "../api/fake.rs"]
mod fake;
#[path = "../api/intake.rs"]
mod intake;
#[path = "../api/lifecycle.rs"]
mod lifecycle;
#[path = "../api/personal.rs"]
mod personal;
#[path = "../api/pg.rs"]
mod pg;
#[path = "../api/process.rs"]
mod process;
#[path = "../api/resources.rs"]
mod resources;
#[path = "../api/schedules.rs"]
mod schedules;
#[path = "../api/store.rs"]
mod store;
#[path = "../api/support.rs"]
mod support;
#[path = "../api/tools.rs"]
mod tools;
#[path = "../api/trust.rs"]
mod trust;
#[path = "../api/ui.rs"]
mod ui;
