//! Photos and other attachments on disk: checked by content (not by name),
//! size-limited, stored under their SHA-256 with a public copy that carries
//! no metadata (no EXIF location) and a thumbnail for pages.
//!
//! Layout under the configured directory:
//! `original/ab/<sha256>.<ext>` (as uploaded, private), `public/ab/<sha256>.<ext>`
//! (re-encoded, upright, at most 2048 px, no metadata) and
//! `thumb/ab/<sha256>.jpg` (at most 320 px). Every file is written to a
//! temporary name, synced and renamed, so a crash leaves no half file.

use image::{DynamicImage, ImageDecoder, ImageFormat, ImageReader, Limits};
use serde::Serialize;
use sha2::{Digest, Sha256};
use std::io::{Cursor, Write};
use std::path::{Path, PathBuf};

/// Largest upload accepted unless configured otherwise: a phone photo fits.
pub const DEFAULT_MAX_BYTES: usize = 10 << 20;
/// Longest edge of the public copy, in pixels.
pub const PUBLIC_EDGE: u32 = 2048;
/// Longest edge of a thumbnail, in pixels.
pub const THUMB_EDGE: u32 = 320;

#[derive(Debug, thiserror::Error)]
pub enum AttachmentError {
    #[error("the file is empty")]
    Empty,
    #[error("the file has {size} bytes; at most {max} are accepted")]
    TooLarge { size: usize, max: usize },
    #[error("the file is not a JPEG, PNG or WebP image (its content looks like {0})")]
    NotAnImage(&'static str),
    #[error("the image cannot be read: {0}")]
    Undecodable(String),
    #[error("no attachment {0}")]
    NotFound(String),
    #[error("attachment {0} does not match its checksum")]
    Checksum(String),
    #[error("could not store the attachment: {0}")]
    Io(#[from] std::io::Error),
}

/// The image formats accepted, recognised by their first bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ImageKind {
    Jpeg,
    Png,
    Webp,
}

impl ImageKind {
    pub fn mime(self) -> &'static str {
        match self {
            ImageKind::Jpeg => "image/jpeg",
            ImageKind::Png => "image/png",
            ImageKind::Webp => "image/webp",
        }
    }

    pub fn ext(self) -> &'static str {
        match self {
            ImageKind::Jpeg => "jpg",
            ImageKind::Png => "png",
            ImageKind::Webp => "webp",
        }
    }

    fn format(self) -> ImageFormat {
        match self {
            ImageKind::Jpeg => ImageFormat::Jpeg,
            ImageKind::Png => ImageFormat::Png,
            ImageKind::Webp => ImageFormat::WebP,
        }
    }

    /// The format of the public copy: PNG keeps transparency, the rest become JPEG.
    fn public(self) -> ImageKind {
        if self == ImageKind::Png { ImageKind::Png } else { ImageKind::Jpeg }
    }
}

/// What the first bytes say the file is.
pub fn sniff(bytes: &[u8]) -> Result<ImageKind, AttachmentError> {
    match bytes {
        [0xFF, 0xD8, 0xFF, ..] => Ok(ImageKind::Jpeg),
        [0x89, b'P', b'N', b'G', 0x0D, 0x0A, 0x1A, 0x0A, ..] => Ok(ImageKind::Png),
        [b'R', b'I', b'F', b'F', _, _, _, _, b'W', b'E', b'B', b'P', ..] => Ok(ImageKind::Webp),
        [b'%', b'P', b'D', b'F', ..] => Err(AttachmentError::NotAnImage("a PDF document")),
        [b'P', b'K', 3, 4, ..] => Err(AttachmentError::NotAnImage("a ZIP archive or office document")),
        [b'G', b'I', b'F', b'8', ..] => Err(AttachmentError::NotAnImage("a GIF image")),
        [0x7F, b'E', b'L', b'F', ..] | [b'M', b'Z', ..] => Err(AttachmentError::NotAnImage("a program")),
        b if b.starts_with(b"<") || b.starts_with(b"<?xml") => Err(AttachmentError::NotAnImage("HTML or XML text")),
        _ => Err(AttachmentError::NotAnImage("unknown data")),
    }
}

/// One stored attachment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct StoredAttachment {
    /// Lower-case hex SHA-256 of the bytes as uploaded.
    pub id: String,
    pub kind: ImageKind,
    pub size: u64,
    pub width: u32,
    pub height: u32,
    /// False when the same bytes were stored before (uploads are deduplicated).
    pub created: bool,
}

/// Which file of an attachment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Variant {
    /// As uploaded, metadata and all: for the record, never shown publicly.
    Original,
    /// Upright, bounded, without metadata: what pages and clients show.
    Public,
    /// A small JPEG for lists and timelines.
    Thumbnail,
}

/// The attachment directory.
#[derive(Debug, Clone)]
pub struct AttachmentStore {
    dir: PathBuf,
    max_bytes: usize,
}

fn valid_id(id: &str) -> bool {
    id.len() == 64 && id.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

/// Decodes within limits that stop a small file from claiming a huge image.
fn decode(bytes: &[u8], kind: ImageKind) -> Result<DynamicImage, AttachmentError> {
    let bad = |e: image::ImageError| AttachmentError::Undecodable(e.to_string());
    let mut limits = Limits::default();
    limits.max_image_width = Some(12_000);
    limits.max_image_height = Some(12_000);
    limits.max_alloc = Some(512 << 20);
    let mut reader = ImageReader::with_format(Cursor::new(bytes), kind.format());
    reader.limits(limits);
    let mut decoder = reader.into_decoder().map_err(bad)?;
    // Phones store "turn me" in EXIF; apply it before the metadata is dropped.
    let orientation = decoder.orientation().map_err(bad)?;
    let mut img = DynamicImage::from_decoder(decoder).map_err(bad)?;
    img.apply_orientation(orientation);
    Ok(img)
}

fn encode(img: &DynamicImage, kind: ImageKind) -> Result<Vec<u8>, AttachmentError> {
    let mut out = Cursor::new(Vec::new());
    let result = match kind {
        ImageKind::Png => img.write_to(&mut out, ImageFormat::Png),
        _ => {
            let rgb = DynamicImage::ImageRgb8(img.to_rgb8());
            let encoder = image::codecs::jpeg::JpegEncoder::new_with_quality(&mut out, 85);
            rgb.write_with_encoder(encoder)
        }
    };
    result.map_err(|e| AttachmentError::Undecodable(e.to_string()))?;
    Ok(out.into_inner())
}

fn bounded(img: &DynamicImage, edge: u32) -> DynamicImage {
    if img.width() <= edge && img.height() <= edge { img.clone() } else { img.thumbnail(edge, edge) }
}

/// Writes `bytes` to `path` so that it either appears whole or not at all.
fn write_atomically(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let dir = path.parent().ok_or_else(|| std::io::Error::other("no parent directory"))?;
    std::fs::create_dir_all(dir)?;
    // Unique per write, so concurrent uploads never share a temporary file.
    static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let tmp = dir.join(format!(".{}.{n}.tmp", std::process::id()));
    let mut f = std::fs::File::create(&tmp)?;
    f.write_all(bytes)?;
    f.sync_all()?;
    std::fs::rename(&tmp, path)?;
    std::fs::File::open(dir)?.sync_all()
}

impl AttachmentStore {
    /// Uses `dir`, creating it; the originals' directory is private to the owner.
    pub fn open(dir: impl Into<PathBuf>) -> Result<Self, AttachmentError> {
        let dir = dir.into();
        for sub in ["original", "public", "thumb"] {
            std::fs::create_dir_all(dir.join(sub))?;
        }
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(dir.join("original"), std::fs::Permissions::from_mode(0o700))?;
        }
        Ok(AttachmentStore { dir, max_bytes: DEFAULT_MAX_BYTES })
    }

    pub fn with_max_bytes(mut self, max_bytes: usize) -> Self {
        self.max_bytes = max_bytes;
        self
    }

    pub fn max_bytes(&self) -> usize {
        self.max_bytes
    }

    fn file(&self, variant: Variant, id: &str, kind: ImageKind) -> PathBuf {
        let (sub, ext) = match variant {
            Variant::Original => ("original", kind.ext()),
            Variant::Public => ("public", kind.public().ext()),
            Variant::Thumbnail => ("thumb", "jpg"),
        };
        self.dir.join(sub).join(&id[..2]).join(format!("{id}.{ext}"))
    }

    /// Checks, stores and derives the copies of an upload.
    pub fn put(&self, bytes: &[u8]) -> Result<StoredAttachment, AttachmentError> {
        if bytes.is_empty() {
            return Err(AttachmentError::Empty);
        }
        if bytes.len() > self.max_bytes {
            return Err(AttachmentError::TooLarge { size: bytes.len(), max: self.max_bytes });
        }
        let kind = sniff(bytes)?;
        // Decoding proves the content is the image it claims to be.
        let img = decode(bytes, kind)?;
        let id = crate::hex(&Sha256::digest(bytes));
        let stored = |created| StoredAttachment {
            id: id.clone(),
            kind,
            size: bytes.len() as u64,
            width: img.width(),
            height: img.height(),
            created,
        };
        let original = self.file(Variant::Original, &id, kind);
        if original.exists() && self.verify(&id).is_ok() {
            return Ok(stored(false));
        }
        // Derived copies first, the original last: an original on disk means
        // its copies are there too.
        write_atomically(&self.file(Variant::Public, &id, kind), &encode(&bounded(&img, PUBLIC_EDGE), kind.public())?)?;
        write_atomically(
            &self.file(Variant::Thumbnail, &id, kind),
            &encode(&bounded(&img, THUMB_EDGE), ImageKind::Jpeg)?,
        )?;
        write_atomically(&original, bytes)?;
        Ok(stored(true))
    }

    fn find(&self, id: &str) -> Result<ImageKind, AttachmentError> {
        if !valid_id(id) {
            return Err(AttachmentError::NotFound(id.chars().take(80).collect()));
        }
        [ImageKind::Jpeg, ImageKind::Png, ImageKind::Webp]
            .into_iter()
            .find(|k| self.file(Variant::Original, id, *k).exists())
            .ok_or_else(|| AttachmentError::NotFound(id.to_owned()))
    }

    /// The bytes of one variant, with its MIME type.
    pub fn read(&self, id: &str, variant: Variant) -> Result<(Vec<u8>, &'static str), AttachmentError> {
        let kind = self.find(id)?;
        let bytes = std::fs::read(self.file(variant, id, kind))?;
        let mime = match variant {
            Variant::Original => kind.mime(),
            Variant::Public => kind.public().mime(),
            Variant::Thumbnail => ImageKind::Jpeg.mime(),
        };
        if variant == Variant::Original && crate::hex(&Sha256::digest(&bytes)) != id {
            return Err(AttachmentError::Checksum(id.to_owned()));
        }
        Ok((bytes, mime))
    }

    /// Checks that the original still has the checksum it is named by.
    pub fn verify(&self, id: &str) -> Result<(), AttachmentError> {
        self.read(id, Variant::Original).map(|_| ())
    }
}
