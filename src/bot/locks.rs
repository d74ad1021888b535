//! One lock per concern, made on first use and dropped once nobody holds
//! or waits for it, so the map stays as small as the work in hand.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use crate::concern::Reference;

#[derive(Default)]
pub struct Locks {
    map: Mutex<HashMap<Reference, Arc<tokio::sync::Mutex<()>>>>,
}

impl Locks {
    /// Waits for this concern's lock.
    pub async fn lock(&self, reference: &Reference) -> tokio::sync::OwnedMutexGuard<()> {
        let lock = {
            let mut map = self.map.lock().unwrap_or_else(|e| e.into_inner());
            // Locks nobody holds or waits for (only the map has them) go.
            if map.len() > 32 {
                map.retain(|_, l| Arc::strong_count(l) > 1);
            }
            map.entry(reference.clone()).or_default().clone()
        };
        lock.lock_owned().await
    }

    /// How many locks are kept.
    #[cfg(test)]
    pub fn len(&self) -> usize {
        let mut map = self.map.lock().unwrap_or_else(|e| e.into_inner());
        map.retain(|_, l| Arc::strong_count(l) > 1);
        map.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_lock_nobody_holds_is_dropped() {
        let locks = Locks::default();
        let a = locks.lock(&Reference::new(1)).await;
        {
            let _b = locks.lock(&Reference::new(2)).await;
        }
        assert_eq!(locks.len(), 1);
        drop(a);
        assert_eq!(locks.len(), 0);
    }
}
