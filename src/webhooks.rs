//! Webhooks: each event of the access history's feed ([`crate::history::FeedEntry`]) that a
//! webhook asked for is POSTed to its URL, signed with the webhook's own secret.
//!
//! The path of an event, and why each step is where it is:
//! 1. The recording appends it to `history_feed` (never on a request's path).
//! 2. A background task in every running server ([`spawn`]) reads the feed after the
//!    `webhook_feed_seq` setting and, in one transaction, queues one `webhook_outbox` row per
//!    subscribed webhook with its body fixed then, and advances the setting
//!    (`Vault::queue_webhook_events`). The outbox is in the database, so a restart, a crash or a
//!    receiver that is down loses nothing.
//! 3. The same task delivers due rows, one in flight per webhook, each attempt bounded by a
//!    timeout ([`Timing`]); a failure is retried with a doubling delay, and after
//!    [`Timing::give_up_after`] the row is dropped and counted as failed.
//!
//! Nothing here runs on a request's path: a receiver that hangs or is down costs a download
//! nothing. Delivery is at least once: an attempt cut short by a shutdown is sent again, with the
//! same `X-Sharelock-Delivery` id, so a receiver can tell a repeat.
//!
//! The signature is `X-Sharelock-Signature-256: sha256=<hex>`, HMAC-SHA256 of the raw body keyed
//! with the secret as its hex text (README.md, "Webhooks", has a receiver's check).

use std::collections::HashSet;
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use hmac::{Hmac, Mac};
use rand::RngCore;
use serde::{Deserialize, Serialize};
use sha2::Sha256;

use crate::history::{Event, FeedEntry};
use crate::{Error, Result, Vault};

/// The header with the body's signature.
pub const SIGNATURE_HEADER: &str = "X-Sharelock-Signature-256";
/// The header with the event's name.
pub const EVENT_HEADER: &str = "X-Sharelock-Event";
/// The header with the delivery's id: the same on every attempt of one delivery.
pub const DELIVERY_HEADER: &str = "X-Sharelock-Delivery";

/// Random bytes in a webhook's secret (256 bits).
const SECRET_BYTES: usize = 32;

/// What a webhook gets when its maker does not say: what an owner wants a receipt of, not every
/// page view or refusal.
pub const DEFAULT_EVENTS: [Event; 6] = [
    Event::DownloadCompleted,
    Event::UploadReceived,
    Event::LinkExpired,
    Event::LinkExhausted,
    Event::SlotFilled,
    Event::SlotExpired,
];

/// The events a webhook is sent, in [`Event::ALL`] order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Events(Vec<Event>);

impl Events {
    /// [`DEFAULT_EVENTS`].
    pub fn default_set() -> Events {
        Events(DEFAULT_EVENTS.to_vec())
    }

    /// Parses `all`, or event names separated by commas.
    pub fn parse(text: &str) -> Result<Events> {
        let text = text.trim();
        if text.eq_ignore_ascii_case("all") {
            return Ok(Events(Event::ALL.to_vec()));
        }
        let mut chosen = HashSet::new();
        for name in text.split(',').map(str::trim).filter(|n| !n.is_empty()) {
            let event = Event::named(name).ok_or_else(|| {
                Error::invalid_field(
                    "events",
                    format!("unknown event {name:?}: use `all` or some of {}", Events::valid()),
                )
            })?;
            chosen.insert(event);
        }
        if chosen.is_empty() {
            return Err(Error::invalid_field("events", format!("give `all` or some of {}", Events::valid())));
        }
        Ok(Events(Event::ALL.into_iter().filter(|e| chosen.contains(e)).collect()))
    }

    fn valid() -> String {
        Event::ALL.map(Event::as_str).join(", ")
    }

    /// Whether `event` is among them.
    pub fn contains(&self, event: Event) -> bool {
        self.0.contains(&event)
    }
}

impl fmt::Display for Events {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let names: Vec<&str> = self.0.iter().copied().map(Event::as_str).collect();
        f.write_str(&names.join(","))
    }
}

/// Sent as a list of names.
impl Serialize for Events {
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        s.collect_seq(&self.0)
    }
}

/// What a webhook's requests look like.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Format {
    /// A JSON document: the event, its sentence and the history row ([`body`]).
    Json,
    /// An ntfy topic: the sentence as the body, with `Title` and `Tags` headers, so a phone
    /// shows the receipt as it is.
    Ntfy,
}

impl Format {
    /// The name kept in the database and typed on the command line.
    pub fn name(self) -> &'static str {
        match self {
            Format::Json => "json",
            Format::Ntfy => "ntfy",
        }
    }
}

impl std::str::FromStr for Format {
    type Err = Error;

    fn from_str(text: &str) -> Result<Format> {
        match text.trim().to_ascii_lowercase().as_str() {
            "json" => Ok(Format::Json),
            "ntfy" => Ok(Format::Ntfy),
            _ => Err(Error::invalid_field("format", format!("unknown format {text:?}: use json or ntfy"))),
        }
    }
}

/// Checks a webhook URL: `http://` or `https://` with a host, nothing else. Internal addresses
/// are allowed: the owner is trusted (SECURITY.md, "Webhooks").
pub fn check_url(url: &str) -> Result<String> {
    let bad = |why: &str| Error::invalid_field("url", format!("invalid webhook URL {url:?}: {why}"));
    let parsed = reqwest::Url::parse(url.trim()).map_err(|e| bad(&e.to_string()))?;
    if !matches!(parsed.scheme(), "http" | "https") {
        return Err(bad("use an http:// or https:// URL"));
    }
    if parsed.host_str().is_none_or(str::is_empty) {
        return Err(bad("it has no host"));
    }
    Ok(parsed.to_string())
}

/// A webhook to make.
#[derive(Debug, Clone)]
pub struct NewWebhook {
    /// Where events are POSTed (checked with [`check_url`]).
    pub url: String,
    /// Which events.
    pub events: Events,
    /// How they are sent.
    pub format: Format,
}

/// A webhook just made: the only time its secret is shown.
#[derive(Debug, Clone, Serialize)]
pub struct CreatedWebhook {
    /// Its id.
    pub id: String,
    /// Where events go.
    pub url: String,
    /// How they are sent.
    pub format: Format,
    /// Which events.
    pub events: Events,
    /// The key of the signature header, 64 hex digits: shown once.
    pub secret: String,
    /// When it was made.
    #[serde(with = "crate::time")]
    pub created_at: i64,
}

/// A webhook and how its deliveries went, as `webhook ls` shows it; never its secret.
#[derive(Debug, Clone, Serialize)]
pub struct Webhook {
    /// Its id.
    pub id: String,
    /// Where events go.
    pub url: String,
    /// How they are sent.
    pub format: Format,
    /// Which events.
    pub events: Events,
    /// When it was made: it gets the events from then on.
    #[serde(with = "crate::time")]
    pub created_at: i64,
    /// When a delivery was last tried.
    #[serde(with = "crate::time::option")]
    pub last_attempt_at: Option<i64>,
    /// The HTTP status the receiver last answered; `null` when it did not answer.
    pub last_status: Option<u16>,
    /// What went wrong with the last attempt; `null` when it succeeded.
    pub last_error: Option<String>,
    /// Events delivered.
    pub delivered: u64,
    /// Events given up on after retrying for [`Timing::give_up_after`].
    pub failed: u64,
    /// Events waiting in the outbox (first try or retry).
    pub pending: u64,
}

/// A new secret: 256 random bits in hex.
pub fn new_secret() -> String {
    let mut bytes = [0u8; SECRET_BYTES];
    rand::rng().fill_bytes(&mut bytes);
    hex::encode(bytes)
}

/// The signature header's value for `body`: `sha256=` and the hex HMAC-SHA256 of the raw body,
/// keyed with the secret's text.
pub fn signature(secret: &str, body: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("HMAC accepts any key length");
    mac.update(body);
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

/// The body sent for `entry` in `format`, fixed when the event is queued so every retry sends
/// (and signs) the same bytes.
pub fn body(entry: &FeedEntry, format: Format) -> String {
    let text = crate::history::describe(entry);
    match format {
        Format::Ntfy => text,
        Format::Json => serde_json::json!({
            "event": entry.event,
            "seq": entry.seq,
            "at": crate::time::rfc3339(entry.at),
            "text": text,
            "access": entry.access,
        })
        .to_string(),
    }
}

/// ntfy's `Tags` for an event: an emoji short code ntfy shows before the title, and the name.
fn ntfy_tags(event: &str) -> String {
    let emoji = match event {
        "download.completed" => "white_check_mark",
        "download.started" | "public.fetched" => "arrow_down",
        "page.viewed" => "eyes",
        "upload.received" => "inbox_tray",
        "upload.refused" | "access.refused" => "no_entry",
        "link.expired" | "slot.expired" => "hourglass",
        _ => "stop_sign",
    };
    format!("{emoji},{event}")
}

/// How deliveries are paced. `sharelock serve` sets them with `--webhook-*` options (README.md,
/// "Webhooks"); the tests make them short.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timing {
    /// How long one attempt may take, connecting included.
    pub attempt_timeout: Duration,
    /// The delay before the first retry; it doubles with each failure...
    pub retry_base: Duration,
    /// ...up to this.
    pub retry_max: Duration,
    /// How long after it was queued an event is given up on (then counted as failed).
    pub give_up_after: Duration,
    /// How often the feed and the outbox are looked at.
    pub poll: Duration,
}

impl Default for Timing {
    fn default() -> Self {
        Timing {
            attempt_timeout: Duration::from_secs(10),
            retry_base: Duration::from_secs(5),
            retry_max: Duration::from_secs(600),
            give_up_after: Duration::from_secs(24 * 3600),
            poll: Duration::from_secs(1),
        }
    }
}

impl Timing {
    /// The delay before the next attempt after `failures` failed ones (at least 1).
    pub fn backoff(&self, failures: u32) -> Duration {
        let doubled = self.retry_base.saturating_mul(2u32.saturating_pow(failures.saturating_sub(1)));
        doubled.min(self.retry_max)
    }
}

/// One queued event for one webhook, as the delivery loop reads it.
#[derive(Debug, Clone)]
pub struct Delivery {
    /// The outbox row: the `X-Sharelock-Delivery` id.
    pub id: i64,
    /// The webhook.
    pub webhook_id: String,
    /// Where it goes.
    pub url: String,
    /// How.
    pub format: Format,
    /// The signing key.
    pub secret: String,
    /// The event's name.
    pub event: String,
    /// The body, as queued.
    pub body: String,
    /// Failed attempts so far.
    pub attempts: u32,
    /// When it was queued (unix seconds).
    pub created_at: i64,
}

/// How an attempt went.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// The receiver answered 2xx.
    Delivered {
        /// Its status.
        status: u16,
    },
    /// It did not: no answer (`status` none), or another status.
    Failed {
        /// The status it answered, if it did.
        status: Option<u16>,
        /// Why, in a few words.
        error: String,
    },
}

/// The one HTTP client of the delivery loop: pooled connections, no redirects followed (a
/// receiver that moved must be edited, not followed to wherever it points).
pub fn client(timing: &Timing) -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(timing.attempt_timeout)
        .connect_timeout(timing.attempt_timeout)
        .redirect(reqwest::redirect::Policy::none())
        .user_agent(concat!("Sharelock-Webhook/", env!("CARGO_PKG_VERSION")))
        .build()
        .unwrap_or_else(|_| reqwest::Client::new())
}

/// Sends one delivery.
pub async fn attempt(client: &reqwest::Client, delivery: &Delivery) -> Outcome {
    let mut request = client
        .post(&delivery.url)
        .header(EVENT_HEADER, &delivery.event)
        .header(DELIVERY_HEADER, delivery.id.to_string())
        .header(SIGNATURE_HEADER, signature(&delivery.secret, delivery.body.as_bytes()));
    request = match delivery.format {
        Format::Json => request.header(reqwest::header::CONTENT_TYPE, "application/json"),
        Format::Ntfy => request
            .header(reqwest::header::CONTENT_TYPE, "text/plain; charset=utf-8")
            .header("Title", "Sharelock")
            .header("Tags", ntfy_tags(&delivery.event)),
    };
    match request.body(delivery.body.clone()).send().await {
        Ok(response) if response.status().is_success() => Outcome::Delivered { status: response.status().as_u16() },
        Ok(response) => {
            let status = response.status();
            Outcome::Failed { status: Some(status.as_u16()), error: format!("the receiver answered {status}") }
        }
        Err(e) => Outcome::Failed { status: None, error: describe_error(&e) },
    }
}

/// A short reason for a failed request, with the cause reqwest keeps in its chain.
fn describe_error(e: &reqwest::Error) -> String {
    if e.is_timeout() {
        return "timed out: no answer".into();
    }
    let what = if e.is_connect() { "cannot connect" } else { "request failed" };
    let mut cause = std::error::Error::source(e);
    let mut last = None;
    while let Some(c) = cause {
        last = Some(c.to_string());
        cause = c.source();
    }
    match last {
        Some(cause) => format!("{what}: {cause}"),
        None => what.to_string(),
    }
}

/// Most outbox rows looked at per round.
const DUE_PER_ROUND: usize = 100;

/// Runs the webhooks of `vault` until the returned handle is aborted: queues new feed entries,
/// delivers due rows (one in flight per webhook), records each attempt. Independent of
/// requests: it holds no lock or connection a download needs. Aborting it also cuts attempts in
/// flight; their rows stay queued and are sent again.
pub fn spawn(vault: Arc<Vault>, timing: Timing) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        if vault.check_writable().is_err() {
            // A read-only data dir (a mounted backup) can neither queue nor record attempts.
            return;
        }
        // Made at the first delivery: a server with no webhooks holds no client (and none of
        // the descriptors its TLS set-up may keep).
        let mut client: Option<reqwest::Client> = None;
        let mut in_flight: HashSet<String> = HashSet::new();
        let mut attempts = tokio::task::JoinSet::new();
        let mut tick = tokio::time::interval(timing.poll);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = tick.tick() => {}
                // An attempt ended: its webhook's next row goes at once, not at the next tick, so
                // a backlog drains as fast as the receiver answers.
                Some(done) = attempts.join_next() => {
                    if let Ok(webhook_id) = done {
                        in_flight.remove(&webhook_id);
                    }
                    // A panicked attempt leaves its webhook marked: better one stuck webhook
                    // than two requests in flight; its row is retried after a restart.
                }
            }
            // Queue and read in one blocking call: the round takes one pooled connection.
            let round = vault.clone();
            let due = tokio::task::spawn_blocking(move || {
                if let Err(e) = round.queue_webhook_events(crate::time::now()) {
                    tracing::warn!("webhooks: cannot queue events, will retry: {e}");
                }
                round.due_webhook_deliveries(now_ms(), DUE_PER_ROUND)
            })
            .await;
            let due = match due {
                Ok(Ok(due)) => due,
                Ok(Err(e)) => {
                    tracing::warn!("webhooks: cannot read the outbox: {e}");
                    continue;
                }
                Err(e) => {
                    tracing::warn!("webhooks: cannot read the outbox: {e}");
                    continue;
                }
            };
            for delivery in due {
                if !in_flight.insert(delivery.webhook_id.clone()) {
                    continue;
                }
                let client = client.get_or_insert_with(|| self::client(&timing)).clone();
                let vault = vault.clone();
                attempts.spawn(async move {
                    let outcome = attempt(&client, &delivery).await;
                    if let Outcome::Failed { error, .. } = &outcome {
                        tracing::info!("webhook {} delivery {} failed: {error}", delivery.webhook_id, delivery.id);
                    }
                    let webhook_id = delivery.webhook_id.clone();
                    let recorded = tokio::task::spawn_blocking(move || {
                        vault.record_webhook_attempt(&delivery, &outcome, crate::time::now(), now_ms(), &timing)
                    })
                    .await;
                    match recorded {
                        Ok(Ok(())) => {}
                        Ok(Err(e)) => tracing::warn!("webhooks: cannot record an attempt: {e}"),
                        Err(e) => tracing::warn!("webhooks: cannot record an attempt: {e}"),
                    }
                    webhook_id
                });
            }
        }
    })
}

/// The current unix time in milliseconds: the outbox's `next_at`, fine enough for retries of
/// a fraction of a second in tests.
pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_parse_all_lists_and_refuse_unknown_names() {
        assert_eq!(Events::parse("all").unwrap().0, Event::ALL.to_vec());
        let two = Events::parse(" upload.received , download.completed ").unwrap();
        assert_eq!(two.to_string(), "download.completed,upload.received");
        assert!(two.contains(Event::UploadReceived) && !two.contains(Event::PageViewed));
        let err = Events::parse("download.completed,download.done").unwrap_err().to_string();
        assert!(err.contains("\"download.done\"") && err.contains("slot.expired"), "{err}");
        assert!(Events::parse(" , ").is_err());
        assert_eq!(
            Events::default_set().to_string(),
            "download.completed,upload.received,link.expired,link.exhausted,slot.filled,slot.expired"
        );
    }

    #[test]
    fn only_http_urls_with_a_host() {
        assert_eq!(check_url("https://ntfy.sh/my-topic").unwrap(), "https://ntfy.sh/my-topic");
        assert_eq!(check_url("http://10.0.0.5:8080/hook").unwrap(), "http://10.0.0.5:8080/hook");
        for bad in ["ftp://x", "x", "", "file:///etc/passwd", "http://", "javascript:alert(1)"] {
            assert!(check_url(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn signature_is_hmac_sha256_of_the_body_keyed_with_the_secret_text() {
        // RFC 4231 test case 2: key "Jefe", data "what do ya want for nothing?".
        assert_eq!(
            signature("Jefe", b"what do ya want for nothing?"),
            "sha256=5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
        let secret = new_secret();
        assert_eq!(secret.len(), 64);
        assert!(secret.bytes().all(|b| b.is_ascii_hexdigit()));
        assert_ne!(secret, new_secret());
    }

    #[test]
    fn backoff_doubles_up_to_the_cap() {
        let timing =
            Timing { retry_base: Duration::from_secs(5), retry_max: Duration::from_secs(30), ..Timing::default() };
        let delays: Vec<u64> = (1..=6).map(|n| timing.backoff(n).as_secs()).collect();
        assert_eq!(delays, [5, 10, 20, 30, 30, 30]);
        assert_eq!(timing.backoff(u32::MAX), Duration::from_secs(30));
    }
}
