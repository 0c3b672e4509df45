//! Download receipts: a desktop notification when a link's download completes, and for the
//! notices (a link expired or used up, an upload link full or expired).
//!
//! The core appends what happens to its history feed ([`Manage::history_feed`]); the app follows
//! it from a cursor kept in this computer's settings, one per Sharelock (this computer's, or each
//! server's). Kept, so a restart neither notifies twice nor misses what the background service
//! served while the window was closed; a Sharelock followed for the first time starts at its end,
//! so old history never pops up as news.

use std::collections::HashMap;

use sharelock::Vault;
use sharelock::history::{Event, FeedEntry};
use sharelock::manage::Manage;

/// The feed entries read at once.
const PAGE: usize = 200;

/// Past this many notifications at once (after a restart, say), the rest are summed up in one.
const AT_ONCE: usize = 3;

/// The setting that keeps the last feed entry seen of the Sharelock at `place` (`None`: this
/// computer's). The desktop's own: the core never reads it.
fn cursor_key(place: Option<&str>) -> String {
    match place {
        None => "desktop_feed_seq".into(),
        Some(url) => format!("desktop_feed_seq:{url}"),
    }
}

/// A notification to show.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Receipt {
    /// Its title.
    pub title: String,
    /// Its sentence (`history::describe`).
    pub body: String,
}

/// Whether an event is notified at all: completed downloads and the notices.
fn notified(event: Event) -> bool {
    matches!(
        event,
        Event::DownloadCompleted | Event::LinkExpired | Event::LinkExhausted | Event::SlotFilled | Event::SlotExpired
    )
}

fn title(event: Event) -> &'static str {
    match event {
        Event::DownloadCompleted => "Downloaded",
        Event::LinkExpired => "Link expired",
        Event::LinkExhausted => "Link used up",
        Event::SlotFilled => "Upload link full",
        Event::SlotExpired => "Upload link expired",
        _ => "Sharelock",
    }
}

/// Reads what happened since the last call on the Sharelock `manage` (at `place`, `None` for this
/// computer's) and returns what to notify, moving the cursor kept in `vault` past it. With
/// notifications off (`notify_downloads`), the cursor moves all the same: switching them on later
/// does not bring back old news.
pub fn since_last(vault: &Vault, manage: &dyn Manage, place: Option<&str>) -> sharelock::Result<Vec<Receipt>> {
    let key = cursor_key(place);
    let Some(mut after) = vault.setting(&key)?.and_then(|s| s.parse::<i64>().ok()) else {
        let end = manage.history_feed_end()?;
        vault.set_setting(&key, Some(&end.to_string()))?;
        return Ok(Vec::new());
    };
    let on = vault.setting(sharelock::settings::NOTIFY_DOWNLOADS)?.as_deref() != Some("off");
    let mut wanted: Vec<FeedEntry> = Vec::new();
    loop {
        let page = manage.history_feed(after, PAGE)?;
        let Some(last) = page.last() else { break };
        after = last.seq;
        let full = page.len() == PAGE;
        if on {
            wanted.extend(page.into_iter().filter(|e| notified(e.event)));
        }
        if !full {
            break;
        }
    }
    // Downloads of links switched off (`Link.notify`) stay quiet; a link removed since still
    // notifies, as it did when the download happened.
    if wanted.iter().any(|e| e.event == Event::DownloadCompleted) {
        let quiet: HashMap<String, bool> =
            manage.links(None)?.into_iter().map(|l| (l.link.id.clone(), l.link.notify)).collect();
        wanted.retain(|e| {
            e.event != Event::DownloadCompleted
                || e.access.link_id.as_ref().and_then(|id| quiet.get(id)).copied().unwrap_or(true)
        });
    }
    // Saved only once read: a failure on the way reads the same entries again next time.
    vault.set_setting(&key, Some(&after.to_string()))?;
    Ok(receipts(&wanted))
}

/// The notifications for `entries`: one each, up to [`AT_ONCE`], then one that counts the rest.
pub fn receipts(entries: &[FeedEntry]) -> Vec<Receipt> {
    let mut out: Vec<Receipt> = entries
        .iter()
        .take(AT_ONCE)
        .map(|e| Receipt { title: title(e.event).into(), body: sharelock::history::describe(e) })
        .collect();
    if entries.len() > AT_ONCE {
        let rest = entries.len() - AT_ONCE;
        out.push(Receipt {
            title: "Sharelock".into(),
            body: format!("…and {rest} more: each link's history in Sharelock shows them"),
        });
    }
    out
}
