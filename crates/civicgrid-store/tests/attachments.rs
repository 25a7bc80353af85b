//! Photos as a grid worker uploads them: checked by content, stored under
//! their checksum, shown upright without their EXIF location, with thumbnails.
#![allow(clippy::unwrap_used, reason = "tests fail loudly on the first surprise")]

use civicgrid_store::attachments::{AttachmentError, AttachmentStore, ImageKind, Variant, sniff};
use image::{DynamicImage, ImageFormat, Rgb, RgbImage};
use std::io::Cursor;

fn encoded(w: u32, h: u32, format: ImageFormat) -> Vec<u8> {
    let img = RgbImage::from_fn(w, h, |x, y| Rgb([(x * 7) as u8, (y * 5) as u8, 90]));
    let mut out = Cursor::new(Vec::new());
    DynamicImage::ImageRgb8(img).write_to(&mut out, format).unwrap();
    out.into_inner()
}

/// A JPEG as a phone writes it: an EXIF block saying "rotate 90° clockwise"
/// and carrying a GPS position.
fn phone_photo(w: u32, h: u32) -> Vec<u8> {
    let jpeg = encoded(w, h, ImageFormat::Jpeg);
    let mut tiff = b"MM\x00\x2a\x00\x00\x00\x08".to_vec();
    tiff.extend_from_slice(&[0, 1]); // one IFD entry
    tiff.extend_from_slice(&[0x01, 0x12, 0, 3, 0, 0, 0, 1, 0, 6, 0, 0]); // Orientation = 6
    tiff.extend_from_slice(&[0, 0, 0, 0]); // no next IFD
    tiff.extend_from_slice(b"GPSLatitude=34.3612;GPSLongitude=107.3705");
    let mut payload = b"Exif\x00\x00".to_vec();
    payload.extend_from_slice(&tiff);
    let len = u16::try_from(payload.len() + 2).unwrap().to_be_bytes();
    let mut out = vec![0xFF, 0xD8, 0xFF, 0xE1, len[0], len[1]];
    out.extend_from_slice(&payload);
    out.extend_from_slice(&jpeg[2..]);
    out
}

fn contains(hay: &[u8], needle: &[u8]) -> bool {
    hay.windows(needle.len()).any(|w| w == needle)
}

#[test]
fn a_phone_photo_is_stored_upright_and_its_location_stays_private() {
    let dir = tempfile::tempdir().unwrap();
    let store = AttachmentStore::open(dir.path()).unwrap();
    let photo = phone_photo(400, 200);
    let a = store.put(&photo).unwrap();
    assert!(a.created);
    assert_eq!(a.kind, ImageKind::Jpeg);
    assert_eq!((a.width, a.height), (200, 400), "turned as the EXIF orientation says");
    assert_eq!(a.id.len(), 64);

    let (original, mime) = store.read(&a.id, Variant::Original).unwrap();
    assert_eq!(original, photo, "the original is kept as uploaded");
    assert_eq!(mime, "image/jpeg");
    let (public, _) = store.read(&a.id, Variant::Public).unwrap();
    assert!(contains(&original, b"GPSLatitude"));
    assert!(!contains(&public, b"GPSLatitude") && !contains(&public, b"Exif"), "no metadata in the public copy");
    let shown = image::load_from_memory(&public).unwrap();
    assert_eq!((shown.width(), shown.height()), (200, 400));
    let (thumb, mime) = store.read(&a.id, Variant::Thumbnail).unwrap();
    assert_eq!(mime, "image/jpeg");
    let t = image::load_from_memory(&thumb).unwrap();
    assert!(t.width().max(t.height()) <= 320);

    // The same bytes again are the same attachment.
    let again = store.put(&photo).unwrap();
    assert_eq!(again.id, a.id);
    assert!(!again.created);
}

#[test]
fn content_decides_not_the_name() {
    let png = encoded(30, 20, ImageFormat::Png);
    assert_eq!(sniff(&png).unwrap(), ImageKind::Png);
    assert_eq!(sniff(&encoded(30, 20, ImageFormat::WebP)).unwrap(), ImageKind::Webp);
    for (bytes, looks_like) in [
        (&b"%PDF-1.7 ..."[..], "PDF"),
        (&b"<html><script>alert(1)</script>"[..], "HTML"),
        (&b"GIF89a...."[..], "GIF"),
        (&b"\x7fELF\x02\x01"[..], "program"),
        (&b"just some text"[..], "unknown"),
    ] {
        let e = sniff(bytes).unwrap_err();
        assert!(e.to_string().contains(looks_like), "{e}");
    }
    let dir = tempfile::tempdir().unwrap();
    let store = AttachmentStore::open(dir.path()).unwrap();
    let stored = store.put(&png).unwrap();
    assert_eq!(stored.kind, ImageKind::Png);
    assert_eq!(store.read(&stored.id, Variant::Public).unwrap().1, "image/png", "PNG keeps its transparency");
    // A JPEG header on garbage is not an image.
    let mut fake = vec![0xFF, 0xD8, 0xFF, 0xE0];
    fake.extend_from_slice(&[0x42; 200]);
    assert!(matches!(store.put(&fake), Err(AttachmentError::Undecodable(_))));
    let truncated = &encoded(64, 64, ImageFormat::Jpeg)[..100];
    assert!(matches!(store.put(truncated), Err(AttachmentError::Undecodable(_))));
}

#[test]
fn size_is_limited_and_ids_cannot_walk_the_disk() {
    let dir = tempfile::tempdir().unwrap();
    let store = AttachmentStore::open(dir.path()).unwrap().with_max_bytes(1000);
    assert!(matches!(store.put(&[]), Err(AttachmentError::Empty)));
    let big = encoded(300, 300, ImageFormat::Png);
    assert!(matches!(store.put(&big), Err(AttachmentError::TooLarge { max: 1000, .. })));
    for id in ["../../etc/passwd", "", "ABCDEF", &"g".repeat(64)] {
        assert!(matches!(store.read(id, Variant::Public), Err(AttachmentError::NotFound(_))), "{id}");
    }
    assert!(matches!(store.read(&"a".repeat(64), Variant::Original), Err(AttachmentError::NotFound(_))));
}

#[test]
fn a_changed_original_no_longer_matches_its_checksum() {
    let dir = tempfile::tempdir().unwrap();
    let store = AttachmentStore::open(dir.path()).unwrap();
    let a = store.put(&encoded(50, 40, ImageFormat::Jpeg)).unwrap();
    store.verify(&a.id).unwrap();
    let path = dir.path().join("original").join(&a.id[..2]).join(format!("{}.jpg", a.id));
    let mut bytes = std::fs::read(&path).unwrap();
    let last = bytes.len() - 3;
    bytes[last] ^= 0xFF;
    std::fs::write(&path, bytes).unwrap();
    assert!(matches!(store.verify(&a.id), Err(AttachmentError::Checksum(_))));
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(dir.path().join("original")).unwrap().permissions().mode();
        assert_eq!(mode & 0o077, 0, "originals are private to the server's user");
    }
}
