//! `sharelock webhook …`: URLs that get the access history's events (see [`crate::webhooks`]).

use clap::Subcommand;

use super::output::Output;
use crate::webhooks::{Events, Format, NewWebhook, Webhook};
use crate::{Result, Vault, time};

/// `sharelock webhook …`.
#[derive(Debug, Subcommand)]
pub enum WebhookAction {
    /// Add a webhook and print its id and signing secret (shown this once).
    Add {
        /// Where events are POSTed: an http:// or https:// URL (an ntfy topic with --format ntfy).
        url: String,
        /// Which events, separated by commas, or `all`. Default:
        /// download.completed,upload.received,link.expired,link.exhausted,slot.filled,slot.expired.
        #[arg(long, value_name = "LIST|all", value_parser = parse_events)]
        events: Option<Events>,
        /// json: a signed JSON document per event; ntfy: the event's sentence, for an ntfy topic.
        #[arg(long, value_name = "json|ntfy", value_parser = parse_format, default_value = "json")]
        format: Format,
    },
    /// List webhooks: id, URL, format, events, last attempt, delivered, failed and pending
    /// events; never a secret.
    Ls,
    /// Remove a webhook and the events still waiting for it.
    Rm {
        /// The webhook's id.
        webhook_id: String,
    },
}

fn parse_events(s: &str) -> Result<Events, String> {
    Events::parse(s).map_err(|e| e.to_string())
}

fn parse_format(s: &str) -> Result<Format, String> {
    s.parse::<Format>().map_err(|e| e.to_string())
}

/// Runs `sharelock webhook …`.
pub(super) fn run(action: WebhookAction, vault: &Vault, out: &Output) -> Result<()> {
    match action {
        WebhookAction::Add { url, events, format } => {
            let new = NewWebhook { url, events: events.unwrap_or_else(Events::default_set), format };
            let made = vault.add_webhook(new, time::now())?;
            out.print(&made, || {
                format!(
                    "webhook {} ({}) for {}\nsends: {}\nsecret: {}\n\nThe secret keys the {} header; it is shown this once: keep it \
                     with the receiver.",
                    made.id,
                    made.format.name(),
                    made.url,
                    made.events,
                    made.secret,
                    crate::webhooks::SIGNATURE_HEADER
                )
            })
        }
        WebhookAction::Ls => {
            let list = vault.webhooks()?;
            out.print(&list, || ls_text(&list))
        }
        WebhookAction::Rm { webhook_id } => {
            vault.remove_webhook(&webhook_id)?;
            out.print(&serde_json::json!({ "removed": webhook_id }), || format!("removed {webhook_id}"))
        }
    }
}

fn ls_text(list: &[Webhook]) -> String {
    if list.is_empty() {
        return "no webhooks: add one with `sharelock webhook add URL`".into();
    }
    let mut text = String::new();
    for w in list {
        let last = match (w.last_attempt_at, w.last_status, &w.last_error) {
            (None, ..) => "not tried yet".to_string(),
            (Some(at), status, error) => {
                let how = match (status, error) {
                    (_, Some(error)) => error.clone(),
                    (Some(status), None) => format!("answered {status}"),
                    (None, None) => "ok".to_string(),
                };
                format!("last attempt {}: {how}", time::rfc3339(at))
            }
        };
        text.push_str(&format!(
            "{}  {}  {}\n  events: {}\n  created {}; {last}\n  delivered {}, failed {}, pending {}\n",
            w.id,
            w.format.name(),
            w.url,
            w.events,
            time::rfc3339(w.created_at),
            w.delivered,
            w.failed,
            w.pending
        ));
    }
    text.trim_end().to_string()
}
