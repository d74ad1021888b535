//! Bringing a data directory written by an older safeguarding-bot up to
//! [`SCHEMA_VERSION`], once, when it is opened.
//!
//! Each change to what is kept on disk raises [`SCHEMA_VERSION`] by one and
//! adds a [`Step`] to [`STEPS`] that rewrites what the version before wrote.
//! [`Store::open`] runs the steps from the version it finds, in order, and
//! writes the new version only after the last one is on disk: a step cut
//! short by a crash runs again from the start at the next open, so a step
//! must be safe to run twice. Once stamped, nothing runs again.
//!
//! Version 1 is the first, and what release b8425c1 wrote; there is nothing
//! to migrate yet (`tests/it/upgrade.rs` opens that release's data as it is).

use super::{Store, StoreError, META_SCHEMA_VERSION, SCHEMA_VERSION};

/// The oldest schema version any safeguarding-bot has written.
pub(super) const OLDEST: u64 = 1;

/// One change to the layout: turns a store at version `from` into one at
/// `from + 1`.
pub(super) struct Step {
    pub from: u64,
    /// What it changes, for the log and the audit entry.
    pub what: &'static str,
    pub run: fn(&Store) -> Result<(), StoreError>,
}

/// Every step, oldest first: one for each version from [`OLDEST`] up to
/// [`SCHEMA_VERSION`].
pub(super) const STEPS: &[Step] = &[];

impl Store {
    /// Brings this store from schema version `found` to [`SCHEMA_VERSION`]
    /// with [`STEPS`]. Called by [`Store::open`] once the key is known to
    /// be right.
    pub(super) fn migrate(&self, found: u64) -> Result<(), StoreError> {
        self.migrate_with(found, SCHEMA_VERSION, STEPS)
    }

    /// Runs `steps` from `found` up to `target`, then stamps `target` and
    /// records the upgrade in the audit log. Nothing is done if `found` is
    /// `target` already.
    pub(super) fn migrate_with(&self, found: u64, target: u64, steps: &[Step]) -> Result<(), StoreError> {
        if found >= target {
            return Ok(());
        }
        for version in found..target {
            let step = steps.iter().find(|s| s.from == version).ok_or_else(|| {
                self.damaged(&format!(
                    "its schema version {found} cannot be brought up to {target}: no way from version {version} is known"
                ))
            })?;
            tracing::info!(
                from = version,
                to = version + 1,
                what = step.what,
                "upgrading the data directory"
            );
            (step.run)(self)?;
            // Each step's writes are on disk before the next reads them.
            self.flush()?;
        }
        self.meta
            .insert(META_SCHEMA_VERSION, target.to_string().as_bytes())
            .map_err(|e| self.disk(e))?;
        self.flush()?;
        self.audit(
            self.now(),
            "bot",
            "data directory upgraded",
            None,
            &format!("schema version {found} to {target}"),
        )?;
        tracing::info!(from = found, to = target, "the data directory is upgraded");
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::super::Key;
    use super::*;

    #[test]
    fn the_steps_lead_from_the_oldest_version_to_this_one() {
        // Empty while version 1 is the only one.
        let versions: Vec<u64> = (OLDEST..).take_while(|v| *v < SCHEMA_VERSION).collect();
        for version in &versions {
            assert_eq!(
                STEPS.iter().filter(|s| s.from == *version).count(),
                1,
                "one step from version {version}"
            );
        }
        assert!(STEPS.iter().all(|s| versions.contains(&s.from)));
    }

    fn key() -> Key {
        Key::from_hex(&"42".repeat(32)).unwrap()
    }

    fn version(store: &Store) -> u64 {
        let v = store.meta.get(META_SCHEMA_VERSION).unwrap().unwrap();
        std::str::from_utf8(&v).unwrap().parse().unwrap()
    }

    fn runs(store: &Store, name: &str) -> u64 {
        store
            .meta
            .get(name)
            .unwrap()
            .map_or(0, |v| u64::from_be_bytes(v.as_ref().try_into().unwrap()))
    }

    fn count(store: &Store, name: &str) -> Result<(), StoreError> {
        let n = runs(store, name) + 1;
        store
            .meta
            .insert(name, &n.to_be_bytes())
            .map_err(|e| store.disk(e))?;
        Ok(())
    }

    /// Two steps, as a later release might have: each counts its runs.
    const TWO: &[Step] = &[
        Step {
            from: 1,
            what: "test step one",
            run: |s| count(s, "test_step_1"),
        },
        Step {
            from: 2,
            what: "test step two",
            run: |s| count(s, "test_step_2"),
        },
    ];

    #[test]
    fn an_older_store_is_migrated_and_stamped_exactly_once() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path(), key()).unwrap();
        assert_eq!(version(&store), SCHEMA_VERSION);
        let audited = store.audit_entries().unwrap().len();

        store.migrate_with(1, 3, TWO).unwrap();
        assert_eq!(version(&store), 3);
        assert_eq!((runs(&store, "test_step_1"), runs(&store, "test_step_2")), (1, 1));
        let entries = store.audit_entries().unwrap();
        assert_eq!(entries.len(), audited + 1);
        let last = entries.last().unwrap();
        assert_eq!(last.action, "data directory upgraded");
        assert_eq!(last.detail, "schema version 1 to 3");
        assert_eq!(store.verify_audit(), Ok(()));

        // Opened again at the version it now has: nothing runs.
        store.migrate_with(version(&store), 3, TWO).unwrap();
        assert_eq!((runs(&store, "test_step_1"), runs(&store, "test_step_2")), (1, 1));
        assert_eq!(store.audit_entries().unwrap().len(), audited + 1);

        // From the middle, only what is left runs.
        store.meta.insert(META_SCHEMA_VERSION, "2").unwrap();
        store.migrate_with(2, 3, TWO).unwrap();
        assert_eq!((runs(&store, "test_step_1"), runs(&store, "test_step_2")), (1, 2));
        assert_eq!(version(&store), 3);
    }

    #[test]
    fn a_step_that_fails_leaves_the_version_for_the_next_open() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path(), key()).unwrap();
        const FAILS: &[Step] = &[Step {
            from: 1,
            what: "a failing step",
            run: |s| Err(s.damaged("test failure")),
        }];
        assert!(store.migrate_with(1, 2, FAILS).is_err());
        assert_eq!(version(&store), 1);
        // A version no step leads from is refused, and nothing stamped.
        let err = store.migrate_with(1, 2, &[]).unwrap_err();
        assert!(err.to_string().contains("no way from version 1"), "{err}");
        assert_eq!(version(&store), 1);
    }

    #[test]
    fn a_store_reopened_at_this_version_is_not_migrated_again() {
        let dir = tempfile::tempdir().unwrap();
        drop(Store::open(dir.path(), key()).unwrap());
        let store = Store::open(dir.path(), key()).unwrap();
        assert_eq!(version(&store), SCHEMA_VERSION);
        assert!(store
            .audit_entries()
            .unwrap()
            .iter()
            .all(|e| e.action != "data directory upgraded"));
    }
}
