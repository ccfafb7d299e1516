//! The alert lifecycle as pure decisions: the store loads the facts a decision needs, one
//! function here returns a plan, and the store applies the plan in the same transaction
//! (GoAlert's `calcUpdates(now)` is the model). Nothing here reads a clock or a database, so
//! every case of the decision table is a unit test.
//!
//! Intake's table, for one incoming event on a route:
//!
//! | event | open alert for the key | else | plan |
//! |---|---|---|---|
//! | resolve | yes (grouped, other members firing) | | resolve that member only |
//! | resolve | yes | | close: resolved, flap record, recovery (quiet while flapping) |
//! | resolve | no | | ignore |
//! | acknowledge | yes, not yet acknowledged | | acknowledge |
//! | acknowledge | acknowledged, or none | | ignore |
//! | trigger | yes | | repeat: count it, refresh content, never page again |
//! | trigger | no | matchers reject | reject (nothing stored) |
//! | trigger | no | group alert open within the window | join the group, no page |
//! | trigger | no | resolved within the reopen window | reopen: silenced, flapping, or page |
//! | trigger | no | otherwise | create: silenced (no page) or page |

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::Serialize;

use super::alert::{Action, AlertStatus, IncomingAlert, Severity, Source};
use super::escalation::TargetType;
use super::flapping;
use super::matcher::{Matchers, Subject};
use super::routing;
use super::time::Ts;

/// `[alerts]` settings the lifecycle uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Options {
    pub reopen_window_secs: i64,
    pub group_window_secs: i64,
    pub flap_threshold: u32,
    pub flap_window_secs: i64,
}

/// What became of one incoming event.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Outcome {
    /// A new alert was opened.
    Created,
    /// A repeat of an open alert (counted, no new page).
    Deduplicated,
    /// A new member of an open group alert (no new page).
    Grouped,
    /// A recently resolved alert fired again.
    Reopened,
    Acknowledged,
    Resolved,
    /// Nothing to do (resolve or acknowledge for an unknown key…).
    Ignored,
    /// The route's matchers refused it: nothing stored.
    Rejected,
}

impl Outcome {
    pub const ALL: [Outcome; 8] = [
        Outcome::Created,
        Outcome::Deduplicated,
        Outcome::Grouped,
        Outcome::Reopened,
        Outcome::Acknowledged,
        Outcome::Resolved,
        Outcome::Ignored,
        Outcome::Rejected,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Created => "created",
            Outcome::Deduplicated => "deduplicated",
            Outcome::Grouped => "grouped",
            Outcome::Reopened => "reopened",
            Outcome::Acknowledged => "acknowledged",
            Outcome::Resolved => "resolved",
            Outcome::Ignored => "ignored",
            Outcome::Rejected => "rejected",
        }
    }

    /// Whether the engine has work from it: a page, an update message or search indexing.
    /// Repeats and group members change counters only and leave it asleep.
    pub fn wakes_engine(self) -> bool {
        matches!(self, Outcome::Created | Outcome::Reopened | Outcome::Acknowledged | Outcome::Resolved)
    }
}

/// A short reference to a user, as embedded in alerts, answers and notifications.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, JsonSchema)]
pub struct UserRef {
    pub id: i64,
    pub username: String,
    pub display_name: String,
}

/// The answer for one incoming alert (`/api/integrations/*` returns one per alert).
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct IntakeResult {
    /// The alert this event landed on (`null` when nothing was stored).
    pub id: Option<i64>,
    /// A new alert was opened (not a repeat, group member or reopen).
    pub created: bool,
    /// The alert's status afterwards.
    pub status: Option<AlertStatus>,
    pub team_id: Option<i64>,
    pub team_slug: Option<String>,
    pub route_id: Option<i64>,
    pub rotation_id: Option<i64>,
    pub assignee: Option<UserRef>,
    /// Why the alert was not routed (nothing was stored or paged).
    pub routing_error: Option<String>,
    pub dedup_key: Option<String>,
    pub outcome: Outcome,
    /// What happened, in words.
    pub message: String,
}

impl IntakeResult {
    pub fn wakes_engine(&self) -> bool {
        self.outcome.wakes_engine()
    }
}

/// The state of an alert that decisions read.
#[derive(Debug, Clone, PartialEq)]
pub struct AlertState {
    pub id: i64,
    pub status: AlertStatus,
    pub dedup_key: String,
    /// Set on alerts of grouping routes.
    pub group_key: Option<String>,
    pub title: String,
    pub message: String,
    pub severity: Severity,
    pub labels: BTreeMap<String, String>,
    pub event_link: Option<String>,
    pub links: Vec<crate::domain::alert::AlertLink>,
    pub images: Vec<crate::domain::alert::AlertImage>,
    pub alert_count: i64,
    pub flapping: bool,
    /// Firing↔resolved changes inside the flap window (ms).
    pub state_changes: Vec<i64>,
    pub silence_id: Option<i64>,
}

/// An active silence of the alert's team, with its matchers compiled.
#[derive(Debug, Clone)]
pub struct SilenceRule {
    pub id: i64,
    pub name: String,
    pub matchers: Matchers,
}

/// The first active silence that matches.
pub fn matching_silence<'a>(silences: &'a [SilenceRule], subject: &Subject<'_>) -> Option<&'a SilenceRule> {
    silences.iter().find(|s| s.matchers.matches(subject))
}

/// The dedup key intake uses: the sender's, or one derived from the alert's content.
pub fn dedup_key(a: &IncomingAlert) -> String {
    match &a.dedup_key {
        Some(k) if !k.is_empty() => k.clone(),
        _ => crate::crypto::sha256_hex(&a.content_key())[..32].to_string(),
    }
}

/// The route as intake decisions see it.
#[derive(Debug, Clone, Copy)]
pub struct RouteRules<'a> {
    pub source: Source,
    pub matchers: &'a Matchers,
    pub group_by: &'a [String],
}

/// The facts for one incoming event. The loader fills `group`, `recent` and `silences` only
/// when the decision can look at them: a trigger without an open alert. `firing_members` is
/// filled for a resolve on an open group alert: the members still firing.
#[derive(Debug, Clone)]
pub struct IntakeFacts<'a> {
    pub incoming: &'a IncomingAlert,
    pub dedup_key: &'a str,
    pub route: RouteRules<'a>,
    /// The open alert for the key: by its own key, or as a member of a group.
    pub open: Option<&'a AlertState>,
    /// The open alert of the incoming alert's group, first seen within the group window.
    pub group: Option<&'a AlertState>,
    /// The alert with this key, resolved within the reopen window.
    pub recent: Option<&'a AlertState>,
    pub silences: &'a [SilenceRule],
    pub firing_members: &'a [String],
}

impl IntakeFacts<'_> {
    /// Whether the loader must fetch the group candidate, recent alert and silences: only a
    /// trigger without an open alert, that the matchers accept, looks at them.
    pub fn needs_more(incoming: &IncomingAlert, open: Option<&AlertState>) -> bool {
        incoming.action == Action::Trigger && open.is_none()
    }
}

/// A silence a new or reopened alert starts under.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SilenceRef {
    pub id: i64,
    pub name: String,
}

/// The flap record after a firing↔resolved change.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Flap {
    pub changes: Vec<i64>,
    pub flapping: bool,
    /// It was not flapping before this change.
    pub started: bool,
}

impl Flap {
    fn record(alert: &AlertState, now: Ts, o: &Options) -> Flap {
        let (changes, flapping) =
            flapping::record_change(&alert.state_changes, now, o.flap_window_secs, o.flap_threshold);
        Flap { changes, flapping, started: flapping && !alert.flapping }
    }
    /// No change recorded (a person's resolve is not the monitoring system flapping).
    fn unchanged(alert: &AlertState) -> Flap {
        Flap { changes: alert.state_changes.clone(), flapping: alert.flapping, started: false }
    }
}

/// Closing an alert.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Close {
    pub flap: Flap,
    /// Flapping, and already before: no recovery messages.
    pub quiet: bool,
}

/// Closes `alert`: a resolve from the monitoring system is a state change (`opts`), a
/// person's is not.
pub fn close(alert: &AlertState, now: Ts, opts: Option<&Options>) -> Close {
    let flap = match opts {
        Some(o) => Flap::record(alert, now, o),
        None => Flap::unchanged(alert),
    };
    Close { quiet: flap.flapping && alert.flapping, flap }
}

/// What intake does with one event.
#[derive(Debug, Clone, PartialEq)]
pub enum IntakePlan {
    /// The route's matchers reject it: nothing is stored.
    Reject(String),
    /// Nothing to do; `alert` is the open alert it concerns, if any.
    Ignore {
        why: String,
        alert: Option<i64>,
    },
    /// Open a new alert, silenced (nobody paged) or paging.
    Create {
        silence: Option<SilenceRef>,
        group_key: Option<String>,
    },
    /// A repeat of an open alert: count it; refresh its content when it is its own key and
    /// the content changed; add `member` to its group when it came in as another key.
    Repeat {
        alert_id: i64,
        content_changed: bool,
        member: Option<String>,
        why: &'static str,
    },
    /// A new member of an open group alert.
    Join {
        alert_id: i64,
        member: String,
    },
    /// A recently resolved alert fires again: silenced, flapping (no page) or paging.
    Reopen {
        alert_id: i64,
        silence: Option<SilenceRef>,
        flap: Flap,
    },
    /// One member of a group alert resolved; `still_firing` others keep it open.
    ResolveMember {
        alert_id: i64,
        member: String,
        still_firing: usize,
    },
    Resolve {
        alert_id: i64,
        close: Close,
    },
    Acknowledge {
        alert_id: i64,
    },
}

impl IntakePlan {
    pub fn outcome(&self) -> Outcome {
        match self {
            IntakePlan::Reject(_) => Outcome::Rejected,
            IntakePlan::Ignore { .. } => Outcome::Ignored,
            IntakePlan::Create { .. } => Outcome::Created,
            IntakePlan::Repeat { .. } => Outcome::Deduplicated,
            IntakePlan::Join { .. } => Outcome::Grouped,
            IntakePlan::Reopen { .. } => Outcome::Reopened,
            IntakePlan::ResolveMember { .. } | IntakePlan::Resolve { .. } => Outcome::Resolved,
            IntakePlan::Acknowledge { .. } => Outcome::Acknowledged,
        }
    }

    /// Whether it pages someone (a new alert, or a reopen, that no silence holds and that
    /// is not flapping).
    pub fn pages(&self) -> bool {
        match self {
            IntakePlan::Create { silence, .. } => silence.is_none(),
            IntakePlan::Reopen { silence, flap, .. } => silence.is_none() && !flap.flapping,
            _ => false,
        }
    }

    /// What it would do, in words (the route simulator's answer).
    pub fn describe(&self) -> String {
        match self {
            IntakePlan::Reject(why) => format!("not routed: {why}"),
            IntakePlan::Ignore { why, .. } => format!("nothing to do: {why}"),
            IntakePlan::Create { silence: Some(s), .. } => {
                format!("would open a new alert, silenced by \"{}\" (nobody paged)", s.name)
            }
            IntakePlan::Create { silence: None, .. } => "would open a new alert and page".into(),
            IntakePlan::Repeat { alert_id, .. } => format!("would update open alert #{alert_id} (repeat; no new page)"),
            IntakePlan::Join { alert_id, .. } => format!("would join open group alert #{alert_id} (no new page)"),
            IntakePlan::Reopen { alert_id, .. } => {
                format!("would reopen alert #{alert_id} resolved recently, and page")
            }
            IntakePlan::ResolveMember { alert_id, .. } | IntakePlan::Resolve { alert_id, .. } => {
                format!("would resolve alert #{alert_id}")
            }
            IntakePlan::Acknowledge { alert_id } => format!("would acknowledge alert #{alert_id}"),
        }
    }
}

/// Whether a repeat brings new content for the alert (title, message, labels, severity, or new
/// links or images: a repeat without any keeps those the alert has).
fn content_changed(alert: &AlertState, a: &IncomingAlert) -> bool {
    alert.title != a.title
        || alert.message != a.message
        || alert.labels != a.labels
        || alert.severity != a.severity
        || (a.event_link.is_some() && alert.event_link != a.event_link)
        || (!a.links.is_empty() && alert.links != a.links)
        || (!a.images.is_empty() && alert.images != a.images)
}

/// Decides what intake does with one event.
pub fn decide(f: &IntakeFacts<'_>, now: Ts, opts: &Options) -> IntakePlan {
    let a = f.incoming;
    let key = f.dedup_key;
    let unknown = || format!("no open alert with dedup key {key:?}");
    match (a.action, f.open) {
        (Action::Resolve, None) | (Action::Acknowledge, None) => {
            return IntakePlan::Ignore { why: unknown(), alert: None };
        }
        (Action::Resolve, Some(open)) => {
            let still_firing = f.firing_members.iter().filter(|m| m.as_str() != key).count();
            return if open.group_key.is_some() && still_firing > 0 {
                IntakePlan::ResolveMember { alert_id: open.id, member: key.to_string(), still_firing }
            } else {
                IntakePlan::Resolve { alert_id: open.id, close: close(open, now, Some(opts)) }
            };
        }
        (Action::Acknowledge, Some(open)) if open.status == AlertStatus::Acknowledged => {
            return IntakePlan::Ignore {
                why: format!("alert #{} is already acknowledged", open.id),
                alert: Some(open.id),
            };
        }
        (Action::Acknowledge, Some(open)) => return IntakePlan::Acknowledge { alert_id: open.id },
        (Action::Trigger, Some(open)) => {
            let grouped = open.group_key.is_some() && open.dedup_key != key;
            let why = match open.status {
                AlertStatus::Acknowledged => "already acknowledged; no new page",
                AlertStatus::Silenced => "silenced; no page",
                _ => "still open; no new page",
            };
            return IntakePlan::Repeat {
                alert_id: open.id,
                content_changed: !grouped && content_changed(open, a),
                member: grouped.then(|| key.to_string()),
                why,
            };
        }
        (Action::Trigger, None) => {}
    }
    let source = f.route.source.as_str();
    if let Err(why) = routing::accept(f.route.matchers, a, source) {
        return IntakePlan::Reject(why);
    }
    let group_key = routing::group_key(f.route.group_by, &a.labels);
    if let Some(group) = f.group.filter(|_| group_key.is_some()) {
        return IntakePlan::Join { alert_id: group.id, member: key.to_string() };
    }
    let silence = matching_silence(f.silences, &routing::subject(a, source))
        .map(|s| SilenceRef { id: s.id, name: s.name.clone() });
    match f.recent.filter(|_| a.reopen) {
        Some(recent) => IntakePlan::Reopen { alert_id: recent.id, silence, flap: Flap::record(recent, now, opts) },
        None => IntakePlan::Create { silence, group_key },
    }
}

/// The earliest `first_seen_at` of a group alert that new members may still join.
pub fn group_window_start(now: Ts, opts: &Options) -> Ts {
    now.plus_secs(-opts.group_window_secs)
}

/// The earliest `resolved_at` of an alert that a trigger may still reopen.
pub fn reopen_window_start(now: Ts, opts: &Options) -> Ts {
    now.plus_secs(-opts.reopen_window_secs)
}

// --- acting on an alert -------------------------------------------------------------------------

/// Whether an acknowledgement (by a person, a button or the source) changes anything.
pub fn can_acknowledge(status: AlertStatus) -> bool {
    matches!(status, AlertStatus::Firing | AlertStatus::Silenced)
}

/// Whether a resolve changes anything.
pub fn can_resolve(status: AlertStatus) -> bool {
    status != AlertStatus::Resolved
}

/// What re-evaluating silences does to an open alert, given the silence that matches it now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SilenceChange {
    /// Its silence ended and none other holds it: it fires (and pages) again.
    Lift,
    /// A silence started that holds it: unsent pages are cancelled.
    Apply(SilenceRef),
    /// Another silence holds it now.
    Switch(i64),
    Keep,
}

pub fn silence_change(alert: &AlertState, hit: Option<&SilenceRule>) -> SilenceChange {
    match (alert.status, hit) {
        (AlertStatus::Silenced, None) => SilenceChange::Lift,
        (AlertStatus::Firing, Some(s)) => SilenceChange::Apply(SilenceRef { id: s.id, name: s.name.clone() }),
        (AlertStatus::Silenced, Some(s)) if alert.silence_id != Some(s.id) => SilenceChange::Switch(s.id),
        _ => SilenceChange::Keep,
    }
}

/// Whether a silence lifted or a flap ended pages again: not while it is flapping.
pub fn pages_when_lifted(alert: &AlertState) -> bool {
    !alert.flapping
}

/// A flapping alert's end: `None` while changes are recent; `Some(page_again)` once it has
/// been stable for the window (a still-firing alert pages again).
pub fn end_flapping(alert: &AlertState, now: Ts, window_secs: i64) -> Option<bool> {
    (alert.flapping && flapping::stable(&alert.state_changes, now, window_secs))
        .then_some(alert.status == AlertStatus::Firing)
}

/// How often a burst of repeats refreshes the alert's "deduplicated" timeline entry.
pub const REPEAT_REFRESH_SECS: i64 = 10;

/// How a repeat shows on the timeline, given the alert's latest entry (id, type, time).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RepeatEntry {
    /// A new "deduplicated" entry.
    Add,
    /// Refresh the latest one (its count and time).
    Refresh(i64),
    /// The latest is a fresh "deduplicated" entry: leave it.
    Keep,
}

pub fn repeat_entry(latest: Option<(i64, &str, Ts)>, now: Ts) -> RepeatEntry {
    match latest {
        Some((_, "deduplicated", at)) if now.secs_since(at) < REPEAT_REFRESH_SECS => RepeatEntry::Keep,
        Some((id, "deduplicated", _)) => RepeatEntry::Refresh(id),
        _ => RepeatEntry::Add,
    }
}

// --- who is paged --------------------------------------------------------------------------------

/// Where a page goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PageTarget {
    /// The alert's route channels, naming the assignee.
    RouteChannels,
    /// One channel (an escalation rule's target).
    Channel(i64),
}

/// The step that pages first: a route's enabled policy's first rule, else its rotation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FirstStep {
    /// Rule 0 of the route's policy, with the on-call of its rotation when it targets one.
    Rule { target_type: TargetType, target_id: i64, oncall: Option<i64> },
    /// Simple mode: the on-call of the route's rotation (none without a rotation).
    Rotation { oncall: Option<i64> },
}

impl FirstStep {
    /// A policy step to a rotation with nobody on call (a gap in its schedule): the team's
    /// channels hear of it, and the policy's next step follows at once instead of after its
    /// delay.
    pub fn is_gap(&self) -> bool {
        matches!(self, FirstStep::Rule { target_type: TargetType::Rotation, oncall: None, .. })
    }
}

/// Who is paged, and where, for a step: (assignee, target).
pub fn page_for(step: FirstStep) -> (Option<i64>, PageTarget) {
    match step {
        FirstStep::Rule { target_type: TargetType::Rotation, oncall, .. } => (oncall, PageTarget::RouteChannels),
        FirstStep::Rule { target_type: TargetType::User, target_id, .. } => {
            (Some(target_id), PageTarget::RouteChannels)
        }
        FirstStep::Rule { target_type: TargetType::Channel, target_id, .. } => (None, PageTarget::Channel(target_id)),
        FirstStep::Rotation { oncall } => (oncall, PageTarget::RouteChannels),
    }
}

// --- what the timeline says ----------------------------------------------------------------------

/// The timeline's words for lifecycle events, in one place.
pub mod text {
    /// `new alert from alertmanager; paging alice; 2 notification(s) queued`.
    pub fn received(source: &str, paging: Option<&str>, queued: usize) -> String {
        let who = paging.map(|u| format!("paging {u}")).unwrap_or_else(|| "nobody on call".into());
        format!("new alert from {source}; {who}; {} queued", crate::domain::count(queued as i64, "notification"))
    }

    pub fn received_silenced(source: &str) -> String {
        format!("new alert from {source}")
    }

    pub fn silenced(name: &str, nobody_paged: bool) -> String {
        if nobody_paged {
            format!("silenced by \"{name}\"; nobody is paged while it lasts")
        } else {
            format!("silenced by \"{name}\"")
        }
    }

    pub fn flapping(threshold: u32, window_secs: i64) -> String {
        format!("more than {threshold} state changes in {window_secs} s: notifications paused until it is stable")
    }

    pub fn stable(window_secs: i64) -> String {
        format!("no state change for {window_secs} s: notifications resume")
    }

    pub fn repeat(count: i64, why: &str) -> String {
        format!("received again ({count} in total); {why}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::alert::Action;
    use proptest::prelude::*;
    use serde_json::json;

    const NOW: i64 = 1_800_000_000;

    fn opts() -> Options {
        Options { reopen_window_secs: 3600, group_window_secs: 300, flap_threshold: 3, flap_window_secs: 600 }
    }

    fn incoming(action: Action) -> IncomingAlert {
        let mut a = IncomingAlert::new(action, "Disk full".into());
        a.labels.insert("alertname".into(), "DiskFull".into());
        a.labels.insert("severity".into(), "critical".into());
        a.dedup_key = Some("k".into());
        a
    }

    fn alert(id: i64, status: AlertStatus) -> AlertState {
        let a = incoming(Action::Trigger);
        AlertState {
            id,
            status,
            dedup_key: "k".into(),
            group_key: None,
            title: a.title,
            message: a.message,
            severity: a.severity,
            labels: a.labels,
            event_link: None,
            links: Vec::new(),
            images: Vec::new(),
            alert_count: 1,
            flapping: false,
            state_changes: Vec::new(),
            silence_id: None,
        }
    }

    fn matchers(v: serde_json::Value) -> Matchers {
        Matchers::parse(&v, "matchers").unwrap()
    }

    struct World {
        incoming: IncomingAlert,
        matchers: Matchers,
        group_by: Vec<String>,
        open: Option<AlertState>,
        group: Option<AlertState>,
        recent: Option<AlertState>,
        silences: Vec<SilenceRule>,
        members: Vec<String>,
    }

    impl World {
        fn new(action: Action) -> World {
            World {
                incoming: incoming(action),
                matchers: matchers(json!([])),
                group_by: Vec::new(),
                open: None,
                group: None,
                recent: None,
                silences: Vec::new(),
                members: Vec::new(),
            }
        }
        fn decide(&self) -> IntakePlan {
            let f = IntakeFacts {
                incoming: &self.incoming,
                dedup_key: "k",
                route: RouteRules { source: Source::Alertmanager, matchers: &self.matchers, group_by: &self.group_by },
                open: self.open.as_ref(),
                group: self.group.as_ref(),
                recent: self.recent.as_ref(),
                silences: &self.silences,
                firing_members: &self.members,
            };
            decide(&f, Ts::from_secs(NOW), &opts())
        }
    }

    fn silence(id: i64, m: serde_json::Value) -> SilenceRule {
        SilenceRule { id, name: format!("s{id}"), matchers: matchers(m) }
    }

    #[test]
    fn resolve_and_acknowledge_need_an_open_alert() {
        for action in [Action::Resolve, Action::Acknowledge] {
            let w = World::new(action);
            assert!(matches!(w.decide(), IntakePlan::Ignore { alert: None, .. }), "{action:?}");
        }
        let mut w = World::new(Action::Acknowledge);
        w.open = Some(alert(7, AlertStatus::Acknowledged));
        assert_eq!(w.decide().outcome(), Outcome::Ignored, "already acknowledged");
        for status in [AlertStatus::Firing, AlertStatus::Silenced] {
            w.open = Some(alert(7, status));
            assert_eq!(w.decide(), IntakePlan::Acknowledge { alert_id: 7 });
        }
    }

    #[test]
    fn a_group_alert_resolves_when_its_last_firing_member_does() {
        let mut w = World::new(Action::Resolve);
        let mut open = alert(3, AlertStatus::Firing);
        open.group_key = Some("alertname=DiskFull".into());
        w.open = Some(open);
        w.members = vec!["k".into(), "other".into()];
        assert_eq!(w.decide(), IntakePlan::ResolveMember { alert_id: 3, member: "k".into(), still_firing: 1 });
        w.members = vec!["k".into()];
        assert!(matches!(w.decide(), IntakePlan::Resolve { alert_id: 3, .. }));
    }

    #[test]
    fn a_source_resolve_counts_as_a_state_change_and_a_persons_does_not() {
        let mut a = alert(1, AlertStatus::Firing);
        let now = Ts::from_secs(NOW);
        a.state_changes = vec![(NOW - 100) * 1000, (NOW - 50) * 1000, (NOW - 10) * 1000];
        let by_source = close(&a, now, Some(&opts()));
        assert_eq!(by_source.flap.changes.len(), 4);
        assert!(by_source.flap.flapping && by_source.flap.started && !by_source.quiet, "first flapping: recovery sent");
        a.flapping = true;
        let again = close(&a, now, Some(&opts()));
        assert!(again.quiet && !again.flap.started, "already flapping: quiet");
        let by_person = close(&a, now, None);
        assert_eq!(by_person.flap.changes, a.state_changes, "a person's resolve is no state change");
    }

    #[test]
    fn repeats_refresh_content_only_of_their_own_alert() {
        let mut w = World::new(Action::Trigger);
        w.open = Some(alert(5, AlertStatus::Firing));
        assert_eq!(
            w.decide(),
            IntakePlan::Repeat { alert_id: 5, content_changed: false, member: None, why: "still open; no new page" }
        );
        w.incoming.title = "Disk very full".into();
        assert!(matches!(w.decide(), IntakePlan::Repeat { content_changed: true, .. }));
        let mut grouped = alert(5, AlertStatus::Acknowledged);
        grouped.group_key = Some("g".into());
        grouped.dedup_key = "first".into();
        w.open = Some(grouped);
        assert_eq!(
            w.decide(),
            IntakePlan::Repeat {
                alert_id: 5,
                content_changed: false,
                member: Some("k".into()),
                why: "already acknowledged; no new page"
            },
            "a member's repeat never rewrites the group alert"
        );
        w.open = Some(alert(5, AlertStatus::Silenced));
        assert!(matches!(w.decide(), IntakePlan::Repeat { why: "silenced; no page", .. }));
        w.incoming.event_link = Some("https://runbook".into());
        w.incoming.title = "Disk full".into();
        assert!(matches!(w.decide(), IntakePlan::Repeat { content_changed: true, .. }), "a new link is news");
        let mut w = World::new(Action::Trigger);
        w.open = Some(alert(5, AlertStatus::Firing));
        let link = crate::domain::alert::AlertLink { href: "https://grafana/d/1".into(), text: "Dashboard".into() };
        w.incoming.links = vec![link];
        assert!(matches!(w.decide(), IntakePlan::Repeat { content_changed: true, .. }), "new links are news");
    }

    #[test]
    fn new_alerts_are_rejected_grouped_reopened_or_created() {
        let mut w = World::new(Action::Trigger);
        w.matchers = matchers(json!(["severity=\"warning\""]));
        assert!(matches!(w.decide(), IntakePlan::Reject(why) if why.contains("severity")));
        w.matchers = matchers(json!([]));
        assert_eq!(w.decide(), IntakePlan::Create { silence: None, group_key: None });
        w.group_by = vec!["alertname".into()];
        assert_eq!(w.decide(), IntakePlan::Create { silence: None, group_key: Some("alertname=DiskFull".into()) });
        w.group = Some(alert(9, AlertStatus::Firing));
        assert_eq!(w.decide(), IntakePlan::Join { alert_id: 9, member: "k".into() }, "the group wins over reopen");
        w.group = None;
        w.recent = Some(alert(4, AlertStatus::Resolved));
        assert!(matches!(w.decide(), IntakePlan::Reopen { alert_id: 4, silence: None, .. }));
        w.incoming.reopen = false;
        assert!(matches!(w.decide(), IntakePlan::Create { .. }), "PagerDuty triggers never reopen");
    }

    #[test]
    fn silences_hold_new_and_reopened_alerts_and_nothing_pages() {
        let mut w = World::new(Action::Trigger);
        w.silences = vec![silence(1, json!(["alertname=\"Other\""])), silence(2, json!(["severity=\"critical\""]))];
        let plan = w.decide();
        assert_eq!(
            plan,
            IntakePlan::Create { silence: Some(SilenceRef { id: 2, name: "s2".into() }), group_key: None }
        );
        assert!(!plan.pages());
        w.recent = Some(alert(4, AlertStatus::Resolved));
        let plan = w.decide();
        assert!(matches!(&plan, IntakePlan::Reopen { silence: Some(s), .. } if s.id == 2));
        assert!(!plan.pages());
    }

    #[test]
    fn a_reopen_that_makes_it_flap_pages_nobody() {
        let mut w = World::new(Action::Trigger);
        let mut recent = alert(4, AlertStatus::Resolved);
        recent.state_changes = vec![(NOW - 30) * 1000, (NOW - 20) * 1000, (NOW - 10) * 1000];
        w.recent = Some(recent);
        let plan = w.decide();
        assert!(matches!(&plan, IntakePlan::Reopen { flap: Flap { flapping: true, started: true, .. }, .. }));
        assert!(!plan.pages());
    }

    #[test]
    fn silences_lift_apply_and_switch() {
        let s1 = silence(1, json!([]));
        let s2 = silence(2, json!([]));
        let mut a = alert(1, AlertStatus::Silenced);
        a.silence_id = Some(1);
        assert_eq!(silence_change(&a, None), SilenceChange::Lift);
        assert_eq!(silence_change(&a, Some(&s1)), SilenceChange::Keep);
        assert_eq!(silence_change(&a, Some(&s2)), SilenceChange::Switch(2));
        let firing = alert(1, AlertStatus::Firing);
        assert_eq!(silence_change(&firing, Some(&s1)), SilenceChange::Apply(SilenceRef { id: 1, name: "s1".into() }));
        assert_eq!(silence_change(&firing, None), SilenceChange::Keep);
        for status in [AlertStatus::Acknowledged, AlertStatus::Resolved] {
            assert_eq!(silence_change(&alert(1, status), Some(&s1)), SilenceChange::Keep, "{status:?}");
        }
    }

    #[test]
    fn flapping_ends_after_a_quiet_window() {
        let mut a = alert(1, AlertStatus::Firing);
        a.flapping = true;
        a.state_changes = vec![(NOW - 599) * 1000];
        assert_eq!(end_flapping(&a, Ts::from_secs(NOW), 600), None);
        assert_eq!(end_flapping(&a, Ts::from_secs(NOW + 1), 600), Some(true), "still firing: page again");
        a.status = AlertStatus::Resolved;
        assert_eq!(end_flapping(&a, Ts::from_secs(NOW + 1), 600), Some(false));
        a.flapping = false;
        assert_eq!(end_flapping(&a, Ts::from_secs(NOW + 1), 600), None);
    }

    #[test]
    fn a_burst_of_repeats_is_one_timeline_entry_refreshed_now_and_then() {
        let now = Ts::from_secs(NOW);
        assert_eq!(repeat_entry(None, now), RepeatEntry::Add);
        assert_eq!(repeat_entry(Some((5, "received", now)), now), RepeatEntry::Add);
        assert_eq!(repeat_entry(Some((5, "deduplicated", now.plus_secs(-9))), now), RepeatEntry::Keep);
        assert_eq!(repeat_entry(Some((5, "deduplicated", now.plus_secs(-10))), now), RepeatEntry::Refresh(5));
    }

    #[test]
    fn the_first_page_goes_to_the_policys_first_rule_else_the_rotation() {
        let rotation = FirstStep::Rule { target_type: TargetType::Rotation, target_id: 3, oncall: Some(11) };
        assert_eq!(page_for(rotation), (Some(11), PageTarget::RouteChannels));
        let user = FirstStep::Rule { target_type: TargetType::User, target_id: 12, oncall: None };
        assert_eq!(page_for(user), (Some(12), PageTarget::RouteChannels));
        let channel = FirstStep::Rule { target_type: TargetType::Channel, target_id: 4, oncall: None };
        assert_eq!(page_for(channel), (None, PageTarget::Channel(4)));
        assert_eq!(page_for(FirstStep::Rotation { oncall: None }), (None, PageTarget::RouteChannels));
        assert!(FirstStep::Rule { target_type: TargetType::Rotation, target_id: 3, oncall: None }.is_gap());
        assert!(!rotation.is_gap() && !user.is_gap() && !FirstStep::Rotation { oncall: None }.is_gap());
    }

    fn status() -> impl Strategy<Value = AlertStatus> {
        prop_oneof![
            Just(AlertStatus::Firing),
            Just(AlertStatus::Acknowledged),
            Just(AlertStatus::Silenced),
            Just(AlertStatus::Resolved)
        ]
    }

    fn action() -> impl Strategy<Value = Action> {
        prop_oneof![Just(Action::Trigger), Just(Action::Resolve), Just(Action::Acknowledge)]
    }

    proptest! {
        /// The whole table: every event kind against every combination of open alert (and its
        /// status), group candidate, recent alert (inside the reopen window or not, reopen
        /// allowed or not), matching silence and flap history.
        #[test]
        fn every_case_of_the_intake_table(
            act in action(),
            open in proptest::option::of(status()),
            grouping in any::<bool>(),
            group in any::<bool>(),
            recent in any::<bool>(),
            reopen in any::<bool>(),
            silenced in any::<bool>(),
            accepted in any::<bool>(),
            changes in 0usize..6,
        ) {
            let mut w = World::new(act);
            w.incoming.reopen = reopen;
            if grouping { w.group_by = vec!["alertname".into()]; }
            if !accepted { w.matchers = matchers(json!(["severity=\"info\""])); }
            let history: Vec<i64> = (0..changes as i64).map(|i| (NOW - 60 + i) * 1000).collect();
            w.open = open.filter(|s| *s != AlertStatus::Resolved).map(|s| alert(1, s));
            if group { w.group = Some(alert(2, AlertStatus::Firing)); }
            if recent {
                let mut r = alert(3, AlertStatus::Resolved);
                r.state_changes = history.clone();
                w.recent = Some(r);
            }
            if silenced { w.silences = vec![silence(7, json!([]))]; }
            let plan = w.decide();
            let expected = match (act, &w.open) {
                (Action::Resolve, Some(_)) => Outcome::Resolved,
                (Action::Acknowledge, Some(o)) if o.status != AlertStatus::Acknowledged => Outcome::Acknowledged,
                (Action::Trigger, Some(_)) => Outcome::Deduplicated,
                (Action::Trigger, None) if !accepted => Outcome::Rejected,
                (Action::Trigger, None) if grouping && group => Outcome::Grouped,
                (Action::Trigger, None) if recent && reopen => Outcome::Reopened,
                (Action::Trigger, None) => Outcome::Created,
                _ => Outcome::Ignored,
            };
            prop_assert_eq!(plan.outcome(), expected);
            // Only new or reopened alerts page; never silenced ones, never flapping ones.
            let flaps = recent && reopen && changes + 1 > opts().flap_threshold as usize;
            let pages = matches!(expected, Outcome::Created | Outcome::Reopened) && !silenced
                && !(expected == Outcome::Reopened && flaps);
            prop_assert_eq!(plan.pages(), pages);
            if let IntakePlan::Reopen { flap, .. } = &plan {
                prop_assert_eq!(flap.changes.len(), changes + 1);
                prop_assert_eq!(flap.flapping, flaps);
            }
        }
    }
}
