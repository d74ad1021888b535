//! The store: sled on disk, in the data directory.
//!
//! # What is kept, and how
//!
//! | tree                    | key                              | value                                   |
//! |-------------------------|----------------------------------|-----------------------------------------|
//! | `meta`                  | `schema_version`                 | decimal text, in clear                  |
//! |                         | `key_check`                      | a fixed text, encrypted                 |
//! |                         | `reference_counter`              | last reference issued, big-endian u64   |
//! |                         | `audit_head`                     | newest audit entry's seq and hash, encrypted |
//! |                         | `health_check`                   | unix seconds of the last health check, in clear |
//! |                         | `pending_commit`                 | a batch being committed, whole, encrypted (there only while it is written; see `batch`) |
//! | `reference_concern`     | reference number, big-endian u64 | [`ConcernRecord`] as JSON, encrypted    |
//! | `conversationkey_state` | keyed digest of the key string   | the key string and state as JSON, encrypted |
//! | `audit_seq_entry`       | seq, big-endian u64              | [`AuditEntry`] as JSON, encrypted       |
//! | `reference_escalation`, `reporter_privateroom`, `name_setting` ([`Tree`]) | keyed digest of the key string | the key string and item as JSON, encrypted |
//! | `inboxseq_event`        | arrival order, big-endian u64    | event id and event as JSON, encrypted   |
//! | `eventid_inboxstate`    | keyed digest of the event id     | `P` + arrival seq (pending) or `D` + unix seconds (done) |
//!
//! A data directory written by an older safeguarding-bot (a lower
//! `schema_version`) is brought up to [`SCHEMA_VERSION`] once, when it is
//! opened (see `migrate`); one written by a newer one is refused.
//!
//! Everything that holds a reporter's words or a chat identity is encrypted
//! with XChaCha20-Poly1305 (see `crypto`), each value bound to its tree and
//! key, so nobody can find a phrase from a concern by searching the data
//! directory, and a value cannot be moved to another record. Big-endian
//! keys make sled's order the numeric order.
//!
//! Every write that the caller may report as done (a concern, a
//! conversation's state, a reference, an audit entry, a commit) is flushed
//! to disk before the method returns, in a flush shared with every writer
//! waiting at the time (`flusher`). Three writes are not waited for, and
//! say so: an event kept in the inbox ([`Store::inbox_push`], on disk
//! before the chat is told it arrived), an effect marked carried out
//! ([`Store::outbox_sent`]) and [`Store::commit_unsynced`]; they reach
//! the disk with the next flush, or within two seconds. An effect is
//! handed to the outbox only once its commit is on disk
//! ([`Store::outbox_pending`]).
//!
//! Error messages never quote stored content or chat identities: they name
//! the data directory or key file, the reference or audit sequence number,
//! and what to do.

mod audit;
mod batch;
mod crypto;
mod flusher;
mod key;
mod migrate;

use std::cell::Cell;
use std::fs::DirBuilder;
use std::os::unix::fs::DirBuilderExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use serde::de::{DeserializeOwned, IgnoredAny};
use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

use crate::clock::{Clock, SystemClock};
use crate::concern::{ConcernRecord, Reference};

pub use audit::{AuditBreak, AuditEntry, GENESIS_HASH};
pub use batch::{Batch, Pending};
pub use key::{Key, KEY_ENV_VAR, KEY_LEN};

use audit::AuditHead;
use crypto::{CryptoError, Sealer};
use flusher::Flusher;

/// The schema version this build writes and understands.
pub const SCHEMA_VERSION: u64 = 1;

const TREE_META: &str = "meta";
const TREE_CONCERNS: &str = "reference_concern";
const TREE_CONVERSATIONS: &str = "conversationkey_state";
const TREE_AUDIT: &str = "audit_seq_entry";
const TREE_ESCALATIONS: &str = "reference_escalation";
const TREE_PRIVATE_ROOMS: &str = "reporter_privateroom";
const TREE_SETTINGS: &str = "name_setting";
const TREE_INBOX: &str = "inboxseq_event";
const TREE_INBOX_STATE: &str = "eventid_inboxstate";
const TREE_CASEFILES: &str = "reference_casefile";
const TREE_ROOMS: &str = "slot_room";
const TREE_OUTBOX: &str = "outboxseq_effect";
const TREE_OUTBOX_STATE: &str = "effectkey_outboxstate";

const META_SCHEMA_VERSION: &[u8] = b"schema_version";
const META_KEY_CHECK: &[u8] = b"key_check";
const META_REFERENCE_COUNTER: &[u8] = b"reference_counter";
const META_AUDIT_HEAD: &[u8] = b"audit_head";
const META_HEALTH_CHECK: &[u8] = b"health_check";

/// What `key_check` decrypts to with the right key.
const KEY_CHECK_TEXT: &[u8] = b"safeguarding-bot key check v1";

/// Why the store could not do what was asked. Each message names the data
/// directory or key file and says what to do.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("could not open the data directory {}: {source}. Check that it is writable by the user the bot runs as, and that no other safeguarding-bot is already running with it", dir.display())]
    Open { dir: PathBuf, source: sled::Error },

    #[error("the data directory {} is in use by another safeguarding-bot (the bot is running, or a command line run of it). Stop that one first (for example: systemctl stop safeguarding-bot), then try again", dir.display())]
    InUse { dir: PathBuf },

    #[error("could not create the data directory {}: {source}. Create it yourself (mkdir -p, then chmod 700) or set storage.data_dir to a directory the bot can write", dir.display())]
    CreateDir { dir: PathBuf, source: std::io::Error },

    #[error("reading or writing the data directory {} failed: {source}. Check that the disk is not full and the directory is still there and writable; what was being saved was not saved", dir.display())]
    Disk { dir: PathBuf, source: sled::Error },

    #[error("the key file does not match this data directory: {key_source} cannot decrypt {}. Use the key this data directory was created with (storage.key_file in the config, or {KEY_ENV_VAR}); do not delete the data directory, it holds safeguarding records", dir.display())]
    WrongKey { dir: PathBuf, key_source: String },

    #[error("the data directory {} uses schema version {found}, but this safeguarding-bot only understands version {supported}: it was written by a newer safeguarding-bot. Run that newer version (upgrade this one); do not edit or delete the data directory", dir.display())]
    SchemaTooNew {
        dir: PathBuf,
        found: u64,
        supported: u64,
    },

    #[error("the data directory {} is damaged: {what}. Stop the bot and restore the directory from a backup; do not delete it, it holds safeguarding records", dir.display())]
    Damaged { dir: PathBuf, what: String },

    #[error("{what} in the data directory {} could not be read: {reason}. It may have been written by a different version of safeguarding-bot; run the version that wrote it, or restore from a backup", dir.display())]
    Unreadable {
        dir: PathBuf,
        what: String,
        reason: String,
    },

    #[error("could not prepare {what} for the data directory {}: {reason}. This is a bug in safeguarding-bot; please report it", dir.display())]
    Encode {
        dir: PathBuf,
        what: String,
        reason: String,
    },

    #[error("the operating system gave no randomness ({0}), so nothing can be encrypted. Check that /dev/urandom is available to the bot")]
    Random(String),

    #[error("could not read the key file {}: {source}. Check that it exists and is readable by the user the bot runs as", path.display())]
    KeyFileRead { path: PathBuf, source: std::io::Error },

    #[error("could not create the key file {}: {source}. Check that its directory exists and is writable by the user the bot runs as, or set storage.key_file to another place", path.display())]
    KeyFileCreate { path: PathBuf, source: std::io::Error },

    #[error("the key file {} can be read or written by other users (mode {mode:04o}); it must be private to the bot's user. Fix it with: chmod 600 {}", path.display(), path.display())]
    KeyFilePermissions { path: PathBuf, mode: u32 },

    #[error("the key file {} is not a valid key: {reason}. Put back the key file from your backup; a new key cannot open data written with the old one", path.display())]
    KeyFileFormat { path: PathBuf, reason: String },

    #[error("{source_name} is not a valid key: {reason}. Set it to the 64 hex characters of the key, or unset it to use the key file")]
    KeyFormat { source_name: String, reason: String },
}

/// The data directory, open.
pub struct Store {
    dir: PathBuf,
    db: sled::Db,
    meta: sled::Tree,
    concerns: sled::Tree,
    conversations: sled::Tree,
    audit: sled::Tree,
    escalations: sled::Tree,
    private_rooms: sled::Tree,
    settings: sled::Tree,
    inbox: sled::Tree,
    inbox_state: sled::Tree,
    casefiles: sled::Tree,
    rooms: sled::Tree,
    outbox: sled::Tree,
    outbox_state: sled::Tree,
    sealer: Sealer,
    key_source: String,
    /// Held for every write, so a batch's writes are never interleaved
    /// with another's (see `batch`), and audit entries are numbered and
    /// chained in order.
    writes: Mutex<()>,
    /// Makes the writes durable, sharing each flush among every writer
    /// waiting at the time (see `flusher`).
    flusher: Flusher,
    /// Effects written but perhaps not yet on disk: (outbox seq, the
    /// flusher's ticket that covers it, or `u64::MAX` while it is being
    /// written). [`Store::outbox_pending`] leaves them out, so nothing is
    /// carried out whose cause a crash could still undo.
    fresh_effects: Mutex<Vec<(u64, u64)>>,
    /// The first write that failed for the disk: sled keeps failing after
    /// one, so the bot must stop and start afresh (see `Core::fail`).
    disk_failed: Mutex<Option<String>>,
    /// Where the store reads the time (for the marks it stamps itself):
    /// the system's clock unless [`Store::with_clock`] set another.
    clock: Arc<dyn Clock>,
    /// Makes each health check's value new even when the clock stands
    /// still (a test's paused clock).
    health_checks: AtomicU64,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store")
            .field("dir", &self.dir)
            .field("key", &self.key_source)
            .finish_non_exhaustive()
    }
}

/// Small records the chat transport keeps, each kind in its own tree. Kept
/// like conversations: encrypted, under a keyed digest of the key string.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Tree {
    /// Escalations, by reference: who was paged, who acknowledged.
    Escalations,
    /// Each reporter's private room, by reporter.
    PrivateRooms,
    /// Settings changed in chat, by name: the rota (who is away, who covers).
    Settings,
    /// The leads' casefiles (notes, decisions, status, outcome), by reference.
    Casefiles,
    /// The chat's rooms the bot made, both ways: a slot ("concern:SG-0042",
    /// "private:@sam:example.org") to its room id, and "room:ID" to the slot,
    /// so a concern is found from its room without reading every escalation.
    Rooms,
}

/// A record kept under a digest of its key string: the key string travels
/// inside the encrypted value, so it can be given back.
#[derive(Serialize)]
struct KeyedOut<'a, T: ?Sized> {
    key: &'a str,
    state: &'a T,
}

#[derive(Deserialize)]
struct KeyedIn<T> {
    key: String,
    state: T,
}

/// How long [`Store::open`] waits for a data directory that is locked.
///
/// sled lets go of its lock file from background threads a moment after
/// the last handle is dropped, so a store closed and opened again in one
/// process (a restart of the bot's task, a test) may find it still held for
/// a few milliseconds. Another running process holds it for good; after
/// this long that is what it is taken to be.
const LOCK_WAIT: Duration = Duration::from_secs(5);

/// Opens sled in `dir`, waiting up to [`LOCK_WAIT`] for its lock.
fn open_sled(dir: &Path) -> Result<sled::Db, StoreError> {
    let deadline = Instant::now() + LOCK_WAIT;
    loop {
        // No timed flush of sled's own: the store's flusher makes every
        // write durable, the ones not waited for within a second.
        match sled::Config::new().path(dir).flush_every_ms(None).open() {
            Ok(db) => return Ok(db),
            Err(sled::Error::Io(e)) if is_lock_held(&e) => {
                if Instant::now() >= deadline {
                    return Err(StoreError::InUse {
                        dir: dir.to_path_buf(),
                    });
                }
                std::thread::sleep(Duration::from_millis(20));
            }
            Err(e) => {
                return Err(StoreError::Open {
                    dir: dir.to_path_buf(),
                    source: e,
                })
            }
        }
    }
}

/// Whether sled failed to open because another handle holds the lock
/// (sled wraps the `WouldBlock` from the lock call in its own message);
/// any other failure to lock, such as a file system without locks, is not.
fn is_lock_held(e: &std::io::Error) -> bool {
    e.kind() == std::io::ErrorKind::WouldBlock || {
        let text = e.to_string();
        text.contains("could not acquire lock") && text.contains("WouldBlock")
    }
}

impl Store {
    /// Opens the store in `dir`, creating it (mode 0700) if there is none.
    ///
    /// A fresh store is stamped with [`SCHEMA_VERSION`] and a check value
    /// encrypted with `key`. An existing store is refused if its schema
    /// version is newer than this build understands, or if `key` cannot
    /// decrypt its check value (the wrong key file). A directory another
    /// handle holds is waited for a few seconds (sled lets go of it from a
    /// background thread), then refused as [`StoreError::InUse`].
    pub fn open(dir: &Path, key: Key) -> Result<Store, StoreError> {
        if !dir.exists() {
            DirBuilder::new()
                .recursive(true)
                .mode(0o700)
                .create(dir)
                .map_err(|e| StoreError::CreateDir {
                    dir: dir.to_path_buf(),
                    source: e,
                })?;
        }
        let open_err = |e| StoreError::Open {
            dir: dir.to_path_buf(),
            source: e,
        };
        let db = open_sled(dir)?;
        let meta = db.open_tree(TREE_META).map_err(open_err)?;
        let concerns = db.open_tree(TREE_CONCERNS).map_err(open_err)?;
        let conversations = db.open_tree(TREE_CONVERSATIONS).map_err(open_err)?;
        let audit = db.open_tree(TREE_AUDIT).map_err(open_err)?;
        let escalations = db.open_tree(TREE_ESCALATIONS).map_err(open_err)?;
        let private_rooms = db.open_tree(TREE_PRIVATE_ROOMS).map_err(open_err)?;
        let settings = db.open_tree(TREE_SETTINGS).map_err(open_err)?;
        let inbox = db.open_tree(TREE_INBOX).map_err(open_err)?;
        let inbox_state = db.open_tree(TREE_INBOX_STATE).map_err(open_err)?;
        let casefiles = db.open_tree(TREE_CASEFILES).map_err(open_err)?;
        let rooms = db.open_tree(TREE_ROOMS).map_err(open_err)?;
        let outbox = db.open_tree(TREE_OUTBOX).map_err(open_err)?;
        let outbox_state = db.open_tree(TREE_OUTBOX_STATE).map_err(open_err)?;
        let flusher = Flusher::start(db.clone());
        let store = Store {
            dir: dir.to_path_buf(),
            db,
            meta,
            concerns,
            conversations,
            audit,
            escalations,
            private_rooms,
            settings,
            inbox,
            inbox_state,
            casefiles,
            rooms,
            outbox,
            outbox_state,
            sealer: Sealer::new(&key),
            key_source: key.source().to_string(),
            writes: Mutex::new(()),
            flusher,
            fresh_effects: Mutex::new(Vec::new()),
            disk_failed: Mutex::new(None),
            clock: Arc::new(SystemClock),
            health_checks: AtomicU64::new(0),
        };
        drop(key);
        store.check_schema_and_key()?;
        store.finish_pending_commit()?;
        Ok(store)
    }

    /// The same store, reading the time from `clock` (the core's, so a
    /// test's clock reaches the marks the store stamps).
    pub fn with_clock(mut self, clock: Arc<dyn Clock>) -> Store {
        self.clock = clock;
        self
    }

    /// The time now, by the store's clock.
    pub(crate) fn now(&self) -> DateTime<Utc> {
        self.clock.now()
    }

    /// The data directory this store is in.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    fn check_schema_and_key(&self) -> Result<(), StoreError> {
        let version = self.meta.get(META_SCHEMA_VERSION).map_err(|e| self.disk(e))?;
        let Some(version) = version else {
            let fresh = [
                &self.meta,
                &self.concerns,
                &self.conversations,
                &self.audit,
                &self.escalations,
                &self.private_rooms,
                &self.settings,
                &self.inbox,
                &self.inbox_state,
                &self.casefiles,
                &self.rooms,
                &self.outbox,
                &self.outbox_state,
            ]
            .iter()
            .all(|t| t.is_empty());
            if !fresh {
                return Err(self.damaged("it holds records but no schema version"));
            }
            let check = self.seal(TREE_META, META_KEY_CHECK, KEY_CHECK_TEXT, "the key check")?;
            let mut batch = sled::Batch::default();
            batch.insert(META_KEY_CHECK, check);
            batch.insert(META_SCHEMA_VERSION, SCHEMA_VERSION.to_string().as_bytes());
            self.meta.apply_batch(batch).map_err(|e| self.disk(e))?;
            return self.flush();
        };

        let found = std::str::from_utf8(&version)
            .ok()
            .and_then(|s| s.parse::<u64>().ok())
            .ok_or_else(|| self.damaged("its schema version is not a number"))?;
        if found > SCHEMA_VERSION {
            return Err(StoreError::SchemaTooNew {
                dir: self.dir.clone(),
                found,
                supported: SCHEMA_VERSION,
            });
        }
        if found < migrate::OLDEST {
            return Err(self.damaged(&format!(
                "its schema version {found} is not one any safeguarding-bot has written"
            )));
        }

        let check = self
            .meta
            .get(META_KEY_CHECK)
            .map_err(|e| self.disk(e))?
            .ok_or_else(|| self.damaged("its key check value is missing"))?;
        match self.sealer.open(TREE_META, META_KEY_CHECK, &check) {
            // An older version is brought up to this one, once.
            Ok(plain) if plain == KEY_CHECK_TEXT => self.migrate(found),
            _ => Err(StoreError::WrongKey {
                dir: self.dir.clone(),
                key_source: self.key_source.clone(),
            }),
        }
    }

    /// Makes everything written so far durable on disk, in a flush shared
    /// with every other writer waiting at the time.
    pub fn flush(&self) -> Result<(), StoreError> {
        let ticket = self.flusher.wrote();
        self.wait_durable(ticket)
    }

    /// As [`Store::flush`], waiting without holding a thread.
    pub async fn flush_async(&self) -> Result<(), StoreError> {
        let ticket = self.flusher.wrote();
        self.wait_durable_async(ticket).await
    }

    /// How many flushes the store has made (each one disk sync or none):
    /// for the benches.
    pub fn flushes(&self) -> u64 {
        self.flusher.rounds()
    }

    /// Waits until the write with this ticket is on disk.
    fn wait_durable(&self, ticket: u64) -> Result<(), StoreError> {
        self.flusher.wait(ticket).map_err(|why| self.flush_failed(why))
    }

    async fn wait_durable_async(&self, ticket: u64) -> Result<(), StoreError> {
        self.flusher
            .wait_async(ticket)
            .await
            .map_err(|why| self.flush_failed(why))
    }

    fn flush_failed(&self, why: String) -> StoreError {
        self.disk(sled::Error::Io(std::io::Error::other(why)))
    }

    /// The lock every write to the store is made under (see `batch`).
    fn write_lock(&self) -> MutexGuard<'_, ()> {
        self.writes.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Records a write made outside a batch, so the next flush covers it.
    fn wrote(&self) {
        self.flusher.wrote();
    }

    /// Proves the store can still be written: writes the time to the meta
    /// tree and flushes it to disk. For `/healthz`.
    pub fn health_check(&self) -> Result<(), StoreError> {
        // A value that changes every time: sled skips writing a value that
        // is already there, and a skipped write would pass on a full disk.
        let now = self.now();
        let now = format!(
            "{}-{}",
            now.timestamp_nanos_opt().unwrap_or_else(|| now.timestamp()),
            self.health_checks.fetch_add(1, Ordering::Relaxed)
        );
        self.meta
            .insert(META_HEALTH_CHECK, now.as_bytes())
            .map_err(|e| self.disk(e))?;
        self.wrote();
        self.flush()
    }

    // ----- references -----

    /// The next concern reference: SG-0001, then SG-0002, and so on. Never
    /// the same one twice, even across restarts: the counter is updated
    /// atomically and flushed before the reference is returned.
    pub fn next_reference(&self) -> Result<Reference, StoreError> {
        let unreadable = Cell::new(false);
        let new = self
            .meta
            .update_and_fetch(META_REFERENCE_COUNTER, |old| {
                unreadable.set(false);
                let next = match old {
                    None => Some(1u64),
                    Some(b) => be_u64(b).and_then(|n| n.checked_add(1)),
                };
                match next {
                    Some(n) => Some(n.to_be_bytes().to_vec()),
                    None => {
                        unreadable.set(true);
                        old.map(<[u8]>::to_vec)
                    }
                }
            })
            .map_err(|e| self.disk(e))?;
        let n = match new.as_deref().and_then(be_u64) {
            Some(n) if !unreadable.get() => n,
            _ => return Err(self.damaged("its reference counter is unreadable")),
        };
        // Belt and braces: a counter behind the records would hand out a
        // reference that is already in use, and a save would overwrite it.
        if let Some((last, _)) = self.concerns.last().map_err(|e| self.disk(e))? {
            if be_u64(&last).is_some_and(|l| l >= n) {
                return Err(self.damaged(&format!(
                    "its reference counter ({}) is behind the records it holds",
                    Reference::new(n)
                )));
            }
        }
        self.flush()?;
        Ok(Reference::new(n))
    }

    // ----- concerns -----

    /// Saves the record under its reference, replacing any earlier version,
    /// and flushes it to disk before returning. Only after this returns may
    /// the reporter be told their concern is recorded.
    pub fn put_concern(&self, record: &ConcernRecord) -> Result<(), StoreError> {
        let key = record.reference.number().to_be_bytes();
        let what = format!("the record for {}", record.reference);
        let plain = self.encode(&what, record)?;
        let sealed = self.seal(TREE_CONCERNS, &key, &plain, &what)?;
        {
            let _one_at_a_time = self.write_lock();
            self.concerns.insert(key, sealed).map_err(|e| self.disk(e))?;
            self.wrote();
        }
        self.flush()
    }

    /// The record with this reference, if there is one.
    pub fn get_concern(&self, reference: &Reference) -> Result<Option<ConcernRecord>, StoreError> {
        let key = reference.number().to_be_bytes();
        match self.concerns.get(key).map_err(|e| self.disk(e))? {
            None => Ok(None),
            Some(sealed) => self.open_concern(&key, &sealed).map(Some),
        }
    }

    /// Every record, in reference order.
    pub fn list_concerns(&self) -> Result<Vec<ConcernRecord>, StoreError> {
        let mut out = Vec::new();
        for item in self.concerns.iter() {
            let (key, sealed) = item.map_err(|e| self.disk(e))?;
            out.push(self.open_concern(&key, &sealed)?);
        }
        Ok(out)
    }

    fn open_concern(&self, key: &[u8], sealed: &[u8]) -> Result<ConcernRecord, StoreError> {
        let Some(number) = be_u64(key) else {
            return Err(self.damaged("a concern is kept under a malformed key"));
        };
        let what = format!("the record for {}", Reference::new(number));
        let plain = self.open_sealed(TREE_CONCERNS, key, sealed, &what)?;
        let record: ConcernRecord = self.decode(&what, &plain)?;
        if record.reference.number() != number {
            return Err(self.damaged(&format!("{what} holds {}", record.reference)));
        }
        Ok(record)
    }

    /// Deletes everything kept about a concern (its record, the leads'
    /// casefile and its paging) in one transaction, flushed before it
    /// returns: either all of it is gone or none of it. Returns whether
    /// there was a record. The caller audits the deletion.
    pub fn delete_concern(&self, reference: &Reference) -> Result<bool, StoreError> {
        let key = reference.number().to_be_bytes();
        let had = self.concerns.contains_key(key).map_err(|e| self.disk(e))?;
        let mut batch = Batch::new();
        self.stage_remove_concern(&mut batch, reference);
        self.stage_remove_item(&mut batch, Tree::Casefiles, &reference.to_string());
        self.stage_remove_item(&mut batch, Tree::Escalations, &reference.to_string());
        self.commit(batch)?;
        Ok(had)
    }

    // ----- conversations in progress (see "records under a keyed digest") -----

    /// Saves a conversation's state under `key`, replacing what was there,
    /// and flushes it to disk before returning.
    pub fn put_conversation<T: Serialize + ?Sized>(&self, key: &str, state: &T) -> Result<(), StoreError> {
        self.put_keyed(
            &self.conversations,
            TREE_CONVERSATIONS,
            key,
            state,
            "a conversation in progress",
        )
    }

    /// The conversation state kept under `key`, if any.
    pub fn get_conversation<T: DeserializeOwned>(&self, key: &str) -> Result<Option<T>, StoreError> {
        self.get_keyed(
            &self.conversations,
            TREE_CONVERSATIONS,
            key,
            "a conversation in progress",
        )
    }

    /// Forgets the conversation kept under `key`, if any, durably.
    pub fn remove_conversation(&self, key: &str) -> Result<(), StoreError> {
        self.remove_keyed(&self.conversations, key)
    }

    /// Every conversation kept, with its key, sorted by key.
    pub fn conversations<T: DeserializeOwned>(&self) -> Result<Vec<(String, T)>, StoreError> {
        self.keyed_items(
            &self.conversations,
            TREE_CONVERSATIONS,
            "a conversation in progress",
        )
    }

    /// The keys of every conversation kept, sorted.
    pub fn conversation_keys(&self) -> Result<Vec<String>, StoreError> {
        let items: Vec<(String, IgnoredAny)> = self.keyed_items(
            &self.conversations,
            TREE_CONVERSATIONS,
            "a conversation in progress",
        )?;
        Ok(items.into_iter().map(|(k, _)| k).collect())
    }

    // ----- other small records ([`Tree`]) -----

    /// Saves `value` under `key` in `tree`, replacing what was there, and
    /// flushes it to disk before returning.
    pub fn put_item<T: Serialize + ?Sized>(
        &self,
        tree: Tree,
        key: &str,
        value: &T,
    ) -> Result<(), StoreError> {
        let (t, name, what) = self.item_tree(tree);
        self.put_keyed(t, name, key, value, what)
    }

    /// The value kept under `key` in `tree`, if any.
    pub fn get_item<T: DeserializeOwned>(&self, tree: Tree, key: &str) -> Result<Option<T>, StoreError> {
        let (t, name, what) = self.item_tree(tree);
        self.get_keyed(t, name, key, what)
    }

    /// Forgets the value kept under `key` in `tree`, if any, durably.
    pub fn remove_item(&self, tree: Tree, key: &str) -> Result<(), StoreError> {
        let (t, _, _) = self.item_tree(tree);
        self.remove_keyed(t, key)
    }

    /// Every key and value in `tree`, sorted by key.
    pub fn items<T: DeserializeOwned>(&self, tree: Tree) -> Result<Vec<(String, T)>, StoreError> {
        let (t, name, what) = self.item_tree(tree);
        self.keyed_items(t, name, what)
    }

    fn item_tree(&self, tree: Tree) -> (&sled::Tree, &'static str, &'static str) {
        match tree {
            Tree::Escalations => (&self.escalations, TREE_ESCALATIONS, "an escalation"),
            Tree::PrivateRooms => (&self.private_rooms, TREE_PRIVATE_ROOMS, "a private room"),
            Tree::Settings => (&self.settings, TREE_SETTINGS, "a setting"),
            Tree::Casefiles => (&self.casefiles, TREE_CASEFILES, "a casefile"),
            Tree::Rooms => (&self.rooms, TREE_ROOMS, "a room the bot made"),
        }
    }

    // ----- the inbox of events not yet handled -----

    /// Whether this event id was ever kept in the inbox (pending or done).
    pub fn inbox_known(&self, event_id: &str) -> Result<bool, StoreError> {
        let id = self.sealer.identity_digest(event_id);
        Ok(self.inbox_state.get(id).map_err(|e| self.disk(e))?.is_some())
    }

    /// Forgets the ids of events handled before `before`, so the list does
    /// not grow for ever: no chat hands over an event again after so long
    /// (Slack retries for minutes, and a Matrix sync gap is fetched back only
    /// to the last event handled). Events not yet handled are kept. Returns
    /// how many were forgotten.
    pub fn inbox_forget_done(&self, before: DateTime<Utc>) -> Result<usize, StoreError> {
        let cutoff = before.timestamp();
        let mut old = Vec::new();
        for item in self.inbox_state.iter() {
            let (id, state) = item.map_err(|e| self.disk(e))?;
            if state.first() != Some(&b'D') || state.len() != 9 {
                continue;
            }
            let mut at = [0u8; 8];
            at.copy_from_slice(&state[1..]);
            if i64::from_be_bytes(at) < cutoff {
                old.push(id);
            }
        }
        // A done id never becomes pending again, so nothing can change
        // between the reading above and the removal.
        for id in &old {
            let _one_at_a_time = self.write_lock();
            self.inbox_state.remove(id).map_err(|e| self.disk(e))?;
            self.wrote();
        }
        if !old.is_empty() {
            self.flush()?;
        }
        Ok(old.len())
    }

    /// Every event pushed and not yet done, in the order they were pushed.
    pub fn inbox_pending<T: DeserializeOwned>(&self) -> Result<Vec<T>, StoreError> {
        let what = "an incoming event";
        let mut out = Vec::new();
        for item in self.inbox.iter() {
            let (seq, sealed) = item.map_err(|e| self.disk(e))?;
            let plain = self.open_sealed(TREE_INBOX, &seq, &sealed, what)?;
            let kept: KeyedIn<T> = self.decode(what, &plain)?;
            out.push(kept.state);
        }
        Ok(out)
    }

    /// A secret for another component, such as the passphrase of the chat
    /// SDK's own store: 64 hex characters derived from the store key and
    /// `label`. The same key and label always give the same secret.
    pub fn derived_secret(&self, label: &str) -> String {
        audit::hex(&self.sealer.derived_secret(label))
    }

    // ----- records under a keyed digest of their key string -----
    //
    // Key strings here are chat identities such as "reporter:@sam:example.org"
    // (or event ids), which are personal data. Such a tree is keyed by an
    // HMAC-SHA-256 of the string under a key derived from the store key: the
    // same string always finds the same entry, but the data directory does not
    // show who has a conversation, and without the key nobody can test a
    // guess. The string itself is kept inside the encrypted value, so the
    // keys can be listed.

    fn put_keyed<T: Serialize + ?Sized>(
        &self,
        tree: &sled::Tree,
        name: &str,
        key: &str,
        value: &T,
        what: &str,
    ) -> Result<(), StoreError> {
        let id = self.sealer.identity_digest(key);
        let plain = self.encode(what, &KeyedOut { key, state: value })?;
        let sealed = self.seal(name, &id, &plain, what)?;
        {
            let _one_at_a_time = self.write_lock();
            tree.insert(id, sealed).map_err(|e| self.disk(e))?;
            self.wrote();
        }
        self.flush()
    }

    fn get_keyed<T: DeserializeOwned>(
        &self,
        tree: &sled::Tree,
        name: &str,
        key: &str,
        what: &str,
    ) -> Result<Option<T>, StoreError> {
        let id = self.sealer.identity_digest(key);
        let Some(sealed) = tree.get(id).map_err(|e| self.disk(e))? else {
            return Ok(None);
        };
        let plain = self.open_sealed(name, &id, &sealed, what)?;
        let kept: KeyedIn<T> = self.decode(what, &plain)?;
        if kept.key != key {
            return Err(self.damaged(&format!("{what} is kept under another one's key")));
        }
        Ok(Some(kept.state))
    }

    fn remove_keyed(&self, tree: &sled::Tree, key: &str) -> Result<(), StoreError> {
        let id = self.sealer.identity_digest(key);
        {
            let _one_at_a_time = self.write_lock();
            tree.remove(id).map_err(|e| self.disk(e))?;
            self.wrote();
        }
        self.flush()
    }

    fn keyed_items<T: DeserializeOwned>(
        &self,
        tree: &sled::Tree,
        name: &str,
        what: &str,
    ) -> Result<Vec<(String, T)>, StoreError> {
        let mut out = Vec::new();
        for item in tree.iter() {
            let (id, sealed) = item.map_err(|e| self.disk(e))?;
            let plain = self.open_sealed(name, &id, &sealed, what)?;
            let kept: KeyedIn<T> = self.decode(what, &plain)?;
            out.push((kept.key, kept.state));
        }
        out.sort_by(|a, b| a.0.cmp(&b.0));
        Ok(out)
    }

    // ----- audit log -----

    /// Every audit entry, in sequence order.
    pub fn audit_entries(&self) -> Result<Vec<AuditEntry>, StoreError> {
        let mut out = Vec::new();
        for item in self.audit.iter() {
            let (key, sealed) = item.map_err(|e| self.disk(e))?;
            let Some(seq) = be_u64(&key) else {
                return Err(self.damaged("an audit log entry is kept under a malformed key"));
            };
            let what = format!("audit log entry {seq}");
            let plain = self.open_sealed(TREE_AUDIT, &key, &sealed, &what)?;
            out.push(self.decode(&what, &plain)?);
        }
        Ok(out)
    }

    /// Checks the whole audit log: every entry present from 1 on, each
    /// decrypting in its place, each hash matching its fields and chaining
    /// to the one before, and the newest matching the recorded head (so a
    /// removed last entry is noticed). Names the first entry that fails.
    ///
    /// An entry that cannot be read from disk is reported as a break at that
    /// entry too: it cannot be vouched for.
    pub fn verify_audit(&self) -> Result<(), AuditBreak> {
        let brk = |seq: u64, reason: String| AuditBreak { seq, reason };
        let mut expected: u64 = 1;
        let mut prev_hash = GENESIS_HASH.to_string();
        for item in self.audit.iter() {
            let (key, sealed) = item.map_err(|e| {
                brk(
                    expected,
                    format!("it could not be read from the data directory ({e})"),
                )
            })?;
            let Some(seq) = be_u64(&key) else {
                return Err(brk(
                    expected,
                    "a record with a malformed key is in its place".into(),
                ));
            };
            if seq != expected {
                return Err(brk(
                    expected,
                    format!(
                        "it is missing: the log goes from entry {} to entry {seq}",
                        expected - 1
                    ),
                ));
            }
            let Ok(plain) = self.sealer.open(TREE_AUDIT, &key, &sealed) else {
                return Err(brk(
                    seq,
                    "it was altered: it no longer decrypts as the entry kept in this place".into(),
                ));
            };
            let plain = Zeroizing::new(plain);
            let Ok(entry) = serde_json::from_slice::<AuditEntry>(&plain) else {
                return Err(brk(
                    seq,
                    "it decrypts but cannot be read as an audit entry".into(),
                ));
            };
            if entry.seq != seq {
                return Err(brk(seq, format!("it says it is entry {}", entry.seq)));
            }
            if entry.prev_hash != prev_hash {
                return Err(brk(
                    seq,
                    "it does not follow on from the entry before it (its prev_hash does not match)".into(),
                ));
            }
            if entry.compute_hash() != entry.hash {
                return Err(brk(
                    seq,
                    "its contents do not match its hash: it was altered".into(),
                ));
            }
            prev_hash = entry.hash;
            expected += 1;
        }
        let last = expected - 1;

        let head = match self.meta.get(META_AUDIT_HEAD) {
            Ok(h) => h,
            Err(e) => {
                return Err(brk(
                    expected,
                    format!("the record of the newest entry could not be read ({e})"),
                ))
            }
        };
        let Some(sealed_head) = head else {
            if last == 0 {
                return Ok(());
            }
            return Err(brk(
                expected,
                "the record of the newest entry is missing, so entries after it may have been removed".into(),
            ));
        };
        let head: AuditHead = self
            .sealer
            .open(TREE_META, META_AUDIT_HEAD, &sealed_head)
            .ok()
            .map(Zeroizing::new)
            .and_then(|plain| serde_json::from_slice(&plain).ok())
            .ok_or_else(|| brk(expected, "the record of the newest entry was altered".into()))?;
        if head.seq > last {
            return Err(brk(
                expected,
                format!(
                    "it is missing: the log ends at entry {last} but entries were written up to {}",
                    head.seq
                ),
            ));
        }
        if head.seq < last {
            return Err(brk(
                head.seq + 1,
                format!("it is after the newest entry written by the bot ({})", head.seq),
            ));
        }
        if head.hash != prev_hash {
            return Err(brk(
                last,
                "it is not the entry the bot wrote last: it was replaced".into(),
            ));
        }
        Ok(())
    }

    fn audit_head(&self) -> Result<Option<AuditHead>, StoreError> {
        let what = "the audit log head";
        let Some(sealed) = self.meta.get(META_AUDIT_HEAD).map_err(|e| self.disk(e))? else {
            return Ok(None);
        };
        let plain = self.open_sealed(TREE_META, META_AUDIT_HEAD, &sealed, what)?;
        self.decode(what, &plain).map(Some)
    }

    // ----- helpers -----

    /// Why the store cannot be written, once a write has failed for the
    /// disk: from then on sled refuses every write until the bot restarts.
    pub fn disk_failure(&self) -> Option<String> {
        self.disk_failed.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    fn disk(&self, e: sled::Error) -> StoreError {
        self.disk_failed
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get_or_insert_with(|| e.to_string());
        StoreError::Disk {
            dir: self.dir.clone(),
            source: e,
        }
    }

    fn damaged(&self, what: &str) -> StoreError {
        StoreError::Damaged {
            dir: self.dir.clone(),
            what: what.to_string(),
        }
    }

    fn encode<T: Serialize + ?Sized>(&self, what: &str, value: &T) -> Result<Zeroizing<Vec<u8>>, StoreError> {
        serde_json::to_vec(value)
            .map(Zeroizing::new)
            .map_err(|e| StoreError::Encode {
                dir: self.dir.clone(),
                what: what.to_string(),
                reason: json_reason(&e),
            })
    }

    fn decode<T: DeserializeOwned>(&self, what: &str, plain: &[u8]) -> Result<T, StoreError> {
        serde_json::from_slice(plain).map_err(|e| StoreError::Unreadable {
            dir: self.dir.clone(),
            what: capitalise(what),
            reason: json_reason(&e),
        })
    }

    fn seal(&self, tree: &str, key: &[u8], plain: &[u8], what: &str) -> Result<Vec<u8>, StoreError> {
        self.sealer.seal(tree, key, plain).map_err(|e| match e {
            CryptoError::Random(reason) => StoreError::Random(reason),
            CryptoError::Seal | CryptoError::Open => StoreError::Encode {
                dir: self.dir.clone(),
                what: what.to_string(),
                reason: "it is too large to encrypt".to_string(),
            },
        })
    }

    fn open_sealed(
        &self,
        tree: &str,
        key: &[u8],
        sealed: &[u8],
        what: &str,
    ) -> Result<Zeroizing<Vec<u8>>, StoreError> {
        self.sealer
            .open(tree, key, sealed)
            .map(Zeroizing::new)
            .map_err(|_| {
                self.damaged(&format!(
                    "{what} cannot be decrypted: it was altered or moved from elsewhere"
                ))
            })
    }
}

/// What went wrong with some JSON, without quoting it: serde_json's own
/// messages can quote the value, which may be a reporter's words.
fn json_reason(e: &serde_json::Error) -> String {
    let kind = match e.classify() {
        serde_json::error::Category::Io => "an input/output error",
        serde_json::error::Category::Syntax => "it is not valid JSON",
        serde_json::error::Category::Data => "its fields are not the ones expected",
        serde_json::error::Category::Eof => "it ends too soon",
    };
    format!("{kind} (line {}, column {})", e.line(), e.column())
}

fn capitalise(s: &str) -> String {
    let mut c = s.chars();
    match c.next() {
        Some(first) => first.to_uppercase().chain(c).collect(),
        None => String::new(),
    }
}

fn be_u64(bytes: &[u8]) -> Option<u64> {
    <[u8; 8]>::try_from(bytes).ok().map(u64::from_be_bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(byte: u8) -> Key {
        Key::from_bytes([byte; KEY_LEN], "test key")
    }

    #[test]
    fn fresh_store_is_stamped_with_the_schema_version() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path(), key(1)).unwrap();
        let v = store.meta.get(META_SCHEMA_VERSION).unwrap().unwrap();
        assert_eq!(&*v, SCHEMA_VERSION.to_string().as_bytes());
        assert!(store.meta.get(META_KEY_CHECK).unwrap().is_some());
    }

    #[test]
    fn a_value_moved_to_another_reference_does_not_decrypt() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path(), key(1)).unwrap();
        store.put_conversation("a", &"state a").unwrap();
        let id = store.sealer.identity_digest("a");
        let sealed = store.conversations.get(id).unwrap().unwrap();
        store.concerns.insert(5u64.to_be_bytes(), sealed).unwrap();
        let err = store.get_concern(&Reference::new(5)).unwrap_err();
        assert!(matches!(err, StoreError::Damaged { .. }), "{err}");
        assert!(err.to_string().contains("SG-0005"), "{err}");
    }

    #[test]
    fn conversation_keys_are_not_stored_in_clear() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path(), key(1)).unwrap();
        store.put_conversation("reporter:@sam:example.org", &1u8).unwrap();
        for item in store.conversations.iter() {
            let (k, v) = item.unwrap();
            assert_eq!(k.len(), 32);
            assert!(!String::from_utf8_lossy(&k).contains("sam"));
            assert!(!String::from_utf8_lossy(&v).contains("sam"));
        }
        assert_eq!(
            store.conversation_keys().unwrap(),
            vec!["reporter:@sam:example.org"]
        );
    }

    #[test]
    fn json_reasons_do_not_quote_content() {
        let e = serde_json::from_str::<u64>("\"purple-giraffe\"").unwrap_err();
        assert!(e.to_string().contains("purple-giraffe"), "serde_json quotes: {e}");
        let reason = json_reason(&e);
        assert!(!reason.contains("purple"), "{reason}");
    }

    #[test]
    fn a_counter_behind_the_records_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path(), key(1)).unwrap();
        assert_eq!(store.next_reference().unwrap(), Reference::new(1));
        store.concerns.insert(7u64.to_be_bytes(), &b"x"[..]).unwrap();
        let err = store.next_reference().unwrap_err();
        assert!(err.to_string().contains("behind"), "{err}");
    }

    #[test]
    fn a_missing_last_audit_entry_is_named() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path(), key(1)).unwrap();
        let t = chrono::TimeZone::with_ymd_and_hms(&Utc, 2026, 11, 23, 9, 0, 0).unwrap();
        for i in 0..3 {
            store.audit(t, "bot", "test", None, &format!("n{i}")).unwrap();
        }
        assert_eq!(store.verify_audit(), Ok(()));
        store.audit.remove(3u64.to_be_bytes()).unwrap();
        assert_eq!(store.verify_audit().unwrap_err().seq, 3);
        // Appending after damage never overwrites, and the break stays visible.
        let e = store.audit(t, "bot", "test", None, "after").unwrap();
        assert_eq!(e.seq, 4);
        assert_eq!(store.verify_audit().unwrap_err().seq, 3);
    }
}
