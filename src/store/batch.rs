//! Writes that stand or fall together, and the outbox.
//!
//! A decision and every effect it causes (a message, a room, an invite) are
//! staged in one [`Batch`] and committed at once: after a crash either the
//! decision and all its effects are on disk, or none of them.
//!
//! # How a commit is written
//!
//! Not as a sled transaction: sled writes out its log buffer twice for
//! each one (before and after taking its batch manifest), and each buffer
//! written is a disk sync, so a decision cost two syncs before its flush.
//! Instead, one store-wide lock at a time ([`Store::write_lock`]):
//!
//! 1. a batch of more than one write is first kept whole, encrypted, as one
//!    value (`meta` / `pending_commit`): one sled insert, which is
//!    recovered whole or not at all;
//! 2. its writes are made, as plain sled writes;
//! 3. the kept copy is removed.
//!
//! sled recovers a prefix of its log after a crash (it never recovers a
//! write without the ones before it), so a store opened after a crash has
//! either no kept copy (none of the batch, or all of it, is on disk) or a
//! kept copy with some of its writes: [`Store::open`] makes them all again.
//! Every write to the store takes the same lock, so nothing is written
//! between a batch's first step and its last.
//!
//! The writes are then made durable by the flushing thread
//! ([`super::flusher`]), shared by every commit waiting at the time (group
//! commit): [`Store::commit`] holds its thread until then,
//! [`Store::commit_async`] does not. One plain flush is one disk sync,
//! however many commits it carries.
//!
//! Each effect is kept under a key made from its cause (an event id and a
//! step). Staging a key that was staged before, pending or sent, keeps the
//! first and drops the new one, so a replayed cause never sends twice.

use chrono::{DateTime, Utc};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use sled::transaction::{ConflictableTransactionError, TransactionError};
use sled::Transactional;
use tracing::error;
use zeroize::Zeroizing;

use super::audit::AuditHead;
use super::{
    AuditEntry, KeyedIn, KeyedOut, Store, StoreError, Tree, GENESIS_HASH, META_AUDIT_HEAD, TREE_AUDIT,
    TREE_CASEFILES, TREE_CONCERNS, TREE_CONVERSATIONS, TREE_ESCALATIONS, TREE_INBOX, TREE_META, TREE_OUTBOX,
    TREE_PRIVATE_ROOMS, TREE_ROOMS, TREE_SETTINGS,
};
use crate::concern::{ConcernRecord, Reference};

/// Where a batch being committed is kept whole until its writes are made.
pub(super) const META_PENDING_COMMIT: &[u8] = b"pending_commit";

/// The format of a kept batch.
const FORMAT: u8 = 1;

/// Writes staged to commit at once with [`Store::commit`].
#[derive(Default)]
pub struct Batch {
    ops: Vec<Op>,
}

impl Batch {
    pub fn new() -> Self {
        Batch::default()
    }

    pub fn is_empty(&self) -> bool {
        self.ops.is_empty()
    }

    /// Adds everything staged in `other` after what is here.
    pub fn append(&mut self, mut other: Batch) {
        self.ops.append(&mut other.ops);
    }
}

/// The trees a batch can write.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Place {
    Concerns = 0,
    Conversations,
    Escalations,
    PrivateRooms,
    Settings,
    Casefiles,
    Rooms,
}

const PLACES: [Place; 7] = [
    Place::Concerns,
    Place::Conversations,
    Place::Escalations,
    Place::PrivateRooms,
    Place::Settings,
    Place::Casefiles,
    Place::Rooms,
];

enum Op {
    Put {
        place: Place,
        id: Vec<u8>,
        sealed: Vec<u8>,
    },
    Remove {
        place: Place,
        id: Vec<u8>,
    },
    /// A new effect: kept unless its key is known already.
    Effect {
        key_id: Vec<u8>,
        seq: [u8; 8],
        sealed: Vec<u8>,
    },
    /// An effect carried out: out of the outbox, its key remembered as sent,
    /// with the digest of its cause (see [`Store::outbox_forget_sent`]).
    Done {
        key_id: Vec<u8>,
        seq: [u8; 8],
        cause_id: [u8; 32],
    },
    /// An event kept in the inbox until it is handled.
    InboxPush {
        id: [u8; 32],
        seq: [u8; 8],
        sealed: Vec<u8>,
    },
    /// An event handled: out of the inbox, its id remembered as done.
    InboxDone {
        id: [u8; 32],
    },
    /// Values added to the list kept under `key` in a small-record tree,
    /// each unless it is there already: read and written back at commit,
    /// under the store's write lock, so two at once both stand.
    AddToList {
        place: Place,
        key: String,
        /// The values, as a JSON array (in the clear only inside the kept
        /// batch, which is encrypted whole).
        items: Vec<u8>,
    },
    /// An audit entry, numbered and chained at commit.
    Audit(AuditDraft),
    /// An audit entry numbered and chained, under the write lock, before
    /// the batch is kept whole: what [`Op::Audit`] becomes at commit, so a
    /// batch made again after a crash writes the very same entry (and
    /// finds it there already if it was written), never a second one.
    AuditEntry(AuditEntry),
}

/// An audit entry before it has its place in the log.
#[derive(Clone, Debug, Serialize, Deserialize)]
struct AuditDraft {
    at: DateTime<Utc>,
    actor: String,
    action: String,
    reference: Option<Reference>,
    detail: String,
}

/// An effect waiting in the outbox, in the order it was staged.
#[derive(Clone, Debug)]
pub struct Pending<T> {
    pub seq: u64,
    pub key: String,
    pub effect: T,
}

const PENDING: u8 = b'P';
const SENT: u8 = b'S';

impl Store {
    /// Stages a record in one of the small-record trees ([`Tree`]).
    pub fn stage_item<T: Serialize + ?Sized>(
        &self,
        batch: &mut Batch,
        tree: Tree,
        key: &str,
        value: &T,
    ) -> Result<(), StoreError> {
        let (_, name, what) = self.item_tree(tree);
        let id = self.sealer.identity_digest(key).to_vec();
        let plain = self.encode(what, &KeyedOut { key, state: value })?;
        let sealed = self.seal(name, &id, &plain, what)?;
        batch.ops.push(Op::Put {
            place: place_of(tree),
            id,
            sealed,
        });
        Ok(())
    }

    /// Stages the removal of a record from one of the small-record trees.
    pub fn stage_remove_item(&self, batch: &mut Batch, tree: Tree, key: &str) {
        batch.ops.push(Op::Remove {
            place: place_of(tree),
            id: self.sealer.identity_digest(key).to_vec(),
        });
    }

    /// Stages a concern's record, replacing any earlier version.
    pub fn stage_concern(&self, batch: &mut Batch, record: &ConcernRecord) -> Result<(), StoreError> {
        let id = record.reference.number().to_be_bytes().to_vec();
        let what = format!("the record for {}", record.reference);
        let plain = self.encode(&what, record)?;
        let sealed = self.seal(TREE_CONCERNS, &id, &plain, &what)?;
        batch.ops.push(Op::Put {
            place: Place::Concerns,
            id,
            sealed,
        });
        Ok(())
    }

    /// Stages the removal of a concern's record.
    pub fn stage_remove_concern(&self, batch: &mut Batch, reference: &Reference) {
        batch.ops.push(Op::Remove {
            place: Place::Concerns,
            id: reference.number().to_be_bytes().to_vec(),
        });
    }

    /// Stages a conversation's state under `key`.
    pub fn stage_conversation<T: Serialize + ?Sized>(
        &self,
        batch: &mut Batch,
        key: &str,
        state: &T,
    ) -> Result<(), StoreError> {
        let what = "a conversation in progress";
        let id = self.sealer.identity_digest(key).to_vec();
        let plain = self.encode(what, &KeyedOut { key, state })?;
        let sealed = self.seal(TREE_CONVERSATIONS, &id, &plain, what)?;
        batch.ops.push(Op::Put {
            place: Place::Conversations,
            id,
            sealed,
        });
        Ok(())
    }

    /// Stages an effect under `key` (made from its cause). Committed, it
    /// waits in the outbox until [`Store::outbox_done`]; a key staged before
    /// is dropped instead, whether that one is still waiting or was sent.
    pub fn stage_effect<T: Serialize + ?Sized>(
        &self,
        batch: &mut Batch,
        key: &str,
        effect: &T,
    ) -> Result<(), StoreError> {
        let what = "a message or action waiting to be sent";
        let seq = self.db.generate_id().map_err(|e| self.disk(e))?.to_be_bytes();
        let plain = self.encode(what, &KeyedOut { key, state: effect })?;
        let sealed = self.seal(TREE_OUTBOX, &seq, &plain, what)?;
        batch.ops.push(Op::Effect {
            key_id: self.sealer.identity_digest(key).to_vec(),
            seq,
            sealed,
        });
        Ok(())
    }

    /// Adds `items` to the list kept under `key` in `tree` (a JSON array),
    /// each unless it is there already, when the batch is committed: two
    /// batches adding to one list at once both stand.
    pub fn stage_add_to_list<T: Serialize>(
        &self,
        batch: &mut Batch,
        tree: Tree,
        key: &str,
        items: &[T],
    ) -> Result<(), StoreError> {
        if items.is_empty() {
            return Ok(());
        }
        let (_, _, what) = self.item_tree(tree);
        let items = self.encode(what, items)?;
        batch.ops.push(Op::AddToList {
            place: place_of(tree),
            key: key.to_string(),
            items: items.to_vec(),
        });
        Ok(())
    }

    /// Stages an audit entry: numbered and chained to the one before when
    /// the batch is committed, so the log records the decision with it.
    /// Never put concern content in `detail` (see [`AuditEntry`]).
    pub fn stage_audit(
        &self,
        batch: &mut Batch,
        at: DateTime<Utc>,
        actor: &str,
        action: &str,
        reference: Option<&Reference>,
        detail: &str,
    ) {
        batch.ops.push(Op::Audit(AuditDraft {
            at,
            actor: actor.to_string(),
            action: action.to_string(),
            reference: reference.cloned(),
            detail: detail.to_string(),
        }));
    }

    /// Stages marking an inbound event handled (see [`Store::inbox_done`]),
    /// so it is done in the same commit as what it decided.
    pub fn stage_inbox_done(&self, batch: &mut Batch, event_id: &str) {
        batch.ops.push(Op::InboxDone {
            id: self.sealer.identity_digest(event_id),
        });
    }

    /// Writes everything staged at once (see the module's notes) and waits,
    /// holding this thread, until it is on disk.
    pub fn commit(&self, batch: Batch) -> Result<(), StoreError> {
        if batch.ops.is_empty() {
            return Ok(());
        }
        let ticket = self.write(batch)?.0;
        self.wait_durable(ticket)
    }

    /// As [`Store::commit`], waiting for the disk without holding a thread:
    /// commits made meanwhile share one flush.
    pub async fn commit_async(&self, batch: Batch) -> Result<(), StoreError> {
        if batch.ops.is_empty() {
            return Ok(());
        }
        let ticket = self.write(batch)?.0;
        self.wait_durable_async(ticket).await
    }

    /// Writes everything staged at once, without waiting for the disk: it
    /// is on disk with the next flush anyone waits for, or within two
    /// seconds (the flusher's own, see `flusher::LAZY`), whichever is first. For what may be done
    /// again harmlessly after a crash, such as marking an effect carried
    /// out that the chat itself would not carry out twice.
    pub fn commit_unsynced(&self, batch: Batch) -> Result<(), StoreError> {
        if batch.ops.is_empty() {
            return Ok(());
        }
        self.write(batch).map(|_| ())
    }

    /// Makes a batch's writes (see the module's notes); returns the ticket
    /// to wait for, and the audit entries it wrote.
    fn write(&self, mut batch: Batch) -> Result<(u64, Vec<AuditEntry>), StoreError> {
        let now = self.now().timestamp();
        let _one_at_a_time = self.write_lock();
        self.number_audit_entries(&mut batch.ops)?;
        let whole = batch.ops.iter().map(Op::writes).sum::<usize>() > 1;
        if whole {
            let plain = Zeroizing::new(encode(&batch.ops, now));
            let what = "a batch of writes being committed";
            let sealed = self.seal(TREE_META, META_PENDING_COMMIT, &plain, what)?;
            self.meta
                .insert(META_PENDING_COMMIT, sealed)
                .map_err(|e| self.disk(e))?;
        }
        // Known as not yet on disk before the outbox can see them.
        let effects: Vec<u64> = batch
            .ops
            .iter()
            .filter_map(|op| match op {
                Op::Effect { seq, .. } => Some(u64::from_be_bytes(*seq)),
                _ => None,
            })
            .collect();
        if !effects.is_empty() {
            self.fresh_effects_lock()
                .extend(effects.iter().map(|seq| (*seq, u64::MAX)));
        }
        let audited = self.apply(&batch.ops, now)?;
        if whole {
            self.meta.remove(META_PENDING_COMMIT).map_err(|e| self.disk(e))?;
        }
        let ticket = self.flusher.wrote();
        if !effects.is_empty() {
            for (seq, covered_by) in self.fresh_effects_lock().iter_mut() {
                if *covered_by == u64::MAX && effects.contains(seq) {
                    *covered_by = ticket;
                }
            }
        }
        Ok((ticket, audited))
    }

    fn fresh_effects_lock(&self) -> std::sync::MutexGuard<'_, Vec<(u64, u64)>> {
        self.fresh_effects
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The effects written whose commit may not be on disk yet; forgets
    /// those that are.
    fn effects_not_yet_durable(&self) -> std::collections::HashSet<u64> {
        let durable = self.flusher.durable();
        let mut fresh = self.fresh_effects_lock();
        fresh.retain(|(_, covered_by)| *covered_by > durable);
        fresh.iter().map(|(seq, _)| *seq).collect()
    }

    /// Makes again the writes of a batch kept whole but perhaps not all
    /// made before a crash. Called once, by [`Store::open`].
    pub(super) fn finish_pending_commit(&self) -> Result<(), StoreError> {
        let what = "a batch of writes cut short by a crash";
        let Some(sealed) = self.meta.get(META_PENDING_COMMIT).map_err(|e| self.disk(e))? else {
            return Ok(());
        };
        let plain = self.open_sealed(TREE_META, META_PENDING_COMMIT, &sealed, what)?;
        let (ops, now) = decode(&plain)
            .ok_or_else(|| self.damaged("a batch of writes cut short by a crash cannot be read"))?;
        {
            let _one_at_a_time = self.write_lock();
            self.apply(&ops, now)?;
            self.meta.remove(META_PENDING_COMMIT).map_err(|e| self.disk(e))?;
        }
        tracing::info!(
            writes = ops.len(),
            "finished a batch of writes a crash had cut short"
        );
        self.flush()
    }

    /// The writes themselves, in order. Call under the write lock.
    fn apply(&self, ops: &[Op], now: i64) -> Result<Vec<AuditEntry>, StoreError> {
        let disk = |e| self.disk(e);
        let mut audited = Vec::new();
        for op in ops {
            match op {
                Op::Put { place, id, sealed } => {
                    self.place(*place)
                        .insert(id.as_slice(), sealed.as_slice())
                        .map_err(disk)?;
                }
                Op::Remove { place, id } => {
                    self.place(*place).remove(id.as_slice()).map_err(disk)?;
                }
                Op::Effect { key_id, seq, sealed } => {
                    // Known already (staged earlier, in this batch too, or
                    // sent): the first stands.
                    if self.outbox_state.get(key_id.as_slice()).map_err(disk)?.is_some() {
                        continue;
                    }
                    let mut mark = vec![PENDING];
                    mark.extend_from_slice(seq);
                    self.outbox.insert(&seq[..], sealed.as_slice()).map_err(disk)?;
                    self.outbox_state.insert(key_id.as_slice(), mark).map_err(disk)?;
                }
                Op::Done {
                    key_id,
                    seq,
                    cause_id,
                } => {
                    let mut mark = vec![SENT];
                    mark.extend_from_slice(&now.to_be_bytes());
                    mark.extend_from_slice(cause_id);
                    self.outbox.remove(&seq[..]).map_err(disk)?;
                    self.outbox_state.insert(key_id.as_slice(), mark).map_err(disk)?;
                }
                Op::InboxPush { id, seq, sealed } => {
                    let mut state = Vec::with_capacity(9);
                    state.push(b'P');
                    state.extend_from_slice(seq);
                    self.inbox.insert(&seq[..], sealed.as_slice()).map_err(disk)?;
                    self.inbox_state.insert(&id[..], state).map_err(disk)?;
                }
                Op::InboxDone { id } => {
                    if let Some(state) = self.inbox_state.get(id).map_err(disk)? {
                        if state.first() == Some(&b'P') {
                            self.inbox.remove(&state[1..]).map_err(disk)?;
                        }
                    }
                    let mut done = Vec::with_capacity(9);
                    done.push(b'D');
                    done.extend_from_slice(&now.to_be_bytes());
                    self.inbox_state.insert(&id[..], done).map_err(disk)?;
                }
                Op::AddToList { place, key, items } => self.add_to_list(*place, key, items)?,
                Op::Audit(draft) => {
                    // Only from a batch kept before entries were numbered
                    // at commit; `write` numbers every draft first.
                    let mut entries = vec![Op::Audit(draft.clone())];
                    self.number_audit_entries(&mut entries)?;
                    if let Some(Op::AuditEntry(entry)) = entries.pop() {
                        self.append_audit(&entry)?;
                        audited.push(entry);
                    }
                }
                Op::AuditEntry(entry) => {
                    self.append_audit(entry)?;
                    audited.push(entry.clone());
                }
            }
        }
        Ok(audited)
    }

    fn place(&self, place: Place) -> &sled::Tree {
        match place {
            Place::Concerns => &self.concerns,
            Place::Conversations => &self.conversations,
            Place::Escalations => &self.escalations,
            Place::PrivateRooms => &self.private_rooms,
            Place::Settings => &self.settings,
            Place::Casefiles => &self.casefiles,
            Place::Rooms => &self.rooms,
        }
    }

    fn place_name(place: Place) -> (&'static str, &'static str) {
        match place {
            Place::Concerns => (TREE_CONCERNS, "a concern"),
            Place::Conversations => (TREE_CONVERSATIONS, "a conversation in progress"),
            Place::Escalations => (TREE_ESCALATIONS, "an escalation"),
            Place::PrivateRooms => (TREE_PRIVATE_ROOMS, "a private room"),
            Place::Settings => (TREE_SETTINGS, "a setting"),
            Place::Casefiles => (TREE_CASEFILES, "a casefile"),
            Place::Rooms => (TREE_ROOMS, "a room the bot made"),
        }
    }

    /// The write of [`Op::AddToList`]. A list that cannot be read is not
    /// written over: that addition is left out and said in the log, and
    /// the rest of the batch stands.
    fn add_to_list(&self, place: Place, key: &str, items: &[u8]) -> Result<(), StoreError> {
        let (name, what) = Store::place_name(place);
        let tree = self.place(place);
        let id = self.sealer.identity_digest(key);
        let Ok(new) = serde_json::from_slice::<Vec<serde_json::Value>>(items) else {
            error!("a list addition could not be read; it was left out");
            return Ok(());
        };
        let mut list: Vec<serde_json::Value> = match tree.get(id).map_err(|e| self.disk(e))? {
            None => Vec::new(),
            Some(sealed) => {
                let kept = self
                    .open_sealed(name, &id, &sealed, what)
                    .and_then(|plain| self.decode::<KeyedIn<Vec<serde_json::Value>>>(what, &plain));
                match kept {
                    Ok(kept) if kept.key == key => kept.state,
                    Ok(_) | Err(_) => {
                        error!(
                            tree = name,
                            "a list kept in the store could not be read; an addition to it was left out"
                        );
                        return Ok(());
                    }
                }
            }
        };
        for item in new {
            if !list.contains(&item) {
                list.push(item);
            }
        }
        let plain = self.encode(what, &KeyedOut { key, state: &list })?;
        let sealed = self.seal(name, &id, &plain, what)?;
        tree.insert(id, sealed).map_err(|e| self.disk(e))?;
        Ok(())
    }

    /// Turns each [`Op::Audit`] draft into the entry it will be: the next
    /// number after the newest entry (or the one before it in this batch),
    /// chained to it. Call under the write lock. An existing entry is
    /// never overwritten: if the log has been damaged, the new entry still
    /// goes after the highest sequence number present, and
    /// [`Store::verify_audit`] reports the damage.
    fn number_audit_entries(&self, ops: &mut [Op]) -> Result<(), StoreError> {
        if !ops.iter().any(|op| matches!(op, Op::Audit(_))) {
            return Ok(());
        }
        let head = self.audit_head()?;
        let last_key = self
            .audit
            .last()
            .map_err(|e| self.disk(e))?
            .and_then(|(k, _)| super::be_u64(&k))
            .unwrap_or(0);
        let mut seq = head.as_ref().map_or(0, |h| h.seq).max(last_key);
        let mut prev_hash = head.map_or_else(|| GENESIS_HASH.to_string(), |h| h.hash);
        for op in ops.iter_mut() {
            let Op::Audit(draft) = op else { continue };
            seq = seq
                .checked_add(1)
                .ok_or_else(|| self.damaged("its audit log sequence number is at its limit"))?;
            let mut entry = AuditEntry {
                seq,
                at: draft.at,
                actor: draft.actor.clone(),
                action: draft.action.clone(),
                reference: draft.reference.clone(),
                detail: draft.detail.clone(),
                prev_hash: std::mem::take(&mut prev_hash),
                hash: String::new(),
            };
            entry.hash = entry.compute_hash();
            prev_hash = entry.hash.clone();
            *op = Op::AuditEntry(entry);
        }
        Ok(())
    }

    /// The write of [`Op::AuditEntry`]: the entry, and the log's head moved
    /// to it. The same entry there already is a batch made again after a
    /// crash: it stands, and the head is moved to it if it was not yet.
    /// Another entry under its number is damage, and is not overwritten.
    fn append_audit(&self, entry: &AuditEntry) -> Result<(), StoreError> {
        let seq = entry.seq;
        let what = format!("audit log entry {seq}");
        let key = seq.to_be_bytes();
        if let Some(sealed) = self.audit.get(key).map_err(|e| self.disk(e))? {
            let kept: AuditEntry = self
                .open_sealed(TREE_AUDIT, &key, &sealed, &what)
                .and_then(|plain| self.decode(&what, &plain))?;
            if kept.hash != entry.hash {
                return Err(self.damaged(&format!("audit log entry {seq} already exists")));
            }
            if self.audit_head()?.is_some_and(|h| h.seq >= seq) {
                return Ok(());
            }
        } else {
            let sealed_entry = self.seal(TREE_AUDIT, &key, &self.encode(&what, entry)?, &what)?;
            self.audit.insert(key, sealed_entry).map_err(|e| self.disk(e))?;
        }
        let new_head = AuditHead {
            seq,
            hash: entry.hash.clone(),
        };
        let sealed_head = self.seal(
            TREE_META,
            META_AUDIT_HEAD,
            &self.encode("the audit log head", &new_head)?,
            "the audit log head",
        )?;
        self.meta
            .insert(META_AUDIT_HEAD, sealed_head)
            .map_err(|e| self.disk(e))?;
        Ok(())
    }

    /// Appends an entry to the audit log with the next sequence number,
    /// chained to the entry before it, and flushes it to disk.
    ///
    /// Never put concern content in `detail` (see [`AuditEntry`]).
    ///
    /// An existing entry is never overwritten: if the log has been damaged,
    /// the new entry still goes after the highest sequence number present,
    /// and [`Store::verify_audit`] reports the damage.
    pub fn audit(
        &self,
        at: DateTime<Utc>,
        actor: &str,
        action: &str,
        reference: Option<&Reference>,
        detail: &str,
    ) -> Result<AuditEntry, StoreError> {
        let mut batch = Batch::new();
        self.stage_audit(&mut batch, at, actor, action, reference, detail);
        let (ticket, mut entries) = self.write(batch)?;
        self.wait_durable(ticket)?;
        entries
            .pop()
            .ok_or_else(|| self.damaged("an audit entry was not written"))
    }

    /// Keeps an incoming event until [`Store::inbox_done`] is called for
    /// it. Returns `false`, keeping nothing, if this event id was pushed
    /// before (pending or done), so a resync or a replay is not handled
    /// twice.
    ///
    /// Not waited for: the event is on disk once a flush that began after
    /// this returned has ended ([`Store::flush`], or any commit's). A chat
    /// must not be told an event was received (its sync position moved on,
    /// its delivery acknowledged) before then.
    pub fn inbox_push<T: Serialize + ?Sized>(&self, event_id: &str, event: &T) -> Result<bool, StoreError> {
        let what = "an incoming event";
        let id = self.sealer.identity_digest(event_id);
        if self.inbox_state.get(id).map_err(|e| self.disk(e))?.is_some() {
            return Ok(false);
        }
        let seq = self.db.generate_id().map_err(|e| self.disk(e))?.to_be_bytes();
        let plain = self.encode(
            what,
            &KeyedOut {
                key: event_id,
                state: event,
            },
        )?;
        let sealed = self.seal(TREE_INBOX, &seq, &plain, what)?;
        let now = self.now().timestamp();
        let ops = [Op::InboxPush { id, seq, sealed }];
        let _one_at_a_time = self.write_lock();
        // Checked again under the lock: the same event handed over twice
        // at once is kept once.
        if self.inbox_state.get(id).map_err(|e| self.disk(e))?.is_some() {
            return Ok(false);
        }
        let plain = Zeroizing::new(encode(&ops, now));
        let sealed = self.seal(TREE_META, META_PENDING_COMMIT, &plain, "an incoming event")?;
        self.meta
            .insert(META_PENDING_COMMIT, sealed)
            .map_err(|e| self.disk(e))?;
        self.apply(&ops, now)?;
        self.meta.remove(META_PENDING_COMMIT).map_err(|e| self.disk(e))?;
        self.flusher.wrote();
        Ok(true)
    }

    /// Marks an event handled: it leaves the inbox, and its id is
    /// remembered so it is never handled again. Flushed to disk.
    pub fn inbox_done(&self, event_id: &str) -> Result<(), StoreError> {
        let mut batch = Batch::new();
        self.stage_inbox_done(&mut batch, event_id);
        self.commit(batch)
    }

    /// Every effect waiting to be sent, oldest first.
    ///
    /// Only effects whose commit is on disk: one still being written or
    /// waiting for its flush is left out until then (its commit wakes the
    /// outbox when it is on disk), so nothing is carried out that a crash
    /// could still take back.
    pub fn outbox_pending<T: DeserializeOwned>(&self) -> Result<Vec<Pending<T>>, StoreError> {
        let what = "a message or action waiting to be sent";
        let mut out = Vec::new();
        let items: Vec<_> = self.outbox.iter().collect();
        // Read after the outbox: an effect seen there is known here if its
        // commit is not on disk yet (it is listed before it is written).
        let not_yet = self.effects_not_yet_durable();
        for item in items {
            let (seq, sealed) = item.map_err(|e| self.disk(e))?;
            let plain = self.open_sealed(TREE_OUTBOX, &seq, &sealed, what)?;
            let kept: KeyedIn<T> = self.decode(what, &plain)?;
            let Some(n) = super::be_u64(&seq) else {
                return Err(self.damaged("an outbox entry is kept under a malformed key"));
            };
            if not_yet.contains(&n) {
                continue;
            }
            out.push(Pending {
                seq: n,
                key: kept.key,
                effect: kept.state,
            });
        }
        Ok(out)
    }

    /// How many effects are waiting to be sent.
    pub fn outbox_len(&self) -> usize {
        self.outbox.len()
    }

    /// Marks an effect carried out, with whatever it led to (`then`, such as
    /// the id of a room it created), in one write: from now on its key is
    /// known as sent and it is never sent again. Flushed to disk before it
    /// returns.
    pub fn outbox_done(&self, seq: u64, key: &str, then: Batch) -> Result<(), StoreError> {
        let batch = self.done_batch(seq, key, then);
        self.commit(batch)
    }

    /// As [`Store::outbox_done`], waiting for the disk without holding a
    /// thread (see [`Store::commit_async`]).
    pub async fn outbox_done_async(&self, seq: u64, key: &str, then: Batch) -> Result<(), StoreError> {
        let batch = self.done_batch(seq, key, then);
        self.commit_async(batch).await
    }

    /// As [`Store::outbox_done`], not waited for (see
    /// [`Store::commit_unsynced`]): only for an effect that, carried out
    /// again under the same key after a crash, the chat takes as the same
    /// one (a message: a Matrix transaction id, Slack's sent marks kept
    /// before this), and whose `then` it gives back the same (the message's
    /// id, remembered again). A crash in the moment before this reaches the
    /// disk has it carried out again; that moment was there before too,
    /// between the chat's answer and the mark, and is now longer (see
    /// [`Store::commit_unsynced`]).
    ///
    /// If `then` stages effects of its own (the reporter told once the
    /// leads have been), it is waited for like [`Store::outbox_done`]:
    /// those are carried out only once on disk.
    pub async fn outbox_sent(&self, seq: u64, key: &str, then: Batch) -> Result<(), StoreError> {
        let batch = self.done_batch(seq, key, then);
        if batch.ops.iter().any(|op| matches!(op, Op::Effect { .. })) {
            return self.commit_async(batch).await;
        }
        self.commit_unsynced(batch)
    }

    fn done_batch(&self, seq: u64, key: &str, mut then: Batch) -> Batch {
        then.ops.push(Op::Done {
            key_id: self.sealer.identity_digest(key).to_vec(),
            seq: seq.to_be_bytes(),
            cause_id: self.sealer.identity_digest(cause_of(key)),
        });
        then
    }

    /// Forgets the sent marks of effects carried out before `before` whose
    /// cause can no longer come again: the inbox has forgotten the event
    /// that caused them ([`Store::inbox_forget_done`]), or their cause was
    /// never an event. While the inbox remembers an event (handled, or
    /// waiting to be handled again after a crash), its effects' marks stay,
    /// so handling it again sends nothing twice. Marks written before
    /// marks named their cause are forgotten only when no event is waiting.
    /// Returns how many were forgotten.
    pub fn outbox_forget_sent(&self, before: chrono::DateTime<Utc>) -> Result<usize, StoreError> {
        let cutoff = before.timestamp();
        let nothing_waiting = self.inbox.is_empty();
        let mut old = Vec::new();
        for item in self.outbox_state.iter() {
            let (id, mark) = item.map_err(|e| self.disk(e))?;
            let at = mark.get(1..9).and_then(|b| <[u8; 8]>::try_from(b).ok());
            let Some(at) = at.map(i64::from_be_bytes) else {
                continue;
            };
            if mark.first() != Some(&SENT) || at >= cutoff {
                continue;
            }
            let cause = mark.get(9..).filter(|c| c.len() == 32).map(<[u8]>::to_vec);
            if cause.is_none() && !nothing_waiting {
                continue;
            }
            old.push((id, mark, cause));
        }
        let mut forgotten = 0;
        for (id, mark, cause) in old {
            // In one transaction with the inbox, so an event taken again
            // meanwhile keeps its marks.
            let _one_at_a_time = self.write_lock();
            let result = (&self.inbox_state, &self.outbox_state).transaction(|(inbox, state)| {
                if let Some(cause) = &cause {
                    if inbox.get(cause)?.is_some() {
                        return Ok(false);
                    }
                }
                if state.get(&id)?.as_deref() != Some(&mark[..]) {
                    return Ok(false);
                }
                state.remove(&id)?;
                Ok::<bool, ConflictableTransactionError<()>>(true)
            });
            match result {
                Ok(true) => forgotten += 1,
                Ok(false) | Err(TransactionError::Abort(())) => {}
                Err(TransactionError::Storage(e)) => return Err(self.disk(e)),
            }
        }
        if forgotten > 0 {
            self.flush()?;
        }
        Ok(forgotten)
    }
}

/// The cause an outbox key was made from: keys are `CAUSE/SLOT`, a
/// message in parts `CAUSE/SLOT#N`, and the notice of a failed effect is
/// caused by `KEY!failed` (see `bot::outbox`). A cause may hold a `/`
/// itself (Slack's `slack:CHANNEL/TS`); a slot never does.
fn cause_of(key: &str) -> &str {
    let mut cause = key.split('#').next().unwrap_or(key);
    cause = cause.rsplit_once('/').map_or(cause, |(c, _)| c);
    match cause.strip_suffix("!failed") {
        Some(failed) => cause_of(failed),
        None => cause,
    }
}

/// A batch's writes as bytes, to keep it whole: the format, the time of
/// the commit (for the marks it stamps), then each write.
fn encode(ops: &[Op], now: i64) -> Vec<u8> {
    let mut w = Writer(Vec::with_capacity(256));
    w.u8(FORMAT);
    w.0.extend_from_slice(&now.to_be_bytes());
    w.0.extend_from_slice(&(ops.len() as u32).to_be_bytes());
    for op in ops {
        match op {
            Op::Put { place, id, sealed } => {
                w.u8(1);
                w.u8(*place as u8);
                w.bytes(id);
                w.bytes(sealed);
            }
            Op::Remove { place, id } => {
                w.u8(2);
                w.u8(*place as u8);
                w.bytes(id);
            }
            Op::Effect { key_id, seq, sealed } => {
                w.u8(3);
                w.bytes(key_id);
                w.bytes(seq);
                w.bytes(sealed);
            }
            Op::Done {
                key_id,
                seq,
                cause_id,
            } => {
                w.u8(4);
                w.bytes(key_id);
                w.bytes(seq);
                w.bytes(cause_id);
            }
            Op::InboxPush { id, seq, sealed } => {
                w.u8(5);
                w.bytes(id);
                w.bytes(seq);
                w.bytes(sealed);
            }
            Op::InboxDone { id } => {
                w.u8(6);
                w.bytes(id);
            }
            Op::AddToList { place, key, items } => {
                w.u8(7);
                w.u8(*place as u8);
                w.bytes(key.as_bytes());
                w.bytes(items);
            }
            Op::Audit(draft) => {
                w.u8(8);
                w.bytes(&serde_json::to_vec(draft).unwrap_or_default());
            }
            Op::AuditEntry(entry) => {
                w.u8(9);
                w.bytes(&serde_json::to_vec(entry).unwrap_or_default());
            }
        }
    }
    w.0
}

/// The batch [`encode`] kept, and the time of its commit.
fn decode(bytes: &[u8]) -> Option<(Vec<Op>, i64)> {
    let mut r = Reader(bytes);
    if r.u8()? != FORMAT {
        return None;
    }
    let now = i64::from_be_bytes(r.array()?);
    let n = u32::from_be_bytes(r.array()?);
    let mut ops = Vec::new();
    for _ in 0..n {
        let op = match r.u8()? {
            1 => Op::Put {
                place: r.place()?,
                id: r.bytes()?.to_vec(),
                sealed: r.bytes()?.to_vec(),
            },
            2 => Op::Remove {
                place: r.place()?,
                id: r.bytes()?.to_vec(),
            },
            3 => Op::Effect {
                key_id: r.bytes()?.to_vec(),
                seq: r.bytes()?.try_into().ok()?,
                sealed: r.bytes()?.to_vec(),
            },
            4 => Op::Done {
                key_id: r.bytes()?.to_vec(),
                seq: r.bytes()?.try_into().ok()?,
                cause_id: r.bytes()?.try_into().ok()?,
            },
            5 => Op::InboxPush {
                id: r.bytes()?.try_into().ok()?,
                seq: r.bytes()?.try_into().ok()?,
                sealed: r.bytes()?.to_vec(),
            },
            6 => Op::InboxDone {
                id: r.bytes()?.try_into().ok()?,
            },
            7 => Op::AddToList {
                place: r.place()?,
                key: String::from_utf8(r.bytes()?.to_vec()).ok()?,
                items: r.bytes()?.to_vec(),
            },
            8 => Op::Audit(serde_json::from_slice(r.bytes()?).ok()?),
            9 => Op::AuditEntry(serde_json::from_slice(r.bytes()?).ok()?),
            _ => return None,
        };
        ops.push(op);
    }
    r.0.is_empty().then_some((ops, now))
}

struct Writer(Vec<u8>);

impl Writer {
    fn u8(&mut self, b: u8) {
        self.0.push(b);
    }

    fn bytes(&mut self, b: &[u8]) {
        self.0.extend_from_slice(&(b.len() as u32).to_be_bytes());
        self.0.extend_from_slice(b);
    }
}

struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    fn u8(&mut self) -> Option<u8> {
        let (first, rest) = self.0.split_first()?;
        self.0 = rest;
        Some(*first)
    }

    fn array<const N: usize>(&mut self) -> Option<[u8; N]> {
        if self.0.len() < N {
            return None;
        }
        let (head, rest) = self.0.split_at(N);
        self.0 = rest;
        head.try_into().ok()
    }

    fn bytes(&mut self) -> Option<&'a [u8]> {
        let len = u32::from_be_bytes(self.array()?) as usize;
        if self.0.len() < len {
            return None;
        }
        let (head, rest) = self.0.split_at(len);
        self.0 = rest;
        Some(head)
    }

    fn place(&mut self) -> Option<Place> {
        PLACES.get(usize::from(self.u8()?)).copied()
    }
}

impl Op {
    /// How many sled writes it makes (an effect, its outbox entry and its
    /// mark; a list or an audit entry, read and written under the lock).
    fn writes(&self) -> usize {
        match self {
            Op::Put { .. } | Op::Remove { .. } | Op::AddToList { .. } => 1,
            _ => 2,
        }
    }
}

fn place_of(tree: Tree) -> Place {
    match tree {
        Tree::Escalations => Place::Escalations,
        Tree::PrivateRooms => Place::PrivateRooms,
        Tree::Settings => Place::Settings,
        Tree::Casefiles => Place::Casefiles,
        Tree::Rooms => Place::Rooms,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::{Key, KEY_LEN};

    fn key() -> Key {
        Key::from_bytes([7; KEY_LEN], "test key")
    }

    /// A batch kept whole but cut short by a crash (its writes not made)
    /// is made in full when the store is opened again.
    #[test]
    fn a_batch_cut_short_is_finished_when_the_store_opens() {
        let dir = tempfile::tempdir().unwrap();
        {
            let store = Store::open(dir.path(), key()).unwrap();
            let mut batch = Batch::new();
            store
                .stage_conversation(&mut batch, "reporter:@sam:example.org", &3u8)
                .unwrap();
            store.stage_effect(&mut batch, "$ev1/out0", &"a reply").unwrap();
            store.stage_audit(&mut batch, store.now(), "bot", "test", None, "cut short");
            // As the first step of a commit leaves it, then the crash.
            let plain = encode(&batch.ops, store.now().timestamp());
            let sealed = store
                .seal(TREE_META, META_PENDING_COMMIT, &plain, "test")
                .unwrap();
            store.meta.insert(META_PENDING_COMMIT, sealed).unwrap();
            store.flush().unwrap();
        }
        let store = Store::open(dir.path(), key()).unwrap();
        assert_eq!(
            store.get_conversation::<u8>("reporter:@sam:example.org").unwrap(),
            Some(3)
        );
        let pending = store.outbox_pending::<String>().unwrap();
        assert_eq!(pending.len(), 1);
        assert_eq!(pending[0].key, "$ev1/out0");
        assert_eq!(store.audit_entries().unwrap().len(), 1);
        assert_eq!(store.verify_audit(), Ok(()));
        assert!(store.meta.get(META_PENDING_COMMIT).unwrap().is_none());
        // Made once: opening again changes nothing.
        drop(store);
        let store = Store::open(dir.path(), key()).unwrap();
        assert_eq!(store.outbox_pending::<String>().unwrap().len(), 1);
        assert_eq!(store.audit_entries().unwrap().len(), 1);
    }

    /// A batch kept whole whose audit entry was written before the crash
    /// (its head moved, or not yet) is made again without a second entry:
    /// the log holds the decision once, and its chain holds.
    #[test]
    fn an_audit_entry_written_before_a_crash_is_not_written_again() {
        for head_moved in [true, false] {
            let dir = tempfile::tempdir().unwrap();
            {
                let store = Store::open(dir.path(), key()).unwrap();
                store.audit(store.now(), "bot", "before", None, "").unwrap();
                let mut batch = Batch::new();
                store.stage_effect(&mut batch, "$ev1/page", &"a page").unwrap();
                store.stage_audit(&mut batch, store.now(), "bot", "paged", None, "the lead");
                // As `write` leaves it when the crash comes after the entry.
                let _one_at_a_time = store.write_lock();
                let mut ops = batch.ops;
                store.number_audit_entries(&mut ops).unwrap();
                let now = store.now().timestamp();
                let sealed = store
                    .seal(TREE_META, META_PENDING_COMMIT, &encode(&ops, now), "test")
                    .unwrap();
                store.meta.insert(META_PENDING_COMMIT, sealed).unwrap();
                if head_moved {
                    store.apply(&ops, now).unwrap();
                } else {
                    let Some(Op::AuditEntry(entry)) = ops.iter().find(|op| matches!(op, Op::AuditEntry(_)))
                    else {
                        panic!("numbered");
                    };
                    let k = entry.seq.to_be_bytes();
                    let plain = store.encode("test", entry).unwrap();
                    let sealed = store.seal(TREE_AUDIT, &k, &plain, "test").unwrap();
                    store.audit.insert(k, sealed).unwrap();
                }
                store.db.flush().unwrap();
            }
            let store = Store::open(dir.path(), key()).unwrap();
            let actions: Vec<String> = store
                .audit_entries()
                .unwrap()
                .into_iter()
                .map(|e| e.action)
                .collect();
            assert_eq!(actions, ["before", "paged"], "head moved: {head_moved}");
            assert_eq!(store.verify_audit(), Ok(()));
            assert_eq!(store.outbox_pending::<String>().unwrap().len(), 1);
            // The next entry follows it.
            store.audit(store.now(), "bot", "after", None, "").unwrap();
            assert_eq!(store.audit_entries().unwrap().len(), 3);
            assert_eq!(store.verify_audit(), Ok(()));
        }
    }

    /// An effect is not handed to the outbox until its commit is on disk:
    /// carried out before, a crash could undo its cause (and a room made
    /// for it would be made again).
    #[test]
    fn an_effect_waits_in_the_outbox_until_its_commit_is_on_disk() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path(), key()).unwrap();
        let mut batch = Batch::new();
        store
            .stage_effect(&mut batch, "$ev1/room", &"make a room")
            .unwrap();
        store
            .stage_conversation(&mut batch, "reporter:@sam:example.org", &1u8)
            .unwrap();
        // Written, not yet flushed (as a commit is while its flush runs).
        store.write(batch).unwrap();
        assert!(store.outbox_pending::<String>().unwrap().is_empty());
        assert_eq!(store.outbox_len(), 1);
        store.flush().unwrap();
        let pending = store.outbox_pending::<String>().unwrap();
        assert_eq!(pending.len(), 1);
        assert_eq!(pending[0].key, "$ev1/room");
        // Found after a restart too (nothing there is fresh).
        drop(store);
        let store = Store::open(dir.path(), key()).unwrap();
        assert_eq!(store.outbox_pending::<String>().unwrap().len(), 1);
    }

    /// Two additions to one list committed at once both stand.
    #[test]
    fn additions_to_a_list_both_stand() {
        let dir = tempfile::tempdir().unwrap();
        let store = std::sync::Arc::new(Store::open(dir.path(), key()).unwrap());
        let threads: Vec<_> = (0..8)
            .map(|i| {
                let store = store.clone();
                std::thread::spawn(move || {
                    let mut batch = Batch::new();
                    store
                        .stage_add_to_list(&mut batch, Tree::Settings, "list", &[format!("item {i}")])
                        .unwrap();
                    store
                        .stage_add_to_list(&mut batch, Tree::Settings, "list", &["shared"])
                        .unwrap();
                    store.commit(batch).unwrap();
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        let list: Vec<String> = store.get_item(Tree::Settings, "list").unwrap().unwrap();
        assert_eq!(list.len(), 9, "{list:?}");
    }
}
