//! Gaps a chat's sync left in a room's history, kept in the store until
//! they are filled, so that a crash between moving the chat's position on
//! and fetching what it skipped never loses what was said meanwhile.
//!
//! The transport says where it has got to and which gaps that left in one
//! commit ([`Core::keep_sync_position`]), fills each gap page by page,
//! moving it on as each page is kept in the inbox ([`Core::gap_moved`]),
//! and forgets it once it is filled ([`Core::gap_filled`]); after a restart
//! [`Core::open_gaps`] gives back what is left.

use serde::{Deserialize, Serialize};
use tracing::warn;

use super::Core;
use crate::store::{Batch, StoreError, Tree};

/// Where gaps are kept in [`Tree::Settings`], each under this and its id.
const PREFIX: &str = "sync gap ";

/// A stretch of one room's history the chat's sync skipped.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Gap {
    /// The room and where the gap first began: the same gap seen again
    /// (a sync done again after a crash) is kept once.
    pub id: String,
    pub room: String,
    /// The chat's position just before what is still to fetch: where the
    /// gap began, then after each page fetched.
    pub from: String,
    /// The chat's position at the first event the sync did give, where
    /// the gap ends (none: up to the room's latest).
    #[serde(default)]
    pub to: Option<String>,
}

impl Gap {
    pub fn new(room: &str, from: &str, to: Option<String>) -> Gap {
        Gap {
            id: format!("{room} {from}"),
            room: room.to_string(),
            from: from.to_string(),
            to,
        }
    }

    fn key(&self) -> String {
        format!("{PREFIX}{}", self.id)
    }
}

impl Core {
    /// Keeps the chat's sync position (under the transport's own `key`)
    /// with the gaps that sync left, in one commit: after a crash either
    /// both are on disk, or neither and the same sync is done again.
    pub fn keep_sync_position(&self, key: &str, position: &str, gaps: &[Gap]) -> Result<(), StoreError> {
        let mut batch = Batch::new();
        for gap in gaps {
            self.store
                .stage_item(&mut batch, Tree::Settings, &gap.key(), gap)?;
        }
        self.store.stage_item(&mut batch, Tree::Settings, key, position)?;
        self.store.commit(batch)
    }

    /// The gaps not filled yet.
    pub fn open_gaps(&self) -> Result<Vec<Gap>, StoreError> {
        let mut gaps = Vec::new();
        for (key, value) in self.store.items::<serde_json::Value>(Tree::Settings)? {
            if !key.starts_with(PREFIX) {
                continue;
            }
            match serde_json::from_value::<Gap>(value) {
                Ok(gap) => gaps.push(gap),
                Err(e) => warn!(error = %e, "a sync gap kept in the store could not be read; it is skipped"),
            }
        }
        Ok(gaps)
    }

    /// A gap partly filled: what is left of it starts at `gap.from`.
    pub fn gap_moved(&self, gap: &Gap) -> Result<(), StoreError> {
        self.store.put_item(Tree::Settings, &gap.key(), gap)
    }

    /// A gap filled (or that can never be): forgotten.
    pub fn gap_filled(&self, gap: &Gap) -> Result<(), StoreError> {
        self.store.remove_item(Tree::Settings, &gap.key())
    }
}
