//! The store and the rooms as `/healthz` and `/metrics` see them: through
//! the core, once there is one, held weakly so the listener never keeps the
//! store open after the bot has stopped. Every transport serves this one.

use std::sync::{Arc, OnceLock, Weak};

use super::Core;
use crate::health;

#[derive(Default)]
pub struct CoreProbe(OnceLock<Weak<Core>>);

impl CoreProbe {
    /// From now on the probe reads through `core`.
    pub fn attach(&self, core: &Arc<Core>) {
        let _ = self.0.set(Arc::downgrade(core));
    }

    fn core(&self) -> Result<Arc<Core>, String> {
        self.0
            .get()
            .and_then(Weak::upgrade)
            .ok_or_else(|| "the bot is starting or stopping".to_string())
    }
}

impl health::Probe for CoreProbe {
    fn store_writable(&self) -> Result<(), String> {
        self.core()?.store.health_check().map_err(|e| e.to_string())
    }

    fn concern_states(&self) -> Result<Vec<crate::concern::Status>, String> {
        let concerns = self.core()?.store.list_concerns().map_err(|e| e.to_string())?;
        Ok(concerns.into_iter().map(|c| c.status).collect())
    }

    fn unresolved_rooms(&self) -> Vec<String> {
        self.core().map(|c| c.unresolved_rooms()).unwrap_or_default()
    }
}
