//! Webhooks and their outbox in the database (the rules are in [`crate::webhooks`]).
//!
//! `webhook_outbox.next_at` is in unix milliseconds (retries of a fraction of a second in
//! tests); every other time here is in unix seconds, as elsewhere.

use rusqlite::{OptionalExtension, Row, params};

use super::*;
use crate::webhooks::{CreatedWebhook, Delivery, Events, Format, NewWebhook, Outcome, Timing, Webhook};

/// Feed entries queued per transaction: a backlog (a server that was stopped) is worked off in
/// several short transactions rather than one long one.
const QUEUE_BATCH: usize = 200;

/// The most of a receiver's error kept.
const MAX_ERROR_CHARS: usize = 300;

fn webhook_from_row(row: &Row<'_>) -> rusqlite::Result<Webhook> {
    let format: String = row.get(2)?;
    let events: String = row.get(3)?;
    Ok(Webhook {
        id: row.get(0)?,
        url: row.get(1)?,
        format: format.parse().unwrap_or(Format::Json),
        events: Events::parse(&events).unwrap_or_else(|_| Events::default_set()),
        created_at: row.get(4)?,
        last_attempt_at: row.get(5)?,
        last_status: row.get::<_, Option<i64>>(6)?.and_then(|s| u16::try_from(s).ok()),
        last_error: row.get(7)?,
        delivered: row.get::<_, i64>(8)?.max(0) as u64,
        failed: row.get::<_, i64>(9)?.max(0) as u64,
        pending: row.get::<_, i64>(10)?.max(0) as u64,
    })
}

const WEBHOOK_COLUMNS: &str = "w.id, w.url, w.format, w.events, w.created_at, w.last_attempt_at, w.last_status, \
     w.last_error, w.delivered, w.failed, (SELECT count(*) FROM webhook_outbox o WHERE o.webhook_id = w.id)";

impl Vault {
    /// Makes a webhook; its secret is in the answer and shown nowhere else. It gets the events
    /// that happen from `now` on.
    pub fn add_webhook(&self, new: NewWebhook, now: i64) -> Result<CreatedWebhook> {
        let url = crate::webhooks::check_url(&new.url)?;
        let made = CreatedWebhook {
            id: ids::generate(),
            url,
            format: new.format,
            events: new.events,
            secret: crate::webhooks::new_secret(),
            created_at: now,
        };
        self.write(|c| {
            c.execute(
                "INSERT INTO webhooks (id, url, format, events, secret, created_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                params![made.id, made.url, made.format.name(), made.events.to_string(), made.secret, now],
            )?;
            Ok(())
        })?;
        Ok(made)
    }

    /// Every webhook, oldest first, with how its deliveries went; never a secret.
    pub fn webhooks(&self) -> Result<Vec<Webhook>> {
        self.db.with(|c| {
            let mut stmt =
                c.prepare_cached(&format!("SELECT {WEBHOOK_COLUMNS} FROM webhooks w ORDER BY w.created_at, w.id"))?;
            let rows = stmt.query_map([], webhook_from_row)?;
            Ok(rows.collect::<rusqlite::Result<_>>()?)
        })
    }

    /// One webhook.
    pub fn webhook(&self, id: &str) -> Result<Webhook> {
        self.db
            .with(|c| {
                Ok(c.prepare_cached(&format!("SELECT {WEBHOOK_COLUMNS} FROM webhooks w WHERE w.id = ?1"))?
                    .query_row([id], webhook_from_row)
                    .optional()?)
            })?
            .ok_or_else(|| not_found("webhook", id))
    }

    /// Removes a webhook and what its outbox still holds.
    pub fn remove_webhook(&self, id: &str) -> Result<()> {
        let removed = self.write(|c| {
            let tx = write_transaction(c)?;
            tx.execute("DELETE FROM webhook_outbox WHERE webhook_id = ?1", [id])?;
            let removed = tx.execute("DELETE FROM webhooks WHERE id = ?1", [id])?;
            tx.commit()?;
            Ok(removed)
        })?;
        if removed == 0 { Err(not_found("webhook", id)) } else { Ok(()) }
    }

    /// Queues the feed entries after the `webhook_feed_seq` setting: one outbox row per webhook
    /// that asked for the event (and existed when it happened), with the body fixed now; the
    /// setting advances in the same transaction, so an entry is queued once, whatever stops the
    /// server and whichever server of this data dir gets there first. Returns the rows queued.
    pub fn queue_webhook_events(&self, now: i64) -> Result<usize> {
        self.check_writable()?;
        let mut queued = 0;
        loop {
            let after = self.webhook_feed_seq()?;
            let entries = self.history_feed(after, QUEUE_BATCH)?;
            let Some(last) = entries.last().map(|e| e.seq) else { return Ok(queued) };
            queued += self.write(|c| {
                let tx = write_transaction(c)?;
                // Read again under the write lock: another server may have queued them meanwhile.
                let cursor = seq_setting(&tx)?;
                let webhooks = {
                    let mut stmt = tx.prepare_cached("SELECT id, format, events, created_at FROM webhooks")?;
                    let rows = stmt.query_map([], |r| {
                        let format: String = r.get(1)?;
                        let events: String = r.get(2)?;
                        Ok((r.get::<_, String>(0)?, format, events, r.get::<_, i64>(3)?))
                    })?;
                    rows.collect::<rusqlite::Result<Vec<_>>>()?
                };
                let mut inserted = 0;
                for entry in entries.iter().filter(|e| e.seq > cursor) {
                    let event = entry.event.as_str();
                    for (id, format, events, created_at) in &webhooks {
                        let wanted = Events::parse(events).is_ok_and(|events| events.contains(entry.event));
                        if !wanted || entry.at < *created_at {
                            continue;
                        }
                        let format: Format = format.parse().unwrap_or(Format::Json);
                        tx.prepare_cached(
                            "INSERT INTO webhook_outbox (webhook_id, seq, event, body, created_at, next_at) \
                             VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                        )?
                        .execute(params![
                            id,
                            entry.seq,
                            event,
                            crate::webhooks::body(entry, format),
                            now,
                            now.saturating_mul(1000)
                        ])?;
                        inserted += 1;
                    }
                }
                if last > cursor {
                    settings::set(&tx, settings::WEBHOOK_FEED_SEQ, &last.to_string())?;
                }
                tx.commit()?;
                Ok(inserted)
            })?;
            if entries.len() < QUEUE_BATCH {
                return Ok(queued);
            }
        }
    }

    /// The last feed entry queued for webhooks (0 before any).
    pub fn webhook_feed_seq(&self) -> Result<i64> {
        self.db.with(|c| seq_setting(c))
    }

    /// The oldest outbox row due at `now_ms` (unix milliseconds) of each webhook, at most
    /// `limit`: one per webhook, so a backlog at one receiver never holds up another.
    pub fn due_webhook_deliveries(&self, now_ms: i64, limit: usize) -> Result<Vec<Delivery>> {
        self.db.with(|c| {
            let mut stmt = c.prepare_cached(
                "SELECT o.id, o.webhook_id, w.url, w.format, w.secret, o.event, o.body, o.attempts, o.created_at \
                 FROM webhook_outbox o JOIN webhooks w ON w.id = o.webhook_id \
                 WHERE o.id IN (SELECT min(id) FROM webhook_outbox WHERE next_at <= ?1 GROUP BY webhook_id) \
                 ORDER BY o.id LIMIT ?2",
            )?;
            let rows = stmt.query_map(params![now_ms, limit as i64], |r| {
                let format: String = r.get(3)?;
                Ok(Delivery {
                    id: r.get(0)?,
                    webhook_id: r.get(1)?,
                    url: r.get(2)?,
                    format: format.parse().unwrap_or(Format::Json),
                    secret: r.get(4)?,
                    event: r.get(5)?,
                    body: r.get(6)?,
                    attempts: u32::try_from(r.get::<_, i64>(7)?).unwrap_or(u32::MAX),
                    created_at: r.get(8)?,
                })
            })?;
            Ok(rows.collect::<rusqlite::Result<_>>()?)
        })
    }

    /// Records an attempt on the webhook (`last_*`) and on its row: delivered, the row goes and
    /// counts as delivered; failed, it is tried again after the backoff, or, queued longer than
    /// `timing.give_up_after` ago, goes and counts as failed.
    pub fn record_webhook_attempt(
        &self,
        delivery: &Delivery,
        outcome: &Outcome,
        now: i64,
        now_ms: i64,
        timing: &Timing,
    ) -> Result<()> {
        self.write(|c| {
            let tx = write_transaction(c)?;
            // The webhook or the row may have been removed while the attempt ran.
            let still_queued = tx
                .prepare_cached("SELECT 1 FROM webhook_outbox WHERE id = ?1")?
                .query_row([delivery.id], |_| Ok(()))
                .optional()?
                .is_some();
            match outcome {
                Outcome::Delivered { status } => {
                    tx.execute(
                        "UPDATE webhooks SET last_attempt_at = ?2, last_status = ?3, last_error = NULL, \
                         delivered = delivered + ?4 WHERE id = ?1",
                        params![delivery.webhook_id, now, status, i64::from(still_queued)],
                    )?;
                    tx.execute("DELETE FROM webhook_outbox WHERE id = ?1", [delivery.id])?;
                }
                Outcome::Failed { status, error } => {
                    let error: String = error.chars().take(MAX_ERROR_CHARS).collect();
                    let give_up = now.saturating_sub(delivery.created_at)
                        >= i64::try_from(timing.give_up_after.as_secs()).unwrap_or(i64::MAX);
                    let failed = i64::from(still_queued && give_up);
                    tx.execute(
                        "UPDATE webhooks SET last_attempt_at = ?2, last_status = ?3, last_error = ?4, \
                         failed = failed + ?5 WHERE id = ?1",
                        params![delivery.webhook_id, now, status, error, failed],
                    )?;
                    if give_up {
                        tx.execute("DELETE FROM webhook_outbox WHERE id = ?1", [delivery.id])?;
                    } else {
                        let attempts = delivery.attempts.saturating_add(1);
                        let delay = i64::try_from(timing.backoff(attempts).as_millis()).unwrap_or(i64::MAX);
                        tx.execute(
                            "UPDATE webhook_outbox SET attempts = ?2, next_at = ?3, last_error = ?4 WHERE id = ?1",
                            params![delivery.id, attempts, now_ms.saturating_add(delay), error],
                        )?;
                    }
                }
            }
            tx.commit()?;
            Ok(())
        })
    }
}

fn seq_setting(conn: &rusqlite::Connection) -> Result<i64> {
    Ok(settings::get(conn, settings::WEBHOOK_FEED_SEQ)?.and_then(|s| s.parse().ok()).unwrap_or(0))
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    fn vault() -> (tempfile::TempDir, Vault) {
        let dir = tempfile::tempdir().unwrap();
        let vault = Vault::open(&dir.path().join("data")).unwrap();
        (dir, vault)
    }

    /// A history row and its feed entry, as the recording writes them.
    fn happened(vault: &Vault, event: &str, at: i64) -> i64 {
        vault
            .db
            .with(|c| {
                c.execute(
                    "INSERT INTO history (at, last_at, kind, state, name, label, client, bytes) \
                     VALUES (?1, ?1, 'download', 'completed', 'contract.pdf', 'Dana', '192.0.2.7', 42)",
                    [at],
                )?;
                let row = c.last_insert_rowid();
                c.execute(
                    "INSERT INTO history_feed (history_id, event, at) VALUES (?1, ?2, ?3)",
                    params![row, event, at],
                )?;
                Ok(c.last_insert_rowid())
            })
            .unwrap()
    }

    fn add(vault: &Vault, events: &str, format: Format, now: i64) -> CreatedWebhook {
        let new = NewWebhook { url: "http://127.0.0.1:9/hook".into(), events: Events::parse(events).unwrap(), format };
        vault.add_webhook(new, now).unwrap()
    }

    fn timing() -> Timing {
        Timing {
            retry_base: Duration::from_secs(5),
            retry_max: Duration::from_secs(20),
            give_up_after: Duration::from_secs(100),
            ..Timing::default()
        }
    }

    #[test]
    fn events_are_queued_once_for_the_webhooks_that_asked_after_they_were_made() {
        let (_dir, vault) = vault();
        let before = happened(&vault, "download.completed", 900);
        let downloads = add(&vault, "download.completed", Format::Json, 1000);
        let uploads = add(&vault, "upload.received", Format::Ntfy, 1000);
        let completed = happened(&vault, "download.completed", 1001);
        let received = happened(&vault, "upload.received", 1002);
        assert_eq!(vault.queue_webhook_events(1003).unwrap(), 2);
        assert_eq!(vault.webhook_feed_seq().unwrap(), received);
        // Nothing new: nothing queued twice.
        assert_eq!(vault.queue_webhook_events(1004).unwrap(), 0);

        let due = vault.due_webhook_deliveries(1003 * 1000, 10).unwrap();
        assert_eq!(due.len(), 2);
        let json = due.iter().find(|d| d.webhook_id == downloads.id).unwrap();
        assert_eq!(json.event, "download.completed");
        assert_eq!(json.secret, downloads.secret);
        let body: serde_json::Value = serde_json::from_str(&json.body).unwrap();
        assert_eq!(body["event"], "download.completed");
        assert_eq!(body["seq"], completed);
        assert_eq!(body["at"], crate::time::rfc3339(1001));
        assert_eq!(body["access"]["client"], "192.0.2.7");
        assert_eq!(body["text"], crate::history::describe(&vault.history_feed(completed - 1, 1).unwrap()[0]));
        assert_ne!(completed, before);
        let ntfy = due.iter().find(|d| d.webhook_id == uploads.id).unwrap();
        assert_eq!(ntfy.event, "upload.received");
        assert_eq!(ntfy.body, crate::history::describe(&vault.history_feed(received - 1, 1).unwrap()[0]));
        assert_eq!(vault.webhook(&downloads.id).unwrap().pending, 1);
    }

    #[test]
    fn failures_back_off_then_give_up_and_success_counts() {
        let (_dir, vault) = vault();
        let hook = add(&vault, "all", Format::Json, 1000);
        happened(&vault, "download.completed", 1000);
        happened(&vault, "link.expired", 1000);
        vault.queue_webhook_events(1000).unwrap();
        // One at a time per webhook, oldest first.
        let due = vault.due_webhook_deliveries(1_000_000, 10).unwrap();
        assert_eq!(due.len(), 1);
        let first = &due[0];
        let t = timing();
        let refused = Outcome::Failed { status: Some(500), error: "the receiver answered 500".into() };
        vault.record_webhook_attempt(first, &refused, 1001, 1_001_000, &t).unwrap();
        // The first waits out its backoff (5 s): the second goes meanwhile.
        let due = vault.due_webhook_deliveries(1_001_000, 10).unwrap();
        let second = &due[0];
        assert_ne!(second.id, first.id);
        let listed = vault.webhook(&hook.id).unwrap();
        assert_eq!((listed.last_status, listed.last_error.as_deref()), (Some(500), Some("the receiver answered 500")));
        assert_eq!((listed.delivered, listed.failed, listed.pending), (0, 0, 2));
        // Not due again before the backoff (5 s), due after it, with the same id.
        let due_ids = |ms| vault.due_webhook_deliveries(ms, 10).unwrap().iter().map(|d| d.id).collect::<Vec<_>>();
        assert_eq!(due_ids(1_005_999), [second.id]);
        let again = vault.due_webhook_deliveries(1_006_000, 10).unwrap();
        let retried = again.iter().find(|d| d.id == first.id).unwrap();
        assert_eq!(retried.attempts, 1);
        // The second failure waits twice as long.
        vault.record_webhook_attempt(retried, &refused, 1006, 1_006_000, &t).unwrap();
        assert!(!due_ids(1_015_999).contains(&first.id));
        assert!(due_ids(1_016_000).contains(&first.id));

        vault.record_webhook_attempt(second, &Outcome::Delivered { status: 204 }, 1007, 1_007_000, &t).unwrap();
        let listed = vault.webhook(&hook.id).unwrap();
        assert_eq!((listed.last_status, listed.last_error), (Some(204), None));
        assert_eq!((listed.delivered, listed.failed, listed.pending), (1, 0, 1));

        // Queued 100 s ago: the next failure gives up.
        let last = vault.due_webhook_deliveries(i64::MAX, 10).unwrap().remove(0);
        let down = Outcome::Failed { status: None, error: "cannot connect".into() };
        vault.record_webhook_attempt(&last, &down, 1100, 1_100_000, &t).unwrap();
        let listed = vault.webhook(&hook.id).unwrap();
        assert_eq!((listed.last_status, listed.last_error.as_deref()), (None, Some("cannot connect")));
        assert_eq!((listed.delivered, listed.failed, listed.pending), (1, 1, 0));
    }

    #[test]
    fn removing_a_webhook_drops_its_outbox_and_unknown_ids_are_not_found() {
        let (_dir, vault) = vault();
        let hook = add(&vault, "all", Format::Json, 1000);
        happened(&vault, "page.viewed", 1000);
        vault.queue_webhook_events(1000).unwrap();
        let delivery = vault.due_webhook_deliveries(i64::MAX, 10).unwrap().remove(0);
        vault.remove_webhook(&hook.id).unwrap();
        assert!(vault.webhooks().unwrap().is_empty());
        assert!(vault.due_webhook_deliveries(i64::MAX, 10).unwrap().is_empty());
        // An attempt that was in flight meanwhile records nothing anywhere.
        vault
            .record_webhook_attempt(&delivery, &Outcome::Delivered { status: 200 }, 1001, 1_001_000, &timing())
            .unwrap();
        assert!(matches!(vault.remove_webhook(&hook.id), Err(Error::NotFound { kind: "webhook", .. })));
    }

    #[test]
    fn a_bad_url_is_refused_and_nothing_is_stored() {
        let (_dir, vault) = vault();
        let new = NewWebhook { url: "ftp://x".into(), events: Events::default_set(), format: Format::Json };
        assert!(matches!(vault.add_webhook(new, 1000), Err(Error::InvalidField { field: "url", .. })));
        assert!(vault.webhooks().unwrap().is_empty());
    }
}
