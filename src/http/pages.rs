//! The few HTML pages recipients see: a link's landing page, a slot's upload page, the page
//! after a no-JavaScript upload, and error pages. No external resources: one stylesheet and one
//! script served by this server, under a strict Content-Security-Policy.

use crate::files::FileRecord;
use crate::links::Link;
use crate::previews::{self, Kind};
use crate::slots::Slot;
use crate::time::{relative, rfc3339};
use crate::units::format_size;

/// The Content-Security-Policy of every page: nothing but this server's own CSS and script, and
/// (on a landing page) its own sandboxed previews as images, media and frames.
pub const CSP: &str = "default-src 'none'; style-src 'self'; script-src 'self'; img-src 'self'; connect-src 'self'; \
                       media-src 'self'; frame-src 'self'; form-action 'self'; base-uri 'none'; \
                       frame-ancestors 'none'";

/// A file's preview on a landing page: its kind, its URL (`/v/…`, relative), and whether it is
/// cut at the cap.
#[derive(Debug, Clone)]
pub struct PreviewLink {
    /// What the preview is.
    pub kind: Kind,
    /// Its URL from the page.
    pub href: String,
    /// Whether it shows only the file's beginning.
    pub cut: bool,
}

/// What a share's landing page shows of one file besides its download: its thumbnail and its
/// preview, when it has them.
#[derive(Debug, Clone, Default)]
pub struct FileExtras {
    /// Its thumbnail's URL from the page (`/t/…`).
    pub thumbnail: Option<String>,
    /// Its preview.
    pub preview: Option<PreviewLink>,
}

/// What a preview that shows only the beginning of its file says about it.
fn cut_words(preview: &PreviewLink) -> String {
    let shown = if preview.kind == Kind::Text { previews::TEXT_BYTES } else { previews::PREVIEW_BYTES };
    // Whole units ("8 MiB", "64 KiB"), as the caps are written everywhere else.
    let shown = match shown {
        n if n % (1024 * 1024) == 0 => format!("{} MiB", n / (1024 * 1024)),
        n if n % 1024 == 0 => format!("{} KiB", n / 1024),
        n => format_size(n),
    };
    format!("Preview shows the first {shown}")
}

/// A single file's preview, above its Download button: the element that shows it, from `/v/`.
fn preview_block(preview: &PreviewLink, name: &str) -> String {
    let href = escape(&preview.href);
    let name = escape(name);
    let element = match preview.kind {
        Kind::Image => format!(r#"<img id="preview" class="preview" src="{href}" alt="{name}">"#),
        Kind::Video => {
            format!(r#"<video id="preview" class="preview" src="{href}" controls preload="metadata"></video>"#)
        }
        Kind::Audio => {
            format!(r#"<audio id="preview" class="preview" src="{href}" controls preload="metadata"></audio>"#)
        }
        Kind::Pdf | Kind::Text => {
            let class = if preview.kind == Kind::Pdf { "preview preview-pdf" } else { "preview preview-text" };
            format!(r#"<iframe id="preview" class="{class}" src="{href}" title="Preview of {name}"></iframe>"#)
        }
    };
    let note = match preview.cut {
        true => format!("<p class=\"muted preview-cut\">{}.</p>\n", cut_words(preview)),
        false => String::new(),
    };
    format!("<figure class=\"preview-box\">{element}</figure>\n{note}")
}

/// The Open Graph and Twitter tags chat apps draw a pasted link's card from.
fn open_graph(title: &str, description: &str) -> String {
    format!(
        r#"<meta property="og:type" content="website">
<meta property="og:title" content="{title}">
<meta property="og:description" content="{description} · shared privately with Sharelock">
<meta property="og:site_name" content="Sharelock">
<meta name="twitter:card" content="summary">
"#,
        title = escape(title),
        description = escape(description),
    )
}

/// Escapes text for HTML element content and quoted attribute values.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            _ => out.push(c),
        }
    }
    out
}

/// `assets` is the relative path from the page to `/assets/` (pages are served under different
/// depths, and a base URL may carry a path prefix, so links stay relative).
fn layout(title: &str, assets: &str, body: &str, script: bool) -> String {
    layout_with_meta(title, assets, "", body, script)
}

/// [`layout`], with extra `<meta>` elements (already escaped) in the head.
fn layout_with_meta(title: &str, assets: &str, meta: &str, body: &str, script: bool) -> String {
    let script = if script { format!(r#"<script src="{assets}upload.js" defer></script>"#) } else { String::new() };
    format!(
        r#"<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="referrer" content="no-referrer">
{meta}<title>{title} · Sharelock</title>
<link rel="icon" href="{assets}icon.svg" type="image/svg+xml">
<link rel="stylesheet" href="{assets}style.css">
{script}
</head>
<body>
<main>
<div class="card">
<p class="brand"><img src="{assets}icon.svg" alt="">Sharelock</p>
{body}
</div>
<footer>Shared privately with Sharelock</footer>
</main>
</body>
</html>
"#,
        title = escape(title)
    )
}

/// A link's landing page: the file, its size, expiry, downloads left and a Download button.
/// `assets` is the relative path to `/assets/` from where it is served (see [`layout`]). Its
/// Open Graph tags are what chat apps show when the link is pasted (and what their crawlers get
/// instead of the file, see `download::is_link_preview`). `preview`, if any, is shown above the
/// Download button.
pub fn landing(
    file: &FileRecord,
    link: &Link,
    download_href: &str,
    preview: Option<&PreviewLink>,
    assets: &str,
    now: i64,
) -> String {
    let expiry = match link.expires_at {
        Some(t) => format!(r#"<time datetime="{}">{}</time>"#, rfc3339(t), relative(t, now)),
        None => "never".into(),
    };
    let left = match link.downloads_left() {
        Some(n) => n.to_string(),
        None => "unlimited".into(),
    };
    let body = format!(
        r#"<h1 id="file-name">{name}</h1>
<p class="muted">Someone shared this file with you.</p>
<dl class="facts">
<dt>Size</dt><dd id="file-size">{size}</dd>
<dt>Type</dt><dd>{ctype}</dd>
<dt>Link expires</dt><dd id="expires">{expiry}</dd>
<dt>Downloads left</dt><dd id="downloads-left">{left}</dd>
<dt>SHA-256</dt><dd><code>{sha}</code></dd>
</dl>
{preview}<a class="button" id="download" href="{href}" download>Download</a>"#,
        name = escape(&file.name),
        size = format_size(file.size),
        ctype = escape(&file.content_type),
        sha = escape(&file.sha256),
        href = escape(download_href),
        preview = preview.map(|p| preview_block(p, &file.name)).unwrap_or_default(),
    );
    let meta = open_graph(&file.name, &format_size(file.size));
    layout_with_meta(&file.name, assets, &meta, &body, false)
}

/// A share's landing page: its name, its files (name, size, SHA-256 and a download each, from
/// `file_hrefs` in the same order; none for a crawler's preview), each file's thumbnail and
/// preview link from `extras` (same order; empty for none), and "Download all (.zip)".
pub fn share_landing(
    files: &[FileRecord],
    link: &Link,
    zip_href: &str,
    file_hrefs: &[String],
    extras: &[FileExtras],
    assets: &str,
    now: i64,
) -> String {
    let name = link.name.as_deref().unwrap_or_default();
    let total: u64 = files.iter().map(|f| f.size).sum();
    let expiry = match link.expires_at {
        Some(t) => format!(r#"<time datetime="{}">{}</time>"#, rfc3339(t), relative(t, now)),
        None => "never".into(),
    };
    let left = match link.downloads_left() {
        Some(n) => n.to_string(),
        None => "unlimited".into(),
    };
    let rows: String = files
        .iter()
        .enumerate()
        .map(|(i, f)| {
            let download = match file_hrefs.get(i) {
                Some(href) => format!(r#"<a class="share-download" href="{}" download>Download</a>"#, escape(href)),
                None => String::new(),
            };
            let extra = extras.get(i).cloned().unwrap_or_default();
            let thumbnail = match &extra.thumbnail {
                Some(src) => format!(r#"<img class="share-thumb" src="{}" alt="" loading="lazy">"#, escape(src)),
                None => String::new(),
            };
            let preview = match &extra.preview {
                Some(p) => {
                    let title = if p.cut { cut_words(p) } else { "Open a preview in a new tab".into() };
                    format!(
                        r#"<a class="share-preview" href="{}" target="_blank" rel="noopener noreferrer" title="{title}">Preview</a> "#,
                        escape(&p.href)
                    )
                }
                None => String::new(),
            };
            format!(
                r#"<li class="share-file">{thumbnail}<div class="share-text"><span class="share-name">{}</span> <span class="muted share-size">{}</span> {download}{preview}<br><code class="share-sha">{}</code></div></li>
"#,
                escape(&f.name),
                format_size(f.size),
                escape(&f.sha256),
            )
        })
        .collect();
    let body = format!(
        r#"<h1 id="share-name">{title}</h1>
<p class="muted">Someone shared {count} files with you.</p>
<dl class="facts">
<dt>Files</dt><dd id="file-count">{count}</dd>
<dt>Total size</dt><dd id="total-size">{total}</dd>
<dt>Link expires</dt><dd id="expires">{expiry}</dd>
<dt>Downloads left</dt><dd id="downloads-left">{left}</dd>
</dl>
<ul id="share-files" class="share-files">
{rows}</ul>
<a class="button" id="download" href="{href}" download>Download all (.zip)</a>"#,
        title = escape(name),
        count = files.len(),
        total = format_size(total),
        href = escape(zip_href),
    );
    let meta = open_graph(name, &format!("{} files, {}", files.len(), format_size(total)));
    layout_with_meta(name, assets, &meta, &body, false)
}

/// A password link's landing page before the password is given: a form that posts it back to
/// the page's own URL (no `action`), and nothing about the file. `message` says why it is shown
/// again (a wrong password, too many).
pub fn password(message: Option<&str>, assets: &str) -> String {
    let message = match message {
        Some(m) => format!(r#"<p class="refused" id="password-error" role="alert">{}</p>"#, escape(m)),
        None => String::new(),
    };
    let body = format!(
        r#"<h1>Password required</h1>
<p class="muted">Someone shared a file with you and protected it with a password.</p>
{message}
<form id="unlock" method="post">
<label for="password">Password</label>
<input type="password" id="password" name="password" autocomplete="current-password" required autofocus>
<div class="actions"><button type="submit" id="open">Open</button></div>
</form>"#
    );
    layout("Password required", assets, &body, false)
}

/// A slot's upload page: a multipart form that works without JavaScript, enhanced by
/// `upload.js` with drag and drop and per-file progress.
pub fn upload(slot: &Slot, action: &str, now: i64) -> String {
    let files_left = slot.max_files.saturating_sub(slot.claimed_files);
    let label = match &slot.label {
        Some(l) => format!(r#"<p id="label">{}</p>"#, escape(l)),
        None => String::new(),
    };
    let accept_attr = match &slot.accept {
        Some(list) => format!(r#" accept="{}""#, escape(&list.entries().join(","))),
        None => String::new(),
    };
    let accept_fact = match &slot.accept {
        Some(list) => format!("<dt>Accepted types</dt><dd>{}</dd>", escape(&list.entries().join(", "))),
        None => String::new(),
    };
    let total_fact = match slot.total_left() {
        Some(left) => format!("<dt>Space left</dt><dd>{}</dd>", format_size(left)),
        None => String::new(),
    };
    let body = format!(
        r#"<h1>Send files</h1>
{label}
<dl class="facts">
<dt>Largest file</dt><dd id="max-size">{max_size}</dd>
<dt>Files left</dt><dd id="files-left">{files_left}</dd>
{total_fact}{accept_fact}
<dt>Open until</dt><dd><time datetime="{expires_iso}">{expires}</time></dd>
</dl>
<form id="upload" method="post" action="{action}" enctype="multipart/form-data">
<label for="name">Your name <span class="muted">(optional)</span></label>
<input type="text" id="name" name="name" maxlength="200" autocomplete="name">
<label for="message">Message <span class="muted">(optional)</span></label>
<textarea id="message" name="message" maxlength="2000"></textarea>
<div class="drop" id="drop">
<label for="file">Choose files <span class="muted">or drop them here, folders too</span></label>
<input type="file" id="file" name="file" multiple required{accept_attr}>
<div id="folder-choice" hidden><label for="folder">Choose a folder</label>
<input type="file" id="folder" webkitdirectory multiple></div>
</div>
<ul class="files" id="list"></ul>
<div class="actions"><button type="submit" id="send">Send</button><span id="status" class="muted" role="status" aria-live="polite"></span></div>
</form>"#,
        max_size = format_size(slot.max_size),
        expires_iso = rfc3339(slot.expires_at),
        expires = relative(slot.expires_at, now),
        action = escape(action),
    );
    layout("Send files", "../assets/", &body, true)
}

/// The page after a no-JavaScript upload.
pub fn received(files: &[FileRecord]) -> String {
    let items: String = files
        .iter()
        .map(|f| {
            format!(
                r#"<li><span class="state ok">{}</span><span class="name">{}</span></li>"#,
                format_size(f.size),
                escape(&f.name)
            )
        })
        .collect();
    let body = format!(
        r#"<h1>Thank you</h1>
<p>{} file(s) received.</p>
<ul class="files" id="received">{items}</ul>
<div class="actions"><a class="button" href="">Send more</a></div>"#,
        files.len()
    );
    layout("Files received", "../assets/", &body, false)
}

/// An error page. It leads with what happened, as a sentence ("This link has expired"), then
/// what to do about it; the status and the server's one-line reason are small print.
pub fn error(status: u16, message: &str, assets: &str) -> String {
    let (title, next) = error_words(status, message);
    // Where the heading already is the reason, the small print does not repeat it.
    let fine_print = if title.eq_ignore_ascii_case(message) {
        format!("Error {status}")
    } else {
        format!("Error {status} · {}", escape(message))
    };
    let body = format!(
        r#"<div class="error"><h1 id="what">{title}</h1>
<p id="next">{next}</p>
<p class="fine-print" id="status">{fine_print}</p></div>"#,
        title = escape(&title),
    );
    layout(&title, assets, &body, false)
}

/// The sentence an error page leads with, and the next step it offers.
fn error_words(status: u16, message: &str) -> (String, &'static str) {
    const ASK: &str = "Ask the person who sent it for a new one.";
    let sentence = || {
        let mut chars = message.chars();
        chars.next().map(|first| first.to_uppercase().chain(chars).collect()).unwrap_or_default()
    };
    match status {
        403 => (
            "This link is not valid".into(),
            "It may have been copied only in part. Ask the person who sent it for a new one.",
        ),
        404 => ("There is nothing at this address".into(), ASK),
        410 => (sentence(), ASK),
        413 | 431 => (sentence(), "Send less at once, or ask the person who sent the link for one that takes more."),
        415 => (sentence(), "Send a file of a type this upload link accepts."),
        408 => (sentence(), "Try again on a steadier connection."),
        400 => (sentence(), "Check the address and try again."),
        401 => ("This link needs a password".into(), "Open the link's page to type it, or ask the person who sent it."),
        429 => ("Too many invalid requests".into(), "Wait a moment, then try again."),
        507 => ("The server's disk is full".into(), "Try again later, or tell the person who sent the link."),
        _ => ("Something went wrong on the server".into(), "Try again later."),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_markup() {
        assert_eq!(
            escape(r#"<script>alert("x")</script> & 'y'"#),
            "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; &amp; &#39;y&#39;"
        );
    }
}
