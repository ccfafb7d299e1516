//! Forms: the posted fields, their conversion into the API's JSON bodies, and the inputs with
//! their labels, help and error messages.

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;

use actix_web::dev::Payload;
use actix_web::{FromRequest, HttpRequest, web};
use maud::{Markup, html};
use serde_json::{Map, Value};

use super::UiError;
use crate::http::error::ApiError;

/// The fields of a posted form, in order (a name may repeat).
#[derive(Debug, Default, Clone)]
pub struct Form(pub Vec<(String, String)>);

impl FromRequest for Form {
    type Error = UiError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, UiError>>>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let bytes = web::Bytes::from_request(req, payload);
        Box::pin(async move {
            let bytes = bytes.await.map_err(|e| UiError::Api(ApiError::field("body", &e.to_string())))?;
            let pairs: Vec<(String, String)> = serde_html_form::from_bytes(&bytes)
                .map_err(|e| UiError::Api(ApiError::field("body", &format!("not a form: {e}"))))?;
            Ok(Form(pairs))
        })
    }
}

/// How a form field becomes JSON.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Text; left out when empty.
    Text,
    /// Text; `null` when empty (clears an optional value).
    TextOrNull,
    /// A whole number; left out when empty.
    Int,
    /// A whole number; `null` when empty.
    IntOrNull,
    /// A checkbox rendered by [`checkbox`]: true when ticked, false otherwise.
    Check,
    /// Several values (repeated fields, or one per line / comma-separated).
    List,
    /// Several whole numbers (repeated fields, e.g. checkboxes).
    IntList,
    /// JSON text; left out when empty.
    Json,
}

/// Field errors by field name (the API's `details`).
pub type Errors = HashMap<String, String>;

impl Form {
    /// The first value of `name`.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
    }

    /// The trimmed value of `name`, `None` when absent or empty.
    pub fn text(&self, name: &str) -> Option<String> {
        self.get(name).map(str::trim).filter(|v| !v.is_empty()).map(str::to_string)
    }

    pub fn all(&self, name: &str) -> Vec<&str> {
        self.0.iter().filter(|(k, _)| k == name).map(|(_, v)| v.as_str()).collect()
    }

    /// The JSON body of the API call: the fields in `spec` converted by kind. Conversion
    /// problems are field errors, like the API's.
    pub fn json(&self, spec: &[(&str, Kind)]) -> Result<Value, Errors> {
        let mut out = Map::new();
        let mut errors = Errors::new();
        for (name, kind) in spec {
            let raw = self.get(name).map(str::trim);
            let value = match kind {
                Kind::Text => raw.filter(|v| !v.is_empty()).map(|v| Value::String(v.to_string())),
                Kind::TextOrNull => raw.map(|v| if v.is_empty() { Value::Null } else { Value::String(v.to_string()) }),
                Kind::Int | Kind::IntOrNull => match raw.filter(|v| !v.is_empty()) {
                    Some(v) => match v.parse::<i64>() {
                        Ok(n) => Some(Value::from(n)),
                        Err(_) => {
                            errors.insert(name.to_string(), "must be a whole number".into());
                            None
                        }
                    },
                    None if *kind == Kind::IntOrNull && raw.is_some() => Some(Value::Null),
                    None => None,
                },
                // Only checkboxes the form showed (they announce themselves in `_checks`): an
                // unticked box sends nothing, which must not reset fields the form left out.
                Kind::Check if self.all("_checks").contains(name) => {
                    Some(Value::Bool(raw.is_some_and(|v| matches!(v, "on" | "true" | "1" | "yes"))))
                }
                Kind::Check => None,
                Kind::List => {
                    let items: Vec<Value> = self
                        .all(name)
                        .iter()
                        .flat_map(|v| v.split(['\n', ',']))
                        .map(str::trim)
                        .filter(|v| !v.is_empty())
                        .map(|v| Value::String(v.to_string()))
                        .collect();
                    Some(Value::Array(items))
                }
                Kind::IntList => {
                    let mut items = Vec::new();
                    for v in self.all(name).iter().map(|v| v.trim()).filter(|v| !v.is_empty()) {
                        match v.parse::<i64>() {
                            Ok(n) => items.push(Value::from(n)),
                            Err(_) => {
                                errors.insert(name.to_string(), "must be whole numbers".into());
                            }
                        }
                    }
                    Some(Value::Array(items))
                }
                Kind::Json => match raw.filter(|v| !v.is_empty()) {
                    Some(v) => match serde_json::from_str::<Value>(v) {
                        Ok(j) => Some(j),
                        Err(e) => {
                            errors.insert(name.to_string(), format!("is not valid JSON: {e}"));
                            None
                        }
                    },
                    None => None,
                },
            };
            if let Some(v) = value {
                out.insert(name.to_string(), v);
            }
        }
        if errors.is_empty() { Ok(Value::Object(out)) } else { Err(errors) }
    }

    /// Fills an empty `slug` from `name` (lowercase letters, digits and dashes).
    pub fn with_slug(mut self) -> Form {
        if self.text("slug").is_none()
            && let Some(name) = self.text("name")
        {
            let mut slug = String::new();
            for ch in name.to_lowercase().chars() {
                if ch.is_ascii_alphanumeric() {
                    slug.push(ch);
                } else if !slug.ends_with('-') && !slug.is_empty() {
                    slug.push('-');
                }
            }
            let slug = slug.trim_end_matches('-').chars().take(60).collect::<String>();
            self.0.retain(|(k, _)| k != "slug");
            self.0.push(("slug".into(), slug));
        }
        self
    }

    /// The submitted values, to show the form again.
    pub fn values(&self) -> Values {
        let mut v = Values::default();
        for (k, val) in &self.0 {
            v.0.entry(k.clone()).or_default().push(val.clone());
        }
        v
    }
}

/// Deserialises an API body built by [`Form::json`]; a type mismatch is a field error.
pub fn body<T: serde::de::DeserializeOwned>(v: Value) -> Result<T, Errors> {
    serde_path_to_error::deserialize::<_, T>(v).map_err(|e| {
        let field = e.path().to_string();
        let mut errs = Errors::new();
        errs.insert(if field == "." { "form".into() } else { field }, e.inner().to_string());
        errs
    })
}

/// The field errors of an API error (validation or conflict), or `None` for other errors.
pub fn field_errors(e: &ApiError) -> Option<Errors> {
    match e {
        ApiError::Validation { details, .. } | ApiError::Conflict { details, .. } if !details.is_empty() => {
            Some(details.iter().map(|d| (d.field.clone(), d.message.clone())).collect())
        }
        ApiError::Conflict { message, .. } => Some(Errors::from([("form".to_string(), message.clone())])),
        _ => None,
    }
}

/// Values shown in a form: from the object being edited, or from what was posted.
#[derive(Debug, Default, Clone)]
pub struct Values(pub HashMap<String, Vec<String>>);

impl Values {
    /// The top-level fields of an API object as form values (lists stay lists, objects become
    /// pretty JSON).
    pub fn of(obj: &Value) -> Values {
        let mut v = Values::default();
        if let Value::Object(m) = obj {
            for (k, val) in m {
                let list = match val {
                    Value::Null => vec![],
                    Value::String(s) => vec![s.clone()],
                    Value::Array(items) => items.iter().map(scalar).collect(),
                    Value::Object(_) => vec![serde_json::to_string_pretty(val).unwrap_or_default()],
                    other => vec![other.to_string()],
                };
                v.0.insert(k.clone(), list);
            }
        }
        v
    }

    pub fn set(mut self, k: &str, val: &str) -> Values {
        self.0.insert(k.to_string(), vec![val.to_string()]);
        self
    }

    pub fn get(&self, k: &str) -> &str {
        self.0.get(k).and_then(|v| v.first()).map(String::as_str).unwrap_or("")
    }

    pub fn has(&self, k: &str, val: &str) -> bool {
        self.0.get(k).is_some_and(|v| v.iter().any(|x| x == val))
    }

    pub fn checked(&self, k: &str) -> bool {
        matches!(self.get(k), "true" | "on" | "1")
    }

    /// A list field, one value per line.
    pub fn lines(&self, k: &str) -> String {
        self.0.get(k).map(|v| v.join("\n")).unwrap_or_default()
    }
}

fn scalar(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

pub fn urlencode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' | b'/' => out.push(b as char),
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

// --- inputs ------------------------------------------------------------------------------------

/// A field name as a label: `webhook_url` → "Webhook URL", `config.chat_id` → "Chat ID".
pub fn human(name: &str) -> String {
    let last = name.rsplit('.').next().unwrap_or(name);
    let words: Vec<String> = last
        .split('_')
        .filter(|w| !w.is_empty())
        .enumerate()
        .map(|(i, w)| match w {
            "url" | "api" | "id" | "ids" | "smtp" | "tls" | "http" | "https" | "dtmf" | "sms" | "ip" | "ics" => {
                if w == "ids" { "IDs".to_string() } else { w.to_uppercase() }
            }
            _ if i == 0 => w[..1].to_uppercase() + &w[1..],
            _ => w.to_string(),
        })
        .collect();
    words.join(" ")
}

/// Help text with its `code` spans rendered as code, not as literal backticks.
pub fn rich(text: &str) -> Markup {
    html! {
        @for (i, part) in text.split('`').enumerate() {
            @if i % 2 == 1 { code { (part) } } @else { (part) }
        }
    }
}

/// The summary at the top of a form that was sent back: each problem, linked to its field.
pub fn error_summary(errors: &Errors) -> Markup {
    html! {
        @if !errors.is_empty() {
            div.flash.error.summary id="form-errors" role="alert" tabindex="-1" {
                p { strong { @if errors.len() == 1 { "1 thing to correct:" } @else { (errors.len()) " things to correct:" } } }
                ul { @for (field, message) in errors {
                    li { @if field.as_str() == "form" { (message) } @else { a href={"#f-" (field)} { (human(field)) } ": " (message) } }
                } }
            }
        }
    }
}

/// Every IANA time zone name the bundled database knows, for time zone selects.
pub fn time_zones() -> &'static [(String, String)] {
    static ZONES: std::sync::LazyLock<Vec<(String, String)>> = std::sync::LazyLock::new(|| {
        let mut names: Vec<String> = jiff::tz::db().available().map(|n| n.as_str().to_string()).collect();
        names.sort();
        names.into_iter().map(|n| (n.clone(), n)).collect()
    });
    &ZONES
}

/// The hidden CSRF field every form carries.
pub fn csrf(token: &str) -> Markup {
    html! { input type="hidden" name="csrf" value=(token); }
}

fn error(errors: &Errors, name: &str) -> Markup {
    html! {
        @if let Some(e) = errors.get(name) { span.field-error id={"err-" (name)} role="alert" { (e) } }
    }
}

fn described(errors: &Errors, name: &str) -> Option<String> {
    errors.contains_key(name).then(|| format!("err-{name}"))
}

/// A labelled text input (`kind`: text, password, number, email, datetime-local…).
pub fn input(label: &str, name: &str, kind: &str, v: &Values, errors: &Errors, help: &str) -> Markup {
    html! {
        div.field.invalid[errors.contains_key(name)] {
            label for={"f-" (name)} { (label) }
            input id={"f-" (name)} name=(name) type=(kind) value=(v.get(name)) aria-invalid=[errors.contains_key(name).then_some("true")] aria-describedby=[described(errors, name)];
            (error(errors, name))
            @if !help.is_empty() { small.help { (rich(help)) } }
        }
    }
}

/// A required text input.
pub fn required(label: &str, name: &str, v: &Values, errors: &Errors, help: &str) -> Markup {
    html! {
        div.field.invalid[errors.contains_key(name)] {
            label for={"f-" (name)} { (label) " " abbr title="required" { "*" } }
            input id={"f-" (name)} name=(name) type="text" required value=(v.get(name)) aria-invalid=[errors.contains_key(name).then_some("true")] aria-describedby=[described(errors, name)];
            (error(errors, name))
            @if !help.is_empty() { small.help { (rich(help)) } }
        }
    }
}

pub fn textarea(label: &str, name: &str, value: &str, rows: u32, errors: &Errors, help: &str) -> Markup {
    html! {
        div.field.invalid[errors.contains_key(name)] {
            label for={"f-" (name)} { (label) }
            textarea id={"f-" (name)} name=(name) rows=(rows) spellcheck="false" aria-invalid=[errors.contains_key(name).then_some("true")] aria-describedby=[described(errors, name)] { (value) }
            (error(errors, name))
            @if !help.is_empty() { small.help { (rich(help)) } }
        }
    }
}

pub fn checkbox(label: &str, name: &str, checked: bool, help: &str) -> Markup {
    html! {
        div.field.check {
            input type="hidden" name="_checks" value=(name);
            label { input type="checkbox" name=(name) value="true" checked[checked]; " " (label) }
            @if !help.is_empty() { small.help { (rich(help)) } }
        }
    }
}

/// A select from `(value, label)` options; `blank` adds an empty first option.
pub fn select(
    label: &str,
    name: &str,
    options: &[(String, String)],
    v: &Values,
    errors: &Errors,
    blank: Option<&str>,
    help: &str,
) -> Markup {
    html! {
        div.field.invalid[errors.contains_key(name)] {
            label for={"f-" (name)} { (label) }
            select id={"f-" (name)} name=(name) aria-invalid=[errors.contains_key(name).then_some("true")] aria-describedby=[described(errors, name)] {
                @if let Some(b) = blank { option value="" { (b) } }
                @for (val, text) in options {
                    option value=(val) selected[v.has(name, val)] { (text) }
                }
            }
            (error(errors, name))
            @if !help.is_empty() { small.help { (rich(help)) } }
        }
    }
}

/// Checkboxes for a multi-valued field.
pub fn checkboxes(
    label: &str,
    name: &str,
    options: &[(String, String)],
    v: &Values,
    errors: &Errors,
    help: &str,
) -> Markup {
    html! {
        fieldset.field.invalid[errors.contains_key(name)] {
            legend { (label) }
            @if options.is_empty() { p.muted { "None yet." } }
            @for (val, text) in options {
                label.inline { input type="checkbox" name=(name) value=(val) checked[v.has(name, val)]; " " (text) }
            }
            (error(errors, name))
            @if !help.is_empty() { small.help { (rich(help)) } }
        }
    }
}

/// Errors not tied to a shown field.
pub fn form_errors(errors: &Errors, shown: &[&str]) -> Markup {
    let other: Vec<(&String, &String)> = errors.iter().filter(|(k, _)| !shown.contains(&k.as_str())).collect();
    html! {
        @if !other.is_empty() {
            div.flash.error role="alert" {
                @for (k, m) in other { p { @if k.as_str() != "form" { strong { (k) } ": " } (m) } }
            }
        }
    }
}

/// A one-button form (delete, acknowledge…), confirmed in the browser when `confirm` is set.
pub fn button(action: &str, csrf_token: &str, label: &str, class: &str, confirm: Option<&str>) -> Markup {
    html! {
        form.inline method="post" action=(action) data-confirm=[confirm] {
            (csrf(csrf_token))
            button type="submit" class=(class) { (label) }
        }
    }
}

/// The edit form of an object (posting to `action`) and its delete button (posting to
/// `<action>/delete`, confirmed in the browser).
pub fn settings(csrf_token: &str, action: &str, fields: Markup, delete_label: &str, confirm: &str) -> Markup {
    html! {
        section {
            h2 { "Settings" }
            form method="post" action=(action) { (csrf(csrf_token)) (fields) button.primary type="submit" { "Save" } }
            (button(&format!("{action}/delete"), csrf_token, delete_label, "danger", Some(confirm)))
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn field_names_read_as_labels() {
        assert_eq!(super::human("config.webhook_url"), "Webhook URL");
        assert_eq!(super::human("chat_id"), "Chat ID");
        assert_eq!(super::human("api_url"), "API URL");
        assert_eq!(super::human("reminder_interval_seconds"), "Reminder interval seconds");
        assert_eq!(super::human("channel_ids"), "Channel IDs");
    }

    #[test]
    fn help_text_renders_code_spans() {
        assert_eq!(super::rich("Set `chat_id` here").into_string(), "Set <code>chat_id</code> here");
    }
}
