//! Several `serve` processes on one PostgreSQL database.
