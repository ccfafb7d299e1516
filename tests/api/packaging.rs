//! Packaging and examples: the systemd units pass `systemd-analyze verify`, the Docker image
//! builds (when a Docker engine is available), and the example files are valid for the tools
//! that read them.

use std::path::Path;
use std::process::Command;

fn repo(p: &str) -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(p)
}

fn available(program: &str) -> bool {
    Command::new("sh").args(["-c", &format!("command -v {program}")]).output().is_ok_and(|o| o.status.success())
}

#[test]
fn systemd_units_verify() {
    if !available("systemd-analyze") {
        eprintln!("SKIPPED: systemd-analyze is not installed");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let units = ["incidentrelay.service", "incidentrelay-web.service", "incidentrelay-scheduler.service"];
    let mut paths = Vec::new();
    for u in units {
        // The units run /usr/bin/incidentrelay; verify them against the binary just built.
        let text = std::fs::read_to_string(repo(&format!("packaging/{u}"))).unwrap();
        assert!(text.contains("NoNewPrivileges=yes") && text.contains("ProtectSystem=strict"), "{u} is hardened");
        let p = dir.path().join(u);
        std::fs::write(&p, text.replace("/usr/bin/incidentrelay", env!("CARGO_BIN_EXE_incidentrelay"))).unwrap();
        paths.push(p);
    }
    let out = Command::new("systemd-analyze").arg("verify").args(&paths).output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success() && stderr.trim().is_empty(), "systemd-analyze verify: {stderr}");
}

#[test]
fn docker_image_builds_when_docker_is_available() {
    let engine = Command::new("docker").arg("info").output().is_ok_and(|o| o.status.success());
    if !engine {
        eprintln!("SKIPPED: no Docker engine available (docker info failed)");
        return;
    }
    let out = Command::new("docker")
        .args(["build", "-q", "-f", "packaging/Dockerfile", "-t", "incidentrelay:test", "."])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .unwrap();
    assert!(out.status.success(), "docker build: {}", String::from_utf8_lossy(&out.stderr));
}

#[test]
fn examples_are_valid_for_their_tools() {
    // Alertmanager's own checker, when installed (.ci/run installs prometheus-alertmanager).
    if let Some(amtool) = crate::tools::require("amtool") {
        let out = Command::new(amtool)
            .args(["check-config"])
            .arg(repo("examples/alertmanager/alertmanager.yml"))
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "amtool: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    for script in ["examples/senders/curl.sh", "examples/senders/check_disk.sh"] {
        let out = Command::new("bash").arg("-n").arg(repo(script)).output().unwrap();
        assert!(out.status.success(), "{script}: {}", String::from_utf8_lossy(&out.stderr));
    }
    if available("python3") {
        for py in ["examples/senders/send_alert.py", "examples/aws/cloudwatch_sns_lambda.py"] {
            let out = Command::new("python3")
                .args(["-c", "import ast, sys; ast.parse(open(sys.argv[1]).read())"])
                .arg(repo(py))
                .output()
                .unwrap();
            assert!(out.status.success(), "{py}: {}", String::from_utf8_lossy(&out.stderr));
        }
    }
    if available("node") {
        let out = Command::new("node")
            .arg("--check")
            .arg(repo("examples/zabbix/incidentrelay_media_type.js"))
            .output()
            .unwrap();
        assert!(out.status.success(), "zabbix media type: {}", String::from_utf8_lossy(&out.stderr));
    }
    let dd = std::fs::read_to_string(repo("examples/datadog/webhook-payload.json")).unwrap();
    serde_json::from_str::<serde_json::Value>(&dd).expect("the Datadog payload template is JSON");
}

#[test]
fn intake_examples_parse_with_their_formats() {
    use incidentrelay::http::intake::{alertmanager, grafana, pagerduty, webhook, zabbix};
    let read = |f: &str| std::fs::read(repo(&format!("examples/intake/{f}"))).unwrap();
    let count = |r: Result<Vec<incidentrelay::domain::alert::IncomingAlert>, _>, f: &str| match r {
        Ok(v) => v.len(),
        Err(e) => panic!("{f}: {e:?}"),
    };
    assert_eq!(count(alertmanager::parse_body(&read("alertmanager-firing.json")), "am"), 1);
    assert_eq!(count(alertmanager::parse_body(&read("alertmanager-mixed.json")), "am mixed"), 2);
    assert_eq!(count(zabbix::parse_body(&read("zabbix-problem.json")), "zabbix"), 1);
    assert_eq!(count(zabbix::parse_body(&read("zabbix-recovery.json")), "zabbix recovery"), 1);
    assert_eq!(count(grafana::parse_body(&read("grafana-firing.json")), "grafana"), 2);
    assert_eq!(count(webhook::parse_body(&read("webhook.json")), "webhook"), 1);
    for f in ["pagerduty-trigger.json", "pagerduty-resolve.json"] {
        pagerduty::parse_event(&read(f)).unwrap_or_else(|e| panic!("{f}: {e:?}"));
    }
}

#[test]
fn the_high_availability_compose_file_runs_postgresql_and_two_nodes_behind_nginx() {
    let Some(python) = crate::tools::python_with("yaml") else { return };
    let out = Command::new(python)
        .args(["-c", "import json, sys, yaml; print(json.dumps(yaml.safe_load(open(sys.argv[1]))))"])
        .arg(repo("packaging/docker-compose.ha.yml"))
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let compose: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let services = compose["services"].as_object().unwrap();
    let names: Vec<&str> = services.keys().map(String::as_str).collect();
    assert_eq!(names, ["nginx", "node1", "node2", "postgres"]);
    let defaults = serde_json::to_value(incidentrelay::config::Config::default()).unwrap();
    for node in ["node1", "node2"] {
        let s = &services[node];
        let env = s["environment"].as_object().unwrap();
        assert!(env["INCIDENTRELAY_DATABASE__URL"].as_str().unwrap().starts_with("postgres://"));
        for key in env.keys() {
            let (section, k) = key.strip_prefix("INCIDENTRELAY_").and_then(|r| r.split_once("__")).unwrap();
            let known = defaults[section.to_lowercase()].as_object().is_some_and(|m| m.contains_key(&k.to_lowercase()));
            assert!(known, "{node}: {key} is not a configuration variable");
        }
        // The image sets the SQLite path; database.path and database.url together are refused.
        assert_eq!(s["entrypoint"][2], "INCIDENTRELAY_DATABASE__PATH", "{node} unsets the image's SQLite path");
    }
    // nginx accepts the load balancer's configuration (the nodes' names resolved locally).
    let Some(nginx) = ["/usr/sbin/nginx", "/usr/local/sbin/nginx"].into_iter().find(|p| Path::new(p).exists()) else {
        crate::tools::missing("nginx");
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let site = std::fs::read_to_string(repo("packaging/nginx-ha.conf"))
        .unwrap()
        .replace("node1", "127.0.0.1")
        .replace("node2", "127.0.0.2");
    std::fs::write(dir.path().join("site.conf"), site).unwrap();
    let main = format!(
        "pid {0}/nginx.pid; error_log {0}/error.log; events {{}} http {{ access_log off; client_body_temp_path {0}; proxy_temp_path {0}; include {0}/site.conf; }}",
        dir.path().display()
    );
    std::fs::write(dir.path().join("nginx.conf"), main).unwrap();
    let out = Command::new(nginx)
        .args(["-t", "-q", "-p"])
        .arg(dir.path())
        .arg("-c")
        .arg(dir.path().join("nginx.conf"))
        .output()
        .unwrap();
    assert!(out.status.success(), "nginx -t: {}", String::from_utf8_lossy(&out.stderr));
}
