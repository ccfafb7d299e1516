//! The command line (argh). Exit codes: 0 success, 1 failure, 2 usage error.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

use argh::FromArgs;

use crate::app::{Application, Roles};
use crate::clock::{Clock, SystemClock};
use crate::config::Config;
use crate::store::audit::{Actor, Ctx};
use crate::store::{self, Db, users};

#[derive(FromArgs, Debug)]
/// IncidentRelay: on-call routing, alert delivery and escalation in one binary.
pub struct Cli {
    #[argh(subcommand)]
    pub command: Command,
}

#[derive(FromArgs, Debug)]
#[argh(subcommand)]
pub enum Command {
    Serve(Serve),
    Scheduler(Scheduler),
    Migrate(Migrate),
    CreateAdmin(CreateAdmin),
    CheckSchema(CheckSchema),
    SendTestEmail(SendTestEmail),
    Backup(Backup),
    CopyData(CopyData),
    DemoData(DemoData),
    Version(Version),
}

#[derive(FromArgs, Debug)]
#[argh(subcommand, name = "serve")]
/// Run the web server and, when this process holds the scheduler lock, the engine.
pub struct Serve {
    /// configuration file (default: $INCIDENTRELAY_CONFIG or /etc/incidentrelay/incidentrelay.toml)
    #[argh(option)]
    pub config: Option<PathBuf>,
    /// listen address, e.g. 0.0.0.0:8080 (overrides server.listen)
    #[argh(option)]
    pub listen: Option<String>,
    /// serve HTTP only; never run the engine
    #[argh(switch)]
    pub no_scheduler: bool,
    /// run the engine only, without HTTP (same as `incidentrelay scheduler`)
    #[argh(switch)]
    pub scheduler_only: bool,
    /// create a new, empty database even though files of an earlier one are next to
    /// database.path (it was deleted or moved: restoring a backup is usually what you want)
    #[argh(switch)]
    pub init: bool,
}

#[derive(FromArgs, Debug)]
#[argh(subcommand, name = "scheduler")]
/// Run the engine (escalations, reminders, deliveries) without the web server.
pub struct Scheduler {
    /// configuration file
    #[argh(option)]
    pub config: Option<PathBuf>,
}

#[derive(FromArgs, Debug)]
#[argh(subcommand, name = "migrate")]
/// Apply pending database migrations (safe to run again).
pub struct Migrate {
    /// configuration file
    #[argh(option)]
    pub config: Option<PathBuf>,
    /// create a new, empty database even though files of an earlier one are next to
    /// database.path
    #[argh(switch)]
    pub init: bool,
}

#[derive(FromArgs, Debug)]
#[argh(subcommand, name = "create-admin")]
/// Create an administrator (password from --password, --password-file or INCIDENTRELAY_ADMIN_PASSWORD).
pub struct CreateAdmin {
    /// configuration file
    #[argh(option)]
    pub config: Option<PathBuf>,
    /// login name
    #[argh(option)]
    pub username: String,
    /// e-mail address
    #[argh(option)]
    pub email: String,
    /// password (prefer --password-file or INCIDENTRELAY_ADMIN_PASSWORD: command lines are visible to other users)
    #[argh(option)]
    pub password: Option<String>,
    /// read the password from this file (first line)
    #[argh(option)]
    pub password_file: Option<PathBuf>,
    /// if the user exists, make it an active admin and set the password
    #[argh(switch)]
    pub update: bool,
}

#[derive(FromArgs, Debug)]
#[argh(subcommand, name = "check-schema")]
/// Check that every table and column this binary expects exists.
pub struct CheckSchema {
    /// configuration file
    #[argh(option)]
    pub config: Option<PathBuf>,
}

#[derive(FromArgs, Debug)]
#[argh(subcommand, name = "send-test-email")]
/// Send a test e-mail through the configured [smtp] server and report its answer.
pub struct SendTestEmail {
    /// configuration file
    #[argh(option)]
    pub config: Option<PathBuf>,
    /// recipient address
    #[argh(option)]
    pub to: String,
}

#[derive(FromArgs, Debug)]
#[argh(subcommand, name = "backup")]
/// Write a consistent copy of the database while `serve` keeps running (restore: stop the
/// service, put the copy in place of database.path, start it).
pub struct Backup {
    /// configuration file
    #[argh(option)]
    pub config: Option<PathBuf>,
    /// the new backup file (must not exist)
    #[argh(option)]
    pub output: PathBuf,
}

#[derive(FromArgs, Debug)]
#[argh(subcommand, name = "copy-data")]
/// Copy an installation from a SQLite file into an empty PostgreSQL database (stop `serve`
/// first), checking every table's row count; then set database.url and start `serve`.
pub struct CopyData {
    /// the SQLite database file to copy (database.path)
    #[argh(option)]
    pub from: PathBuf,
    /// the PostgreSQL database: postgres://user:password@host:5432/database (must hold no
    /// IncidentRelay data yet)
    #[argh(option)]
    pub to: String,
}

#[derive(FromArgs, Debug)]
#[argh(subcommand, name = "demo-data")]
/// Create demo groups, users, teams, rotations, channels, routes, a policy and alerts, and
/// print the routes' intake tokens (safe to run again: new tokens, nothing duplicated).
pub struct DemoData {
    /// configuration file
    #[argh(option)]
    pub config: Option<PathBuf>,
}

#[derive(FromArgs, Debug)]
#[argh(subcommand, name = "version")]
/// Print the version.
pub struct Version {}

/// Parses the process arguments and runs the command.
pub fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().collect();
    let name = args
        .first()
        .map(|a| Path::new(a).file_name().and_then(|n| n.to_str()).unwrap_or("incidentrelay"))
        .unwrap_or("incidentrelay");
    let rest: Vec<&str> = args.iter().skip(1).map(String::as_str).collect();
    let cli = match Cli::from_args(&[name], &rest) {
        Ok(cli) => cli,
        Err(exit) => {
            return match exit.status {
                Ok(()) => {
                    println!("{}", exit.output);
                    ExitCode::SUCCESS
                }
                Err(()) => {
                    eprintln!("{}\nRun `{name} --help` for usage.", exit.output.trim_end());
                    ExitCode::from(2)
                }
            };
        }
    };
    match run(cli.command) {
        Ok(()) => ExitCode::SUCCESS,
        Err(f) => {
            eprintln!("error: {}", f.message);
            ExitCode::from(f.code)
        }
    }
}

/// A command that failed: what to tell the user, and the exit code (1; 2 for a command that
/// does not apply to this setup).
#[derive(Debug)]
pub struct Failure {
    pub code: u8,
    pub message: String,
}

impl From<String> for Failure {
    fn from(message: String) -> Failure {
        Failure { code: 1, message }
    }
}

impl From<&str> for Failure {
    fn from(message: &str) -> Failure {
        Failure { code: 1, message: message.to_string() }
    }
}

fn env_vars() -> Vec<(String, String)> {
    std::env::vars().filter(|(k, _)| k.starts_with(crate::config::ENV_PREFIX)).collect()
}

fn load_config(file: Option<&Path>) -> Result<Config, String> {
    Config::load(file, &env_vars()).map(|(c, _)| c).map_err(|problems| {
        let mut msg = String::from("invalid configuration:");
        for p in problems {
            msg.push_str("\n  - ");
            msg.push_str(&p);
        }
        msg
    })
}

fn runtime() -> Result<tokio::runtime::Runtime, String> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("cannot start the runtime: {e}"))
}

pub fn run(command: Command) -> Result<(), Failure> {
    match command {
        Command::Serve(s) => {
            let mut config = load_config(s.config.as_deref())?;
            if let Some(listen) = s.listen {
                config.server.listen = listen
                    .parse()
                    .map_err(|_| format!("--listen: `{listen}` is not an address like 127.0.0.1:8080"))?;
            }
            if s.no_scheduler && s.scheduler_only {
                return Err("--no-scheduler and --scheduler-only exclude each other".into());
            }
            let roles = Roles { http: !s.scheduler_only, scheduler: !s.no_scheduler, init: s.init };
            Ok(serve(config, roles)?)
        }
        Command::Scheduler(s) => {
            Ok(serve(load_config(s.config.as_deref())?, Roles { http: false, scheduler: true, init: false })?)
        }
        Command::Migrate(m) => Ok(migrate(&load_config(m.config.as_deref())?, m.init)?),
        Command::CreateAdmin(a) => Ok(create_admin(&load_config(a.config.as_deref())?, a)?),
        Command::CheckSchema(c) => Ok(check_schema(&load_config(c.config.as_deref())?)?),
        Command::SendTestEmail(t) => Ok(send_test_email(&load_config(t.config.as_deref())?, &t.to)?),
        Command::Backup(b) => backup(&load_config(b.config.as_deref())?, &b.output),
        Command::CopyData(c) => Ok(copy_data(&c)?),
        Command::DemoData(d) => Ok(crate::demo::run(&load_config(d.config.as_deref())?, SystemClock.now())?),
        Command::Version(_) => {
            println!("incidentrelay {} (database schema {})", env!("CARGO_PKG_VERSION"), store::latest_known_version());
            Ok(())
        }
    }
}

fn serve(config: Config, roles: Roles) -> Result<(), String> {
    let (log, _guard) = crate::logging::init(&config.logging)?;
    runtime()?.block_on(async move {
        let app = Application::build(config, Arc::new(SystemClock), log.clone(), roles).await.inspect_err(|e| {
            slog::crit!(log, "start-up failed"; "error" => e);
        })?;
        app.run_until_stopped().await
    })
}

fn migrate(config: &Config, init: bool) -> Result<(), String> {
    let place = store::describe(&config.database);
    let missing = if init { store::Missing::Create } else { store::Missing::FirstStartOnly };
    let (created, applied) = store::migrate_database(&config.database, missing).map_err(|e| e.to_string())?;
    if created {
        println!("Created a new database at {place}.");
    }
    if applied.is_empty() {
        println!("Database {place} is up to date (schema {}).", store::latest_known_version());
    } else {
        let list: Vec<String> = applied.iter().map(|v| format!("V{v}")).collect();
        println!("Applied migrations {} to {place}.", list.join(", "));
    }
    Ok(())
}

fn check_schema(config: &Config) -> Result<(), String> {
    let place = store::describe(&config.database);
    let (version, missing) = store::inspect(&config.database).map_err(|e| e.to_string())?;
    if missing.is_empty() {
        println!("Schema check OK ({place}, schema {version}).");
        Ok(())
    } else {
        for m in &missing {
            println!("missing: {m}");
        }
        Err(format!("schema check failed: {} item(s) missing; run `incidentrelay migrate`", missing.len()))
    }
}

fn backup(config: &Config, output: &Path) -> Result<(), Failure> {
    if config.database.url.is_some() {
        return Err(Failure {
            code: 2,
            message: "`backup` copies the SQLite file; this installation uses PostgreSQL (database.url): back it \
                      up with pg_dump, e.g. `pg_dump --format=custom --file=incidentrelay.dump <database>`, \
                      or your provider's snapshots"
                .into(),
        });
    }
    let src = &config.database.path;
    if !src.exists() {
        return Err(format!("database {} does not exist", src.display()).into());
    }
    let started = std::time::Instant::now();
    let r = store::backup(&config.database, output).map_err(|e| e.to_string())?;
    println!(
        "Backup of {} written to {} ({:.1} MB, {} alerts, schema {}) in {:.1} s.",
        src.display(),
        output.display(),
        r.bytes as f64 / 1_048_576.0,
        r.alerts,
        r.schema,
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

fn copy_data(c: &CopyData) -> Result<(), String> {
    if !c.to.starts_with("postgres://") && !c.to.starts_with("postgresql://") {
        return Err("--to: expected postgres://user:password@host:5432/database".into());
    }
    let started = std::time::Instant::now();
    let report = store::copy::copy_data(&c.from, &c.to).map_err(|e| e.to_string())?;
    for (table, rows) in &report.tables {
        println!("  {table}: {rows} row(s)");
    }
    println!(
        "Copied {} rows in {} tables from {} to {} in {:.1} s; every table's row count matches.",
        report.rows(),
        report.tables.len(),
        c.from.display(),
        store::redact_url(&c.to),
        started.elapsed().as_secs_f64()
    );
    println!("Next: set database.url (INCIDENTRELAY_DATABASE__URL) to this database and start `serve`.");
    Ok(())
}

fn send_test_email(config: &Config, to: &str) -> Result<(), String> {
    let rt = runtime()?;
    let timeout = std::time::Duration::from_secs(config.delivery.timeout_seconds);
    let mailer =
        crate::notify::email::Mailer::new(&config.smtp, &config.public_base_url(), timeout, rt.handle().clone())?
            .ok_or("smtp.host is not set: configure [smtp] (or INCIDENTRELAY_SMTP__HOST) first")?;
    let (host, port) = (config.smtp.host.as_deref().unwrap_or(""), config.smtp.port);
    let plain = format!(
        "This is a test e-mail from IncidentRelay at {}.\n\nIf you can read it, alert e-mails will arrive too.\n",
        config.public_base_url()
    );
    let html = format!(
        "<p>This is a test e-mail from IncidentRelay at <a href=\"{0}\">{0}</a>.</p><p>If you can read it, alert e-mails will arrive too.</p>",
        crate::notify::text::html_escape(&config.public_base_url())
    );
    let headers = [("X-IncidentRelay-Event", "test".to_string())];
    let id = crate::store::outbox::new_message_id();
    let ids = crate::notify::email::MailIds { message_id: &id, thread_root: None };
    mailer
        .send(&[to.to_string()], "IncidentRelay test e-mail", (plain, html), &headers, ids)
        .map_err(|e| format!("{host}:{port} refused the test e-mail: {}", e.message()))?;
    println!("Test e-mail to {to} accepted by {host}:{port}.");
    Ok(())
}

fn create_admin(config: &Config, a: CreateAdmin) -> Result<(), String> {
    let password = match (a.password, a.password_file) {
        (Some(p), _) => p,
        (None, Some(f)) => std::fs::read_to_string(&f)
            .map_err(|e| format!("--password-file {}: {e}", f.display()))?
            .lines()
            .next()
            .unwrap_or("")
            .to_string(),
        (None, None) => std::env::var("INCIDENTRELAY_ADMIN_PASSWORD").map_err(|_| {
            "give the password with --password, --password-file or INCIDENTRELAY_ADMIN_PASSWORD".to_string()
        })?,
    };
    let mut problems = crate::domain::validate::Problems::new();
    crate::domain::validate::password(&mut problems, "password", &password);
    if let Err(errs) = problems.finish() {
        return Err(format!("password {}", errs[0].message));
    }
    let hash = crate::crypto::hash_password(&password).map_err(|e| e.to_string())?;
    let db = Db::open(&config.database).map_err(|e| e.to_string())?;
    let ctx = Ctx::new(Actor::system("cli:create-admin"), SystemClock.now());
    let (username, email, update) = (a.username.clone(), a.email.clone(), a.update);
    let outcome = db
        .write_blocking(move |c| {
            let input = users::UserInput {
                username: Some(username.clone()),
                email: Some(Some(email)),
                is_admin: Some(true),
                active: Some(true),
                ..Default::default()
            };
            match users::credentials(c, &username)? {
                Some((existing, _)) if update => {
                    users::update(c, &ctx, existing.id, input, None)?;
                    users::set_password(c, &ctx, existing.id, &hash, false, None)?;
                    Ok("updated")
                }
                Some(_) => Err(store::StoreError::conflict("username", "exists")),
                None => users::create(c, &ctx, input, &hash, false).map(|_| "created"),
            }
        })
        .map_err(|e| match e {
            store::StoreError::Conflict { .. } => {
                format!("user {} already exists (use --update to reset it)", a.username)
            }
            other => other.to_string(),
        })?;
    println!("Admin {} {outcome}.", a.username);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Result<Cli, argh::EarlyExit> {
        Cli::from_args(&["incidentrelay"], args)
    }

    #[test]
    fn commands_parse_and_unknown_flags_fail() {
        assert!(matches!(
            parse(&["serve", "--no-scheduler"]).unwrap().command,
            Command::Serve(Serve { no_scheduler: true, .. })
        ));
        assert!(matches!(
            parse(&["create-admin", "--username", "a", "--email", "a@x"]).unwrap().command,
            Command::CreateAdmin(_)
        ));
        let bad = parse(&["serve", "--bogus"]).unwrap_err();
        assert!(bad.status.is_err());
        let help = parse(&["serve", "--help"]).unwrap_err();
        assert!(help.status.is_ok() && help.output.contains("--no-scheduler"));
    }
}
