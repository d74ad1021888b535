//! What an adapter remembers across restarts, kept for it by the core: a
//! small map of its own (text keys, JSON values) in the store's settings.
//! The core hands an adapter this and nothing more of the store, so an
//! adapter only translates: Slack keeps here what it sent under which
//! outbox key, whose direct message a channel is, and the messages it
//! posted in a concern's channel.
//!
//! Each write is durable before it returns, as the outbox relies on: a
//! mark kept before an effect is marked done is found after a crash.

use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::store::{Store, StoreError, Tree};

/// What went wrong remembering or recalling: the store's own words, for
/// the log (never content).
#[derive(Debug, thiserror::Error)]
#[error("the bot's memory could not be read or written: {0}")]
pub struct MemoError(#[from] StoreError);

/// An adapter's memory: see the module's documentation.
#[derive(Clone, Copy)]
pub struct Memo<'a> {
    store: &'a Store,
}

impl<'a> Memo<'a> {
    pub(crate) fn new(store: &'a Store) -> Memo<'a> {
        Memo { store }
    }

    /// What is kept under `key`, if anything.
    pub fn get<T: DeserializeOwned>(&self, key: &str) -> Result<Option<T>, MemoError> {
        Ok(self.store.get_item(Tree::Settings, key)?)
    }

    /// Keeps `value` under `key`, on disk before it returns.
    pub fn put<T: Serialize + ?Sized>(&self, key: &str, value: &T) -> Result<(), MemoError> {
        Ok(self.store.put_item(Tree::Settings, key, value)?)
    }

    /// Forgets what is kept under `key`, if anything, durably.
    pub fn remove(&self, key: &str) -> Result<(), MemoError> {
        Ok(self.store.remove_item(Tree::Settings, key)?)
    }

    /// A secret for `purpose`, derived from the store's key: the same for
    /// the life of the data directory, and nothing else can be learned
    /// from it (the Matrix SDK's own store is locked with one).
    pub fn secret(&self, purpose: &str) -> String {
        self.store.derived_secret(purpose)
    }

    /// Every key starting with `prefix`, with what is kept under it.
    pub fn starting_with(&self, prefix: &str) -> Result<Vec<(String, serde_json::Value)>, MemoError> {
        Ok(self
            .store
            .items::<serde_json::Value>(Tree::Settings)?
            .into_iter()
            .filter(|(k, _)| k.starts_with(prefix))
            .collect())
    }
}

/// A memory on a scratch store, for an adapter's unit tests.
#[cfg(test)]
pub(crate) fn with_scratch<R>(f: impl FnOnce(Memo<'_>) -> R) -> R {
    let dir = tempfile::tempdir().expect("tempdir");
    let key = crate::store::Key::load_or_create(&dir.path().join("key")).expect("key");
    let store = Store::open(&dir.path().join("store"), key).expect("store");
    f(Memo::new(&store))
}
