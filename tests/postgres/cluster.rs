//! Several `serve` processes on one PostgreSQL database, with the real clock. There is no
//! leader: every process serves HTTP and intake and runs engine steps, claiming work in the
//! database. Nothing is paged twice (except a send in flight when its process died, which goes
//! out again with the same `webhook-id`), and nothing is lost when a process or the database
//! goes away.

use std::collections::{BTreeMap, HashMap};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use incidentrelay::store::alerts;
use serde_json::{Value, json};

use crate::fake::{Fake, Recorded};
use crate::process::{Load, Proc, setup};
use crate::tools::wait_for;

/// The engines' `tick_seconds` here (the longest sleep between cycles: the fallback when a
/// wake-up from another process is missed).
const TICK_SECS: u64 = 2;

/// `n` `serve` processes on the database at `url`; the first creates the admin. Returns them
/// and an admin session.
fn nodes_on(url: &str, n: usize) -> (Vec<Proc>, String) {
    let tick = TICK_SECS.to_string();
    let env = [("INCIDENTRELAY_SCHEDULER__TICK_SECONDS", tick.as_str())];
    let first = Proc::start_on(url, &["serve"], &env);
    let password = first.admin_password.clone().expect("the first process created the admin");
    let mut procs = vec![first];
    for _ in 1..n {
        let p = Proc::start_on(url, &["serve"], &env);
        assert!(p.admin_password.is_none(), "one admin for one database");
        procs.push(p);
    }
    for p in &procs {
        assert_eq!(p.scheduler_role(), "shared", "every process runs engine steps");
    }
    let admin = procs[0].login(&password);
    (procs, admin)
}

fn nodes(n: usize) -> (Vec<Proc>, String) {
    nodes_on(&crate::pg::database_or_skip(), n)
}

/// Fires an alert through `p`; its id.
fn fire(p: &Proc, token: &str, key: &str) -> i64 {
    let r = p.post("/api/integrations/webhook", token, json!({"title": key, "fingerprint": key}));
    r[0]["id"].as_i64().expect("an alert id")
}

/// A counter of a process's `/metrics` (summed over label sets that contain `labels`).
fn metric(p: &Proc, name: &str, labels: &str) -> u64 {
    let text = p.call("GET", "/metrics", None, None).text;
    text.lines()
        .filter(|l| l.starts_with(name) && l.contains(labels))
        .filter_map(|l| l.rsplit(' ').next().and_then(|v| v.parse::<f64>().ok()))
        .map(|v| v as u64)
        .sum()
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    sorted[(((sorted.len() - 1) as f64) * p).round() as usize]
}

/// An escalation policy on the route: `channels[i]` paged `delays[i]` seconds after the step
/// before.
fn policy(p: &Proc, admin: &str, route: i64, channels: &[i64], delays: &[i64]) {
    let teams = p.call("GET", "/api/teams", Some(admin), None).body;
    let rules: Vec<Value> = channels
        .iter()
        .zip(delays)
        .map(|(c, d)| json!({"delay_seconds": d, "target_type": "channel", "target_id": c}))
        .collect();
    let policy =
        p.post("/api/escalation-policies", admin, json!({"team_id": teams[0]["id"], "name": "p", "rules": rules}));
    let r = p.call(
        "PUT",
        &format!("/api/routes/{route}"),
        Some(admin),
        Some(json!({"escalation_policy_id": policy["id"]})),
    );
    assert_eq!(r.status, 200, "{}", r.text);
}

fn title(r: &Recorded) -> String {
    r.json()["alert"]["title"].as_str().unwrap_or("").to_string()
}

#[test]
fn intake_spread_over_three_nodes_pages_every_alert_exactly_once() {
    let (procs, admin) = nodes(3);
    let fake = Fake::start();
    let (_, _, token) = setup(&procs[0], &admin, &[&fake]);
    let sent: Mutex<HashMap<String, Instant>> = Mutex::new(HashMap::new());
    std::thread::scope(|s| {
        for (i, p) in procs.iter().enumerate() {
            let (sent, token) = (&sent, &token);
            s.spawn(move || {
                for n in 0..30 {
                    let key = format!("n{i}-{n}");
                    sent.lock().unwrap().insert(key.clone(), Instant::now());
                    fire(p, token, &key);
                }
            });
        }
    });
    fake.wait(90, Duration::from_secs(20));
    // Every claim is counted before its send: 90 claims in all means no row went out twice.
    let claims: Vec<u64> =
        procs.iter().map(|p| metric(p, "incidentrelay_engine_claims_total", "kind=\"delivery\"")).collect();
    let got = fake.requests();
    let ids: std::collections::BTreeSet<&str> = got.iter().filter_map(|r| r.header("webhook-id")).collect();
    let titles: std::collections::BTreeSet<String> = got.iter().map(title).collect();
    assert_eq!((got.len(), ids.len(), titles.len()), (90, 90, 90), "every alert paged once");
    assert_eq!(claims.iter().sum::<u64>(), 90, "claims per process: {claims:?}");
    let sent = sent.into_inner().unwrap();
    let mut latency: Vec<Duration> = got.iter().map(|r| r.at.saturating_duration_since(sent[&title(r)])).collect();
    latency.sort();
    eprintln!(
        "3 nodes: intake → first delivery attempt p50 {:?} p99 {:?} max {:?}; delivery claims per node {claims:?}",
        percentile(&latency, 0.5),
        percentile(&latency, 0.99),
        latency[latency.len() - 1]
    );
}

#[test]
fn an_ack_on_one_node_stops_the_escalation_another_node_runs() {
    let (procs, admin) = nodes(3);
    let (pages, steps) = (Fake::start(), Fake::start());
    let (route, channels, token) = setup(&procs[0], &admin, &[&pages, &steps]);
    policy(&procs[0], &admin, route, &channels, &[0, 3]);
    let id = fire(&procs[0], &token, "acked");
    pages.wait(1, Duration::from_secs(10));
    let fired = Instant::now();
    let r = procs[1].call("POST", &format!("/api/alerts/{id}/ack"), Some(&admin), None);
    assert_eq!(r.status, 200, "{}", r.text);
    let a = procs[2].call("GET", &format!("/api/alerts/{id}"), Some(&admin), None).body;
    assert_eq!((a["status"].as_str(), &a["next_action_at"]), (Some("acknowledged"), &Value::Null), "{a}");
    // Past the second step's due time and an engine tick, nobody paged it.
    let due = Duration::from_secs(3 + TICK_SECS + 1);
    std::thread::sleep(due.saturating_sub(fired.elapsed()));
    assert_eq!(steps.count(), 0, "the acknowledged alert escalated: {:?}", steps.requests());
    let events: Vec<Value> = pages.requests().iter().map(|r| r.json()["event"].clone()).collect();
    assert_eq!(events, [json!("triggered"), json!("acknowledged")], "the page, then its update");
}

#[test]
fn killing_nodes_mid_escalation_loses_no_step_and_repeats_none() {
    let (mut procs, admin) = nodes(3);
    let fakes = [Fake::start(), Fake::start(), Fake::start()];
    let (route, channels, token) = setup(&procs[0], &admin, &[&fakes[0], &fakes[1], &fakes[2]]);
    policy(&procs[0], &admin, route, &channels, &[0, 3, 3]);
    for i in 0..6 {
        fire(&procs[i % 3], &token, &format!("k{i}"));
    }
    fakes[0].wait(6, Duration::from_secs(10));
    let first_kill = Instant::now();
    procs[0].kill();
    fakes[1].wait(6, Duration::from_secs(20));
    procs[1].kill();
    fakes[2].wait(6, Duration::from_secs(20));
    eprintln!("the last steps arrived {:?} after the first kill", first_kill.elapsed());

    // Per alert and step: when it first arrived, and every webhook-id it arrived with.
    let arrivals = |f: &Fake| -> BTreeMap<String, (Instant, Vec<String>)> {
        let mut m: BTreeMap<String, (Instant, Vec<String>)> = BTreeMap::new();
        for r in f.requests() {
            let e = m.entry(title(&r)).or_insert((r.at, Vec::new()));
            e.0 = e.0.min(r.at);
            e.1.push(r.header("webhook-id").unwrap_or("").to_string());
        }
        m
    };
    let steps: Vec<_> = fakes.iter().map(arrivals).collect();
    let limit = Duration::from_secs(3 + TICK_SECS + 2);
    for key in (0..6).map(|i| format!("k{i}")) {
        for (s, step) in steps.iter().enumerate() {
            let (_, ids) = &step[&key];
            assert!(ids.iter().all(|id| id == &ids[0]), "{key} step {s} went out twice as different messages: {ids:?}");
        }
        for s in 1..3 {
            let (before, now) = (steps[s - 1][&key].0, steps[s][&key].0);
            let late = now.saturating_duration_since(before);
            assert!(
                late <= limit,
                "{key} step {s} came {late:?} after the step before (due after 3 s, tick {TICK_SECS} s)"
            );
        }
    }
    let repeats: usize = steps.iter().map(|m| m.values().map(|(_, ids)| ids.len() - 1).sum::<usize>()).sum();
    eprintln!(
        "2 of 3 nodes killed mid-escalation: 18 of 18 steps paged, {repeats} in-flight send(s) repeated with their webhook-id"
    );
}

#[test]
fn a_postgresql_restart_under_load_loses_no_acknowledged_alert_and_the_nodes_reconnect() {
    let Some(cluster) = crate::pg::own() else { return };
    let url = cluster.database();
    let (procs, admin) = nodes_on(&url, 2);
    let token = procs[0].webhook_route(&admin);
    let bases: Vec<String> = procs.iter().map(|p| p.base.clone()).collect();
    let load = Load::through_errors(&bases, &token, 6, "restart");
    load.wait_for(200);
    let before = load.acked();
    let restarted = Instant::now();
    cluster.restart();
    // The nodes reconnect by themselves: 2xx again, and ready.
    wait_for(Duration::from_secs(30), || (load.acked() >= before + 300).then_some(()))
        .expect("intake works again after the restart");
    eprintln!(
        "PostgreSQL restarted under load: intake flowing again {:?} later; {} request(s) refused meanwhile",
        restarted.elapsed(),
        load.refused()
    );
    for p in &procs {
        let ready = wait_for(Duration::from_secs(10), || p.readyz().filter(|r| r["status"] == "ok"));
        assert!(ready.is_some(), "{} is ready again", p.base);
    }
    let acked: Vec<String> = load.stop().into_iter().map(|(k, _)| k).collect();
    let db = incidentrelay::store::Db::open(&incidentrelay::config::DatabaseConfig {
        url: Some(url),
        pool_size: 4,
        ..Default::default()
    })
    .unwrap();
    let total = acked.len();
    let missing: Vec<String> = db
        .read_blocking(move |c| {
            let mut missing = Vec::new();
            for k in &acked {
                if alerts::find_open(c, 1, k, false)?.is_none() {
                    missing.push(k.clone());
                }
            }
            Ok(missing)
        })
        .unwrap();
    assert!(
        missing.is_empty(),
        "{} of {total} acknowledged alerts lost: {:?}",
        missing.len(),
        &missing[..missing.len().min(5)]
    );
}

/// A TCP proxy the test controls between a node and PostgreSQL: `cut` closes every connection
/// through it and refuses new ones until `restore`.
struct Proxy {
    port: u16,
    open: std::sync::Arc<std::sync::atomic::AtomicBool>,
    conns: std::sync::Arc<Mutex<Vec<std::net::TcpStream>>>,
}

impl Proxy {
    fn start(upstream: u16) -> Proxy {
        use std::sync::Arc;
        use std::sync::atomic::{AtomicBool, Ordering};
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let open = Arc::new(AtomicBool::new(true));
        let conns: Arc<Mutex<Vec<std::net::TcpStream>>> = Arc::new(Mutex::new(Vec::new()));
        let (o, c) = (open.clone(), conns.clone());
        std::thread::spawn(move || {
            for client in listener.incoming().flatten() {
                if !o.load(Ordering::SeqCst) {
                    continue; // dropped: refused
                }
                let Ok(server) = std::net::TcpStream::connect(("127.0.0.1", upstream)) else { continue };
                for s in [&client, &server] {
                    c.lock().unwrap().push(s.try_clone().unwrap());
                }
                for (mut from, mut to) in [
                    (client.try_clone().unwrap(), server.try_clone().unwrap()),
                    (server.try_clone().unwrap(), client.try_clone().unwrap()),
                ] {
                    std::thread::spawn(move || {
                        let _ = std::io::copy(&mut from, &mut to);
                        let _ = to.shutdown(std::net::Shutdown::Both);
                    });
                }
            }
        });
        Proxy { port, open, conns }
    }

    fn cut(&self) {
        self.open.store(false, std::sync::atomic::Ordering::SeqCst);
        for s in self.conns.lock().unwrap().drain(..) {
            let _ = s.shutdown(std::net::Shutdown::Both);
        }
    }

    fn restore(&self) {
        self.open.store(true, std::sync::atomic::Ordering::SeqCst);
    }
}

#[test]
fn a_node_cut_off_from_the_database_refuses_intake_and_claims_nothing_while_the_others_page() {
    let Some(cluster) = crate::pg::own() else { return };
    let url = cluster.database();
    let proxy = Proxy::start(cluster.port);
    let behind_proxy = url.replace(&format!(":{}/", cluster.port), &format!(":{}/", proxy.port));
    let (mut procs, admin) = nodes_on(&url, 1);
    let tick = TICK_SECS.to_string();
    procs.push(Proc::start_on(&behind_proxy, &["serve"], &[("INCIDENTRELAY_SCHEDULER__TICK_SECONDS", tick.as_str())]));
    // An HTTP-only node: serves intake, never runs engine steps.
    procs.push(Proc::start_on(&url, &["serve", "--no-scheduler"], &[]));
    assert_eq!(procs[2].scheduler_role(), "disabled");
    let fake = Fake::start();
    let (_, _, token) = setup(&procs[0], &admin, &[&fake]);
    fire(&procs[1], &token, "before");
    fake.wait(1, Duration::from_secs(10));

    proxy.cut();
    let claims_before = metric(&procs[1], "incidentrelay_engine_claims_total", "kind=\"delivery\"");
    let r = procs[1].call(
        "POST",
        "/api/integrations/webhook",
        Some(&token),
        Some(json!({"title": "cut", "fingerprint": "cut"})),
    );
    assert_eq!(r.status, 503, "no 2xx from a node that cannot store: {}", r.text);
    let ready = procs[1].readyz().unwrap();
    assert_eq!(ready["status"], "unavailable", "{ready}");
    for n in 0..10 {
        fire(&procs[(n % 2) * 2], &token, &format!("during-{n}"));
    }
    fake.wait(11, Duration::from_secs(10));
    assert_eq!(
        metric(&procs[1], "incidentrelay_engine_claims_total", "kind=\"delivery\""),
        claims_before,
        "the cut-off node claimed nothing"
    );
    assert_eq!(
        metric(&procs[2], "incidentrelay_engine_claims_total", "kind=\"delivery\""),
        0,
        "--no-scheduler sends nothing"
    );

    proxy.restore();
    let back = wait_for(Duration::from_secs(20), || procs[1].readyz().filter(|r| r["status"] == "ok"));
    assert!(back.is_some(), "the node is ready again once it reaches the database");
    fire(&procs[1], &token, "after");
    // Every stored alert is paged; one whose send was in flight when its node lost the database
    // (its result could not be recorded) goes out again from another node with its webhook-id.
    let pages = |f: &Fake| {
        let mut m: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for r in f.requests() {
            m.entry(title(&r)).or_default().push(r.header("webhook-id").unwrap_or("").to_string());
        }
        m
    };
    let all = wait_for(Duration::from_secs(15), || Some(pages(&fake)).filter(|m| m.len() == 12));
    let all = all.unwrap_or_else(|| panic!("every stored alert paged: {:?}", pages(&fake).keys()));
    for (t, ids) in &all {
        assert!(ids.iter().all(|id| id == &ids[0]), "{t} went out twice as different messages: {ids:?}");
    }
}
