//! The web UI: server-rendered pages (maud), forms with CSRF tokens, a little JavaScript for
//! conveniences only.

pub mod layout;
