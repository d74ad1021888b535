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

use crate::bot::{Memo, MemoError};

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
pub fn sent(memo: Memo<'_>, outbox_key: &str) -> Result<Option<String>, MemoError> {
    Ok(memo.get::<Mark>(&key(outbox_key))?.map(|m| match m {
        Mark::Dated { id, .. } | Mark::Plain(id) => id,
    }))
}

/// Keeps that `id` was sent under `outbox_key`, at `now`.
pub fn note_sent(memo: Memo<'_>, outbox_key: &str, id: &str, now: DateTime<Utc>) -> Result<(), MemoError> {
    let mark = Mark::Dated {
        id: id.to_string(),
        at: now.timestamp(),
    };
    memo.put(&key(outbox_key), &mark)
}

/// Forgets the marks of what was sent before `before`; returns how many.
/// Undated marks (from before marks were dated) are kept.
pub fn forget_sent_before(memo: Memo<'_>, before: DateTime<Utc>) -> Result<usize, MemoError> {
    let cutoff = before.timestamp();
    let old: Vec<String> = memo
        .starting_with(PREFIX)?
        .into_iter()
        .filter(|(_, v)| v["at"].as_i64().is_some_and(|at| at < cutoff))
        .map(|(k, _)| k)
        .collect();
    for k in &old {
        memo.remove(k)?;
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
pub fn note_posted(memo: Memo<'_>, room: &str, ts: &str, now: DateTime<Utc>) -> Result<(), MemoError> {
    let posted = Posted {
        room: room.to_string(),
        ts: ts.to_string(),
        at: now.timestamp(),
    };
    memo.put(&posted_key(room, ts), &posted)
}

/// The `ts` of every message the bot noted posting in `room`.
pub fn posted(memo: Memo<'_>, room: &str) -> Result<Vec<String>, MemoError> {
    let mut out: Vec<String> = memo
        .get::<Vec<String>>(&legacy_posted_key(room))?
        .unwrap_or_default();
    for (_, p) in posted_items(memo)? {
        if p.room == room {
            out.push(p.ts);
        }
    }
    Ok(out)
}

/// Forgets every message noted as posted in `room`; returns how many.
pub fn forget_posted(memo: Memo<'_>, room: &str) -> Result<usize, MemoError> {
    let legacy = legacy_posted_key(room);
    let mut forgotten = match memo.get::<Vec<String>>(&legacy)? {
        Some(list) => {
            memo.remove(&legacy)?;
            list.len()
        }
        None => 0,
    };
    for (key, p) in posted_items(memo)? {
        if p.room == room {
            memo.remove(&key)?;
            forgotten += 1;
        }
    }
    Ok(forgotten)
}

fn posted_items(memo: Memo<'_>) -> Result<Vec<(String, Posted)>, MemoError> {
    Ok(memo
        .starting_with(POSTED)?
        .into_iter()
        .filter(|(_, v)| v.is_object())
        .filter_map(|(k, v)| serde_json::from_value::<Posted>(v).ok().map(|p| (k, p)))
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn marks_are_found_until_they_are_old_enough_to_forget() {
        crate::bot::memo::with_scratch(|memo| {
            let now = Utc::now();
            let long_ago = now - chrono::Duration::days(100);
            note_sent(memo, "SG-0001/out0", "1700000000.000100", long_ago).unwrap();
            note_sent(memo, "SG-0002/out0", "1700000000.000200", now).unwrap();
            // A mark from before marks were dated, and another setting.
            memo.put("slack sent SG-0000/out0", "1600000000.000100").unwrap();
            memo.put("slack dm D0001", "U0001").unwrap();
            assert_eq!(
                sent(memo, "SG-0001/out0").unwrap().as_deref(),
                Some("1700000000.000100")
            );
            assert_eq!(
                sent(memo, "SG-0000/out0").unwrap().as_deref(),
                Some("1600000000.000100")
            );

            let forgotten = forget_sent_before(memo, now - chrono::Duration::days(90)).unwrap();
            assert_eq!(forgotten, 1);
            assert_eq!(sent(memo, "SG-0001/out0").unwrap(), None);
            assert_eq!(
                sent(memo, "SG-0002/out0").unwrap().as_deref(),
                Some("1700000000.000200")
            );
            assert!(
                sent(memo, "SG-0000/out0").unwrap().is_some(),
                "undated marks stay"
            );
            assert_eq!(
                memo.get::<String>("slack dm D0001").unwrap().as_deref(),
                Some("U0001"),
                "other settings stay"
            );
        });
    }
}
