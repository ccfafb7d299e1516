"""AWS CloudWatch alarm → SNS → Lambda → IncidentRelay.

Subscribe this Lambda (Python 3.12) to the SNS topic your CloudWatch alarms notify (both ALARM
and OK actions). Environment: INCIDENTRELAY_URL (https://oncall.example.com) and
INCIDENTRELAY_TOKEN (the intake token of a route with source "webhook").
An alarm going to OK resolves the alert; the alarm ARN is the dedup key.
"""
import json
import os
import urllib.request

SEVERITY = {"ALARM": "critical", "INSUFFICIENT_DATA": "warning", "OK": "info"}


def handler(event, context):
    url = os.environ["INCIDENTRELAY_URL"].rstrip("/") + "/api/integrations/webhook"
    token = os.environ["INCIDENTRELAY_TOKEN"]
    alerts = []
    for record in event.get("Records", []):
        msg = json.loads(record["Sns"]["Message"])
        state = msg.get("NewStateValue", "ALARM")
        region = msg.get("Region", "")
        alerts.append({
            "title": f"{msg.get('AlarmName', 'CloudWatch alarm')}: {state}",
            "message": msg.get("NewStateReason", ""),
            "severity": SEVERITY.get(state, "warning"),
            "status": "resolved" if state == "OK" else "firing",
            "fingerprint": msg.get("AlarmArn") or msg.get("AlarmName"),
            "labels": {"source": "cloudwatch", "region": region, "account": msg.get("AWSAccountId", "")},
            "event_link": f"https://console.aws.amazon.com/cloudwatch/home#alarmsV2:alarm/{msg.get('AlarmName', '')}",
        })
    if not alerts:
        return {"sent": 0}
    req = urllib.request.Request(
        url,
        data=json.dumps(alerts).encode(),
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
        method="POST",
    )
    with urllib.request.urlopen(req, timeout=10) as resp:
        return {"sent": len(alerts), "status": resp.status}
