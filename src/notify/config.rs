//! The `[sms]` and `[email]` tables of the config file, read raw and then
//! checked into types that cannot be wrong. [`crate::config`] calls the
//! checks; every problem is reported with the others, naming the key and
//! what to write instead, for whoever keeps the bot running.
//!
//! Secrets never come from the config text: the Twilio auth token from
//! `SAFEGUARDING_BOT_TWILIO_AUTH_TOKEN` or the file `[sms] auth_token_file`
//! names, the SMTP password from `SAFEGUARDING_BOT_SMTP_PASSWORD` or `[email]
//! password_file`.

use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use lettre::message::Mailbox;
use serde::Deserialize;

use super::twilio::{AuthToken, Sender, TwilioAccount, TWILIO_API};
use super::Phone;

/// The environment variable that may hold the Twilio auth token.
pub const TWILIO_TOKEN_ENV: &str = "SAFEGUARDING_BOT_TWILIO_AUTH_TOKEN";
/// The environment variable that may hold the SMTP password.
pub const SMTP_PASSWORD_ENV: &str = "SAFEGUARDING_BOT_SMTP_PASSWORD";

/// The paths the webhooks are served at, under `[sms] public_url`.
pub const SMS_WEBHOOK_PATH: &str = "/twilio/sms";
pub const STATUS_WEBHOOK_PATH: &str = "/twilio/status";

/// How often the list of SMS is read in the polling mode, unless the config
/// says.
pub const DEFAULT_POLL_INTERVAL: Duration = Duration::from_secs(5);
const MIN_POLL: Duration = Duration::from_secs(2);
const MAX_POLL: Duration = Duration::from_secs(60);

/// `[sms]`, checked.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SmsConfig {
    pub account: TwilioAccount,
    pub replies: Replies,
}

/// How the leads' replies reach the bot.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Replies {
    /// Twilio posts them to `{public_url}/twilio/sms`, and each SMS's fate
    /// to `{public_url}/twilio/status`, through the HTTP listener.
    Webhook {
        /// Without a final `/`, exactly as the Twilio console has it.
        public_url: String,
    },
    /// The bot lists the SMS sent to `number` every `interval`: for an
    /// organisation that cannot open a port.
    Poll { number: Phone, interval: Duration },
}

impl SmsConfig {
    /// The address Twilio posts a reply to, as it signs it.
    pub fn sms_webhook_url(&self) -> Option<String> {
        match &self.replies {
            Replies::Webhook { public_url } => Some(format!("{public_url}{SMS_WEBHOOK_PATH}")),
            Replies::Poll { .. } => None,
        }
    }

    /// The address Twilio posts each SMS's status to (`StatusCallback`).
    pub fn status_webhook_url(&self) -> Option<String> {
        match &self.replies {
            Replies::Webhook { public_url } => Some(format!("{public_url}{STATUS_WEBHOOK_PATH}")),
            Replies::Poll { .. } => None,
        }
    }

    /// What works but should be known: said by `check-config` and logged
    /// when the bot starts.
    pub fn warnings(&self) -> Vec<String> {
        let mut warnings = Vec::new();
        if let Sender::Alphanumeric(id) = &self.account.sender {
            warnings.push(format!(
                "[sms] from: \"{id}\" is an alphanumeric sender ID, and phones cannot reply to one, so a lead cannot acknowledge a page by replying to the SMS; to take replies, send from a Twilio phone number (like \"+447700900123\") instead"
            ));
        }
        warnings
    }
}

/// `[email] tls`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SmtpTls {
    /// Plain at first, then `STARTTLS` before anything is sent (usually
    /// port 587). Refused if the server does not offer it.
    StartTls,
    /// TLS from the first byte (usually port 465).
    Implicit,
}

/// `[email]`, checked.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EmailConfig {
    pub host: String,
    pub port: u16,
    pub tls: SmtpTls,
    pub login: Option<SmtpLogin>,
    pub from: Mailbox,
    /// A CA certificate trusted besides the system's.
    pub ca: Option<ExtraCa>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SmtpLogin {
    pub username: String,
    pub password: Secret,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ExtraCa {
    pub path: PathBuf,
    /// The file's contents: PEM, checked to hold a certificate.
    pub pem: Vec<u8>,
}

/// A password: never printed.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(s: impl Into<String>) -> Self {
        Secret(s.into())
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("(hidden)")
    }
}

/// `[sms]` as written.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawSms {
    account_sid: String,
    from: Option<String>,
    messaging_service_sid: Option<String>,
    auth_token_file: Option<PathBuf>,
    api_url: Option<String>,
    replies: Option<String>,
    public_url: Option<String>,
    poll_interval: Option<String>,
    reply_number: Option<String>,
}

/// `[email]` as written.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawEmail {
    host: String,
    port: Option<u16>,
    tls: Option<String>,
    username: Option<String>,
    password_file: Option<PathBuf>,
    from: String,
    ca_file: Option<PathBuf>,
}

/// `[sms]`, checked. `listen` is `[health] listen`: the webhooks are served
/// there. `None` when there were problems (each reported to `problem`).
pub fn check_sms(
    raw: RawSms,
    base: &Path,
    env: &impl Fn(&str) -> Option<String>,
    listen: Option<SocketAddr>,
    problem: &mut impl FnMut(&str, String),
) -> Option<SmsConfig> {
    let mut ok = true;
    let mut bad = |key: &str, message: String| {
        ok = false;
        problem(key, message);
    };
    let account_sid = raw.account_sid.trim().to_string();
    if !is_sid(&account_sid, "AC") {
        bad(
            "[sms] account_sid",
            format!("\"{account_sid}\" is not a Twilio account SID; copy the Account SID from the Twilio console: AC followed by 32 letters and digits"),
        );
    }
    let sender = match (
        raw.from.as_deref().map(str::trim),
        raw.messaging_service_sid.as_deref().map(str::trim),
    ) {
        (Some(from), None) => match sender(from) {
            Ok(s) => Some(s),
            Err(message) => {
                bad("[sms] from", message);
                None
            }
        },
        (None, Some(sid)) if is_sid(sid, "MG") => Some(Sender::MessagingService(sid.to_string())),
        (None, Some(sid)) => {
            bad(
                "[sms] messaging_service_sid",
                format!("\"{sid}\" is not a messaging service SID; copy it from the Twilio console: MG followed by 32 letters and digits"),
            );
            None
        }
        (Some(_), Some(_)) => {
            bad(
                "[sms] from and messaging_service_sid",
                "both are set; keep one: from (the number the SMS come from) or messaging_service_sid (a Twilio messaging service)".into(),
            );
            None
        }
        (None, None) => {
            bad(
                "[sms] from",
                "is missing; set from to the Twilio number the SMS come from, like \"+447700900123\", or set messaging_service_sid instead".into(),
            );
            None
        }
    };
    let api_url = raw
        .api_url
        .as_deref()
        .unwrap_or(TWILIO_API)
        .trim()
        .trim_end_matches('/')
        .to_string();
    if let Some(message) = web_address_problem(&api_url) {
        bad(
            "[sms] api_url",
            format!("{message}; leave api_url out to use Twilio itself ({TWILIO_API})"),
        );
    }
    let auth_token = match secret(
        "[sms] auth_token_file",
        TWILIO_TOKEN_ENV,
        raw.auth_token_file,
        base,
        env,
        "the Twilio auth token",
    ) {
        Ok(t) => Some(AuthToken::new(t)),
        Err(message) => {
            bad("[sms] auth_token_file", message);
            None
        }
    };

    let mode = raw.replies.as_deref().map(str::trim).unwrap_or("poll");
    let replies = match mode {
        "webhook" => {
            if raw.poll_interval.is_some() {
                bad(
                    "[sms] poll_interval",
                    "is only used with replies = \"poll\"; remove it, or switch replies to \"poll\"".into(),
                );
            }
            if listen.is_none() {
                bad(
                    "[sms] replies",
                    "\"webhook\" needs the bot's HTTP listener, which Twilio's requests reach through your reverse proxy: set [health] listen (like \"127.0.0.1:9184\"), or use replies = \"poll\", which needs no public address".into(),
                );
            }
            match raw.public_url.as_deref().map(|u| u.trim().trim_end_matches('/')) {
                None | Some("") => {
                    bad(
                        "[sms] public_url",
                        "is missing; replies = \"webhook\" needs the public address Twilio reaches the bot at, like \"https://bot.example.org\" (the bot serves /twilio/sms and /twilio/status under it)".into(),
                    );
                    None
                }
                Some(url) => match web_address_problem(url) {
                    Some(message) => {
                        bad("[sms] public_url", message);
                        None
                    }
                    None if url.contains('?') || url.contains('#') => {
                        bad(
                            "[sms] public_url",
                            format!("\"{url}\" has a query or fragment; give the address alone, like \"https://bot.example.org\""),
                        );
                        None
                    }
                    None => Some(Replies::Webhook {
                        public_url: url.to_string(),
                    }),
                },
            }
        }
        "poll" => {
            if raw.public_url.is_some() {
                bad(
                    "[sms] public_url",
                    "is only used with replies = \"webhook\"; remove it, or set replies = \"webhook\"".into(),
                );
            }
            let interval = match raw.poll_interval.as_deref().map(str::trim) {
                None => Some(DEFAULT_POLL_INTERVAL),
                Some(text) => match humantime::parse_duration(text) {
                    Ok(d) if (MIN_POLL..=MAX_POLL).contains(&d) => Some(d),
                    Ok(_) => {
                        bad(
                            "[sms] poll_interval",
                            format!("\"{text}\" is outside 2s to 1m; a few seconds, like \"5s\", is right: faster is refused by Twilio, slower delays acknowledgements"),
                        );
                        None
                    }
                    Err(_) => {
                        bad(
                            "[sms] poll_interval",
                            format!("\"{text}\" is not a length of time; write it like \"5s\""),
                        );
                        None
                    }
                },
            };
            let number = match (raw.reply_number.as_deref().map(str::trim), &sender) {
                (Some(n), _) => match Phone::try_from(n.to_string()) {
                    Ok(p) => Some(p),
                    Err(message) => {
                        bad("[sms] reply_number", message);
                        None
                    }
                },
                (None, Some(Sender::Number(p))) => Some(p.clone()),
                (None, Some(_)) => {
                    bad(
                        "[sms] reply_number",
                        "is missing; with replies = \"poll\" the bot reads the SMS sent to one number, and from is not a phone number: set reply_number to the Twilio number the leads reply to, like \"+447700900123\"".into(),
                    );
                    None
                }
                (None, None) => None,
            };
            match (number, interval) {
                (Some(number), Some(interval)) => Some(Replies::Poll { number, interval }),
                _ => None,
            }
        }
        other => {
            bad(
                "[sms] replies",
                format!("\"{other}\" is not a way to take replies; write \"poll\" (the bot reads its messages from Twilio every few seconds; needs no public address) or \"webhook\" (Twilio posts each reply to the bot; needs public_url and a reverse proxy)"),
            );
            None
        }
    };
    if !ok {
        return None;
    }
    Some(SmsConfig {
        account: TwilioAccount {
            api_url,
            account_sid,
            auth_token: auth_token?,
            sender: sender?,
        },
        replies: replies?,
    })
}

/// `[email]`, checked. `None` when there were problems.
pub fn check_email(
    raw: RawEmail,
    base: &Path,
    env: &impl Fn(&str) -> Option<String>,
    problem: &mut impl FnMut(&str, String),
) -> Option<EmailConfig> {
    let mut ok = true;
    let mut bad = |key: &str, message: String| {
        ok = false;
        problem(key, message);
    };
    let host = raw.host.trim().to_string();
    if host.is_empty()
        || host.contains("://")
        || host.contains('/')
        || host.contains(' ')
        || host.contains(':')
    {
        bad(
            "[email] host",
            format!("\"{host}\" is not a mail server's name; write the name alone, like \"smtp.example.org\", and the port in port"),
        );
    }
    let tls = match raw.tls.as_deref().map(str::trim) {
        None | Some("starttls") => SmtpTls::StartTls,
        Some("tls") => SmtpTls::Implicit,
        Some(other) => {
            bad(
                "[email] tls",
                format!("\"{other}\" is not a way to secure the connection; write \"starttls\" (usually port 587) or \"tls\" (usually port 465). Mail is never sent unencrypted"),
            );
            SmtpTls::StartTls
        }
    };
    let port = match raw.port {
        Some(0) => {
            bad(
                "[email] port",
                "0 is not a port; usually 587 with tls = \"starttls\", or 465 with tls = \"tls\"".into(),
            );
            0
        }
        Some(p) => p,
        None => match tls {
            SmtpTls::StartTls => 587,
            SmtpTls::Implicit => 465,
        },
    };
    let login = match raw.username.as_deref().map(str::trim) {
        Some("") => {
            bad(
                "[email] username",
                "is empty; give the mail account's username, or leave it out if the server takes mail without signing in".into(),
            );
            None
        }
        Some(user) => match secret(
            "[email] password_file",
            SMTP_PASSWORD_ENV,
            raw.password_file,
            base,
            env,
            "the mail account's password",
        ) {
            Ok(password) => Some(SmtpLogin {
                username: user.to_string(),
                password: Secret::new(password),
            }),
            Err(message) => {
                bad("[email] password_file", message);
                None
            }
        },
        None => {
            if raw.password_file.is_some() {
                bad(
                    "[email] username",
                    "is missing, but password_file is given; set username to the mail account's username, or remove password_file if the server takes mail without signing in".into(),
                );
            }
            None
        }
    };
    let from = match raw.from.trim().parse::<Mailbox>() {
        Ok(m) => Some(m),
        Err(_) => {
            bad(
                "[email] from",
                format!("\"{}\" is not an email address; write it like \"safeguarding@example.org\" or \"Safeguarding bot <safeguarding@example.org>\"", raw.from.trim()),
            );
            None
        }
    };
    let ca = raw.ca_file.map(|file| base.join(file)).and_then(|path| {
        match std::fs::read(&path) {
            Ok(pem) if lettre::transport::smtp::client::Certificate::from_pem(&pem).is_ok() => {
                Some(ExtraCa { path, pem })
            }
            Ok(_) => {
                bad(
                    "[email] ca_file",
                    format!("{} does not hold a certificate in PEM form (-----BEGIN CERTIFICATE-----); give the CA certificate of your mail server, or leave ca_file out", path.display()),
                );
                None
            }
            Err(e) => {
                bad(
                    "[email] ca_file",
                    format!("cannot read {}: {e}", path.display()),
                );
                None
            }
        }
    });
    if !ok {
        return None;
    }
    Some(EmailConfig {
        host,
        port,
        tls,
        login,
        from: from?,
        ca,
    })
}

/// What `check-config` says of `[sms]` and `[email]` after "ok": how pages
/// go out, and every warning, each line starting `warning:`.
pub fn summary(config: &crate::config::Config) -> Vec<String> {
    let mut lines = Vec::new();
    if let Some(sms) = &config.sms {
        let from = match &sms.account.sender {
            Sender::Number(p) => format!("from {p}"),
            Sender::ShortCode(s) | Sender::Alphanumeric(s) => format!("from {s}"),
            Sender::MessagingService(sid) => format!("through messaging service {sid}"),
        };
        let replies = match &sms.replies {
            Replies::Webhook { public_url } => {
                format!("replies posted by Twilio to {public_url}{SMS_WEBHOOK_PATH}")
            }
            Replies::Poll { number, interval } => format!(
                "replies to {number} read from Twilio every {}",
                humantime::format_duration(*interval)
            ),
        };
        lines.push(format!(
            "SMS: through {} (account {}), {from}, {replies}",
            sms.account.api_url, sms.account.account_sid
        ));
        lines.extend(sms.warnings().into_iter().map(|w| format!("warning: {w}")));
    }
    if let Some(email) = &config.email {
        let tls = match email.tls {
            SmtpTls::StartTls => "STARTTLS",
            SmtpTls::Implicit => "TLS",
        };
        let login = match &email.login {
            Some(l) => format!("signing in as {}", l.username),
            None => "without signing in".to_string(),
        };
        lines.push(format!(
            "email: through {}:{} ({tls}), {login}, from {}",
            email.host, email.port, email.from
        ));
    }
    lines
}

/// A secret from `var` in the environment or else from `file`; its
/// surrounding whitespace (a file's final newline) is not part of it.
fn secret(
    key: &str,
    var: &str,
    file: Option<PathBuf>,
    base: &Path,
    env: &impl Fn(&str) -> Option<String>,
    what: &str,
) -> Result<String, String> {
    if let Some(value) = env(var).filter(|v| !v.trim().is_empty()) {
        return Ok(value.trim().to_string());
    }
    let Some(file) = file else {
        return Err(format!(
            "{what} is missing; set the {var} environment variable (in the env file beside the config), or name a file holding it with {key}. It is never written in the config itself"
        ));
    };
    let path = base.join(file);
    match std::fs::read_to_string(&path) {
        Ok(v) if !v.trim().is_empty() => Ok(v.trim().to_string()),
        Ok(_) => Err(format!("{} is empty; put {what} in it", path.display())),
        Err(e) => Err(format!("cannot read {}: {e}", path.display())),
    }
}

/// `AC…` or `MG…`: the prefix and 32 hexadecimal digits.
fn is_sid(sid: &str, prefix: &str) -> bool {
    sid.len() == 34 && sid.starts_with(prefix) && sid[2..].bytes().all(|b| b.is_ascii_hexdigit())
}

/// `[sms] from`: a phone number, a short code, or an alphanumeric sender ID.
fn sender(from: &str) -> Result<Sender, String> {
    if from.starts_with('+') {
        return Phone::try_from(from.to_string()).map(Sender::Number);
    }
    if (3..=8).contains(&from.len()) && from.bytes().all(|b| b.is_ascii_digit()) {
        return Ok(Sender::ShortCode(from.to_string()));
    }
    let alphanumeric = (1..=11).contains(&from.len())
        && from.bytes().all(|b| b.is_ascii_alphanumeric() || b == b' ')
        && from.bytes().any(|b| b.is_ascii_alphabetic());
    if alphanumeric {
        Ok(Sender::Alphanumeric(from.to_string()))
    } else {
        Err(format!(
            "\"{from}\" is not a sender Twilio takes; give the Twilio number the SMS come from, with + and the country code, like \"+447700900123\""
        ))
    }
}

/// An `https://` address, or `http://` to this machine alone (tests, a
/// local relay): anything else would send secrets in the clear.
pub(crate) fn web_address_problem(url: &str) -> Option<String> {
    let Ok(parsed) = reqwest::Url::parse(url) else {
        return Some(format!(
            "\"{url}\" is not a web address; write it like \"https://bot.example.org\""
        ));
    };
    let local = matches!(
        parsed.host_str(),
        Some("127.0.0.1") | Some("localhost") | Some("[::1]")
    );
    match parsed.scheme() {
        "https" if parsed.host_str().is_some() => None,
        "http" if local => None,
        "http" => Some(format!(
            "\"{url}\" is plain http; use https:// (plain http is accepted only for 127.0.0.1, for testing)"
        )),
        _ => Some(format!(
            "\"{url}\" is not a web address; write it like \"https://bot.example.org\""
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SID: &str = "AC0123456789abcdef0123456789abcdef";

    fn raw_sms(extra: &str) -> RawSms {
        toml::from_str(&format!("account_sid = \"{SID}\"\n{extra}")).expect("toml")
    }

    fn token_env(k: &str) -> Option<String> {
        (k == TWILIO_TOKEN_ENV).then(|| "0123456789abcdef0123456789abcdef".to_string())
    }

    fn sms(extra: &str, listen: Option<SocketAddr>) -> Result<SmsConfig, Vec<String>> {
        let mut problems = Vec::new();
        let checked = check_sms(raw_sms(extra), Path::new("/"), &token_env, listen, &mut |k, m| {
            problems.push(format!("{k}: {m}"))
        });
        match checked {
            Some(c) if problems.is_empty() => Ok(c),
            _ => Err(problems),
        }
    }

    #[test]
    fn polling_from_a_number_is_the_default() {
        let c = sms("from = \"+447700900001\"", None).expect("ok");
        assert_eq!(c.account.api_url, TWILIO_API);
        assert_eq!(c.account.auth_token.expose(), "0123456789abcdef0123456789abcdef");
        assert_eq!(
            c.replies,
            Replies::Poll {
                number: Phone::try_from("+447700900001".to_string()).expect("phone"),
                interval: DEFAULT_POLL_INTERVAL
            }
        );
        assert!(c.warnings().is_empty());
        assert_eq!(c.status_webhook_url(), None);
    }

    #[test]
    fn the_webhook_needs_a_public_address_and_the_listener() {
        let listen = Some("127.0.0.1:9184".parse().expect("addr"));
        let c = sms(
            "from = \"+447700900001\"\nreplies = \"webhook\"\npublic_url = \"https://bot.example.org/\"",
            listen,
        )
        .expect("ok");
        assert_eq!(
            c.sms_webhook_url().as_deref(),
            Some("https://bot.example.org/twilio/sms")
        );
        assert_eq!(
            c.status_webhook_url().as_deref(),
            Some("https://bot.example.org/twilio/status")
        );
        let problems = sms("from = \"+447700900001\"\nreplies = \"webhook\"", None).unwrap_err();
        assert!(
            problems.iter().any(|p| p.contains("[health] listen")),
            "{problems:?}"
        );
        assert!(
            problems.iter().any(|p| p.starts_with("[sms] public_url")),
            "{problems:?}"
        );
        let plain = sms(
            "from = \"+447700900001\"\nreplies = \"webhook\"\npublic_url = \"http://bot.example.org\"",
            listen,
        )
        .unwrap_err();
        assert!(plain[0].contains("use https://"), "{plain:?}");
    }

    #[test]
    fn an_alphanumeric_sender_is_taken_with_a_warning_and_polls_another_number() {
        let c = sms("from = \"Charity\"\nreply_number = \"+447700900002\"", None).expect("ok");
        let warnings = c.warnings();
        assert_eq!(warnings.len(), 1);
        assert!(warnings[0].contains("cannot reply"), "{warnings:?}");
        let problems = sms("from = \"Charity\"", None).unwrap_err();
        assert!(problems[0].starts_with("[sms] reply_number"), "{problems:?}");
    }

    #[test]
    fn every_sms_problem_is_named_at_once() {
        let mut problems = Vec::new();
        let raw: RawSms = toml::from_str(
            "account_sid = \"12345\"\nfrom = \"07700 900001\"\napi_url = \"ftp://x\"\nreplies = \"carrier pigeon\"",
        )
        .expect("toml");
        let checked = check_sms(raw, Path::new("/"), &|_| None, None, &mut |k, m| {
            problems.push(format!("{k}: {m}"))
        });
        assert!(checked.is_none());
        let keys: Vec<&str> = problems
            .iter()
            .map(|p| p.split(':').next().unwrap_or(""))
            .collect();
        assert_eq!(
            keys,
            [
                "[sms] account_sid",
                "[sms] from",
                "[sms] api_url",
                "[sms] auth_token_file",
                "[sms] replies"
            ],
            "{problems:#?}"
        );
        assert!(problems[3].contains(TWILIO_TOKEN_ENV), "{problems:?}");
        // The token in the config text itself is an unknown key.
        assert!(toml::from_str::<RawSms>(&format!("account_sid = \"{SID}\"\nauth_token = \"x\"")).is_err());
    }

    #[test]
    fn the_token_may_come_from_a_file() {
        let dir = tempfile::tempdir().expect("dir");
        std::fs::write(dir.path().join("twilio-token"), "filetoken\n").expect("write");
        let raw = raw_sms("from = \"+447700900001\"\nauth_token_file = \"twilio-token\"");
        let mut problems = Vec::new();
        let c = check_sms(raw, dir.path(), &|_| None, None, &mut |k, m| {
            problems.push(format!("{k}: {m}"))
        })
        .expect("ok");
        assert_eq!(c.account.auth_token.expose(), "filetoken");
        assert!(!format!("{c:?}").contains("filetoken"));
    }

    fn email(text: &str, env: &impl Fn(&str) -> Option<String>) -> Result<EmailConfig, Vec<String>> {
        let raw: RawEmail = toml::from_str(text).expect("toml");
        let mut problems = Vec::new();
        let checked = check_email(raw, Path::new("/"), env, &mut |k, m| {
            problems.push(format!("{k}: {m}"))
        });
        match checked {
            Some(c) if problems.is_empty() => Ok(c),
            _ => Err(problems),
        }
    }

    #[test]
    fn email_defaults_to_starttls_on_587_and_signs_in_with_the_password_from_the_environment() {
        let env = |k: &str| (k == SMTP_PASSWORD_ENV).then(|| "pw".to_string());
        let c = email(
            "host = \"smtp.example.org\"\nusername = \"bot@example.org\"\nfrom = \"Safeguarding <bot@example.org>\"",
            &env,
        )
        .expect("ok");
        assert_eq!((c.tls, c.port), (SmtpTls::StartTls, 587));
        assert_eq!(c.login.as_ref().map(|l| l.password.expose()), Some("pw"));
        assert!(!format!("{c:?}").contains("\"pw\""));
        let tls = email(
            "host = \"smtp.example.org\"\ntls = \"tls\"\nfrom = \"bot@example.org\"",
            &|_| None,
        )
        .expect("ok");
        assert_eq!((tls.tls, tls.port, tls.login), (SmtpTls::Implicit, 465, None));
    }

    #[test]
    fn every_email_problem_is_named_at_once() {
        let problems = email(
            "host = \"smtp://smtp.example.org:587\"\ntls = \"none\"\nusername = \"bot\"\nfrom = \"not an address\"\nca_file = \"/nonexistent/ca.pem\"",
            &|_| None,
        )
        .unwrap_err();
        let keys: Vec<&str> = problems
            .iter()
            .map(|p| p.split(':').next().unwrap_or(""))
            .collect();
        assert_eq!(
            keys,
            [
                "[email] host",
                "[email] tls",
                "[email] password_file",
                "[email] from",
                "[email] ca_file"
            ],
            "{problems:#?}"
        );
        assert!(problems[1].contains("never sent unencrypted"), "{problems:?}");
    }
}
