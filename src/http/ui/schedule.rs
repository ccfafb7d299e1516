//! A rotation's schedule as horizontal bars over 1, 2 or 4 weeks: one row per layer (as if it
//! were alone), then the overrides, then the final schedule with its gaps, on a day axis in the
//! viewer's zone. Bars are placed with the `.x-N` / `.w-N` classes (N quarter-percent steps of
//! the window; the CSP allows no inline styles); hovering one shows its exact bounds. A week
//! gets hour marks as well (06, 12, 18; noon labelled).

use maud::{Markup, html};

use super::Ui;
use crate::domain::rotation::{Rotation, Shift};
use crate::domain::time::Ts;
use crate::store::rotations::Layer;

/// Steps across the window (`.x-0` … `.x-400`).
const STEPS: i64 = 400;

/// One bar of a row.
struct Bar {
    start: Ts,
    end: Ts,
    text: String,
    class: &'static str,
    hue: i64,
}

fn step(from: Ts, to: Ts, t: Ts) -> i64 {
    let span = (to.ms() - from.ms()).max(1);
    ((t.ms() - from.ms()).clamp(0, span) * STEPS + span / 2) / span
}

fn hue(user_id: i64) -> i64 {
    (user_id * 5).rem_euclid(12)
}

/// The timeline of `rot` over `[from, to)`. `name` names a user.
pub fn timeline(ui: &Ui, rot: &Rotation, layers: &[Layer], name: &dyn Fn(i64) -> String, from: Ts, to: Ts) -> Markup {
    let shift_bar = |s: &Shift, class: &'static str| Bar {
        start: s.start,
        end: s.end,
        text: name(s.user_id),
        class,
        hue: hue(s.user_id),
    };
    let mut rows: Vec<(String, Vec<Bar>)> = Vec::new();
    for l in layers.iter().rev() {
        let bars = rot.layer_shifts(l.id, from, to).iter().map(|s| shift_bar(s, "")).collect();
        let label = if l.name.is_empty() { format!("Layer {}", l.position) } else { l.name.clone() };
        rows.push((label, bars));
    }
    let overrides: Vec<Bar> = rot
        .overrides
        .iter()
        .filter(|o| o.ends_at > from && o.starts_at < to)
        .map(|o| Bar {
            start: o.starts_at.max(from),
            end: o.ends_at.min(to),
            text: name(o.user_id),
            class: "override",
            hue: hue(o.user_id),
        })
        .collect();
    rows.push(("Overrides".into(), overrides));
    let mut last: Vec<Bar> = rot
        .shifts(from, to)
        .iter()
        .map(|s| shift_bar(s, if s.override_id.is_some() { "override" } else { "" }))
        .collect();
    last.extend(rot.gaps(from, to).into_iter().map(|(start, end)| Bar {
        start,
        end,
        text: "nobody".into(),
        class: "gap",
        hue: 0,
    }));
    rows.push(("Final schedule".into(), last));
    // Day ticks in the viewer's zone; labels thinned out on long windows.
    let days = (to.secs() - from.secs()) / 86_400;
    let mut ticks = Vec::new();
    let mut hours: Vec<(i64, String)> = Vec::new();
    let mut day = from.timestamp().to_zoned(ui.tz.clone()).date();
    loop {
        let at = Ts::from_timestamp(day.to_zoned(ui.tz.clone()).map(|z| z.timestamp()).unwrap_or(from.timestamp()));
        if at >= to {
            break;
        }
        // A week or less: hours too (06, 12, 18).
        if days <= 7 {
            for h in [6, 12, 18] {
                if let Ok(z) = day.at(h, 0, 0, 0).to_zoned(ui.tz.clone()) {
                    let t = Ts::from_timestamp(z.timestamp());
                    if t > from && t < to {
                        hours.push((step(from, to, t), format!("{h:02}")));
                    }
                }
            }
        }
        if at >= from {
            let labelled = days <= 7
                || (days <= 14 && day.weekday().to_monday_zero_offset() % 2 == 0)
                || day.weekday().to_monday_zero_offset() == 0;
            ticks.push((
                step(from, to, at),
                labelled.then(|| day.strftime(if days <= 7 { "%a %-d" } else { "%-d %b" }).to_string()),
            ));
        }
        match day.tomorrow() {
            Ok(d) => day = d,
            Err(_) => break,
        }
    }
    html! {
        div.timeline role="img" aria-label="The schedule: each layer, the overrides and the final schedule" {
            div.trow {
                span.tlabel.muted { (ui.tz_name) }
                div.axis {
                    @for (x, label) in &ticks { @if let Some(l) = label { span class={"x-" (x)} { (l) } } }
                    // Noon only: the day's name stands at its start.
                    @for (x, h) in hours.iter().filter(|(_, h)| h == "12") { span class={"minor x-" (x)} { (h) ":00" } }
                }
            }
            @for (label, bars) in &rows {
                div.trow.final[label == "Final schedule"] {
                    span.tlabel { (label) }
                    div.track {
                        @for (x, _) in &ticks { span class={"tick x-" (x)} {} }
                        @for (x, _) in &hours { span class={"tick minor x-" (x)} {} }
                        @for b in bars {
                            @let (x, w) = (step(from, to, b.start), (step(from, to, b.end) - step(from, to, b.start)).max(1));
                            span class={"tbar " (b.class) " hue-" (b.hue) " x-" (x) " w-" (w)}
                                title={(b.text) ": " (ui.abs(b.start)) " → " (ui.abs(b.end))} { (b.text) }
                        }
                    }
                }
            }
        }
    }
}
