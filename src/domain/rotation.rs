//! Who is on call at an instant: a pure function of (rotation, members, overrides, t).
//!
//! A rotation hands over at *handoff instants* `B_k`. `B_0` is the latest handoff at or before
//! `start_at`; shift `k` runs `[B_k, B_k+1)` (the first one begins at `start_at`) and belongs to
//! member `k mod count` in `position` order. Before `start_at` nobody is on call.
//!
//! - `daily`: every `interval_value` days at `handoff_time`, local to the rotation's zone;
//! - `weekly`: every `interval_value` weeks on `handoff_weekday` (Mon = 0) at `handoff_time`;
//! - `custom`: every `interval_value` × `interval_unit`. `days`/`weeks` follow the local calendar
//!   like `daily`; `minutes`/`hours` count elapsed time from the handoff time of the start day and
//!   do not move when the clocks change.
//!
//! DST rule: a handoff at a local time that does not exist (the clocks jump over it) happens at
//! the first instant after the gap; a handoff at an ambiguous local time (the clocks go back)
//! happens at its first occurrence.
//!
//! Overrides beat the rotation; where overrides overlap, the latest created (highest id) wins.

use jiff::civil::{Date, DateTime, Time};
use jiff::tz::{AmbiguousOffset, TimeZone};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::time::Ts;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum RotationType {
    Daily,
    Weekly,
    Custom,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum IntervalUnit {
    Minutes,
    Hours,
    Days,
    Weeks,
}

impl RotationType {
    pub fn as_str(self) -> &'static str {
        match self {
            RotationType::Daily => "daily",
            RotationType::Weekly => "weekly",
            RotationType::Custom => "custom",
        }
    }
    pub fn parse(s: &str) -> Option<RotationType> {
        [RotationType::Daily, RotationType::Weekly, RotationType::Custom].into_iter().find(|x| x.as_str() == s)
    }
}

impl IntervalUnit {
    pub fn as_str(self) -> &'static str {
        match self {
            IntervalUnit::Minutes => "minutes",
            IntervalUnit::Hours => "hours",
            IntervalUnit::Days => "days",
            IntervalUnit::Weeks => "weeks",
        }
    }
    pub fn parse(s: &str) -> Option<IntervalUnit> {
        [IntervalUnit::Minutes, IntervalUnit::Hours, IntervalUnit::Days, IntervalUnit::Weeks]
            .into_iter()
            .find(|x| x.as_str() == s)
    }
}

/// Parses `HH:MM` (24-hour).
pub fn parse_handoff_time(s: &str) -> Option<(i8, i8)> {
    let (h, m) = s.split_once(':')?;
    if h.len() != 2 || m.len() != 2 {
        return None;
    }
    let h: i8 = h.parse().ok()?;
    let m: i8 = m.parse().ok()?;
    ((0..24).contains(&h) && (0..60).contains(&m)).then_some((h, m))
}

/// The settings of a rotation that decide its handoffs.
#[derive(Debug, Clone)]
pub struct RotationSpec {
    pub start_at: Ts,
    pub rotation_type: RotationType,
    pub interval_value: i64,
    pub interval_unit: IntervalUnit,
    /// `(hour, minute)`
    pub handoff_time: (i8, i8),
    /// Monday = 0.
    pub handoff_weekday: i8,
    pub timezone: TimeZone,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Override {
    pub id: i64,
    pub user_id: i64,
    pub starts_at: Ts,
    pub ends_at: Ts,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum ShiftKind {
    Rotation,
    Override,
}

/// A stretch of time during which one user is on call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shift {
    pub user_id: i64,
    pub start: Ts,
    pub end: Ts,
    pub kind: ShiftKind,
    /// The rotation slot (`k`) for rotation shifts.
    pub slot: Option<i64>,
    pub override_id: Option<i64>,
}

#[derive(Debug, Clone)]
enum Step {
    /// Local calendar: handoff `k` is on `anchor + k × days` at `time`.
    Calendar { anchor: Date, days: i64, time: Time },
    /// Elapsed time: handoff `k` is `anchor + k × ms`.
    Fixed { anchor: Ts, ms: i64 },
}

/// The handoff instants of a rotation.
#[derive(Debug, Clone)]
pub struct Schedule {
    start: Ts,
    tz: TimeZone,
    step: Step,
}

/// Upper bound on the shifts one calendar query produces.
pub const MAX_SHIFTS: usize = 20_000;

fn day_number(d: Date) -> i64 {
    // Days since 1970-01-01, exact because UTC has no DST.
    let dt = d.to_datetime(Time::midnight());
    dt.to_zoned(TimeZone::UTC).map(|z| z.timestamp().as_second().div_euclid(86_400)).unwrap_or(0)
}

fn add_days(d: Date, n: i64) -> Date {
    d.checked_add(jiff::Span::new().days(n)).unwrap_or(d)
}

/// The instant of a local date-time under the DST rule (gap → first instant after it; fold →
/// first occurrence).
pub fn local_instant(tz: &TimeZone, dt: DateTime) -> Ts {
    let amb = tz.to_ambiguous_timestamp(dt);
    let ts = match amb.offset() {
        AmbiguousOffset::Unambiguous { offset } => offset.to_timestamp(dt).ok(),
        AmbiguousOffset::Fold { before, .. } => before.to_timestamp(dt).ok(),
        AmbiguousOffset::Gap { after, .. } => {
            // Read with the later offset, the local time lands before the transition; the
            // transition itself is the first instant after the gap.
            after.to_timestamp(dt).ok().and_then(|probe| tz.following(probe).next().map(|t| t.timestamp()))
        }
    };
    ts.or_else(|| amb.compatible().ok()).map(Ts::from_timestamp).unwrap_or_default()
}

fn local_date(tz: &TimeZone, t: Ts) -> Date {
    t.timestamp().to_zoned(tz.clone()).date()
}

impl Schedule {
    pub fn new(spec: &RotationSpec) -> Schedule {
        let tz = spec.timezone.clone();
        let n = spec.interval_value.max(1);
        let time = Time::new(spec.handoff_time.0, spec.handoff_time.1, 0, 0).unwrap_or(Time::midnight());
        let start = spec.start_at;
        let start_date = local_date(&tz, start);
        let at = |d: Date| local_instant(&tz, d.to_datetime(time));
        // The latest handoff-time day at or before start.
        let mut base = start_date;
        if at(base) > start {
            base = add_days(base, -1);
        }
        let step = match (spec.rotation_type, spec.interval_unit) {
            (RotationType::Weekly, _) => {
                let wd = i64::from(start_date.weekday().to_monday_zero_offset());
                let mut d = add_days(start_date, -((wd - i64::from(spec.handoff_weekday)).rem_euclid(7)));
                if at(d) > start {
                    d = add_days(d, -7);
                }
                Step::Calendar { anchor: d, days: 7 * n, time }
            }
            (RotationType::Daily, _) => Step::Calendar { anchor: base, days: n, time },
            (RotationType::Custom, IntervalUnit::Days) => Step::Calendar { anchor: base, days: n, time },
            (RotationType::Custom, IntervalUnit::Weeks) => Step::Calendar { anchor: base, days: 7 * n, time },
            (RotationType::Custom, unit) => {
                let ms = n.saturating_mul(if unit == IntervalUnit::Minutes { 60_000 } else { 3_600_000 });
                let a0 = at(base);
                let k0 = (start.ms() - a0.ms()).div_euclid(ms);
                Step::Fixed { anchor: a0.plus_ms(k0 * ms), ms }
            }
        };
        Schedule { start, tz, step }
    }

    /// Handoff instant `k` (`B_0 ≤ start_at < B_1`).
    pub fn boundary(&self, k: i64) -> Ts {
        match &self.step {
            Step::Calendar { anchor, days, time } => {
                local_instant(&self.tz, add_days(*anchor, k * days).to_datetime(*time))
            }
            Step::Fixed { anchor, ms } => anchor.plus_ms(k.saturating_mul(*ms)),
        }
    }

    /// The slot containing `t`, or `None` before the rotation starts.
    pub fn slot_at(&self, t: Ts) -> Option<i64> {
        if t < self.start {
            return None;
        }
        let mut k = match &self.step {
            Step::Calendar { anchor, days, .. } => {
                (day_number(local_date(&self.tz, t)) - day_number(*anchor)).div_euclid(*days)
            }
            Step::Fixed { anchor, ms } => (t.ms() - anchor.ms()).div_euclid(*ms),
        };
        k = k.max(0);
        while k > 0 && self.boundary(k) > t {
            k -= 1;
        }
        while self.boundary(k + 1) <= t {
            k += 1;
        }
        Some(k)
    }

    /// `[start, end)` of slot `k`; slot 0 begins at `start_at`.
    pub fn slot_range(&self, k: i64) -> (Ts, Ts) {
        (self.boundary(k).max(self.start), self.boundary(k + 1))
    }
}

/// The whole input of the on-call computation.
#[derive(Debug, Clone)]
pub struct Rotation {
    pub spec: RotationSpec,
    pub enabled: bool,
    /// User ids in `position` order.
    pub members: Vec<i64>,
    pub overrides: Vec<Override>,
}

impl Rotation {
    fn winning_override(&self, t: Ts) -> Option<&Override> {
        self.overrides.iter().filter(|o| o.starts_at <= t && t < o.ends_at).max_by_key(|o| o.id)
    }

    fn member_for(&self, slot: i64) -> Option<i64> {
        if self.members.is_empty() {
            return None;
        }
        let n = self.members.len() as i64;
        self.members.get(slot.rem_euclid(n) as usize).copied()
    }

    /// Who is on call at `t`, with the shift they are in.
    pub fn oncall_at(&self, t: Ts) -> Option<Shift> {
        self.shifts(t, t.plus_ms(1)).into_iter().next()
    }

    /// The stretch of on-call time that contains `t`, with its real bounds: where it began
    /// (a handoff, an override's edge) even before `t`, and where it ends. A stretch longer
    /// than about two years is cut there.
    pub fn shift_at(&self, t: Ts) -> Option<Shift> {
        let current = self.oncall_at(t)?;
        let mut back_days = 8;
        loop {
            let from = t.plus_secs(-back_days * 86_400);
            let mut found = self.shifts(from, t.plus_ms(1)).into_iter().rev().find(|s| s.start <= t)?;
            if found.start > from || back_days >= 800 {
                found.end = self.shifts(t, t.plus_secs(800 * 86_400)).first().map_or(current.end, |s| s.end);
                return Some(found);
            }
            back_days *= 4;
        }
    }

    /// The on-call timeline over `[from, to)`: rotation shifts split where overrides cut them.
    /// Shifts are clipped to the window.
    pub fn shifts(&self, from: Ts, to: Ts) -> Vec<Shift> {
        if !self.enabled || to <= from {
            return Vec::new();
        }
        let schedule = Schedule::new(&self.spec);
        let overrides: Vec<&Override> =
            self.overrides.iter().filter(|o| o.ends_at > from && o.starts_at < to).collect();
        let mut points = vec![from, to];
        let start = self.spec.start_at;
        if start > from && start < to {
            points.push(start);
        }
        if let Some(mut k) = schedule.slot_at(from.max(start)) {
            loop {
                k += 1;
                let b = schedule.boundary(k);
                if b >= to || points.len() > MAX_SHIFTS {
                    break;
                }
                points.push(b);
            }
        }
        for o in &overrides {
            for p in [o.starts_at, o.ends_at] {
                if p > from && p < to {
                    points.push(p);
                }
            }
        }
        points.sort();
        points.dedup();
        let mut out: Vec<Shift> = Vec::new();
        for w in points.windows(2) {
            let (a, b) = (w[0], w[1]);
            let shift = match overrides.iter().filter(|o| o.starts_at <= a && a < o.ends_at).max_by_key(|o| o.id) {
                Some(o) => Some(Shift {
                    user_id: o.user_id,
                    start: a,
                    end: b,
                    kind: ShiftKind::Override,
                    slot: None,
                    override_id: Some(o.id),
                }),
                None => schedule.slot_at(a).and_then(|k| {
                    self.member_for(k).map(|u| Shift {
                        user_id: u,
                        start: a,
                        end: b,
                        kind: ShiftKind::Rotation,
                        slot: Some(k),
                        override_id: None,
                    })
                }),
            };
            let Some(s) = shift else { continue };
            match out.last_mut() {
                Some(prev)
                    if prev.end == s.start
                        && (prev.user_id, prev.kind, prev.slot, prev.override_id)
                            == (s.user_id, s.kind, s.slot, s.override_id) =>
                {
                    prev.end = s.end;
                }
                _ => out.push(s),
            }
            if out.len() >= MAX_SHIFTS {
                break;
            }
        }
        out
    }

    /// The shift at `at` (if any) and the following ones, `count + 1` at most, unclipped at the
    /// end (each shift runs to its real end).
    pub fn upcoming(&self, at: Ts, count: usize) -> Vec<Shift> {
        let mut horizon_days = 14;
        loop {
            let to = at.plus_secs(horizon_days * 86_400);
            let shifts = self.shifts(at, to);
            if shifts.len() > count + 1 || horizon_days >= 800 {
                let mut v: Vec<Shift> = shifts.into_iter().take(count + 1).collect();
                // The shift running at `at` keeps its real start (it may have begun before).
                if let (Some(first), Some(real)) = (v.first_mut(), self.shift_at(at))
                    && first.start == at
                    && first.user_id == real.user_id
                    && first.override_id == real.override_id
                {
                    first.start = real.start;
                }
                // Extend the last shift to its natural end when the window clipped it.
                if let Some(last) = v.last_mut()
                    && last.end == to
                    && let Some(next) = self.shifts(last.start, to.plus_secs(800 * 86_400)).first()
                {
                    last.end = next.end;
                }
                return v;
            }
            horizon_days *= 4;
        }
    }

    /// The member after `user_id` in position order (simple-mode escalation), wrapping around.
    pub fn next_member(&self, user_id: Option<i64>) -> Option<i64> {
        let idx = user_id.and_then(|u| self.members.iter().position(|m| *m == u));
        match idx {
            Some(i) => self.members.get((i + 1) % self.members.len()).copied(),
            None => self.members.first().copied(),
        }
    }

    /// Whether an override (not the plain rotation) decides `t`.
    pub fn overridden_at(&self, t: Ts) -> bool {
        self.winning_override(t).is_some()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ts(s: &str) -> Ts {
        Ts::parse(s).unwrap()
    }

    fn rotation(
        kind: RotationType,
        n: i64,
        unit: IntervalUnit,
        time: &str,
        weekday: i8,
        zone: &str,
        start: &str,
    ) -> Rotation {
        let tz = TimeZone::get(zone).unwrap();
        Rotation {
            spec: RotationSpec {
                start_at: Ts::parse_in(start, &tz).unwrap(),
                rotation_type: kind,
                interval_value: n,
                interval_unit: unit,
                handoff_time: parse_handoff_time(time).unwrap(),
                handoff_weekday: weekday,
                timezone: tz,
            },
            enabled: true,
            members: vec![1, 2, 3],
            overrides: vec![],
        }
    }

    fn who(r: &Rotation, t: &str) -> Option<i64> {
        r.oncall_at(ts(t)).map(|s| s.user_id)
    }

    #[test]
    fn daily_hands_over_at_the_handoff_time() {
        let r = rotation(RotationType::Daily, 1, IntervalUnit::Days, "09:00", 0, "UTC", "2026-11-02T12:00:00");
        assert_eq!(who(&r, "2026-11-02T11:59:59Z"), None, "nobody before start");
        assert_eq!(who(&r, "2026-11-02T12:00:00Z"), Some(1));
        assert_eq!(who(&r, "2026-11-03T08:59:59Z"), Some(1));
        assert_eq!(who(&r, "2026-11-03T09:00:00Z"), Some(2));
        assert_eq!(who(&r, "2026-11-04T09:00:00Z"), Some(3));
        assert_eq!(who(&r, "2026-11-05T09:00:00Z"), Some(1), "wraps around");
    }

    #[test]
    fn weekly_uses_the_weekday_in_the_zone() {
        // Handoff Wednesdays (2) 10:00 Berlin; start on a Monday.
        let r =
            rotation(RotationType::Weekly, 1, IntervalUnit::Weeks, "10:00", 2, "Europe/Berlin", "2026-11-02T08:00:00");
        assert_eq!(who(&r, "2026-11-04T08:59:00Z"), Some(1));
        assert_eq!(who(&r, "2026-11-04T09:00:00Z"), Some(2), "10:00 CET = 09:00Z");
        assert_eq!(who(&r, "2026-11-11T08:59:00Z"), Some(2));
        assert_eq!(who(&r, "2026-11-11T09:00:00Z"), Some(3));
    }

    #[test]
    fn custom_intervals() {
        let r = rotation(RotationType::Custom, 12, IntervalUnit::Hours, "08:00", 0, "UTC", "2026-11-02T08:00:00");
        assert_eq!(who(&r, "2026-11-02T19:59:00Z"), Some(1));
        assert_eq!(who(&r, "2026-11-02T20:00:00Z"), Some(2));
        assert_eq!(who(&r, "2026-11-03T08:00:00Z"), Some(3));
        let r = rotation(RotationType::Custom, 2, IntervalUnit::Days, "00:00", 0, "UTC", "2026-11-02");
        assert_eq!(who(&r, "2026-11-03T23:00:00Z"), Some(1));
        assert_eq!(who(&r, "2026-11-04T00:00:00Z"), Some(2));
        let r = rotation(RotationType::Custom, 30, IntervalUnit::Minutes, "00:00", 0, "UTC", "2026-11-02T00:10:00");
        assert_eq!(who(&r, "2026-11-02T00:29:00Z"), Some(1));
        assert_eq!(who(&r, "2026-11-02T00:30:00Z"), Some(2));
    }

    #[test]
    fn overrides_win_latest_first_and_split_shifts() {
        let mut r = rotation(RotationType::Daily, 1, IntervalUnit::Days, "09:00", 0, "UTC", "2026-11-02T09:00:00");
        r.overrides = vec![
            Override { id: 1, user_id: 7, starts_at: ts("2026-11-02T12:00:00Z"), ends_at: ts("2026-11-02T18:00:00Z") },
            Override { id: 2, user_id: 8, starts_at: ts("2026-11-02T15:00:00Z"), ends_at: ts("2026-11-02T16:00:00Z") },
        ];
        let s = r.shifts(ts("2026-11-02T09:00:00Z"), ts("2026-11-03T09:00:00Z"));
        let users: Vec<_> = s.iter().map(|s| (s.user_id, s.start.rfc3339())).collect();
        assert_eq!(
            users,
            [
                (1, "2026-11-02T09:00:00Z".to_string()),
                (7, "2026-11-02T12:00:00Z".to_string()),
                (8, "2026-11-02T15:00:00Z".to_string()),
                (7, "2026-11-02T16:00:00Z".to_string()),
                (1, "2026-11-02T18:00:00Z".to_string()),
            ]
        );
        assert!(r.overridden_at(ts("2026-11-02T15:30:00Z")));
        // Real bounds of the stretch running at a time: a handoff or an override's edge.
        let at = |t: &str| r.shift_at(ts(t)).map(|s| (s.user_id, s.start.rfc3339(), s.end.rfc3339()));
        assert_eq!(at("2026-11-02T10:00:00Z"), Some((1, "2026-11-02T09:00:00Z".into(), "2026-11-02T12:00:00Z".into())));
        assert_eq!(at("2026-11-02T17:00:00Z"), Some((7, "2026-11-02T16:00:00Z".into(), "2026-11-02T18:00:00Z".into())));
        assert_eq!(at("2026-11-02T20:00:00Z"), Some((1, "2026-11-02T18:00:00Z".into(), "2026-11-03T09:00:00Z".into())));
        assert_eq!(r.upcoming(ts("2026-11-02T17:00:00Z"), 1)[0].start, ts("2026-11-02T16:00:00Z"));
        let weekly = rotation(RotationType::Weekly, 1, IntervalUnit::Weeks, "09:00", 0, "UTC", "2026-10-05T09:00:00");
        let w = weekly.shift_at(ts("2026-11-08T20:00:00Z")).unwrap();
        assert_eq!((w.start, w.end), (ts("2026-11-02T09:00:00Z"), ts("2026-11-09T09:00:00Z")), "a week back");
    }

    #[test]
    fn upcoming_lists_whole_shifts() {
        let r = rotation(RotationType::Daily, 1, IntervalUnit::Days, "09:00", 0, "UTC", "2026-11-02T09:00:00");
        let u = r.upcoming(ts("2026-11-02T10:00:00Z"), 2);
        assert_eq!(u.len(), 3);
        assert_eq!(u[0].start, ts("2026-11-02T09:00:00Z"), "the shift running at 10:00 began at 09:00");
        assert_eq!(u[1].start, ts("2026-11-03T09:00:00Z"));
        assert_eq!(u[2].end, ts("2026-11-05T09:00:00Z"));
        assert_eq!(r.next_member(Some(3)), Some(1));
        assert_eq!(r.next_member(None), Some(1));
    }

    #[test]
    fn dst_gap_hands_over_at_the_end_of_the_gap_and_fold_at_first_occurrence() {
        // New York springs forward 2026-03-08 02:00 → 03:00; falls back 2026-11-01 02:00 → 01:00.
        let tz = TimeZone::get("America/New_York").unwrap();
        let gap = local_instant(&tz, "2026-03-08T02:30:00".parse().unwrap());
        assert_eq!(gap.rfc3339(), "2026-03-08T07:00:00Z", "03:00 EDT, the first instant after the gap");
        let fold = local_instant(&tz, "2026-11-01T01:30:00".parse().unwrap());
        assert_eq!(fold.rfc3339(), "2026-11-01T05:30:00Z", "01:30 EDT, the first occurrence");
        let lh = TimeZone::get("Australia/Lord_Howe").unwrap();
        // Lord Howe springs forward 30 minutes at 02:00 on 2026-10-04.
        assert_eq!(local_instant(&lh, "2026-10-04T02:15:00".parse().unwrap()).rfc3339(), "2026-10-03T15:30:00Z");
    }

    /// Walks every 30 s across DST changes: the on-call user changes exactly at handoffs,
    /// once per local day, and every handoff is at the local handoff time (or the end of the gap).
    #[test]
    fn walking_every_30_seconds_across_dst() {
        let cases = [
            ("America/New_York", "02:30", "2026-03-06", "2026-03-10"),
            ("America/New_York", "01:30", "2026-10-30", "2026-11-03"),
            ("Europe/Berlin", "02:30", "2026-03-27", "2026-03-31"),
            ("Europe/Berlin", "02:30", "2026-10-23", "2026-10-27"),
            ("Australia/Lord_Howe", "02:15", "2026-10-02", "2026-10-06"),
            ("Australia/Lord_Howe", "01:45", "2026-04-03", "2026-04-07"),
            ("Asia/Tokyo", "09:00", "2026-03-06", "2026-03-10"),
        ];
        for (zone, time, from, to) in cases {
            let r = rotation(RotationType::Daily, 1, IntervalUnit::Days, time, 0, zone, &format!("{from}T00:00:00"));
            let tz = r.spec.timezone.clone();
            let (h, m) = parse_handoff_time(time).unwrap();
            let start = r.spec.start_at;
            let end = Ts::parse_in(&format!("{to}T00:00:00"), &tz).unwrap();
            let mut t = start;
            let mut prev = r.oncall_at(t).map(|s| s.user_id);
            let mut changes = Vec::new();
            while t < end {
                let next = t.plus_secs(30);
                let cur = r.oncall_at(next).map(|s| s.user_id);
                if cur != prev {
                    changes.push(next);
                }
                prev = cur;
                t = next;
            }
            assert_eq!(changes.len(), 4, "{zone} {time}: one handoff per day: {changes:?}");
            for c in &changes {
                // The handoff falls within the 30 s step ending at `c`; find it exactly.
                let shift = r.oncall_at(*c).unwrap();
                assert!(
                    shift.start > c.plus_secs(-30) && shift.start <= *c,
                    "{zone}: shift start {} near {}",
                    shift.start,
                    c
                );
                let local = shift.start.timestamp().to_zoned(tz.clone()).datetime();
                let expected = DateTime::new(local.year(), local.month(), local.day(), h, m, 0, 0).unwrap();
                let at_expected = local_instant(&tz, expected);
                assert_eq!(shift.start, at_expected, "{zone}: handoff at {local} follows the DST rule");
            }
            // Shifts over the window agree with the point queries.
            for s in r.shifts(start, end) {
                assert_eq!(r.oncall_at(s.start).map(|x| x.user_id), Some(s.user_id));
                assert_eq!(r.oncall_at(s.end.plus_ms(-1)).map(|x| x.user_id), Some(s.user_id));
            }
        }
    }

    #[test]
    fn empty_or_disabled_means_nobody() {
        let mut r = rotation(RotationType::Daily, 1, IntervalUnit::Days, "09:00", 0, "UTC", "2026-11-02T09:00:00");
        r.members.clear();
        assert_eq!(who(&r, "2026-11-03T00:00:00Z"), None);
        let mut r = rotation(RotationType::Daily, 1, IntervalUnit::Days, "09:00", 0, "UTC", "2026-11-02T09:00:00");
        r.enabled = false;
        assert_eq!(who(&r, "2026-11-03T00:00:00Z"), None);
        assert_eq!(parse_handoff_time("24:00"), None);
        assert_eq!(parse_handoff_time("9:00"), None);
        assert_eq!(parse_handoff_time("09:30"), Some((9, 30)));
    }
}
