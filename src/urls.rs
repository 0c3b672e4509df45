//! The shapes of Sharelock's URLs, in one place: this module builds them, gives the router its
//! patterns, and hides their signatures for the log. A new route or a changed shape is changed
//! here, and every builder, pattern and redaction follows.
//!
//! | shape | what |
//! |---|---|
//! | `/d/{link}/{sig}[/{name}]` | a file through a signed link, or a share's zip; the name is cosmetic |
//! | `/f/{link}/{sig}/{file}[/{name}]` | one file of a share, signed by the share's link |
//! | `/l/{link}/{sig}` | the link's landing page |
//! | `/v/{link}/{sig}/{file}` | the inline preview of one file of a link (see `previews`) |
//! | `/t/{link}/{sig}/{file}` | the thumbnail of one file of a link |
//! | `/p/{file}[/{name}]` | a public file |
//! | `/u/{slot}?sig=` (and `/u/{slot}/{name}?sig=` or `/u/{slot}/sub/dir/name?sig=` for PUT) | a slot's upload page and target |
//! | `/assets/{name}` | the pages' stylesheet, script and icon |
//! | `/.well-known/sharelock-reach/{nonce}` | the answer to a reachability check (`reach::probe`) |
//!
//! Link signatures travel in the path, so the access log replaces them with `…` (in `/d/`, `/f/`,
//! `/l/`, `/v/` and `/t/` alike); slot signatures
//! travel in the query string, which is never logged.

use crate::names;

/// Router patterns (axum's syntax).
pub mod pattern {
    /// A file through a signed link.
    pub const LINK_FILE: &str = "/d/{link}/{sig}";
    /// The same, with the cosmetic name `wget` and `curl -O` save under.
    pub const LINK_FILE_NAMED: &str = "/d/{link}/{sig}/{*name}";
    /// One file of a share.
    pub const SHARE_FILE: &str = "/f/{link}/{sig}/{file}";
    /// The same, with the cosmetic name.
    pub const SHARE_FILE_NAMED: &str = "/f/{link}/{sig}/{file}/{*name}";
    /// The preview of one file of a link.
    pub const PREVIEW: &str = "/v/{link}/{sig}/{file}";
    /// The thumbnail of one file of a link.
    pub const THUMBNAIL: &str = "/t/{link}/{sig}/{file}";
    /// A link's landing page.
    pub const LANDING: &str = "/l/{link}/{sig}";
    /// A public file.
    pub const PUBLIC_FILE: &str = "/p/{file}";
    /// The same, with the cosmetic name.
    pub const PUBLIC_FILE_NAMED: &str = "/p/{file}/{*name}";
    /// A slot's upload page (GET) and form target (POST).
    pub const SLOT: &str = "/u/{slot}";
    /// A raw upload into a slot (PUT).
    pub const SLOT_FILE: &str = "/u/{slot}/{*name}";
    /// The pages' assets.
    pub const ASSET: &str = "/assets/{name}";
    /// A reachability check's request.
    pub const REACH: &str = "/.well-known/sharelock-reach/{nonce}";
}

/// A reachability check's request: `{base}/.well-known/sharelock-reach/{nonce}`.
pub fn reach(base: &str, nonce: &str) -> String {
    format!("{base}/.well-known/sharelock-reach/{nonce}")
}

/// A file through a signed link: `{base}/d/{link}/{sig}/{name}`.
pub fn link_file(base: &str, link_id: &str, sig: &str, name: &str) -> String {
    format!("{base}/d/{link_id}/{sig}/{}", names::url_segment(name))
}

/// One file of a share: `{base}/f/{link}/{sig}/{file}/{name}`, signed by the share's link.
pub fn share_file(base: &str, link_id: &str, sig: &str, file_id: &str, name: &str) -> String {
    format!("{base}/f/{link_id}/{sig}/{file_id}/{}", names::url_segment(name))
}

/// A file of a share from its landing page, relative (see [`link_file_from_landing`]).
pub fn share_file_from_landing(link_id: &str, sig: &str, file_id: &str, name: &str) -> String {
    share_file("../..", link_id, sig, file_id, name)
}

/// The name a share's zip is saved under: its name, `.zip` added.
pub fn zip_name(share_name: &str) -> String {
    format!("{share_name}.zip")
}

/// A link's landing page: `{base}/l/{link}/{sig}`.
pub fn landing(base: &str, link_id: &str, sig: &str) -> String {
    format!("{base}/l/{link_id}/{sig}")
}

/// The folder of a link's file URLs, `{base}/d/{link}/{sig}`: the path a password link's
/// unlock cookie is scoped to (with the landing page's).
pub fn link_file_dir(base: &str, link_id: &str, sig: &str) -> String {
    format!("{base}/d/{link_id}/{sig}")
}

/// The folder of a share's per-file URLs, `{base}/f/{link}/{sig}`: a password share's unlock
/// cookie is scoped to it too.
pub fn share_file_dir(base: &str, link_id: &str, sig: &str) -> String {
    format!("{base}/f/{link_id}/{sig}")
}

/// The folder of a link's previews, `{base}/v/{link}/{sig}`: a password link's unlock cookie is
/// scoped to it too.
pub fn preview_dir(base: &str, link_id: &str, sig: &str) -> String {
    format!("{base}/v/{link_id}/{sig}")
}

/// The folder of a link's thumbnails, `{base}/t/{link}/{sig}`: a password link's unlock cookie
/// is scoped to it too.
pub fn thumbnail_dir(base: &str, link_id: &str, sig: &str) -> String {
    format!("{base}/t/{link_id}/{sig}")
}

/// The preview of a link's file from its landing page, relative: `../../v/{link}/{sig}/{file}`.
pub fn preview_from_landing(link_id: &str, sig: &str, file_id: &str) -> String {
    format!("{}/{file_id}", preview_dir("../..", link_id, sig))
}

/// The thumbnail of a link's file from its landing page, relative: `../../t/{link}/{sig}/{file}`.
pub fn thumbnail_from_landing(link_id: &str, sig: &str, file_id: &str) -> String {
    format!("{}/{file_id}", thumbnail_dir("../..", link_id, sig))
}

/// The landing page's Download button: the file's URL relative to the landing page, so it keeps
/// working behind a path prefix.
pub fn link_file_from_landing(link_id: &str, sig: &str, name: &str) -> String {
    link_file("../..", link_id, sig, name)
}

/// A public file: `{base}/p/{file}/{name}`.
pub fn public_file(base: &str, file_id: &str, name: &str) -> String {
    format!("{base}/p/{file_id}/{}", names::url_segment(name))
}

/// A slot's upload page and target: `{base}/u/{slot}?sig={sig}`.
pub fn slot(base: &str, slot_id: &str, sig: &str) -> String {
    format!("{base}/u/{slot_id}?sig={sig}")
}

/// The way from a page served at `path` to the assets folder, relative (`../../assets/` from
/// `/l/{link}/{sig}`), so pages keep working behind a path prefix.
pub fn assets_from(path: &str) -> String {
    let depth = path.matches('/').count().saturating_sub(1);
    format!("{}assets/", "../".repeat(depth))
}

/// `path` as the access log shows it: the signature of `/d/…`, `/f/…`, `/l/…`, `/v/…` and `/t/…`
/// replaced with `…`.
pub fn redact(path: &str) -> String {
    // One copy, no list of parts: this runs for every request the server answers.
    let mut parts = path.splitn(5, '/');
    let (Some(""), Some(kind @ ("d" | "f" | "l" | "v" | "t")), Some(id), Some(_signature)) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return path.to_string();
    };
    // Sized once: `format!` guessed short and grew the string, a tenth of a microsecond.
    let mut redacted = String::with_capacity(path.len() + "…".len());
    for part in ["/", kind, "/", id, "/…"] {
        redacted.push_str(part);
    }
    if let Some(rest) = parts.next() {
        redacted.push('/');
        redacted.push_str(rest);
    }
    redacted
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builds_each_shape() {
        assert_eq!(link_file("http://h", "l1", "SIG", "a b.pdf"), "http://h/d/l1/SIG/a%20b.pdf");
        assert_eq!(landing("http://h/x", "l1", "SIG"), "http://h/x/l/l1/SIG");
        assert_eq!(link_file_from_landing("l1", "SIG", "a.pdf"), "../../d/l1/SIG/a.pdf");
        assert_eq!(public_file("http://h", "f1", "a.pdf"), "http://h/p/f1/a.pdf");
        assert_eq!(slot("http://h", "s1", "SIG"), "http://h/u/s1?sig=SIG");
        assert_eq!(reach("http://h", "n1"), "http://h/.well-known/sharelock-reach/n1");
        assert_eq!(share_file("http://h", "l1", "SIG", "f1", "a b.pdf"), "http://h/f/l1/SIG/f1/a%20b.pdf");
        assert_eq!(share_file_from_landing("l1", "SIG", "f1", "a.pdf"), "../../f/l1/SIG/f1/a.pdf");
        assert_eq!(preview_from_landing("l1", "SIG", "f1"), "../../v/l1/SIG/f1");
        assert_eq!(thumbnail_from_landing("l1", "SIG", "f1"), "../../t/l1/SIG/f1");
    }

    #[test]
    fn assets_are_reached_relatively() {
        assert_eq!(assets_from("/l/abc/SIG"), "../../assets/");
        assert_eq!(assets_from("/d/abc/SIG/name.pdf"), "../../../assets/");
        assert_eq!(assets_from("/u/abc"), "../assets/");
    }

    #[test]
    fn redacts_signatures() {
        assert_eq!(redact("/d/abc/SIGNATURE/file.txt"), "/d/abc/…/file.txt");
        assert_eq!(redact("/l/abc/SIGNATURE"), "/l/abc/…");
        assert_eq!(redact("/f/abc/SIGNATURE/f1/x"), "/f/abc/…/f1/x");
        assert_eq!(redact("/v/abc/SIGNATURE/f1"), "/v/abc/…/f1");
        assert_eq!(redact("/t/abc/SIGNATURE/f1"), "/t/abc/…/f1");
        assert_eq!(redact("/u/abc"), "/u/abc");
        assert_eq!(redact("/p/abc/x"), "/p/abc/x");
        assert_eq!(redact("/d/abc/SIGNATURE/"), "/d/abc/…/");
        assert_eq!(redact("/d/abc/"), "/d/abc/…");
        assert_eq!(redact("/d/abc"), "/d/abc");
        assert_eq!(redact("/"), "/");
        assert_eq!(redact("/d/abc/SIG/a/b/c"), "/d/abc/…/a/b/c");
    }
}
