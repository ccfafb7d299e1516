#!/usr/bin/env python3
"""Intake and failover of the release binary on PostgreSQL, beside SQLite and the HTTP ceiling.

One run on this machine, each phase measured the same way as ../shared/bench/intake-wrk.sh
(Alertmanager v4 webhook, one alert per request, wrk -t2 -c32, engine running, a route without
channels):

  sqlite            ../shared/bench/intake-wrk.sh (SQLite, and the nginx ceiling), when present
  pg-1-node         new alerts/s and duplicates/s, one `serve` on a throwaway PostgreSQL cluster
                    (fsync and synchronous_commit on: the durable defaults)
  pg-2-nodes        new alerts/s with wrk split over two `serve` processes on that database
  pg-ceiling        the database alone: pgbench running the statements of one new alert's intake
                    (the same reads, inserts and commit, prepared) with its best concurrency
  latency-3-nodes   intake -> delivery done, p50/p99, 3 nodes, a webhook channel to a local nginx,
                    a steady 300 alerts/s spread over the nodes (from the outbox rows' times)
  failover          2 nodes, a receiver that holds every first request for 4 s; one node is
                    SIGKILLed with sends in flight: how long until the other sends them again

Usage: python3 benches/postgres-ha.py [seconds per phase (default 15)]
Needs: a release build (cargo build --release), wrk, nginx, PostgreSQL's initdb/pg_ctl.
"""

import glob
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BIN = os.path.join(ROOT, "target", "release", "incidentrelay")
SECS = int(sys.argv[1]) if len(sys.argv) > 1 else 15
PIDS = []


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def as_owner(args, root):
    return (["runuser", "-u", "postgres", "--"] + args) if root else args


class Cluster:
    """A PostgreSQL cluster in a temp directory with the durable defaults."""

    def __init__(self):
        bins = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
        if not bins:
            sys.exit("PostgreSQL is not installed (apt-get install postgresql)")
        self.bin = os.path.dirname(bins[0])
        self.root = os.geteuid() == 0
        self.dir = subprocess.check_output(as_owner(["mktemp", "-d", "/var/tmp/irbench-pg.XXXXXX"], self.root), text=True).strip()
        self.port = free_port()
        data = self.dir + "/data"
        subprocess.check_call(as_owner([self.bin + "/initdb", "-D", data, "-U", "postgres", "-A", "trust", "-E", "UTF8",
                                        "--locale=C"], self.root), stdout=subprocess.DEVNULL)
        opts = f"-p {self.port} -k {self.dir} -c listen_addresses=127.0.0.1 -c max_connections=300 -c shared_buffers=256MB"
        subprocess.check_call(as_owner([self.bin + "/pg_ctl", "-D", data, "-l", self.dir + "/log", "-w", "-o", opts, "start"],
                                       self.root), stdout=subprocess.DEVNULL)

    def url(self, db):
        return f"postgres://postgres:bench@127.0.0.1:{self.port}/{db}?sslmode=disable"

    def psql(self, db, sql):
        return subprocess.check_output([self.bin + "/psql", "-h", "127.0.0.1", "-p", str(self.port), "-U", "postgres",
                                        "-d", db, "-Atc", sql], text=True).strip()

    def new_database(self, name):
        self.psql("postgres", f"CREATE DATABASE {name}")
        return self.url(name)

    def stop(self):
        subprocess.call(as_owner([self.bin + "/pg_ctl", "-D", self.dir + "/data", "stop", "-m", "immediate"], self.root),
                        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        subprocess.call(as_owner(["rm", "-rf", self.dir], self.root))


class Node:
    """`incidentrelay serve` on a database."""

    def __init__(self, url, work, name, extra_env=None):
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        env = {"PATH": os.environ.get("PATH", ""), "INCIDENTRELAY_DATABASE__URL": url,
               "INCIDENTRELAY_SERVER__LISTEN": f"127.0.0.1:{self.port}",
               "INCIDENTRELAY_SERVER__PUBLIC_BASE_URL": self.base,
               "INCIDENTRELAY_INTAKE__RATE_LIMIT_PER_MINUTE": "0",
               "INCIDENTRELAY_SECURITY__OUTBOUND_ALLOWLIST": '["127.0.0.1/32"]',
               "INCIDENTRELAY_LOGGING__LEVEL": "warning"}
        env.update(extra_env or {})
        self.log = open(os.path.join(work, f"{name}.log"), "w")
        self.proc = subprocess.Popen([BIN, "serve"], env=env, stdout=self.log, stderr=subprocess.STDOUT)
        PIDS.append(self.proc.pid)
        for _ in range(300):
            try:
                if urllib.request.urlopen(self.base + "/readyz", timeout=1).status == 200:
                    return
            except Exception:
                time.sleep(0.1)
        sys.exit(f"{name} did not become ready; see {self.log.name}")

    def kill(self):
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait()


def call(base, method, path, token=None, body=None):
    req = urllib.request.Request(base + path, method=method, data=None if body is None else json.dumps(body).encode())
    req.add_header("Content-Type", "application/json")
    if token:
        req.add_header("Authorization", "Bearer " + token)
    with urllib.request.urlopen(req, timeout=30) as r:
        return json.loads(r.read() or b"null")


def setup(base, channel_url=None):
    """The shared script's setup (group, user, team, rotation, an Alertmanager route); with
    `channel_url`, a webhook channel on the route. Returns (admin token, intake token)."""
    tok = call(base, "POST", "/api/auth/login", body={"username": "perfadmin", "password": "perf-password-123456"})["access_token"]
    g = call(base, "POST", "/api/groups", tok, {"slug": "perf", "name": "Perf"})["id"]
    u = call(base, "POST", "/api/admin/users", tok, {"username": "alice", "password": "correct horse battery", "email": "alice@example.com"})["id"]
    call(base, "POST", f"/api/groups/{g}/users", tok, {"user_id": u, "role": "responder"})
    t = call(base, "POST", "/api/teams", tok, {"group_id": g, "slug": "infra", "name": "Infra"})["id"]
    call(base, "POST", f"/api/teams/{t}/users", tok, {"user_id": u})
    r = call(base, "POST", "/api/rotations", tok, {"team_id": t, "name": "Primary", "rotation_type": "daily", "handoff_time": "09:00", "timezone": "UTC"})["id"]
    call(base, "POST", f"/api/rotations/{r}/members", tok, {"user_id": u})
    channels = []
    if channel_url:
        channels.append(call(base, "POST", "/api/channels", tok, {"team_id": t, "name": "hook", "channel_type": "webhook", "config": {"webhook_url": channel_url}})["id"])
    route = call(base, "POST", "/api/routes", tok, {"team_id": t, "name": "am", "source": "alertmanager", "rotation_id": r, "channel_ids": channels})
    return tok, route["intake_token"]


def create_admin(url):
    env = {"PATH": os.environ.get("PATH", ""), "INCIDENTRELAY_DATABASE__URL": url, "INCIDENTRELAY_ADMIN_PASSWORD": "perf-password-123456"}
    subprocess.check_call([BIN, "create-admin", "--username", "perfadmin", "--email", "perf@example.com"], env=env, stdout=subprocess.DEVNULL)


LUA = """
local counter = 0
local tag = tostring(os.time()) .. tostring(math.random(1e9))
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer %s"
local mode = os.getenv("MODE") or "new"
function setup(thread) thread:set("tid", tostring(math.random(1e9))) end
function request()
  counter = counter + 1
  local fp = (mode == "dup") and ("dup-" .. (counter %% 1000)) or (tag .. "-" .. tid .. "-" .. counter)
  local body = '{"receiver":"ir","status":"firing","alerts":[{"status":"firing","labels":{"alertname":"DiskFull","severity":"critical","team":"infra","instance":"host-' .. fp .. '"},"annotations":{"summary":"Disk is full","description":"/var is 95%% full"},"startsAt":"2026-12-01T00:00:00Z","endsAt":"0001-01-01T00:00:00Z","generatorURL":"http://prom:9090/graph","fingerprint":"' .. fp .. '"}],"groupLabels":{"alertname":"DiskFull"},"commonLabels":{"alertname":"DiskFull"},"commonAnnotations":{},"externalURL":"http://am:9093","version":"4","groupKey":"{}:{alertname=DiskFull}","truncatedAlerts":0}'
  return wrk.format(nil, "/api/integrations/alertmanager", nil, body)
end
"""


def wrk(work, token, mode, bases, threads=2, conns=32, secs=SECS):
    """Runs wrk against every base at once (connections split); (total req/s, each wrk's p99,
    non-2xx)."""
    script = os.path.join(work, "am.lua")
    with open(script, "w") as f:
        f.write(LUA % token)
    env = dict(os.environ, MODE=mode)
    procs = [subprocess.Popen(["wrk", f"-t{max(1, threads // len(bases))}", f"-c{conns // len(bases)}", f"-d{secs}s", "--timeout", "10s",
                               "--latency", "-s", script, b], env=env, stdout=subprocess.PIPE, text=True) for b in bases]
    rps, p99s, errors = 0.0, [], 0
    for p in procs:
        out = p.communicate()[0]
        for line in out.splitlines():
            parts = line.split()
            if line.startswith("Requests/sec:"):
                rps += float(parts[1])
            elif parts[:1] == ["99%"]:
                p99s.append(parts[1])
            elif line.strip().startswith("Non-2xx"):
                errors += int(parts[-1])
    return rps, "/".join(p99s), errors


# One new alert's intake as the server runs it (see the server's statements in the log with
# log_statement = all), once its configuration is cached (store::config_cache): find the open
# alert or the reopen candidate, the configuration version, insert (returning the assignee's
# names), the timeline.
INTAKE_SQL = """\\set k random(1, 1000000000000000)
BEGIN;
SELECT a.id, a.team_id, t.slug FROM alerts a JOIN teams t ON t.id = a.team_id LEFT JOIN users u ON u.id = a.assignee_user_id WHERE a.route_id = 1 AND a.dedup_key = 'pgb-' || :k AND (a.status <> 'resolved' OR a.resolved_at >= 0) ORDER BY CASE WHEN a.status = 'resolved' THEN 1 ELSE 0 END, a.id DESC LIMIT 1 FOR UPDATE OF a;
SELECT version FROM config_version WHERE id = 1;
INSERT INTO alerts (team_id, route_id, rotation_id, source, dedup_key, group_open, title, message, severity, status, labels, alert_count, first_seen_at, last_seen_at, assignee_user_id, created_at, updated_at) VALUES (1, 1, 1, 'alertmanager', 'pgb-' || :k, 0, 'Disk', '', 'critical', 'firing', '{}', 1, 1, 1, 2, 1, 1) RETURNING id, (SELECT u.username FROM users u WHERE u.id = alerts.assignee_user_id), (SELECT u.display_name FROM users u WHERE u.id = alerts.assignee_user_id) \\gset
INSERT INTO alert_events (alert_id, event_type, message, actor, data, created_at) VALUES (:id, 'received', 'x', 'y', '{}', 1);
COMMIT;
"""


def pgbench(cluster, work):
    """The best of pgbench at 4, 8 and 16 clients running INTAKE_SQL: what the database itself
    sustains on this machine."""
    script = os.path.join(work, "intake.sql")
    with open(script, "w") as f:
        f.write(INTAKE_SQL)
    best = 0.0
    for clients in (4, 8, 16):
        out = subprocess.run([cluster.bin + "/pgbench", "-h", "127.0.0.1", "-p", str(cluster.port), "-U", "postgres", "-n",
                              "-M", "prepared", "-c", str(clients), "-j", "2", "-T", str(max(3, SECS // 3)), "-f", script, "bench"],
                             capture_output=True, text=True).stdout
        for line in out.splitlines():
            if line.startswith("tps = "):
                best = max(best, float(line.split()[2]))
    return f"{best:.0f} transactions/s"


def nginx_receiver(work):
    """nginx answering 200 to every POST: the fastest possible webhook receiver."""
    port = free_port()
    conf = os.path.join(work, "receiver.conf")
    with open(conf, "w") as f:
        f.write(f"worker_processes 1; daemon off; pid {work}/receiver.pid; error_log {work}/receiver-error.log;\n"
                f"events {{ worker_connections 1024; }}\n"
                f"http {{ access_log off; server {{ listen 127.0.0.1:{port}; location / {{ return 200 'ok'; }} }} }}\n")
    p = subprocess.Popen(["/usr/sbin/nginx", "-c", conf, "-p", work], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    PIDS.append(p.pid)
    time.sleep(0.5)
    return p, f"http://127.0.0.1:{port}/hook"


def steady_load(bases, token, rate, secs, prefix):
    """`rate` alerts/s for `secs` seconds, round-robin over the nodes, from 8 threads."""
    body = lambda fp: json.dumps({"receiver": "ir", "status": "firing", "version": "4", "alerts": [{"status": "firing", "labels": {"alertname": "Lat", "instance": fp}, "annotations": {}, "fingerprint": fp}]}).encode()
    deadline = time.time() + secs
    interval = 8.0 / rate

    def worker(w):
        n = 0
        next_at = time.time()
        while time.time() < deadline:
            fp = f"{prefix}-{w}-{n}"
            req = urllib.request.Request(bases[(w + n) % len(bases)] + "/api/integrations/alertmanager", data=body(fp), method="POST")
            req.add_header("Content-Type", "application/json")
            req.add_header("Authorization", "Bearer " + token)
            urllib.request.urlopen(req, timeout=10).read()
            n += 1
            next_at += interval
            time.sleep(max(0.0, next_at - time.time()))

    threads = [threading.Thread(target=worker, args=(w,)) for w in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()


class Holding(BaseHTTPRequestHandler):
    """Records every request; holds the first one of each webhook-id for 4 s."""
    seen = {}
    lock = threading.Lock()

    def do_POST(self):
        self.rfile.read(int(self.headers.get("Content-Length", 0)))
        wid = self.headers.get("webhook-id", "")
        with Holding.lock:
            first = wid not in Holding.seen
            Holding.seen.setdefault(wid, []).append(time.time())
        if first:
            time.sleep(4)
        try:
            self.send_response(200)
            self.end_headers()
            self.wfile.write(b"ok")
        except OSError:
            pass  # the node that sent it was killed meanwhile: that is the point of the test

    def log_message(self, *args):
        pass


def main():
    if not os.access(BIN, os.X_OK):
        sys.exit("build first: cargo build --release")
    work = tempfile.mkdtemp(prefix="irbench-")
    results = []
    shared = os.path.join(ROOT, "..", "shared", "bench", "intake-wrk.sh")
    if os.path.exists(shared):
        out = subprocess.run(["bash", shared, ROOT, str(SECS)], capture_output=True, text=True).stdout
        results += [f"sqlite  {line}" for line in out.splitlines()]
    cluster = Cluster()
    try:
        # 1 node, then 2 nodes on the same database.
        url = cluster.new_database("bench")
        create_admin(url)
        a = Node(url, work, "node-a")
        _, itok = setup(a.base)
        rps, p99, err = wrk(work, itok, "new", [a.base])
        results.append(f"pg 1 node   new alerts/s: {rps:.0f}  p99 {p99}  non-2xx {err}")
        wrk(work, itok, "dup", [a.base], threads=1, conns=4, secs=2)
        rps, p99, err = wrk(work, itok, "dup", [a.base])
        results.append(f"pg 1 node   duplicates/s: {rps:.0f}  p99 {p99}  non-2xx {err}")
        b = Node(url, work, "node-b")
        rps, p99, err = wrk(work, itok, "new", [a.base, b.base])
        results.append(f"pg 2 nodes  new alerts/s: {rps:.0f}  p99 {p99}  non-2xx {err}")
        stored = cluster.psql("bench", "SELECT count(*) FROM alerts")
        results.append(f"pg stored alerts: {stored}")
        a.kill()
        b.kill()
        results.append(f"pg ceiling  the same statements from pgbench: {pgbench(cluster, work)}")

        # Intake -> delivery, 3 nodes, steady load, a webhook channel to nginx.
        _, hook = nginx_receiver(work)
        url = cluster.new_database("latency")
        create_admin(url)
        nodes = [Node(url, work, f"lat-{i}") for i in range(3)]
        _, itok = setup(nodes[0].base, hook)
        steady_load([n.base for n in nodes], itok, 300, SECS, "lat")
        time.sleep(2)
        row = cluster.psql("latency", "SELECT count(*), percentile_cont(0.5) WITHIN GROUP (ORDER BY sent_at - created_at), "
                                      "percentile_cont(0.99) WITHIN GROUP (ORDER BY sent_at - created_at), max(sent_at - created_at) "
                                      "FROM deliveries WHERE status = 'sent'")
        n, p50, p99, mx = row.split("|")
        results.append(f"3 nodes     intake -> delivery done ({n} pages at 300/s): p50 {float(p50):.0f} ms  p99 {float(p99):.0f} ms  max {mx} ms")
        for node in nodes:
            node.kill()

        # Failover: sends in flight on a node that is killed.
        server = ThreadingHTTPServer(("127.0.0.1", 0), Holding)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        url = cluster.new_database("failover")
        create_admin(url)
        a = Node(url, work, "fo-a", {"INCIDENTRELAY_SCHEDULER__TICK_SECONDS": "5"})
        _, itok = setup(a.base, f"http://127.0.0.1:{server.server_address[1]}/hook")
        b = Node(url, work, "fo-b", {"INCIDENTRELAY_SCHEDULER__TICK_SECONDS": "5"})
        for i in range(8):
            call([a.base, b.base][i % 2], "POST", "/api/integrations/alertmanager", itok,
                 {"receiver": "ir", "status": "firing", "version": "4", "alerts": [{"status": "firing", "labels": {"alertname": "F", "i": str(i)}, "fingerprint": f"fo-{i}"}]})
        time.sleep(1)
        killed = time.time()
        a.kill()
        time.sleep(12)
        with Holding.lock:
            again = [times[1] - killed for times in Holding.seen.values() if len(times) > 1]
            total = len(Holding.seen)
        worst = f"{max(again):.1f} s" if again else "n/a"
        results.append(f"failover    {len(again)} of {total} pages in flight on the killed node sent again by the other, "
                       f"at most {worst} after the kill (tick 5 s, lease 3 s)")
        b.kill()
        server.shutdown()
    finally:
        for pid in PIDS:
            try:
                os.kill(pid, signal.SIGKILL)
            except OSError:
                pass
        cluster.stop()
    print("\n".join(results))


if __name__ == "__main__":
    main()
