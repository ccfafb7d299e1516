//! The documentation stays true: every `incidentrelay <command>` and flag shown in code in the
//! README and docs exists in the CLI; every config key or environment variable mentioned exists
//! in the configuration; the configuration reference lists every key; the MkDocs navigation
//! names existing pages.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;

fn repo() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn markdown_files() -> Vec<PathBuf> {
    let mut out = vec![repo().join("README.md")];
    let mut stack = vec![repo().join("docs")];
    while let Some(dir) = stack.pop() {
        for e in std::fs::read_dir(&dir).unwrap().flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else if p.extension().is_some_and(|x| x == "md") {
                out.push(p);
            }
        }
    }
    out
}

/// The code in a Markdown text: fenced blocks and inline spans.
fn code_of(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut fenced = false;
    for line in text.lines() {
        if line.trim_start().starts_with("```") {
            fenced = !fenced;
            continue;
        }
        if fenced {
            out.push(line.to_string());
        } else {
            let parts: Vec<&str> = line.split('`').collect();
            out.extend(parts.iter().skip(1).step_by(2).map(|s| s.to_string()));
        }
    }
    out
}

/// `(section, key)` of every configuration key, from the defaults.
fn config_keys() -> BTreeSet<(String, String)> {
    let v = serde_json::to_value(incidentrelay::config::Config::default()).unwrap();
    let mut keys = BTreeSet::new();
    for (section, body) in v.as_object().unwrap() {
        for key in body.as_object().unwrap().keys() {
            keys.insert((section.clone(), key.clone()));
        }
    }
    keys
}

fn help(command: &str) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_incidentrelay")).args([command, "--help"]).output().unwrap();
    assert!(
        out.status.success(),
        "`incidentrelay {command} --help` failed: the docs name a command that does not exist"
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn commands_flags_and_config_keys_in_the_docs_exist() {
    let keys = config_keys();
    let sections: BTreeSet<&str> = keys.iter().map(|(s, _)| s.as_str()).collect();
    let mut commands_seen = BTreeSet::new();
    for file in markdown_files() {
        let text = std::fs::read_to_string(&file).unwrap();
        let name = file.strip_prefix(repo()).unwrap().display().to_string();
        for code in code_of(&text) {
            // Commands and their flags: `incidentrelay <command> [--flag …]`.
            let words: Vec<&str> = code.split_whitespace().collect();
            for (i, w) in words.iter().enumerate() {
                if (*w == "incidentrelay" || w.ends_with("/incidentrelay"))
                    && let Some(cmd) = words.get(i + 1)
                    && cmd.starts_with(|c: char| c.is_ascii_lowercase())
                    && cmd.chars().all(|c| c.is_ascii_lowercase() || c == '-')
                    && !cmd.is_empty()
                {
                    let h = help(cmd);
                    commands_seen.insert(cmd.to_string());
                    for flag in words[i + 2..].iter().take_while(|w| !["&&", "|", ";", "#"].contains(w)) {
                        let flag = flag.trim_matches(|c| c == '[' || c == ']' || c == '\\');
                        if let Some(f) = flag.strip_prefix("--").map(|f| f.split('=').next().unwrap_or(f)) {
                            assert!(h.contains(&format!("--{f}")), "{name}: `incidentrelay {cmd}` has no --{f}");
                        }
                    }
                }
            }
            // Environment variables.
            for part in code.split(|c: char| !(c.is_ascii_alphanumeric() || c == '_')) {
                if let Some(rest) = part.strip_prefix("INCIDENTRELAY_")
                    && let Some((s, k)) = rest.split_once("__")
                {
                    let key = (s.to_lowercase(), k.to_lowercase());
                    assert!(keys.contains(&key), "{name}: {part} is not a configuration variable");
                }
            }
            // Dotted keys like `server.public_base_url`.
            for part in code.split(|c: char| !(c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-' | '/'))) {
                if let Some((s, k)) = part.split_once('.')
                    && sections.contains(s)
                    && !k.is_empty()
                    && k.chars().all(|c| c.is_ascii_lowercase() || c == '_')
                {
                    assert!(
                        keys.contains(&(s.to_string(), k.to_string())),
                        "{name}: `{part}` is not a configuration key"
                    );
                }
            }
        }
    }
    for cmd in [
        "serve",
        "scheduler",
        "migrate",
        "create-admin",
        "check-schema",
        "backup",
        "copy-data",
        "demo-data",
        "send-test-email",
        "version",
    ] {
        assert!(commands_seen.contains(cmd), "the docs never show `incidentrelay {cmd}`");
    }
}

#[test]
fn the_configuration_reference_lists_every_key() {
    let text = std::fs::read_to_string(repo().join("docs/src/configuration.md")).unwrap();
    for (s, k) in config_keys() {
        assert!(text.contains(&format!("`{s}.{k}`")), "docs/src/configuration.md does not document {s}.{k}");
        let env = format!("INCIDENTRELAY_{}__{}", s.to_uppercase(), k.to_uppercase());
        assert!(text.contains(&env), "docs/src/configuration.md does not name {env}");
    }
}

#[test]
fn the_mkdocs_navigation_names_existing_pages() {
    let yml = std::fs::read_to_string(repo().join("docs/mkdocs.yml")).unwrap();
    let mut pages = 0;
    for line in yml.lines() {
        if let Some(page) = line.trim().strip_prefix("- ").and_then(|l| l.split_once(": ")).map(|(_, p)| p.trim())
            && page.ends_with(".md")
        {
            assert!(repo().join("docs/src").join(page).is_file(), "mkdocs.yml names {page}, which does not exist");
            pages += 1;
        }
    }
    assert!(pages >= 10);
}

/// Every picture the docs show exists (they come from the browser test's `docs-*.png`
/// screenshots in target/tmp/ui-screenshots/).
#[test]
fn every_image_in_the_docs_exists() {
    let mut images = 0;
    for file in markdown_files() {
        let text = std::fs::read_to_string(&file).unwrap();
        for (_, rest) in text.match_indices("](").map(|(i, _)| text.split_at(i + 2)) {
            let target = rest.split(')').next().unwrap_or("");
            if target.ends_with(".png") {
                let path = file.parent().unwrap().join(target);
                assert!(path.is_file(), "{} shows {target}, which does not exist", file.display());
                images += 1;
            }
        }
    }
    assert!(images >= 2, "the docs show the alert page and the profile");
}

#[test]
fn the_integrations_page_names_every_source_and_its_endpoint() {
    use incidentrelay::domain::alert::Source;
    let text = std::fs::read_to_string(repo().join("docs/src/integrations/index.md")).unwrap();
    for source in Source::ALL {
        assert!(text.contains(&format!("`{}`", source.as_str())), "integrations/index.md lacks the source {source:?}");
        assert!(text.contains(source.intake_path()), "integrations/index.md lacks {}", source.intake_path());
    }
}

#[test]
fn the_channels_page_documents_every_config_field() {
    use incidentrelay::notify::ChannelKind;
    let text = std::fs::read_to_string(repo().join("docs/src/channels.md")).unwrap();
    let sections: Vec<&str> = text.split("\n## ").collect();
    for kind in ChannelKind::ALL {
        let heading = kind.label();
        let section =
            sections.iter().find(|s| s.starts_with(heading)).unwrap_or_else(|| panic!("no section {heading}"));
        let schema = kind.config_schema();
        for field in schema["properties"].as_object().unwrap().keys() {
            assert!(
                section.contains(&format!("`{field}`")),
                "docs/src/channels.md, {heading}: `{field}` is not documented"
            );
        }
    }
}
