//! Writes that stand or fall together, and the outbox.
//!
//! A decision and every effect it causes (a message, a room, an invite) are
//! staged in one [`Batch`] and committed in one sled transaction, flushed
//! before [`Store::commit`] returns: after a crash either the decision and
//! all its effects are on disk, or none of them.
//!
//! Each effect is kept under a key made from its cause (an event id and a
//! step). Staging a key that was staged before, pending or sent, keeps the
//! first and drops the new one, so a replayed cause never sends twice.

use chrono::Utc;
use serde::de::DeserializeOwned;
use serde::Serialize;
use sled::transaction::{ConflictableTransactionError, TransactionError, TransactionalTree};
use sled::Transactional;

use super::{KeyedIn, KeyedOut, Store, StoreError, Tree, TREE_CONCERNS, TREE_CONVERSATIONS, TREE_OUTBOX};
use crate::concern::ConcernRecord;

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

/// The trees a batch can write, in the order of the transaction's tuple.
#[derive(Clone, Copy, Debug)]
enum Place {
    Concerns = 0,
    Conversations,
    Escalations,
    PrivateRooms,
    Settings,
    Casefiles,
    Rooms,
}

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

    /// Writes everything staged in one transaction and flushes it to disk.
    pub fn commit(&self, batch: Batch) -> Result<(), StoreError> {
        if batch.ops.is_empty() {
            return Ok(());
        }
        let trees = (
            &self.concerns,
            &self.conversations,
            &self.escalations,
            &self.private_rooms,
            &self.settings,
            &self.casefiles,
            &self.rooms,
            &self.outbox,
            &self.outbox_state,
        );
        let now = self.now().timestamp();
        let result = trees.transaction(|(c0, c1, c2, c3, c4, c5, c6, outbox, state)| {
            let places: [&TransactionalTree; 7] = [c0, c1, c2, c3, c4, c5, c6];
            // Keys staged twice in this one batch: the first stands.
            let mut staged = std::collections::HashSet::new();
            for op in &batch.ops {
                match op {
                    Op::Put { place, id, sealed } => {
                        places[*place as usize].insert(id.as_slice(), sealed.as_slice())?;
                    }
                    Op::Remove { place, id } => {
                        places[*place as usize].remove(id.as_slice())?;
                    }
                    Op::Effect { key_id, seq, sealed } => {
                        if state.get(key_id.as_slice())?.is_some() || !staged.insert(key_id.clone()) {
                            continue;
                        }
                        let mut mark = vec![PENDING];
                        mark.extend_from_slice(seq);
                        outbox.insert(&seq[..], sealed.as_slice())?;
                        state.insert(key_id.as_slice(), mark)?;
                    }
                    Op::Done {
                        key_id,
                        seq,
                        cause_id,
                    } => {
                        outbox.remove(&seq[..])?;
                        let mut mark = vec![SENT];
                        mark.extend_from_slice(&now.to_be_bytes());
                        mark.extend_from_slice(cause_id);
                        state.insert(key_id.as_slice(), mark)?;
                    }
                }
            }
            Ok::<(), ConflictableTransactionError<()>>(())
        });
        match result {
            Ok(()) | Err(TransactionError::Abort(())) => {}
            Err(TransactionError::Storage(e)) => return Err(self.disk(e)),
        }
        self.flush()
    }

    /// Every effect waiting to be sent, oldest first.
    pub fn outbox_pending<T: DeserializeOwned>(&self) -> Result<Vec<Pending<T>>, StoreError> {
        let what = "a message or action waiting to be sent";
        let mut out = Vec::new();
        for item in self.outbox.iter() {
            let (seq, sealed) = item.map_err(|e| self.disk(e))?;
            let plain = self.open_sealed(TREE_OUTBOX, &seq, &sealed, what)?;
            let kept: KeyedIn<T> = self.decode(what, &plain)?;
            let Some(n) = super::be_u64(&seq) else {
                return Err(self.damaged("an outbox entry is kept under a malformed key"));
            };
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
    /// the id of a room it created), in one transaction: from now on its
    /// key is known as sent and it is never sent again.
    pub fn outbox_done(&self, seq: u64, key: &str, mut then: Batch) -> Result<(), StoreError> {
        then.ops.push(Op::Done {
            key_id: self.sealer.identity_digest(key).to_vec(),
            seq: seq.to_be_bytes(),
            cause_id: self.sealer.identity_digest(cause_of(key)),
        });
        self.commit(then)
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

fn place_of(tree: Tree) -> Place {
    match tree {
        Tree::Escalations => Place::Escalations,
        Tree::PrivateRooms => Place::PrivateRooms,
        Tree::Settings => Place::Settings,
        Tree::Casefiles => Place::Casefiles,
        Tree::Rooms => Place::Rooms,
    }
}
