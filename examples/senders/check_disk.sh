#!/usr/bin/env bash
# Cron-friendly disk check: pages when a filesystem is above THRESHOLD percent, resolves when it
# is back below. One alert per host and mount point (the fingerprint), so repeats deduplicate.
#   */5 * * * * INCIDENTRELAY_TOKEN=iri_… /usr/local/bin/check_disk.sh
set -euo pipefail
URL=${INCIDENTRELAY_URL:-http://127.0.0.1:8080}
TOKEN=${INCIDENTRELAY_TOKEN:?set INCIDENTRELAY_TOKEN to a route intake token}
THRESHOLD=${THRESHOLD:-90}
HOST=$(hostname -s)

df -P -x tmpfs -x devtmpfs -x overlay | tail -n +2 | while read -r _ _ _ _ pct mount; do
  used=${pct%\%}
  if [ "$used" -ge "$THRESHOLD" ]; then status=firing; severity=critical; else status=resolved; severity=info; fi
  body=$(printf '{"title":"Disk %s%% full on %s:%s","status":"%s","severity":"%s","fingerprint":"disk-%s-%s","labels":{"host":"%s","mount":"%s"}}' \
    "$used" "$HOST" "$mount" "$status" "$severity" "$HOST" "$mount" "$HOST" "$mount")
  curl -fsS --max-time 10 -X POST "$URL/api/integrations/webhook" \
    -H "Authorization: Bearer $TOKEN" -H 'Content-Type: application/json' -d "$body" >/dev/null \
    || echo "check_disk: could not reach IncidentRelay at $URL" >&2
done
