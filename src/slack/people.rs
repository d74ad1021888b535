//! Who someone is to the bot, from `users.info`: a full member of this
//! workspace, or someone who may not report (a guest, someone from another
//! organisation over Slack Connect, a deactivated account, a bot).
//!
//! The decision is a pure function of the user object ([`Person::from_user`]);
//! lookups are cached for a while, since the same few people write often.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use super::api::{Api, ApiError};

/// What someone is, as far as reporting goes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Person {
    /// A full member of this workspace: may report if in a staff channel.
    Member { name: String },
    /// Anyone else, with why, in words for them.
    Refused(Refusal),
}

/// Why someone may not report here.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Refusal {
    Guest,
    OtherOrganisation,
    Deactivated,
    Bot,
}

impl Refusal {
    /// Said to them, before the public routes.
    pub fn why(&self) -> &'static str {
        match self {
            Refusal::Guest => "Guest accounts can't report through me.",
            Refusal::OtherOrganisation => {
                "You're in this workspace from another organisation, so you can't report through me; please use your own organisation's safeguarding procedure."
            }
            Refusal::Deactivated => "This account is deactivated.",
            Refusal::Bot => "Bots can't report.",
        }
    }
}

impl Person {
    /// Reads a `users.info` user object, for the workspace `team_id`.
    pub fn from_user(user: &Value, team_id: &str) -> Person {
        let flag = |key: &str| user.get(key).and_then(Value::as_bool).unwrap_or(false);
        let team = user.get("team_id").and_then(Value::as_str).unwrap_or_default();
        let refusal = if flag("is_bot") || user.get("id").and_then(Value::as_str) == Some("USLACKBOT") {
            Some(Refusal::Bot)
        } else if flag("deleted") {
            Some(Refusal::Deactivated)
        } else if flag("is_stranger") || (!team_id.is_empty() && team != team_id) {
            Some(Refusal::OtherOrganisation)
        } else if flag("is_restricted") || flag("is_ultra_restricted") {
            Some(Refusal::Guest)
        } else {
            None
        };
        match refusal {
            Some(r) => Person::Refused(r),
            None => Person::Member {
                name: display_name(user),
            },
        }
    }

    pub fn may_report(&self) -> bool {
        matches!(self, Person::Member { .. })
    }
}

/// The name Slack shows: the display name, else the real name, else the id.
fn display_name(user: &Value) -> String {
    let profile = user.get("profile");
    [
        profile.and_then(|p| p.get("display_name")),
        profile.and_then(|p| p.get("real_name")),
        user.get("real_name"),
        user.get("id"),
    ]
    .into_iter()
    .flatten()
    .filter_map(Value::as_str)
    .find(|s| !s.trim().is_empty())
    .unwrap_or_default()
    .to_string()
}

/// How long a lookup is trusted: someone made a guest, or deactivated, is
/// refused within this.
const FRESH_FOR: Duration = Duration::from_secs(300);

/// `users.info`, cached.
pub struct People {
    api: Api,
    team_id: String,
    cache: Mutex<HashMap<String, (Instant, Person)>>,
}

impl People {
    pub fn new(api: Api, team_id: String) -> People {
        People {
            api,
            team_id,
            cache: Mutex::new(HashMap::new()),
        }
    }

    /// Who `user` is; an error when Slack cannot say just now.
    pub async fn get(&self, user: &str) -> Result<Person, ApiError> {
        if let Some(person) = self.cached(user) {
            return Ok(person);
        }
        let answer = self.api.call("users.info", json!({ "user": user })).await?;
        let person = match answer.get("user") {
            Some(u) => Person::from_user(u, &self.team_id),
            None => {
                return Err(ApiError::Unreadable {
                    method: "users.info".into(),
                })
            }
        };
        let mut cache = self.cache.lock().unwrap_or_else(|e| e.into_inner());
        if cache.len() > 10_000 {
            cache.retain(|_, (at, _)| at.elapsed() < FRESH_FOR);
        }
        cache.insert(user.to_string(), (Instant::now(), person.clone()));
        Ok(person)
    }

    fn cached(&self, user: &str) -> Option<Person> {
        let cache = self.cache.lock().unwrap_or_else(|e| e.into_inner());
        cache
            .get(user)
            .filter(|(at, _)| at.elapsed() < FRESH_FOR)
            .map(|(_, p)| p.clone())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn user(extra: Value) -> Value {
        let mut u = json!({
            "id": "U0STAFF001", "team_id": "T1", "deleted": false,
            "real_name": "Sam Staff", "profile": { "display_name": "sam", "real_name": "Sam Staff" },
            "is_restricted": false, "is_ultra_restricted": false, "is_bot": false
        });
        if let (Some(u), Some(extra)) = (u.as_object_mut(), extra.as_object()) {
            u.extend(extra.clone());
        }
        u
    }

    #[test]
    fn full_members_may_report_and_everyone_else_is_refused_with_why() {
        assert_eq!(
            Person::from_user(&user(json!({})), "T1"),
            Person::Member { name: "sam".into() }
        );
        for (extra, refusal) in [
            (json!({ "is_restricted": true }), Refusal::Guest),
            (
                json!({ "is_restricted": true, "is_ultra_restricted": true }),
                Refusal::Guest,
            ),
            (json!({ "is_stranger": true }), Refusal::OtherOrganisation),
            (json!({ "team_id": "T2" }), Refusal::OtherOrganisation),
            (json!({ "deleted": true }), Refusal::Deactivated),
            (json!({ "is_bot": true }), Refusal::Bot),
        ] {
            assert_eq!(
                Person::from_user(&user(extra.clone()), "T1"),
                Person::Refused(refusal),
                "{extra}"
            );
        }
    }
}
