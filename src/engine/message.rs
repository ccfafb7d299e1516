//! What a notification says: the [`Message`] for a claimed outbox row, built from what the
//! store loaded for it ([`Prepared`]) and the links the installation signs ([`Senders`]).

use crate::domain::message::Message;
use crate::domain::time::Ts;
use crate::notify::Senders;
use crate::store::outbox::Prepared;

/// The message of a prepared delivery.
pub fn message(senders: &Senders, p: &Prepared, now: Ts) -> Message {
    use crate::crypto::{Action, Target};
    use crate::domain::message::{AlertInfo, Links};
    let alert = p.alert.as_ref().map(|a| AlertInfo {
        id: a.id,
        title: a.title.clone(),
        message: a.message.clone(),
        severity: a.severity,
        status: a.status,
        source: a.source.clone(),
        labels: a.labels.clone(),
        event_link: a.event_link.clone(),
        links: a.links.clone(),
        images: a.images.clone(),
        alert_count: a.alert_count,
        dedup_key: a.dedup_key.clone(),
        first_seen_at: a.first_seen_at,
        acknowledged_by: a.acknowledged_by.clone(),
        resolved_by: a.resolved_by.clone(),
        reminder_count: a.reminder_count,
        escalation_level: a.escalation_level,
        episode: a.episode,
    });
    let links = match &p.alert {
        Some(a) => Links {
            alert: senders.alert_url(a.id),
            acknowledge: Some(
                senders.action_url(Target { alert_id: a.id, episode: a.episode, action: Action::Acknowledge }, now),
            ),
            resolve: Some(
                senders.action_url(Target { alert_id: a.id, episode: a.episode, action: Action::Resolve }, now),
            ),
        },
        None => Links { alert: format!("{}/", senders.base_url), acknowledge: None, resolve: None },
    };
    Message {
        kind: p.delivery.event_type,
        delivery_id: p.delivery.id,
        message_id: p.delivery.message_id.clone(),
        thread_root: p.thread_root.clone(),
        note: p.delivery.note.clone(),
        alert,
        team: p.team.clone(),
        assignee: p.assignee.clone(),
        links,
        channel_name: p.channel_name.clone(),
        timestamp: now,
    }
}
