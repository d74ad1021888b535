#![recursion_limit = "256"]
//! A short scripted report against the local homeserver, printed as it
//! happens: the member of staff types /report in the staff room and reports
//! a young member who posted their home address in the group chat, a case
//! the CLAPA flow rightly routes to "Record the concern" (no, no, no, no);
//! sends the record; the lead reacts ✅ to the page, notes that the post was
//! removed, records a decision with its reason, and closes it with advice to
//! the family; the reporter is told it closed. What each types is in
//! `demo/script.rs`, which `tests/it/demo_script.rs` walks through the flow.
//! Its people's Matrix client is the tests' (`tests/it/common/person.rs`).
//!
//!   cargo run --example demo [-- ACCOUNTS_ENV]
//!
//! ACCOUNTS_ENV is the file `deploy/dev-homeserver.sh start` writes; it
//! defaults to $SAFEGUARDING_DEMO_ACCOUNTS, then .dev/homeserver/accounts.env.
//! The bot must be running (deploy/try-locally.sh --demo does all of this).
//! Exits 0 once the reporter is told the report was closed, 1 if any
//! step takes more than 90 seconds or anything fails.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::{bail, Context, Result};
use matrix_sdk::room::Room;
use matrix_sdk::ruma::events::reaction::ReactionEventContent;
use matrix_sdk::ruma::events::relation::Annotation;
use matrix_sdk::ruma::events::room::encrypted::OriginalSyncRoomEncryptedEvent;
use matrix_sdk::ruma::events::room::member::MembershipState;
use matrix_sdk::ruma::events::room::message::{OriginalSyncRoomMessageEvent, RoomMessageEventContent};
use matrix_sdk::ruma::{OwnedEventId, OwnedRoomId, RoomId, UserId};
use matrix_sdk::Client;
use tempfile::TempDir;
use tokio::task::JoinHandle;

#[path = "../tests/it/common/person.rs"]
mod person;
#[path = "demo/script.rs"]
mod script;

/// How long any one step may take.
const PATIENCE: Duration = Duration::from_secs(90);

/// A message someone received.
#[derive(Clone, Debug)]
struct Msg {
    room: OwnedRoomId,
    sender: String,
    body: String,
    event_id: OwnedEventId,
}

/// Who is who, for readable lines.
#[derive(Clone)]
struct Names {
    by_id: HashMap<String, &'static str>,
    staff_room: OwnedRoomId,
    /// The leads' room, if the homeserver script made one.
    leads_room: Option<OwnedRoomId>,
}

impl Names {
    fn who(&self, user: &str) -> String {
        self.by_id
            .get(user)
            .map(|s| s.to_string())
            .unwrap_or_else(|| user.to_string())
    }

    /// Prints one message as `[room] sender: text`, later lines indented.
    fn print(&self, room: &str, sender: &str, body: &str) {
        let mut lines = body.lines();
        let first = lines.next().unwrap_or("");
        println!("[{room}] {}: {first}", self.who(sender));
        for line in lines {
            println!("      {line}");
        }
    }
}

/// A person logged in with their own client, store and encryption.
struct Person {
    name: &'static str,
    client: Client,
    inbox: Arc<Mutex<Vec<Msg>>>,
    sync: JoinHandle<()>,
    _dir: TempDir,
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

impl Person {
    /// Logs in. `label` names the rooms this person's messages are printed
    /// under (the staff room is printed only by the member of staff).
    async fn login(
        name: &'static str,
        url: &str,
        user: &str,
        password: &str,
        names: Names,
        label: &'static str,
        since_ms: u64,
    ) -> Result<Person> {
        let (client, dir) = person::log_in(url, user, password, &format!("demo ({name})")).await?;
        let inbox: Arc<Mutex<Vec<Msg>>> = Arc::default();
        let print_staff_room = name == "staff";
        let room_label = move |names: &Names, room: &RoomId| -> Option<&'static str> {
            if room == names.staff_room {
                print_staff_room.then_some("staff room")
            } else if names.leads_room.as_deref() == Some(room) {
                Some("leads' room")
            } else {
                Some(label)
            }
        };
        {
            let inbox = inbox.clone();
            let names = names.clone();
            client.add_event_handler(move |ev: OriginalSyncRoomMessageEvent, room: Room| {
                let inbox = inbox.clone();
                let names = names.clone();
                async move {
                    let ts: u64 = ev.origin_server_ts.get().into();
                    if ts < since_ms {
                        return; // from an earlier run
                    }
                    let (body, _, _) = person::text_of(&ev.content.msgtype);
                    if let Some(label) = room_label(&names, room.room_id()) {
                        names.print(label, ev.sender.as_str(), &body);
                    }
                    inbox.lock().expect("inbox").push(Msg {
                        room: room.room_id().to_owned(),
                        sender: ev.sender.to_string(),
                        body,
                        event_id: ev.event_id.clone(),
                    });
                }
            });
        }
        {
            let names = names.clone();
            client.add_event_handler(move |ev: OriginalSyncRoomEncryptedEvent, room: Room| {
                let names = names.clone();
                async move {
                    let ts: u64 = ev.origin_server_ts.get().into();
                    if ts < since_ms {
                        return;
                    }
                    if let Some(label) = room_label(&names, room.room_id()) {
                        names.print(
                            label,
                            ev.sender.as_str(),
                            "(a message this device could not decrypt)",
                        );
                    }
                }
            });
        }
        person::accept_invitations(&client);
        let sync = person::keep_syncing(&client, &format!("the {name}'s client")).await?;
        Ok(Person {
            name,
            client,
            inbox,
            sync,
            _dir: dir,
        })
    }

    /// Waits until this person has joined the room.
    async fn joined_room(&self, id: &RoomId) -> Result<Room> {
        let deadline = tokio::time::Instant::now() + PATIENCE;
        loop {
            if let Some(r) = self.client.get_room(id) {
                if r.state() == matrix_sdk::RoomState::Joined {
                    return Ok(r);
                }
            }
            if tokio::time::Instant::now() > deadline {
                bail!("the {} never joined the room {id}", self.name);
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Waits until `user` is a joined member of the room, as this person sees it.
    async fn wait_for_member(&self, id: &RoomId, user: &UserId, what: &str) -> Result<()> {
        let room = self.joined_room(id).await?;
        let deadline = tokio::time::Instant::now() + PATIENCE;
        loop {
            if let Ok(Some(m)) = room.get_member_no_sync(user).await {
                if *m.membership() == MembershipState::Join {
                    return Ok(());
                }
            }
            if tokio::time::Instant::now() > deadline {
                bail!("waited {PATIENCE:?} for {what}");
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    /// Sends a message; it is printed when it comes back from the server.
    async fn say(&self, room: &RoomId, text: &str) -> Result<()> {
        let room = self.joined_room(room).await?;
        room.send(RoomMessageEventContent::text_plain(text))
            .await
            .with_context(|| format!("the {} sending {text:?}", self.name))?;
        Ok(())
    }

    /// Waits for the first message not yet taken that matches; takes it and
    /// everything before it.
    async fn wait_for(&self, what: &str, pred: impl Fn(&Msg) -> bool) -> Result<Msg> {
        let deadline = tokio::time::Instant::now() + PATIENCE;
        loop {
            {
                let mut inbox = self.inbox.lock().expect("inbox");
                if let Some(i) = inbox.iter().position(&pred) {
                    let found = inbox[i].clone();
                    inbox.drain(..=i);
                    return Ok(found);
                }
            }
            if tokio::time::Instant::now() > deadline {
                bail!(
                    "waited {PATIENCE:?} for {what}, as the {} sees it. Is the bot running? \
                     See .dev/bot.log",
                    self.name
                );
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Logs this device out, so repeated demos do not pile up devices.
    async fn leave(self) {
        self.sync.abort();
        let _ = tokio::time::timeout(Duration::from_secs(5), self.client.matrix_auth().logout()).await;
    }
}

fn read_accounts(path: &str) -> Result<HashMap<String, String>> {
    let text = std::fs::read_to_string(path).with_context(|| {
        format!("reading {path}: start the homeserver first with deploy/dev-homeserver.sh start")
    })?;
    Ok(text
        .lines()
        .filter(|l| !l.trim_start().starts_with('#'))
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| {
            (
                k.trim().to_string(),
                v.trim().trim_matches('"').trim_matches('\'').to_string(),
            )
        })
        .collect())
}

#[tokio::main]
async fn main() {
    if let Err(e) = run().await {
        eprintln!("demo failed: {e:#}");
        std::process::exit(1);
    }
}

async fn run() -> Result<()> {
    let path = std::env::args()
        .nth(1)
        .or_else(|| std::env::var("SAFEGUARDING_DEMO_ACCOUNTS").ok())
        .unwrap_or_else(|| ".dev/homeserver/accounts.env".to_string());
    let env = read_accounts(&path)?;
    let var = |k: &str| -> Result<String> {
        env.get(k)
            .cloned()
            .with_context(|| format!("{path} has no {k}; re-run deploy/dev-homeserver.sh start"))
    };
    let url = var("HOMESERVER_URL")?;
    let bot_id = var("BOT_USER_ID")?;
    let staff_room: OwnedRoomId = var("STAFF_ROOM_ID")?
        .try_into()
        .with_context(|| format!("STAFF_ROOM_ID in {path} is not a room id"))?;
    let mut by_id = HashMap::new();
    by_id.insert(bot_id.clone(), "bot");
    for (key, name) in [("LEAD", "lead"), ("DEPUTY", "deputy"), ("STAFF", "staff")] {
        if let Ok(id) = var(&format!("{key}_USER_ID")) {
            by_id.insert(id, name);
        }
    }
    let leads_room = env
        .get("LEADS_ROOM_ID")
        .filter(|r| !r.is_empty())
        .and_then(|r| OwnedRoomId::try_from(r.as_str()).ok());
    let names = Names {
        by_id,
        staff_room: staff_room.clone(),
        leads_room,
    };
    let since = now_ms();

    println!("Logging in the member of staff and the lead at {url}...");
    let staff = Person::login(
        "staff",
        &url,
        &var("STAFF_USER_ID")?,
        &var("STAFF_PASSWORD")?,
        names.clone(),
        "private",
        since,
    )
    .await?;
    let lead = Person::login(
        "lead",
        &url,
        &var("LEAD_USER_ID")?,
        &var("LEAD_PASSWORD")?,
        names.clone(),
        "lead's room",
        since,
    )
    .await?;
    let result = conversation(&staff, &lead, &names, &bot_id, &staff_room).await;
    staff.leave().await;
    lead.leave().await;
    result?;
    println!();
    println!("Demo finished: the lead acknowledged the report, recorded a decision and closed it, and the reporter was told.");
    Ok(())
}

async fn conversation(
    staff: &Person,
    lead: &Person,
    names: &Names,
    bot_id: &str,
    staff_room: &RoomId,
) -> Result<()> {
    let bot_user = <&UserId>::try_from(bot_id).context("BOT_USER_ID is not a user id")?;
    staff
        .wait_for_member(staff_room, bot_user, "the bot to join the staff room")
        .await?;
    println!("The bot is in the staff room. The member of staff starts a report.");
    println!();
    let bot_said = |room: Option<&RoomId>, text: &str| {
        let room = room.map(|r| r.to_owned());
        let text = text.to_string();
        let bot = bot_id.to_string();
        move |m: &Msg| m.sender == bot && room.as_ref().is_none_or(|r| m.room == *r) && m.body.contains(&text)
    };

    staff.say(staff_room, "/report").await?;
    staff
        .wait_for(
            "the bot's notice in the staff room",
            bot_said(Some(staff_room), "private message"),
        )
        .await?;
    let first = staff
        .wait_for("the bot's first question", |m| {
            m.sender == bot_id && m.room != staff_room && m.body.contains("Is a crime in progress")
        })
        .await?;
    let private = first.room.clone();

    for (answer, expect) in script::REPORT {
        staff.say(&private, answer).await?;
        staff
            .wait_for(
                &format!("the bot's reply containing {expect:?}"),
                bot_said(Some(&private), expect),
            )
            .await?;
    }

    let page = lead
        .wait_for("the page to the lead", |m| {
            m.sender == bot_id && m.room != staff_room && m.body.contains("!ack")
        })
        .await?;
    let lead_room = lead.joined_room(&page.room).await?;
    // Let the record arrive before acknowledging, as a lead would read it.
    let _ = lead
        .wait_for("the record", bot_said(Some(&page.room), "Record the concern"))
        .await;
    lead_room
        .send(ReactionEventContent::new(Annotation::new(
            page.event_id.clone(),
            "✅".to_string(),
        )))
        .await
        .context("the lead reacting ✅")?;
    names.print(
        "lead's room",
        lead.client.user_id().map(|u| u.as_str()).unwrap_or("lead"),
        "reacts ✅ to the page",
    );
    lead.wait_for(
        "the bot to confirm the acknowledgement",
        bot_said(Some(&page.room), "acknowledged by"),
    )
    .await?;
    staff
        .wait_for(
            "the reporter to be told the report was acknowledged",
            bot_said(Some(&private), "has been acknowledged by"),
        )
        .await?;

    // The lead follows it up in the concern's room, then closes it.
    println!();
    println!("The lead follows the concern up in its room.");
    println!();
    for (command, expect) in script::FOLLOW_UP {
        lead.say(&page.room, command).await?;
        lead.wait_for(
            &format!("the bot's reply containing {expect:?}"),
            bot_said(Some(&page.room), expect),
        )
        .await?;
    }
    staff
        .wait_for(
            "the reporter to be told the report was closed",
            bot_said(Some(&private), "has been closed"),
        )
        .await?;
    if let Some(leads_room) = &names.leads_room {
        println!();
        println!("In the leads' room, the lead lists what is still open.");
        println!();
        lead.say(leads_room, "!list").await?;
        lead.wait_for(
            "the bot's list of open concerns",
            bot_said(Some(leads_room), "open concern"),
        )
        .await?;
    }
    Ok(())
}
