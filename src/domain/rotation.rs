//! Who is on call at an instant: a pure function of (layers, overrides, t).
//!
//! A rotation is one or more *layers*. At an instant the winning override decides; else the
//! highest-positioned layer that has members, has started, and whose restrictions cover the
//! instant (no restrictions: always); else nobody (a gap). Restrictions are local stretches
//! (`Mon–Fri 09:00–18:00`, `22:00–06:00` over midnight) turned into instants under the DST rule
//! below, so every boundary of the final schedule is a handoff, a restriction edge or an
//! override edge, and the result does not depend on the order layers or overrides are listed.
//!
//! Each layer hands over at *handoff instants* `B_k`. `B_0` is the latest handoff at or before
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
    /// The layer (its id) of a rotation shift.
    pub layer: Option<i64>,
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

/// When a layer takes calls: from `start` on each of `days`, to `end`, local to the rotation's
/// zone. An `end` at or before `start` runs over midnight into the next day (`22:00`–`06:00`;
/// `00:00`–`00:00` is the whole day).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Restriction {
    /// The days a covered stretch starts on: Monday = 0 … Sunday = 6.
    pub days: Vec<u8>,
    /// Local `HH:MM`.
    pub start: String,
    /// Local `HH:MM`.
    pub end: String,
}

impl Restriction {
    /// What is wrong with it, as (field, message) pairs (`days`, `start`, `end`).
    pub fn problems(&self) -> Vec<(&'static str, &'static str)> {
        let mut p = Vec::new();
        if self.days.is_empty() || self.days.iter().any(|d| *d > 6) {
            p.push(("days", "name at least one day, 0 (Monday) … 6 (Sunday)"));
        }
        if parse_handoff_time(&self.start).is_none() {
            p.push(("start", "must be HH:MM (24-hour)"));
        }
        if parse_handoff_time(&self.end).is_none() {
            p.push(("end", "must be HH:MM (24-hour)"));
        }
        p
    }

    /// The covered stretches that start on local days `[first, last]`, as instants.
    fn stretches(&self, tz: &TimeZone, first: Date, last: Date, out: &mut Vec<(Ts, Ts)>) {
        let (Some(start), Some(end)) = (parse_handoff_time(&self.start), parse_handoff_time(&self.end)) else {
            return;
        };
        let (Ok(st), Ok(et)) = (Time::new(start.0, start.1, 0, 0), Time::new(end.0, end.1, 0, 0)) else { return };
        let mut d = first;
        while d <= last {
            let wd = d.weekday().to_monday_zero_offset() as u8;
            if self.days.contains(&wd) {
                let end_day = if end <= start { add_days(d, 1) } else { d };
                let (a, b) = (local_instant(tz, d.to_datetime(st)), local_instant(tz, end_day.to_datetime(et)));
                if b > a {
                    out.push((a, b));
                }
            }
            d = add_days(d, 1);
        }
    }
}

/// One layer of a rotation: its own handoffs, members and (optionally) the hours it covers.
#[derive(Debug, Clone)]
pub struct Layer {
    pub id: i64,
    /// Higher positions win where layers overlap.
    pub position: i64,
    pub spec: RotationSpec,
    /// User ids in `position` order.
    pub members: Vec<i64>,
    /// Empty: always.
    pub restrictions: Vec<Restriction>,
}

impl Layer {
    fn member_for(&self, slot: i64) -> Option<i64> {
        if self.members.is_empty() {
            return None;
        }
        let n = self.members.len() as i64;
        self.members.get(slot.rem_euclid(n) as usize).copied()
    }

    /// The layer's slots over `[from, to)`, clipped: `(start, end, k)`.
    fn slots(&self, schedule: &Schedule, from: Ts, to: Ts) -> Vec<(Ts, Ts, i64)> {
        let mut out = Vec::new();
        let Some(mut k) = schedule.slot_at(from.max(self.spec.start_at)) else { return out };
        loop {
            let (a, b) = schedule.slot_range(k);
            if a >= to || out.len() > MAX_SHIFTS {
                return out;
            }
            out.push((a.max(from), b.min(to), k));
            k += 1;
        }
    }

    /// The stretches of `[from, to)` the restrictions cover, merged and in order.
    fn cover(&self, from: Ts, to: Ts) -> Vec<(Ts, Ts)> {
        if self.restrictions.is_empty() {
            return vec![(from, to)];
        }
        let tz = &self.spec.timezone;
        let (first, last) = (add_days(local_date(tz, from), -1), add_days(local_date(tz, to), 1));
        let mut all = Vec::new();
        for r in &self.restrictions {
            r.stretches(tz, first, last, &mut all);
        }
        all.sort();
        let mut merged: Vec<(Ts, Ts)> = Vec::new();
        for (a, b) in all {
            let (a, b) = (a.max(from), b.min(to));
            if b <= a {
                continue;
            }
            match merged.last_mut() {
                Some(last) if a <= last.1 => last.1 = last.1.max(b),
                _ => merged.push((a, b)),
            }
        }
        merged
    }
}

/// The whole input of the on-call computation.
#[derive(Debug, Clone)]
pub struct Rotation {
    /// In any order; the highest `position` that covers an instant decides it.
    pub layers: Vec<Layer>,
    pub enabled: bool,
    pub overrides: Vec<Override>,
}

/// A layer prepared for one window: its slots and covered stretches, walked in order.
struct Walk<'a> {
    layer: &'a Layer,
    slots: Vec<(Ts, Ts, i64)>,
    cover: Vec<(Ts, Ts)>,
    slot: usize,
    covered: usize,
}

impl Walk<'_> {
    /// The member on call in this layer at `t` (`t` never decreases between calls).
    fn at(&mut self, t: Ts) -> Option<(i64, i64)> {
        while self.covered < self.cover.len() && self.cover[self.covered].1 <= t {
            self.covered += 1;
        }
        while self.slot < self.slots.len() && self.slots[self.slot].1 <= t {
            self.slot += 1;
        }
        let (a, _) = *self.cover.get(self.covered)?;
        let (s, _, k) = *self.slots.get(self.slot)?;
        if a > t || s > t {
            return None;
        }
        self.layer.member_for(k).map(|u| (u, k))
    }
}

impl Rotation {
    /// A rotation of one layer (id 0), as before layers existed.
    pub fn single(spec: RotationSpec, members: Vec<i64>, overrides: Vec<Override>) -> Rotation {
        Rotation {
            layers: vec![Layer { id: 0, position: 1, spec, members, restrictions: Vec::new() }],
            enabled: true,
            overrides,
        }
    }

    fn winning_override(&self, t: Ts) -> Option<&Override> {
        self.overrides.iter().filter(|o| o.starts_at <= t && t < o.ends_at).max_by_key(|o| o.id)
    }

    /// The layer with this id.
    pub fn layer(&self, id: i64) -> Option<&Layer> {
        self.layers.iter().find(|l| l.id == id)
    }

    /// The first layer (lowest position): the one today's rotation fields describe.
    pub fn base(&self) -> Option<&Layer> {
        self.layers.iter().min_by_key(|l| (l.position, l.id))
    }

    /// Where slot `k` of a layer begins (a calendar event's natural start).
    pub fn slot_start(&self, layer_id: i64, k: i64) -> Option<Ts> {
        self.layer(layer_id).map(|l| Schedule::new(&l.spec).slot_range(k).0)
    }

    /// Who is on call at `t`, with the shift they are in.
    pub fn oncall_at(&self, t: Ts) -> Option<Shift> {
        self.shifts(t, t.plus_ms(1)).into_iter().next()
    }

    /// The stretch of on-call time that contains `t`, with its real bounds: where it began
    /// (a handoff, a restriction's edge, an override's edge) even before `t`, and where it
    /// ends. A stretch longer than about two years is cut there.
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

    /// The final schedule over `[from, to)`: at each instant the winning override, else the
    /// member of the highest-positioned layer whose restrictions cover it. Shifts are clipped
    /// to the window; where nobody is on call there is no shift (see [`Rotation::gaps`]).
    pub fn shifts(&self, from: Ts, to: Ts) -> Vec<Shift> {
        if !self.enabled || to <= from {
            return Vec::new();
        }
        let overrides: Vec<&Override> =
            self.overrides.iter().filter(|o| o.ends_at > from && o.starts_at < to).collect();
        let mut layers: Vec<&Layer> = self.layers.iter().filter(|l| !l.members.is_empty()).collect();
        layers.sort_by_key(|l| std::cmp::Reverse((l.position, l.id)));
        let mut points = vec![from, to];
        let mut walks: Vec<Walk<'_>> = Vec::with_capacity(layers.len());
        for layer in layers {
            let slots = layer.slots(&Schedule::new(&layer.spec), from, to);
            let cover = layer.cover(from, to);
            points.extend(slots.iter().flat_map(|(a, b, _)| [*a, *b]));
            points.extend(cover.iter().flat_map(|(a, b)| [*a, *b]));
            walks.push(Walk { layer, slots, cover, slot: 0, covered: 0 });
        }
        points.extend(overrides.iter().flat_map(|o| [o.starts_at, o.ends_at]).filter(|p| *p > from && *p < to));
        points.sort();
        points.dedup();
        let mut out: Vec<Shift> = Vec::new();
        for w in points.windows(2) {
            let (a, b) = (w[0], w[1]);
            let winner = overrides.iter().filter(|o| o.starts_at <= a && a < o.ends_at).max_by_key(|o| o.id);
            let shift = match winner {
                Some(o) => Some(Shift {
                    user_id: o.user_id,
                    start: a,
                    end: b,
                    kind: ShiftKind::Override,
                    slot: None,
                    layer: None,
                    override_id: Some(o.id),
                }),
                None => {
                    // Every walk advances to `a`; the first (highest) with someone decides.
                    let mut found = None;
                    for walk in walks.iter_mut() {
                        if let (None, Some((u, k))) = (found, walk.at(a)) {
                            found = Some(Shift {
                                user_id: u,
                                start: a,
                                end: b,
                                kind: ShiftKind::Rotation,
                                slot: Some(k),
                                layer: Some(walk.layer.id),
                                override_id: None,
                            });
                        }
                    }
                    found
                }
            };
            let Some(s) = shift else { continue };
            match out.last_mut() {
                Some(prev)
                    if prev.end == s.start
                        && (prev.user_id, prev.kind, prev.slot, prev.layer, prev.override_id)
                            == (s.user_id, s.kind, s.slot, s.layer, s.override_id) =>
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

    /// The stretches of `[from, to)` with nobody on call, in order.
    pub fn gaps(&self, from: Ts, to: Ts) -> Vec<(Ts, Ts)> {
        let mut out = Vec::new();
        let mut at = from;
        for s in self.shifts(from, to) {
            if s.start > at {
                out.push((at, s.start));
            }
            at = s.end;
        }
        if at < to {
            out.push((at, to));
        }
        out
    }

    /// One layer's own shifts over `[from, to)`, as if it were alone and without overrides
    /// (a row of the schedule's timeline).
    pub fn layer_shifts(&self, layer_id: i64, from: Ts, to: Ts) -> Vec<Shift> {
        let Some(layer) = self.layer(layer_id) else { return Vec::new() };
        Rotation { layers: vec![layer.clone()], enabled: self.enabled, overrides: Vec::new() }.shifts(from, to)
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
                    && (first.user_id, first.layer, first.override_id) == (real.user_id, real.layer, real.override_id)
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

    /// The member after `user_id` in position order (simple-mode escalation), wrapping around:
    /// within the first layer that has them, else the first layer's first member.
    pub fn next_member(&self, user_id: Option<i64>) -> Option<i64> {
        let mut layers: Vec<&Layer> = self.layers.iter().collect();
        layers.sort_by_key(|l| (l.position, l.id));
        if let Some(u) = user_id {
            for l in &layers {
                if let Some(i) = l.members.iter().position(|m| *m == u) {
                    return l.members.get((i + 1) % l.members.len()).copied();
                }
            }
        }
        layers.iter().find_map(|l| l.members.first().copied())
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
        Rotation::single(
            RotationSpec {
                start_at: Ts::parse_in(start, &tz).unwrap(),
                rotation_type: kind,
                interval_value: n,
                interval_unit: unit,
                handoff_time: parse_handoff_time(time).unwrap(),
                handoff_weekday: weekday,
                timezone: tz,
            },
            vec![1, 2, 3],
            vec![],
        )
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
            let tz = r.layers[0].spec.timezone.clone();
            let (h, m) = parse_handoff_time(time).unwrap();
            let start = r.layers[0].spec.start_at;
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
        r.layers[0].members.clear();
        assert_eq!(who(&r, "2026-11-03T00:00:00Z"), None);
        let mut r = rotation(RotationType::Daily, 1, IntervalUnit::Days, "09:00", 0, "UTC", "2026-11-02T09:00:00");
        r.enabled = false;
        assert_eq!(who(&r, "2026-11-03T00:00:00Z"), None);
        assert_eq!(parse_handoff_time("24:00"), None);
        assert_eq!(parse_handoff_time("9:00"), None);
        assert_eq!(parse_handoff_time("09:30"), Some((9, 30)));
    }
}

/// Layers, restrictions and overrides together; property tests across DST changes and a year
/// checked against a computation written separately.
#[cfg(test)]
mod layer_tests {
    use super::*;

    fn ts(s: &str) -> Ts {
        Ts::parse(s).unwrap()
    }

    fn restriction(days: &[u8], start: &str, end: &str) -> Restriction {
        Restriction { days: days.to_vec(), start: start.into(), end: end.into() }
    }

    /// A daily layer whose first shift starts on `day` at its handoff `time`.
    fn layer(id: i64, position: i64, zone: &str, day: &str, time: &str, members: &[i64], r: Vec<Restriction>) -> Layer {
        let tz = TimeZone::get(zone).unwrap();
        Layer {
            id,
            position,
            spec: RotationSpec {
                start_at: Ts::parse_in(&format!("{}T{time}:00", &day[..10]), &tz).unwrap(),
                rotation_type: RotationType::Daily,
                interval_value: 1,
                interval_unit: IntervalUnit::Days,
                handoff_time: parse_handoff_time(time).unwrap(),
                handoff_weekday: 0,
                timezone: tz,
            },
            members: members.to_vec(),
            restrictions: r,
        }
    }

    /// Weekdays 09–18 the day crew (position 2), nights and weekends the follow-the-sun crew
    /// (position 1, always), Bob (99) covering Thursday afternoon.
    fn day_night(zone: &str) -> Rotation {
        let day = layer(
            2,
            2,
            zone,
            "2026-01-05T00:00:00",
            "09:00",
            &[10, 11],
            vec![restriction(&[0, 1, 2, 3, 4], "09:00", "18:00")],
        );
        let night = layer(1, 1, zone, "2026-01-05T00:00:00", "18:00", &[1, 2, 3], vec![]);
        let tz = TimeZone::get(zone).unwrap();
        let at = |s: &str| Ts::parse_in(s, &tz).unwrap();
        Rotation {
            layers: vec![night, day],
            enabled: true,
            overrides: vec![Override {
                id: 1,
                user_id: 99,
                starts_at: at("2026-01-08T13:00:00"),
                ends_at: at("2026-01-08T17:00:00"),
            }],
        }
    }

    #[test]
    fn the_highest_layer_whose_restriction_covers_an_instant_decides_it() {
        let r = day_night("UTC");
        let who = |t: &str| r.oncall_at(ts(t)).map(|s| (s.user_id, s.layer, s.kind));
        // The day crew starts Monday 2026-01-05 09:00, the night crew at 18:00.
        assert_eq!(who("2026-01-05T08:59:00Z"), None, "before either layer starts");
        assert_eq!(who("2026-01-05T09:00:00Z"), Some((10, Some(2), ShiftKind::Rotation)), "day crew from 09:00");
        assert_eq!(who("2026-01-05T18:00:00Z"), Some((1, Some(1), ShiftKind::Rotation)), "night crew from 18:00");
        assert_eq!(who("2026-01-06T08:59:00Z"), Some((1, Some(1), ShiftKind::Rotation)), "until 09:00");
        assert_eq!(who("2026-01-06T12:00:00Z"), Some((11, Some(2), ShiftKind::Rotation)), "the day crew rotates daily");
        assert_eq!(who("2026-01-06T18:00:00Z"), Some((2, Some(1), ShiftKind::Rotation)), "so does the night crew");
        assert_eq!(who("2026-01-08T14:00:00Z"), Some((99, None, ShiftKind::Override)), "Bob covers Thursday");
        assert_eq!(who("2026-01-10T12:00:00Z"), Some((2, Some(1), ShiftKind::Rotation)), "Saturday: the night layer");
        // The running shift's real bounds are restriction edges.
        let s = r.shift_at(ts("2026-01-05T12:00:00Z")).unwrap();
        assert_eq!((s.start, s.end), (ts("2026-01-05T09:00:00Z"), ts("2026-01-05T18:00:00Z")));
        assert!(r.gaps(ts("2026-01-05T09:00:00Z"), ts("2026-01-12T00:00:00Z")).is_empty());
    }

    #[test]
    fn restrictions_over_midnight_and_gaps() {
        // Only nights, 22:00–06:00, Monday to Friday starts: everything else is a gap.
        let nights = layer(
            1,
            1,
            "UTC",
            "2026-01-05T00:00:00",
            "22:00",
            &[1, 2],
            vec![restriction(&[0, 1, 2, 3, 4], "22:00", "06:00")],
        );
        let r = Rotation { layers: vec![nights], enabled: true, overrides: vec![] };
        let gaps = r.gaps(ts("2026-01-05T00:00:00Z"), ts("2026-01-07T00:00:00Z"));
        let g: Vec<(String, String)> = gaps.iter().map(|(a, b)| (a.rfc3339(), b.rfc3339())).collect();
        assert_eq!(
            g,
            [
                ("2026-01-05T00:00:00Z".into(), "2026-01-05T22:00:00Z".into()),
                ("2026-01-06T06:00:00Z".into(), "2026-01-06T22:00:00Z".into()),
            ]
        );
        assert_eq!(
            r.oncall_at(ts("2026-01-06T05:59:00Z")).map(|s| s.user_id),
            Some(1),
            "Monday's night runs into Tuesday"
        );
        // Friday's night runs into Saturday; Saturday's and Sunday's do not exist.
        assert!(r.oncall_at(ts("2026-01-10T05:00:00Z")).is_some());
        assert!(r.oncall_at(ts("2026-01-10T23:00:00Z")).is_none());
        // An empty layer never covers: the layer below decides.
        let mut both = day_night("UTC");
        both.layers[1].members.clear();
        assert_eq!(both.oncall_at(ts("2026-01-06T12:00:00Z")).map(|s| s.layer), Some(Some(1)));
    }

    /// A restriction covered by instants, computed the plain way (for the property tests).
    fn covered_plainly(l: &Layer, t: Ts) -> bool {
        if l.restrictions.is_empty() {
            return true;
        }
        let tz = &l.spec.timezone;
        let today = t.timestamp().to_zoned(tz.clone()).date();
        let at = |d: Date, hm: &str| {
            let (h, m) = parse_handoff_time(hm).unwrap();
            local_instant(tz, d.at(h, m, 0, 0))
        };
        [today.yesterday().unwrap(), today].into_iter().any(|d| {
            l.restrictions.iter().any(|r| {
                let wd = d.weekday().to_monday_zero_offset() as u8;
                let over_midnight = parse_handoff_time(&r.end) <= parse_handoff_time(&r.start);
                let end_day = if over_midnight { d.tomorrow().unwrap() } else { d };
                r.days.contains(&wd) && at(d, &r.start) <= t && t < at(end_day, &r.end)
            })
        })
    }

    /// Every 15 minutes across DST changes in four zones (one with a 30-minute change, one that
    /// skipped a whole day): the final schedule is a partition with gaps only where no layer
    /// covers; every boundary is a handoff, a restriction edge or an override edge; and the
    /// order layers and overrides are listed in changes nothing.
    #[test]
    fn walking_every_15_minutes_across_dst_changes() {
        let cases = [
            ("Europe/Berlin", "2026-03-27", 5),
            ("Europe/Berlin", "2026-10-23", 5),
            ("America/New_York", "2026-03-06", 5),
            ("America/New_York", "2026-10-30", 5),
            ("Australia/Lord_Howe", "2026-10-02", 5),
            ("Australia/Lord_Howe", "2026-04-03", 5),
            ("Pacific/Apia", "2011-12-28", 5),
        ];
        for (zone, day, days) in cases {
            let tz = TimeZone::get(zone).unwrap();
            let start = format!("{day}T00:00:00");
            let from = Ts::parse_in(&start, &tz).unwrap();
            let to = from.plus_secs(days * 86_400);
            let at = |h: i64| from.plus_secs(h * 3600);
            let r = Rotation {
                layers: vec![
                    layer(
                        1,
                        1,
                        zone,
                        &start,
                        "02:30",
                        &[1, 2, 3],
                        vec![restriction(&[0, 1, 2, 3, 4, 5], "01:45", "02:15")],
                    ),
                    layer(
                        2,
                        2,
                        zone,
                        &start,
                        "09:00",
                        &[10, 11],
                        vec![restriction(&[0, 1, 2, 3, 4], "08:00", "02:30")],
                    ),
                    layer(3, 3, zone, &start, "00:00", &[20], vec![restriction(&[5, 6], "10:00", "16:00")]),
                ],
                enabled: true,
                overrides: vec![
                    Override { id: 1, user_id: 90, starts_at: at(26), ends_at: at(50) },
                    Override { id: 2, user_id: 91, starts_at: at(30), ends_at: at(31) },
                ],
            };
            let shifts = r.shifts(from, to);
            // A partition: ordered, no overlaps, each piece non-empty.
            for w in shifts.windows(2) {
                assert!(w[0].start < w[0].end && w[0].end <= w[1].start, "{zone}: {:?} then {:?}", w[0], w[1]);
            }
            // Point queries agree, and a gap is where no layer with members covers.
            let mut t = from;
            while t < to {
                let piece = shifts.iter().find(|s| s.start <= t && t < s.end);
                assert_eq!(r.oncall_at(t).map(|s| s.user_id), piece.map(|s| s.user_id), "{zone} at {t}");
                if piece.is_none() {
                    let covering = r.layers.iter().filter(|l| l.spec.start_at <= t && covered_plainly(l, t)).count();
                    assert_eq!(covering, 0, "{zone}: a gap at {t} that a layer covers");
                    assert!(!r.overridden_at(t));
                }
                t = t.plus_secs(900);
            }
            // Every boundary is a handoff, a restriction edge or an override edge.
            let mut edges: Vec<Ts> = r.overrides.iter().flat_map(|o| [o.starts_at, o.ends_at]).collect();
            for l in &r.layers {
                let sched = Schedule::new(&l.spec);
                let mut k = 0;
                while sched.boundary(k) < to {
                    edges.push(sched.boundary(k));
                    k += 1;
                }
                edges.push(l.spec.start_at);
                let mut stretches = Vec::new();
                for rs in &l.restrictions {
                    rs.stretches(
                        &tz,
                        add_days(local_date(&tz, from), -1),
                        add_days(local_date(&tz, to), 1),
                        &mut stretches,
                    );
                }
                edges.extend(stretches.iter().flat_map(|(a, b)| [*a, *b]));
            }
            for s in &shifts {
                for b in [s.start, s.end] {
                    assert!(b == from || b == to || edges.contains(&b), "{zone}: boundary {b} is no edge");
                }
            }
            // The order of the lists does not matter.
            let mut shuffled = r.clone();
            shuffled.layers.reverse();
            shuffled.layers.swap(0, 1);
            shuffled.overrides.reverse();
            assert_eq!(shuffled.shifts(from, to), shifts, "{zone}: order-independent");
        }
    }

    /// A year of a realistic schedule (weekday days, nights, weekends, three overrides) in
    /// Berlin against a plain hour-by-hour computation written separately here.
    #[test]
    fn a_year_matches_a_plain_computation() {
        let zone = "Europe/Berlin";
        let tz = TimeZone::get(zone).unwrap();
        let start = "2026-01-05T00:00:00";
        let local = |s: &str| Ts::parse_in(s, &tz).unwrap();
        let r = Rotation {
            layers: vec![
                layer(1, 1, zone, start, "19:00", &[1, 2, 3, 4], vec![]),
                layer(2, 2, zone, start, "08:00", &[10, 11, 12], vec![restriction(&[0, 1, 2, 3, 4], "08:00", "19:00")]),
                layer(3, 3, zone, start, "10:00", &[20, 21], vec![restriction(&[5], "10:00", "10:00")]),
            ],
            enabled: true,
            overrides: vec![
                Override {
                    id: 1,
                    user_id: 90,
                    starts_at: local("2026-03-29T01:00:00"),
                    ends_at: local("2026-03-29T05:00:00"),
                },
                Override {
                    id: 2,
                    user_id: 91,
                    starts_at: local("2026-07-01T12:00:00"),
                    ends_at: local("2026-07-15T12:00:00"),
                },
                Override {
                    id: 3,
                    user_id: 92,
                    starts_at: local("2026-07-03T00:00:00"),
                    ends_at: local("2026-07-04T00:00:00"),
                },
            ],
        };
        // The plain computation: count local handoff days since the start; weekday and hour of
        // the local wall clock decide the layer.
        let plain = |t: Ts| -> i64 {
            if let Some(o) = r.overrides.iter().rev().find(|o| o.starts_at <= t && t < o.ends_at) {
                return o.user_id;
            }
            let z = t.timestamp().to_zoned(tz.clone());
            let (wd, hour) = (z.weekday().to_monday_zero_offset(), z.hour());
            let handoffs_since = |h: i8| {
                // Handoff days from 2026-01-05 up to t, the handoff at h:00 local.
                let first = jiff::civil::date(2026, 1, 5);
                let mut n = -1;
                let mut d = first;
                while local_instant(&tz, d.at(h, 0, 0, 0)) <= t {
                    n += 1;
                    d = d.tomorrow().unwrap();
                }
                n.max(0)
            };
            let saturday_shift = (wd == 5 && hour >= 10) || (wd == 6 && hour < 10);
            if saturday_shift {
                return [20, 21][(handoffs_since(10) % 2) as usize];
            }
            if wd <= 4 && (8..19).contains(&hour) {
                return [10, 11, 12][(handoffs_since(8) % 3) as usize];
            }
            [1, 2, 3, 4][(handoffs_since(19) % 4) as usize]
        };
        let from = local("2026-01-06T00:00:00");
        let to = local("2027-01-04T00:00:00");
        let shifts = r.shifts(from, to);
        let mut t = from.plus_secs(1800);
        let mut i = 0;
        while t < to {
            while shifts[i].end <= t {
                i += 1;
            }
            assert_eq!(shifts[i].user_id, plain(t), "at {t}");
            t = t.plus_secs(4 * 3600);
        }
        assert!(r.gaps(from, to).is_empty());
    }
}
