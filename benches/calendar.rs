//! Rotation calendar computation.
//!
//!     cargo bench --bench calendar
//!
//! - A year of shifts for one 10-person layer with 26 overrides (daily, weekly, 4-hourly), as
//!   before layers existed: target under 10 ms.
//! - A year of final schedule for 3 layers × 10 members (a base layer, weekday days, weekends)
//!   and 50 overrides: target under 5 ms.
//! - The on-call query (`oncall?count=10`: the running shift with its real start and the next
//!   ten) on that rotation: target under 1 ms.
//!
//! Reports mean, p99 and max over repeated runs, in Europe/Berlin (two DST changes a year).

use std::time::Instant;

use incidentrelay::domain::rotation::{
    IntervalUnit, Layer, Override, Restriction, Rotation, RotationSpec, RotationType,
};
use incidentrelay::domain::time::{Ts, zone};

fn spec(kind: RotationType, interval: i64, unit: IntervalUnit, hour: i8) -> RotationSpec {
    RotationSpec {
        start_at: Ts::parse("2026-01-05T08:00:00Z").expect("start"),
        rotation_type: kind,
        interval_value: interval,
        interval_unit: unit,
        handoff_time: (hour, 0),
        handoff_weekday: 0,
        timezone: zone("Europe/Berlin").expect("zone"),
    }
}

fn overrides(n: i64, every_days: i64) -> Vec<Override> {
    let start = Ts::parse("2026-01-05T08:00:00Z").expect("start");
    (0..n)
        .map(|i| Override {
            id: i + 1,
            user_id: 100 + (i % 10),
            starts_at: start.plus_secs(i * every_days * 86_400 + 3 * 3600),
            ends_at: start.plus_secs(i * every_days * 86_400 + 9 * 3600),
        })
        .collect()
}

fn single(kind: RotationType, interval: i64, unit: IntervalUnit) -> Rotation {
    Rotation::single(spec(kind, interval, unit, 9), (1..=10).collect(), overrides(26, 14))
}

fn layered() -> Rotation {
    let r =
        |days: &[u8], start: &str, end: &str| Restriction { days: days.to_vec(), start: start.into(), end: end.into() };
    let layer = |id: i64, hour: i8, members: std::ops::RangeInclusive<i64>, restrictions: Vec<Restriction>| Layer {
        id,
        position: id,
        spec: spec(RotationType::Daily, 1, IntervalUnit::Days, hour),
        members: members.collect(),
        restrictions,
    };
    Rotation {
        layers: vec![
            layer(1, 19, 1..=10, vec![]),
            layer(2, 9, 11..=20, vec![r(&[0, 1, 2, 3, 4], "09:00", "18:00")]),
            layer(3, 10, 21..=30, vec![r(&[5], "10:00", "10:00"), r(&[6], "10:00", "22:00")]),
        ],
        enabled: true,
        overrides: overrides(50, 7),
    }
}

fn measure(name: &str, runs: usize, mut f: impl FnMut() -> usize) {
    let mut times = Vec::with_capacity(runs);
    let mut n = 0;
    for _ in 0..runs {
        let t = Instant::now();
        n = std::hint::black_box(f());
        times.push(t.elapsed().as_nanos() as u64);
    }
    times.sort_unstable();
    let ms = |ns: u64| ns as f64 / 1e6;
    let mean = times.iter().sum::<u64>() as f64 / runs as f64 / 1e6;
    let p99 = ms(times[(runs * 99 / 100).min(runs - 1)]);
    let max = ms(times[runs - 1]);
    println!("{name:<34} {n:>6} shifts   mean {mean:>7.3} ms   p99 {p99:>7.3} ms   max {max:>7.3} ms");
}

fn main() {
    let from = Ts::parse("2026-01-01T00:00:00Z").expect("from");
    let to = from.plus_secs(365 * 86_400);
    let runs = 200;
    println!("a year of calendar in Europe/Berlin; {runs} runs each");
    println!("-- one layer, 10 members, 26 overrides (target < 10 ms)");
    for (name, r) in [
        ("daily", single(RotationType::Daily, 1, IntervalUnit::Days)),
        ("weekly", single(RotationType::Weekly, 1, IntervalUnit::Weeks)),
        ("custom 4 h", single(RotationType::Custom, 4, IntervalUnit::Hours)),
    ] {
        measure(name, runs, || r.shifts(from, to).len());
    }
    println!("-- 3 layers x 10 members with restrictions, 50 overrides");
    let r = layered();
    measure("final schedule, a year (< 5 ms)", runs, || r.shifts(from, to).len());
    let at = Ts::parse("2026-06-10T12:00:00Z").expect("at");
    measure("oncall?count=10 (< 1 ms)", runs * 5, || r.upcoming(at, 10).len());
}
