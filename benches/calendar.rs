//! Rotation calendar computation: a year of shifts for a 10-person rotation with overrides.
//!
//!     cargo bench --bench calendar
//!
//! Target: under 10 ms per year of calendar. Reports mean, p99 and max over repeated runs for
//! daily, weekly and 4-hourly (custom) rotations in Europe/Berlin (two DST changes a year).

use std::time::Instant;

use incidentrelay::domain::rotation::{IntervalUnit, Override, Rotation, RotationSpec, RotationType};
use incidentrelay::domain::time::{Ts, zone};

fn rotation(kind: RotationType, interval: i64, unit: IntervalUnit) -> Rotation {
    let start = Ts::parse("2026-01-05T08:00:00Z").expect("start");
    // 26 overrides: one 6-hour swap every two weeks.
    let overrides = (0..26)
        .map(|i| Override {
            id: i + 1,
            user_id: 100 + (i % 10),
            starts_at: start.plus_secs(i * 14 * 86_400 + 3 * 3600),
            ends_at: start.plus_secs(i * 14 * 86_400 + 9 * 3600),
        })
        .collect();
    Rotation {
        spec: RotationSpec {
            start_at: start,
            rotation_type: kind,
            interval_value: interval,
            interval_unit: unit,
            handoff_time: (9, 0),
            handoff_weekday: 0,
            timezone: zone("Europe/Berlin").expect("zone"),
        },
        enabled: true,
        members: (1..=10).collect(),
        overrides,
    }
}

fn main() {
    let from = Ts::parse("2026-01-01T00:00:00Z").expect("from");
    let to = from.plus_secs(365 * 86_400);
    let runs = 200;
    println!("a year of calendar, 10 members, 26 overrides, Europe/Berlin; {runs} runs each   target < 10 ms");
    for (name, r) in [
        ("daily", rotation(RotationType::Daily, 1, IntervalUnit::Days)),
        ("weekly", rotation(RotationType::Weekly, 1, IntervalUnit::Weeks)),
        ("custom 4 h", rotation(RotationType::Custom, 4, IntervalUnit::Hours)),
    ] {
        let mut times = Vec::with_capacity(runs);
        let mut shifts = 0;
        for _ in 0..runs {
            let t = Instant::now();
            let s = r.shifts(from, to);
            times.push(t.elapsed().as_micros() as u64);
            shifts = std::hint::black_box(s).len();
        }
        times.sort_unstable();
        let mean = times.iter().sum::<u64>() as f64 / runs as f64 / 1000.0;
        let p99 = times[(runs * 99 / 100).min(runs - 1)] as f64 / 1000.0;
        let max = times[runs - 1] as f64 / 1000.0;
        println!("{name:<11} {shifts:>6} shifts   mean {mean:>6.2} ms   p99 {p99:>6.2} ms   max {max:>6.2} ms");
    }
}
