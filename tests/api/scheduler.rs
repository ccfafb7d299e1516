//! The scheduler with real processes and the real clock: one engine per database file across
//! several `serve` processes with failover, and timers firing within a second of their due time.

use std::collections::{HashMap, HashSet};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::fake::Fake;
use crate::process::{Proc, fire, setup, titles};
use crate::tools::wait_for;

#[test]
fn two_servers_on_one_database_run_one_engine_and_fail_over() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("ha.db");
    let fake = Fake::start();
    let mut procs = [Proc::start(&db, &["serve"], &[]), Proc::start(&db, &["serve"], &[])];
    let password = procs[0].admin_password.clone().expect("the first process created the admin");
    assert!(procs[1].admin_password.is_none(), "one admin for one database");
    let roles = wait_for(Duration::from_secs(10), || {
        let mut r: Vec<String> = procs.iter().map(Proc::scheduler_role).collect();
        r.sort();
        (r == ["leader", "standby"]).then_some(r)
    });
    assert!(roles.is_some(), "exactly one leader: {:?}", procs.iter().map(Proc::scheduler_role).collect::<Vec<_>>());
    let admin = procs[0].login(&password);
    let (_, _, token) = setup(&procs[0], &admin, &[&fake]);

    // Alerts posted to both processes are paged exactly once each, by the one engine.
    for i in 0..20 {
        fire(&procs[i % 2], &token, &format!("ha-{i}"));
    }
    fake.wait(20, Duration::from_secs(10));
    std::thread::sleep(Duration::from_millis(300));
    let got = titles(&fake);
    assert_eq!(got.len(), 20, "no duplicate pages: {got:?}");
    assert_eq!(got.iter().collect::<HashSet<_>>().len(), 20);

    // The leader dies; the standby takes over within 5 s and pages what arrives next.
    let leader = procs.iter().position(|p| p.scheduler_role() == "leader").unwrap();
    procs[leader].kill();
    let survivor = &procs[1 - leader];
    let start = Instant::now();
    wait_for(Duration::from_secs(10), || (survivor.scheduler_role() == "leader").then_some(()))
        .expect("the standby took over");
    let takeover = start.elapsed();
    eprintln!("failover: the standby led {takeover:?} after the leader was killed");
    assert!(takeover < Duration::from_secs(5), "took {takeover:?}");
    for i in 20..25 {
        fire(survivor, &token, &format!("ha-{i}"));
    }
    fake.wait(25, Duration::from_secs(10));
    std::thread::sleep(Duration::from_millis(300));
    let got = titles(&fake);
    assert_eq!(got.len(), 25, "{got:?}");
    assert_eq!(got.iter().collect::<HashSet<_>>().len(), 25);
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    sorted[(((sorted.len() - 1) as f64) * p).round() as usize]
}

/// The real clock: a page at intake and a policy step 2 s later, for 30 alerts; each must reach
/// the receiver within 1 s of its due time (p99, and the figures are printed).
#[test]
fn pages_and_escalations_fire_within_a_second_of_their_due_time() {
    let dir = tempfile::tempdir().unwrap();
    let p = Proc::start(&dir.path().join("timing.db"), &["serve"], &[]);
    let admin = p.login(&p.admin_password.clone().unwrap());
    let (pages, steps) = (Fake::start(), Fake::start());
    let (route, channels, token) = setup(&p, &admin, &[&pages, &steps]);
    let g = p.call("GET", "/api/teams", Some(&admin), None).body;
    let policy = p.post(
        "/api/escalation-policies",
        &admin,
        json!({"team_id": g[0]["id"], "name": "fast", "rules": [
            {"delay_seconds": 0, "target_type": "channel", "target_id": channels[0]},
            {"delay_seconds": 2, "target_type": "channel", "target_id": channels[1]}
        ]}),
    );
    let r = p.call(
        "PUT",
        &format!("/api/routes/{route}"),
        Some(&admin),
        Some(json!({"escalation_policy_id": policy["id"]})),
    );
    assert_eq!(r.status, 200, "{}", r.text);

    let mut sent: HashMap<String, Instant> = HashMap::new();
    for i in 0..30 {
        let key = format!("t-{i}");
        sent.insert(key.clone(), Instant::now());
        fire(&p, &token, &key);
        std::thread::sleep(Duration::from_millis(97));
    }
    steps.wait(30, Duration::from_secs(15));
    let latency = |fake: &Fake, due_after: Duration| -> Vec<Duration> {
        let mut v: Vec<Duration> = fake
            .requests()
            .iter()
            .map(|r| {
                let body: Value = r.json();
                let t0 = sent[body["alert"]["title"].as_str().unwrap()];
                r.at.saturating_duration_since(t0 + due_after)
            })
            .collect();
        v.sort();
        v
    };
    let page = latency(&pages, Duration::ZERO);
    let step = latency(&steps, Duration::from_secs(2));
    assert_eq!((page.len(), step.len()), (30, 30), "every page and every step, once");
    eprintln!(
        "timer latency with the real clock (30 alerts): page at intake p50 {:?} p99 {:?}; policy step due +2 s: p50 {:?} p99 {:?} max {:?}",
        percentile(&page, 0.5),
        percentile(&page, 0.99),
        percentile(&step, 0.5),
        percentile(&step, 0.99),
        step[step.len() - 1]
    );
    assert!(percentile(&page, 0.99) < Duration::from_secs(1));
    assert!(percentile(&step, 0.99) < Duration::from_secs(1), "{step:?}");
}
