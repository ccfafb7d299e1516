//! The commands on PostgreSQL.
