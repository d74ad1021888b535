//! Retention: closed concerns deleted once the organisation's period has passed.
//!
//! The period is `[safeguarding] retention` in the config, counted from when
//! the concern was closed (its last `!close`), or from anything added to it
//! after that, whichever is later. Only a concern that is closed now falls
//! due: an open, referred or monitored one never does, and nor does one that
//! was reopened, whatever happened before.
//!
//! Deleting removes the record, the casefile and the paging together
//! ([`Store::delete_concern`]), then the reporter's finished conversation
//! for it (it holds their answers). The concern's chat room is added to the
//! [`RETIRED_ROOMS`] setting, for the chat transport to clear and leave.
//! Copies of the record the transport posted elsewhere (a `!show` in the
//! leads' room or a lead's private chat), remembered with
//! [`remember_copies`], move to the [`RETIRED_MESSAGES`] setting, for the
//! transport to remove one by one.
//! Each deletion is written to the audit log with the reference, the date
//! it was closed and the period, and nothing of what the concern said.

use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::CaseView;
use crate::concern::Reference;
use crate::escalation::Escalation;
use crate::store::{Batch, Store, StoreError, Tree};

/// The audit action for a deletion under retention.
pub const AUDIT_ACTION: &str = "deleted under retention";

/// The setting ([`Tree::Settings`]) listing the chat rooms of deleted
/// concerns, which still hold their messages until the transport clears them.
pub const RETIRED_ROOMS: &str = "retired_rooms";

/// The setting ([`Tree::Settings`]) listing messages that showed a deleted
/// concern outside its own room, still there until the transport removes
/// them.
pub const RETIRED_MESSAGES: &str = "retired_messages";

/// A message a chat transport posted that shows a concern, outside the
/// concern's own room (which is cleared whole): where it is and its id.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PostedCopy {
    pub room: String,
    pub message: String,
}

/// The setting that lists the copies of one concern.
fn copies_key(reference: &Reference) -> String {
    format!("copies:{reference}")
}

/// Remembers messages that showed `reference` outside its own room, so
/// they are removed when the concern is deleted. If the concern is already
/// gone (deleted while they were being sent), they are listed for removal
/// at once. A transport that deletes under the concern's lock calls this
/// under it too.
pub fn remember_copies(
    store: &Store,
    reference: &Reference,
    copies: &[PostedCopy],
) -> Result<(), StoreError> {
    if copies.is_empty() {
        return Ok(());
    }
    let key = if store.get_concern(reference)?.is_some() {
        copies_key(reference)
    } else {
        RETIRED_MESSAGES.to_string()
    };
    append(store, &key, copies)
}

/// Held while a list of things to clear is read, changed and written back:
/// a `!show` being remembered, a deletion and the clearing run in different
/// tasks, and one must not write over what another just added.
static LISTS: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn lists() -> std::sync::MutexGuard<'static, ()> {
    LISTS.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Remembers messages of the reporter's conversation about `reference` (their
/// answers, the bot's questions and the summary) in their private room, so
/// they are removed when the concern is deleted. Kept only if the
/// reporter's latest conversation is still that one; the concern itself may
/// not be recorded yet. A transport that deletes under the concern's lock
/// calls this under it too.
pub fn remember_reporter_copies(
    store: &Store,
    reporter: &str,
    reference: &Reference,
    copies: &[PostedCopy],
) -> Result<(), StoreError> {
    if copies.is_empty() || crate::intake::reference_of(store, reporter)?.as_ref() != Some(reference) {
        return Ok(());
    }
    append(store, &copies_key(reference), copies)
}

/// As [`remember_reporter_copies`], staged in `batch` to be kept with it.
/// Call under the concern's lock, held until `batch` is committed.
pub fn stage_reporter_copies(
    store: &Store,
    batch: &mut Batch,
    reporter: &str,
    reference: &Reference,
    copies: &[PostedCopy],
) -> Result<(), StoreError> {
    if copies.is_empty() || crate::intake::reference_of(store, reporter)?.as_ref() != Some(reference) {
        return Ok(());
    }
    store.stage_add_to_list(batch, Tree::Settings, &copies_key(reference), copies)
}

/// Adds `copies` to the list kept under `key` in the settings, skipping any
/// already there. The list is read and written back in the commit (see
/// [`Store::stage_add_to_list`]), so additions staged elsewhere at the same
/// time are kept too.
fn append(store: &Store, key: &str, copies: &[PostedCopy]) -> Result<(), StoreError> {
    let _lists = lists();
    let mut batch = Batch::new();
    store.stage_add_to_list(&mut batch, Tree::Settings, key, copies)?;
    store.commit(batch)
}

/// Messages of deleted concerns still to be removed, oldest first.
pub fn retired_messages(store: &Store) -> Result<Vec<PostedCopy>, StoreError> {
    Ok(store
        .get_item::<Vec<PostedCopy>>(Tree::Settings, RETIRED_MESSAGES)?
        .unwrap_or_default())
}

/// Forgets messages that have been removed (or can no longer be).
pub fn forget_retired_messages(store: &Store, done: &[PostedCopy]) -> Result<(), StoreError> {
    let _lists = lists();
    let left: Vec<PostedCopy> = retired_messages(store)?
        .into_iter()
        .filter(|c| !done.contains(c))
        .collect();
    store.put_item(Tree::Settings, RETIRED_MESSAGES, &left)
}

/// Moves a deleted concern's copies to [`RETIRED_MESSAGES`].
fn retire_copies(store: &Store, reference: &Reference) -> Result<(), StoreError> {
    let key = copies_key(reference);
    let copies = store
        .get_item::<Vec<PostedCopy>>(Tree::Settings, &key)?
        .unwrap_or_default();
    if !copies.is_empty() {
        append(store, RETIRED_MESSAGES, &copies)?;
    }
    store.remove_item(Tree::Settings, &key)
}

/// Rooms of deleted concerns still to be cleared and left.
pub fn retired_rooms(store: &Store) -> Result<Vec<String>, StoreError> {
    Ok(store
        .get_item::<Vec<String>>(Tree::Settings, RETIRED_ROOMS)?
        .unwrap_or_default())
}

/// Lists a deleted concern's room to be cleared and left.
fn retire_room(store: &Store, room: String) -> Result<(), StoreError> {
    let _lists = lists();
    let mut rooms = retired_rooms(store)?;
    if rooms.contains(&room) {
        return Ok(());
    }
    rooms.push(room);
    store.put_item(Tree::Settings, RETIRED_ROOMS, &rooms)
}

/// Forgets a room that has been cleared (or can no longer be).
pub fn forget_retired_room(store: &Store, room: &str) -> Result<(), StoreError> {
    let _lists = lists();
    let left: Vec<String> = retired_rooms(store)?.into_iter().filter(|r| r != room).collect();
    store.put_item(Tree::Settings, RETIRED_ROOMS, &left)
}

/// When this concern may be deleted: `retention` after it was closed (or
/// after its last entry, if something was added after closing), or `None`
/// if it is not closed (or the date would be past the end of time).
pub fn delete_after(case: &CaseView, retention: Duration) -> Option<DateTime<Utc>> {
    let closed = case.casefile.closed_at()?;
    let last = case.casefile.entries.last().map_or(closed, |e| e.at.max(closed));
    let period = chrono::Duration::from_std(retention).ok()?;
    last.checked_add_signed(period)
}

/// The closed concerns whose period has passed at `now`, in the order given.
pub fn due(cases: &[CaseView], retention: Duration, now: DateTime<Utc>) -> Vec<Reference> {
    cases
        .iter()
        .filter(|c| delete_after(c, retention).is_some_and(|t| t <= now))
        .map(|c| c.reference().clone())
        .collect()
}

/// The audit detail for a deletion: when it was closed and the period, and
/// nothing of the concern.
pub fn audit_detail(closed_at: DateTime<Utc>, retention: Duration) -> String {
    format!(
        "closed on {}, retention period {}",
        closed_at.format("%Y-%m-%d"),
        period_text(retention)
    )
}

/// A period as people write it: "6 years", "1 year 6 months", "30 days"
/// (humantime's units, with a space after each number).
pub fn period_text(retention: Duration) -> String {
    let compact = humantime::format_duration(retention).to_string();
    let mut out = String::with_capacity(compact.len() + 4);
    let mut prev_digit = false;
    for c in compact.chars() {
        if prev_digit && c.is_alphabetic() {
            out.push(' ');
        }
        prev_digit = c.is_ascii_digit();
        out.push(c);
    }
    out
}

/// Deletes every concern [`due`] at `now` and audits each deletion as
/// `actor`. Returns the references deleted (with `dry_run`, the ones that
/// would be, and nothing is deleted or audited).
///
/// Each concern is deleted, then audited, one at a time. It stops at the
/// first failure: what was deleted before it stays deleted and audited, and
/// running it again carries on. If a deletion succeeds and its audit entry
/// cannot be written, the error says so (the concern is gone either way).
pub fn sweep(
    store: &Store,
    retention: Duration,
    now: DateTime<Utc>,
    dry_run: bool,
    actor: &str,
) -> Result<Vec<Reference>, StoreError> {
    let cases = CaseView::all(store)?;
    let due = due(&cases, retention, now);
    if dry_run {
        return Ok(due);
    }
    let mut deleted = Vec::with_capacity(due.len());
    for reference in due {
        if delete_if_due(store, &reference, retention, now, actor)? {
            deleted.push(reference);
        }
    }
    Ok(deleted)
}

/// Deletes one concern if, read afresh, it is still due at `now`, and
/// audits it. Returns whether it was deleted. A transport that lets leads
/// write while this runs calls it under the concern's lock, so a `!reopen`
/// or `!add` just before is seen.
pub fn delete_if_due(
    store: &Store,
    reference: &Reference,
    retention: Duration,
    now: DateTime<Utc>,
    actor: &str,
) -> Result<bool, StoreError> {
    let Some(case) = CaseView::load(store, reference)? else {
        return Ok(false);
    };
    let (Some(closed_at), Some(after)) = (case.casefile.closed_at(), delete_after(&case, retention)) else {
        return Ok(false);
    };
    if after > now {
        return Ok(false);
    }
    // `false`: it went between reading and deleting; nothing to record.
    if !store.delete_concern(reference)? {
        return Ok(false);
    }
    // The deletion cannot be retried, so what follows it is done whatever
    // happens to the others; a failure to audit is returned at the end.
    let audited = store.audit(
        now,
        actor,
        AUDIT_ACTION,
        Some(reference),
        &audit_detail(closed_at, retention),
    );
    if let Some(Escalation { room, .. }) = case.escalation {
        if let Err(e) = retire_room(store, room) {
            tracing::error!(reference = %reference, error = %e, "deleted, but its chat room could not be listed for clearing; clear it by hand");
        }
    }
    if let Err(e) = retire_copies(store, reference) {
        tracing::error!(reference = %reference, error = %e, "deleted, but the messages that showed it elsewhere could not be listed for removal; remove them by hand");
    }
    if let Err(e) = crate::intake::forget_finished(store, &case.record.reporter, reference) {
        tracing::error!(reference = %reference, error = %e, "deleted, but the reporter's finished conversation could not be removed");
    }
    audited?;
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::casework::{CaseStatus, Casefile, EntryKind};
    use crate::concern::{ConcernRecord, Status};
    use chrono::TimeZone;

    const DAY: u64 = 24 * 60 * 60;

    fn day(d: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 1, d, 12, 0, 0).unwrap()
    }

    fn case(n: u64, entries: &[(u32, EntryKind)]) -> CaseView {
        let reference = Reference::new(n);
        let mut casefile = Casefile::new(reference.clone());
        for (d, kind) in entries {
            casefile = casefile.with_entry("@dsl:x", kind.clone(), day(*d)).0;
        }
        CaseView {
            record: ConcernRecord {
                reference,
                status: Status::Submitted,
                reporter: "@staff:x".into(),
                flow_id: "f".into(),
                flow_version: "1".into(),
                flow_digest: String::new(),
                started_at: day(1),
                recorded_at: day(1),
                decisions: vec![],
                route: None,
                fields: vec![],
                urgent: false,
            },
            escalation: None,
            casefile,
        }
    }

    fn closed() -> EntryKind {
        EntryKind::Closed {
            kind: Some("No further action".into()),
            outcome: String::new(),
        }
    }

    #[test]
    fn only_concerns_closed_for_the_whole_period_are_due() {
        let cases = [
            case(1, &[(2, closed())]),
            case(2, &[(5, closed())]),
            case(3, &[]),
            case(
                4,
                &[(
                    2,
                    EntryKind::Status {
                        status: CaseStatus::Referred,
                    },
                )],
            ),
            case(
                5,
                &[(
                    2,
                    EntryKind::Status {
                        status: CaseStatus::Monitoring,
                    },
                )],
            ),
            case(6, &[(2, closed()), (3, EntryKind::Reopened { reason: None })]),
        ];
        let retention = Duration::from_secs(3 * DAY);
        assert_eq!(due(&cases, retention, day(4)), vec![]);
        // Exactly the period: due.
        assert_eq!(due(&cases, retention, day(5)), vec![Reference::new(1)]);
        assert_eq!(
            due(&cases, retention, day(8)),
            vec![Reference::new(1), Reference::new(2)]
        );
        assert_eq!(delete_after(&cases[0], retention), Some(day(5)));
        assert_eq!(delete_after(&cases[5], retention), None, "reopened");
    }

    #[test]
    fn the_period_counts_from_the_last_close() {
        let c = case(
            1,
            &[
                (2, closed()),
                (3, EntryKind::Reopened { reason: None }),
                (10, closed()),
            ],
        );
        assert_eq!(delete_after(&c, Duration::from_secs(DAY)), Some(day(11)));
    }

    #[test]
    fn an_enormous_period_is_never_due() {
        let c = case(1, &[(2, closed())]);
        assert_eq!(due(&[c], Duration::MAX, day(30)), vec![]);
    }

    #[test]
    fn the_audit_detail_names_the_date_and_period_only() {
        assert_eq!(
            audit_detail(day(2), Duration::from_secs(6 * 31_557_600)),
            "closed on 2026-01-02, retention period 6 years"
        );
        assert_eq!(
            period_text(Duration::from_secs(31_557_600 + 6 * 2_630_016)),
            "1 year 6 months"
        );
        assert_eq!(period_text(Duration::from_secs(DAY)), "1 day");
    }
}
