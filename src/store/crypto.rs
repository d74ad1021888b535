//! Encryption at rest: XChaCha20-Poly1305 with a random 24-byte nonce per
//! value, stored as `nonce || ciphertext`.
//!
//! The associated data binds each value to its tree and its key in that
//! tree, so a value copied to another record, another tree or another
//! position in the audit log no longer decrypts.
//!
//! Two sub-keys are derived from the store key with HMAC-SHA-256 and fixed
//! labels, so the encryption key and the key that hides conversation
//! identities are never the same bytes.

use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use hmac::{Hmac, Mac};
use sha2::Sha256;

use super::key::{Key, KEY_LEN};

const NONCE_LEN: usize = 24;
const AAD_PREFIX: &[u8] = b"safeguarding-bot/v1\0";
const LABEL_ENCRYPTION: &[u8] = b"safeguarding-bot encryption key v1";
const LABEL_IDENTITY: &[u8] = b"safeguarding-bot conversation identity key v1";
const LABEL_SECRETS: &[u8] = b"safeguarding-bot derived secrets key v1";

/// Why a value could not be sealed or opened.
#[derive(Debug)]
pub(crate) enum CryptoError {
    /// No randomness for a nonce.
    Random(String),
    /// The value is too short, altered, or sealed for another place or key.
    Open,
    /// The value could not be sealed (far too large).
    Seal,
}

pub(crate) struct Sealer {
    cipher: XChaCha20Poly1305,
    /// The HMAC keyed with the identity sub-key, ready to be cloned: keying
    /// an HMAC costs two SHA-256 blocks, and every record looked up by an
    /// identity digest paid them (16% of the core's time under load).
    identity_mac: Hmac<Sha256>,
    secrets_key: Key,
}

impl Sealer {
    pub(crate) fn new(key: &Key) -> Sealer {
        let enc = derive(key, LABEL_ENCRYPTION);
        let identity_key = derive(key, LABEL_IDENTITY);
        let secrets_key = derive(key, LABEL_SECRETS);
        let cipher = XChaCha20Poly1305::new(chacha20poly1305::Key::from_slice(enc.bytes()));
        let identity_mac = <Hmac<Sha256> as Mac>::new_from_slice(identity_key.bytes())
            .expect("HMAC accepts a key of any length");
        Sealer {
            cipher,
            identity_mac,
            secrets_key,
        }
    }

    /// Encrypts `plain` for the record at `key` in `tree`.
    pub(crate) fn seal(&self, tree: &str, key: &[u8], plain: &[u8]) -> Result<Vec<u8>, CryptoError> {
        let mut nonce = [0u8; NONCE_LEN];
        getrandom::getrandom(&mut nonce).map_err(|e| CryptoError::Random(e.to_string()))?;
        let aad = aad(tree, key);
        let sealed = self
            .cipher
            .encrypt(
                XNonce::from_slice(&nonce),
                Payload {
                    msg: plain,
                    aad: &aad,
                },
            )
            .map_err(|_| CryptoError::Seal)?;
        let mut out = Vec::with_capacity(NONCE_LEN + sealed.len());
        out.extend_from_slice(&nonce);
        out.extend_from_slice(&sealed);
        Ok(out)
    }

    /// Decrypts a value sealed for the record at `key` in `tree`.
    pub(crate) fn open(&self, tree: &str, key: &[u8], sealed: &[u8]) -> Result<Vec<u8>, CryptoError> {
        if sealed.len() < NONCE_LEN {
            return Err(CryptoError::Open);
        }
        let (nonce, body) = sealed.split_at(NONCE_LEN);
        let aad = aad(tree, key);
        self.cipher
            .decrypt(XNonce::from_slice(nonce), Payload { msg: body, aad: &aad })
            .map_err(|_| CryptoError::Open)
    }

    /// A keyed, one-way digest of an identity such as `@sam:example.org`:
    /// the same identity always gives the same 32 bytes, and without the
    /// store key nobody can tell which identity it was, or test a guess.
    pub(crate) fn identity_digest(&self, identity: &str) -> [u8; 32] {
        let mut mac = self.identity_mac.clone();
        mac.update(identity.as_bytes());
        mac.finalize().into_bytes().into()
    }

    /// A secret for another component (such as the chat SDK's own store),
    /// derived from the store key and `label`: the same label always gives
    /// the same secret, different labels unrelated ones.
    pub(crate) fn derived_secret(&self, label: &str) -> [u8; 32] {
        let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(self.secrets_key.bytes())
            .expect("HMAC accepts a key of any length");
        mac.update(label.as_bytes());
        mac.finalize().into_bytes().into()
    }
}

fn derive(key: &Key, label: &[u8]) -> Key {
    let mut mac =
        <Hmac<Sha256> as Mac>::new_from_slice(key.bytes()).expect("HMAC accepts a key of any length");
    mac.update(label);
    let out: [u8; KEY_LEN] = mac.finalize().into_bytes().into();
    Key::from_bytes(out, key.source())
}

fn aad(tree: &str, key: &[u8]) -> Vec<u8> {
    let mut aad = Vec::with_capacity(AAD_PREFIX.len() + tree.len() + 1 + key.len());
    aad.extend_from_slice(AAD_PREFIX);
    aad.extend_from_slice(tree.as_bytes());
    aad.push(0);
    aad.extend_from_slice(key);
    aad
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sealer(byte: u8) -> Sealer {
        Sealer::new(&Key::from_bytes([byte; KEY_LEN], "test"))
    }

    #[test]
    fn seals_and_opens_with_fresh_nonces() {
        let s = sealer(1);
        let a = s.seal("reference_concern", b"k1", b"hello").unwrap();
        let b = s.seal("reference_concern", b"k1", b"hello").unwrap();
        assert_ne!(a, b, "each value gets its own nonce");
        assert_eq!(a.len(), NONCE_LEN + 5 + 16);
        assert_eq!(s.open("reference_concern", b"k1", &a).unwrap(), b"hello");
    }

    #[test]
    fn a_value_is_bound_to_its_tree_key_and_store_key() {
        let s = sealer(1);
        let a = s.seal("reference_concern", b"k1", b"hello").unwrap();
        assert!(s.open("reference_concern", b"k2", &a).is_err());
        assert!(s.open("conversationkey_state", b"k1", &a).is_err());
        assert!(sealer(2).open("reference_concern", b"k1", &a).is_err());
        let mut altered = a.clone();
        let last = altered.len() - 1;
        altered[last] ^= 1;
        assert!(s.open("reference_concern", b"k1", &altered).is_err());
        assert!(s.open("reference_concern", b"k1", &a[..10]).is_err());
    }

    #[test]
    fn identity_digest_is_keyed_and_stable() {
        let s = sealer(1);
        assert_eq!(
            s.identity_digest("@sam:example.org"),
            s.identity_digest("@sam:example.org")
        );
        assert_ne!(
            s.identity_digest("@sam:example.org"),
            s.identity_digest("@kim:example.org")
        );
        assert_ne!(
            s.identity_digest("@sam:example.org"),
            sealer(2).identity_digest("@sam:example.org")
        );
    }
}
