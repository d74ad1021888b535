//! Who is in a channel, as `conversations.members` lists it, page by page.
//!
//! The staff channels' lists are kept ([`Roster::has`]): checking that
//! someone may report costs no call per member, only the listing now and
//! then, and `member_joined_channel` and `member_left_channel` keep a kept
//! list up to date between listings ([`Roster::joined`], [`Roster::left`]).
//! A concern channel's members are always listed afresh ([`Roster::list`]):
//! who may read a record is never taken from a list kept for a while.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use super::api::{Api, ApiError};

/// How long a kept list is trusted without listing again: the events keep
/// it current, and this is for any that were missed (the socket was down).
const FRESH_FOR: Duration = Duration::from_secs(600);

/// Members per page (Slack's recommended page size is at most 200).
const PAGE: &str = "200";

/// At most this many pages (100,000 members).
const MAX_PAGES: usize = 500;

struct Kept {
    at: Instant,
    members: HashSet<String>,
}

pub struct Roster {
    api: Api,
    kept: Mutex<HashMap<String, Kept>>,
    /// Counts joins and leaves: a list made while one came in may lack it,
    /// so it is used once and not kept.
    changes: AtomicU64,
}

impl Roster {
    pub fn new(api: Api) -> Roster {
        Roster {
            api,
            kept: Mutex::new(HashMap::new()),
            changes: AtomicU64::new(0),
        }
    }

    /// Every member id of `channel`, listed now, page by page.
    pub async fn list(&self, channel: &str) -> Result<Vec<String>, ApiError> {
        let mut ids = Vec::new();
        let mut cursor = String::new();
        for _ in 0..MAX_PAGES {
            let mut params = json!({ "channel": channel, "limit": PAGE });
            if !cursor.is_empty() {
                params["cursor"] = json!(cursor);
            }
            let answer = self.api.call("conversations.members", params).await?;
            ids.extend(
                answer["members"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(Value::as_str)
                    .map(str::to_string),
            );
            cursor = answer
                .pointer("/response_metadata/next_cursor")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_string();
            if cursor.is_empty() {
                break;
            }
        }
        Ok(ids)
    }

    /// Whether `user` is in `channel`, from its kept list (listed first if
    /// there is none, or it is old).
    pub async fn has(&self, channel: &str, user: &str) -> Result<bool, ApiError> {
        if let Some(found) = self.kept_has(channel, user) {
            return Ok(found);
        }
        let before = self.changes.load(Ordering::SeqCst);
        let members: HashSet<String> = self.list(channel).await?.into_iter().collect();
        let found = members.contains(user);
        if self.changes.load(Ordering::SeqCst) != before {
            return Ok(found);
        }
        self.lock().insert(
            channel.to_string(),
            Kept {
                at: Instant::now(),
                members,
            },
        );
        Ok(found)
    }

    /// `member_joined_channel`: `user` is now in `channel`.
    pub fn joined(&self, channel: &str, user: &str) {
        self.changes.fetch_add(1, Ordering::SeqCst);
        if let Some(kept) = self.lock().get_mut(channel) {
            kept.members.insert(user.to_string());
        }
    }

    /// `member_left_channel`: `user` is no longer in `channel`.
    pub fn left(&self, channel: &str, user: &str) {
        self.changes.fetch_add(1, Ordering::SeqCst);
        if let Some(kept) = self.lock().get_mut(channel) {
            kept.members.remove(user);
        }
    }

    fn kept_has(&self, channel: &str, user: &str) -> Option<bool> {
        self.lock()
            .get(channel)
            .filter(|k| k.at.elapsed() < FRESH_FOR)
            .map(|k| k.members.contains(user))
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Kept>> {
        self.kept.lock().unwrap_or_else(|e| e.into_inner())
    }
}
