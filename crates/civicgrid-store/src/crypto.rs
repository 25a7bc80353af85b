//! Encryption of residents' personal data at rest: AES-256-GCM under numbered
//! data keys (so keys can be rotated while old rows still decrypt), and a keyed
//! HMAC-SHA256 "blind index" so an exact number can be found without storing it.
//!
//! Ciphertext blob: `0x01 | key id (u32, big-endian) | nonce (12 bytes) |
//! AES-256-GCM ciphertext with its 16-byte tag`. The first five bytes are also
//! the associated data, so a blob's key id cannot be swapped without the tag
//! failing.
//!
//! Key file (JSON, mode 0600):
//! `{"format": "civicgrid-keyring-1", "current": 2,
//!   "data_keys": {"1": "<base64 32 bytes>", "2": "…"}, "index_key": "<base64 32 bytes>"}`

use crate::{Result, StoreError};
use aes_gcm::aead::rand_core::RngCore;
use aes_gcm::aead::{Aead, AeadCore, KeyInit, OsRng, Payload};
use aes_gcm::{Aes256Gcm, Key, Nonce};
use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use sha2::Sha256;
use std::collections::BTreeMap;
use std::fmt;
use std::io::Write;
use std::path::Path;

const BLOB_VERSION: u8 = 1;
const HEADER_LEN: usize = 5;
const NONCE_LEN: usize = 12;
const TAG_LEN: usize = 16;
const FILE_FORMAT: &str = "civicgrid-keyring-1";

/// The keys for personal data. `Debug` shows key ids only, never key material.
#[derive(Clone)]
pub struct KeyRing {
    current: u32,
    data: BTreeMap<u32, Aes256Gcm>,
    index: Hmac<Sha256>,
}

impl fmt::Debug for KeyRing {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KeyRing")
            .field("current", &self.current)
            .field("data_key_ids", &self.data.keys().collect::<Vec<_>>())
            .finish_non_exhaustive()
    }
}

/// The key file as stored.
#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct KeyFile {
    format: String,
    current: u32,
    data_keys: BTreeMap<u32, String>,
    index_key: String,
}

fn crypto_err(path: &Path, what: impl fmt::Display) -> StoreError {
    StoreError::Crypto(format!("key file {}: {what}", path.display()))
}

fn random_key() -> [u8; 32] {
    let mut k = [0u8; 32];
    OsRng.fill_bytes(&mut k);
    k
}

fn decode_key(path: &Path, name: &str, b64: &str) -> Result<[u8; 32]> {
    let bytes = B64.decode(b64.trim()).map_err(|e| crypto_err(path, format!("{name} is not base64: {e}")))?;
    bytes.try_into().map_err(|_| crypto_err(path, format!("{name} is not 32 bytes")))
}

impl KeyFile {
    fn fresh() -> KeyFile {
        KeyFile {
            format: FILE_FORMAT.into(),
            current: 1,
            data_keys: BTreeMap::from([(1, B64.encode(random_key()))]),
            index_key: B64.encode(random_key()),
        }
    }

    fn read(path: &Path) -> Result<KeyFile> {
        check_permissions(path)?;
        let text = std::fs::read_to_string(path).map_err(|e| crypto_err(path, format!("cannot be read: {e}")))?;
        let file: KeyFile = serde_json::from_str(&text).map_err(|e| crypto_err(path, format!("is malformed: {e}")))?;
        if file.format != FILE_FORMAT {
            return Err(crypto_err(path, format!("has format {:?}, expected {FILE_FORMAT:?}", file.format)));
        }
        Ok(file)
    }

    fn ring(&self, path: &Path) -> Result<KeyRing> {
        let mut data = BTreeMap::new();
        for (id, k) in &self.data_keys {
            let key = decode_key(path, &format!("data key {id}"), k)?;
            data.insert(*id, Aes256Gcm::new(Key::<Aes256Gcm>::from_slice(&key)));
        }
        if !data.contains_key(&self.current) {
            return Err(crypto_err(path, format!("the current key {} is not among the data keys", self.current)));
        }
        let index = decode_key(path, "index key", &self.index_key)?;
        Ok(KeyRing { current: self.current, data, index: index_mac(&index) })
    }

    /// Writes the file next to `path` and renames it over, so a crash leaves
    /// either the old file or the new one, never half of one.
    fn replace(&self, path: &Path) -> Result<()> {
        let tmp = path.with_extension(format!("tmp{}", OsRng.next_u32()));
        self.write_new(&tmp)?;
        std::fs::rename(&tmp, path).map_err(|e| crypto_err(path, format!("cannot be replaced: {e}")))?;
        sync_dir(path);
        Ok(())
    }

    /// Creates `path` (failing if it exists, so two processes never both
    /// create a key and lose data encrypted under one of them).
    fn write_new(&self, path: &Path) -> Result<()> {
        let text = serde_json::to_string_pretty(self).map_err(|e| crypto_err(path, e))?;
        let mut opts = std::fs::OpenOptions::new();
        opts.write(true).create_new(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            opts.mode(0o600);
        }
        let mut f = opts.open(path).map_err(|e| crypto_err(path, format!("cannot be created: {e}")))?;
        f.write_all(text.as_bytes())
            .and_then(|()| f.write_all(b"\n"))
            .and_then(|()| f.sync_all())
            .map_err(|e| crypto_err(path, format!("cannot be written: {e}")))?;
        sync_dir(path);
        Ok(())
    }
}

/// Makes a created or renamed file's directory entry durable; best effort.
fn sync_dir(path: &Path) {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty())
        && let Ok(d) = std::fs::File::open(dir)
    {
        let _ = d.sync_all();
    }
}

/// Refuses a key file that others on the machine may read or change.
fn check_permissions(path: &Path) -> Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let meta = std::fs::metadata(path).map_err(|e| crypto_err(path, format!("cannot be read: {e}")))?;
        let mode = meta.permissions().mode();
        if mode & 0o007 != 0 {
            return Err(crypto_err(
                path,
                format!("is accessible to every user (mode {:o}); run `chmod 600` on it", mode & 0o777),
            ));
        }
    }
    #[cfg(not(unix))]
    let _ = path;
    Ok(())
}

fn index_mac(key: &[u8; 32]) -> Hmac<Sha256> {
    // HMAC takes keys of any length, so this cannot fail for 32 bytes.
    <Hmac<Sha256> as Mac>::new_from_slice(key).unwrap_or_else(|_| unreachable!("HMAC accepts any key length"))
}

fn header(key_id: u32) -> [u8; HEADER_LEN] {
    let id = key_id.to_be_bytes();
    [BLOB_VERSION, id[0], id[1], id[2], id[3]]
}

impl KeyRing {
    /// Loads the key file at `path`, creating it (mode 0600) with a fresh data
    /// key and index key when absent.
    pub fn load_or_create(path: &Path) -> Result<KeyRing> {
        if !path.exists() {
            let file = KeyFile::fresh();
            match file.write_new(path) {
                Ok(()) => return file.ring(path),
                // Another process created it first: use theirs.
                Err(_) if path.exists() => {}
                Err(e) => return Err(e),
            }
        }
        KeyFile::read(path)?.ring(path)
    }

    /// Loads the key file at `path`, which must exist.
    pub fn load(path: &Path) -> Result<KeyRing> {
        KeyFile::read(path)?.ring(path)
    }

    /// Random keys held in memory only: for tests and benchmarks.
    pub fn ephemeral() -> KeyRing {
        let key = random_key();
        KeyRing {
            current: 1,
            data: BTreeMap::from([(1, Aes256Gcm::new(Key::<Aes256Gcm>::from_slice(&key)))]),
            index: index_mac(&random_key()),
        }
    }

    /// Adds a new data key to the key file and makes it current; returns its
    /// id. Older keys stay, so rows written under them still decrypt until
    /// [`crate::Store::reencrypt_personal_data`] moves them over. The index key
    /// does not change (a new one would orphan every blind index).
    pub fn rotate_file(path: &Path) -> Result<u32> {
        let mut file = KeyFile::read(path)?;
        file.ring(path)?;
        let id = file
            .data_keys
            .keys()
            .max()
            .copied()
            .unwrap_or(0)
            .checked_add(1)
            .ok_or_else(|| crypto_err(path, "has run out of key ids"))?;
        file.data_keys.insert(id, B64.encode(random_key()));
        file.current = id;
        file.replace(path)?;
        Ok(id)
    }

    /// The id of the key new ciphertexts are written under.
    pub fn current_key_id(&self) -> u32 {
        self.current
    }

    /// The ids of every data key held, oldest first.
    pub fn key_ids(&self) -> Vec<u32> {
        self.data.keys().copied().collect()
    }

    /// The key id a blob was written under, without decrypting it.
    pub fn key_id_of(blob: &[u8]) -> Option<u32> {
        match blob {
            [BLOB_VERSION, a, b, c, d, ..] if blob.len() >= HEADER_LEN + NONCE_LEN + TAG_LEN => {
                Some(u32::from_be_bytes([*a, *b, *c, *d]))
            }
            _ => None,
        }
    }

    /// The blob header of the current key: blobs starting otherwise need
    /// re-encrypting.
    pub(crate) fn current_header(&self) -> Vec<u8> {
        header(self.current).to_vec()
    }

    /// Encrypts under the current key with a fresh random nonce.
    pub fn encrypt(&self, plaintext: &str) -> Vec<u8> {
        let head = header(self.current);
        let nonce = Aes256Gcm::generate_nonce(&mut OsRng);
        let cipher = &self.data[&self.current];
        // Encryption fails only for plaintexts beyond GCM's 64 GiB limit.
        let sealed = cipher
            .encrypt(&nonce, Payload { msg: plaintext.as_bytes(), aad: &head })
            .unwrap_or_else(|_| unreachable!("AES-GCM encrypts any plaintext under 64 GiB"));
        let mut out = Vec::with_capacity(HEADER_LEN + NONCE_LEN + sealed.len());
        out.extend_from_slice(&head);
        out.extend_from_slice(&nonce);
        out.extend_from_slice(&sealed);
        out
    }

    /// Decrypts a blob written under any key of the ring.
    pub fn decrypt(&self, blob: &[u8]) -> Result<String> {
        let id = KeyRing::key_id_of(blob)
            .ok_or_else(|| StoreError::Crypto("not a CivicGrid ciphertext (bad version or too short)".into()))?;
        let cipher =
            self.data.get(&id).ok_or_else(|| StoreError::Crypto(format!("data key {id} is not in the key ring")))?;
        let (head, rest) = blob.split_at(HEADER_LEN);
        let (nonce, sealed) = rest.split_at(NONCE_LEN);
        let plain = cipher
            .decrypt(Nonce::from_slice(nonce), Payload { msg: sealed, aad: head })
            .map_err(|_| StoreError::Crypto(format!("ciphertext under key {id} does not authenticate")))?;
        String::from_utf8(plain).map_err(|_| StoreError::Crypto("decrypted text is not UTF-8".into()))
    }

    /// The keyed hash of `value` in lower-case hex: equal values give equal
    /// indexes, and without the index key nobody can test a guess.
    pub fn blind_index(&self, value: &str) -> String {
        let mut mac = self.index.clone();
        mac.update(value.as_bytes());
        crate::hex(&mac.finalize().into_bytes())
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "tests fail loudly on the first surprise")]
    use super::*;

    #[test]
    fn round_trip_and_tamper() {
        let k = KeyRing::ephemeral();
        let blob = k.encrypt("61039919400501011X");
        assert_eq!(KeyRing::key_id_of(&blob), Some(1));
        assert_eq!(k.decrypt(&blob).unwrap(), "61039919400501011X");
        assert_ne!(k.encrypt("x"), k.encrypt("x"), "fresh nonce each time");
        let mut bad = blob.clone();
        *bad.last_mut().unwrap() ^= 1;
        assert!(matches!(k.decrypt(&bad), Err(StoreError::Crypto(_))));
        let mut relabelled = blob.clone();
        relabelled[4] = 2;
        assert!(k.decrypt(&relabelled).is_err());
        assert!(KeyRing::ephemeral().decrypt(&blob).is_err(), "another ring's key");
        assert!(k.decrypt(b"short").is_err());
    }

    #[test]
    fn blind_index_is_keyed_and_stable() {
        let k = KeyRing::ephemeral();
        assert_eq!(k.blind_index("10012345678"), k.blind_index("10012345678"));
        assert_ne!(k.blind_index("10012345678"), k.blind_index("10012345679"));
        assert_ne!(k.blind_index("10012345678"), KeyRing::ephemeral().blind_index("10012345678"));
        assert_eq!(k.blind_index("a").len(), 64);
    }

    #[test]
    fn debug_shows_no_key_material() {
        let s = format!("{:?}", KeyRing::ephemeral());
        assert_eq!(s, "KeyRing { current: 1, data_key_ids: [1], .. }");
    }

    #[test]
    fn key_file_is_created_private_rotated_and_reloaded() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("keys.json");
        let k1 = KeyRing::load_or_create(&path).unwrap();
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            assert_eq!(std::fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o600);
        }
        let old = k1.encrypt("10012345678");
        assert_eq!(KeyRing::rotate_file(&path).unwrap(), 2);
        let k2 = KeyRing::load_or_create(&path).unwrap();
        assert_eq!((k2.current_key_id(), k2.key_ids()), (2, vec![1, 2]));
        assert_eq!(k2.decrypt(&old).unwrap(), "10012345678");
        assert_eq!(KeyRing::key_id_of(&k2.encrypt("x")), Some(2));
        assert_eq!(k1.blind_index("x"), k2.blind_index("x"), "the index key survives rotation");

        std::fs::write(&path, "{ not json").unwrap();
        let e = KeyRing::load_or_create(&path).unwrap_err().to_string();
        assert!(e.contains("malformed"), "{e}");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let open = dir.path().join("open.json");
            KeyRing::load_or_create(&open).unwrap();
            std::fs::set_permissions(&open, std::fs::Permissions::from_mode(0o644)).unwrap();
            let e = KeyRing::load_or_create(&open).unwrap_err().to_string();
            assert!(e.contains("chmod 600"), "{e}");
        }
    }
}
