//! What was sent under which outbox key: a message's `ts`, or a file's id.
//! Kept before the outbox marks the effect done, so an effect tried again
//! after a crash finds it and is not sent twice; forgotten once it is old
//! enough that nothing will try it again ([`forget_sent_before`], from the
//! daily sweep).
//!
//! Also the messages the bot posted in each channel, for retention to
//! delete with a concern's channel ([`note_posted`], [`posted`]): one
//! record per message, so a post adds one and rewrites nothing, and none
//! for channels retention never clears (the leads' and staff channels).

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::store::{Store, StoreError, Tree};

const PREFIX: &str = "slack sent ";

/// A sent mark as kept. Marks from before they were dated are plain text.
#[derive(Serialize, Deserialize)]
#[serde(untagged)]
enum Mark {
    Dated { id: String, at: i64 },
    Plain(String),
}

fn key(outbox_key: &str) -> String {
    format!("{PREFIX}{outbox_key}")
}

/// The id sent under `outbox_key`, if anything was.
pub fn sent(store: &Store, outbox_key: &str) -> Result<Option<String>, StoreError> {
    Ok(store
        .get_item::<Mark>(Tree::Settings, &key(outbox_key))?
        .map(|m| match m {
            Mark::Dated { id, .. } | Mark::Plain(id) => id,
        }))
}

/// Keeps that `id` was sent under `outbox_key`, at `now`.
pub fn note_sent(store: &Store, outbox_key: &str, id: &str, now: DateTime<Utc>) -> Result<(), StoreError> {
    let mark = Mark::Dated {
        id: id.to_string(),
        at: now.timestamp(),
    };
    store.put_item(Tree::Settings, &key(outbox_key), &mark)
}

/// Forgets the marks of what was sent before `before`; returns how many.
/// Undated marks (from before marks were dated) are kept.
pub fn forget_sent_before(store: &Store, before: DateTime<Utc>) -> Result<usize, StoreError> {
    let cutoff = before.timestamp();
    let old: Vec<String> = store
        .items::<serde_json::Value>(Tree::Settings)?
        .into_iter()
        .filter(|(k, v)| k.starts_with(PREFIX) && v["at"].as_i64().is_some_and(|at| at < cutoff))
        .map(|(k, _)| k)
        .collect();
    for k in &old {
        store.remove_item(Tree::Settings, k)?;
    }
    Ok(old.len())
}

const POSTED: &str = "slack posted ";

/// One message the bot posted in a channel.
#[derive(Serialize, Deserialize)]
struct Posted {
    room: String,
    ts: String,
    at: i64,
}

fn posted_key(room: &str, ts: &str) -> String {
    format!("{POSTED}{room} {ts}")
}

/// Where earlier versions kept a channel's whole list, rewritten on each post.
fn legacy_posted_key(room: &str) -> String {
    format!("{POSTED}{room}")
}

/// Keeps that the bot posted the message `ts` in `room`, at `now`.
pub fn note_posted(store: &Store, room: &str, ts: &str, now: DateTime<Utc>) -> Result<(), StoreError> {
    let posted = Posted {
        room: room.to_string(),
        ts: ts.to_string(),
        at: now.timestamp(),
    };
    store.put_item(Tree::Settings, &posted_key(room, ts), &posted)
}

/// The `ts` of every message the bot noted posting in `room`.
pub fn posted(store: &Store, room: &str) -> Result<Vec<String>, StoreError> {
    let mut out: Vec<String> = store
        .get_item::<Vec<String>>(Tree::Settings, &legacy_posted_key(room))?
        .unwrap_or_default();
    for (_, p) in posted_items(store)? {
        if p.room == room {
            out.push(p.ts);
        }
    }
    Ok(out)
}

/// Forgets every message noted as posted in `room`; returns how many.
pub fn forget_posted(store: &Store, room: &str) -> Result<usize, StoreError> {
    let legacy = legacy_posted_key(room);
    let mut forgotten = match store.get_item::<Vec<String>>(Tree::Settings, &legacy)? {
        Some(list) => {
            store.remove_item(Tree::Settings, &legacy)?;
            list.len()
        }
        None => 0,
    };
    for (key, p) in posted_items(store)? {
        if p.room == room {
            store.remove_item(Tree::Settings, &key)?;
            forgotten += 1;
        }
    }
    Ok(forgotten)
}

fn posted_items(store: &Store) -> Result<Vec<(String, Posted)>, StoreError> {
    Ok(store
        .items::<serde_json::Value>(Tree::Settings)?
        .into_iter()
        .filter(|(k, v)| k.starts_with(POSTED) && v.is_object())
        .filter_map(|(k, v)| serde_json::from_value::<Posted>(v).ok().map(|p| (k, p)))
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::Key;

    #[test]
    fn marks_are_found_until_they_are_old_enough_to_forget() {
        let dir = tempfile::tempdir().expect("tempdir");
        let key_file = dir.path().join("key");
        let store = Store::open(
            &dir.path().join("store"),
            Key::load_or_create(&key_file).expect("key"),
        )
        .expect("store");
        let now = Utc::now();
        let long_ago = now - chrono::Duration::days(100);
        note_sent(&store, "SG-0001/out0", "1700000000.000100", long_ago).unwrap();
        note_sent(&store, "SG-0002/out0", "1700000000.000200", now).unwrap();
        // A mark from before marks were dated, and another setting.
        store
            .put_item(Tree::Settings, "slack sent SG-0000/out0", "1600000000.000100")
            .unwrap();
        store.put_item(Tree::Settings, "slack dm D0001", "U0001").unwrap();
        assert_eq!(
            sent(&store, "SG-0001/out0").unwrap().as_deref(),
            Some("1700000000.000100")
        );
        assert_eq!(
            sent(&store, "SG-0000/out0").unwrap().as_deref(),
            Some("1600000000.000100")
        );

        let forgotten = forget_sent_before(&store, now - chrono::Duration::days(90)).unwrap();
        assert_eq!(forgotten, 1);
        assert_eq!(sent(&store, "SG-0001/out0").unwrap(), None);
        assert_eq!(
            sent(&store, "SG-0002/out0").unwrap().as_deref(),
            Some("1700000000.000200")
        );
        assert!(
            sent(&store, "SG-0000/out0").unwrap().is_some(),
            "undated marks stay"
        );
        assert_eq!(
            store
                .get_item::<String>(Tree::Settings, "slack dm D0001")
                .unwrap()
                .as_deref(),
            Some("U0001"),
            "other settings stay"
        );
    }
}
