//! The HTML page frame shared by every page: head, stylesheet, optional navigation.

use maud::{DOCTYPE, Markup, PreEscaped, html};

/// A bare page (login, one-click actions): no navigation.
pub fn bare(title: &str, body: Markup) -> Markup {
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                meta name="color-scheme" content="light dark";
                title { (title) " · IncidentRelay" }
                link rel="stylesheet" href="/assets/app.css";
                link rel="icon" href="/assets/icon.svg" type="image/svg+xml";
            }
            body.bare {
                main.narrow { (body) }
            }
        }
    }
}

/// Inline text that must not be escaped twice (already-built HTML).
pub fn raw(s: &str) -> PreEscaped<String> {
    PreEscaped(s.to_string())
}
