#![allow(dead_code)]
//! A real Synapse for the integration tests, and people on it.
//!
//! The homeserver is started by the project's own script
//! (`deploy/dev-homeserver.sh`, Synapse from PyPI in a virtualenv, on
//! 127.0.0.1), once per machine, in `target/test-homeserver`. Each test
//! registers its own people, so tests never see each other's rooms. The
//! people are matrix-sdk clients with their own encryption, as a real
//! member of staff's Element would be ([`super::person`]).

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use hmac::{Hmac, Mac};
use matrix_sdk::room::Room;
use matrix_sdk::ruma::events::reaction::ReactionEventContent;
use matrix_sdk::ruma::events::relation::Annotation;
use matrix_sdk::ruma::events::room::member::MembershipState;
use matrix_sdk::ruma::events::room::message::{
    FileMessageEventContent, MessageType, OriginalSyncRoomMessageEvent, RoomMessageEventContent,
};
use matrix_sdk::ruma::{OwnedEventId, OwnedRoomId, OwnedUserId, RoomId, UserId};
use matrix_sdk::Client;
use safeguarding_bot::config::{self, Config};
use safeguarding_bot::flow;
use safeguarding_bot::store::{Key, Store};
use serde_json::json;
use tempfile::TempDir;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use super::person;
use super::repo_path;

/// The test homeserver's port: 18008, or SAFEGUARDING_TEST_PORT.
pub fn port() -> u16 {
    std::env::var("SAFEGUARDING_TEST_PORT")
        .ok()
        .and_then(|p| p.parse().ok())
        .unwrap_or(18008)
}

/// How long to wait for anything to arrive before the test fails.
pub const PATIENCE: Duration = Duration::from_secs(60);

pub struct Homeserver {
    pub url: String,
    pub server_name: String,
    shared_secret: String,
}

/// Starts (or finds running) the test homeserver. Panics, naming the log,
/// if it cannot: these tests need a real Synapse.
pub fn homeserver() -> &'static Homeserver {
    static HS: OnceLock<Homeserver> = OnceLock::new();
    HS.get_or_init(|| {
        let dir = repo_path("target/test-homeserver");
        let status = std::process::Command::new("bash")
            .arg(repo_path("deploy/dev-homeserver.sh"))
            .arg("start")
            .arg(&dir)
            .env("SAFEGUARDING_DEV_PORT", port().to_string())
            .stdout(std::process::Stdio::null())
            .status()
            .expect("bash runs");
        assert!(
            status.success(),
            "the test homeserver did not start; see {}",
            dir.display()
        );
        let env = std::fs::read_to_string(dir.join("accounts.env")).expect("accounts.env written");
        let vars: HashMap<String, String> = env
            .lines()
            .filter_map(|l| l.split_once('='))
            .map(|(k, v)| {
                (
                    k.trim().to_string(),
                    v.trim().trim_matches('"').trim_matches('\'').to_string(),
                )
            })
            .collect();
        Homeserver {
            url: vars["HOMESERVER_URL"].clone(),
            server_name: vars["HOMESERVER_NAME"].clone(),
            shared_secret: vars["REGISTRATION_SHARED_SECRET"].clone(),
        }
    })
}

impl Homeserver {
    /// Registers a new user with a unique name; returns (user id, password).
    pub async fn register(&self, prefix: &str, admin: bool) -> (String, String) {
        let http = reqwest::Client::new();
        let url = format!("{}/_synapse/admin/v1/register", self.url);
        let nonce: serde_json::Value = http
            .get(&url)
            .send()
            .await
            .expect("nonce")
            .json()
            .await
            .expect("json");
        let nonce = nonce["nonce"].as_str().expect("nonce string").to_string();
        let suffix: String = format!("{:x}", rand_u64());
        let user = format!("{prefix}{suffix}");
        let password = format!("pw-{:x}", rand_u64());
        let mut mac = Hmac::<sha1::Sha1>::new_from_slice(self.shared_secret.as_bytes()).expect("hmac key");
        let admin_word = if admin { "admin" } else { "notadmin" };
        mac.update(format!("{nonce}\0{user}\0{password}\0{admin_word}").as_bytes());
        let digest = hex(&mac.finalize().into_bytes());
        let body =
            json!({"nonce": nonce, "username": user, "password": password, "admin": admin, "mac": digest});
        let resp = http.post(&url).json(&body).send().await.expect("register");
        assert!(
            resp.status().is_success(),
            "register {user}: {}",
            resp.text().await.unwrap_or_default()
        );
        let user_id = format!("@{user}:{}", self.server_name);
        // Lift rate limits, as the deploy guide says to for the bot.
        (user_id, password)
    }
}

pub fn rand_u64() -> u64 {
    let mut b = [0u8; 8];
    getrandom::getrandom(&mut b).expect("random");
    u64::from_le_bytes(b)
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// A message someone received.
#[derive(Clone, Debug)]
pub struct Received {
    pub room: OwnedRoomId,
    pub sender: String,
    pub body: String,
    pub html: Option<String>,
    pub event_id: OwnedEventId,
    pub notice: bool,
    pub mentions_me: bool,
    /// When the homeserver received it, in milliseconds since the epoch.
    pub ts_ms: u64,
    /// A file's message, to download with [`Person::download`].
    pub file: Option<FileMessageEventContent>,
}

type Mail = (Arc<Mutex<Vec<Received>>>, Arc<Mutex<Vec<Received>>>);

fn deliver(mail: &Mail, r: Received) {
    mail.1.lock().expect("history").push(r.clone());
    mail.0.lock().expect("inbox").push(r);
}

/// A person with their own Matrix client and encryption.
pub struct Person {
    pub user_id: String,
    /// The display name they set, as people see them: "Lead Tester".
    pub name: String,
    pub client: Client,
    /// Messages not yet taken by `wait_for`.
    pub inbox: Arc<Mutex<Vec<Received>>>,
    /// Every message received, kept.
    pub history: Arc<Mutex<Vec<Received>>>,
    _dir: TempDir,
    sync: JoinHandle<()>,
}

impl Drop for Person {
    fn drop(&mut self) {
        self.sync.abort();
    }
}

impl Person {
    pub async fn new(hs: &Homeserver, prefix: &str) -> Person {
        let (user_id, password) = hs.register(prefix, false).await;
        let (client, dir) = person::log_in(&hs.url, &user_id, &password, prefix)
            .await
            .unwrap_or_else(|e| panic!("{e:#}"));
        // A name people know them by, which is not their id, and is theirs
        // alone (tests tell people apart by what the bot calls them).
        static NEXT: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(1);
        let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let mut first = prefix.chars();
        let name = first
            .next()
            .map(|c| format!("{}{} Tester {n}", c.to_uppercase(), first.as_str()))
            .unwrap_or_else(|| format!("Tester {n}"));
        client
            .account()
            .set_display_name(Some(&name))
            .await
            .expect("a display name");
        let inbox: Arc<Mutex<Vec<Received>>> = Arc::default();
        let history: Arc<Mutex<Vec<Received>>> = Arc::default();
        let me: OwnedUserId = client.user_id().expect("logged in").to_owned();
        {
            let mail = (inbox.clone(), history.clone());
            let me = me.clone();
            client.add_event_handler(move |ev: OriginalSyncRoomMessageEvent, room: Room| {
                let mail = mail.clone();
                let me = me.clone();
                async move {
                    let (body, html, notice) = person::text_of(&ev.content.msgtype);
                    let mentions_me = ev
                        .content
                        .mentions
                        .as_ref()
                        .is_some_and(|m| m.user_ids.contains(&me));
                    deliver(
                        &mail,
                        Received {
                            room: room.room_id().to_owned(),
                            sender: ev.sender.to_string(),
                            body,
                            html,
                            event_id: ev.event_id.clone(),
                            notice,
                            mentions_me,
                            ts_ms: ev.origin_server_ts.get().into(),
                            file: match &ev.content.msgtype {
                                MessageType::File(f) => Some(f.clone()),
                                _ => None,
                            },
                        },
                    );
                }
            });
        }
        {
            let mail = (inbox.clone(), history.clone());
            client.add_event_handler(
                move |ev: matrix_sdk::ruma::events::room::encrypted::OriginalSyncRoomEncryptedEvent,
                      room: Room| {
                    let mail = mail.clone();
                    async move {
                        deliver(
                            &mail,
                            Received {
                                room: room.room_id().to_owned(),
                                sender: ev.sender.to_string(),
                                body: "(unable to decrypt)".into(),
                                html: None,
                                event_id: ev.event_id.clone(),
                                notice: false,
                                mentions_me: false,
                                ts_ms: ev.origin_server_ts.get().into(),
                                file: None,
                            },
                        );
                    }
                },
            );
        }
        person::accept_invitations(&client);
        let sync = person::keep_syncing(&client, me.as_str())
            .await
            .unwrap_or_else(|e| panic!("{e:#}"));
        Person {
            user_id: me.to_string(),
            name,
            client,
            inbox,
            history,
            _dir: dir,
            sync,
        }
    }

    pub fn id(&self) -> &UserId {
        self.client.user_id().expect("logged in")
    }

    /// Creates a private encrypted room, inviting these people.
    pub async fn create_encrypted_room(&self, name: &str, invite: &[&str]) -> Room {
        let invite = invite
            .iter()
            .map(|u| OwnedUserId::try_from(*u).expect("user id"))
            .collect();
        person::create_encrypted_room(&self.client, name, invite)
            .await
            .unwrap_or_else(|e| panic!("{e:#}"))
    }

    /// Downloads (and decrypts) a file someone sent.
    pub async fn download(&self, file: &FileMessageEventContent) -> Vec<u8> {
        self.client
            .media()
            .get_file(file, false)
            .await
            .expect("download the file")
            .expect("the message has a file")
    }

    pub fn room(&self, id: &RoomId) -> Room {
        self.client.get_room(id).expect("a room this person is in")
    }

    pub async fn say(&self, room: &RoomId, text: &str) -> OwnedEventId {
        let room = self.wait_for_room(room).await;
        room.send(RoomMessageEventContent::text_plain(text))
            .await
            .expect("send")
            .response
            .event_id
    }

    pub async fn react(&self, room: &RoomId, to: &OwnedEventId, key: &str) {
        let room = self.wait_for_room(room).await;
        room.send(ReactionEventContent::new(Annotation::new(
            to.clone(),
            key.to_string(),
        )))
        .await
        .expect("react");
    }

    /// Waits until this person has joined the room.
    pub async fn wait_for_room(&self, id: &RoomId) -> Room {
        let deadline = tokio::time::Instant::now() + PATIENCE;
        loop {
            if let Some(r) = self.client.get_room(id) {
                if r.state() == matrix_sdk::RoomState::Joined {
                    return r;
                }
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "{} never joined {id}",
                self.user_id
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Waits until `user` is a joined member of the room, as this person sees it.
    pub async fn wait_for_member(&self, id: &RoomId, user: &str) {
        let room = self.wait_for_room(id).await;
        let user = <&UserId>::try_from(user).expect("user id");
        let deadline = tokio::time::Instant::now() + PATIENCE;
        loop {
            if let Ok(Some(m)) = room.get_member_no_sync(user).await {
                if *m.membership() == MembershipState::Join {
                    return;
                }
            }
            assert!(tokio::time::Instant::now() < deadline, "{user} never joined {id}");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Waits for the first message, from now on or already received and not
    /// yet taken, that matches; takes it and everything before it.
    pub async fn wait_for(&self, what: &str, pred: impl Fn(&Received) -> bool) -> Received {
        let deadline = tokio::time::Instant::now() + PATIENCE;
        loop {
            {
                let mut inbox = self.inbox.lock().expect("inbox");
                if let Some(i) = inbox.iter().position(&pred) {
                    let found = inbox[i].clone();
                    inbox.drain(..=i);
                    return found;
                }
            }
            if tokio::time::Instant::now() > deadline {
                let seen: Vec<String> = self
                    .inbox
                    .lock()
                    .expect("inbox")
                    .iter()
                    .map(|m| format!("{}: {}", m.sender, m.body))
                    .collect();
                let rooms: Vec<String> = self
                    .client
                    .rooms()
                    .iter()
                    .map(|r| format!("{} {:?}", r.room_id(), r.state()))
                    .collect();
                eprintln!("{} is in rooms: {rooms:?}", self.user_id);
                let log = crate::common::captured_log();
                let tail: String = log
                    .chars()
                    .rev()
                    .take(6000)
                    .collect::<Vec<_>>()
                    .into_iter()
                    .rev()
                    .collect();
                panic!(
                    "{} waited {PATIENCE:?} for {what}; unread messages: {seen:#?}\nlog tail:\n{tail}",
                    self.user_id
                );
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Everything ever received in a room, taken or not.
    pub fn seen_in(&self, room: &RoomId) -> Vec<Received> {
        self.history
            .lock()
            .expect("inbox")
            .iter()
            .filter(|m| m.room == room)
            .cloned()
            .collect()
    }
}

/// The bot, run in this process against the test homeserver.
pub struct BotRun {
    pub config: Config,
    pub data: PathBuf,
    stop: watch::Sender<bool>,
    task: crate::common::logs::BotTask<anyhow::Result<()>>,
}

pub struct BotAccount {
    pub user_id: String,
    pub password: String,
}

pub async fn bot_account(hs: &Homeserver) -> BotAccount {
    let (user_id, password) = hs.register("safeguarding", true).await;
    BotAccount { user_id, password }
}

pub fn bot_config(
    hs: &Homeserver,
    bot: &BotAccount,
    data: &std::path::Path,
    staff_room: &str,
    lead: &str,
    deputies: &[&str],
) -> Config {
    bot_config_with(hs, bot, data, staff_room, lead, deputies, "")
}

/// As [`bot_config`], with more `[safeguarding]` lines.
pub fn bot_config_with(
    hs: &Homeserver,
    bot: &BotAccount,
    data: &std::path::Path,
    staff_room: &str,
    lead: &str,
    deputies: &[&str],
    safeguarding_extra: &str,
) -> Config {
    parse_test_config(&bot_config_toml(
        hs,
        bot,
        data,
        staff_room,
        lead,
        deputies,
        safeguarding_extra,
    ))
}

/// A test's config text, parsed with nothing from the environment.
pub fn parse_test_config(text: &str) -> Config {
    config::parse(text, "test-config.toml", std::path::Path::new("/"), |_| None)
        .expect("test config is valid")
}

/// The text of [`bot_config_with`]'s config, for a test that adds tables
/// of its own (`[sms]`, `[email]`, `[health]`) and parses it itself.
pub fn bot_config_toml(
    hs: &Homeserver,
    bot: &BotAccount,
    data: &std::path::Path,
    staff_room: &str,
    lead: &str,
    deputies: &[&str],
    safeguarding_extra: &str,
) -> String {
    format!(
        r#"
[matrix]
homeserver_url = "{url}"
user_id = "{user}"
password = "{password}"
staff_rooms = ["{staff_room}"]

[safeguarding]
organisation = "Test Charity"
lead = "{lead}"
deputies = [{deputies}]
retention = "6 years"
{safeguarding_extra}

[storage]
data_dir = "{data}"

[flow]
file = "{flow}"
"#,
        url = hs.url,
        user = bot.user_id,
        password = bot.password,
        data = data.display(),
        flow = repo_path("conversations/online-safety-referral.toml").display(),
        deputies = deputies
            .iter()
            .map(|d| format!("\"{d}\""))
            .collect::<Vec<_>>()
            .join(", "),
    )
}

impl BotRun {
    pub fn start(config: Config) -> BotRun {
        crate::common::init_log_capture();
        let flow = flow::load_file(&config.flow.file).expect("flow");
        let key = Key::load_or_create(&config.storage.key_file).expect("key");
        let store = Store::open(&config.storage.data_dir.join("store"), key).expect("store");
        let (stop, stop_rx) = watch::channel(false);
        let data = config.storage.data_dir.clone();
        let run_config = config.clone();
        let task = crate::common::logs::spawn_bot(async move {
            let matrix = safeguarding_bot::matrix::Matrix::new(&run_config);
            safeguarding_bot::bot::host(matrix, run_config, flow, store, stop_rx).await
        });
        BotRun {
            config,
            data,
            stop,
            task,
        }
    }

    /// Stops the bot as SIGTERM would, and waits for it to finish.
    pub async fn stop(self) -> Config {
        let _ = self.stop.send(true);
        match tokio::time::timeout(Duration::from_secs(30), self.task).await {
            Ok(Ok(Ok(()))) => {}
            other => panic!("the bot did not stop cleanly: {other:?}"),
        }
        self.config
    }
}

/// The bot's devices as `person` sees them: (device id, signed by the bot's own identity).
pub async fn devices_seen_by(person: &Person, user: &str) -> Vec<(String, bool)> {
    let user = <&UserId>::try_from(user).expect("user id");
    let devices = person
        .client
        .encryption()
        .get_user_devices(user)
        .await
        .expect("devices");
    devices
        .devices()
        .map(|d| (d.device_id().to_string(), d.is_cross_signed_by_owner()))
        .collect()
}

/// The device id the bot saved in its session file.
pub fn saved_device(data: &std::path::Path) -> String {
    let text = std::fs::read_to_string(data.join("matrix/session.json")).expect("session saved");
    let v: serde_json::Value = serde_json::from_str(&text).expect("json");
    v["device_id"].as_str().expect("device id").to_string()
}
