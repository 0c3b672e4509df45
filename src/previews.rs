//! Previews of a link's files on its landing page: which files have one, of what kind, and how
//! much of a file a preview may show.
//!
//! A file's kind is decided from its content (sniffed by `infer`) AND its name, never from the
//! name alone: a `.png` whose bytes are HTML gets no image preview, and a PNG named `.txt` is
//! not shown as an image. SVG never has a preview: it can carry script, so it is only ever an
//! attachment. Text is always served as `text/plain`, so HTML in it is shown as its source.
//!
//! A preview never counts as a download, so what it shows is capped at [`PREVIEW_BYTES`]: more
//! would make "preview" an uncounted way to fetch a large file whole.

use std::io::Read;

use crate::Result;
use crate::files::FileRecord;
use crate::vault::Vault;

/// The most of a file a preview exposes, 8 MiB. A preview is not a download: it is not counted
/// and draws on no byte budget, so a recipient can read this much of every file of a link
/// without using up a limited link. Enough for a photo, a document's PDF or the first minutes
/// of a compressed video; audio and video longer than this are cut (the player plays the
/// beginning), images and PDFs larger than this have no inline preview.
pub const PREVIEW_BYTES: u64 = 8 * 1024 * 1024;

/// The most of a text file a preview shows, 64 KiB: a page or two of reading, not the file.
pub const TEXT_BYTES: u64 = 64 * 1024;

/// How much of a file is read to decide its kind: every signature `infer` knows, and enough
/// text to tell it from binary.
const SNIFF_BYTES: usize = 4096;

/// What kind of preview a file gets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// A PNG, JPEG, GIF or WebP image (never SVG).
    Image,
    /// A PDF, shown by the browser's own viewer.
    Pdf,
    /// Audio, played from its beginning.
    Audio,
    /// Video, played from its beginning.
    Video,
    /// UTF-8 text, shown as plain text.
    Text,
}

/// A file's preview: its kind, the media type it is served as, and how many bytes of the file
/// it exposes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Preview {
    /// Its kind.
    pub kind: Kind,
    /// The type it is served as: the sniffed type, or `text/plain; charset=utf-8` for text.
    pub content_type: &'static str,
    /// The bytes it exposes, from the file's start: the whole file, or the cap.
    pub len: u64,
    /// Whether that is less than the whole file.
    pub cut: bool,
}

/// Raster images a browser shows inline and `infer` recognises.
const IMAGES: &[&str] = &["image/png", "image/jpeg", "image/gif", "image/webp"];

/// Types, by name, that are text though not `text/*`.
const TEXT_TYPES: &[&str] =
    &["application/json", "application/xml", "application/javascript", "application/toml", "application/x-sh"];

/// The preview of a file whose name says `named` (its media type by name) and whose first bytes
/// are `head`, `size` bytes in all; `None` when it has none.
pub fn preview_of(named: &str, head: &[u8], size: u64) -> Option<Preview> {
    let named = named.split(';').next().unwrap_or_default().trim().to_ascii_lowercase();
    if named == "image/svg+xml" || size == 0 {
        return None;
    }
    let sniffed = infer::get(head).filter(|t| t.matcher_type() != infer::MatcherType::Text).map(|t| t.mime_type());
    let family = |t: &str| t.split('/').next().unwrap_or_default().to_string();
    let (kind, content_type) = match sniffed {
        Some(t) if IMAGES.contains(&t) && IMAGES.contains(&named.as_str()) => (Kind::Image, t),
        Some("application/pdf") if named == "application/pdf" => (Kind::Pdf, "application/pdf"),
        // Containers are named for either (`.m4a` sniffs as MP4 video): the name says which.
        Some(t) if matches!(family(t).as_str(), "audio" | "video") && family(&named) == "audio" => (Kind::Audio, t),
        Some(t) if matches!(family(t).as_str(), "audio" | "video") && family(&named) == "video" => (Kind::Video, t),
        None if (named.starts_with("text/") || TEXT_TYPES.contains(&named.as_str())) && is_text(head) => {
            (Kind::Text, "text/plain; charset=utf-8")
        }
        _ => return None,
    };
    let cap = if kind == Kind::Text { TEXT_BYTES } else { PREVIEW_BYTES };
    if matches!(kind, Kind::Image | Kind::Pdf) && size > cap {
        // Half an image or half a PDF is no preview: the thumbnail stands in.
        return None;
    }
    Some(Preview { kind, content_type, len: size.min(cap), cut: size > cap })
}

/// Whether `head` reads as UTF-8 text: no NUL, and valid UTF-8 up to a character cut at its end.
fn is_text(head: &[u8]) -> bool {
    if head.contains(&0) {
        return false;
    }
    match std::str::from_utf8(head) {
        Ok(_) => true,
        Err(e) => e.error_len().is_none(),
    }
}

impl Vault {
    /// The preview of a stored file, from its first bytes and its name. Blocking.
    pub fn preview(&self, file: &FileRecord) -> Result<Option<Preview>> {
        let mut head = Vec::with_capacity(SNIFF_BYTES);
        let path = self.store().path_of(&file.id);
        std::fs::File::open(&path)
            .and_then(|f| f.take(SNIFF_BYTES as u64).read_to_end(&mut head))
            .map_err(|e| crate::Error::io(format!("cannot read {}", path.display()), e))?;
        Ok(preview_of(&file.content_type, &head, file.size))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const PNG: &[u8] = b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR";

    #[test]
    fn kinds_need_content_and_name_to_agree() {
        assert_eq!(preview_of("image/png", PNG, 100).map(|p| p.kind), Some(Kind::Image));
        // A PNG named as text, and HTML named as a PNG: neither is an image.
        assert_eq!(preview_of("text/plain", PNG, 100), None);
        assert_eq!(preview_of("image/png", b"<html><script>", 100), None);
        assert_eq!(preview_of("application/pdf", b"%PDF-1.7\n", 100).map(|p| p.kind), Some(Kind::Pdf));
    }

    #[test]
    fn svg_never_has_a_preview() {
        assert_eq!(preview_of("image/svg+xml", b"<svg xmlns='http://www.w3.org/2000/svg'>", 100), None);
    }

    #[test]
    fn text_is_plain_and_capped() {
        let p = preview_of("text/html", b"<h1>hi</h1>", 100_000).unwrap();
        assert_eq!((p.kind, p.content_type, p.len, p.cut), (Kind::Text, "text/plain; charset=utf-8", TEXT_BYTES, true));
        assert_eq!(preview_of("text/plain", b"a\0b", 3), None);
        // A character cut by the end of the head is still text.
        assert!(preview_of("text/plain", "é".as_bytes().get(..1).unwrap(), 2).is_some());
    }

    #[test]
    fn large_media_is_cut_and_large_images_have_none() {
        let mp4 = b"\0\0\0\x18ftypmp42\0\0\0\0mp42isom";
        let video = preview_of("video/mp4", mp4, 20 * 1024 * 1024).unwrap();
        assert_eq!((video.kind, video.len, video.cut), (Kind::Video, PREVIEW_BYTES, true));
        assert_eq!(preview_of("image/png", PNG, PREVIEW_BYTES + 1), None);
    }
}
