//! Logging in once, and coming back as the same device.
//!
//! The session (access token, device id) is kept in `matrix/session.json`
//! under the data directory, mode 0600; the SDK's state and crypto stores in
//! `matrix/sdk`, encrypted with a passphrase derived from the store key. On
//! restart both are restored, so the bot keeps one device, and its
//! encryption keys, for its lifetime.

use std::fs;
use std::io::Write as _;
use std::os::unix::fs::OpenOptionsExt as _;
use std::path::{Path, PathBuf};

use anyhow::Context as _;
use matrix_sdk::authentication::matrix::MatrixSession;
use matrix_sdk::encryption::EncryptionSettings;
use matrix_sdk::store::StateStoreDataKey;
use matrix_sdk::Client;
use tracing::info;

use crate::config::Config;

fn session_file(data_dir: &Path) -> PathBuf {
    data_dir.join("matrix").join("session.json")
}

/// Connects, restoring the saved session or logging in for the first time.
/// Returns the client and whether this was the first login.
pub async fn connect(config: &Config, passphrase: &str) -> anyhow::Result<(Client, bool)> {
    let dir = config.storage.data_dir.join("matrix");
    fs::create_dir_all(&dir).with_context(|| format!("could not create {}", dir.display()))?;
    let client = build(&config.matrix.homeserver_url, &dir.join("sdk"), passphrase).await?;

    let path = session_file(&config.storage.data_dir);
    let first_login = !path.exists();
    if !first_login {
        let text = fs::read_to_string(&path).with_context(|| format!("could not read {}", path.display()))?;
        let session: MatrixSession = serde_json::from_str(&text).with_context(|| {
            format!(
                "{} is damaged; delete it to log in again as a new device",
                path.display()
            )
        })?;
        restore(&client, session).await?;
        info!("restored the saved Matrix session");
    } else {
        client
            .matrix_auth()
            .login_username(&config.matrix.user_id, &config.matrix.password)
            .initial_device_display_name(&config.matrix.device_name)
            .send()
            .await
            .with_context(|| {
                format!(
                    "could not log in as {}; check [matrix] user_id and password in the config",
                    config.matrix.user_id
                )
            })?;
        let session = client
            .matrix_auth()
            .session()
            .context("logged in but the SDK has no session")?;
        save_session(&path, &session)?;
        info!("logged in for the first time and saved the session");
    }
    client.encryption().wait_for_e2ee_initialization_tasks().await;
    Ok((client, first_login))
}

/// The client, with the SDK's state and crypto stores under `store`.
async fn build(homeserver: &str, store: &Path, passphrase: &str) -> anyhow::Result<Client> {
    Client::builder()
        .homeserver_url(homeserver)
        // Keep to the configured address: a login answer's well-known URL
        // may be the public one, out of reach from where the bot runs.
        .respect_login_well_known(false)
        .sqlite_store(store, Some(passphrase))
        .with_encryption_settings(EncryptionSettings {
            // Clients that exclude unverified devices still encrypt for a
            // device its own identity has signed.
            auto_enable_cross_signing: true,
            ..Default::default()
        })
        .build()
        .await
        .with_context(|| format!("could not set up the Matrix client for {homeserver}"))
}

/// Restores a saved session, without the SDK's own sync position.
///
/// The SDK keeps where its last sync ended before it hands that sync's
/// events to the handlers, and drops any later answer that ends at the same
/// place as "the same sync response twice". The bot syncs from its own
/// position, kept only once the events are in the inbox: after a kill
/// between the two, the sync done again ends where the SDK's position is
/// (if nothing newer was said meanwhile), and the SDK would drop it, and
/// with it the events never handed over. Without a position of its own
/// the SDK hands over everything the bot's position brings.
async fn restore(client: &Client, session: MatrixSession) -> anyhow::Result<()> {
    client
        .state_store()
        .remove_kv_data(StateStoreDataKey::SyncToken)
        .await
        .context("could not clear the Matrix client's own sync position")?;
    client
        .restore_session(session)
        .await
        .context("could not restore the saved Matrix session")
}

fn save_session(path: &Path, session: &MatrixSession) -> anyhow::Result<()> {
    let text = serde_json::to_string(session).context("could not serialise the session")?;
    let tmp = path.with_extension("json.tmp");
    let mut f = fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(&tmp)
        .with_context(|| format!("could not write {}", tmp.display()))?;
    f.write_all(text.as_bytes())?;
    f.sync_all()?;
    fs::rename(&tmp, path).with_context(|| format!("could not write {}", path.display()))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;
    use std::time::Duration;

    use axum::http::{header, StatusCode, Uri};
    use axum::response::IntoResponse;
    use axum::Router;
    use matrix_sdk::config::SyncSettings;
    use matrix_sdk::ruma::events::room::message::OriginalSyncRoomMessageEvent;
    use serde_json::json;

    /// What the homeserver answers: one sync, from `s1` to `s2`, bringing
    /// one message; any other sync brings nothing; the keys taken.
    async fn answer(uri: Uri) -> impl IntoResponse {
        let query = uri.query().unwrap_or("");
        let (status, body) = match uri.path() {
            "/_matrix/client/versions" => (StatusCode::OK, json!({ "versions": ["v1.11"] })),
            "/_matrix/client/v3/sync" if query.split('&').any(|p| p == "since=s1") => (
                StatusCode::OK,
                json!({
                    "next_batch": "s2",
                    "rooms": { "join": { "!chat:localhost": { "timeline": {
                        "limited": false,
                        "prev_batch": "p1",
                        "events": [{
                            "type": "m.room.message",
                            "event_id": "$answer:localhost",
                            "sender": "@reporter:localhost",
                            "origin_server_ts": 1,
                            "content": { "msgtype": "m.text", "body": "yes" }
                        }]
                    } } } }
                }),
            ),
            "/_matrix/client/v3/sync" => (StatusCode::OK, json!({ "next_batch": "s2" })),
            "/_matrix/client/v3/keys/upload" => (
                StatusCode::OK,
                json!({ "one_time_key_counts": { "signed_curve25519": 50 } }),
            ),
            "/_matrix/client/v3/keys/query" => (StatusCode::OK, json!({ "device_keys": {} })),
            _ => (
                StatusCode::NOT_FOUND,
                json!({ "errcode": "M_UNRECOGNIZED", "error": "not in this test" }),
            ),
        };
        (
            status,
            [(header::CONTENT_TYPE, "application/json")],
            body.to_string(),
        )
    }

    async fn homeserver() -> String {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("a port");
        let url = format!("http://{}", listener.local_addr().expect("its address"));
        let app = Router::new().fallback(answer);
        tokio::spawn(async move { axum::serve(listener, app).await });
        url
    }

    /// The bot killed after the SDK kept where a sync ended but before the
    /// handlers had its events (and before the bot kept its own position):
    /// started again, the sync from the bot's position must hand the events
    /// over, though it ends where the SDK had got to.
    #[tokio::test]
    async fn a_sync_done_again_after_a_kill_hands_its_events_over() {
        let url = homeserver().await;
        let dir = tempfile::tempdir().expect("a temporary directory");
        let store = dir.path().join("sdk");
        let session: MatrixSession = serde_json::from_value(json!({
            "user_id": "@bot:localhost",
            "device_id": "BOTDEVICE",
            "access_token": "secret",
        }))
        .expect("a session");
        let from_kept = SyncSettings::default().token("s1").timeout(Duration::ZERO);

        // The run that was killed: the SDK kept s2; nothing was handled.
        {
            let client = build(&url, &store, "passphrase").await.expect("a client");
            restore(&client, session.clone()).await.expect("restored");
            client.sync_once(from_kept.clone()).await.expect("a sync");
            let kept = client
                .state_store()
                .get_kv_data(StateStoreDataKey::SyncToken)
                .await
                .expect("the SDK's store")
                .and_then(|v| v.into_sync_token());
            assert_eq!(kept.as_deref(), Some("s2"));
        }

        // Started again on the same stores, from the bot's own position.
        let client = build(&url, &store, "passphrase").await.expect("a client");
        restore(&client, session).await.expect("restored");
        let handed = Arc::new(AtomicUsize::new(0));
        let count = handed.clone();
        client.add_event_handler(move |_: OriginalSyncRoomMessageEvent| {
            let count = count.clone();
            async move {
                count.fetch_add(1, Ordering::SeqCst);
            }
        });
        let response = client.sync_once(from_kept).await.expect("the sync again");
        assert_eq!(response.next_batch, "s2");
        assert_eq!(
            handed.load(Ordering::SeqCst),
            1,
            "the message the killed run never handled was dropped as a sync seen before"
        );
    }
}
