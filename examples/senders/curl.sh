#!/usr/bin/env sh
# Fire, then resolve, an alert with curl (generic webhook route).
URL=${INCIDENTRELAY_URL:-http://127.0.0.1:8080}
TOKEN=${INCIDENTRELAY_TOKEN:?set INCIDENTRELAY_TOKEN to a route intake token}

curl -fsS -X POST "$URL/api/integrations/webhook" \
  -H "Authorization: Bearer $TOKEN" -H 'Content-Type: application/json' \
  -d '{"title": "Disk full on db-1", "message": "/var is 97% full", "severity": "critical",
       "fingerprint": "disk-db-1", "labels": {"host": "db-1", "env": "prod"},
       "event_link": "https://grafana.example.com/d/disk"}'
echo
# Later, the same fingerprint with status resolved:
curl -fsS -X POST "$URL/api/integrations/webhook" \
  -H "Authorization: Bearer $TOKEN" -H 'Content-Type: application/json' \
  -d '{"title": "Disk full on db-1", "status": "resolved", "fingerprint": "disk-db-1"}'
echo
