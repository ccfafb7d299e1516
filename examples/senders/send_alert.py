#!/usr/bin/env python3
"""Send an alert to IncidentRelay from Python (standard library only).

    INCIDENTRELAY_TOKEN=iri_... python3 send_alert.py "Backup failed on db-1" --severity high
    INCIDENTRELAY_TOKEN=iri_... python3 send_alert.py "Backup failed on db-1" --resolve
"""
import argparse
import json
import os
import sys
import urllib.request


def main() -> int:
    p = argparse.ArgumentParser()
    p.add_argument("title")
    p.add_argument("--message", default="")
    p.add_argument("--severity", default="warning", choices=["critical", "high", "warning", "info"])
    p.add_argument("--fingerprint", help="dedup key (default: the title)")
    p.add_argument("--label", action="append", default=[], help="key=value, repeatable")
    p.add_argument("--resolve", action="store_true")
    a = p.parse_args()
    url = os.environ.get("INCIDENTRELAY_URL", "http://127.0.0.1:8080") + "/api/integrations/webhook"
    token = os.environ["INCIDENTRELAY_TOKEN"]
    body = {
        "title": a.title,
        "message": a.message,
        "severity": a.severity,
        "fingerprint": a.fingerprint or a.title,
        "status": "resolved" if a.resolve else "firing",
        "labels": dict(l.split("=", 1) for l in a.label),
    }
    req = urllib.request.Request(
        url,
        data=json.dumps(body).encode(),
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
        method="POST",
    )
    with urllib.request.urlopen(req, timeout=10) as resp:
        result = json.load(resp)
    for r in result:
        if r.get("routing_error"):
            print(f"not routed: {r['routing_error']}", file=sys.stderr)
            return 1
        print(f"alert #{r['id']} {r['status']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
