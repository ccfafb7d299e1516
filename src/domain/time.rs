//! Instants. Stored as Unix milliseconds, shown as RFC 3339 UTC with second precision
//! (`2026-11-22T09:00:00Z`), parsed from RFC 3339 with an offset or, for naive date-times,
//! in a zone chosen by the caller (UTC unless the object says otherwise).

use std::fmt;

use jiff::Timestamp;
use jiff::civil::DateTime;
use jiff::tz::TimeZone;
use schemars::{JsonSchema, Schema, SchemaGenerator, json_schema};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// An instant in Unix milliseconds.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Debug, Default)]
pub struct Ts(i64);

/// Jiff's range (years -9999..=9999) is narrower than i64 milliseconds; clamp to it.
const MIN_MS: i64 = -377_705_116_800_000;
const MAX_MS: i64 = 253_402_207_199_999;

impl Ts {
    pub const fn from_ms(ms: i64) -> Ts {
        Ts(ms)
    }
    pub const fn from_secs(secs: i64) -> Ts {
        Ts(secs.saturating_mul(1000))
    }
    pub const fn ms(self) -> i64 {
        self.0
    }
    pub const fn secs(self) -> i64 {
        self.0.div_euclid(1000)
    }
    pub const fn plus_secs(self, secs: i64) -> Ts {
        Ts(self.0.saturating_add(secs.saturating_mul(1000)))
    }
    pub const fn plus_ms(self, ms: i64) -> Ts {
        Ts(self.0.saturating_add(ms))
    }
    /// Whole seconds from `earlier` to `self` (negative when `self` is earlier).
    pub const fn secs_since(self, earlier: Ts) -> i64 {
        (self.0 - earlier.0).div_euclid(1000)
    }
    pub fn from_timestamp(t: Timestamp) -> Ts {
        Ts(t.as_millisecond())
    }
    pub fn timestamp(self) -> Timestamp {
        Timestamp::from_millisecond(self.0.clamp(MIN_MS, MAX_MS)).unwrap_or(Timestamp::UNIX_EPOCH)
    }
    /// `2026-11-22T09:00:00Z`
    pub fn rfc3339(self) -> String {
        self.timestamp().strftime("%Y-%m-%dT%H:%M:%SZ").to_string()
    }
    /// Parses RFC 3339 with an offset; a naive date-time (or a bare date, meaning midnight)
    /// is interpreted in `zone`.
    pub fn parse_in(s: &str, zone: &TimeZone) -> Result<Ts, String> {
        let s = s.trim();
        if let Ok(t) = s.parse::<Timestamp>() {
            return Ok(Ts::from_timestamp(t));
        }
        let naive = s
            .parse::<DateTime>()
            .or_else(|_| s.parse::<jiff::civil::Date>().map(|d| d.to_datetime(jiff::civil::Time::midnight())))
            .map_err(|_| format!("`{s}` is not an RFC 3339 date-time (e.g. 2026-11-22T09:00:00Z)"))?;
        naive
            .to_zoned(zone.clone())
            .map(|z| Ts::from_timestamp(z.timestamp()))
            .map_err(|e| format!("`{s}` cannot be placed in the time zone: {e}"))
    }
    /// Parses RFC 3339; a naive date-time means UTC.
    pub fn parse(s: &str) -> Result<Ts, String> {
        Ts::parse_in(s, &TimeZone::UTC)
    }
}

impl fmt::Display for Ts {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.rfc3339())
    }
}

impl Serialize for Ts {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.rfc3339())
    }
}

impl<'de> Deserialize<'de> for Ts {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Ts, D::Error> {
        let s = String::deserialize(d)?;
        Ts::parse(&s).map_err(serde::de::Error::custom)
    }
}

impl JsonSchema for Ts {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "DateTime".into()
    }
    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({"type": "string", "format": "date-time", "examples": ["2026-11-22T09:00:00Z"]})
    }
    fn inline_schema() -> bool {
        true
    }
}

/// Parses an IANA zone name (`Europe/Berlin`, `UTC`) from the bundled database.
pub fn zone(name: &str) -> Result<TimeZone, String> {
    TimeZone::get(name).map_err(|_| format!("`{name}` is not an IANA time zone (e.g. Europe/Berlin)"))
}

/// "3 min ago", "in 2 h".
pub fn relative(t: Ts, now: Ts) -> String {
    let d = now.secs_since(t);
    let a = d.abs();
    let text = if a < 45 {
        return if d >= 0 { "just now".into() } else { "in a moment".into() };
    } else if a < 3600 {
        format!("{} min", (a + 30) / 60)
    } else if a < 86_400 {
        format!("{} h", (a + 1800) / 3600)
    } else {
        format!("{} d", (a + 43_200) / 86_400)
    };
    if d >= 0 { format!("{text} ago") } else { format!("in {text}") }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_with_second_precision() {
        assert_eq!(Ts::from_ms(1_795_338_000_123).rfc3339(), "2026-11-22T09:00:00Z");
    }

    #[test]
    fn parses_offsets_and_naive_in_zone() {
        let berlin = zone("Europe/Berlin").unwrap();
        let a = Ts::parse("2026-11-22T10:00:00+01:00").unwrap();
        let b = Ts::parse_in("2026-11-22T10:00:00", &berlin).unwrap();
        let c = Ts::parse("2026-11-22T09:00:00Z").unwrap();
        assert_eq!(a, c);
        assert_eq!(b, c);
        assert_eq!(Ts::parse("2026-11-22").unwrap().rfc3339(), "2026-11-22T00:00:00Z");
        assert!(Ts::parse("yesterday").is_err());
        assert!(zone("Mars/Olympus").is_err());
    }

    #[test]
    fn arithmetic_floors_negative_millis() {
        assert_eq!(Ts::from_ms(-1).secs(), -1);
        assert_eq!(Ts::from_secs(10).plus_secs(5).secs_since(Ts::from_secs(10)), 5);
    }
}
