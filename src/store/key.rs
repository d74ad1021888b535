//! The store's 32-byte key: loaded from a key file or the
//! `SAFEGUARDING_BOT_KEY` environment variable, never printed.

use std::fmt;
use std::fs::{DirBuilder, File, OpenOptions};
use std::io::{ErrorKind, Read, Write};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::Path;

use zeroize::Zeroize;

use super::StoreError;

/// The name of the environment variable that may hold the key as hex.
pub const KEY_ENV_VAR: &str = "SAFEGUARDING_BOT_KEY";

/// Length of a key in bytes.
pub const KEY_LEN: usize = 32;

/// The key that encrypts everything in the data directory.
///
/// 32 bytes, kept as 64 hex characters in the key file. The bytes are
/// wiped from memory when the key is dropped, and `Debug` shows only where
/// the key came from, never the key itself.
pub struct Key {
    bytes: [u8; KEY_LEN],
    /// Where the key came from, for error messages ("the key file /x/key").
    source: String,
}

impl Key {
    /// Loads the key file at `path`, or creates it with a new random key if
    /// there is none.
    ///
    /// A new key file is created readable and writable by its owner only
    /// (mode 0600), in a parent directory created if needed (mode 0700). An
    /// existing key file that other users can read or write is refused.
    pub fn load_or_create(path: &Path) -> Result<Key, StoreError> {
        match File::open(path) {
            Ok(file) => return Key::read_key_file(path, file),
            Err(e) if e.kind() == ErrorKind::NotFound => {}
            Err(e) => {
                return Err(StoreError::KeyFileRead {
                    path: path.to_path_buf(),
                    source: e,
                })
            }
        }

        if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
            if !parent.exists() {
                DirBuilder::new()
                    .recursive(true)
                    .mode(0o700)
                    .create(parent)
                    .map_err(|e| StoreError::KeyFileCreate {
                        path: path.to_path_buf(),
                        source: e,
                    })?;
            }
        }

        let key = Key::generate()?.with_source(describe_file(path));
        let created = OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(path);
        let mut file = match created {
            Ok(f) => f,
            // Someone else created it between our look and our create: use theirs.
            Err(e) if e.kind() == ErrorKind::AlreadyExists => {
                let file = File::open(path).map_err(|e| StoreError::KeyFileRead {
                    path: path.to_path_buf(),
                    source: e,
                })?;
                return Key::read_key_file(path, file);
            }
            Err(e) => {
                return Err(StoreError::KeyFileCreate {
                    path: path.to_path_buf(),
                    source: e,
                })
            }
        };
        let mut text = key.to_hex();
        text.push('\n');
        let written = file.write_all(text.as_bytes()).and_then(|()| file.sync_all());
        text.zeroize();
        written.map_err(|e| StoreError::KeyFileCreate {
            path: path.to_path_buf(),
            source: e,
        })?;
        // Make the new directory entry itself durable.
        if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
            if let Ok(dir) = File::open(parent) {
                let _ = dir.sync_all();
            }
        }
        Ok(key)
    }

    /// A key given as 64 hex characters, as in the `SAFEGUARDING_BOT_KEY`
    /// environment variable. Surrounding whitespace is ignored.
    pub fn from_hex(text: &str) -> Result<Key, StoreError> {
        parse_hex(text)
            .map(|bytes| Key {
                bytes,
                source: format!("the key in {KEY_ENV_VAR}"),
            })
            .map_err(|reason| StoreError::KeyFormat {
                source_name: KEY_ENV_VAR.to_string(),
                reason,
            })
    }

    /// A new random key.
    pub fn generate() -> Result<Key, StoreError> {
        let mut bytes = [0u8; KEY_LEN];
        getrandom::getrandom(&mut bytes).map_err(|e| StoreError::Random(e.to_string()))?;
        Ok(Key {
            bytes,
            source: "a newly generated key".to_string(),
        })
    }

    /// Where this key came from, as said in error messages.
    pub fn source(&self) -> &str {
        &self.source
    }

    pub(crate) fn from_bytes(bytes: [u8; KEY_LEN], source: &str) -> Key {
        Key {
            bytes,
            source: source.to_string(),
        }
    }

    pub(crate) fn bytes(&self) -> &[u8; KEY_LEN] {
        &self.bytes
    }

    fn with_source(mut self, source: String) -> Key {
        self.source = source;
        self
    }

    fn to_hex(&self) -> String {
        const HEX: &[u8; 16] = b"0123456789abcdef";
        let mut s = String::with_capacity(KEY_LEN * 2);
        for b in self.bytes {
            s.push(HEX[(b >> 4) as usize] as char);
            s.push(HEX[(b & 0x0f) as usize] as char);
        }
        s
    }

    fn read_key_file(path: &Path, mut file: File) -> Result<Key, StoreError> {
        let read_err = |e| StoreError::KeyFileRead {
            path: path.to_path_buf(),
            source: e,
        };
        // Checked on the open file, so the file checked is the file read.
        let meta = file.metadata().map_err(read_err)?;
        if !meta.is_file() {
            return Err(StoreError::KeyFileFormat {
                path: path.to_path_buf(),
                reason: "it is not a regular file".to_string(),
            });
        }
        let mode = meta.permissions().mode() & 0o777;
        if mode & 0o077 != 0 {
            return Err(StoreError::KeyFilePermissions {
                path: path.to_path_buf(),
                mode,
            });
        }
        let mut text = String::new();
        let read = file.read_to_string(&mut text);
        let parsed = read.map_err(read_err).and_then(|_| {
            parse_hex(&text).map_err(|reason| StoreError::KeyFileFormat {
                path: path.to_path_buf(),
                reason,
            })
        });
        text.zeroize();
        Ok(Key {
            bytes: parsed?,
            source: describe_file(path),
        })
    }
}

fn describe_file(path: &Path) -> String {
    format!("the key file {}", path.display())
}

/// 64 hex characters to 32 bytes. The reason for a refusal never quotes the
/// text, which may be most of a real key.
fn parse_hex(text: &str) -> Result<[u8; KEY_LEN], String> {
    let t = text.trim().as_bytes();
    if t.is_empty() {
        return Err(format!(
            "it is empty; a key is {} hex characters (0-9, a-f)",
            KEY_LEN * 2
        ));
    }
    if t.len() != KEY_LEN * 2 {
        return Err(format!(
            "it is {} characters long; a key is exactly {} hex characters (0-9, a-f)",
            t.len(),
            KEY_LEN * 2
        ));
    }
    let mut bytes = [0u8; KEY_LEN];
    for (i, pair) in t.chunks_exact(2).enumerate() {
        match (hex_value(pair[0]), hex_value(pair[1])) {
            (Some(hi), Some(lo)) => bytes[i] = (hi << 4) | lo,
            _ => {
                bytes.zeroize();
                return Err(format!(
                    "it has a character that is not hex at position {}; a key is {} hex characters (0-9, a-f)",
                    if hex_value(pair[0]).is_none() { 2 * i + 1 } else { 2 * i + 2 },
                    KEY_LEN * 2
                ));
            }
        }
    }
    Ok(bytes)
}

fn hex_value(c: u8) -> Option<u8> {
    match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        b'A'..=b'F' => Some(c - b'A' + 10),
        _ => None,
    }
}

impl Drop for Key {
    fn drop(&mut self) {
        self.bytes.zeroize();
    }
}

impl fmt::Debug for Key {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Key")
            .field("bytes", &"(hidden)")
            .field("source", &self.source)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;

    const HEX: &str = "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f";

    #[test]
    fn hex_round_trips_and_trims() {
        let k = Key::from_hex(&format!("  {HEX}\n")).unwrap();
        assert_eq!(k.bytes()[31], 0x1f);
        assert_eq!(k.to_hex(), HEX);
        assert!(Key::from_hex(&HEX.to_uppercase()).is_ok());
    }

    #[test]
    fn bad_hex_is_refused_without_quoting_it() {
        let short = Key::from_hex("abcd").unwrap_err().to_string();
        assert!(short.contains("SAFEGUARDING_BOT_KEY"), "{short}");
        assert!(short.contains("4 characters long"), "{short}");
        assert!(!short.contains("abcd"), "{short}");
        let bad = format!("{}zz", &HEX[..62]);
        let msg = Key::from_hex(&bad).unwrap_err().to_string();
        assert!(msg.contains("not hex at position 63"), "{msg}");
        assert!(!msg.contains(&HEX[..62]), "{msg}");
        assert!(Key::from_hex("   ").unwrap_err().to_string().contains("empty"));
    }

    #[test]
    fn debug_does_not_print_the_key() {
        let k = Key::from_hex(HEX).unwrap();
        let shown = format!("{k:?}");
        assert!(!shown.contains("0a0b"), "{shown}");
        assert!(!shown.contains("10, 11"), "{shown}");
        assert!(shown.contains("hidden"), "{shown}");
    }

    #[test]
    fn created_key_file_is_private_and_reloads() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("nested/deeper/key");
        let k1 = Key::load_or_create(&path).unwrap();
        let mode = fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        let k2 = Key::load_or_create(&path).unwrap();
        assert_eq!(k1.bytes(), k2.bytes());
        fs::remove_file(&path).unwrap();
        let k3 = Key::load_or_create(&path).unwrap();
        assert_ne!(k1.bytes(), k3.bytes());
    }
}
