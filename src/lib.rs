//! IncidentRelay: on-call routing, alert delivery and escalation in one binary.
#![forbid(unsafe_code)]

pub mod app;
pub mod cli;
pub mod clock;
pub mod config;
pub mod crypto;
pub mod demo;
pub mod domain;
pub mod engine;
pub mod http;
pub mod logging;
pub mod metrics;
pub mod notify;
pub mod store;
