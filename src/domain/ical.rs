//! iCalendar (RFC 5545) rendering of on-call shifts for subscription feeds: CRLF line ends,
//! lines folded at 75 octets (never inside a UTF-8 character), TEXT values escaped, times in
//! UTC (`…Z`), and a UID per shift that stays the same across fetches so calendar clients
//! update events instead of duplicating them.

use super::time::Ts;

/// One event of a feed.
#[derive(Debug, Clone)]
pub struct Event {
    /// Stable identity of the shift (without the `@host` part).
    pub uid: String,
    pub start: Ts,
    pub end: Ts,
    pub summary: String,
    pub description: String,
    pub url: Option<String>,
}

/// The whole calendar. `host` qualifies UIDs; `now` is the DTSTAMP.
pub fn render(name: &str, host: &str, now: Ts, events: &[Event]) -> String {
    let mut out = String::with_capacity(256 + events.len() * 300);
    let stamp = utc(now);
    line(&mut out, "BEGIN:VCALENDAR");
    line(&mut out, "VERSION:2.0");
    line(&mut out, "PRODID:-//IncidentRelay//On-call schedule//EN");
    line(&mut out, "CALSCALE:GREGORIAN");
    line(&mut out, "METHOD:PUBLISH");
    line(&mut out, &format!("X-WR-CALNAME:{}", escape(name)));
    line(&mut out, "REFRESH-INTERVAL;VALUE=DURATION:PT1H");
    line(&mut out, "X-PUBLISHED-TTL:PT1H");
    for e in events {
        line(&mut out, "BEGIN:VEVENT");
        line(&mut out, &format!("UID:{}@{}", e.uid, host));
        line(&mut out, &format!("DTSTAMP:{stamp}"));
        line(&mut out, &format!("DTSTART:{}", utc(e.start)));
        line(&mut out, &format!("DTEND:{}", utc(e.end)));
        line(&mut out, &format!("SUMMARY:{}", escape(&e.summary)));
        if !e.description.is_empty() {
            line(&mut out, &format!("DESCRIPTION:{}", escape(&e.description)));
        }
        if let Some(u) = &e.url {
            line(&mut out, &format!("URL:{u}"));
        }
        line(&mut out, "TRANSP:TRANSPARENT");
        line(&mut out, "END:VEVENT");
    }
    line(&mut out, "END:VCALENDAR");
    out
}

/// `20261123T090000Z`
fn utc(t: Ts) -> String {
    t.timestamp().strftime("%Y%m%dT%H%M%SZ").to_string()
}

/// TEXT escaping (RFC 5545 §3.3.11).
pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for ch in s.chars() {
        match ch {
            '\\' => out.push_str("\\\\"),
            ';' => out.push_str("\\;"),
            ',' => out.push_str("\\,"),
            '\n' => out.push_str("\\n"),
            '\r' => {}
            c if c.is_control() => {}
            c => out.push(c),
        }
    }
    out
}

/// Appends a content line folded at 75 octets (continuations start with a space).
fn line(out: &mut String, content: &str) {
    let mut width = 0;
    for ch in content.chars() {
        let n = ch.len_utf8();
        if width + n > 75 {
            out.push_str("\r\n ");
            width = 1;
        }
        out.push(ch);
        width += n;
    }
    out.push_str("\r\n");
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ev(summary: &str) -> Event {
        Event {
            uid: "rotation-1-slot-7".into(),
            start: Ts::parse("2026-11-23T08:00:00Z").unwrap(),
            end: Ts::parse("2026-11-24T08:00:00Z").unwrap(),
            summary: summary.into(),
            description: "line one\nline two; with, punctuation \\ backslash".into(),
            url: Some("https://oncall.example/calendar".into()),
        }
    }

    #[test]
    fn a_valid_calendar_with_utc_times_and_escaped_text() {
        let now = Ts::parse("2026-11-22T10:00:00Z").unwrap();
        let cal = render("On call, Infra", "oncall.example", now, &[ev("Eddie on call (Primary)")]);
        assert!(cal.ends_with("END:VCALENDAR\r\n"));
        assert!(!cal.replace("\r\n", "").contains('\n'), "every line ends with CRLF");
        assert!(cal.contains("\r\nX-WR-CALNAME:On call\\, Infra\r\n"));
        assert!(cal.contains("\r\nUID:rotation-1-slot-7@oncall.example\r\n"));
        assert!(cal.contains("\r\nDTSTAMP:20261122T100000Z\r\n"));
        assert!(cal.contains("\r\nDTSTART:20261123T080000Z\r\nDTEND:20261124T080000Z\r\n"));
        let unfolded = cal.replace("\r\n ", "");
        assert!(unfolded.contains("DESCRIPTION:line one\\nline two\\; with\\, punctuation \\\\ backslash\r\n"));
        let count = |prefix: &str| cal.split("\r\n").filter(|l| l.starts_with(prefix)).count();
        assert_eq!((count("BEGIN:"), count("END:")), (2, 2), "balanced");
    }

    #[test]
    fn long_lines_fold_at_75_octets_without_splitting_characters() {
        let summary = "Überwachung ".repeat(20);
        let cal = render("x", "h", Ts::from_secs(0), &[ev(&summary)]);
        for l in cal.split("\r\n") {
            assert!(l.len() <= 75, "{} octets: {l}", l.len());
        }
        let unfolded = cal.replace("\r\n ", "");
        assert!(unfolded.contains(&format!("SUMMARY:{summary}\r\n")));
    }
}
