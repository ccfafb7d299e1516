//! The matcher language shared by routes and silences.
//!
//! Two forms are accepted and may be stored as given:
//! - object: `{"labels": {"severity": "critical", "env": {"regex": "prod|stage"},
//!   "team": {"not": "db"}}, "title_regex": "disk", "source": "zabbix"}` where a condition is a
//!   string (equals), a list (any of), `{"regex": r}` (fully anchored, as in Alertmanager),
//!   `{"contains": s}` or `{"not": <condition>}`; besides `labels` the keys `title`, `message`,
//!   `source`, `severity` and `component` take a condition, and `title_regex` is an unanchored
//!   search in the title;
//! - list of Alertmanager matcher strings on labels: `["severity=\"critical\"", "env=~\"prod|stage\"",
//!   "team!=\"db\"", "job!~\"test.*\""]`.
//!
//! All conditions must hold; an empty matcher (`null`, `{}`, `[]`) matches everything. A label
//! that is absent compares as the empty string, as in Alertmanager.

use std::collections::BTreeMap;

use regex::{Regex, RegexBuilder};
use serde_json::Value;

use super::validate::FieldError;

/// What a matcher is evaluated against.
#[derive(Debug, Clone, Copy)]
pub struct Subject<'a> {
    pub labels: &'a BTreeMap<String, String>,
    pub title: &'a str,
    pub message: &'a str,
    pub source: &'a str,
    pub severity: &'a str,
    pub component: &'a str,
}

#[derive(Debug, Clone)]
enum Cond {
    Eq(String),
    AnyOf(Vec<String>),
    Regex(Regex),
    Contains(String),
    Not(Box<Cond>),
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Field {
    Label(String),
    Title,
    Message,
    Source,
    Severity,
    Component,
}

#[derive(Debug, Clone, Default)]
pub struct Matchers {
    conds: Vec<(Field, Cond)>,
    title_search: Option<Regex>,
}

const TOP_KEYS: &[&str] = &["labels", "title_regex", "title", "message", "source", "severity", "component"];

impl Matchers {
    /// Parses either form. `path` names the field in error messages (`matchers`).
    pub fn parse(value: &Value, path: &str) -> Result<Matchers, Vec<FieldError>> {
        let mut errors = Vec::new();
        let mut m = Matchers::default();
        match value {
            Value::Null => {}
            Value::Array(items) => {
                for (i, item) in items.iter().enumerate() {
                    let field = format!("{path}[{i}]");
                    match item.as_str().map(parse_am) {
                        Some(Ok((name, cond))) => m.conds.push((Field::Label(name), cond)),
                        Some(Err(e)) => errors.push(FieldError::new(field, e)),
                        None => {
                            errors.push(FieldError::new(field, "must be a matcher string like severity=\"critical\""))
                        }
                    }
                }
            }
            Value::Object(obj) => {
                for (key, v) in obj {
                    let field = format!("{path}.{key}");
                    match key.as_str() {
                        "labels" => match v {
                            Value::Object(labels) => {
                                for (name, c) in labels {
                                    match parse_cond(c, &format!("{field}.{name}")) {
                                        Ok(cond) => m.conds.push((Field::Label(name.clone()), cond)),
                                        Err(e) => errors.push(e),
                                    }
                                }
                            }
                            Value::Null => {}
                            _ => errors.push(FieldError::new(field, "must be an object of label conditions")),
                        },
                        "title_regex" => match v.as_str().map(|r| compile(r, false)) {
                            Some(Ok(re)) => m.title_search = Some(re),
                            Some(Err(e)) => errors.push(FieldError::new(field, e)),
                            None => errors.push(FieldError::new(field, "must be a regular expression string")),
                        },
                        "title" | "message" | "source" | "severity" | "component" => {
                            let f = match key.as_str() {
                                "title" => Field::Title,
                                "message" => Field::Message,
                                "source" => Field::Source,
                                "severity" => Field::Severity,
                                _ => Field::Component,
                            };
                            match parse_cond(v, &field) {
                                Ok(cond) => m.conds.push((f, cond)),
                                Err(e) => errors.push(e),
                            }
                        }
                        _ => errors.push(FieldError::new(
                            field,
                            format!("unknown matcher key; expected one of {}", TOP_KEYS.join(", ")),
                        )),
                    }
                }
            }
            _ => errors.push(FieldError::new(
                path,
                "must be an object ({\"labels\": {...}}) or a list of Alertmanager matcher strings",
            )),
        }
        if errors.is_empty() { Ok(m) } else { Err(errors) }
    }

    pub fn is_empty(&self) -> bool {
        self.conds.is_empty() && self.title_search.is_none()
    }

    pub fn matches(&self, s: &Subject<'_>) -> bool {
        self.title_search.as_ref().is_none_or(|re| re.is_match(s.title))
            && self.conds.iter().all(|(f, c)| c.eval(value_of(f, s)))
    }

    /// Human-readable reasons the subject does not match (empty when it matches).
    pub fn explain(&self, s: &Subject<'_>) -> Vec<String> {
        let mut out = Vec::new();
        if let Some(re) = &self.title_search
            && !re.is_match(s.title)
        {
            out.push(format!("title does not match /{}/", re.as_str()));
        }
        for (f, c) in &self.conds {
            let v = value_of(f, s);
            if !c.eval(v) {
                out.push(format!("{} = {:?} does not satisfy {}", field_name(f), v, c.describe()));
            }
        }
        out
    }
}

fn value_of<'a>(f: &Field, s: &Subject<'a>) -> &'a str {
    match f {
        Field::Label(name) => s.labels.get(name).map(String::as_str).unwrap_or(""),
        Field::Title => s.title,
        Field::Message => s.message,
        Field::Source => s.source,
        Field::Severity => s.severity,
        Field::Component => s.component,
    }
}

fn field_name(f: &Field) -> String {
    match f {
        Field::Label(n) => format!("label {n}"),
        Field::Title => "title".into(),
        Field::Message => "message".into(),
        Field::Source => "source".into(),
        Field::Severity => "severity".into(),
        Field::Component => "component".into(),
    }
}

impl Cond {
    fn eval(&self, v: &str) -> bool {
        match self {
            Cond::Eq(x) => v == x,
            Cond::AnyOf(xs) => xs.iter().any(|x| x == v),
            Cond::Regex(re) => re.is_match(v),
            Cond::Contains(x) => v.contains(x.as_str()),
            Cond::Not(c) => !c.eval(v),
        }
    }
    fn describe(&self) -> String {
        match self {
            Cond::Eq(x) => format!("= {x:?}"),
            Cond::AnyOf(xs) => format!("one of {xs:?}"),
            Cond::Regex(re) => format!("=~ /{}/", re.as_str().trim_start_matches("^(?:").trim_end_matches(")$")),
            Cond::Contains(x) => format!("contains {x:?}"),
            Cond::Not(c) => format!("not ({})", c.describe()),
        }
    }
}

fn parse_cond(v: &Value, field: &str) -> Result<Cond, FieldError> {
    match v {
        Value::String(s) => Ok(Cond::Eq(s.clone())),
        Value::Number(n) => Ok(Cond::Eq(n.to_string())),
        Value::Bool(b) => Ok(Cond::Eq(b.to_string())),
        Value::Array(items) => {
            let mut out = Vec::with_capacity(items.len());
            for (i, it) in items.iter().enumerate() {
                match it.as_str() {
                    Some(s) => out.push(s.to_string()),
                    None => {
                        return Err(FieldError::new(format!("{field}[{i}]"), "must be a string"));
                    }
                }
            }
            Ok(Cond::AnyOf(out))
        }
        Value::Object(obj) if obj.len() == 1 => {
            let (op, arg) = obj.iter().next().map(|(k, v)| (k.as_str(), v)).unwrap_or(("", &Value::Null));
            let sub = format!("{field}.{op}");
            match op {
                "regex" => match arg.as_str() {
                    Some(r) => compile(r, true).map(Cond::Regex).map_err(|e| FieldError::new(sub, e)),
                    None => Err(FieldError::new(sub, "must be a regular expression string")),
                },
                "contains" => match arg.as_str() {
                    Some(s) => Ok(Cond::Contains(s.to_string())),
                    None => Err(FieldError::new(sub, "must be a string")),
                },
                "not" => parse_cond(arg, &sub).map(|c| Cond::Not(Box::new(c))),
                _ => Err(FieldError::new(sub, "unknown operator; expected regex, contains or not")),
            }
        }
        _ => Err(FieldError::new(
            field,
            "must be a string, a list of strings, or one of {\"regex\": ..}, {\"contains\": ..}, {\"not\": ..}",
        )),
    }
}

fn compile(pattern: &str, anchored: bool) -> Result<Regex, String> {
    let p = if anchored { format!("^(?:{pattern})$") } else { pattern.to_string() };
    RegexBuilder::new(&p)
        .size_limit(1 << 20)
        .build()
        .map_err(|e| format!("invalid regular expression: {}", e.to_string().lines().last().unwrap_or("")))
}

/// Parses one Alertmanager matcher: `name="value"`, `name!="v"`, `name=~"re"`, `name!~"re"`
/// (quotes optional for simple values).
fn parse_am(s: &str) -> Result<(String, Cond), String> {
    let s = s.trim();
    let name_end = s
        .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
        .ok_or_else(|| format!("`{s}` has no operator; expected name=\"value\""))?;
    let name = &s[..name_end];
    if name.is_empty() || name.as_bytes()[0].is_ascii_digit() {
        return Err(format!("`{s}` must start with a label name"));
    }
    let rest = s[name_end..].trim_start();
    let (op, rest) = ["=~", "!~", "!=", "="]
        .iter()
        .find_map(|op| rest.strip_prefix(op).map(|r| (*op, r.trim())))
        .ok_or_else(|| format!("`{s}`: operator must be one of =, !=, =~, !~"))?;
    let value = unquote(rest).ok_or_else(|| format!("`{s}`: value has an unterminated quote"))?;
    let cond = match op {
        "=" => Cond::Eq(value),
        "!=" => Cond::Not(Box::new(Cond::Eq(value))),
        "=~" => Cond::Regex(compile(&value, true)?),
        _ => Cond::Not(Box::new(Cond::Regex(compile(&value, true)?))),
    };
    Ok((name.to_string(), cond))
}

fn unquote(s: &str) -> Option<String> {
    let Some(inner) = s.strip_prefix('"') else {
        return Some(s.to_string());
    };
    let mut out = String::new();
    let mut chars = inner.chars();
    while let Some(c) = chars.next() {
        match c {
            '"' => return chars.as_str().trim().is_empty().then_some(out),
            '\\' => match chars.next()? {
                'n' => out.push('\n'),
                't' => out.push('\t'),
                other => out.push(other),
            },
            c => out.push(c),
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn subject(labels: &BTreeMap<String, String>) -> Subject<'_> {
        Subject {
            labels,
            title: "Disk full on db-1",
            message: "95%",
            source: "zabbix",
            severity: "critical",
            component: "",
        }
    }

    fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    #[test]
    fn object_form() {
        let m = Matchers::parse(
            &json!({"labels": {"severity": "critical", "env": {"regex": "prod|stage"}, "team": {"not": "db"}, "dc": ["a", "b"]},
                    "title_regex": "(?i)disk", "source": "zabbix"}),
            "matchers",
        )
        .unwrap();
        let l = labels(&[("severity", "critical"), ("env", "prod"), ("team", "web"), ("dc", "b")]);
        assert!(m.matches(&subject(&l)));
        let l2 = labels(&[("severity", "critical"), ("env", "production"), ("team", "web"), ("dc", "b")]);
        assert!(!m.matches(&subject(&l2)), "regex is anchored");
        let why = m.explain(&subject(&l2));
        assert_eq!(why.len(), 1);
        assert!(why[0].contains("label env"), "{why:?}");
        let l3 = labels(&[("severity", "critical"), ("env", "prod"), ("team", "db"), ("dc", "a")]);
        assert!(!m.matches(&subject(&l3)));
    }

    #[test]
    fn alertmanager_form() {
        let m = Matchers::parse(
            &json!(["severity=\"critical\"", "env=~\"prod|stage\"", "team!=\"db\"", "job!~test.*"]),
            "m",
        )
        .unwrap();
        assert!(m.matches(&subject(&labels(&[("severity", "critical"), ("env", "stage"), ("job", "node")]))));
        assert!(!m.matches(&subject(&labels(&[("severity", "critical"), ("env", "stage"), ("job", "test-1")]))));
        assert!(!m.matches(&subject(&labels(&[("severity", "warning"), ("env", "stage")]))));
    }

    #[test]
    fn missing_label_is_empty_string() {
        let m = Matchers::parse(&json!(["team=\"\""]), "m").unwrap();
        assert!(m.matches(&subject(&labels(&[]))));
        let m = Matchers::parse(&json!({"labels": {"team": {"not": "db"}}}), "m").unwrap();
        assert!(m.matches(&subject(&labels(&[]))));
    }

    #[test]
    fn empty_matches_everything() {
        for v in [json!(null), json!({}), json!([])] {
            let m = Matchers::parse(&v, "m").unwrap();
            assert!(m.is_empty());
            assert!(m.matches(&subject(&labels(&[]))));
        }
    }

    #[test]
    fn errors_name_the_field() {
        let e = Matchers::parse(&json!({"labels": {"env": {"regex": "("}}, "bogus": 1}), "matchers").unwrap_err();
        let fields: Vec<_> = e.iter().map(|e| e.field.as_str()).collect();
        assert!(fields.contains(&"matchers.labels.env.regex"), "{fields:?}");
        assert!(fields.contains(&"matchers.bogus"), "{fields:?}");
        let e = Matchers::parse(&json!(["ok=\"1\"", "severity", "x=~\"[\"", 5]), "matchers").unwrap_err();
        let fields: Vec<_> = e.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(fields, ["matchers[1]", "matchers[2]", "matchers[3]"]);
        assert!(Matchers::parse(&json!("x"), "matchers").is_err());
    }

    #[test]
    fn quoted_values_unescape() {
        let m = Matchers::parse(&json!([r#"msg="a \"b\"""#]), "m").unwrap();
        assert!(m.matches(&subject(&labels(&[("msg", "a \"b\"")]))));
        assert!(Matchers::parse(&json!([r#"msg="open"#]), "m").is_err());
    }
}
