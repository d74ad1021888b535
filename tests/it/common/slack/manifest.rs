//! The Slack app manifest (deploy/slack-app-manifest.yml): the bot scopes,
//! the events the app subscribes to, its slash commands, and whether
//! interactivity and Socket Mode are on. The stand-in grants exactly these
//! scopes and delivers only these events.

use std::path::PathBuf;

use serde_norway::Value;

#[derive(Clone, Debug)]
pub struct Manifest {
    pub bot_scopes: Vec<String>,
    pub bot_events: Vec<String>,
    pub slash_commands: Vec<String>,
    pub interactivity: bool,
    pub socket_mode: bool,
}

impl Manifest {
    /// The repository's manifest, deploy/slack-app-manifest.yml.
    pub fn from_repo() -> Manifest {
        let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("deploy")
            .join("slack-app-manifest.yml");
        let text = std::fs::read_to_string(&path)
            .unwrap_or_else(|e| panic!("could not read {}: {e}", path.display()));
        Manifest::parse(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
    }

    /// Reads a manifest in Slack's YAML form.
    pub fn parse(text: &str) -> Result<Manifest, String> {
        let yaml: Value = serde_norway::from_str(text).map_err(|e| format!("not YAML: {e}"))?;
        let strings = |value: Option<&Value>, what: &str| -> Result<Vec<String>, String> {
            match value {
                None | Some(Value::Null) => Ok(Vec::new()),
                Some(Value::Sequence(items)) => items
                    .iter()
                    .map(|item| {
                        item.as_str()
                            .map(str::to_string)
                            .ok_or_else(|| format!("{what} should be a list of strings"))
                    })
                    .collect(),
                Some(_) => Err(format!("{what} should be a list")),
            }
        };
        let bot_scopes = strings(
            yaml.get("oauth_config")
                .and_then(|o| o.get("scopes"))
                .and_then(|s| s.get("bot")),
            "oauth_config.scopes.bot",
        )?;
        let bot_events = strings(
            yaml.get("settings")
                .and_then(|s| s.get("event_subscriptions"))
                .and_then(|e| e.get("bot_events")),
            "settings.event_subscriptions.bot_events",
        )?;
        let slash_commands = match yaml.get("features").and_then(|f| f.get("slash_commands")) {
            None => Vec::new(),
            Some(Value::Sequence(commands)) => commands
                .iter()
                .map(|c| {
                    c.get("command")
                        .and_then(Value::as_str)
                        .map(str::to_string)
                        .ok_or_else(|| "every slash command needs a `command`".to_string())
                })
                .collect::<Result<_, _>>()?,
            Some(_) => return Err("features.slash_commands should be a list".to_string()),
        };
        let flag = |section: &str, key: &str| {
            yaml.get("settings")
                .and_then(|s| s.get(section))
                .and_then(|s| s.get(key))
                .and_then(Value::as_bool)
                .unwrap_or(false)
        };
        let socket_mode = yaml
            .get("settings")
            .and_then(|s| s.get("socket_mode_enabled"))
            .and_then(Value::as_bool)
            .unwrap_or(false);
        Ok(Manifest {
            bot_scopes,
            bot_events,
            slash_commands,
            interactivity: flag("interactivity", "is_enabled"),
            socket_mode,
        })
    }

    /// The same manifest without one bot scope, to see `missing_scope`.
    pub fn without_scope(mut self, scope: &str) -> Manifest {
        self.bot_scopes.retain(|s| s != scope);
        self
    }

    pub fn has_scope(&self, scope: &str) -> bool {
        self.bot_scopes.iter().any(|s| s == scope)
    }

    pub fn subscribes_to(&self, event: &str) -> bool {
        self.bot_events.iter().any(|e| e == event)
    }
}

/// The bot scope a Web API method needs, for the kind of conversation it is
/// called on, as each method's page on docs.slack.dev lists them ("Required
/// scopes", bot token). `None`: no scope needed.
pub fn scope_for(method: &str, kind: Option<super::world::ChannelKind>) -> Option<&'static str> {
    use super::world::ChannelKind::{Im, Private, Public};
    match (method, kind) {
        ("auth.test", _) => None,
        // docs.slack.dev/reference/methods/views.open: "No scopes required".
        ("views.open", _) => None,
        // docs.slack.dev/reference/methods/views.update: "No scopes required".
        ("views.update", _) => None,
        ("users.info", _) => Some("users:read"),
        ("conversations.open", _) => Some("im:write"),
        ("conversations.create", Some(Private)) => Some("groups:write"),
        ("conversations.create", _) => Some("channels:manage"),
        ("conversations.invite" | "conversations.kick" | "conversations.archive", Some(Private)) => {
            Some("groups:write")
        }
        ("conversations.invite" | "conversations.kick" | "conversations.archive", Some(Public)) => {
            Some("channels:manage")
        }
        ("conversations.members" | "conversations.info", Some(Public)) => Some("channels:read"),
        ("conversations.members" | "conversations.info", Some(Private)) => Some("groups:read"),
        ("conversations.members" | "conversations.info", Some(Im)) => Some("im:read"),
        ("chat.postMessage" | "chat.update" | "chat.delete", _) => Some("chat:write"),
        ("files.getUploadURLExternal" | "files.completeUploadExternal", _) => Some("files:write"),
        // docs.slack.dev/reference/methods/files.delete: files:write.
        ("files.delete", _) => Some("files:write"),
        _ => None,
    }
}

/// The bot scope an event subscription needs, as each event's page on
/// docs.slack.dev lists it ("Required scopes").
pub fn scope_for_event(event: &str, kind: super::world::ChannelKind) -> &'static str {
    use super::world::ChannelKind::{Im, Private, Public};
    match (event, kind) {
        ("message.im", _) => "im:history",
        ("message.groups", _) => "groups:history",
        ("message.channels", _) => "channels:history",
        ("app_mention", _) => "app_mentions:read",
        ("reaction_added", _) => "reactions:read",
        ("member_joined_channel", Private) => "groups:read",
        ("member_joined_channel", Public | Im) => "channels:read",
        ("member_left_channel", Private) => "groups:read",
        ("member_left_channel", Public | Im) => "channels:read",
        _ => "unknown:scope",
    }
}
