//! `GET /api/alerts` at scale: 1,000,000 alerts (10 teams in 2 groups, 95% resolved), then the
//! store's list query (the one the endpoint runs) for typical first pages, timed over several
//! runs. Target: a filtered first page in under 50 ms.
//!
//!     cargo bench --bench alert_list

use std::time::Instant;

use incidentrelay::config::DatabaseConfig;
use incidentrelay::domain::alert::{AlertStatus, Severity};
use incidentrelay::store::Db;
use incidentrelay::store::alerts::{self, Filter};

const ROWS: i64 = 1_000_000;

fn main() {
    let dir = tempfile::tempdir().expect("tempdir");
    let cfg = DatabaseConfig { path: dir.path().join("list.db"), ..DatabaseConfig::default() };
    let db = Db::open(&cfg).expect("open");
    let t = Instant::now();
    // Seeded with plain SQL on a connection of its own (the store's API makes one alert at a time).
    let mut raw = rusqlite::Connection::open(&cfg.path).expect("open for seeding");
    let seed = |raw: &mut rusqlite::Connection| -> rusqlite::Result<()> {
        let c = raw.transaction()?;
        c.execute_batch(
            "INSERT INTO groups (id, slug, name, created_at, updated_at) VALUES (1, 'a', 'A', 0, 0), (2, 'b', 'B', 0, 0);",
        )?;
        for team in 1..=10 {
            c.execute(
                "INSERT INTO teams (id, group_id, slug, name, created_at, updated_at) VALUES (?1, ?2, ?3, ?3, 0, 0)",
                rusqlite::params![team, if team <= 5 { 1 } else { 2 }, format!("team-{team}")],
            )?;
        }
        let mut st = c.prepare(
            "INSERT INTO alerts (team_id, source, dedup_key, title, message, severity, status, labels, alert_count,
                                 first_seen_at, last_seen_at, resolved_at, created_at, updated_at)
             VALUES (?1, ?2, ?3, ?4, '', ?5, ?6, ?7, 1, ?8, ?8, ?9, ?8, ?8)",
        )?;
        let sources = ["alertmanager", "zabbix", "webhook", "grafana", "events"];
        for i in 0..ROWS {
            let status = match i % 100 {
                0..=2 => "firing",
                3 => "acknowledged",
                4 => "silenced",
                _ => "resolved",
            };
            let sev = Severity::ALL[(i % 4) as usize].as_str();
            let ts = 1_700_000_000_000 + i * 1000;
            st.execute(rusqlite::params![
                i % 10 + 1,
                sources[(i % 5) as usize],
                format!("k{i}"),
                format!("Disk full on host-{} ({i})", i % 5000),
                sev,
                status,
                format!("{{\"instance\":\"host-{}\",\"job\":\"node\"}}", i % 5000),
                ts,
                (status == "resolved").then_some(ts + 60_000),
            ])?;
        }
        // The search index, as the engine builds it (title and label values), in its own file
        // beside the database (store::sqlite::SearchIndex).
        c.execute_batch(
            "INSERT INTO search.alerts_fts (rowid, body)
             SELECT id, dedup_key || ' ' || title || ' instance=' || json_extract(labels, '$.instance') || ' job=node' FROM main.alerts;
             INSERT INTO search.search_state (key, value) SELECT 'alert_id', MAX(id) FROM main.alerts;",
        )?;
        drop(st);
        c.commit()
    };
    let search = incidentrelay::store::search_path(&cfg.path);
    raw.execute("ATTACH DATABASE ?1 AS search", [search.to_str().expect("a UTF-8 path")]).expect("attach");
    seed(&mut raw).expect("load");
    raw.execute_batch("ANALYZE").expect("analyze");
    println!("loaded {ROWS} alerts in {:.1} s", t.elapsed().as_secs_f64());

    let base = Filter { page: 1, page_size: 50, ..Filter::default() };
    let cases: Vec<(&str, Filter)> = vec![
        ("team + status=firing", Filter { team_id: Some(3), statuses: vec![AlertStatus::Firing], ..base.clone() }),
        (
            "status=firing,acknowledged",
            Filter { statuses: vec![AlertStatus::Firing, AlertStatus::Acknowledged], ..base.clone() },
        ),
        (
            "member of 1 group, open",
            Filter {
                groups: Some(vec![1]),
                statuses: vec![AlertStatus::Firing, AlertStatus::Acknowledged, AlertStatus::Silenced],
                ..base.clone()
            },
        ),
        ("severity=critical", Filter { severity: Some(Severity::Critical), ..base.clone() }),
        ("team + source", Filter { team_id: Some(7), source: Some("zabbix".into()), ..base.clone() }),
        (
            "team, resolved, page 10",
            Filter { team_id: Some(2), statuses: vec![AlertStatus::Resolved], page: 10, ..base.clone() },
        ),
        ("no filter (admin)", base.clone()),
        ("search \"host-4242\"", Filter { search: Some("host-4242".into()), ..base.clone() }),
        (
            "open + search \"disk full\"",
            Filter { statuses: vec![AlertStatus::Firing], search: Some("disk full".into()), ..base.clone() },
        ),
    ];
    println!("{:<30} {:>10} {:>10} {:>12}", "query (first page of 50)", "median ms", "max ms", "total_items");
    for (name, f) in cases {
        let mut times = Vec::new();
        let mut total = 0;
        for _ in 0..7 {
            let f = f.clone();
            let t = Instant::now();
            let page = db.read_blocking(|c| alerts::list(c, &f)).expect("list");
            times.push(t.elapsed().as_secs_f64() * 1000.0);
            total = page.total;
            assert!(page.items.len() <= 50);
        }
        times.sort_by(|a, b| a.total_cmp(b));
        println!("{name:<30} {:>10.2} {:>10.2} {total:>12}", times[times.len() / 2], times[times.len() - 1]);
    }
    println!("target: a filtered first page in under 50 ms");
}
