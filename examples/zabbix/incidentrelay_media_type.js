// Zabbix webhook media type for IncidentRelay (Administration → Media types → Create → Webhook).
//
// Parameters (name = value):
//   url                 = https://oncall.example.com/api/integrations/zabbix
//   token               = iri_… (the intake token of a route with source "zabbix")
//   event_id            = {EVENT.ID}
//   event_value         = {EVENT.VALUE}
//   event_status        = {EVENT.STATUS}
//   event_name          = {EVENT.NAME}
//   event_severity      = {EVENT.SEVERITY}
//   event_nseverity     = {EVENT.NSEVERITY}
//   event_tags          = {EVENT.TAGSJSON}
//   event_opdata        = {EVENT.OPDATA}
//   event_recovery_id   = {EVENT.RECOVERY.ID}
//   event_update_status = {EVENT.UPDATE.STATUS}
//   host_name           = {HOST.NAME}
//   host_ip             = {HOST.IP}
//   trigger_id          = {TRIGGER.ID}
//   trigger_description = {TRIGGER.DESCRIPTION}
//   subject             = {ALERT.SUBJECT}
//   message             = {ALERT.MESSAGE}
//   trigger_url         = {TRIGGER.URL}
// Then add the media to a user (send to: anything) and use it in a trigger action with
// "Recovery operations" enabled, so recoveries resolve the alert.
//
// A recovery (event_value 0, OK/RESOLVED) resolves the alert opened for the problem's event id.
try {
    var params = JSON.parse(value);
    if (!params.url || !params.token) {
        throw 'the url and token parameters are required';
    }
    var body = {};
    Object.keys(params).forEach(function (key) {
        if (key === 'url' || key === 'token') return;
        body[key] = params[key];
    });
    if (typeof body.event_tags === 'string' && body.event_tags.charAt(0) === '[') {
        try { body.event_tags = JSON.parse(body.event_tags); } catch (e) { /* keep the string form */ }
    }
    var req = new HttpRequest();
    req.addHeader('Content-Type: application/json');
    req.addHeader('Authorization: Bearer ' + params.token);
    var resp = req.post(params.url, JSON.stringify(body));
    var status = req.getStatus();
    if (status < 200 || status >= 300) {
        throw 'IncidentRelay answered HTTP ' + status + ': ' + resp;
    }
    Zabbix.log(4, '[IncidentRelay] delivered event ' + params.event_id + ': ' + resp);
    return 'OK';
} catch (error) {
    Zabbix.log(3, '[IncidentRelay] failed: ' + error);
    throw 'IncidentRelay notification failed: ' + error;
}
