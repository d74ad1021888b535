//! Steps the Slack end-to-end stories share: waiting for what the bot
//! said, an urgent report, and stopping a bot started with
//! `safeguarding_bot::bot::host`.

use std::time::Duration;

use tokio::sync::watch;

use super::world::{LEAD, STAFF, STAFF_CHANNEL};
use super::{Channel, Message, SlackStandIn};
use crate::common;

/// How long a story waits for one thing the bot does.
pub const PATIENCE: Duration = Duration::from_secs(90);

/// A bot running on the stand-in: its stop switch and its task.
pub type Running = (watch::Sender<bool>, common::logs::BotTask<anyhow::Result<()>>);

pub fn text(m: &Message) -> String {
    m.text.clone().unwrap_or_default()
}

/// Waits for the bot to say `needle` in `channel`.
pub async fn said(standin: &SlackStandIn, channel: &str, needle: &str) -> Message {
    standin
        .eventually(PATIENCE, |st| {
            st.world
                .messages
                .iter()
                .find(|m| m.channel == channel && m.from_bot && text(m).contains(needle))
                .cloned()
        })
        .await
        .unwrap_or_else(|| {
            let seen: Vec<String> = standin.messages(channel).iter().map(text).collect();
            panic!("the bot did not say {needle:?} in {channel}; it said {seen:#?}")
        })
}

/// Stops the bot as SIGTERM would, and waits for it to finish cleanly.
pub async fn stop_bot((stop, task): Running) {
    let _ = stop.send(true);
    match tokio::time::timeout(Duration::from_secs(30), task).await {
        Ok(Ok(Ok(()))) => {}
        other => panic!("the bot did not stop cleanly: {other:?}"),
    }
}

/// An urgent report by the member of staff ("yes" to a crime in
/// progress); returns the concern's channel (with the lead in it) and the
/// lead's page.
pub async fn urgent_report(standin: &SlackStandIn) -> (Channel, Message) {
    standin.push_slash_command(STAFF, STAFF_CHANNEL, "");
    let dm = standin.dm_id(STAFF);
    said(standin, &dm, "Is a crime in progress").await;
    standin.post_user_message(STAFF, &dm, "yes");
    let channel = standin
        .eventually(PATIENCE, |st| {
            st.world
                .channel_named("sg-0001")
                .filter(|c| c.has_member(LEAD))
                .cloned()
        })
        .await
        .expect("the concern's channel, with the lead in it");
    let page = said(standin, &channel.id, "URGENT").await;
    (channel, page)
}
