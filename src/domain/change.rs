//! Change events: something changed in a team's systems (a deploy, a configuration applied, a
//! secret rotated). They page nobody; responders see them beside the team's alerts
//! (PagerDuty's Change Events API).

use serde_json::Value;

use crate::domain::alert::{AlertImage, AlertLink, MAX_LINK_TEXT, MAX_LINKS, MAX_TITLE, truncate};
use crate::domain::time::Ts;
use crate::domain::validate::is_http_url;

/// A change event as a sender gave it.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct IncomingChange {
    pub summary: String,
    pub source: String,
    /// When it happened, if the sender said (else when it arrived).
    pub happened_at: Option<Ts>,
    /// `custom_details`, kept as given (an object).
    pub details: Value,
    pub links: Vec<AlertLink>,
    pub images: Vec<AlertImage>,
}

/// The longest `custom_details` kept, as JSON text.
pub const MAX_DETAILS: usize = 16 * 1024;

impl IncomingChange {
    /// Keeps http(s) links and images only, at most [`MAX_LINKS`] each, and bounds the texts.
    pub fn clamp(mut self) -> IncomingChange {
        truncate(&mut self.summary, MAX_TITLE);
        truncate(&mut self.source, MAX_LINK_TEXT);
        if !self.details.is_object() || self.details.to_string().len() > MAX_DETAILS {
            self.details = Value::Object(Default::default());
        }
        self.links.retain(|l| is_http_url(&l.href));
        self.links.truncate(MAX_LINKS);
        self.links.iter_mut().for_each(|l| truncate(&mut l.text, MAX_LINK_TEXT));
        self.images.retain(|i| is_http_url(&i.src) && i.href.as_deref().is_none_or(is_http_url));
        self.images.truncate(MAX_LINKS);
        self.images.iter_mut().for_each(|i| truncate(&mut i.alt, MAX_LINK_TEXT));
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_web_links_and_bounded_texts_are_kept() {
        let c = IncomingChange {
            summary: "x".repeat(MAX_TITLE + 10),
            details: Value::String("not an object".into()),
            links: vec![
                AlertLink { href: "https://ci.example/build/2".into(), text: "Build".into() },
                AlertLink { href: "ftp://files".into(), text: String::new() },
            ],
            ..Default::default()
        }
        .clamp();
        assert_eq!(c.summary.chars().count(), MAX_TITLE);
        assert_eq!(c.details, serde_json::json!({}));
        assert_eq!(c.links.len(), 1);
    }
}
