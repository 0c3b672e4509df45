//! The headers that describe what a download sends, the same in every answer about it: its type
//! (by name, never sniffed), the name to save it under, its ETag and its date.
//!
//! A stored file's are made once and kept: formatting and copying them into header values on
//! every request was about 4% of a small GET's CPU (BENCHMARKS.md, sixth pass). A kept head is
//! used only while the file's record still says everything it was made from (name, type, hash,
//! date): a record of the same id made afresh, as `verify --adopt` makes one, gets a head of
//! its own at once.

use std::sync::Arc;

use http::{HeaderMap, HeaderValue, header};
use quick_cache::sync::Cache;

use crate::files::FileRecord;
use crate::{names, store};

/// About how many files' heads are kept (each a few hundred bytes).
const CAPACITY: usize = 4096;

/// What a download answer says about the bytes it sends.
#[derive(Debug)]
pub(super) struct Head {
    content_type: HeaderValue,
    /// `None` for a name no header can carry (`names::content_disposition` escapes every name,
    /// so only a bug could get here; the answer then goes without one, as before).
    disposition: Option<HeaderValue>,
    etag: HeaderValue,
    last_modified: HeaderValue,
}

impl Head {
    /// A stored file's head.
    pub(super) fn of_file(file: &FileRecord) -> Head {
        let content_type =
            HeaderValue::from_str(&file.content_type).unwrap_or(HeaderValue::from_static("application/octet-stream"));
        Head::new(content_type, &file.name, &file.etag(), file.created_at)
    }

    /// A share's zip's head: `etag` from its layout, dated by its newest file.
    pub(super) fn of_zip(name: &str, etag: &str, created_at: i64) -> Head {
        Head::new(HeaderValue::from_static("application/zip"), name, etag, created_at)
    }

    fn new(content_type: HeaderValue, name: &str, etag: &str, created_at: i64) -> Head {
        Head {
            content_type,
            disposition: HeaderValue::from_str(&names::content_disposition(name)).ok(),
            etag: HeaderValue::from_str(etag).unwrap_or(HeaderValue::from_static("\"\"")),
            last_modified: HeaderValue::from_str(&httpdate::fmt_http_date(store::committed_mtime(created_at)))
                .unwrap_or(HeaderValue::from_static("")),
        }
    }

    /// The entity tag, as sent (`"…"`), for comparing with a request's.
    pub(super) fn etag(&self) -> &[u8] {
        self.etag.as_bytes()
    }

    /// The HTTP date of Last-Modified, as sent, for comparing with an If-Range.
    pub(super) fn last_modified(&self) -> &[u8] {
        self.last_modified.as_bytes()
    }

    /// The type and the name to save under, with `nosniff`.
    pub(super) fn describe(&self, headers: &mut HeaderMap) {
        headers.insert(header::CONTENT_TYPE, self.content_type.clone());
        if let Some(disposition) = &self.disposition {
            headers.insert(header::CONTENT_DISPOSITION, disposition.clone());
        }
        headers.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    }

    /// ETag and Last-Modified, which a 304 and a 412 carry too.
    pub(super) fn set_validators(&self, headers: &mut HeaderMap) {
        headers.insert(header::ETAG, self.etag.clone());
        headers.insert(header::LAST_MODIFIED, self.last_modified.clone());
    }
}

/// Stored files' heads, by file id.
pub(super) struct Heads {
    cache: Cache<Box<str>, Arc<Kept>>,
}

/// A head and the parts of the file's record it was made from.
struct Kept {
    name: Box<str>,
    content_type: Box<str>,
    sha256: Box<str>,
    created_at: i64,
    head: Arc<Head>,
}

impl Kept {
    fn made_from(&self, file: &FileRecord) -> bool {
        *self.name == *file.name
            && *self.content_type == *file.content_type
            && *self.sha256 == *file.sha256
            && self.created_at == file.created_at
    }
}

impl Default for Heads {
    fn default() -> Self {
        Heads { cache: Cache::new(CAPACITY) }
    }
}

impl Heads {
    /// `file`'s head: the kept one while it was made from this record, else made now.
    pub(super) fn of(&self, file: &FileRecord) -> Arc<Head> {
        if let Some(kept) = self.cache.get(file.id.as_str())
            && kept.made_from(file)
        {
            return kept.head.clone();
        }
        let head = Arc::new(Head::of_file(file));
        let kept = Kept {
            name: file.name.as_str().into(),
            content_type: file.content_type.as_str().into(),
            sha256: file.sha256.as_str().into(),
            created_at: file.created_at,
            head,
        };
        let head = kept.head.clone();
        self.cache.insert(file.id.as_str().into(), Arc::new(kept));
        head
    }
}

impl std::fmt::Debug for Heads {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Heads").field("kept", &self.cache.len()).finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(name: &str) -> FileRecord {
        FileRecord {
            id: "f1".into(),
            name: name.into(),
            size: 5,
            sha256: "a".repeat(64),
            content_type: "text/plain".into(),
            created_at: 1_700_000_000,
            public: false,
            slot_id: None,
            uploader_name: None,
            uploader_message: None,
            upload_id: None,
            crc32: None,
            path: None,
        }
    }

    fn headers(head: &Head) -> HeaderMap {
        let mut headers = HeaderMap::new();
        head.describe(&mut headers);
        head.set_validators(&mut headers);
        headers
    }

    #[test]
    fn a_kept_head_is_the_one_made_afresh() {
        let heads = Heads::default();
        let first = heads.of(&file("report.pdf"));
        let again = heads.of(&file("report.pdf"));
        assert!(Arc::ptr_eq(&first, &again), "the second answer makes nothing");
        assert_eq!(headers(&again), headers(&Head::of_file(&file("report.pdf"))));
        let h = headers(&again);
        assert_eq!(h[header::ETAG], format!("\"{}\"", "a".repeat(32)).as_str());
        assert_eq!(h[header::LAST_MODIFIED], "Tue, 14 Nov 2023 22:13:20 GMT");
        assert_eq!(h[header::CONTENT_TYPE], "text/plain");
        assert!(h[header::CONTENT_DISPOSITION].to_str().unwrap().contains("report.pdf"));
    }

    #[test]
    fn a_record_made_afresh_for_the_same_id_gets_a_head_of_its_own() {
        let heads = Heads::default();
        heads.of(&file("old.txt"));
        let renamed = heads.of(&file("new.txt"));
        assert!(renamed.disposition.as_ref().unwrap().to_str().unwrap().contains("new.txt"));
        let mut retyped = file("new.txt");
        retyped.content_type = "application/pdf".into();
        assert_eq!(headers(&heads.of(&retyped))[header::CONTENT_TYPE], "application/pdf");
        let mut rehashed = retyped.clone();
        rehashed.sha256 = "b".repeat(64);
        assert_eq!(headers(&heads.of(&rehashed))[header::ETAG], format!("\"{}\"", "b".repeat(32)).as_str());
        let mut redated = rehashed.clone();
        redated.created_at += 1;
        assert_eq!(headers(&heads.of(&redated))[header::LAST_MODIFIED], "Tue, 14 Nov 2023 22:13:21 GMT");
    }
}
