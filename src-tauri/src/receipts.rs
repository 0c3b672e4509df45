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

#[cfg(test)]
mod tests {

    use sharelock::history::{Happened, Record};
    use sharelock::vault::{LinkEdit, NewLink};

    use super::*;

    /// A completed download of `link` by one client, as the server records it.
    fn downloaded(vault: &Vault, link: &str, file: &str, client: &str) {
        let record = Record {
            at: sharelock::time::now(),
            client: Some(client.parse().unwrap()),
            user_agent: Some("curl/8.5.0".into()),
            what: Happened::Fetched {
                link_id: Some(link.into()),
                file_id: file.into(),
                range: false,
                completed: true,
                bytes: 5,
            },
        };
        vault.record_history(&[], &[record], sharelock::time::now()).unwrap();
    }

    #[test]
    fn receipts_start_at_the_end_never_repeat_and_keep_quiet_links_and_the_switch_quiet() {
        let dir = tempfile::tempdir().unwrap();
        let vault = Vault::open(&dir.path().join("data")).unwrap();
        let source = dir.path().join("contract.pdf");
        std::fs::write(&source, b"hello").unwrap();
        let file = Manage::add_file(&vault, &source, false, &mut |_| {}).unwrap().file.id;
        let new = NewLink { label: Some("Dana".into()), ..NewLink::default() };
        let link = Manage::create_link(&vault, &file, new, None).unwrap().link.id;

        // Followed for the first time: what happened before is not news.
        downloaded(&vault, &link, &file, "192.0.2.1");
        assert_eq!(since_last(&vault, &vault, None).unwrap(), vec![]);
        downloaded(&vault, &link, &file, "192.0.2.2");
        let receipts = since_last(&vault, &vault, None).unwrap();
        let want = Receipt { title: "Downloaded".into(), body: "contract.pdf was downloaded (for Dana)".into() };
        assert_eq!(receipts, vec![want]);
        // Read again (a restart reads the same kept cursor): nothing twice.
        assert_eq!(since_last(&vault, &vault, None).unwrap(), vec![]);

        // A quiet link, then the global switch: recorded, not notified, and not kept for later.
        Manage::edit_link(&vault, &link, LinkEdit { notify: Some(false), ..LinkEdit::default() }).unwrap();
        downloaded(&vault, &link, &file, "192.0.2.3");
        assert_eq!(since_last(&vault, &vault, None).unwrap(), vec![]);
        Manage::edit_link(&vault, &link, LinkEdit { notify: Some(true), ..LinkEdit::default() }).unwrap();
        vault.set_setting(sharelock::settings::NOTIFY_DOWNLOADS, Some("off")).unwrap();
        downloaded(&vault, &link, &file, "192.0.2.4");
        assert_eq!(since_last(&vault, &vault, None).unwrap(), vec![]);
        vault.set_setting(sharelock::settings::NOTIFY_DOWNLOADS, Some("on")).unwrap();
        assert_eq!(since_last(&vault, &vault, None).unwrap(), vec![], "no old news once back on");

        // Many at once (the background service served while the window was closed): three,
        // then one that counts the rest.
        for n in 5..10 {
            downloaded(&vault, &link, &file, &format!("192.0.2.{n}"));
        }
        let receipts = since_last(&vault, &vault, None).unwrap();
        assert_eq!(receipts.len(), 4, "{receipts:?}");
        assert_eq!(receipts[3].body, "…and 2 more: each link's history in Sharelock shows them");
        // Each Sharelock has its own cursor: a server seen for the first time starts at its end.
        assert_eq!(since_last(&vault, &vault, Some("https://share.example.org")).unwrap(), vec![]);
    }
}
