//! People's names, as the chat shows them, for the messages the core
//! writes ([`compose::Person`]). Decisions are made under a concern's lock,
//! where nothing may wait on the chat, so names are looked up before: each
//! sender's as their event is taken, the leads' and deputies' before a
//! deadline is decided; the decision then reads them from here.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use super::compose::Person;
use super::Core;

/// A name is asked for again after this long, not on every event: a name
/// changed in the chat shows within it.
const FRESH_FOR: Duration = Duration::from_secs(300);

/// The names learned, by chat id: `None` when the chat gave none.
#[derive(Default)]
pub(super) struct Names(Mutex<HashMap<String, (Option<String>, Instant)>>);

impl Names {
    /// The name last learned, if the chat gave one.
    fn known(&self, user: &str) -> Option<String> {
        self.0
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(user)
            .and_then(|(name, _)| name.clone())
    }

    /// Whether `user`'s name was asked for lately.
    fn fresh(&self, user: &str) -> bool {
        self.0
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(user)
            .is_some_and(|(_, at)| at.elapsed() < FRESH_FOR)
    }

    fn set(&self, user: &str, name: Option<String>) {
        self.0
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(user.to_string(), (name, Instant::now()));
    }
}

impl Core {
    /// Looks up `user`'s name as `room` shows it, and keeps it.
    pub(super) async fn learn_name(&self, room: &str, user: &str) -> Person {
        let shown = self.chat.display_name(room, user).await;
        let name = Some(shown).filter(|n| n != user && !n.trim().is_empty());
        self.names.set(user, name.clone());
        Person::known(user, name.as_deref())
    }

    /// As [`Core::learn_name`], unless it was looked up lately.
    pub(super) async fn refresh_name(&self, room: &str, user: &str) {
        if !self.names.fresh(user) {
            self.learn_name(room, user).await;
        }
    }

    /// Looks up the names of the leads and deputies (unless done lately),
    /// so a page or a reminder decided next names them.
    pub(super) async fn learn_responder_names(&self) {
        let room = self.leads_room().unwrap_or_default();
        let responders: Vec<String> = self
            .config
            .safeguarding
            .responders()
            .map(str::to_string)
            .collect();
        for user in responders {
            self.refresh_name(&room, &user).await;
        }
    }

    /// `user` named as last learned, without asking the chat.
    pub(super) fn person(&self, user: &str) -> Person {
        Person::known(user, self.names.known(user).as_deref())
    }

    /// Someone named in a concern: by the name kept with it when it was
    /// made, else as last learned.
    pub(super) fn person_in(&self, esc: Option<&crate::escalation::Escalation>, user: &str) -> Person {
        match esc.and_then(|e| e.names.get(user)) {
            Some(name) => Person::known(user, Some(name)),
            None => self.person(user),
        }
    }
}

impl Core {
    /// Keeps `user`'s name with the concern's paging, as it is now, unless
    /// one is kept already: the record names them as they were then.
    pub(super) fn keep_name(&self, esc: &mut crate::escalation::Escalation, user: &str) {
        if esc.names.contains_key(user) {
            return;
        }
        if let Some(name) = self.names.known(user) {
            esc.names.insert(user.to_string(), name);
        }
    }
}
