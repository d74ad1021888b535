//! The bot as its own process (`safeguarding-bot run --config FILE`), as
//! systemd runs it, for the tests that kill it (`crash`) or fill its disk
//! (`full_disk`). It is started again and again on one data directory,
//! logging to one file; each run's lines are told apart by where they
//! begin. It is killed when dropped, so a failing test leaves no bot behind.

use std::ffi::OsString;
use std::fs::OpenOptions;
use std::io::{Read, Seek, SeekFrom, Write};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use matrix_sdk::ruma::OwnedRoomId;

use super::matrix::{BotAccount, Homeserver, Person};
use super::repo_path;

/// The program cargo built for these tests.
pub const PROGRAM: &str = env!("CARGO_BIN_EXE_safeguarding-bot");
/// What the bot logs once its core has started and before it syncs.
pub const UP_LINE: &str = "escalation deadlines loaded";
/// How long the bot may take to come up after a start.
pub const START_PATIENCE: Duration = Duration::from_secs(45);

/// Milliseconds since the epoch, as the homeserver stamps events.
pub fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or_default()
}

/// The last `n` bytes of `text` (or a little less, at a character's start).
pub fn tail(text: &str, n: usize) -> String {
    let mut start = text.len().saturating_sub(n);
    while !text.is_char_boundary(start) {
        start += 1;
    }
    text[start..].to_string()
}

pub fn count(haystack: &str, needle: &str) -> usize {
    haystack.matches(needle).count()
}

/// A message's first line, cut at 140 characters, for a finding.
pub fn first_line(s: &str) -> String {
    let line = s.lines().next().unwrap_or_default();
    line.chars().take(140).collect()
}

/// A port on 127.0.0.1 that nothing is listening on just now.
pub fn free_address() -> SocketAddr {
    let probe = std::net::TcpListener::bind("127.0.0.1:0").expect("bind a free port");
    probe.local_addr().expect("address")
}

/// A fresh directory for one test's files, under cargo's target/tmp. The
/// test deletes the data in it when it passes and keeps the bot's log.
pub fn work_dir(name: &str) -> PathBuf {
    let work = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(name);
    let _ = std::fs::remove_dir_all(&work);
    std::fs::create_dir_all(&work).expect("work dir");
    // Canonical: the full-disk shim compares it with the links in /proc/self/fd.
    work.canonicalize().expect("work dir")
}

/// The bot as a child process, started again and again on one data directory.
pub struct BotProcess {
    /// Names the test in the lines it writes into the log ("crash test").
    label: &'static str,
    config: PathBuf,
    log: PathBuf,
    /// `SAFEGUARDING_BOT_LOG`: what the bot logs.
    filter: String,
    /// More of the bot's environment (the full-disk shim's).
    env: Vec<(OsString, OsString)>,
    child: Option<Child>,
    /// When this run was started.
    pub started_at: Instant,
    /// Where this run's lines begin in the log.
    offset: u64,
    /// How many times it has been started.
    pub starts: usize,
}

impl BotProcess {
    /// The bot on `config`, logging to `log` at `filter`; not started yet.
    pub fn new(label: &'static str, config: &Path, log: &Path, filter: &str) -> BotProcess {
        BotProcess {
            label,
            config: config.to_path_buf(),
            log: log.to_path_buf(),
            filter: filter.to_string(),
            env: Vec::new(),
            child: None,
            started_at: Instant::now(),
            offset: 0,
            starts: 0,
        }
    }

    /// Sets a variable in the bot's environment at every start.
    pub fn env(mut self, key: &str, value: impl Into<OsString>) -> BotProcess {
        self.env.push((key.into(), value.into()));
        self
    }

    /// The note this test writes into the bot's log.
    fn note(&self, what: &str) {
        if let Ok(mut log) = OpenOptions::new().create(true).append(true).open(&self.log) {
            let _ = writeln!(log, "=== {}: {what} at {} ===", self.label, now_ms());
        }
    }

    pub fn start(&mut self) {
        assert!(self.child.is_none(), "one bot at a time");
        self.starts += 1;
        self.note(&format!("start #{}", self.starts));
        let log = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log)
            .expect("the bot's log");
        self.offset = log.metadata().map(|m| m.len()).unwrap_or(0);
        let child = Command::new(PROGRAM)
            .arg("run")
            .arg("--config")
            .arg(&self.config)
            .env_remove("SAFEGUARDING_BOT_KEY")
            .env_remove("SAFEGUARDING_BOT_CONFIG")
            .env_remove("SAFEGUARDING_BOT_MATRIX_PASSWORD")
            .env("SAFEGUARDING_BOT_LOG", &self.filter)
            .envs(self.env.iter().map(|(k, v)| (k, v)))
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("log"))
            .stderr(log)
            .spawn()
            .expect("the bot starts");
        self.child = Some(child);
        self.started_at = Instant::now();
    }

    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// This run's log so far.
    pub fn run_log(&self) -> String {
        let mut f = match std::fs::File::open(&self.log) {
            Ok(f) => f,
            Err(_) => return String::new(),
        };
        let _ = f.seek(SeekFrom::Start(self.offset));
        let mut bytes = Vec::new();
        let _ = f.read_to_end(&mut bytes);
        String::from_utf8_lossy(&bytes).into_owned()
    }

    /// It exited by itself, with this status (and is reaped).
    pub fn exited(&mut self) -> Option<ExitStatus> {
        let status = self.child.as_mut().and_then(|c| c.try_wait().ok().flatten());
        if status.is_some() {
            self.child = None;
        }
        status
    }

    /// Waits until this run's core has started.
    pub async fn wait_up(&mut self) -> Result<(), String> {
        let deadline = Instant::now() + START_PATIENCE;
        loop {
            if self.run_log().contains(UP_LINE) {
                return Ok(());
            }
            if let Some(status) = self.exited() {
                return Err(format!(
                    "the bot exited by itself ({status}) while starting:\n{}",
                    tail(&self.run_log(), 3000)
                ));
            }
            if Instant::now() > deadline {
                return Err(format!(
                    "the bot did not come up within {START_PATIENCE:?}:\n{}",
                    tail(&self.run_log(), 3000)
                ));
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// SIGKILL (what `Child::kill` sends on Unix), then reaped; noted in the log.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
            self.note("SIGKILL");
        }
    }

    /// SIGTERM, as systemd stops it; SIGKILL if it has not stopped in 30 s.
    pub async fn stop(&mut self) -> Option<ExitStatus> {
        let mut child = self.child.take()?;
        let _ = Command::new("kill")
            .arg("-TERM")
            .arg(child.id().to_string())
            .status();
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Ok(Some(status)) = child.try_wait() {
                return Some(status);
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                let _ = child.wait();
                return None;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

impl Drop for BotProcess {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// Writes the bot's config into `dir` (its data in `dir/data`); its path.
/// The lead's and deputies' acknowledgement times are an hour, so that no
/// deputy cover or repeat page comes during a test: every page counted is
/// a first page. `more` is appended (a `[health]` section).
pub fn write_config(
    hs: &Homeserver,
    bot: &BotAccount,
    dir: &Path,
    staff_room: &str,
    lead: &str,
    deputies: &[&str],
    more: &str,
) -> PathBuf {
    let deputies = deputies
        .iter()
        .map(|d| format!("\"{d}\""))
        .collect::<Vec<_>>()
        .join(", ");
    let text = format!(
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
ack_timeout = "1h"
urgent_ack_timeout = "1h"

[storage]
data_dir = "{data}"

[flow]
file = "{flow}"
{more}"#,
        url = hs.url,
        user = bot.user_id,
        password = bot.password,
        data = dir.join("data").display(),
        flow = repo_path("conversations/online-safety-referral.toml").display(),
    );
    let path = dir.join("bot.toml");
    std::fs::write(&path, text).expect("write the config");
    path
}

/// `safeguarding-bot audit <what> --config CONFIG` (`verify`, `show`), with
/// nothing from this process's environment.
pub fn audit(config: &Path, what: &str) -> Output {
    Command::new(PROGRAM)
        .args(["audit", what, "--config"])
        .arg(config)
        .env_remove("SAFEGUARDING_BOT_KEY")
        .env_remove("SAFEGUARDING_BOT_CONFIG")
        .env_remove("SAFEGUARDING_BOT_MATRIX_PASSWORD")
        .output()
        .unwrap_or_else(|e| panic!("audit {what} runs: {e}"))
}

/// Both of a finished command's outputs, as one text.
pub fn output_text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// Messages that came undecryptable, decrypted now if their key has come
/// since (a key may arrive after its message): `p`'s history is updated.
/// How many were.
pub async fn redecrypt(p: &Person) -> usize {
    let utd: Vec<(OwnedRoomId, matrix_sdk::ruma::OwnedEventId)> = p
        .history
        .lock()
        .expect("history")
        .iter()
        .filter(|m| m.body == "(unable to decrypt)")
        .map(|m| (m.room.clone(), m.event_id.clone()))
        .collect();
    let mut late = 0;
    for (room, id) in utd {
        let Some(r) = p.client.get_room(&room) else {
            continue;
        };
        let Ok(ev) = r.event(&id, None).await else {
            continue;
        };
        let raw = ev.raw();
        if raw.get_field::<String>("type").ok().flatten().as_deref() != Some("m.room.message") {
            continue;
        }
        let content = raw
            .get_field::<serde_json::Value>("content")
            .ok()
            .flatten()
            .unwrap_or_default();
        let body = content["body"].as_str().unwrap_or_default().to_string();
        late += 1;
        for m in p
            .history
            .lock()
            .expect("history")
            .iter_mut()
            .filter(|m| m.event_id == id)
        {
            m.body = body.clone();
        }
    }
    late
}
