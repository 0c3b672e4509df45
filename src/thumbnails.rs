//! Thumbnails of images, for the landing page's file list and the app's Files list.
//!
//! Made lazily from the stored file with the `image` crate, under limits on the decoder's memory
//! so a huge image cannot exhaust it, and kept so each is made once. Only raster formats a browser
//! shows inline are thumbnailed; an SVG never is (it is only ever an attachment).
//!
//! The cache is the data dir's `thumbnails/` folder: `{file id}.{EDGE}.png` or `.jpg`, or an empty
//! `{file id}.{EDGE}.none` for a file that could not be thumbnailed. A stored file's bytes never
//! change under its id, so an entry never goes stale; it goes with its file (see
//! `Vault::remove_file`) and the start-up cleanup sweeps entries whose file is gone (see [`sweep`]).

use std::fs::{self, File};
use std::io::{self, BufReader, Cursor, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use bytes::Bytes;
use image::{DynamicImage, ImageDecoder, ImageFormat, ImageReader, Limits};

use crate::atomic::{self, Existing};
use crate::files::FileRecord;
use crate::vault::Vault;
use crate::{Error, Result, ids};

/// The longest edge of a thumbnail, in pixels.
pub const EDGE: u32 = 256;

/// The widest or tallest image decoded. Larger ones get no thumbnail.
const MAX_SIDE: u32 = 16_384;

/// The most the decoder may allocate for one image, the decoded pixels included: a 24-megapixel
/// photo (72 MiB as RGB) still fits, a 60,000 x 60,000 "pixel bomb" never starts decoding.
const MAX_ALLOC: u64 = 128 * 1024 * 1024;

/// JPEG quality of opaque thumbnails: small files, no visible blocks at 256 px.
const JPEG_QUALITY: u8 = 80;

/// One decode at a time in this process: with [`MAX_ALLOC`] per decode, this bounds the memory
/// thumbnails can take however many requests or list rows ask at once. Thumbnails are cached, so
/// the wait is only ever for the first request of each file.
static DECODING: Mutex<()> = Mutex::new(());

/// A thumbnail, ready to send.
#[derive(Debug, Clone)]
pub struct Thumbnail {
    /// The encoded image.
    pub bytes: Bytes,
    /// Its media type, e.g. `image/png`.
    pub content_type: &'static str,
    /// A strong validator, the same for the same file's thumbnail.
    pub etag: String,
}

/// The encodings a thumbnail is kept in; the cache file's extension tells which.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    /// Opaque images.
    Jpeg,
    /// Images with transparency.
    Png,
}

impl Kind {
    fn extension(self) -> &'static str {
        match self {
            Kind::Jpeg => "jpg",
            Kind::Png => "png",
        }
    }

    fn content_type(self) -> &'static str {
        match self {
            Kind::Jpeg => "image/jpeg",
            Kind::Png => "image/png",
        }
    }
}

/// The thumbnail of a stored file, made on first use; `None` when the file is not an image that
/// is thumbnailed (or cannot be decoded within the limits). Blocking.
pub fn thumbnail(vault: &Vault, file_id: &str) -> Result<Option<Thumbnail>> {
    thumbnail_of(vault, &vault.file_record(file_id)?)
}

/// [`thumbnail`] of a file whose record the caller already has (a landing page lists its
/// files' records: each thumbnail need not read its row again).
pub fn thumbnail_of(vault: &Vault, file: &FileRecord) -> Result<Option<Thumbnail>> {
    let file_id = file.id.as_str();
    let etag = format!("\"{}-{EDGE}\"", file.sha256);
    let cache = Cache::new(vault.thumbnails_dir(), file_id)?;
    if let Some(found) = cache.read()? {
        return Ok(found.map(|(kind, bytes)| Thumbnail { bytes, content_type: kind.content_type(), etag }));
    }
    let source = vault.store().path_of(file_id);
    let made = match make(&source) {
        Ok(made) => made,
        Err(Refused::NotAnImage) => return Ok(None),
        Err(Refused::Undecodable(why)) => {
            tracing::debug!("no thumbnail for {file_id}: {why}");
            None
        }
        Err(Refused::Io(e)) => return Err(Error::io("cannot read the stored file", e)),
    };
    // A read-only data dir still gets thumbnails, made each time: nothing may be written there.
    if vault.check_writable().is_ok()
        && let Err(e) = cache.write(made.as_ref())
    {
        tracing::warn!("cannot keep the thumbnail of {file_id}: {e}");
    }
    Ok(made.map(|(kind, bytes)| Thumbnail { bytes, content_type: kind.content_type(), etag }))
}

/// Removes the cached thumbnail of `file_id`, if any (its file is being removed).
pub fn forget(dir: &Path, file_id: &str) -> io::Result<()> {
    let Ok(cache) = Cache::new(dir.to_path_buf(), file_id) else { return Ok(()) };
    for path in cache.paths() {
        match fs::remove_file(path) {
            Err(e) if e.kind() != io::ErrorKind::NotFound => return Err(e),
            _ => {}
        }
    }
    Ok(())
}

/// Removes cached thumbnails whose file is gone (`exists` is false for its id), made for another
/// [`EDGE`], and temp files of interrupted writes. Returns how many it removed.
pub fn sweep(dir: &Path, exists: impl Fn(&str) -> bool) -> io::Result<usize> {
    let entries = match fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(0),
        Err(e) => return Err(e),
    };
    let suffixes = [Kind::Jpeg.extension(), Kind::Png.extension(), NONE].map(|ext| format!(".{EDGE}.{ext}"));
    let mut removed = 0;
    for entry in entries {
        let entry = entry?;
        let name = entry.file_name();
        let name = name.to_string_lossy();
        let keep = suffixes
            .iter()
            .any(|suffix| name.strip_suffix(suffix.as_str()).is_some_and(|id| ids::is_valid(id) && exists(id)));
        if !keep && entry.file_type()?.is_file() {
            fs::remove_file(entry.path())?;
            removed += 1;
        }
    }
    Ok(removed)
}

/// The extension of the marker of a file that was tried and could not be thumbnailed. Worth an
/// empty file: the costly failures (a damaged image read to its end, one refused only once its
/// decoder has begun) would otherwise be paid again on every listing and every landing page
/// view, while a file's bytes never change under its id, so the verdict never goes stale. A
/// file that is not an image needs none: its 32 first bytes tell at once.
const NONE: &str = "none";

/// Where one file's thumbnail is kept.
struct Cache {
    dir: PathBuf,
    file_id: String,
}

impl Cache {
    fn new(dir: PathBuf, file_id: &str) -> Result<Cache> {
        if !ids::is_valid(file_id) {
            return Err(Error::NotFound { kind: "file", id: file_id.to_string() });
        }
        Ok(Cache { dir, file_id: file_id.to_string() })
    }

    fn path(&self, extension: &str) -> PathBuf {
        self.dir.join(format!("{}.{EDGE}.{extension}", self.file_id))
    }

    fn paths(&self) -> [PathBuf; 3] {
        [self.path(Kind::Jpeg.extension()), self.path(Kind::Png.extension()), self.path(NONE)]
    }

    /// What is kept: `None` when nothing is, `Some(None)` when the file was tried and could not
    /// be thumbnailed.
    fn read(&self) -> Result<Option<Option<(Kind, Bytes)>>> {
        for kind in [Kind::Jpeg, Kind::Png] {
            match fs::read(self.path(kind.extension())) {
                Ok(bytes) => return Ok(Some(Some((kind, Bytes::from(bytes))))),
                Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                Err(e) => return Err(Error::io("cannot read a kept thumbnail", e)),
            }
        }
        Ok(self.path(NONE).exists().then_some(None))
    }

    /// Keeps `made` (or the marker that there is none), whole or not at all.
    fn write(&self, made: Option<&(Kind, Bytes)>) -> io::Result<()> {
        // Owner-only, as the rest of the data dir: a thumbnail shows what a private file holds.
        std::os::unix::fs::DirBuilderExt::mode(fs::DirBuilder::new().recursive(true), 0o700).create(&self.dir)?;
        let (path, bytes): (PathBuf, &[u8]) = match made {
            Some((kind, bytes)) => (self.path(kind.extension()), bytes),
            None => (self.path(NONE), b""),
        };
        atomic::write(&path, true, Existing::Replace, |f| f.write_all(bytes))
    }
}

/// Why a file gets no thumbnail.
#[derive(Debug)]
enum Refused {
    /// Not one of the formats thumbnailed (told by its first bytes, not its name).
    NotAnImage,
    /// Claims to be one, but cannot be decoded within the limits: damaged, hostile or too big.
    Undecodable(String),
    /// The stored file cannot be read.
    Io(io::Error),
}

impl From<image::ImageError> for Refused {
    fn from(e: image::ImageError) -> Refused {
        Refused::Undecodable(e.to_string())
    }
}

/// Decodes the image at `source` within the limits and encodes its thumbnail.
fn make(source: &Path) -> std::result::Result<Option<(Kind, Bytes)>, Refused> {
    let mut file = File::open(source).map_err(Refused::Io)?;
    let mut head = Vec::with_capacity(HEAD_BYTES);
    (&mut file).take(HEAD_BYTES as u64).read_to_end(&mut head).map_err(Refused::Io)?;
    let format = format_of(&head).ok_or(Refused::NotAnImage)?;
    io::Seek::rewind(&mut file).map_err(Refused::Io)?;
    let mut reader = ImageReader::with_format(BufReader::new(file), format);
    reader.limits(limits());
    // The header is read (and the limits on its dimensions checked) before any pixel buffer is
    // allocated.
    let decoder = reader.into_decoder()?;
    let _one_at_a_time = DECODING.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
    let image = decode(decoder)?;
    encode(&image).map(Some)
}

/// How much of a file tells whether it is one of the formats thumbnailed: their signatures are
/// in the first few bytes.
const HEAD_BYTES: usize = 32;

/// The decoder for a file's first bytes: PNG, JPEG, GIF and WebP only, sniffed by content so a
/// name cannot make an SVG or anything else reach a decoder.
fn format_of(head: &[u8]) -> Option<ImageFormat> {
    match infer::get(head)?.mime_type() {
        "image/png" => Some(ImageFormat::Png),
        "image/jpeg" => Some(ImageFormat::Jpeg),
        "image/gif" => Some(ImageFormat::Gif),
        "image/webp" => Some(ImageFormat::WebP),
        _ => None,
    }
}

/// Scales `image` to fit in [`EDGE`] x [`EDGE`] (never up), keeping its aspect, and encodes it.
fn encode(image: &DynamicImage) -> std::result::Result<(Kind, Bytes), Refused> {
    let small = if image.width() > EDGE || image.height() > EDGE {
        image.resize(EDGE, EDGE, image::imageops::FilterType::Triangle)
    } else {
        image.clone()
    };
    let mut out = Cursor::new(Vec::new());
    let kind = if small.color().has_alpha() {
        small.write_with_encoder(image::codecs::png::PngEncoder::new(&mut out))?;
        Kind::Png
    } else {
        let rgb = DynamicImage::ImageRgb8(small.to_rgb8());
        rgb.write_with_encoder(image::codecs::jpeg::JpegEncoder::new_with_quality(&mut out, JPEG_QUALITY))?;
        Kind::Jpeg
    };
    Ok((kind, Bytes::from(out.into_inner())))
}

/// The decoder's limits (see [`MAX_SIDE`], [`MAX_ALLOC`]).
fn limits() -> Limits {
    let mut limits = Limits::default();
    limits.max_image_width = Some(MAX_SIDE);
    limits.max_image_height = Some(MAX_SIDE);
    limits.max_alloc = Some(MAX_ALLOC);
    limits
}

/// Checks the header's dimensions, then decodes (the first frame of a GIF).
fn decode(decoder: impl ImageDecoder) -> std::result::Result<DynamicImage, Refused> {
    let (width, height) = decoder.dimensions();
    if width == 0 || height == 0 {
        return Err(Refused::Undecodable("the image is empty".into()));
    }
    if decoder.total_bytes() > MAX_ALLOC {
        return Err(Refused::Undecodable(format!("{width} x {height} is too large to decode")));
    }
    Ok(DynamicImage::from_decoder(decoder)?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use image::{ImageBuffer, Rgb, Rgba};

    /// A vault in a temp dir, and a folder to make source files in.
    fn vault() -> (tempfile::TempDir, Vault) {
        let dir = tempfile::tempdir().expect("temp dir");
        let vault = Vault::open(&dir.path().join("data")).expect("open");
        (dir, vault)
    }

    fn add(dir: &tempfile::TempDir, vault: &Vault, name: &str, bytes: &[u8]) -> String {
        let path = dir.path().join(name);
        fs::write(&path, bytes).expect("write");
        vault.add_file(&path, false, 1_700_000_000, &mut |_| {}).expect("add").file.id
    }

    fn encoded(image: &DynamicImage, format: ImageFormat) -> Vec<u8> {
        let mut out = Cursor::new(Vec::new());
        image.write_to(&mut out, format).expect("encode");
        out.into_inner()
    }

    fn dimensions(bytes: &[u8]) -> (u32, u32) {
        image::load_from_memory(bytes).expect("a thumbnail decodes").to_rgba8().dimensions()
    }

    #[test]
    fn thumbnails_a_png_with_alpha_as_png_within_edge_keeping_its_aspect() {
        let (dir, vault) = vault();
        let image = ImageBuffer::from_fn(1000, 500, |x, _| Rgba([(x % 256) as u8, 10, 200, 128]));
        let id = add(&dir, &vault, "logo.png", &encoded(&DynamicImage::ImageRgba8(image), ImageFormat::Png));
        let thumb = thumbnail(&vault, &id).expect("thumbnail").expect("an image has one");
        assert_eq!(thumb.content_type, "image/png");
        assert!(thumb.bytes.starts_with(b"\x89PNG"));
        assert_eq!(dimensions(&thumb.bytes), (EDGE, EDGE / 2));
        let decoded = image::load_from_memory(&thumb.bytes).expect("decodes");
        assert!(decoded.color().has_alpha(), "transparency is kept");
    }

    #[test]
    fn thumbnails_a_jpeg_as_jpeg_and_a_gif_by_its_first_frame() {
        let (dir, vault) = vault();
        let photo = ImageBuffer::from_fn(300, 900, |x, y| Rgb([(x % 256) as u8, (y % 256) as u8, 90]));
        let photo = DynamicImage::ImageRgb8(photo);
        // Named as something else: the content decides.
        let id = add(&dir, &vault, "holiday.dat", &encoded(&photo, ImageFormat::Jpeg));
        let thumb = thumbnail(&vault, &id).expect("thumbnail").expect("a jpeg has one");
        assert_eq!(thumb.content_type, "image/jpeg");
        assert!(thumb.bytes.starts_with(&[0xFF, 0xD8]));
        assert_eq!(dimensions(&thumb.bytes), (EDGE / 3, EDGE));
        let frame = DynamicImage::ImageRgb8(ImageBuffer::from_pixel(600, 300, Rgb([40, 80, 120])));
        let gif = add(&dir, &vault, "wave.gif", &encoded(&frame, ImageFormat::Gif));
        let thumb = thumbnail(&vault, &gif).expect("thumbnail").expect("a gif has one");
        assert_eq!(dimensions(&thumb.bytes), (EDGE, EDGE / 2));
        // Small images are not made larger.
        let icon = DynamicImage::ImageRgb8(ImageBuffer::from_pixel(16, 8, Rgb([1, 2, 3])));
        let icon = add(&dir, &vault, "icon.png", &encoded(&icon, ImageFormat::Png));
        let thumb = thumbnail(&vault, &icon).expect("thumbnail").expect("an icon has one");
        assert_eq!(dimensions(&thumb.bytes), (16, 8));
    }

    #[test]
    fn svg_garbage_and_damaged_images_get_none() {
        let (dir, vault) = vault();
        let svg = br#"<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10"><script>alert(1)</script></svg>"#;
        let svg = add(&dir, &vault, "drawing.svg", svg);
        assert!(thumbnail(&vault, &svg).expect("thumbnail").is_none());
        let garbage = add(&dir, &vault, "photo.png", b"this is no image at all, whatever its name says");
        assert!(thumbnail(&vault, &garbage).expect("thumbnail").is_none());
        // A PNG cut after its header: refused by the decoder, remembered so it is tried once.
        let whole =
            encoded(&DynamicImage::ImageRgb8(ImageBuffer::from_pixel(64, 64, Rgb([9, 9, 9]))), ImageFormat::Png);
        let cut = add(&dir, &vault, "cut.png", &whole[..40]);
        assert!(thumbnail(&vault, &cut).expect("thumbnail").is_none());
        let marker = vault.thumbnails_dir().join(format!("{cut}.{EDGE}.none"));
        assert!(marker.exists(), "a failed decode is remembered");
        assert!(thumbnail(&vault, &cut).expect("thumbnail").is_none());
        assert!(!vault.thumbnails_dir().join(format!("{svg}.{EDGE}.none")).exists(), "a non-image needs no marker");
    }

    /// A valid PNG header that claims 60,000 x 60,000 pixels (10 GiB as RGBA), then a little
    /// data: refused from the header, before any pixel buffer is allocated.
    #[test]
    fn a_png_claiming_huge_dimensions_gets_none_without_being_decoded() {
        let (dir, vault) = vault();
        let mut png = b"\x89PNG\r\n\x1a\n".to_vec();
        let mut chunk = |kind: &[u8], data: &[u8]| {
            png.extend_from_slice(&(data.len() as u32).to_be_bytes());
            let mut body = kind.to_vec();
            body.extend_from_slice(data);
            png.extend_from_slice(&body);
            png.extend_from_slice(&crc32fast::hash(&body).to_be_bytes());
        };
        let mut header = Vec::new();
        header.extend_from_slice(&60_000u32.to_be_bytes());
        header.extend_from_slice(&60_000u32.to_be_bytes());
        header.extend_from_slice(&[8, 6, 0, 0, 0]);
        chunk(b"IHDR", &header);
        chunk(b"IDAT", &[0x78, 0x9c, 0x03, 0x00, 0x00, 0x00, 0x00, 0x01]);
        chunk(b"IEND", &[]);
        let id = add(&dir, &vault, "bomb.png", &png);
        assert!(thumbnail(&vault, &id).expect("thumbnail").is_none());
        assert!(matches!(make(&vault.store().path_of(&id)), Err(Refused::Undecodable(_))));
    }

    #[test]
    fn the_thumbnail_is_kept_used_again_and_removed_with_its_file() {
        let (dir, vault) = vault();
        let image = DynamicImage::ImageRgb8(ImageBuffer::from_pixel(600, 400, Rgb([200, 30, 30])));
        let id = add(&dir, &vault, "red.jpg", &encoded(&image, ImageFormat::Jpeg));
        let first = thumbnail(&vault, &id).expect("thumbnail").expect("one");
        let kept = vault.thumbnails_dir().join(format!("{id}.{EDGE}.jpg"));
        assert_eq!(fs::read(&kept).expect("kept"), first.bytes);
        let mode = |p: &Path| std::os::unix::fs::PermissionsExt::mode(&fs::metadata(p).expect("meta").permissions());
        assert_eq!((mode(&vault.thumbnails_dir()) & 0o777, mode(&kept) & 0o777), (0o700, 0o600), "owner-only");
        // The kept one is what is served: change it and the change shows.
        fs::write(&kept, b"kept bytes").expect("write");
        let second = thumbnail(&vault, &id).expect("thumbnail").expect("one");
        assert_eq!(second.bytes.as_ref(), b"kept bytes");
        assert_eq!(second.etag, first.etag);
        assert!(first.etag.contains(&vault.file(&id).expect("file").file.sha256));
        vault.remove_file(&id).expect("remove");
        assert!(!kept.exists(), "removed with its file");
        assert!(matches!(thumbnail(&vault, &id), Err(Error::NotFound { .. })));
    }

    #[test]
    fn the_start_up_cleanup_sweeps_thumbnails_of_files_that_are_gone() {
        let (dir, vault) = vault();
        let image = DynamicImage::ImageRgb8(ImageBuffer::from_pixel(40, 40, Rgb([1, 200, 1])));
        let id = add(&dir, &vault, "green.png", &encoded(&image, ImageFormat::Png));
        thumbnail(&vault, &id).expect("thumbnail").expect("one");
        let cache = vault.thumbnails_dir();
        let gone = ids::generate();
        for stale in [format!("{gone}.{EDGE}.jpg"), format!("{id}.64.jpg"), ".sharelock-interrupted".into()] {
            fs::write(cache.join(stale), b"x").expect("write");
        }
        vault.cleanup().expect("cleanup");
        let left: Vec<_> = fs::read_dir(&cache).expect("dir").map(|e| e.expect("entry").file_name()).collect();
        assert_eq!(left, vec![std::ffi::OsString::from(format!("{id}.{EDGE}.jpg"))]);
    }

    /// Needs root, for a read-only bind mount (a mode of 0555 does not stop root; a read-only
    /// mount does), as the read-only data dir tests of `tests/it/recovery.rs`.
    #[test]
    fn a_read_only_data_dir_gets_thumbnails_without_keeping_them() {
        use std::process::Command;
        let (dir, vault) = vault();
        let image = DynamicImage::ImageRgb8(ImageBuffer::from_pixel(40, 40, Rgb([1, 2, 200])));
        let id = add(&dir, &vault, "blue.png", &encoded(&image, ImageFormat::Png));
        drop(vault);
        let root = fs::metadata("/proc/self").map(|m| std::os::unix::fs::MetadataExt::uid(&m)).unwrap_or(1) == 0;
        if !root {
            eprintln!("not root: no read-only bind mount, the read-only case is covered by tests/it/recovery.rs only");
            return;
        }
        let ro = dir.path().join("ro");
        fs::create_dir(&ro).expect("mount point");
        let mount = |args: &[&str]| {
            let status = Command::new("mount").args(args).status().expect("mount");
            assert!(status.success(), "mount {args:?}");
        };
        let (source, target) = (dir.path().join("data"), ro.to_string_lossy().into_owned());
        mount(&["--bind", &source.to_string_lossy(), &target]);
        mount(&["-o", "remount,bind,ro", &target]);
        let made = Vault::open(&ro).and_then(|v| Ok((v.check_writable().is_err(), thumbnail(&v, &id)?)));
        let unmounted = Command::new("umount").arg(&ro).status().expect("umount");
        assert!(unmounted.success());
        let (read_only, made) = made.expect("thumbnail");
        assert!(read_only);
        assert!(made.is_some(), "made without being kept");
        assert!(!source.join("thumbnails").exists(), "nothing written");
    }
}
