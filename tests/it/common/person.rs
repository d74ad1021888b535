//! A person's own Matrix client, as Element on their phone would be: their
//! own device, encryption and store, every invitation accepted, syncing all
//! the time. Written once for the tests' people ([`super::matrix::Person`]),
//! the reply-latency bench's accounts and the demo's people
//! (`examples/demo.rs` includes this file); each adds its own handler for
//! what it receives. It needs nothing from the tests, so that the demo can
//! use it too.
#![allow(dead_code)]

use std::time::Duration;

use anyhow::{Context, Result};
use matrix_sdk::config::SyncSettings;
use matrix_sdk::room::Room;
use matrix_sdk::ruma::api::client::room::create_room::v3::{Request as CreateRoomRequest, RoomPreset};
use matrix_sdk::ruma::events::room::encryption::RoomEncryptionEventContent;
use matrix_sdk::ruma::events::room::member::{MembershipState, StrippedRoomMemberEvent};
use matrix_sdk::ruma::events::room::message::MessageType;
use matrix_sdk::ruma::events::InitialStateEvent;
use matrix_sdk::ruma::OwnedUserId;
use matrix_sdk::Client;
use tempfile::TempDir;
use tokio::task::JoinHandle;

/// A client logged in as `user` on a new device named `device`, with its
/// store (and so its keys) in a temporary directory that lives as long as
/// the `TempDir` returned.
pub async fn log_in(url: &str, user: &str, password: &str, device: &str) -> Result<(Client, TempDir)> {
    let dir = TempDir::new().context("a temporary directory for the client's store")?;
    let client = Client::builder()
        .homeserver_url(url)
        .sqlite_store(dir.path(), None)
        .build()
        .await
        .with_context(|| format!("a Matrix client for {url}"))?;
    client
        .matrix_auth()
        .login_username(user, password)
        .initial_device_display_name(device)
        .send()
        .await
        .with_context(|| format!("logging in as {user}"))?;
    Ok((client, dir))
}

/// Joins every room the person is invited to, as a person would tap
/// "Accept". A join is tried for 10 seconds: an invitation can arrive
/// before the room will take the join.
pub fn accept_invitations(client: &Client) {
    client.add_event_handler(
        |ev: StrippedRoomMemberEvent, room: Room, client: Client| async move {
            if Some(ev.state_key.as_ref()) == client.user_id()
                && ev.content.membership == MembershipState::Invite
            {
                tokio::spawn(async move {
                    for _ in 0..20 {
                        if room.join().await.is_ok() {
                            return;
                        }
                        tokio::time::sleep(Duration::from_millis(500)).await;
                    }
                });
            }
        },
    );
}

/// Syncs once, so that the handlers added before see what is new from
/// here on, then keeps syncing in the background until the handle is
/// aborted: each sync starts when the last returns. A failed sync is said
/// on stderr, naming `who`, and tried again, so that nobody waits on a
/// client that quietly stopped.
pub async fn keep_syncing(client: &Client, who: &str) -> Result<JoinHandle<()>> {
    client
        .sync_once(SyncSettings::default())
        .await
        .with_context(|| format!("{who}'s first sync"))?;
    let client = client.clone();
    let who = who.to_string();
    Ok(tokio::spawn(async move {
        let settings = SyncSettings::default().timeout(Duration::from_secs(10));
        loop {
            if let Err(e) = client.sync_once(settings.clone()).await {
                eprintln!("{who}: sync failed, retrying: {e}");
                tokio::time::sleep(Duration::from_millis(500)).await;
            }
        }
    }))
}

/// A private, end-to-end encrypted room, with these people invited.
pub async fn create_encrypted_room(client: &Client, name: &str, invite: Vec<OwnedUserId>) -> Result<Room> {
    let mut request = CreateRoomRequest::new();
    request.name = Some(name.to_string());
    request.preset = Some(RoomPreset::PrivateChat);
    request.invite = invite;
    request.initial_state =
        vec![
            InitialStateEvent::with_empty_state_key(RoomEncryptionEventContent::with_recommended_defaults())
                .to_raw_any(),
        ];
    client
        .create_room(request)
        .await
        .with_context(|| format!("creating the room {name:?}"))
}

/// What a message says, as a person reads it: its text, its HTML if it
/// has any, and whether it is a notice (as the bot sends).
pub fn text_of(msgtype: &MessageType) -> (String, Option<String>, bool) {
    match msgtype {
        MessageType::Text(t) => (
            t.body.clone(),
            t.formatted.as_ref().map(|f| f.body.clone()),
            false,
        ),
        MessageType::Notice(t) => (t.body.clone(), t.formatted.as_ref().map(|f| f.body.clone()), true),
        other => (other.body().to_string(), None, false),
    }
}
