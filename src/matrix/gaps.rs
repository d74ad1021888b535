//! Filling the gaps a sync leaves.
//!
//! A sync gives at most a timeline's limit of events per room; after an
//! outage or a burst it says `limited`. The gap, from the position the sync
//! started at to the first event it gave, is kept through the core with the
//! new sync position ([`crate::bot::Core::keep_sync_position`]), and filled
//! here with `/messages`, forwards, oldest first, a page at a time, each
//! page kept in the inbox before the gap is moved on. A fetch that fails is
//! tried again with backoff for as long as the bot runs, and a gap not
//! filled when it stops is filled after it starts again. The core's inbox
//! drops any event it has seen, so a page fetched twice is harmless.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use matrix_sdk::room::MessagesOptions;
use matrix_sdk::ruma::api::error::ErrorKind;
use matrix_sdk::ruma::{OwnedUserId, RoomId, UInt};
use matrix_sdk::Client;
use tokio::sync::{watch, Notify};
use tokio::task::JoinSet;
use tracing::{error, info, warn};

use super::events;
use crate::bot::gaps::Gap;
use crate::bot::Core;

/// Events asked for in one page of `/messages`.
const PAGE: u32 = 100;

/// The longest wait between tries of one page.
const MAX_BACKOFF: Duration = Duration::from_secs(60);

/// Fills every gap kept in the store, each in its own task, until
/// `shutdown`; woken by `wake` when a sync has kept a new one.
pub async fn fill(
    client: Client,
    core: Arc<Core>,
    bot: OwnedUserId,
    wake: Arc<Notify>,
    mut shutdown: watch::Receiver<bool>,
) {
    // Rooms are known, and the room keys in, once the chat has synced.
    tokio::select! {
        _ = core.wait_until_synced() => {}
        _ = shutdown.changed() => return,
    }
    let mut busy: HashSet<String> = HashSet::new();
    let mut tasks: JoinSet<String> = JoinSet::new();
    loop {
        match core.open_gaps() {
            Ok(gaps) => {
                for gap in gaps {
                    if busy.insert(gap.id.clone()) {
                        tasks.spawn(fill_one(client.clone(), core.clone(), bot.clone(), gap));
                    }
                }
            }
            Err(e) => {
                error!(error = %e, "could not read the sync gaps kept in the store; trying again shortly")
            }
        }
        tokio::select! {
            _ = wake.notified() => {}
            Some(done) = tasks.join_next() => {
                if let Ok(id) = done {
                    busy.remove(&id);
                }
            }
            _ = tokio::time::sleep(Duration::from_secs(60)) => {}
            _ = shutdown.changed() => break,
        }
    }
    // What is left stays in the store for next time.
    tasks.abort_all();
    while tasks.join_next().await.is_some() {}
}

/// Fills one gap, page by page, trying a failed page again until it is
/// fetched. Returns the gap's id once it is filled (or can never be).
async fn fill_one(client: Client, core: Arc<Core>, bot: OwnedUserId, mut gap: Gap) -> String {
    let id = gap.id.clone();
    let room = <&RoomId>::try_from(gap.room.as_str())
        .ok()
        .and_then(|r| client.get_room(r));
    let Some(room) = room else {
        warn!(room = %gap.room, "a sync gap is in a room the bot is not in; nothing to fetch");
        forget(&core, &gap);
        return id;
    };
    let mut backoff = Duration::from_secs(1);
    let mut handed = 0usize;
    loop {
        let mut options = MessagesOptions::forward();
        options.from = Some(gap.from.clone());
        options.to = gap.to.clone();
        options.limit = UInt::from(PAGE);
        let page = match room.messages(options).await {
            Ok(page) => page,
            Err(e) if gone_for_good(e.client_api_error_kind()) => {
                warn!(room = %gap.room, error = %e, "the messages a sync left out can no longer be fetched");
                break;
            }
            Err(e) => {
                warn!(room = %gap.room, error = %e, retry_in = ?backoff, "could not fetch the messages a sync left out; trying again");
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(MAX_BACKOFF);
                continue;
            }
        };
        backoff = Duration::from_secs(1);
        let fetched = page.chunk.len();
        for event in page.chunk {
            let Ok(ev) = event.raw().deserialize() else {
                continue;
            };
            if let Some(inbound) = events::any(ev, &gap.room, &bot) {
                // Kept in the inbox; on disk with `gap_moved`'s flush,
                // before the gap is said to have moved past it.
                core.accept_backlog(inbound);
                handed += 1;
            }
        }
        match page.end {
            Some(end) if fetched > 0 && end != gap.from => {
                gap.from = end;
                if let Err(e) = core.gap_moved(&gap) {
                    // Not fatal: a restart fetches this page again.
                    warn!(error = %e, "could not keep how far a sync gap is filled");
                }
            }
            // The end of the gap: nothing more up to where the sync began.
            _ => break,
        }
    }
    if handed > 0 {
        info!(room = %gap.room, count = handed, "handled messages a sync left out");
    }
    forget(&core, &gap);
    id
}

fn forget(core: &Core, gap: &Gap) {
    if let Err(e) = core.gap_filled(gap) {
        warn!(error = %e, "could not forget a sync gap that is filled; it is fetched again after a restart");
    }
}

/// The room is not the bot's to read any more (it left, or was removed).
fn gone_for_good(kind: Option<&ErrorKind>) -> bool {
    matches!(kind, Some(ErrorKind::Forbidden) | Some(ErrorKind::NotFound))
}
