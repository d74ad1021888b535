//! The configuration file: TOML read into raw values, then checked into
//! types that cannot be wrong. Every problem found by the checks is reported
//! at once, each naming the key and how to fix it.
//!
//! One config runs one transport: exactly one of `[matrix]` and `[slack]`,
//! and every room and person in it must be an id of that chat.
//!
//! Secrets may come from the environment instead of the file:
//! `SAFEGUARDING_BOT_MATRIX_PASSWORD` for the bot's password on Matrix. On
//! Slack the tokens never come from the config itself: from
//! `SAFEGUARDING_BOT_SLACK_BOT_TOKEN` and `SAFEGUARDING_BOT_SLACK_APP_TOKEN`,
//! or from the files `[slack] bot_token_file` and `app_token_file` name.

use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

/// The environment variable that may hold the bot's Matrix password.
pub const PASSWORD_ENV: &str = "SAFEGUARDING_BOT_MATRIX_PASSWORD";
/// The environment variable that may hold the Slack bot token (`xoxb-…`).
pub const SLACK_BOT_TOKEN_ENV: &str = "SAFEGUARDING_BOT_SLACK_BOT_TOKEN";
/// The environment variable that may hold the Slack app-level token (`xapp-…`).
pub const SLACK_APP_TOKEN_ENV: &str = "SAFEGUARDING_BOT_SLACK_APP_TOKEN";
/// Slack's Web API, when `[slack] api_url` is left out.
pub const SLACK_API_URL: &str = "https://slack.com/api";
/// The environment variable that may name the config file.
pub const CONFIG_ENV: &str = "SAFEGUARDING_BOT_CONFIG";

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Config {
    /// The Matrix settings; in a Slack config (see [`Config::transport`])
    /// every field is empty and nothing reads them.
    pub matrix: MatrixConfig,
    /// The Slack settings, when the config runs on Slack.
    pub slack: Option<SlackConfig>,
    pub safeguarding: SafeguardingConfig,
    pub storage: StorageConfig,
    pub flow: FlowConfig,
    pub health: HealthConfig,
    /// `[sms]`: pages by SMS through Twilio, and the replies that
    /// acknowledge them. Checked in [`crate::notify::config`].
    pub sms: Option<crate::notify::config::SmsConfig>,
    /// `[email]`: pages by email through an SMTP server.
    pub email: Option<crate::notify::config::EmailConfig>,
}

/// Which chat a config runs on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Transport {
    Matrix,
    Slack,
}

impl fmt::Display for Transport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Transport::Matrix => "Matrix",
            Transport::Slack => "Slack",
        })
    }
}

impl Config {
    /// The chat this config runs on.
    pub fn transport(&self) -> Transport {
        if self.slack.is_some() {
            Transport::Slack
        } else {
            Transport::Matrix
        }
    }

    /// The staff rooms as the config names them (Matrix room ids or
    /// aliases, Slack channel ids): their full members may report.
    pub fn staff_rooms(&self) -> &[String] {
        match &self.slack {
            Some(slack) => &slack.staff_channels,
            None => &self.matrix.staff_rooms,
        }
    }
}

/// The `[slack]` table.
#[derive(Clone, PartialEq, Eq)]
pub struct SlackConfig {
    /// Channel ids (`C…`, or `G…` for older private channels).
    pub staff_channels: Vec<String>,
    /// The Web API's base, without its final `/`.
    pub api_url: String,
    /// The bot token, `xoxb-…`.
    pub bot_token: String,
    /// The app-level token, `xapp-…`, for Socket Mode.
    pub app_token: String,
    /// Where a report's questions are asked.
    pub intake: SlackIntake,
}

/// Where the bot asks a report's questions on Slack (`[slack] intake`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum SlackIntake {
    /// In the bot's direct message with the reporter (`"messages"`, the
    /// default). The reporter's answers stay there as messages until the
    /// workspace's retention removes them.
    #[default]
    Messages,
    /// In a form that opens over Slack (`"form"`, a modal): the answers
    /// never become messages. Only the confirmation, with the reference,
    /// is sent to the direct message.
    Form,
}

impl fmt::Debug for SlackConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SlackConfig")
            .field("staff_channels", &self.staff_channels)
            .field("api_url", &self.api_url)
            .field("bot_token", &"(hidden)")
            .field("app_token", &"(hidden)")
            .field("intake", &self.intake)
            .finish()
    }
}

#[derive(Clone, PartialEq, Eq, Default)]
pub struct MatrixConfig {
    /// Such as `http://127.0.0.1:8008`; always ends without a slash.
    pub homeserver_url: String,
    pub user_id: String,
    pub password: String,
    /// Room ids (`!abc:example.org`) or aliases (`#staff:example.org`).
    pub staff_rooms: Vec<String>,
    pub device_name: String,
}

impl fmt::Debug for MatrixConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MatrixConfig")
            .field("homeserver_url", &self.homeserver_url)
            .field("user_id", &self.user_id)
            .field("password", &"(hidden)")
            .field("staff_rooms", &self.staff_rooms)
            .field("device_name", &self.device_name)
            .finish()
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SafeguardingConfig {
    pub organisation: String,
    pub lead: String,
    pub deputies: Vec<String>,
    pub ack_timeout: Duration,
    pub urgent_ack_timeout: Duration,
    /// How long a started report may sit before the lead is sent what it holds.
    pub unfinished_after: Duration,
    /// The organisation's timezone: times are shown in it and stored in UTC.
    pub timezone: chrono_tz::Tz,
    /// Page every deputy at once when the lead does not answer, rather than
    /// one at a time in the order listed.
    pub deputies_all_at_once: bool,
    /// How many times everyone paged is paged again before the reporter is
    /// told that no one has answered.
    pub repeats: u32,
    /// How long each repeat waits.
    pub repeat_interval: Duration,
    /// How long after an acknowledgement the lead is reminded of a concern
    /// that is still open.
    pub remind_after: Duration,
    /// The leads' room (id or alias), told when the bot was cut off from
    /// the homeserver and is back. Optional.
    pub leads_room: Option<String>,
    /// How long a closed concern is kept after it was closed; then it is
    /// deleted (see [`crate::casework::retention`]). Required: no period
    /// fits every organisation, so the bot never guesses one. At least a
    /// day; a year is 365.25 days and a month 30.44 days, as humantime
    /// counts them.
    pub retention: Duration,
    /// The outcomes a lead chooses from when closing a concern (`!close 2`),
    /// in the order shown; what the figures count. Defaults to
    /// [`crate::casework::DEFAULT_OUTCOMES`].
    pub outcomes: Vec<String>,
    /// Pages outside the chat: each lead's and deputy's mobile, email and
    /// rules, the SMS cap and quiet hours ([`crate::escalation::contacts`]).
    pub outside: crate::escalation::contacts::OutsideConfig,
}

impl SafeguardingConfig {
    /// The lead and the deputies: everyone who may acknowledge.
    pub fn responders(&self) -> impl Iterator<Item = &str> {
        std::iter::once(self.lead.as_str()).chain(self.deputies.iter().map(String::as_str))
    }

    pub fn is_responder(&self, user: &str) -> bool {
        self.responders().any(|r| r == user)
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StorageConfig {
    pub data_dir: PathBuf,
    /// The encryption key's file; created with mode 0600 on first run.
    /// Defaults to `key` inside data_dir.
    pub key_file: PathBuf,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FlowConfig {
    pub file: PathBuf,
}

/// The optional `[health]` table: the HTTP listener and the self-watch.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HealthConfig {
    /// Where to serve `/healthz` and `/metrics`; `None` serves nothing.
    pub listen: Option<SocketAddr>,
    /// How long the homeserver may be out of reach before that is logged
    /// at error level (and the leads' room told when it is back).
    pub unreachable_alert_after: Duration,
    /// A URL called while the bot is healthy (`[health] heartbeat_url`),
    /// and how often.
    pub heartbeat: Option<Heartbeat>,
}

/// An outside monitor's URL (healthchecks.io, Uptime Kuma's push monitor):
/// called every `every` while the bot is healthy, so the calls stopping
/// raises the alarm there.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Heartbeat {
    pub url: String,
    pub every: Duration,
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read the config file {path}")]
    Read {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("{path}: {message}")]
    Syntax { path: String, message: String },
    #[error("{path} has {} problem(s):\n{}", .problems.len(), .problems.join("\n"))]
    Invalid { path: String, problems: Vec<String> },
    #[error(
        "{path} is the example config, not filled in yet, so the bot will not start. \
         Edit it: {what} (every key is explained in the file). \
         Then check it with: safeguarding-bot check-config {path}"
    )]
    Unedited { path: String, what: &'static str },
}

/// The example configs as shipped, with what must be filled in. The Debian
/// package installs the Matrix one as /etc/safeguarding-bot/config.toml.
const EXAMPLES: [(&str, &str); 2] = [
    (
        include_str!("../deploy/config.example.toml"),
        "your homeserver, the bot's account, the staff rooms, the lead and the deputies",
    ),
    (
        include_str!("../deploy/config.slack.example.toml"),
        "the staff channels, the leads' channel, the lead and the deputies",
    ),
];

/// What must be filled in, when `text` is one of the example configs
/// exactly as shipped (line ends and trailing spaces aside). Any edit at
/// all makes it a config of its own, checked like any other.
pub fn unedited_example(text: &str) -> Option<&'static str> {
    fn lines(text: &str) -> impl Iterator<Item = &str> {
        text.trim_end().lines().map(str::trim_end)
    }
    EXAMPLES
        .iter()
        .find(|(example, _)| lines(example).eq(lines(text)))
        .map(|(_, what)| *what)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    matrix: Option<RawMatrix>,
    slack: Option<RawSlack>,
    safeguarding: RawSafeguarding,
    storage: RawStorage,
    flow: RawFlow,
    #[serde(default)]
    health: RawHealth,
    sms: Option<crate::notify::config::RawSms>,
    email: Option<crate::notify::config::RawEmail>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawMatrix {
    homeserver_url: String,
    user_id: String,
    password: Option<String>,
    staff_rooms: Vec<String>,
    device_name: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSlack {
    staff_channels: Vec<String>,
    api_url: Option<String>,
    bot_token_file: Option<PathBuf>,
    app_token_file: Option<PathBuf>,
    intake: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSafeguarding {
    organisation: String,
    lead: String,
    #[serde(default)]
    deputies: Vec<String>,
    ack_timeout: Option<String>,
    urgent_ack_timeout: Option<String>,
    unfinished_after: Option<String>,
    timezone: Option<String>,
    #[serde(default)]
    deputies_all_at_once: bool,
    repeats: Option<u32>,
    repeat_interval: Option<String>,
    remind_after: Option<String>,
    leads_room: Option<String>,
    retention: Option<String>,
    outcomes: Option<Vec<String>>,
    sms_per_hour: Option<u32>,
    quiet_hours: Option<String>,
    #[serde(default)]
    contact: Vec<crate::escalation::contacts::RawContact>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawStorage {
    data_dir: PathBuf,
    key_file: Option<PathBuf>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFlow {
    file: PathBuf,
}

#[derive(Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawHealth {
    listen: Option<String>,
    unreachable_alert_after: Option<String>,
    heartbeat_url: Option<String>,
    heartbeat_every: Option<String>,
}

/// Reads and checks a config file. `env` looks up environment variables
/// (pass `|k| std::env::var(k).ok()`); relative paths are taken from the
/// config file's folder. An example config not yet filled in is refused.
pub fn load(path: &Path, env: impl Fn(&str) -> Option<String>) -> Result<Config, ConfigError> {
    let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
        path: path.display().to_string(),
        source,
    })?;
    if let Some(what) = unedited_example(&text) {
        return Err(ConfigError::Unedited {
            path: path.display().to_string(),
            what,
        });
    }
    let base = path.parent().unwrap_or(Path::new("."));
    parse(&text, &path.display().to_string(), base, env)
}

/// The `env` file beside a config (`/etc/safeguarding-bot/env`), which
/// systemd hands to the service as environment variables
/// (`EnvironmentFile=`): `NAME=value` lines; blank lines and lines starting
/// `#` or `;` are skipped, and one pair of quotes round a value is taken
/// off. `check-config` reads it too, so it checks what the service will
/// see. A missing or unreadable file is no variables.
pub fn env_file_beside(config: &Path) -> Vec<(String, String)> {
    let path = config.parent().unwrap_or(Path::new(".")).join("env");
    std::fs::read_to_string(path)
        .map(|text| parse_env_file(&text))
        .unwrap_or_default()
}

fn parse_env_file(text: &str) -> Vec<(String, String)> {
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#') && !l.starts_with(';'))
        .filter_map(|l| l.split_once('='))
        .map(|(name, value)| {
            let value = value.trim();
            let unquoted = ['"', '\'']
                .iter()
                .find_map(|q| value.strip_prefix(*q).and_then(|v| v.strip_suffix(*q)))
                .unwrap_or(value);
            (name.trim().to_string(), unquoted.to_string())
        })
        .collect()
}

/// As [`load`], for the subcommands that work on the store alone (export,
/// audit, retention, stats): they never log in, so a missing Matrix
/// password is not a problem for them. In production the password is in a
/// file only root and systemd read, while these run as the bot's user.
pub fn load_for_store(path: &Path, env: impl Fn(&str) -> Option<String>) -> Result<Config, ConfigError> {
    let secret = |k: &str| {
        [
            PASSWORD_ENV,
            SLACK_BOT_TOKEN_ENV,
            SLACK_APP_TOKEN_ENV,
            crate::notify::config::TWILIO_TOKEN_ENV,
            crate::notify::config::SMTP_PASSWORD_ENV,
        ]
        .contains(&k)
    };
    load(path, |k| match env(k) {
        None if secret(k) => Some("(not needed to read the store)".to_string()),
        Some(v) if secret(k) && v.is_empty() => Some("(not needed to read the store)".to_string()),
        other => other,
    })
}

/// Checks config text. See [`load`].
pub fn parse(
    text: &str,
    source: &str,
    base: &Path,
    env: impl Fn(&str) -> Option<String>,
) -> Result<Config, ConfigError> {
    let raw: RawConfig = toml::from_str(text).map_err(|e| ConfigError::Syntax {
        path: source.to_string(),
        message: syntax_message(&e, text),
    })?;
    let mut problems = Vec::new();
    let mut problem = |key: &str, message: String| problems.push(format!("{key}: {message}"));

    let transport = match (&raw.matrix, &raw.slack) {
        (Some(_), None) => Transport::Matrix,
        (None, Some(_)) => Transport::Slack,
        (Some(_), Some(_)) => {
            problem(
                "[matrix] and [slack]",
                "both are set, but one config runs one chat; keep the one this bot runs on and put the other in its own config file".into(),
            );
            Transport::Matrix
        }
        (None, None) => {
            problem(
                "[matrix] or [slack]",
                "neither is set; add a [matrix] table to run on Matrix or a [slack] table to run on Slack (see deploy/config.example.toml)".into(),
            );
            Transport::Matrix
        }
    };
    let matrix = match raw.matrix {
        Some(m) if transport == Transport::Matrix => check_matrix(m, &env, &mut problem),
        _ => MatrixConfig::default(),
    };
    let slack = match raw.slack {
        Some(s) if transport == Transport::Slack => Some(check_slack(s, base, &env, &mut problem)),
        _ => None,
    };
    // The webhooks are served by the HTTP listener, so [sms] needs to know
    // whether there is one; a bad address is reported under [health].
    let will_listen = raw
        .health
        .listen
        .as_deref()
        .and_then(|t| t.trim().parse::<SocketAddr>().ok());
    let sms = raw
        .sms
        .and_then(|s| crate::notify::config::check_sms(s, base, &env, will_listen, &mut problem));
    let email = raw
        .email
        .and_then(|e| crate::notify::config::check_email(e, base, &env, &mut problem));

    let sg = raw.safeguarding;
    if sg.organisation.trim().is_empty() {
        problem(
            "[safeguarding] organisation",
            "is empty; give the organisation's name".into(),
        );
    }
    check_person(transport, &mut problem, "[safeguarding] lead", &sg.lead);
    for d in &sg.deputies {
        check_person(transport, &mut problem, "[safeguarding] deputies", d);
        if *d == sg.lead {
            problem(
                "[safeguarding] deputies",
                format!("{d} is the lead too; a deputy must be someone else"),
            );
        }
    }
    let mut duration = |key: &str, value: Option<String>, default: &str| -> Duration {
        let text = value.unwrap_or_else(|| default.to_string());
        match humantime::parse_duration(text.trim()) {
            Ok(d) if d.as_secs() >= 1 => d,
            Ok(_) => {
                problem(
                    key,
                    format!("\"{text}\" is too short; give at least one second, like \"90s\""),
                );
                Duration::from_secs(1)
            }
            Err(_) => {
                problem(
                    key,
                    format!("\"{text}\" is not a length of time; write it like \"10m\", \"90s\" or \"1h\""),
                );
                Duration::from_secs(1)
            }
        }
    };
    let ack_timeout = duration("[safeguarding] ack_timeout", sg.ack_timeout, "10m");
    let urgent_ack_timeout = duration("[safeguarding] urgent_ack_timeout", sg.urgent_ack_timeout, "2m");
    let unfinished_after = duration("[safeguarding] unfinished_after", sg.unfinished_after, "30m");
    let repeat_interval = duration("[safeguarding] repeat_interval", sg.repeat_interval, "5m");
    let remind_after = duration("[safeguarding] remind_after", sg.remind_after, "24h");
    let alert_text = raw.health.unreachable_alert_after.clone();
    let unreachable_alert_after = duration("[health] unreachable_alert_after", alert_text.clone(), "2m");
    let heartbeat_every = duration(
        "[health] heartbeat_every",
        raw.health.heartbeat_every.clone(),
        "1m",
    );

    let retention = retention(sg.retention.as_deref()).unwrap_or_else(|message| {
        problems.push(format!("[safeguarding] retention{message}"));
        Duration::from_secs(RETENTION_MINIMUM_SECS)
    });

    let tz_name = sg.timezone.clone().unwrap_or_else(|| "Europe/London".to_string());
    let timezone = tz_name.trim().parse::<chrono_tz::Tz>().unwrap_or_else(|_| {
        problems.push(format!(
            "[safeguarding] timezone: \"{tz_name}\" is not a timezone name; write it like \"Europe/London\""
        ));
        chrono_tz::Europe::London
    });

    // A quiet sync takes 30 seconds; anything under a minute would cry wolf.
    if let Some(text) = &alert_text {
        if humantime::parse_duration(text.trim()).is_ok_and(|d| d.as_secs() >= 1 && d.as_secs() < 60) {
            problems.push(format!(
                "[health] unreachable_alert_after: \"{text}\" is too short; give at least a minute, like \"2m\""
            ));
        }
    }
    if let Some(room) = &sg.leads_room {
        if let Some(message) = room_problem(transport, room, "leads", ", or leave it out") {
            problems.push(format!("[safeguarding] leads_room: {message}"));
        }
    }
    let outcomes = outcomes(sg.outcomes.as_deref()).unwrap_or_else(|found| {
        problems.extend(found);
        Vec::new()
    });
    let responders: Vec<&str> = std::iter::once(sg.lead.as_str())
        .chain(sg.deputies.iter().map(String::as_str))
        .collect();
    let outside = crate::escalation::contacts::check(
        sg.contact.clone(),
        sg.sms_per_hour,
        sg.quiet_hours.as_deref(),
        &responders,
        &mut |key: &str, message: String| problems.push(format!("{key}: {message}")),
    );
    let listen = raw.health.listen.as_deref().and_then(|text| {
        text.trim().parse::<SocketAddr>().map_err(|_| {
            problems.push(format!(
                "[health] listen: \"{text}\" is not an address and port; write it like \"127.0.0.1:9184\", or leave it out to serve nothing"
            ));
        }).ok()
    });

    if !(Duration::from_secs(10)..=Duration::from_secs(3600)).contains(&heartbeat_every) {
        problems.push(format!(
            "[health] heartbeat_every: {} is outside 10 seconds to 1 hour; \"1m\" suits most monitors",
            crate::health::human_duration(heartbeat_every)
        ));
    }
    let heartbeat = raw
        .health
        .heartbeat_url
        .as_deref()
        .map(str::trim)
        .and_then(|url| match crate::notify::config::web_address_problem(url) {
            Some(p) => {
                problems.push(format!("[health] heartbeat_url: {p}"));
                None
            }
            None => Some(Heartbeat {
                url: url.to_string(),
                every: heartbeat_every,
            }),
        });

    let data_dir = base.join(&raw.storage.data_dir);
    let key_file = raw
        .storage
        .key_file
        .map(|k| base.join(k))
        .unwrap_or_else(|| data_dir.join("key"));
    let flow_file = base.join(&raw.flow.file);

    if !problems.is_empty() {
        return Err(ConfigError::Invalid {
            path: source.to_string(),
            problems,
        });
    }
    Ok(Config {
        matrix,
        slack,
        safeguarding: SafeguardingConfig {
            organisation: sg.organisation.trim().to_string(),
            lead: sg.lead,
            deputies: sg.deputies,
            ack_timeout,
            urgent_ack_timeout,
            unfinished_after,
            timezone,
            deputies_all_at_once: sg.deputies_all_at_once,
            repeats: sg.repeats.unwrap_or(3),
            repeat_interval,
            remind_after,
            leads_room: sg.leads_room,
            retention,
            outcomes,
            outside,
        },
        storage: StorageConfig { data_dir, key_file },
        flow: FlowConfig { file: flow_file },
        health: HealthConfig {
            listen,
            unreachable_alert_after,
            heartbeat,
        },
        sms,
        email,
    })
}

/// The most outcomes a list may hold: more would not fit on a phone's
/// screen as a numbered list.
const MAX_OUTCOMES: usize = 20;

/// `[safeguarding] outcomes`, checked: the default list when it is left
/// out; otherwise each named once, not blank, not starting with a digit
/// (`!close 3` means the third), short enough to read in a list.
fn outcomes(given: Option<&[String]>) -> Result<Vec<String>, Vec<String>> {
    const KEY: &str = "[safeguarding] outcomes";
    let Some(given) = given else {
        return Ok(crate::casework::DEFAULT_OUTCOMES.map(String::from).to_vec());
    };
    let mut problems = Vec::new();
    if given.is_empty() {
        problems.push(format!(
            "{KEY} is empty: list the outcomes a lead chooses from when closing a concern, like outcomes = [\"No further action\", \"Referred to the police\", \"Other\"], or leave it out for the usual list"
        ));
    }
    if given.len() > MAX_OUTCOMES {
        problems.push(format!(
            "{KEY} has {} outcomes; give at most {MAX_OUTCOMES}, so the list fits on a phone",
            given.len()
        ));
    }
    let mut seen: Vec<String> = Vec::new();
    let mut list = Vec::new();
    for name in given {
        let name = name.split_whitespace().collect::<Vec<_>>().join(" ");
        if name.is_empty() {
            problems.push(format!(
                "{KEY}: one outcome is blank; remove it or give it a name"
            ));
        } else if name.starts_with(|c: char| c.is_ascii_digit()) {
            problems.push(format!(
                "{KEY}: \"{name}\" starts with a number, which would be read as its place in the list; start it with a word"
            ));
        } else if name.chars().count() > 80 {
            problems.push(format!(
                "{KEY}: \"{name}\" is too long to read in a list; keep each outcome under 80 characters"
            ));
        } else if seen.contains(&name.to_lowercase()) {
            problems.push(format!(
                "{KEY}: \"{name}\" is listed twice; list each outcome once"
            ));
        } else {
            seen.push(name.to_lowercase());
            list.push(name);
        }
    }
    if problems.is_empty() {
        Ok(list)
    } else {
        Err(problems)
    }
}

/// The shortest retention period accepted: a day. Anything shorter is a
/// slip of the pen ("6s" for "6y") that would delete records almost as
/// soon as they were closed. Tests that need a concern to fall due date its
/// closing in the past, or call the retention functions with a period.
pub const RETENTION_MINIMUM_SECS: u64 = 24 * 60 * 60;

/// `[safeguarding] retention`, checked. The error is the rest of the
/// problem line after the key.
fn retention(text: Option<&str>) -> Result<Duration, String> {
    let Some(text) = text.map(str::trim) else {
        return Err(
            " is missing: set how long a closed concern is kept after it is closed, for example \
             retention = \"6 years\". No one period fits every organisation: see your data-protection policy"
                .to_string(),
        );
    };
    match humantime::parse_duration(text) {
        Ok(d) if d.as_secs() >= RETENTION_MINIMUM_SECS => Ok(d),
        Ok(_) => Err(format!(
            ": \"{text}\" is shorter than a day, so a closed concern would be deleted almost at once; \
             give the period your policy sets, like \"6 years\""
        )),
        Err(_) => Err(format!(
            ": \"{text}\" is not a length of time; write it like \"6 years\", \"18 months\" or \"400 days\""
        )),
    }
}

/// `[matrix]`, checked.
fn check_matrix(
    raw: RawMatrix,
    env: &impl Fn(&str) -> Option<String>,
    problem: &mut impl FnMut(&str, String),
) -> MatrixConfig {
    let homeserver_url = raw.homeserver_url.trim().trim_end_matches('/').to_string();
    if !(homeserver_url.starts_with("https://") || homeserver_url.starts_with("http://"))
        || homeserver_url.len() <= "https://".len()
    {
        problem(
            "[matrix] homeserver_url",
            format!(
                "\"{homeserver_url}\" is not a web address; write it like \"https://matrix.example.org\""
            ),
        );
    }
    check_person(Transport::Matrix, problem, "[matrix] user_id", &raw.user_id);
    let password = match (raw.password, env(PASSWORD_ENV)) {
        (_, Some(p)) if !p.is_empty() => p,
        (Some(p), _) if !p.is_empty() => p,
        _ => {
            problem(
                "[matrix] password",
                format!("the bot's password is missing; set password in the file or the {PASSWORD_ENV} environment variable"),
            );
            String::new()
        }
    };
    if raw.staff_rooms.is_empty() {
        problem(
            "[matrix] staff_rooms",
            "no staff room is listed; list at least one, like [\"#staff:example.org\"]: its members are the staff who may report".into(),
        );
    }
    for room in &raw.staff_rooms {
        if let Some(message) = room_problem(Transport::Matrix, room, "staff", "") {
            problem("[matrix] staff_rooms", message);
        }
    }
    MatrixConfig {
        homeserver_url,
        user_id: raw.user_id,
        password,
        staff_rooms: raw.staff_rooms,
        device_name: raw.device_name.unwrap_or_else(|| "safeguarding-bot".into()),
    }
}

/// `[slack]`, checked, with its tokens from the environment or the files
/// it names.
fn check_slack(
    raw: RawSlack,
    base: &Path,
    env: &impl Fn(&str) -> Option<String>,
    problem: &mut impl FnMut(&str, String),
) -> SlackConfig {
    if raw.staff_channels.is_empty() {
        problem(
            "[slack] staff_channels",
            "no staff channel is listed; list at least one channel id, like [\"C0123456789\"]: its full members are the staff who may report".into(),
        );
    }
    for channel in &raw.staff_channels {
        if let Some(message) = room_problem(Transport::Slack, channel, "staff", "") {
            problem("[slack] staff_channels", message);
        }
    }
    let api_url = raw
        .api_url
        .as_deref()
        .unwrap_or(SLACK_API_URL)
        .trim()
        .trim_end_matches('/')
        .to_string();
    if !(api_url.starts_with("https://") || api_url.starts_with("http://")) {
        problem(
            "[slack] api_url",
            format!(
                "\"{api_url}\" is not a web address; leave it out to use Slack itself ({SLACK_API_URL}/)"
            ),
        );
    }
    let mut token = |key: &str, var: &str, file: Option<PathBuf>, prefix: &str| -> String {
        let (value, whence) = match (env(var).filter(|v| !v.trim().is_empty()), file) {
            (Some(v), _) => (v, var.to_string()),
            (None, Some(file)) => {
                let path = base.join(file);
                match std::fs::read_to_string(&path) {
                    Ok(v) => (v, path.display().to_string()),
                    Err(e) => {
                        problem(key, format!("cannot read {}: {e}", path.display()));
                        return String::new();
                    }
                }
            }
            (None, None) => {
                problem(
                    key,
                    format!("the token is missing; set the {var} environment variable, or name a file holding it with {key}"),
                );
                return String::new();
            }
        };
        let value = value.trim().to_string();
        if !value.starts_with(prefix) && !value.starts_with('(') {
            problem(
                key,
                format!("the token in {whence} does not start with {prefix}; copy it from the app's page at api.slack.com/apps"),
            );
        }
        value
    };
    let bot_token = token(
        "[slack] bot_token_file",
        SLACK_BOT_TOKEN_ENV,
        raw.bot_token_file,
        "xoxb-",
    );
    let app_token = token(
        "[slack] app_token_file",
        SLACK_APP_TOKEN_ENV,
        raw.app_token_file,
        "xapp-",
    );
    let intake = match raw.intake.as_deref().map(str::trim) {
        None | Some("messages") => SlackIntake::Messages,
        Some("form") => SlackIntake::Form,
        Some(other) => {
            problem(
                "[slack] intake",
                format!("\"{other}\" is not a way to take reports; write \"messages\" (the questions in a direct message, the default) or \"form\" (in a form over Slack, so the answers never become messages)"),
            );
            SlackIntake::Messages
        }
    };
    SlackConfig {
        staff_channels: raw.staff_channels,
        api_url,
        bot_token,
        app_token,
        intake,
    }
}

/// A Matrix user id: `@name:server`.
fn is_matrix_user(user: &str) -> bool {
    user.starts_with('@') && user.len() > 3 && user[1..].contains(':') && !user.contains(' ')
}

/// A Matrix room id (`!abc:server`, or `!abc` from room version 12) or alias (`#a:server`).
fn is_matrix_room(room: &str) -> bool {
    (room.starts_with('!') && room.len() > 1 && !room.contains(' '))
        || (room.starts_with('#') && room.contains(':'))
}

/// A Slack id: its kind's letter, then upper-case letters and digits.
fn is_slack_id(id: &str, kinds: &[char]) -> bool {
    id.len() >= 9 && id.starts_with(kinds) && id.chars().all(|c| c.is_ascii_uppercase() || c.is_ascii_digit())
}

/// Checks that a person is named by the transport's kind of id.
fn check_person(transport: Transport, problem: &mut impl FnMut(&str, String), key: &str, user: &str) {
    match transport {
        Transport::Matrix if is_matrix_user(user) => {}
        Transport::Matrix if is_slack_id(user, &['U', 'W']) => problem(
            key,
            format!("\"{user}\" is a Slack member id, but this config runs on Matrix ([matrix]); write a Matrix user id like \"@dsl:example.org\""),
        ),
        Transport::Matrix => problem(
            key,
            format!("\"{user}\" is not a Matrix user id; write it like \"@dsl:example.org\""),
        ),
        Transport::Slack if is_slack_id(user, &['U', 'W']) => {}
        Transport::Slack if is_matrix_user(user) => problem(
            key,
            format!("\"{user}\" is a Matrix user id, but this config runs on Slack ([slack]); write the person's Slack member id, like \"U0123ABCDEF\" (in Slack: their profile, ⋮, Copy member ID)"),
        ),
        Transport::Slack => problem(
            key,
            format!("\"{user}\" is not a Slack member id; write it like \"U0123ABCDEF\" (in Slack: their profile, ⋮, Copy member ID)"),
        ),
    }
}

/// What is wrong with a room named in the config, for its transport; `what`
/// names the room in the example, `or` ends the advice.
fn room_problem(transport: Transport, room: &str, what: &str, or: &str) -> Option<String> {
    match transport {
        Transport::Matrix if is_matrix_room(room) => None,
        Transport::Matrix if is_slack_id(room, &['C', 'G']) => Some(format!(
            "\"{room}\" is a Slack channel id, but this config runs on Matrix ([matrix]); write a Matrix room id or alias like \"!abc123:example.org\" or \"#{what}:example.org\"{or}"
        )),
        Transport::Matrix => Some(format!(
            "\"{room}\" is not a room id or alias; write it like \"!abc123:example.org\" or \"#{what}:example.org\"{or}"
        )),
        Transport::Slack if is_slack_id(room, &['C', 'G']) => None,
        Transport::Slack if is_matrix_room(room) => Some(format!(
            "\"{room}\" is a Matrix room, but this config runs on Slack ([slack]); write the Slack channel id, like \"C0123456789\" (in Slack: the channel's name, then the id at the bottom of About){or}"
        )),
        Transport::Slack => Some(format!(
            "\"{room}\" is not a Slack channel id; write it like \"C0123456789\" (in Slack: the channel's name, then the id at the bottom of About){or}"
        )),
    }
}

/// toml's message, with the line it names, made a little plainer.
fn syntax_message(e: &toml::de::Error, text: &str) -> String {
    let line = e
        .span()
        .map(|s| text[..s.start.min(text.len())].matches('\n').count() + 1);
    let message = e.message().trim().to_string();
    let message = message
        .replace("unknown field", "unknown key")
        .replace("missing field", "missing key");
    match line {
        Some(l) => format!("line {l}: {message}"),
        None => message,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = r##"
[matrix]
homeserver_url = "http://127.0.0.1:8008/"
user_id = "@safeguarding:example.org"
password = "secret"
staff_rooms = ["!abc:example.org", "#staff:example.org"]

[safeguarding]
organisation = "Example Charity"
lead = "@dsl:example.org"
deputies = ["@deputy:example.org"]
ack_timeout = "10m"
urgent_ack_timeout = "2m"
retention = "6 years"

[storage]
data_dir = "/var/lib/safeguarding-bot"

[flow]
file = "conversations/online-safety-referral.toml"
"##;

    fn no_env(_: &str) -> Option<String> {
        None
    }

    #[test]
    fn the_example_in_the_issue_loads() {
        let c = parse(GOOD, "bot.toml", Path::new("/etc/sg"), no_env).expect("valid");
        assert_eq!(c.matrix.homeserver_url, "http://127.0.0.1:8008");
        assert_eq!(c.safeguarding.ack_timeout, Duration::from_secs(600));
        assert_eq!(c.safeguarding.urgent_ack_timeout, Duration::from_secs(120));
        assert_eq!(c.storage.key_file, PathBuf::from("/var/lib/safeguarding-bot/key"));
        assert_eq!(
            c.flow.file,
            PathBuf::from("/etc/sg/conversations/online-safety-referral.toml")
        );
        assert!(c.safeguarding.is_responder("@deputy:example.org"));
        assert!(!c.safeguarding.is_responder("@staff:example.org"));
        assert!(
            !format!("{c:?}").contains("secret"),
            "the password is never printed"
        );
    }

    #[test]
    fn the_password_may_come_from_the_environment() {
        let text = GOOD.replace("password = \"secret\"\n", "");
        let env = |k: &str| (k == PASSWORD_ENV).then(|| "from-env".to_string());
        let c = parse(&text, "bot.toml", Path::new("."), env).expect("valid");
        assert_eq!(c.matrix.password, "from-env");
        let err = parse(&text, "bot.toml", Path::new("."), no_env)
            .unwrap_err()
            .to_string();
        assert!(err.contains(PASSWORD_ENV), "{err}");
    }

    #[test]
    fn an_unknown_key_is_named_with_its_line() {
        let text = GOOD.replace("ack_timeout = \"10m\"", "ack_timout = \"10m\"");
        let err = parse(&text, "bot.toml", Path::new("."), no_env)
            .unwrap_err()
            .to_string();
        assert!(err.contains("bot.toml: line 12"), "{err}");
        assert!(err.contains("unknown key `ack_timout`"), "{err}");
    }

    #[test]
    fn health_is_optional_and_checked() {
        let c = parse(GOOD, "bot.toml", Path::new("."), no_env).expect("valid");
        assert_eq!(c.health.listen, None, "no listener unless asked");
        assert_eq!(c.health.unreachable_alert_after, Duration::from_secs(120));
        assert_eq!(c.safeguarding.leads_room, None);

        let text = GOOD.replace(
            "ack_timeout = \"10m\"",
            "ack_timeout = \"10m\"\nleads_room = \"#leads:example.org\"",
        ) + "\n[health]\nlisten = \"127.0.0.1:9184\"\nunreachable_alert_after = \"5m\"\n";
        let c = parse(&text, "bot.toml", Path::new("."), no_env).expect("valid");
        assert_eq!(c.health.listen, Some("127.0.0.1:9184".parse().expect("addr")));
        assert_eq!(c.health.unreachable_alert_after, Duration::from_secs(300));
        assert_eq!(c.safeguarding.leads_room.as_deref(), Some("#leads:example.org"));

        let text = GOOD.replace(
            "ack_timeout = \"10m\"",
            "ack_timeout = \"10m\"\nleads_room = \"leads\"",
        ) + "\n[health]\nlisten = \"localhost\"\nunreachable_alert_after = \"30s\"\n";
        let err = parse(&text, "bot.toml", Path::new("."), no_env)
            .unwrap_err()
            .to_string();
        for must in [
            "3 problem(s)",
            "[health] listen: \"localhost\" is not an address and port",
            "[health] unreachable_alert_after: \"30s\" is too short",
            "[safeguarding] leads_room: \"leads\" is not a room id or alias",
        ] {
            assert!(err.contains(must), "{must} in {err}");
        }
    }

    #[test]
    fn outcomes_default_to_the_usual_list_and_a_given_list_is_checked() {
        let c = parse(GOOD, "bot.toml", Path::new("."), no_env).expect("valid");
        assert_eq!(
            c.safeguarding.outcomes.len(),
            crate::casework::DEFAULT_OUTCOMES.len()
        );
        assert_eq!(c.safeguarding.outcomes[0], "No further action");

        let with = |list: &str| {
            GOOD.replace(
                "ack_timeout = \"10m\"",
                &format!("ack_timeout = \"10m\"\noutcomes = {list}"),
            )
        };
        let c = parse(
            &with(r#"["No further action", "  Referred to   the LADO ", "Other"]"#),
            "bot.toml",
            Path::new("."),
            no_env,
        )
        .expect("valid");
        assert_eq!(
            c.safeguarding.outcomes,
            ["No further action", "Referred to the LADO", "Other"]
        );

        let err = parse(
            &with(r#"["Other", "other", "", "3rd party told"]"#),
            "bot.toml",
            Path::new("."),
            no_env,
        )
        .unwrap_err()
        .to_string();
        for must in [
            "3 problem(s)",
            "[safeguarding] outcomes: \"other\" is listed twice",
            "[safeguarding] outcomes: one outcome is blank",
            "[safeguarding] outcomes: \"3rd party told\" starts with a number",
        ] {
            assert!(err.contains(must), "{must} in {err}");
        }
        let err = parse(&with("[]"), "bot.toml", Path::new("."), no_env)
            .unwrap_err()
            .to_string();
        assert!(err.contains("[safeguarding] outcomes is empty"), "{err}");
    }

    #[test]
    fn retention_is_required_and_read_as_a_period() {
        let c = parse(GOOD, "bot.toml", Path::new("."), no_env).expect("valid");
        // humantime's year: 365.25 days, so "6 years" is 2,191 days and 12 hours.
        assert_eq!(c.safeguarding.retention, Duration::from_secs(6 * 31_557_600));
        for (text, secs) in [
            ("6years", 6 * 31_557_600),
            ("18 months", 18 * 2_630_016),
            ("400 days", 400 * 86_400),
            ("1 day", 86_400),
            ("52 weeks", 52 * 7 * 86_400),
        ] {
            let t = GOOD.replace("\"6 years\"", &format!("\"{text}\""));
            let c = parse(&t, "bot.toml", Path::new("."), no_env).expect(text);
            assert_eq!(c.safeguarding.retention, Duration::from_secs(secs), "{text}");
        }

        let missing = GOOD.replace("retention = \"6 years\"\n", "");
        let err = parse(&missing, "bot.toml", Path::new("."), no_env)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("[safeguarding] retention is missing: set how long a closed concern is kept after it is closed, for example retention = \"6 years\". No one period fits every organisation: see your data-protection policy"),
            "{err}"
        );

        for (text, must) in [
            ("2s", "\"2s\" is shorter than a day"),
            ("23h", "\"23h\" is shorter than a day"),
            ("six years", "\"six years\" is not a length of time"),
            ("", "\"\" is not a length of time"),
        ] {
            let t = GOOD.replace("\"6 years\"", &format!("\"{text}\""));
            let err = parse(&t, "bot.toml", Path::new("."), no_env)
                .unwrap_err()
                .to_string();
            assert!(
                err.contains(&format!("[safeguarding] retention: {must}")),
                "{err}"
            );
        }
    }

    #[test]
    fn the_store_commands_need_no_password() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("bot.toml");
        std::fs::write(&path, GOOD.replace("password = \"secret\"\n", "")).expect("write");
        assert!(load(&path, no_env).is_err(), "the bot itself needs it");
        let c = load_for_store(&path, no_env).expect("valid for the store commands");
        assert_eq!(c.safeguarding.retention, Duration::from_secs(6 * 31_557_600));
        // Everything else is still checked.
        std::fs::write(&path, GOOD.replace("retention = \"6 years\"\n", "")).expect("write");
        let err = load_for_store(&path, no_env).unwrap_err().to_string();
        assert!(err.contains("[safeguarding] retention is missing"), "{err}");
    }

    const SLACK: &str = r##"
[slack]
staff_channels = ["C0123456789"]
api_url = "http://127.0.0.1:9999/api/"

[safeguarding]
organisation = "Example Charity"
lead = "U0LEAD0001"
deputies = ["U0DEPUTY01"]
leads_room = "C0LEADS001"
retention = "6 years"

[storage]
data_dir = "/var/lib/safeguarding-bot"

[flow]
file = "conversations/online-safety-referral.toml"
"##;

    fn slack_env(k: &str) -> Option<String> {
        match k {
            SLACK_BOT_TOKEN_ENV => Some("xoxb-1-2-bot".into()),
            SLACK_APP_TOKEN_ENV => Some("xapp-1-A1-app".into()),
            _ => None,
        }
    }

    #[test]
    fn a_slack_config_runs_on_slack_with_tokens_from_the_environment() {
        let c = parse(SLACK, "bot.toml", Path::new("."), slack_env).expect("valid");
        assert_eq!(c.transport(), Transport::Slack);
        assert_eq!(c.staff_rooms(), ["C0123456789"]);
        let slack = c.slack.as_ref().expect("slack");
        assert_eq!(slack.api_url, "http://127.0.0.1:9999/api");
        assert_eq!(slack.bot_token, "xoxb-1-2-bot");
        assert!(!format!("{c:?}").contains("xoxb-"), "tokens are never printed");
        let c = parse(GOOD, "bot.toml", Path::new("."), no_env).expect("valid");
        assert_eq!(c.transport(), Transport::Matrix);
        assert_eq!(c.staff_rooms(), ["!abc:example.org", "#staff:example.org"]);
    }

    #[test]
    fn a_slack_report_is_taken_in_messages_unless_the_config_asks_for_a_form() {
        let c = parse(SLACK, "bot.toml", Path::new("."), slack_env).expect("valid");
        assert_eq!(c.slack.expect("slack").intake, SlackIntake::Messages);
        let form = SLACK.replace("[slack]\n", "[slack]\nintake = \"form\"\n");
        let c = parse(&form, "bot.toml", Path::new("."), slack_env).expect("valid");
        assert_eq!(c.slack.expect("slack").intake, SlackIntake::Form);
        let wrong = SLACK.replace("[slack]\n", "[slack]\nintake = \"modal\"\n");
        let err = parse(&wrong, "bot.toml", Path::new("."), slack_env)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("[slack] intake: \"modal\" is not a way to take reports; write \"messages\""),
            "{err}"
        );
    }

    #[test]
    fn slack_tokens_come_from_files_and_never_from_the_config() {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::write(dir.path().join("bot"), "xoxb-from-file\n").expect("write");
        std::fs::write(dir.path().join("app"), "xapp-from-file").expect("write");
        let text = SLACK.replace(
            "api_url = \"http://127.0.0.1:9999/api/\"",
            "bot_token_file = \"bot\"\napp_token_file = \"app\"",
        );
        let c = parse(&text, "bot.toml", dir.path(), no_env).expect("valid");
        let slack = c.slack.expect("slack");
        assert_eq!(
            (slack.bot_token.as_str(), slack.app_token.as_str()),
            ("xoxb-from-file", "xapp-from-file")
        );
        assert_eq!(slack.api_url, SLACK_API_URL);

        let err = parse(SLACK, "bot.toml", Path::new("."), no_env)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains(SLACK_BOT_TOKEN_ENV) && err.contains(SLACK_APP_TOKEN_ENV),
            "{err}"
        );
        let inline = SLACK.replace("[slack]\n", "[slack]\nbot_token = \"xoxb-1\"\n");
        let err = parse(&inline, "bot.toml", Path::new("."), slack_env)
            .unwrap_err()
            .to_string();
        assert!(err.contains("unknown key `bot_token`"), "{err}");
    }

    #[test]
    fn an_id_of_the_other_chat_names_the_key_and_what_it_expects() {
        let text = SLACK
            .replace("\"U0LEAD0001\"", "\"@dsl:example.org\"")
            .replace("\"C0LEADS001\"", "\"#leads:example.org\"")
            .replace("[\"C0123456789\"]", "[\"!abc:example.org\"]");
        let err = parse(&text, "bot.toml", Path::new("."), slack_env)
            .unwrap_err()
            .to_string();
        for must in [
            "[safeguarding] lead: \"@dsl:example.org\" is a Matrix user id, but this config runs on Slack ([slack]); write the person's Slack member id, like \"U0123ABCDEF\"",
            "[safeguarding] leads_room: \"#leads:example.org\" is a Matrix room, but this config runs on Slack",
            "[slack] staff_channels: \"!abc:example.org\" is a Matrix room, but this config runs on Slack",
        ] {
            assert!(err.contains(must), "{must} in {err}");
        }
        let text = GOOD
            .replace("\"@dsl:example.org\"", "\"U0LEAD0001\"")
            .replace("\"!abc:example.org\"", "\"C0123456789\"");
        let err = parse(&text, "bot.toml", Path::new("."), no_env)
            .unwrap_err()
            .to_string();
        for must in [
            "[safeguarding] lead: \"U0LEAD0001\" is a Slack member id, but this config runs on Matrix ([matrix]); write a Matrix user id like \"@dsl:example.org\"",
            "[matrix] staff_rooms: \"C0123456789\" is a Slack channel id, but this config runs on Matrix",
        ] {
            assert!(err.contains(must), "{must} in {err}");
        }
    }

    #[test]
    fn one_config_runs_one_chat() {
        let both = format!("{GOOD}\n[slack]\nstaff_channels = [\"C0123456789\"]\n");
        let err = parse(&both, "bot.toml", Path::new("."), slack_env)
            .unwrap_err()
            .to_string();
        assert!(err.contains("[matrix] and [slack]: both are set"), "{err}");
        let neither = SLACK.replace(
            "[slack]\nstaff_channels = [\"C0123456789\"]\napi_url = \"http://127.0.0.1:9999/api/\"\n",
            "",
        );
        let err = parse(&neither, "bot.toml", Path::new("."), slack_env)
            .unwrap_err()
            .to_string();
        assert!(err.contains("[matrix] or [slack]: neither is set"), "{err}");
    }

    #[test]
    fn the_store_commands_need_no_slack_tokens() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("bot.toml");
        std::fs::write(&path, SLACK).expect("write");
        assert!(load(&path, no_env).is_err(), "the bot itself needs them");
        let c = load_for_store(&path, no_env).expect("valid for the store commands");
        assert_eq!(c.transport(), Transport::Slack);
    }

    #[test]
    fn every_bad_value_is_reported_at_once() {
        let text = GOOD
            .replace("@dsl:example.org", "dsl")
            .replace("\"2m\"", "\"two minutes\"")
            .replace("!abc:example.org", "staff room")
            .replace("http://127.0.0.1:8008/", "127.0.0.1");
        let err = parse(&text, "bot.toml", Path::new("."), no_env)
            .unwrap_err()
            .to_string();
        for must in [
            "4 problem(s)",
            "[safeguarding] lead: \"dsl\" is not a Matrix user id",
            "[safeguarding] urgent_ack_timeout: \"two minutes\" is not a length of time",
            "[matrix] staff_rooms: \"staff room\"",
            "[matrix] homeserver_url",
        ] {
            assert!(err.contains(must), "{must} in {err}");
        }
    }

    #[test]
    fn the_examples_as_shipped_are_refused_until_edited() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("config.toml");
        for (example, what) in EXAMPLES {
            std::fs::write(&path, example).expect("write");
            let err = load(&path, |_| None).expect_err("unedited").to_string();
            assert!(err.contains("is the example config, not filled in yet"), "{err}");
            assert!(err.contains(what), "{err}");
            assert!(err.contains("safeguarding-bot check-config"), "{err}");
            // Copied through Windows, it is still the example.
            assert_eq!(unedited_example(&example.replace('\n', "\r\n")), Some(what));
            // Any edit makes it a config of its own.
            let edited = example.replace("Example Charity", "Our Charity");
            assert_ne!(edited, example);
            assert_eq!(unedited_example(&edited), None);
        }
    }

    #[test]
    fn the_env_file_reads_as_systemd_would() {
        let pairs = parse_env_file(
            "# the bot's password\n\nSAFEGUARDING_BOT_MATRIX_PASSWORD=abc=def\n; old\nB = \"quoted value\"\nnot a pair\n",
        );
        assert_eq!(
            pairs,
            [
                (PASSWORD_ENV.to_string(), "abc=def".to_string()),
                ("B".to_string(), "quoted value".to_string())
            ]
        );
    }
}
