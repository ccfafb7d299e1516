//! Telegram updates on the leader: channels in polling mode are polled (`getUpdates`) every few
//! seconds; channels in webhook mode get their webhook registered once per configuration.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use serde_json::Value;
use slog::warn;

use super::Engine;
use super::actions::telegram_update;
use crate::notify::ChannelKind;
use crate::notify::telegram::{self, Updates};
use crate::store::{self, channels};

/// How often polling channels are asked for button presses.
pub const POLL_EVERY: Duration = Duration::from_secs(2);

/// Which channel configurations have their webhook set up (channel → config).
#[derive(Default)]
pub struct Registered(Mutex<HashMap<i64, String>>);

fn offset_key(channel_id: i64) -> String {
    format!("telegram_offset_{channel_id}")
}

/// One round over every enabled Telegram channel. Returns the number of updates handled.
pub async fn poll_once(engine: &Engine) -> usize {
    // One process polls (several on PostgreSQL would take each other's updates): whoever
    // holds the lease, renewed every round; another takes over when it lapses.
    let (node, now) = (engine.node.clone(), engine.clock.now());
    let secs = POLL_EVERY.as_secs() as i64 * 5;
    let polling = engine.db.write(move |c| store::try_lease(c, "telegram-poll", &node, now, secs)).await;
    if !matches!(polling, Ok(true)) {
        return 0;
    }
    let list = match engine.db.read(|c| channels::list(c, None, None)).await {
        Ok(l) => l,
        Err(_) => return 0,
    };
    let mut handled = 0;
    for ch in list.into_iter().filter(|c| c.channel_type == ChannelKind::Telegram && c.enabled) {
        let id = ch.id;
        let Ok(raw) = engine.db.read(move |c| channels::get(c, id)).await else { continue };
        let Ok(cfg) = serde_json::from_value::<telegram::Config>(raw.config.clone()) else { continue };
        let fingerprint = raw.config.to_string();
        let known = engine.telegram.0.lock().ok().and_then(|m| m.get(&id).cloned());
        if known.as_deref() != Some(fingerprint.as_str()) {
            let (senders, c2) = (engine.senders.clone(), cfg.clone());
            let done = tokio::task::spawn_blocking(move || telegram::configure_updates(&c2, &senders.env(id))).await;
            match done {
                Ok(Ok(())) => {
                    if let Ok(mut m) = engine.telegram.0.lock() {
                        m.insert(id, fingerprint);
                    }
                }
                Ok(Err(e)) => {
                    let error = ChannelKind::Telegram.redact(&raw.config, e.message());
                    warn!(engine.log, "telegram: cannot configure updates"; "channel_id" => id, "error" => error)
                }
                Err(_) => {}
            }
        }
        if cfg.updates != Updates::Polling || !cfg.actions_enabled {
            continue;
        }
        let offset: i64 = engine
            .db
            .read(move |c| store::get_setting(c, &offset_key(id)))
            .await
            .ok()
            .flatten()
            .and_then(|v| v.parse().ok())
            .unwrap_or(0);
        let (senders, c2) = (engine.senders.clone(), cfg.clone());
        let updates =
            match tokio::task::spawn_blocking(move || telegram::get_updates(&c2, &senders.env(id), offset)).await {
                Ok(Ok(u)) => u,
                Ok(Err(e)) => {
                    let error = ChannelKind::Telegram.redact(&raw.config, e.message());
                    warn!(engine.log, "telegram: getUpdates failed"; "channel_id" => id, "error" => error);
                    continue;
                }
                Err(_) => continue,
            };
        let mut next = offset;
        for u in &updates {
            next = next.max(u.get("update_id").and_then(Value::as_i64).unwrap_or(0) + 1);
            if let Some(answer) =
                telegram_update(&engine.db, &engine.handle, &engine.senders.secret, id, engine.clock.now(), u).await
            {
                let (senders, c2) = (engine.senders.clone(), cfg.clone());
                let _ = tokio::task::spawn_blocking(move || {
                    telegram::answer_callback(&c2, &senders.env(id), &answer.callback_query_id, &answer.text)
                })
                .await;
            }
            handled += 1;
        }
        if next != offset {
            let _ = engine.db.write(move |c| store::set_setting(c, &offset_key(id), &next.to_string())).await;
        }
    }
    handled
}
