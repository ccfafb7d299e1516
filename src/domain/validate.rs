//! Field-level validation that names the field. Every layer reports bad input as a list of
//! [`FieldError`]s; the HTTP layer turns them into a 400 `validation_error`.

use schemars::JsonSchema;
use serde::Serialize;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, JsonSchema)]
pub struct FieldError {
    /// Dotted path of the offending field, e.g. `rules[1].delay_seconds`.
    pub field: String,
    pub message: String,
}

impl FieldError {
    pub fn new(field: impl Into<String>, message: impl Into<String>) -> FieldError {
        FieldError { field: field.into(), message: message.into() }
    }
}

/// Collects problems; `finish` turns them into a result.
#[derive(Debug, Default)]
pub struct Problems(Vec<FieldError>);

impl Problems {
    pub fn new() -> Problems {
        Problems(Vec::new())
    }
    pub fn add(&mut self, field: impl Into<String>, message: impl Into<String>) {
        self.0.push(FieldError::new(field, message));
    }
    pub fn check(&mut self, ok: bool, field: &str, message: &str) {
        if !ok {
            self.add(field, message);
        }
    }
    pub fn extend(&mut self, errors: Vec<FieldError>) {
        self.0.extend(errors);
    }
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
    pub fn finish(self) -> Result<(), Vec<FieldError>> {
        if self.0.is_empty() { Ok(()) } else { Err(self.0) }
    }

    /// A required value that was not given.
    pub fn required<T>(&mut self, value: Option<T>, field: &str) -> Option<T> {
        if value.is_none() {
            self.add(field, "is required");
        }
        value
    }

    /// A required instant: RFC 3339, or a naive date-time read in `tz`.
    pub fn instant(&mut self, field: &str, value: Option<String>, tz: &jiff::tz::TimeZone) -> Option<super::time::Ts> {
        match value.map(|s| super::time::Ts::parse_in(&s, tz)) {
            Some(Ok(t)) => Some(t),
            Some(Err(e)) => {
                self.add(field, e);
                None
            }
            None => {
                self.add(field, "is required");
                None
            }
        }
    }

    /// Lower-case letters, digits and dashes, 1–64 characters, starting with a letter or digit.
    pub fn slug(&mut self, field: &str, value: &str) {
        let ok = !value.is_empty()
            && value.len() <= 64
            && value.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_')
            && value.as_bytes()[0].is_ascii_alphanumeric();
        self.check(ok, field, "must be 1-64 lower-case letters, digits, '-' or '_', starting with a letter or digit");
    }

    /// Non-blank text of at most `max` characters.
    pub fn name(&mut self, field: &str, value: &str, max: usize) {
        if value.trim().is_empty() {
            self.add(field, "must not be empty");
        } else if value.chars().count() > max {
            self.add(field, format!("must be at most {max} characters"));
        }
    }

    pub fn max_len(&mut self, field: &str, value: &str, max: usize) {
        if value.chars().count() > max {
            self.add(field, format!("must be at most {max} characters"));
        }
    }

    pub fn range(&mut self, field: &str, value: i64, min: i64, max: i64) {
        if value < min || value > max {
            self.add(field, format!("must be between {min} and {max}"));
        }
    }

    /// An absolute http(s) URL.
    pub fn url(&mut self, field: &str, value: &str) {
        if !is_http_url(value) {
            self.add(field, "must be an absolute http:// or https:// URL");
        }
    }
}

pub fn is_http_url(value: &str) -> bool {
    let rest = value.strip_prefix("https://").or_else(|| value.strip_prefix("http://"));
    match rest {
        Some(r) => {
            let host = r.split(['/', '?', '#']).next().unwrap_or("");
            !host.is_empty() && !value.chars().any(char::is_whitespace)
        }
        None => false,
    }
}

/// Minimal password policy: long enough to resist guessing; everything else is the user's call.
pub fn password(p: &mut Problems, field: &str, value: &str) {
    if value.chars().count() < 10 {
        p.add(field, "must be at least 10 characters");
    } else if value.len() > 1024 {
        p.add(field, "must be at most 1024 bytes");
    }
}

/// For `Option<Option<T>>` fields of partial updates: absent → `None` (leave unchanged),
/// `null` → `Some(None)` (clear), a value → `Some(Some(v))`. Use with `#[serde(default)]`.
pub fn nullable<'de, D, T>(d: D) -> Result<Option<Option<T>>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: serde::Deserialize<'de>,
{
    <Option<T> as serde::Deserialize>::deserialize(d).map(Some)
}

/// Trims an optional text value; blank becomes `None`.
pub fn clean(v: Option<String>) -> Option<String> {
    v.map(|s| s.trim().to_string()).filter(|s| !s.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slugs() {
        let mut p = Problems::new();
        p.slug("a", "team-infra_2");
        assert!(p.is_empty());
        p.slug("b", "Team");
        p.slug("c", "-x");
        p.slug("d", "");
        let errs = p.finish().unwrap_err();
        assert_eq!(errs.iter().map(|e| e.field.as_str()).collect::<Vec<_>>(), ["b", "c", "d"]);
    }

    #[test]
    fn urls() {
        assert!(is_http_url("https://hooks.slack.com/services/T/B/X"));
        assert!(is_http_url("http://127.0.0.1:8080"));
        assert!(!is_http_url("ftp://x"));
        assert!(!is_http_url("https://"));
        assert!(!is_http_url("https://a b"));
    }
}
