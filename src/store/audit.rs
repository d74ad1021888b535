//! The audit log's entries and their hash chain.

use std::fmt;

use chrono::{DateTime, SecondsFormat, Utc};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::concern::Reference;

/// The `prev_hash` of the first entry.
pub const GENESIS_HASH: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// One line of the append-only audit log: who did what, when, to which
/// reference.
///
/// **No concern content ever goes in an audit entry**: not the reporter's
/// words, not answers, not the route's guidance. `detail` is for things
/// like "status submitted" or "paged the lead (urgent)"; the concern itself
/// is found by its `reference`. Entries are encrypted at rest all the same,
/// because `actor` is a chat identity.
///
/// Each entry carries the hash of the entry before it (`prev_hash`) and its
/// own `hash`, SHA-256 over `prev_hash` and the entry's fields in a fixed,
/// length-prefixed form, so [`Store::verify_audit`](super::Store::verify_audit)
/// can name the first entry altered or removed.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditEntry {
    /// 1 for the first entry, then one more for each.
    pub seq: u64,
    pub at: DateTime<Utc>,
    /// Who acted: a chat identity, or a name such as `bot` or `cli`.
    pub actor: String,
    /// What was done, a short fixed word such as `concern_saved`.
    pub action: String,
    pub reference: Option<Reference>,
    /// Anything else worth knowing, never concern content.
    pub detail: String,
    /// The previous entry's `hash`, or [`GENESIS_HASH`] for the first entry.
    pub prev_hash: String,
    /// SHA-256 (lowercase hex) over `prev_hash` and this entry's fields.
    pub hash: String,
}

impl AuditEntry {
    /// The hash this entry should have, from its fields and `prev_hash`.
    ///
    /// Each field goes in as an 8-byte big-endian length and its bytes, so
    /// no two different entries give the same input.
    pub fn compute_hash(&self) -> String {
        let reference = self.reference.as_ref().map(|r| r.to_string());
        let seq = self.seq.to_be_bytes();
        let at = self.at.to_rfc3339_opts(SecondsFormat::Nanos, true);
        let fields: [Option<&[u8]>; 7] = [
            Some(self.prev_hash.as_bytes()),
            Some(&seq),
            Some(at.as_bytes()),
            Some(self.actor.as_bytes()),
            Some(self.action.as_bytes()),
            reference.as_deref().map(str::as_bytes),
            Some(self.detail.as_bytes()),
        ];
        let mut h = Sha256::new();
        h.update(b"safeguarding-bot audit entry v1\0");
        for field in fields {
            match field {
                Some(bytes) => {
                    h.update([1u8]);
                    h.update((bytes.len() as u64).to_be_bytes());
                    h.update(bytes);
                }
                None => h.update([0u8]),
            }
        }
        hex(&h.finalize())
    }
}

/// Where the audit log stops being trustworthy: the first entry that is
/// missing, altered, out of place, or could not be read.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AuditBreak {
    /// The sequence number of the first bad or missing entry.
    pub seq: u64,
    /// What is wrong with it, in plain English.
    pub reason: String,
}

impl fmt::Display for AuditBreak {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "the audit log cannot be trusted from entry {}: {}. Keep the data directory as it is and tell whoever runs the bot; restore from a backup only after it has been looked at",
            self.seq, self.reason
        )
    }
}

impl std::error::Error for AuditBreak {}

/// The newest entry's number and hash, kept beside the log so a removed
/// last entry is noticed too.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct AuditHead {
    pub seq: u64,
    pub hash: String,
}

pub(crate) fn hex(bytes: &[u8]) -> String {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        s.push(HEX[(b >> 4) as usize] as char);
        s.push(HEX[(b & 0x0f) as usize] as char);
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn entry() -> AuditEntry {
        let mut e = AuditEntry {
            seq: 1,
            at: Utc.with_ymd_and_hms(2025, 3, 4, 5, 6, 7).unwrap(),
            actor: "@sam:example.org".into(),
            action: "concern_saved".into(),
            reference: Some(Reference::new(7)),
            detail: "status submitted".into(),
            prev_hash: GENESIS_HASH.into(),
            hash: String::new(),
        };
        e.hash = e.compute_hash();
        e
    }

    #[test]
    fn hash_covers_every_field() {
        let e = entry();
        assert_eq!(e.hash.len(), 64);
        assert_eq!(e.compute_hash(), e.hash);
        let changes: [fn(&mut AuditEntry); 8] = [
            |e| e.seq = 2,
            |e| e.at += chrono::Duration::nanoseconds(1),
            |e| e.actor.push('x'),
            |e| e.action.push('x'),
            |e| e.reference = None,
            |e| e.reference = Some(Reference::new(8)),
            |e| e.detail.push('x'),
            |e| e.prev_hash = "1".repeat(64),
        ];
        for change in changes {
            let mut altered = e.clone();
            change(&mut altered);
            assert_ne!(altered.compute_hash(), e.hash, "{altered:?}");
        }
    }

    #[test]
    fn fields_cannot_be_shifted_between_each_other() {
        let mut a = entry();
        a.actor = "ab".into();
        a.action = "c".into();
        let mut b = entry();
        b.actor = "a".into();
        b.action = "bc".into();
        assert_ne!(a.compute_hash(), b.compute_hash());
    }
}
