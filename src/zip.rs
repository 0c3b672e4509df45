//! The zip of a share of several files, laid out ahead and streamed from the store.
//!
//! Entries are stored (no compression), and each file's size and CRC-32 are known before its
//! bytes are sent (the CRC-32 is kept at add time, like the SHA-256), so no data descriptor is
//! needed and the whole archive is known from the records alone: its exact length, and which
//! bytes lie at any offset. A request for bytes `[start, end)` walks the [`Layout`], sending
//! headers from memory and file bytes straight from the store. Nothing is built on disk or in
//! memory beyond the headers, and the same share gives the same bytes on every request (fixed
//! timestamps: each file's own date), which is what lets Range and If-Range resume it.
//!
//! Written here because no crate streams a STORE zip with random access: the `zip` and
//! `async_zip` writers append to a sink as they go and cannot say the length or the bytes at
//! an offset ahead, so they could serve neither `Content-Length` nor Range without building the
//! archive first. The format is APPNOTE 6.3.x: local headers, file bytes, central directory,
//! then (when an offset, size or count needs it) the Zip64 end record and locator, and the end
//! of central directory record. Names are UTF-8 (flag bit 11).

use std::io;
use std::path::PathBuf;
use std::sync::Arc;

use bytes::Bytes;
use futures_util::Stream;
use sha2::{Digest, Sha256};
use tokio::io::{AsyncReadExt, AsyncSeekExt};

/// Offsets, sizes and counts at or past this need Zip64 (the 32-bit fields' marker value).
pub const ZIP64_LIMIT: u64 = 0xFFFF_FFFF;
/// Entry counts past this need Zip64 (the 16-bit fields' marker value).
const ZIP64_ENTRIES: u64 = 0xFFFF;
/// Read size for file bytes.
const CHUNK: usize = 256 * 1024;

/// UTF-8 names (general purpose flag bit 11).
const FLAG_UTF8: u16 = 1 << 11;
/// "Version needed to extract": 2.0 for stored entries, 4.5 with Zip64.
const VERSION_PLAIN: u16 = 20;
const VERSION_ZIP64: u16 = 45;
/// "Version made by": Unix (high byte 3), so the external attributes read as a mode.
const MADE_BY: u16 = (3 << 8) | VERSION_ZIP64;
/// `-rw-r--r--`, a regular file, in the high 16 bits of the external attributes.
const EXTERNAL_ATTRIBUTES: u32 = 0o100644 << 16;

/// One file of a share, as its zip entry needs it.
#[derive(Debug, Clone)]
pub struct Entry {
    /// The name inside the archive (see [`unique_names`]).
    pub name: String,
    /// Its bytes in the store.
    pub path: PathBuf,
    /// Size in bytes.
    pub size: u64,
    /// CRC-32 of the bytes.
    pub crc32: u32,
    /// When it was stored (unix seconds): its entry's date, and what its stored copy's
    /// modification time must still be (see [`Piece::File`]).
    pub created_at: i64,
}

/// A stretch of the archive: bytes held in memory (headers, the central directory, the end
/// records) or a stored file.
#[derive(Debug, Clone)]
enum Part {
    Bytes(Bytes),
    File(Arc<Entry>),
}

impl Part {
    fn len(&self) -> u64 {
        match self {
            Part::Bytes(b) => b.len() as u64,
            Part::File(e) => e.size,
        }
    }
}

/// A piece of a requested range: bytes from memory, or `len` bytes of a stored file from `from`.
#[derive(Debug, Clone)]
pub enum Piece {
    /// Bytes already known.
    Bytes(Bytes),
    /// Bytes of a stored file.
    File {
        /// The file.
        entry: Arc<Entry>,
        /// The first byte within the file.
        from: u64,
        /// How many bytes.
        len: u64,
    },
}

/// The whole archive, as offsets: what lies where, without reading any file.
#[derive(Debug, Clone)]
pub struct Layout {
    /// Each part with its offset in the archive, in order.
    parts: Vec<(u64, Part)>,
    len: u64,
    etag: String,
}

impl Layout {
    /// The archive of `entries`, in order, with Zip64 only where a value needs it.
    pub fn new(entries: Vec<Entry>) -> Layout {
        Layout::with_zip64_from(entries, ZIP64_LIMIT)
    }

    /// [`Layout::new`], using Zip64 for every offset or size at or past `limit` (tests lower it
    /// to check Zip64 archives without writing 4 GiB).
    pub fn with_zip64_from(entries: Vec<Entry>, limit: u64) -> Layout {
        let mut parts = Vec::with_capacity(entries.len() * 2 + 2);
        let mut central = Vec::new();
        let mut offset = 0u64;
        let mut identity = Sha256::new();
        for entry in entries {
            let local = local_header(&entry, limit);
            central.extend_from_slice(&central_header(&entry, offset, limit));
            identity.update(entry.created_at.to_le_bytes());
            parts.push((offset, Part::Bytes(Bytes::from(local))));
            offset += parts.last().map_or(0, |(_, p)| p.len());
            let size = entry.size;
            parts.push((offset, Part::File(Arc::new(entry))));
            offset += size;
        }
        let count = (parts.len() / 2) as u64;
        let central_size = central.len() as u64;
        let mut end = central;
        end_records(&mut end, count, offset, central_size, limit);
        // The end holds every name, size, CRC-32, date and offset: the archive's bytes follow
        // from it and the file bytes, which the CRC-32s and dates (with the stored copies
        // checked against them) stand for.
        identity.update(&end);
        parts.push((offset, Part::Bytes(Bytes::from(end))));
        let len = offset + parts.last().map_or(0, |(_, p)| p.len());
        let etag = format!("\"zip-{}\"", &hex::encode(identity.finalize())[..32]);
        Layout { parts, len, etag }
    }

    /// The archive's exact length.
    pub fn len(&self) -> u64 {
        self.len
    }

    /// Whether the archive is empty (never: an archive has at least its end record).
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// A strong entity tag: the same archive bytes, the same tag.
    pub fn etag(&self) -> &str {
        &self.etag
    }

    /// What makes up bytes `[start, end)` of the archive, in order.
    pub fn pieces(&self, start: u64, end: u64) -> Vec<Piece> {
        let end = end.min(self.len);
        // The first part that ends after `start`.
        let first = self.parts.partition_point(|(offset, part)| offset + part.len() <= start);
        let mut pieces = Vec::new();
        for (offset, part) in &self.parts[first..] {
            if *offset >= end {
                break;
            }
            let from = start.saturating_sub(*offset);
            let to = (end - offset).min(part.len());
            if from >= to {
                continue;
            }
            pieces.push(match part {
                Part::Bytes(b) => Piece::Bytes(b.slice(from as usize..to as usize)),
                Part::File(entry) => Piece::File { entry: entry.clone(), from, len: to - from },
            });
        }
        pieces
    }

    /// Bytes `[start, end)` of the archive as a stream: headers from memory, file bytes read
    /// from the store in chunks. A stored file whose size or date no longer match its record
    /// (changed behind Sharelock's back) ends the stream with an error rather than send wrong
    /// bytes.
    pub fn stream(&self, start: u64, end: u64) -> impl Stream<Item = io::Result<Bytes>> + Send + use<> {
        let pieces: std::collections::VecDeque<Piece> = self.pieces(start, end).into();
        futures_util::stream::try_unfold((pieces, None), |(mut pieces, mut open)| async move {
            loop {
                if let Some((file, left)) = &mut open {
                    let file: &mut tokio::fs::File = file;
                    let left: &mut u64 = left;
                    if *left > 0 {
                        let mut buffer = vec![0u8; (*left).min(CHUNK as u64) as usize];
                        let n = file.read(&mut buffer).await?;
                        if n == 0 {
                            return Err(io::Error::new(io::ErrorKind::UnexpectedEof, "a stored file is shorter"));
                        }
                        buffer.truncate(n);
                        *left -= n as u64;
                        return Ok(Some((Bytes::from(buffer), (pieces, open))));
                    }
                    open = None;
                }
                match pieces.pop_front() {
                    None => return Ok(None),
                    Some(Piece::Bytes(b)) => return Ok(Some((b, (pieces, open)))),
                    Some(Piece::File { entry, from, len }) => {
                        let mut file = tokio::fs::File::open(&entry.path).await?;
                        check_stored(&entry, &file.metadata().await?)?;
                        file.seek(io::SeekFrom::Start(from)).await?;
                        open = Some((file, len));
                    }
                }
            }
        })
    }
}

/// A stored file keeps the size and modification time it was committed with: refuse one edited
/// behind Sharelock's back, as a single download does.
fn check_stored(entry: &Entry, meta: &std::fs::Metadata) -> io::Result<()> {
    if crate::store::unchanged(meta.len(), meta.modified()?, entry.size, entry.created_at) {
        return Ok(());
    }
    tracing::warn!("stored file {} changed behind Sharelock's back", entry.path.display());
    Err(io::Error::other("a stored file changed"))
}

/// Names for the entries of a share, in order: each file's name, with ` (2)`, ` (3)`… before the
/// extension of a name already taken, so that no entry hides another when unpacked.
pub fn unique_names<'a>(names: impl IntoIterator<Item = &'a str>) -> Vec<String> {
    let mut taken = std::collections::HashSet::new();
    let mut out = Vec::new();
    for name in names {
        let mut candidate = name.to_string();
        let (stem, ext) = match name.rfind('.') {
            Some(dot) if dot > 0 => (&name[..dot], &name[dot..]),
            _ => (name, ""),
        };
        let mut n = 2;
        // Compared case-insensitively: Windows and macOS unpack `A.txt` over `a.txt`.
        while !taken.insert(candidate.to_lowercase()) {
            candidate = format!("{stem} ({n}){ext}");
            n += 1;
        }
        out.push(candidate);
    }
    out
}

fn put16(out: &mut Vec<u8>, v: u16) {
    out.extend_from_slice(&v.to_le_bytes());
}

fn put32(out: &mut Vec<u8>, v: u32) {
    out.extend_from_slice(&v.to_le_bytes());
}

fn put64(out: &mut Vec<u8>, v: u64) {
    out.extend_from_slice(&v.to_le_bytes());
}

/// A 32-bit field: the value, or the Zip64 marker when it is at or past `limit`.
fn field32(v: u64, limit: u64) -> u32 {
    if v >= limit { u32::MAX } else { v as u32 }
}

/// The fields a local and a central header share, in the same order (APPNOTE 4.3.7 and
/// 4.3.12): the version needed, flags, method, time, date, CRC-32, both sizes and the name's
/// length.
fn shared_fields(out: &mut Vec<u8>, entry: &Entry, zip64: bool, limit: u64) {
    let (time, date) = dos_time(entry.created_at);
    put16(out, if zip64 { VERSION_ZIP64 } else { VERSION_PLAIN });
    put16(out, FLAG_UTF8);
    put16(out, 0); // stored
    put16(out, time);
    put16(out, date);
    put32(out, entry.crc32);
    put32(out, field32(entry.size, limit));
    put32(out, field32(entry.size, limit));
    put16(out, entry.name.len() as u16);
}

fn local_header(entry: &Entry, limit: u64) -> Vec<u8> {
    let zip64 = entry.size >= limit;
    let name = entry.name.as_bytes();
    let mut out = Vec::with_capacity(30 + name.len() + 20);
    put32(&mut out, 0x0403_4b50);
    shared_fields(&mut out, entry, zip64, limit);
    put16(&mut out, if zip64 { 20 } else { 0 });
    out.extend_from_slice(name);
    if zip64 {
        // The local Zip64 field holds both sizes whenever either is marked (APPNOTE 4.5.3).
        put16(&mut out, 0x0001);
        put16(&mut out, 16);
        put64(&mut out, entry.size);
        put64(&mut out, entry.size);
    }
    out
}

fn central_header(entry: &Entry, offset: u64, limit: u64) -> Vec<u8> {
    let name = entry.name.as_bytes();
    // The central Zip64 field holds only the values marked, in this order.
    let mut extra = Vec::new();
    if entry.size >= limit {
        put64(&mut extra, entry.size);
        put64(&mut extra, entry.size);
    }
    if offset >= limit {
        put64(&mut extra, offset);
    }
    let zip64 = !extra.is_empty();
    let mut out = Vec::with_capacity(46 + name.len() + 4 + extra.len());
    put32(&mut out, 0x0201_4b50);
    put16(&mut out, MADE_BY);
    shared_fields(&mut out, entry, zip64, limit);
    put16(&mut out, if zip64 { extra.len() as u16 + 4 } else { 0 });
    put16(&mut out, 0); // comment
    put16(&mut out, 0); // disk
    put16(&mut out, 0); // internal attributes
    put32(&mut out, EXTERNAL_ATTRIBUTES);
    put32(&mut out, field32(offset, limit));
    out.extend_from_slice(name);
    if zip64 {
        put16(&mut out, 0x0001);
        put16(&mut out, extra.len() as u16);
        out.extend_from_slice(&extra);
    }
    out
}

/// The end records after a central directory of `size` bytes at `offset` with `count` entries.
fn end_records(out: &mut Vec<u8>, count: u64, offset: u64, size: u64, limit: u64) {
    let zip64 = count >= ZIP64_ENTRIES.min(limit) || offset >= limit || size >= limit;
    if zip64 {
        let record_at = offset + size;
        // Zip64 end of central directory record.
        put32(out, 0x0606_4b50);
        put64(out, 44); // the size of what follows
        put16(out, MADE_BY);
        put16(out, VERSION_ZIP64);
        put32(out, 0); // this disk
        put32(out, 0); // the disk with the directory
        put64(out, count);
        put64(out, count);
        put64(out, size);
        put64(out, offset);
        // Its locator.
        put32(out, 0x0706_4b50);
        put32(out, 0);
        put64(out, record_at);
        put32(out, 1); // disks
    }
    let count16 = if zip64 { u16::MAX } else { count as u16 };
    put32(out, 0x0605_4b50);
    put16(out, 0);
    put16(out, 0);
    put16(out, count16);
    put16(out, count16);
    put32(out, if zip64 { u32::MAX } else { size as u32 });
    put32(out, if zip64 { u32::MAX } else { offset as u32 });
    put16(out, 0); // comment
}

/// MS-DOS time and date of unix seconds (UTC), two-second precision, clamped to what the format
/// holds (1980 to 2107).
fn dos_time(unix: i64) -> (u16, u16) {
    const START: i64 = 315_532_800; // 1980-01-01T00:00:00Z
    const END: i64 = 4_354_819_198; // 2107-12-31T23:59:58Z
    let t = unix.clamp(START, END);
    let (days, secs) = (t.div_euclid(86_400), t.rem_euclid(86_400));
    let (y, m, d) = civil_from_days(days);
    let time = ((secs / 3600) << 11) | (((secs % 3600) / 60) << 5) | ((secs % 60) / 2);
    let date = ((y - 1980) << 9) | (m << 5) | d;
    (time as u16, date as u16)
}

/// Year, month, day of a count of days since 1970-01-01 (Howard Hinnant's algorithm).
fn civil_from_days(days: i64) -> (i64, i64, i64) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    (yoe + era * 400 + i64::from(m <= 2), m, d)
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures_util::TryStreamExt;

    fn entries(dir: &std::path::Path, files: &[(&str, &[u8])]) -> Vec<Entry> {
        files
            .iter()
            .enumerate()
            .map(|(i, (name, bytes))| {
                let path = dir.join(format!("f{i}"));
                std::fs::write(&path, bytes).expect("write");
                let created_at = 1_700_000_000 + i as i64;
                let mtime = crate::store::committed_mtime(created_at);
                std::fs::File::options().write(true).open(&path).and_then(|f| f.set_modified(mtime)).expect("mtime");
                Entry {
                    name: name.to_string(),
                    path,
                    size: bytes.len() as u64,
                    crc32: crc32fast::hash(bytes),
                    created_at,
                }
            })
            .collect()
    }

    async fn read_all(layout: &Layout, start: u64, end: u64) -> Vec<u8> {
        let chunks: Vec<Bytes> = layout.stream(start, end).try_collect().await.expect("stream");
        chunks.concat()
    }

    /// Checks an archive with `unzip -t` and Python's `zipfile` (both must be installed: a test
    /// that cannot run them fails rather than pass unchecked).
    fn check_with_tools(archive: &std::path::Path, expected: &[(&str, &[u8])]) {
        let unzip = std::process::Command::new("unzip").arg("-t").arg(archive).output().expect("unzip runs");
        assert!(unzip.status.success(), "unzip -t: {}", String::from_utf8_lossy(&unzip.stdout));
        let script = "import sys, zipfile, json\nz = zipfile.ZipFile(sys.argv[1])\nassert z.testzip() is None\n\
                      print(json.dumps([[i.filename, z.read(i).hex()] for i in z.infolist()]))";
        let python =
            std::process::Command::new("python3").args(["-c", script]).arg(archive).output().expect("python3 runs");
        assert!(python.status.success(), "zipfile: {}", String::from_utf8_lossy(&python.stderr));
        let listed: Vec<(String, String)> = serde_json::from_slice(&python.stdout).expect("json");
        let wanted: Vec<(String, String)> = expected.iter().map(|(n, b)| (n.to_string(), hex::encode(b))).collect();
        assert_eq!(listed, wanted);
    }

    #[tokio::test]
    async fn a_zip_is_read_back_by_unzip_and_python_plain_and_zip64() {
        let dir = tempfile::tempdir().expect("tempdir");
        let files: &[(&str, &[u8])] = &[("a.txt", b"hello"), ("ünïcode name.bin", &[0u8, 1, 2, 255]), ("empty", b"")];
        for limit in [ZIP64_LIMIT, 0, 6] {
            let layout = Layout::with_zip64_from(entries(dir.path(), files), limit);
            let bytes = read_all(&layout, 0, layout.len()).await;
            assert_eq!(bytes.len() as u64, layout.len(), "the length is known ahead (limit {limit})");
            let archive = dir.path().join(format!("out-{limit}.zip"));
            std::fs::write(&archive, &bytes).expect("write");
            check_with_tools(&archive, files);
            if limit == 0 {
                assert!(bytes.windows(4).any(|w| w == [0x50, 0x4b, 0x06, 0x06]), "a Zip64 end record");
            } else if limit == ZIP64_LIMIT {
                assert!(!bytes.windows(4).any(|w| w == [0x50, 0x4b, 0x06, 0x06]), "no Zip64 where none is needed");
            }
        }
    }

    #[tokio::test]
    async fn any_range_is_the_same_bytes_as_the_whole() {
        let dir = tempfile::tempdir().expect("tempdir");
        let big: Vec<u8> = (0..600_000u32).map(|i| (i % 251) as u8).collect();
        let files: &[(&str, &[u8])] = &[("a", b"0123456789"), ("big", &big), ("c", b"xyz")];
        let layout = Layout::new(entries(dir.path(), files));
        let whole = read_all(&layout, 0, layout.len()).await;
        let len = layout.len();
        for (start, end) in [(0, 1), (5, 45), (30, 300_000), (100, len), (len - 1, len), (len - 30, len - 2)] {
            assert_eq!(read_all(&layout, start, end).await, whole[start as usize..end as usize], "{start}..{end}");
        }
        let again = Layout::new(entries(dir.path(), files));
        assert_eq!(read_all(&again, 0, again.len()).await, whole, "byte-identical");
        assert_eq!(again.etag(), layout.etag());
    }

    #[tokio::test]
    async fn a_file_changed_behind_our_back_ends_the_stream() {
        let dir = tempfile::tempdir().expect("tempdir");
        let layout = Layout::new(entries(dir.path(), &[("a", b"hello")]));
        std::fs::write(dir.path().join("f0"), b"HELLO").expect("write");
        let read: io::Result<Vec<Bytes>> = layout.stream(0, layout.len()).try_collect().await;
        assert!(read.is_err());
    }

    #[test]
    fn names_never_hide_each_other() {
        assert_eq!(
            unique_names(["a.txt", "A.txt", "a.txt", "b", "b", ".env"]),
            ["a.txt", "A (2).txt", "a (3).txt", "b", "b (2)", ".env"]
        );
    }

    #[test]
    fn dos_dates() {
        // 2023-11-14T22:13:20Z
        let (time, date) = dos_time(1_700_000_000);
        assert_eq!(date, ((2023 - 1980) << 9) | (11 << 5) | 14);
        assert_eq!(time, (22 << 11) | (13 << 5) | 10);
        assert_eq!(dos_time(0), (0, (1 << 5) | 1), "before 1980: 1980-01-01");
    }
}
