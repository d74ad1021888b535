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
    let client = Client::builder()
        .homeserver_url(&config.matrix.homeserver_url)
        // Keep to the configured address: a login answer's well-known URL
        // may be the public one, out of reach from where the bot runs.
        .respect_login_well_known(false)
        .sqlite_store(dir.join("sdk"), Some(passphrase))
        .with_encryption_settings(EncryptionSettings {
            // Clients that exclude unverified devices still encrypt for a
            // device its own identity has signed.
            auto_enable_cross_signing: true,
            ..Default::default()
        })
        .build()
        .await
        .with_context(|| {
            format!(
                "could not set up the Matrix client for {}",
                config.matrix.homeserver_url
            )
        })?;

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
        client
            .restore_session(session)
            .await
            .context("could not restore the saved Matrix session")?;
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
