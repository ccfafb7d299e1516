//! `incidentrelay demo-data`: a small system in use, for newcomers — a group, four users with
//! roles, two teams with their rotations (one with an override and a weekend layer), log
//! channels that deliver on a fresh machine, three routes (Alertmanager and curl for the web
//! team; Grafana, through an escalation policy, for the database team) whose intake tokens are
//! printed, silences, and three weeks of history: alerts that were acknowledged and resolved,
//! reminded and escalated, silenced, and a few still open. The history is replayed through the
//! store functions the server and the engine use, at the times things would have happened (see
//! [`history`]). Safe to run again: existing objects are reused (found by name), the history is
//! made once, and the routes get new tokens (only hashes are stored, so the old ones cannot be
//! shown again).

use serde_json::json;

use crate::config::Config;
use crate::domain::access::Role;
use crate::domain::alert::Source;
use crate::domain::channel::{ChannelKind, ChannelSpec};
use crate::domain::escalation::TargetType;
use crate::domain::lifecycle::Options;
use crate::domain::rotation::RotationType;
use crate::domain::time::Ts;
use crate::notify::Senders;
use crate::store::audit::{Actor, Ctx};
use crate::store::channels::Channel;
use crate::store::rotations::Rotation;
use crate::store::routes::Route;
use crate::store::teams::Team;
use crate::store::{self, Db, StoreError, Tx, channels, groups, policies, rotations, routes, silences, teams, users};

mod history;

const GROUP: &str = "demo";

/// The demo's people: name, role in the group.
const PEOPLE: [(&str, Role); 4] = [
    ("demo-alice", Role::Editor),
    ("demo-bob", Role::Responder),
    ("demo-carol", Role::Viewer),
    ("demo-dave", Role::Responder),
];

struct Printed {
    users: Vec<(String, String, Option<String>)>,
    routes: Vec<(String, String, String)>,
}

/// Creates the demo data at `now` (the CLI passes the system clock).
pub fn run(config: &Config, now: Ts) -> Result<(), String> {
    let db = Db::open(&config.database).map_err(|e| e.to_string())?;
    // Passwords for new users, hashed before the write transaction.
    let mut fresh = Vec::new();
    for (name, _) in PEOPLE {
        let pw = crate::crypto::new_password().map_err(|e| e.to_string())?;
        let hash = crate::crypto::hash_password(&pw).map_err(|e| e.to_string())?;
        fresh.push((name.to_string(), pw, hash));
    }
    let opts = config.alerts.lifecycle();
    let secret = db.write_blocking(store::server_secret).map_err(|e| e.to_string())?;
    // The history's pages go to the demo's log channels, whose lines are not worth printing.
    let timeout = std::time::Duration::from_secs(config.delivery.timeout_seconds);
    let senders = Senders {
        http: crate::notify::Outbound::new(timeout, config.security.outbound_allowlist.clone()),
        mailer: None,
        base_url: config.public_base_url(),
        secret,
        log: slog::Logger::root(slog::Discard, slog::o!()),
    };
    let printed = db.write_blocking(move |c| create(c, now, &fresh, &opts, &senders)).map_err(|e| e.to_string())?;
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

/// The demo's objects, once they exist.
pub(crate) struct World {
    /// The people, in [`PEOPLE`]'s order: (id, name).
    people: Vec<(i64, String)>,
    web: Team,
    data: Team,
    channels: Vec<Channel>,
    /// Alertmanager and curl (web), Grafana through the policy (database).
    routes: Vec<Route>,
}

fn create(
    c: &Tx<'_>,
    now: Ts,
    fresh: &[(String, String, String)],
    opts: &Options,
    senders: &Senders,
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
    let mut printed = Printed { users: Vec::new(), routes: Vec::new() };
    let mut people = Vec::new();
    for ((name, role), (_, pw, hash)) in PEOPLE.iter().zip(fresh) {
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
            let m = groups::MembershipInput { user_id: Some(user.id), role: Some(*role) };
            groups::add_member(c, &ctx, group.id, m, None)?;
        }
        printed.users.push((name.to_string(), role.as_str().to_string(), new_pw));
        people.push((user.id, name.to_string()));
    }
    let id = |i: usize| people[i].0;
    let web = team(c, &ctx, group.id, "demo-web", "Demo Web", &[id(0), id(1)])?;
    let data = team(c, &ctx, group.id, "demo-data", "Demo Database", &[id(1), id(3)])?;
    // Rotations that began before the history, so that someone was on call all along.
    let start = Ts::from_secs(now.secs() - now.secs().rem_euclid(86_400) - 35 * 86_400 + 9 * 3600);
    let (web_rotation, created) =
        rotation(c, &ctx, &web, "Demo primary", RotationType::Weekly, &[id(0), id(1)], start)?;
    if created {
        // dave covers one day of the coming week.
        let day = Ts::from_secs(now.secs() - now.secs().rem_euclid(86_400) + 3 * 86_400);
        let cover = rotations::OverrideInput {
            user_id: Some(id(3)),
            starts_at: Some(day.plus_secs(9 * 3600).rfc3339()),
            ends_at: Some(day.plus_secs(18 * 3600).rfc3339()),
            reason: Some("covering a day off".into()),
        };
        rotations::add_override(c, &ctx, web_rotation.id, cover)?;
        // A second layer: dave takes weekend days.
        let weekend = rotations::LayerInput {
            name: Some("Weekend days".into()),
            start_at: Some(start.rfc3339()),
            rotation_type: Some(RotationType::Daily),
            handoff_time: Some("10:00".into()),
            members: Some(vec![id(3)]),
            restrictions: Some(vec![crate::domain::rotation::Restriction {
                days: vec![5, 6],
                start: "10:00".into(),
                end: "22:00".into(),
            }]),
            ..rotations::LayerInput::default()
        };
        rotations::create_layer(c, &ctx, web_rotation.id, weekend)?;
    }
    let (data_rotation, _) = rotation(c, &ctx, &data, "Database on-call", RotationType::Daily, &[id(3), id(1)], start)?;
    let web_log = log_channel(c, &ctx, &web, "demo-log")?;
    let data_log = log_channel(c, &ctx, &data, "demo-db-log")?;
    let policy = match policies::list(c, None, Some(data.id))?.into_iter().find(|p| p.name == "Demo escalation") {
        Some(p) => p,
        None => policies::create(
            c,
            &ctx,
            policies::PolicyInput {
                team_id: Some(data.id),
                name: Some("Demo escalation".into()),
                description: Some("The database on-call at once; bob after 10 minutes.".into()),
                repeat_count: Some(0),
                enabled: Some(true),
                rules: Some(vec![
                    policies::RuleInput {
                        position: Some(0),
                        delay_seconds: Some(0),
                        target_type: Some(TargetType::Rotation),
                        target_id: Some(data_rotation.id),
                    },
                    policies::RuleInput {
                        position: Some(1),
                        delay_seconds: Some(600),
                        target_type: Some(TargetType::User),
                        target_id: Some(id(1)),
                    },
                ]),
            },
        )?,
    };
    let mut demo_routes = Vec::new();
    for (name, source, team, via_policy, channel) in [
        ("demo-alertmanager", Source::Alertmanager, &web, false, &web_log),
        ("demo-curl", Source::Webhook, &web, false, &web_log),
        ("demo-grafana", Source::Grafana, &data, true, &data_log),
    ] {
        let existing = routes::list(c, None, Some(team.id))?.into_iter().find(|r| r.name == name);
        let route = match existing {
            Some(r) => routes::regenerate_token(c, &ctx, r.id, 0)?,
            None => routes::create(
                c,
                &ctx,
                routes::RouteInput {
                    team_id: Some(team.id),
                    name: Some(name.into()),
                    source: Some(source),
                    rotation_id: Some((!via_policy).then_some(web_rotation.id)),
                    escalation_policy_id: Some(via_policy.then_some(policy.id)),
                    channel_ids: Some(vec![channel.id]),
                    ..Default::default()
                },
            )?,
        };
        let token = route.intake_token.clone().ok_or_else(|| StoreError::Db("no token issued".into()))?;
        printed.routes.push((name.to_string(), source.as_str().to_string(), token));
        demo_routes.push(route);
    }
    let world = World { people, web, data, channels: vec![web_log, data_log], routes: demo_routes };
    history::replay(c, now, &world, opts, senders)?;
    Ok(printed)
}

/// The team `slug` in the group, with these members.
fn team(c: &Tx<'_>, ctx: &Ctx, group_id: i64, slug: &str, name: &str, members: &[i64]) -> store::Result<Team> {
    let team = match teams::by_slug(c, slug)? {
        Some(t) => t,
        None => teams::create(
            c,
            ctx,
            teams::TeamInput {
                group_id: Some(group_id),
                slug: Some(slug.into()),
                name: Some(name.into()),
                escalation_enabled: Some(true),
                escalation_after_reminders: Some(2),
                ..Default::default()
            },
        )?,
    };
    let have: Vec<i64> = teams::members(c, team.id)?.iter().map(|m| m.user_id).collect();
    for id in members.iter().filter(|id| !have.contains(id)) {
        teams::add_member(c, ctx, team.id, teams::TeamMemberInput { user_id: Some(*id), ..Default::default() })?;
    }
    Ok(team)
}

/// The team's rotation `name` (and whether it was made now), handing off at 09:00 UTC.
fn rotation(
    c: &Tx<'_>,
    ctx: &Ctx,
    team: &Team,
    name: &str,
    kind: RotationType,
    members: &[i64],
    start: Ts,
) -> store::Result<(Rotation, bool)> {
    if let Some(r) = rotations::list(c, None, Some(team.id), ctx.now)?.into_iter().find(|r| r.name == name) {
        return Ok((r, false));
    }
    let r = rotations::create(
        c,
        ctx,
        rotations::RotationInput {
            team_id: Some(team.id),
            name: Some(name.into()),
            rotation_type: Some(kind),
            handoff_time: Some("09:00".into()),
            handoff_weekday: Some(0),
            timezone: Some("UTC".into()),
            reminder_interval_seconds: Some(300),
            start_at: Some(start.rfc3339()),
            ..Default::default()
        },
    )?;
    for id in members {
        rotations::add_member(c, ctx, r.id, rotations::MemberInput { user_id: Some(*id), position: None })?;
    }
    Ok((r, true))
}

/// The team's log channel `name`: it delivers on a fresh machine, with nothing outside
/// IncidentRelay.
fn log_channel(c: &Tx<'_>, ctx: &Ctx, team: &Team, name: &str) -> store::Result<Channel> {
    if let Some(ch) = channels::list(c, None, Some(team.id))?.into_iter().find(|ch| ch.name == name) {
        return Ok(ch);
    }
    let kind = ChannelKind::Log;
    let spec = ChannelSpec {
        name: name.into(),
        channel_type: kind,
        config: kind.check_config(&json!({}))?,
        notify_on_severities: Vec::new(),
        enabled: true,
    };
    channels::create(c, ctx, team.id, spec)
}

/// A silence of the team at `from`…`until` (made once, found by name).
fn silence(
    c: &Tx<'_>,
    ctx: &Ctx,
    team: &Team,
    name: &str,
    matchers: serde_json::Value,
    from: Ts,
    until: Ts,
) -> store::Result<()> {
    if silences::list(c, None, Some(team.id), ctx.now)?.iter().any(|s| s.name == name) {
        return Ok(());
    }
    let input = silences::SilenceInput {
        team_id: Some(team.id),
        name: Some(name.into()),
        reason: Some("Created by `incidentrelay demo-data`.".into()),
        matchers: Some(matchers),
        starts_at: Some(from),
        ends_at: Some(until),
        enabled: Some(true),
    };
    silences::create(c, ctx, input).map(|_| ())
}
