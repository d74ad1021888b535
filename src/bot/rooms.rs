//! The rooms named in the config (the staff rooms and the leads' room), as
//! the chat's ids: resolved at start, tried again until each resolves, and
//! resolved again when the chat says one has changed (a room upgrade).
//!
//! A room once resolved keeps its id while a new resolution fails, so staff
//! stay staff through an outage or an upgrade the bot cannot follow yet.
//! A name never resolved is in [`ConfigRooms::unresolved`] (and `/healthz`
//! says so); it is never taken for a private chat, because rooms are only
//! private chats when the bot made them (see `route`).

use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use tokio::sync::{watch, Notify};
use tracing::{info, warn};

use super::{Chat, Core};

#[derive(Default)]
pub(super) struct ConfigRooms {
    /// Config name → the chat's id, for each name resolved at least once.
    resolved: RwLock<HashMap<String, String>>,
    /// Names whose last resolution failed.
    unresolved: RwLock<Vec<String>>,
    /// Woken when a room may have changed (an upgrade, an invitation).
    changed: Notify,
}

impl ConfigRooms {
    fn id_of(&self, name: &str) -> Option<String> {
        self.resolved
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .get(name)
            .cloned()
    }

    /// Resolves every name; returns those that failed.
    async fn resolve(&self, chat: &dyn Chat, names: &[String]) -> Vec<String> {
        let mut failed = Vec::new();
        for name in names {
            match chat.resolve_room(name).await {
                Ok(id) => {
                    let old = self
                        .resolved
                        .write()
                        .unwrap_or_else(|e| e.into_inner())
                        .insert(name.clone(), id.clone());
                    if old.as_ref().is_some_and(|o| *o != id) {
                        info!(room = %name, now = %id, "a room from the config has moved (upgraded); following it");
                    }
                }
                Err(e) => {
                    warn!(room = %name, error = %e, "a room from the config is not resolved yet; trying again");
                    failed.push(name.clone());
                }
            }
        }
        *self.unresolved.write().unwrap_or_else(|e| e.into_inner()) = failed.clone();
        failed
    }
}

impl Core {
    /// The names from the config that have not resolved (yet).
    pub fn unresolved_rooms(&self) -> Vec<String> {
        self.rooms
            .unresolved
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// The chat says a room may have changed (a room was upgraded, the bot
    /// was invited somewhere): the config's rooms are resolved again.
    pub fn rooms_changed(&self) {
        self.rooms.changed.notify_one();
    }

    /// The leads' room, if set and resolved.
    pub fn leads_room(&self) -> Option<String> {
        let name = self.config.safeguarding.leads_room.as_ref()?;
        self.rooms.id_of(name)
    }

    pub fn staff_rooms(&self) -> Vec<String> {
        self.config
            .staff_rooms()
            .iter()
            .filter_map(|name| self.rooms.id_of(name))
            .collect()
    }

    fn config_room_names(&self) -> Vec<String> {
        let mut names = self.config.staff_rooms().to_vec();
        names.extend(self.config.safeguarding.leads_room.iter().cloned());
        names
    }

    /// Resolves the staff rooms and the leads' room named in the config;
    /// returns the names still unresolved.
    pub(super) async fn resolve_rooms(&self) -> Vec<String> {
        self.rooms
            .resolve(self.chat.as_ref(), &self.config_room_names())
            .await
    }
}

/// Resolves the config's rooms again: with a growing wait while any is
/// unresolved, and whenever the chat says a room has changed.
pub(super) async fn keep_resolving(core: Arc<Core>, mut shutdown: watch::Receiver<bool>) {
    const FIRST_WAIT: Duration = Duration::from_secs(2);
    let mut wait = FIRST_WAIT;
    loop {
        let missing = !core.unresolved_rooms().is_empty();
        tokio::select! {
            _ = tokio::time::sleep(wait), if missing => {}
            _ = core.rooms.changed.notified() => wait = FIRST_WAIT,
            _ = shutdown.changed() => return,
        }
        // Each room still unresolved is named in the log by `resolve`.
        if core.resolve_rooms().await.is_empty() {
            if missing {
                info!("every room from the config is resolved");
            }
            wait = FIRST_WAIT;
        } else {
            wait = (wait * 2).min(Duration::from_secs(60));
        }
    }
}
