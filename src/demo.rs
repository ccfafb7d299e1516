//! `incidentrelay demo-data`: a small living system for newcomers — a group, three users with
//! roles, a team, a weekly rotation, a webhook channel to a harmless local target, two routes
//! (Alertmanager and curl) whose intake tokens are printed, an escalation policy and a few
//! alerts. Safe to run again: existing objects are reused (found by name), the routes get new
//! tokens (only hashes are stored, so the old ones cannot be shown again).

use serde_json::json;

use crate::config::Config;
use crate::domain::alert::Source;
use crate::domain::escalation::TargetType;
use crate::domain::lifecycle::Options;
use crate::domain::time::Ts;
use crate::store::audit::{Actor, Ctx};
use crate::store::intake::{IntakeTarget, RouteCtx};
use crate::store::{self, Db, StoreError, channels, groups, policies, rotations, routes, teams, users};

const GROUP: &str = "demo";
const TEAM: &str = "demo-web";

struct Printed {
    users: Vec<(String, String, Option<String>)>,
    routes: Vec<(String, String, String)>,
}

/// Creates the demo data at `now` (the CLI passes the system clock).
pub fn run(config: &Config, now: Ts) -> Result<(), String> {
    let db = Db::open(&config.database).map_err(|e| e.to_string())?;
    // Passwords for new users, hashed before the write transaction.
    let mut fresh = Vec::new();
    for name in ["demo-alice", "demo-bob", "demo-carol"] {
        let pw = crate::crypto::new_password().map_err(|e| e.to_string())?;
        let hash = crate::crypto::hash_password(&pw).map_err(|e| e.to_string())?;
        fresh.push((name.to_string(), pw, hash));
    }
    let opts = config.alerts.lifecycle();
    let printed = db.write_blocking(move |c| create(c, now, &fresh, &opts)).map_err(|e| e.to_string())?;
    let base = config.public_base_url();
    println!("Demo data is ready. Log in at {base} — as admin, or as:");
    for (name, role, pw) in &printed.users {
        match pw {
            Some(pw) => println!("  {name:<12} {role:<10} password {pw}"),
            None => println!("  {name:<12} {role:<10} (existed already; password unchanged)"),
        }
    }
    println!("\nIntake tokens (new on every run; the previous ones stopped working):");
    for (name, source, token) in &printed.routes {
        println!("  {name:<18} {source:<13} {token}");
    }
    if let Some((_, _, token)) = printed.routes.iter().find(|(n, _, _)| n == "demo-curl") {
        println!("\nSend an alert:\n");
        println!("  curl -X POST {base}/api/integrations/webhook \\");
        println!("    -H 'Authorization: Bearer {token}' -H 'Content-Type: application/json' \\");
        println!(
            "    -d '{{\"title\": \"Disk full on db-1\", \"severity\": \"critical\", \"fingerprint\": \"disk-db-1\"}}'"
        );
    }
    Ok(())
}

fn create(
    c: &crate::store::Tx<'_>,
    now: Ts,
    fresh: &[(String, String, String)],
    opts: &Options,
) -> store::Result<Printed> {
    let ctx = Ctx::new(Actor::system("demo-data"), now);
    let group = match groups::list(c, None)?.into_iter().find(|g| g.slug == GROUP) {
        Some(g) => g,
        None => groups::create(
            c,
            &ctx,
            groups::GroupInput {
                slug: Some(GROUP.into()),
                name: Some("Demo".into()),
                description: Some("Created by `incidentrelay demo-data`.".into()),
                active: None,
            },
        )?,
    };
    let roles = [("demo-alice", "editor"), ("demo-bob", "responder"), ("demo-carol", "viewer")];
    let mut printed = Printed { users: Vec::new(), routes: Vec::new() };
    let mut ids = Vec::new();
    for ((name, role), (_, pw, hash)) in roles.iter().zip(fresh) {
        let (user, new_pw) = match users::credentials(c, name)? {
            Some((u, _)) => (u, None),
            None => {
                let input = users::UserInput {
                    username: Some(name.to_string()),
                    display_name: Some(name.trim_start_matches("demo-").to_string()),
                    email: Some(Some(format!("{name}@example.com"))),
                    ..Default::default()
                };
                (users::create(c, &ctx, input, hash, false)?, Some(pw.clone()))
            }
        };
        if !groups::is_member(c, group.id, user.id)? {
            let role = crate::domain::access::Role::parse(role).unwrap_or(crate::domain::access::Role::Viewer);
            groups::add_member(
                c,
                &ctx,
                group.id,
                groups::MembershipInput { user_id: Some(user.id), role: Some(role) },
                None,
            )?;
        }
        printed.users.push((name.to_string(), role.to_string(), new_pw));
        ids.push(user.id);
    }
    let team = match teams::by_slug(c, TEAM)? {
        Some(t) => t,
        None => teams::create(
            c,
            &ctx,
            teams::TeamInput {
                group_id: Some(group.id),
                slug: Some(TEAM.into()),
                name: Some("Demo Web".into()),
                escalation_enabled: Some(true),
                escalation_after_reminders: Some(2),
                ..Default::default()
            },
        )?,
    };
    let members: Vec<i64> = teams::members(c, team.id)?.iter().map(|m| m.user_id).collect();
    for id in &ids[..2] {
        if !members.contains(id) {
            teams::add_member(c, &ctx, team.id, teams::TeamMemberInput { user_id: Some(*id), ..Default::default() })?;
        }
    }
    let rotation = match rotations::list(c, None, Some(team.id), now)?.into_iter().find(|r| r.name == "Demo primary") {
        Some(r) => r,
        None => {
            let r = rotations::create(
                c,
                &ctx,
                rotations::RotationInput {
                    team_id: Some(team.id),
                    name: Some("Demo primary".into()),
                    rotation_type: Some(crate::domain::rotation::RotationType::Weekly),
                    handoff_time: Some("09:00".into()),
                    handoff_weekday: Some(0),
                    timezone: Some("UTC".into()),
                    reminder_interval_seconds: Some(300),
                    start_at: Some(now.plus_secs(-8 * 86_400).rfc3339()),
                    ..Default::default()
                },
            )?;
            for id in &ids[..2] {
                rotations::add_member(c, &ctx, r.id, rotations::MemberInput { user_id: Some(*id), position: None })?;
            }
            r
        }
    };
    // A log channel: it delivers on a fresh machine, with nothing outside IncidentRelay.
    let channel = match channels::list(c, None, Some(team.id))?.into_iter().find(|ch| ch.name == "demo-log") {
        Some(ch) => ch,
        None => {
            let kind = crate::domain::channel::ChannelKind::Log;
            let spec = crate::domain::channel::ChannelSpec {
                name: "demo-log".into(),
                channel_type: kind,
                config: kind.check_config(&json!({}))?,
                notify_on_severities: Vec::new(),
                enabled: true,
            };
            channels::create(c, &ctx, team.id, spec)?
        }
    };
    if !policies::list(c, None, Some(team.id))?.iter().any(|p| p.name == "Demo escalation") {
        policies::create(
            c,
            &ctx,
            policies::PolicyInput {
                team_id: Some(team.id),
                name: Some("Demo escalation".into()),
                description: Some("The on-call at once; bob after 10 minutes.".into()),
                repeat_count: Some(0),
                enabled: Some(true),
                rules: Some(vec![
                    policies::RuleInput {
                        position: Some(0),
                        delay_seconds: Some(0),
                        target_type: Some(TargetType::Rotation),
                        target_id: Some(rotation.id),
                    },
                    policies::RuleInput {
                        position: Some(1),
                        delay_seconds: Some(600),
                        target_type: Some(TargetType::User),
                        target_id: Some(ids[1]),
                    },
                ]),
            },
        )?;
    }
    let existing = routes::list(c, None, Some(team.id))?;
    let mut curl_route = None;
    for (name, source) in [("demo-alertmanager", Source::Alertmanager), ("demo-curl", Source::Webhook)] {
        let route = match existing.iter().find(|r| r.name == name) {
            Some(r) => routes::regenerate_token(c, &ctx, r.id, 0)?,
            None => routes::create(
                c,
                &ctx,
                routes::RouteInput {
                    team_id: Some(team.id),
                    name: Some(name.into()),
                    source: Some(source),
                    rotation_id: Some(Some(rotation.id)),
                    channel_ids: Some(vec![channel.id]),
                    ..Default::default()
                },
            )?,
        };
        let token = route.intake_token.clone().ok_or_else(|| StoreError::Db("no token issued".into()))?;
        printed.routes.push((name.to_string(), source.as_str().to_string(), token));
        if name == "demo-curl" {
            curl_route = Some(route);
        }
    }
    // A few alerts (deduplicated on re-runs by their fingerprints).
    if let Some(route) = curl_route {
        let body = json!([
            {"title": "Checkout latency above 2 s", "severity": "critical", "fingerprint": "demo-latency", "labels": {"service": "checkout", "env": "prod"}},
            {"title": "Disk 85% full on web-2", "severity": "warning", "fingerprint": "demo-disk", "labels": {"host": "web-2"}},
            {"title": "Certificate renewed", "severity": "info", "status": "resolved", "fingerprint": "demo-cert"},
        ]);
        let alerts =
            crate::http::intake::webhook::parse_body(body.to_string().as_bytes()).map_err(StoreError::Invalid)?;
        let target = IntakeTarget::Route(Box::new(RouteCtx::load(c, route)?));
        crate::store::intake::ingest_all(c, now, &target, &alerts, opts)?;
    }
    Ok(printed)
}
