//! The Slack stand-in (tests/it/common/slack) behaves as Slack does, as seen by
//! slack-morphism's real client and Socket Mode listener, the library the
//! Slack adapter is built on. Where slack-morphism does not show something
//! (headers, form bodies), a plain HTTP client looks at the raw answer.

use crate::common::slack;

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use hyper_util::client::legacy::connect::HttpConnector;
use serde_json::{json, Value};
use slack::{
    ChannelKind, Manifest, SlackStandIn, StandInOptions, BOT_ID, BOT_USER_ID, DELETED, DEPUTY, GUEST, LEAD,
    LEADS_CHANNEL, OTHER_BOT, OTHER_TEAM_ID, SHARED_CHANNEL, SINGLE_CHANNEL_GUEST, STAFF, STAFF_2,
    STAFF_CHANNEL, STRANGER, TEAM_ID,
};
use slack::{View, ViewAnswer};
use slack_morphism::errors::SlackClientError;
use slack_morphism::prelude::*;

type Connector = SlackClientHyperConnector<HttpConnector>;
type Client = SlackClient<Connector>;

/// How long to wait for anything the stand-in should see.
const PATIENCE: Duration = Duration::from_secs(10);

/// slack-morphism's client, over plain HTTP, pointed at the stand-in.
/// slack-morphism puts a `/` between the base URL and the method, so the
/// base goes without its final `/`.
fn client(standin: &SlackStandIn) -> Client {
    let api_url = standin.api_url();
    SlackClient::new(
        SlackClientHyperConnector::with_connector(HttpConnector::new())
            .with_slack_api_url(api_url.trim_end_matches('/')),
    )
}

fn token(value: &str) -> SlackApiToken {
    SlackApiToken::new(value.into())
}

/// The Slack error code of a failed call.
fn api_error<T: std::fmt::Debug>(result: ClientResult<T>) -> String {
    match result {
        Err(SlackClientError::ApiError(e)) => e.code,
        other => panic!("expected a Slack API error, got {other:?}"),
    }
}

fn api_error_body<T: std::fmt::Debug>(result: ClientResult<T>) -> Value {
    match result {
        Err(SlackClientError::ApiError(e)) => serde_json::from_str(
            e.http_response_body
                .as_deref()
                .expect("the error keeps the answer's body"),
        )
        .expect("the answer is JSON"),
        other => panic!("expected a Slack API error, got {other:?}"),
    }
}

fn text(t: &str) -> SlackMessageContent {
    SlackMessageContent::new().with_text(t.to_string())
}

// ---------------------------------------------------------------------------
// Web API
// ---------------------------------------------------------------------------

#[tokio::test]
async fn auth_test_works_with_the_bot_token_and_fails_with_any_other() {
    let standin = SlackStandIn::start_default().await;
    let client = client(&standin);

    let me = client
        .open_session(&token(&standin.bot_token()))
        .auth_test()
        .await
        .expect("auth.test with the bot token");
    assert_eq!(me.user_id.0, BOT_USER_ID);
    assert_eq!(me.team_id.0, TEAM_ID);
    assert_eq!(me.bot_id.map(|b| b.0).as_deref(), Some(BOT_ID));

    let wrong = client
        .open_session(&token("xoxb-not-the-bot-token"))
        .auth_test()
        .await;
    assert_eq!(api_error(wrong), "invalid_auth");

    let app_token = client
        .open_session(&token(&standin.app_token()))
        .auth_test()
        .await;
    assert_eq!(api_error(app_token), "not_allowed_token_type");
}

#[tokio::test]
async fn apps_connections_open_takes_only_the_app_token() {
    let standin = SlackStandIn::start_default().await;
    let client = client(&standin);

    let bot = client
        .open_session(&token(&standin.bot_token()))
        .apps_connections_open(&SlackApiAppsConnectionOpenRequest::new())
        .await;
    assert_eq!(api_error(bot), "not_allowed_token_type");
    let wrong = client
        .open_session(&token("xapp-1-wrong"))
        .apps_connections_open(&SlackApiAppsConnectionOpenRequest::new())
        .await;
    assert_eq!(api_error(wrong), "invalid_auth");

    let opened = client
        .open_session(&token(&standin.app_token()))
        .apps_connections_open(&SlackApiAppsConnectionOpenRequest::new())
        .await
        .expect("apps.connections.open with the app token");
    let url = opened.url.0.to_string();
    assert!(
        url.starts_with(&format!("ws://{}/socket?ticket=", standin.addr())),
        "{url}"
    );
    assert_eq!(standin.connections_opened(), 1);
}

#[tokio::test]
async fn conversations_create_makes_a_private_channel_then_says_name_taken() {
    let standin = SlackStandIn::start_default().await;
    let client = client(&standin);
    let bot_token = token(&standin.bot_token());
    let session = client.open_session(&bot_token);

    let created = session
        .conversations_create(
            &SlackApiConversationsCreateRequest::new("sg-0042".into()).with_is_private(true),
        )
        .await
        .expect("conversations.create");
    let id = created.channel.id.0.clone();
    assert!(id.starts_with('C'), "{id}");
    assert_eq!(created.channel.flags.is_private, Some(true));
    assert_eq!(created.channel.name.as_deref(), Some("sg-0042"));

    let again = session
        .conversations_create(
            &SlackApiConversationsCreateRequest::new("sg-0042".into()).with_is_private(true),
        )
        .await;
    assert_eq!(api_error(again), "name_taken");

    for (name, error) in [
        ("SG 42!", "invalid_name_specials"),
        ("---", "invalid_name_punctuation"),
        (&"a".repeat(81), "invalid_name_maxlength"),
    ] {
        let bad = session
            .conversations_create(
                &SlackApiConversationsCreateRequest::new(name.to_string()).with_is_private(true),
            )
            .await;
        assert_eq!(api_error(bad), error, "name {name:?}");
    }

    let channel = standin.channel(&id).expect("the stand-in keeps the channel");
    assert_eq!(channel.kind, ChannelKind::Private);
    assert_eq!(channel.members, vec![BOT_USER_ID.to_string()]);
    assert_eq!(
        standin
            .channels()
            .iter()
            .filter(|c| c.name.as_deref() == Some("sg-0042"))
            .count(),
        1
    );
}

#[tokio::test]
async fn post_message_is_recorded_and_answers_its_ts() {
    let standin = SlackStandIn::start_default().await;
    let client = client(&standin);
    let bot_token = token(&standin.bot_token());
    let session = client.open_session(&bot_token);

    let dm = session
        .conversations_open(&SlackApiConversationsOpenRequest::new().with_users(vec![STAFF.into()]))
        .await
        .expect("conversations.open");
    let dm_id = dm.channel.id.0.clone();
    assert!(dm_id.starts_with('D'), "{dm_id}");
    assert_eq!(standin.dm_id(STAFF), dm_id, "the DM id is stable");
    let reopened = session
        .conversations_open(&SlackApiConversationsOpenRequest::new().with_users(vec![STAFF.into()]))
        .await
        .expect("conversations.open again");
    assert_eq!(reopened.channel.id.0, dm_id);
    assert_eq!(reopened.already_open, Some(true));

    let posted = session
        .chat_post_message(&SlackApiChatPostMessageRequest::new(
            dm_id.clone().into(),
            text("I've messaged you privately."),
        ))
        .await
        .expect("chat.postMessage");
    assert_eq!(posted.channel.0, dm_id);
    let messages = standin.messages(&dm_id);
    assert_eq!(messages.len(), 1);
    assert_eq!(messages[0].ts, posted.ts.0);
    assert_eq!(messages[0].text.as_deref(), Some("I've messaged you privately."));
    assert_eq!(posted.message.sender.bot_id.map(|b| b.0).as_deref(), Some(BOT_ID));

    let second = session
        .chat_post_message(&SlackApiChatPostMessageRequest::new(
            dm_id.clone().into(),
            text("second"),
        ))
        .await
        .expect("a second chat.postMessage");
    assert!(second.ts.0 > posted.ts.0, "ts increases");

    // What Slack refuses.
    let too_long = session
        .chat_post_message(&SlackApiChatPostMessageRequest::new(
            dm_id.clone().into(),
            text(&"x".repeat(40_001)),
        ))
        .await;
    assert_eq!(api_error(too_long), "msg_too_long");
    let blocks: Vec<SlackBlock> = (0..51)
        .map(|i| SlackSectionBlock::new().with_text(md!("block {}", i)).into())
        .collect();
    let too_many_blocks = session
        .chat_post_message(&SlackApiChatPostMessageRequest::new(
            dm_id.clone().into(),
            SlackMessageContent::new()
                .with_text("blocks".into())
                .with_blocks(blocks),
        ))
        .await;
    assert_eq!(api_error(too_many_blocks), "invalid_blocks");
    let hidden = standin.add_channel("private-elsewhere", ChannelKind::Private, &[LEAD]);
    let not_visible = session
        .chat_post_message(&SlackApiChatPostMessageRequest::new(hidden.into(), text("hello")))
        .await;
    assert_eq!(api_error(not_visible), "channel_not_found");
    let public = standin.add_channel("random", ChannelKind::Public, &[LEAD]);
    let not_member = session
        .chat_post_message(&SlackApiChatPostMessageRequest::new(public.into(), text("hello")))
        .await;
    assert_eq!(api_error(not_member), "not_in_channel");
    assert_eq!(standin.messages(&dm_id).len(), 2, "refused posts are not kept");
}

#[tokio::test]
async fn a_429_carries_retry_after_and_slack_morphism_reports_a_rate_limit() {
    let standin = SlackStandIn::start_default().await;
    let client = client(&standin);
    let bot_token = token(&standin.bot_token());
    let session = client.open_session(&bot_token);

    standin.rate_limit_next("chat.postMessage", 1, 7);
    let limited = session
        .chat_post_message(&SlackApiChatPostMessageRequest::new(
            STAFF_CHANNEL.into(),
            text("hello"),
        ))
        .await;
    match limited {
        Err(SlackClientError::RateLimitError(e)) => {
            assert_eq!(e.retry_after, Some(Duration::from_secs(7)));
            assert_eq!(e.code.as_deref(), Some("ratelimited"));
        }
        other => panic!("expected a rate limit error, got {other:?}"),
    }
    session
        .chat_post_message(&SlackApiChatPostMessageRequest::new(
            STAFF_CHANNEL.into(),
            text("hello again"),
        ))
        .await
        .expect("the next call goes through");
    assert_eq!(standin.messages(STAFF_CHANNEL).len(), 1);
    let statuses: Vec<u16> = standin
        .calls_to("chat.postMessage")
        .iter()
        .map(|c| c.status)
        .collect();
    assert_eq!(statuses, vec![429, 200]);
}

#[tokio::test]
async fn a_burst_of_posts_to_one_channel_is_paced_and_timed() {
    let standin = SlackStandIn::start_default().await;
    let client = client(&standin);
    let bot_token = token(&standin.bot_token());
    let session = client.open_session(&bot_token);
    standin.limit_post_burst(3, Duration::from_secs(1));

    let mut refused = 0;
    for i in 0..5 {
        let result = session
            .chat_post_message(&SlackApiChatPostMessageRequest::new(
                STAFF_CHANNEL.into(),
                text(&format!("message {i}")),
            ))
            .await;
        if let Err(SlackClientError::RateLimitError(e)) = result {
            assert_eq!(e.retry_after, Some(Duration::from_secs(1)));
            refused += 1;
        }
    }
    assert_eq!(refused, 2, "posts past the burst get a 429");
    assert_eq!(standin.post_times(STAFF_CHANNEL).len(), 3);
    assert_eq!(
        standin.most_posts_within(STAFF_CHANNEL, Duration::from_secs(1)),
        3
    );
    // Another channel has its own allowance.
    session
        .chat_post_message(&SlackApiChatPostMessageRequest::new(
            LEADS_CHANNEL.into(),
            text("elsewhere"),
        ))
        .await
        .expect("another channel is not limited");
}

#[tokio::test]
async fn missing_scope_names_what_is_needed_and_what_is_granted() {
    let standin = SlackStandIn::start(StandInOptions {
        manifest: Manifest::from_repo().without_scope("groups:write"),
        ..StandInOptions::default()
    })
    .await;
    let client = client(&standin);
    let bot_token = token(&standin.bot_token());
    let session = client.open_session(&bot_token);

    let result = session
        .conversations_create(
            &SlackApiConversationsCreateRequest::new("sg-0001".into()).with_is_private(true),
        )
        .await;
    let body = api_error_body(result);
    assert_eq!(body["error"], "missing_scope");
    assert_eq!(body["needed"], "groups:write");
    let provided = body["provided"].as_str().expect("provided is a string");
    assert!(provided.contains("chat:write"), "{provided}");
    assert!(!provided.split(',').any(|s| s == "groups:write"), "{provided}");
    assert!(standin.channel_named("sg-0001").is_none(), "nothing was created");

    // Scopes the manifest does not have at all: conversations.info on a
    // direct message needs im:read.
    let dm = standin.dm_id(STAFF);
    let info = session
        .conversations_info(&SlackApiConversationsInfoRequest::new(dm.into()))
        .await;
    assert_eq!(api_error_body(info)["needed"], "im:read");
}

#[tokio::test]
async fn injected_errors_answer_the_next_calls_only() {
    let standin = SlackStandIn::start_default().await;
    let client = client(&standin);
    let bot_token = token(&standin.bot_token());
    let session = client.open_session(&bot_token);
    let create = SlackApiConversationsCreateRequest::new("sg-0007".into()).with_is_private(true);

    standin.fail_next("conversations.create", 1, "restricted_action");
    assert_eq!(
        api_error(session.conversations_create(&create).await),
        "restricted_action"
    );
    standin.fail_next("conversations.create", 1, "missing_scope");
    let body = api_error_body(session.conversations_create(&create).await);
    assert_eq!(body["needed"], "groups:write");
    session
        .conversations_create(&create)
        .await
        .expect("the third call goes through");
}

#[tokio::test]
async fn invite_members_kick_and_archive_a_concern_channel() {
    let standin = SlackStandIn::start_default().await;
    let client = client(&standin);
    let bot_token = token(&standin.bot_token());
    let session = client.open_session(&bot_token);
    let channel: SlackChannelId = session
        .conversations_create(
            &SlackApiConversationsCreateRequest::new("sg-0010".into()).with_is_private(true),
        )
        .await
        .expect("conversations.create")
        .channel
        .id;

    let invited = session
        .conversations_invite(&SlackApiConversationsInviteRequest::new(
            channel.clone(),
            vec![LEAD.into(), DEPUTY.into()],
        ))
        .await
        .expect("conversations.invite");
    assert_eq!(invited.channel.id, channel);
    for (users, error) in [
        (vec![LEAD], "already_in_channel"),
        (vec![BOT_USER_ID], "cant_invite_self"),
        (vec!["U0NOBODY00"], "user_not_found"),
        (vec![STRANGER], "cant_invite"),
        (vec![SINGLE_CHANNEL_GUEST], "ura_max_channels"),
    ] {
        standin.add_to_channel(SINGLE_CHANNEL_GUEST, STAFF_CHANNEL, None);
        let result = session
            .conversations_invite(&SlackApiConversationsInviteRequest::new(
                channel.clone(),
                users.iter().map(|u| (*u).into()).collect(),
            ))
            .await;
        let body = api_error_body(result);
        assert_eq!(body["error"], error, "inviting {users:?}");
        assert_eq!(body["errors"][0]["user"], users[0]);
    }
    // One failure stops the whole invite.
    let mixed = session
        .conversations_invite(&SlackApiConversationsInviteRequest::new(
            channel.clone(),
            vec![STAFF.into(), LEAD.into()],
        ))
        .await;
    assert_eq!(api_error(mixed), "already_in_channel");
    assert!(!standin.members(&channel.0).contains(&STAFF.to_string()));

    // Members, two at a time.
    let mut members = Vec::new();
    let mut cursor: Option<SlackCursorId> = None;
    let mut pages = 0;
    loop {
        let mut request = SlackApiConversationsMembersRequest::new()
            .with_channel(channel.clone())
            .with_limit(2);
        if let Some(cursor) = cursor.take() {
            request = request.with_cursor(cursor);
        }
        let page = session
            .conversations_members(&request)
            .await
            .expect("conversations.members");
        pages += 1;
        members.extend(page.members.into_iter().map(|m| m.0));
        match page.response_metadata.and_then(|m| m.next_cursor) {
            Some(next) if !next.0.is_empty() => cursor = Some(next),
            _ => break,
        }
    }
    assert_eq!(pages, 2);
    assert_eq!(members, vec![BOT_USER_ID, LEAD, DEPUTY]);

    // conversations.kick answers `"errors": {}` as Slack's docs show; the
    // test reads it raw first, then through slack-morphism.
    let raw = reqwest::Client::new()
        .post(format!("{}conversations.kick", standin.api_url()))
        .bearer_auth(standin.bot_token())
        .json(&json!({ "channel": channel.0, "user": DEPUTY }))
        .send()
        .await
        .expect("kick over plain HTTP")
        .json::<Value>()
        .await
        .expect("kick answers JSON");
    assert_eq!(raw, json!({ "ok": true, "errors": {} }));
    assert!(!standin.members(&channel.0).contains(&DEPUTY.to_string()));
    // slack-morphism reads `errors` as a list, so it cannot read this
    // answer: the kick happens, but the call reports a protocol error. The
    // adapter must treat that as done (or call the method raw).
    let kicked = session
        .conversations_kick(&SlackApiConversationsKickRequest::new(
            channel.clone(),
            LEAD.into(),
        ))
        .await;
    assert!(
        matches!(kicked, Err(SlackClientError::ProtocolError(_))),
        "{kicked:?}"
    );
    assert!(!standin.members(&channel.0).contains(&LEAD.to_string()));
    let again = session
        .conversations_kick(&SlackApiConversationsKickRequest::new(
            channel.clone(),
            LEAD.into(),
        ))
        .await;
    assert_eq!(api_error(again), "not_in_channel");

    session
        .conversations_archive(&SlackApiConversationsArchiveRequest::new(channel.clone()))
        .await
        .expect("conversations.archive");
    assert!(standin.channel(&channel.0).expect("still there").archived);
    let post = session
        .chat_post_message(&SlackApiChatPostMessageRequest::new(
            channel.clone(),
            text("too late"),
        ))
        .await;
    assert_eq!(api_error(post), "is_archived");
    let archive_again = session
        .conversations_archive(&SlackApiConversationsArchiveRequest::new(channel))
        .await;
    assert_eq!(api_error(archive_again), "already_archived");
}

#[tokio::test]
async fn users_info_tells_members_guests_strangers_deleted_and_bots_apart() {
    let standin = SlackStandIn::start_default().await;
    let client = client(&standin);
    let bot_token = token(&standin.bot_token());
    let session = client.open_session(&bot_token);
    let info = |user: &'static str| {
        let session = &session;
        async move {
            session
                .users_info(&SlackApiUsersInfoRequest::new(user.into()))
                .await
                .unwrap_or_else(|e| panic!("users.info {user}: {e}"))
                .user
        }
    };

    let staff = info(STAFF).await;
    assert_eq!(staff.team_id.map(|t| t.0).as_deref(), Some(TEAM_ID));
    assert_eq!(staff.flags.is_restricted, Some(false));
    assert_eq!(staff.flags.is_bot, Some(false));
    assert_eq!(staff.deleted, Some(false));

    let guest = info(GUEST).await;
    assert_eq!(guest.flags.is_restricted, Some(true));
    assert_eq!(guest.flags.is_ultra_restricted, Some(false));
    let single = info(SINGLE_CHANNEL_GUEST).await;
    assert_eq!(single.flags.is_restricted, Some(true));
    assert_eq!(single.flags.is_ultra_restricted, Some(true));

    let stranger = info(STRANGER).await;
    assert_eq!(stranger.team_id.map(|t| t.0).as_deref(), Some(OTHER_TEAM_ID));
    assert_eq!(stranger.flags.is_stranger, Some(true));

    assert_eq!(info(DELETED).await.deleted, Some(true));
    assert_eq!(info(OTHER_BOT).await.flags.is_bot, Some(true));

    let nobody = session
        .users_info(&SlackApiUsersInfoRequest::new("U0NOBODY00".into()))
        .await;
    assert_eq!(api_error(nobody), "user_not_found");
}

#[tokio::test]
async fn conversations_info_shows_shared_private_and_direct_channels() {
    let standin = SlackStandIn::start_default().await;
    let client = client(&standin);
    let bot_token = token(&standin.bot_token());
    let session = client.open_session(&bot_token);
    let raw_info = |channel: &'static str| {
        let session = &session;
        async move {
            session
                .http_session_api
                .http_get::<Value, _, _>(
                    "conversations.info",
                    &vec![("channel", Some(&channel.to_string()))],
                    None,
                )
                .await
                .unwrap_or_else(|e| panic!("conversations.info {channel}: {e}"))
        }
    };

    let shared = raw_info(SHARED_CHANNEL).await;
    assert_eq!(shared["channel"]["is_ext_shared"], true);
    assert_eq!(shared["channel"]["is_private"], false);
    let staff = raw_info(STAFF_CHANNEL).await;
    assert_eq!(staff["channel"]["is_ext_shared"], false);
    let leads = session
        .conversations_info(&SlackApiConversationsInfoRequest::new(LEADS_CHANNEL.into()))
        .await
        .expect("conversations.info");
    assert_eq!(leads.channel.flags.is_private, Some(true));
    assert_eq!(leads.channel.flags.is_im, Some(false));

    let hidden = standin.add_channel("secret", ChannelKind::Private, &[LEAD]);
    let not_visible = session
        .conversations_info(&SlackApiConversationsInfoRequest::new(hidden.into()))
        .await;
    assert_eq!(api_error(not_visible), "channel_not_found");
}

#[tokio::test]
async fn chat_update_and_delete_touch_only_the_bots_own_messages() {
    let standin = SlackStandIn::start_default().await;
    let client = client(&standin);
    let bot_token = token(&standin.bot_token());
    let session = client.open_session(&bot_token);

    let posted = session
        .chat_post_message(&SlackApiChatPostMessageRequest::new(
            LEADS_CHANNEL.into(),
            text("New concern"),
        ))
        .await
        .expect("chat.postMessage");
    let updated = session
        .chat_update(&SlackApiChatUpdateRequest::new(
            LEADS_CHANNEL.into(),
            text("New concern (acknowledged)"),
            posted.ts.clone(),
        ))
        .await
        .expect("chat.update");
    assert_eq!(updated.ts, posted.ts);
    assert_eq!(
        standin.messages(LEADS_CHANNEL)[0].text.as_deref(),
        Some("New concern (acknowledged)")
    );

    let theirs = standin
        .post_user_message(LEAD, LEADS_CHANNEL, "!ack")
        .ts
        .expect("a ts");
    let cant_update = session
        .chat_update(&SlackApiChatUpdateRequest::new(
            LEADS_CHANNEL.into(),
            text("edited"),
            theirs.clone().into(),
        ))
        .await;
    assert_eq!(api_error(cant_update), "cant_update_message");
    let cant_delete = session
        .chat_delete(&SlackApiChatDeleteRequest::new(
            LEADS_CHANNEL.into(),
            theirs.into(),
        ))
        .await;
    assert_eq!(api_error(cant_delete), "cant_delete_message");

    session
        .chat_delete(&SlackApiChatDeleteRequest::new(
            LEADS_CHANNEL.into(),
            posted.ts.clone(),
        ))
        .await
        .expect("chat.delete of the bot's own message");
    assert_eq!(standin.messages(LEADS_CHANNEL).len(), 1, "the lead's stays");
    assert_eq!(standin.deleted_messages()[0].ts, posted.ts.0);
    let gone = session
        .chat_delete(&SlackApiChatDeleteRequest::new(LEADS_CHANNEL.into(), posted.ts))
        .await;
    assert_eq!(api_error(gone), "message_not_found");
}

#[tokio::test]
async fn a_file_upload_goes_url_bytes_complete() {
    let standin = SlackStandIn::start_default().await;
    let client = client(&standin);
    let bot_token = token(&standin.bot_token());
    let session = client.open_session(&bot_token);
    let pdf = b"%PDF-1.7 not really".to_vec();

    let url = session
        .get_upload_url_external(&SlackApiFilesGetUploadUrlExternalRequest::new(
            "sg-0042.pdf".into(),
            pdf.len(),
        ))
        .await
        .expect("files.getUploadURLExternal");
    assert!(url.file_id.0.starts_with('F'));
    assert!(url.upload_url.0.as_str().starts_with(&standin.base_url()));

    // Completing before the bytes arrive is refused.
    let early = session
        .files_complete_upload_external(&SlackApiFilesCompleteUploadExternalRequest::new(vec![
            SlackApiFilesComplete::new(url.file_id.clone()),
        ]))
        .await;
    assert_eq!(api_error(early), "file_not_found");

    session
        .files_upload_via_url(&SlackApiFilesUploadViaUrlRequest::new(
            url.upload_url.clone(),
            pdf.clone(),
            "application/pdf".into(),
        ))
        .await
        .expect("the POST to the upload URL");
    let done = session
        .files_complete_upload_external(
            &SlackApiFilesCompleteUploadExternalRequest::new(vec![SlackApiFilesComplete::new(
                url.file_id.clone(),
            )
            .with_title("Concern sg-0042".into())])
            .with_channel_id(LEADS_CHANNEL.into())
            .with_initial_comment("Export of sg-0042".into()),
        )
        .await
        .expect("files.completeUploadExternal");
    assert_eq!(done.files[0].id, url.file_id);
    assert_eq!(done.files[0].title.as_deref(), Some("Concern sg-0042"));

    let file = &standin.files()[0];
    assert_eq!(file.bytes.as_deref(), Some(pdf.as_slice()));
    assert_eq!(file.channel.as_deref(), Some(LEADS_CHANNEL));
    let shared = &standin.messages(LEADS_CHANNEL)[0];
    assert_eq!(shared.files, vec![url.file_id.0.clone()]);
    assert_eq!(shared.text.as_deref(), Some("Export of sg-0042"));

    let hidden = standin.add_channel("secret", ChannelKind::Private, &[LEAD]);
    let url2 = session
        .get_upload_url_external(&SlackApiFilesGetUploadUrlExternalRequest::new("b.pdf".into(), 3))
        .await
        .expect("files.getUploadURLExternal");
    session
        .files_upload_via_url(&SlackApiFilesUploadViaUrlRequest::new(
            url2.upload_url,
            b"abc".to_vec(),
            "application/pdf".into(),
        ))
        .await
        .expect("upload");
    let elsewhere = session
        .files_complete_upload_external(
            &SlackApiFilesCompleteUploadExternalRequest::new(vec![SlackApiFilesComplete::new(url2.file_id)])
                .with_channel_id(hidden.into()),
        )
        .await;
    assert_eq!(api_error(elsewhere), "invalid_channel");
}

/// Uploads `data` as `name` to `channel`, with `comment` as its message.
async fn upload_to(
    session: &SlackClientSession<'_, Connector>,
    name: &str,
    channel: &str,
    comment: Option<&str>,
) -> String {
    let url = session
        .get_upload_url_external(&SlackApiFilesGetUploadUrlExternalRequest::new(name.into(), 3))
        .await
        .expect("files.getUploadURLExternal");
    session
        .files_upload_via_url(&SlackApiFilesUploadViaUrlRequest::new(
            url.upload_url,
            b"abc".to_vec(),
            "application/pdf".into(),
        ))
        .await
        .expect("upload");
    let mut complete = SlackApiFilesCompleteUploadExternalRequest::new(vec![SlackApiFilesComplete::new(
        url.file_id.clone(),
    )])
    .with_channel_id(channel.into());
    if let Some(comment) = comment {
        complete = complete.with_initial_comment(comment.into());
    }
    session
        .files_complete_upload_external(&complete)
        .await
        .expect("files.completeUploadExternal");
    url.file_id.0
}

#[tokio::test]
async fn files_delete_removes_the_file_and_a_message_that_only_shared_it() {
    let standin = SlackStandIn::start_default().await;
    let client = client(&standin);
    let bot_token = token(&standin.bot_token());
    let session = client.open_session(&bot_token);
    let alone = upload_to(&session, "a.pdf", LEADS_CHANNEL, None).await;
    let with_words = upload_to(&session, "b.pdf", LEADS_CHANNEL, Some("Export of sg-0042")).await;
    assert_eq!(standin.messages(LEADS_CHANNEL).len(), 2);

    let http = reqwest::Client::new();
    let delete = |file: String| {
        let request = http
            .post(format!("{}files.delete", standin.api_url()))
            .bearer_auth(standin.bot_token())
            .json(&json!({ "file": file }));
        async move {
            let answer: Value = request
                .send()
                .await
                .expect("files.delete")
                .json()
                .await
                .expect("JSON");
            answer
        }
    };
    assert_eq!(delete(alone.clone()).await, json!({ "ok": true }));
    assert_eq!(delete(alone.clone()).await["error"], "file_deleted");
    assert_eq!(delete("F0NOSUCH01".into()).await["error"], "file_not_found");
    delete(with_words.clone()).await;

    assert!(standin.files().is_empty(), "both files are gone");
    let left = standin.messages(LEADS_CHANNEL);
    assert_eq!(left.len(), 1, "the message that only shared a file goes with it");
    assert_eq!(left[0].text.as_deref(), Some("Export of sg-0042"));
    assert!(left[0].files.is_empty());
}

#[tokio::test]
async fn form_bodies_work_and_json_is_ignored_where_slack_ignores_it() {
    let standin = SlackStandIn::start_default().await;
    let http = reqwest::Client::new();
    let api = standin.api_url();

    // A form body with the token as a parameter, as Slack accepts.
    let form = http
        .post(format!("{api}chat.postMessage"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(format!(
            "token={}&channel={STAFF_CHANNEL}&text=hello%20there",
            standin.bot_token()
        ))
        .send()
        .await
        .expect("a form POST");
    assert!(form.headers().contains_key("x-oauth-scopes"));
    assert_eq!(
        form.headers()
            .get("x-accepted-oauth-scopes")
            .and_then(|v| v.to_str().ok()),
        Some("chat:write")
    );
    let answer: Value = form.json().await.expect("JSON");
    assert_eq!(answer["ok"], true, "{answer}");
    assert_eq!(
        standin.messages(STAFF_CHANNEL)[0].text.as_deref(),
        Some("hello there")
    );

    // users.info reads only form or query parameters: a JSON body is not
    // read, so the user is missing.
    let json_body: Value = http
        .post(format!("{api}users.info"))
        .bearer_auth(standin.bot_token())
        .json(&json!({ "user": STAFF }))
        .send()
        .await
        .expect("a JSON POST")
        .json()
        .await
        .expect("JSON");
    assert_eq!(json_body["error"], "user_not_found");

    let no_token: Value = http
        .post(format!("{api}auth.test"))
        .send()
        .await
        .expect("a POST")
        .json()
        .await
        .expect("JSON");
    assert_eq!(no_token["error"], "not_authed");
    let unknown: Value = http
        .post(format!("{api}chat.fly"))
        .bearer_auth(standin.bot_token())
        .send()
        .await
        .expect("a POST")
        .json()
        .await
        .expect("JSON");
    assert_eq!(unknown["error"], "unknown_method");
}

#[tokio::test]
async fn slow_answers_are_slow() {
    let standin = SlackStandIn::start_default().await;
    let client = client(&standin);
    let bot_token = token(&standin.bot_token());
    standin.delay("auth.test", Duration::from_millis(400));
    let started = Instant::now();
    client
        .open_session(&bot_token)
        .auth_test()
        .await
        .expect("auth.test");
    assert!(started.elapsed() >= Duration::from_millis(400));
}

#[test]
fn the_manifest_parses_and_covers_every_method_the_standin_serves() {
    let manifest = Manifest::from_repo();
    assert!(manifest.socket_mode, "Socket Mode is on");
    assert!(manifest.interactivity, "interactivity is on");
    assert_eq!(manifest.slash_commands, vec!["/report"]);
    for event in [
        "message.im",
        "message.groups",
        "app_mention",
        "reaction_added",
        "member_joined_channel",
        "member_left_channel",
    ] {
        assert!(manifest.subscribes_to(event), "{event}");
    }
    // Each method as the adapter uses it: concern channels are private, the
    // staff channel is public and only read.
    use ChannelKind::{Private, Public};
    let uses: &[(&str, &[ChannelKind])] = &[
        ("conversations.create", &[Private]),
        ("conversations.invite", &[Private]),
        ("conversations.kick", &[Private]),
        ("conversations.archive", &[Private]),
        ("conversations.members", &[Public, Private]),
        ("conversations.info", &[Public, Private]),
    ];
    for method in slack::web_api::METHODS {
        let kinds: Vec<Option<ChannelKind>> = match uses.iter().find(|(m, _)| m == method) {
            Some((_, kinds)) => kinds.iter().copied().map(Some).collect(),
            None => vec![None],
        };
        for kind in kinds {
            if let Some(scope) = slack::manifest::scope_for(method, kind) {
                assert!(manifest.has_scope(scope), "{method} on {kind:?} needs {scope}");
            }
        }
    }
}

// ---------------------------------------------------------------------------
// Socket Mode
// ---------------------------------------------------------------------------

/// What the listener's callbacks saw.
#[derive(Default)]
struct Recorder {
    commands: Mutex<Vec<SlackCommandEvent>>,
    events: Mutex<Vec<SlackPushEventCallback>>,
    interactions: Mutex<Vec<SlackInteractionEvent>>,
    /// `hello` messages as slack-morphism read them: app id and
    /// `num_connections`.
    hellos: Mutex<Vec<(String, u32)>>,
    /// The next this many push events fail, so they are not acknowledged.
    fail_events: AtomicU32,
    /// What to answer the next interactions with, in their acknowledgement
    /// (a `response_action` for a view submission); a bare acknowledgement
    /// when empty.
    interaction_answers: Mutex<VecDeque<SlackInteractionResponse>>,
    /// How long the interaction callback takes, in milliseconds.
    interaction_delay_ms: AtomicU64,
}

impl Recorder {
    fn events(&self) -> Vec<SlackPushEventCallback> {
        self.events.lock().expect("not poisoned").clone()
    }
}

async fn recorder(state: &SlackClientEventsUserState) -> Arc<Recorder> {
    state
        .read()
        .await
        .get_user_state::<Arc<Recorder>>()
        .expect("the recorder is in the user state")
        .clone()
}

async fn on_command(
    event: SlackCommandEvent,
    _client: Arc<Client>,
    state: SlackClientEventsUserState,
) -> UserCallbackResult<SlackCommandEventResponse> {
    recorder(&state)
        .await
        .commands
        .lock()
        .expect("not poisoned")
        .push(event);
    Ok(
        SlackCommandEventResponse::new(text("I've messaged you privately."))
            .with_response_type(SlackMessageResponseType::Ephemeral),
    )
}

async fn on_push(
    event: SlackPushEventCallback,
    _client: Arc<Client>,
    state: SlackClientEventsUserState,
) -> UserCallbackResult<()> {
    let recorder = recorder(&state).await;
    recorder.events.lock().expect("not poisoned").push(event);
    let fail = recorder
        .fail_events
        .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
        .is_ok();
    if fail {
        return Err("not kept this time".into());
    }
    Ok(())
}

async fn on_interaction(
    event: SlackInteractionEvent,
    _client: Arc<Client>,
    state: SlackClientEventsUserState,
) -> UserCallbackResult<SlackInteractionResponse> {
    let recorder = recorder(&state).await;
    let delay = recorder.interaction_delay_ms.load(Ordering::SeqCst);
    tokio::time::sleep(Duration::from_millis(delay)).await;
    recorder.interactions.lock().expect("not poisoned").push(event);
    let answer = recorder
        .interaction_answers
        .lock()
        .expect("not poisoned")
        .pop_front();
    Ok(answer.unwrap_or(SlackInteractionResponse::Empty))
}

/// A failed callback is not acknowledged, so Slack sends the envelope again.
fn on_error(
    _err: Box<dyn std::error::Error + Send + Sync>,
    _client: Arc<Client>,
    _state: SlackClientEventsUserState,
) -> HttpStatusCode {
    HttpStatusCode::INTERNAL_SERVER_ERROR
}

/// slack-morphism's Socket Mode listener, connected to the stand-in (one
/// socket; `serve()` is not used because it installs signal handlers).
async fn listen(standin: &SlackStandIn, seen: Arc<Recorder>) -> SlackClientSocketModeListener<Connector> {
    let callbacks = SlackSocketModeListenerCallbacks::new()
        // slack-morphism's hello type is not exported under any public
        // path, so this callback is a closure whose argument type is
        // inferred.
        .with_hello_events(|hello, _client, state| async move {
            recorder(&state)
                .await
                .hellos
                .lock()
                .expect("not poisoned")
                .push((hello.connection_info.app_id.0.clone(), hello.num_connections));
        })
        .with_command_events(on_command)
        .with_push_events(on_push)
        .with_interaction_events(on_interaction);
    let environment = Arc::new(
        SlackClientEventsListenerEnvironment::new(Arc::new(client(standin)))
            .with_user_state(seen)
            .with_error_handler(on_error),
    );
    let listener = SlackClientSocketModeListener::new(
        &SlackClientSocketModeConfig::new()
            .with_max_connections_count(1)
            .with_reconnect_timeout_in_seconds(1),
        environment,
        callbacks,
    );
    listener
        .listen_for(&token(&standin.app_token()))
        .await
        .expect("listen_for");
    listener.start().await;
    assert!(
        standin.wait_for_socket(PATIENCE).await,
        "the listener connects to the stand-in"
    );
    listener
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slash_command_reaches_the_listener_and_is_acked_within_three_seconds() {
    let standin = SlackStandIn::start_default().await;
    let seen = Arc::new(Recorder::default());
    let listener = listen(&standin, seen.clone()).await;

    // The socket is open before slack-morphism has read the hello on it.
    let started = Instant::now();
    let hellos = loop {
        let hellos = seen.hellos.lock().expect("not poisoned").clone();
        if !hellos.is_empty() || started.elapsed() > PATIENCE {
            break hellos;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    };
    assert_eq!(hellos.len(), 1, "slack-morphism read the hello");
    assert_eq!(hellos[0], (slack::APP_ID.to_string(), 1));

    let command = standin.push_slash_command(STAFF, STAFF_CHANNEL, "");
    let latency = standin
        .wait_for_ack(&command.envelope_id, PATIENCE)
        .await
        .expect("the slash command is acknowledged");
    assert!(latency < Duration::from_secs(3), "acked after {latency:?}");
    assert!(standin.late_or_missing_acks().is_empty());

    let commands = seen.commands.lock().expect("not poisoned").clone();
    assert_eq!(commands.len(), 1);
    let received = &commands[0];
    assert_eq!(received.command.0, "/report");
    assert_eq!(received.user_id.0, STAFF);
    assert_eq!(received.channel_id.0, STAFF_CHANNEL);
    assert_eq!(received.team_id.0, TEAM_ID);
    assert_eq!(received.response_url.0.as_str(), command.response_url);
    assert_eq!(received.trigger_id.0, command.trigger_id);

    // The reply in the acknowledgement is ephemeral.
    let replies = standin.replies();
    assert_eq!(replies.len(), 1);
    assert!(replies[0].is_ephemeral());
    assert_eq!(replies[0].text(), "I've messaged you privately.");
    assert!(
        standin.messages(STAFF_CHANNEL).is_empty(),
        "nothing posted in the staff channel"
    );
    listener.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_response_url_takes_five_replies_in_thirty_minutes() {
    let standin = SlackStandIn::start_default().await;
    let seen = Arc::new(Recorder::default());
    let listener = listen(&standin, seen.clone()).await;
    let command = standin.push_slash_command(STAFF, STAFF_CHANNEL, "");
    standin
        .wait_for_ack(&command.envelope_id, PATIENCE)
        .await
        .expect("acknowledged");

    let client = client(&standin);
    let response_url = SlackResponseUrl::new(command.response_url.parse().expect("a URL"));
    for i in 0..6 {
        let result = client
            .respond_to_event(
                &response_url,
                &SlackApiPostWebhookMessageRequest::new(text(&format!("reply {i}"))),
            )
            .await;
        assert_eq!(result.is_ok(), i < 5, "reply {i}: {result:?}");
    }
    let replies = standin.replies();
    assert_eq!(replies.len(), 7, "one in the ack and six POSTs");
    assert_eq!(replies.iter().filter(|r| !r.accepted).count(), 1);
    assert!(replies.iter().all(|r| r.is_ephemeral()));
    listener.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refresh_requested_leads_to_a_reconnect_and_the_next_envelope_arrives() {
    let standin = SlackStandIn::start_default().await;
    let seen = Arc::new(Recorder::default());
    let listener = listen(&standin, seen.clone()).await;
    assert_eq!(standin.connections_opened(), 1);

    standin.refresh_connections();
    standin
        .eventually(PATIENCE, |st| {
            (st.socket.opens == 2 && st.socket.connections.iter().any(|c| c.is_active())).then_some(())
        })
        .await
        .expect("the listener calls apps.connections.open again and reconnects");
    standin
        .eventually(PATIENCE, |st| {
            st.socket
                .connections
                .iter()
                .all(|c| c.is_active() || c.closed)
                .then_some(())
        })
        .await
        .expect("the old socket is closed");

    let command = standin.push_slash_command(STAFF, STAFF_CHANNEL, "");
    standin
        .wait_for_ack(&command.envelope_id, PATIENCE)
        .await
        .expect("the next envelope is acknowledged on the new socket");
    let envelope = standin
        .envelope(&command.envelope_id)
        .expect("the envelope is recorded");
    assert_eq!(envelope.deliveries.len(), 1);
    assert_eq!(
        envelope.deliveries[0].connection, 2,
        "delivered on the new socket"
    );
    assert_eq!(seen.commands.lock().expect("not poisoned").len(), 1);
    assert_eq!(
        seen.hellos.lock().expect("not poisoned").len(),
        2,
        "a hello on each socket"
    );
    listener.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_duplicated_event_id_is_delivered_twice() {
    let standin = SlackStandIn::start_default().await;
    let seen = Arc::new(Recorder::default());
    let listener = listen(&standin, seen.clone()).await;
    let dm = standin.dm_id(STAFF);

    standin.duplicate_next_events(1);
    let pushed = standin.post_user_message(STAFF, &dm, "report");
    assert_eq!(pushed.event_ids.len(), 1);
    assert_eq!(pushed.envelope_ids.len(), 2);
    let again = standin.repeat_event(&pushed.event_ids[0]);
    for envelope in pushed.envelope_ids.iter().chain([&again]) {
        standin
            .wait_for_ack(envelope, PATIENCE)
            .await
            .expect("each copy is acknowledged");
    }
    let ids: Vec<String> = seen.events().iter().map(|e| e.event_id.0.clone()).collect();
    assert_eq!(ids, vec![pushed.event_ids[0].clone(); 3]);
    listener.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unacknowledged_event_is_sent_again_with_retry_attempt() {
    let standin = SlackStandIn::start_default().await;
    let seen = Arc::new(Recorder::default());
    seen.fail_events.store(1, Ordering::SeqCst);
    let listener = listen(&standin, seen.clone()).await;
    let dm = standin.dm_id(STAFF);

    let pushed = standin.post_user_message(STAFF, &dm, "report");
    let envelope_id = &pushed.envelope_ids[0];
    standin
        .wait_for_ack(envelope_id, PATIENCE)
        .await
        .expect("the second delivery is acknowledged");
    let envelope = standin.envelope(envelope_id).expect("recorded");
    let attempts: Vec<u32> = envelope.deliveries.iter().map(|d| d.retry_attempt).collect();
    assert_eq!(attempts, vec![0, 1]);
    let gap = envelope.deliveries[1].at - envelope.deliveries[0].at;
    assert!(gap >= Duration::from_secs(3), "redelivered after {gap:?}");
    assert_eq!(seen.events().len(), 2, "the listener saw it twice");
    assert_eq!(
        standin.late_or_missing_acks(),
        vec![(envelope_id.clone(), envelope.ack_latency())],
        "the first delivery was never acknowledged"
    );
    listener.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_arrive_as_slack_morphism_reads_them() {
    let standin = SlackStandIn::start_default().await;
    let seen = Arc::new(Recorder::default());
    let listener = listen(&standin, seen.clone()).await;
    let client = client(&standin);
    let bot_token = token(&standin.bot_token());
    let dm = standin.dm_id(STAFF);

    let mut envelopes = Vec::new();
    envelopes.extend(standin.post_user_message(STAFF, &dm, "report").envelope_ids);
    let mention = standin.post_user_message(LEAD, LEADS_CHANNEL, &format!("<@{BOT_USER_ID}> report"));
    assert_eq!(mention.event_ids.len(), 2, "message.groups and app_mention");
    envelopes.extend(mention.envelope_ids);
    let mention_ts = mention.ts.expect("a ts");
    envelopes.extend(
        standin
            .add_reaction(LEAD, LEADS_CHANNEL, &mention_ts, "white_check_mark")
            .envelope_ids,
    );
    envelopes.extend(
        standin
            .add_to_channel(STAFF_2, LEADS_CHANNEL, Some(LEAD))
            .envelope_ids,
    );
    // The bot's own message comes back as an event too.
    client
        .open_session(&bot_token)
        .chat_post_message(&SlackApiChatPostMessageRequest::new(
            dm.clone().into(),
            text("What happened?"),
        ))
        .await
        .expect("chat.postMessage");
    // Not delivered: the app does not subscribe to message.channels.
    let public = standin.post_user_message(STAFF, STAFF_CHANNEL, "hello all");
    assert!(public.envelope_ids.is_empty());
    assert_eq!(public.suppressed.len(), 1, "{:?}", public.suppressed);

    standin
        .eventually(PATIENCE, |_| (seen.events().len() >= 6).then_some(()))
        .await
        .expect("six events arrive");
    for envelope in &envelopes {
        assert!(
            standin.wait_for_ack(envelope, PATIENCE).await.is_some(),
            "{envelope} acknowledged"
        );
    }
    let bodies: Vec<SlackEventCallbackBody> = seen.events().into_iter().map(|e| e.event).collect();
    match &bodies[0] {
        SlackEventCallbackBody::Message(m) => {
            assert_eq!(m.origin.channel.as_ref().map(|c| c.0.as_str()), Some(dm.as_str()));
            assert_eq!(m.origin.channel_type.as_ref().map(|t| t.0.as_str()), Some("im"));
            assert_eq!(m.sender.user.as_ref().map(|u| u.0.as_str()), Some(STAFF));
            assert_eq!(m.content.as_ref().and_then(|c| c.text.as_deref()), Some("report"));
        }
        other => panic!("expected a message, got {other:?}"),
    }
    match &bodies[1] {
        SlackEventCallbackBody::Message(m) => assert_eq!(
            m.origin.channel_type.as_ref().map(|t| t.0.as_str()),
            Some("group")
        ),
        other => panic!("expected a message, got {other:?}"),
    }
    match &bodies[2] {
        SlackEventCallbackBody::AppMention(m) => {
            assert_eq!(m.user.0, LEAD);
            assert_eq!(m.channel.0, LEADS_CHANNEL);
        }
        other => panic!("expected an app_mention, got {other:?}"),
    }
    match &bodies[3] {
        SlackEventCallbackBody::ReactionAdded(r) => {
            assert_eq!(r.user.0, LEAD);
            assert_eq!(r.reaction.0, "white_check_mark");
            match &r.item {
                SlackReactionsItem::Message(m) => assert_eq!(m.origin.ts.0, mention_ts),
                other => panic!("expected a message item, got {other:?}"),
            }
        }
        other => panic!("expected a reaction_added, got {other:?}"),
    }
    match &bodies[4] {
        SlackEventCallbackBody::MemberJoinedChannel(j) => {
            assert_eq!(j.user.0, STAFF_2);
            assert_eq!(j.channel_type.0, "G");
            assert_eq!(j.inviter.as_ref().map(|i| i.0.as_str()), Some(LEAD));
        }
        other => panic!("expected a member_joined_channel, got {other:?}"),
    }
    match &bodies[5] {
        SlackEventCallbackBody::Message(m) => {
            assert_eq!(m.sender.bot_id.as_ref().map(|b| b.0.as_str()), Some(BOT_ID));
        }
        other => panic!("expected the bot's own message, got {other:?}"),
    }
    listener.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn someone_leaving_or_removed_arrives_as_member_left_channel() {
    let standin = SlackStandIn::start_default().await;
    let seen = Arc::new(Recorder::default());
    let listener = listen(&standin, seen.clone()).await;
    let left = standin.remove_from_channel(STAFF_2, STAFF_CHANNEL);
    assert_eq!(left.envelope_ids.len(), 1, "{:?}", left.suppressed);
    assert!(!standin.members(STAFF_CHANNEL).contains(&STAFF_2.to_string()));
    // A removal by the bot is told too.
    client(&standin)
        .open_session(&token(&standin.bot_token()))
        .conversations_kick(&SlackApiConversationsKickRequest::new(
            LEADS_CHANNEL.into(),
            DEPUTY.into(),
        ))
        .await
        .ok();
    standin
        .eventually(PATIENCE, |_| (seen.events().len() >= 2).then_some(()))
        .await
        .expect("two events arrive");
    let left: Vec<(String, String, String)> = seen
        .events()
        .into_iter()
        .filter_map(|e| match e.event {
            SlackEventCallbackBody::MemberLeftChannel(l) => Some((l.user.0, l.channel.0, l.channel_type.0)),
            _ => None,
        })
        .collect();
    assert_eq!(
        left,
        [
            (STAFF_2.to_string(), STAFF_CHANNEL.to_string(), "C".to_string()),
            (DEPUTY.to_string(), LEADS_CHANNEL.to_string(), "G".to_string()),
        ]
    );
    listener.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pressed_button_arrives_as_block_actions() {
    let standin = SlackStandIn::start_default().await;
    let seen = Arc::new(Recorder::default());
    let listener = listen(&standin, seen.clone()).await;
    let client = client(&standin);
    let bot_token = token(&standin.bot_token());

    let posted = client
        .open_session(&bot_token)
        .chat_post_message(&SlackApiChatPostMessageRequest::new(
            LEADS_CHANNEL.into(),
            SlackMessageContent::new()
                .with_text("New concern sg-0042".into())
                .with_blocks(slack_blocks![
                    some_into(SlackSectionBlock::new().with_text(md!("New concern sg-0042"))),
                    some_into(SlackActionsBlock::new(slack_blocks![some_into(
                        SlackBlockButtonElement::new(pt!("Acknowledge"))
                            .with_action_id("ack".into())
                            .with_value("sg-0042".into())
                    )]))
                ]),
        ))
        .await
        .expect("chat.postMessage with a button");

    let envelope = standin.press_button(LEAD, LEADS_CHANNEL, &posted.ts.0, "ack");
    let latency = standin
        .wait_for_ack(&envelope, PATIENCE)
        .await
        .expect("the press is acknowledged");
    assert!(latency < Duration::from_secs(3));
    let interactions = seen.interactions.lock().expect("not poisoned").clone();
    match &interactions[..] {
        [SlackInteractionEvent::BlockActions(press)] => {
            assert_eq!(press.user.as_ref().map(|u| u.id.0.as_str()), Some(LEAD));
            let action = &press.actions.as_ref().expect("actions")[0];
            assert_eq!(action.action_id.0, "ack");
            assert_eq!(action.value.as_deref(), Some("sg-0042"));
            match &press.container {
                SlackInteractionActionContainer::Message(c) => {
                    assert_eq!(c.message_ts, posted.ts);
                }
                other => panic!("expected a message container, got {other:?}"),
            }
        }
        other => panic!("expected one block_actions, got {other:?}"),
    }
    listener.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_no_socket_open_events_wait_and_commands_fail() {
    let standin = SlackStandIn::start_default().await;
    let command = standin.push_slash_command(STAFF, STAFF_CHANNEL, "");
    let dm = standin.dm_id(STAFF);
    let event = standin.post_user_message(STAFF, &dm, "report");
    let failed = standin.envelope(&command.envelope_id).expect("recorded");
    assert!(failed.dispatch_failed && failed.deliveries.is_empty());

    let seen = Arc::new(Recorder::default());
    let listener = listen(&standin, seen.clone()).await;
    standin
        .wait_for_ack(&event.envelope_ids[0], PATIENCE)
        .await
        .expect("the event is delivered once a socket opens");
    assert!(seen.commands.lock().expect("not poisoned").is_empty());
    assert!(standin
        .envelope(&command.envelope_id)
        .expect("recorded")
        .deliveries
        .is_empty());
    listener.shutdown().await;
}

// ---------------------------------------------------------------------------
// Modals
// ---------------------------------------------------------------------------

/// A modal asking one question in a text box, as a report form would.
fn text_modal(title: &str) -> Value {
    json!({
        "type": "modal",
        "callback_id": "report",
        "private_metadata": "sg-0042",
        "title": { "type": "plain_text", "text": title },
        "submit": { "type": "plain_text", "text": "Next" },
        "close": { "type": "plain_text", "text": "Cancel" },
        "blocks": [
            { "type": "section", "text": { "type": "mrkdwn", "text": "Tell us what happened." } },
            {
                "type": "input",
                "block_id": "what",
                "label": { "type": "plain_text", "text": "What happened?" },
                "element": {
                    "type": "plain_text_input",
                    "action_id": "answer",
                    "multiline": true,
                    "max_length": 3000
                }
            }
        ]
    })
}

/// A modal asking a yes/no question with radio buttons.
fn choice_modal(title: &str) -> Value {
    let option =
        |text: &str, value: &str| json!({ "text": { "type": "plain_text", "text": text }, "value": value });
    json!({
        "type": "modal",
        "callback_id": "report",
        "title": { "type": "plain_text", "text": title },
        "submit": { "type": "plain_text", "text": "Next" },
        "blocks": [{
            "type": "input",
            "block_id": "danger",
            "label": { "type": "plain_text", "text": "Is anyone in danger now?" },
            "element": {
                "type": "radio_buttons",
                "action_id": "answer",
                "options": [option("Yes", "yes"), option("No", "no")]
            }
        }]
    })
}

/// A fresh trigger, from a `/report` by `user` (with no socket open the
/// command is not delivered, but its trigger is issued).
fn trigger(standin: &SlackStandIn, user: &str) -> String {
    standin.push_slash_command(user, STAFF_CHANNEL, "").trigger_id
}

/// views.open with a JSON body.
async fn views_open(standin: &SlackStandIn, token: &str, trigger_id: &str, view: Value) -> Value {
    reqwest::Client::new()
        .post(format!("{}views.open", standin.api_url()))
        .bearer_auth(token)
        .json(&json!({ "trigger_id": trigger_id, "view": view }))
        .send()
        .await
        .expect("a POST")
        .json()
        .await
        .expect("JSON")
}

/// The submitted value of `block`'s `action` in a view's state.
fn state_value(view: &SlackStatefulView, block: &str, action: &str) -> SlackViewStateValue {
    view.state_params
        .state
        .as_ref()
        .expect("the view has a state")
        .values
        .get(&SlackBlockId(block.to_string()))
        .and_then(|actions| actions.get(&SlackActionId(action.to_string())))
        .cloned()
        .unwrap_or_else(|| panic!("no value for {block}/{action}"))
}

fn messages(answer: &Value) -> Vec<String> {
    answer["response_metadata"]["messages"]
        .as_array()
        .map(|m| m.iter().filter_map(|s| s.as_str().map(str::to_string)).collect())
        .unwrap_or_default()
}

#[tokio::test]
async fn views_open_exchanges_a_fresh_trigger_once() {
    let standin = SlackStandIn::start_default().await;
    let bot = standin.bot_token();
    let first = trigger(&standin, STAFF);

    let opened = views_open(&standin, &bot, &first, text_modal("Report a concern")).await;
    assert_eq!(opened["ok"], true, "{opened}");
    let view = &opened["view"];
    let id = view["id"].as_str().expect("an id").to_string();
    assert!(id.starts_with('V'), "{id}");
    assert_eq!(view["type"], "modal");
    assert_eq!(view["team_id"], TEAM_ID);
    assert_eq!(view["app_id"], slack::APP_ID);
    assert_eq!(view["bot_id"], BOT_ID);
    assert_eq!(view["root_view_id"], id.as_str());
    assert!(view["previous_view_id"].is_null());
    assert_eq!(view["state"], json!({ "values": {} }));
    assert_eq!(view["private_metadata"], "sg-0042");
    assert_eq!(view["callback_id"], "report");
    assert_eq!(view["external_id"], "");
    assert_eq!(view["notify_on_close"], false);
    let hash = view["hash"].as_str().expect("a hash").to_string();
    assert!(!hash.is_empty());
    let blocks = view["blocks"].as_array().expect("blocks");
    assert!(
        blocks[0]["block_id"].as_str().is_some_and(|b| !b.is_empty()),
        "a block sent without a block_id gets one"
    );
    assert_eq!(blocks[1]["block_id"], "what");
    assert_eq!(blocks[1]["optional"], false);

    let kept: Vec<View> = standin.views_of(STAFF);
    assert_eq!(kept.len(), 1);
    assert_eq!((kept[0].id.as_str(), kept[0].user.as_str()), (id.as_str(), STAFF));
    assert!(kept[0].open && kept[0].errors.is_none());
    assert_eq!(kept[0].hash, hash);
    assert_eq!(&kept[0].view, view);
    assert_eq!(standin.view(&id).map(|v| v.id), Some(id.clone()));
    assert!(standin.views_of(LEAD).is_empty());

    let again = views_open(&standin, &bot, &first, text_modal("Report a concern")).await;
    assert_eq!(again["error"], "exchanged_trigger_id", "{again}");
    let unknown = views_open(&standin, &bot, "12345.98765.abcd2358fdea", text_modal("Report")).await;
    assert_eq!(unknown["error"], "invalid_trigger_id", "{unknown}");

    let late = trigger(&standin, STAFF);
    standin
        .state()
        .views
        .triggers
        .get_mut(&late)
        .expect("the trigger is kept")
        .issued_at = Instant::now() - Duration::from_secs(4);
    let expired = views_open(&standin, &bot, &late, text_modal("Report")).await;
    assert_eq!(expired["error"], "expired_trigger_id", "{expired}");

    let app = views_open(
        &standin,
        &standin.app_token(),
        &trigger(&standin, STAFF),
        text_modal("Report"),
    )
    .await;
    assert_eq!(app["error"], "not_allowed_token_type", "{app}");

    // A form body, the view a JSON-encoded string, as the page describes;
    // no scope is needed.
    let body = form_urlencoded::Serializer::new(String::new())
        .append_pair("trigger_id", &trigger(&standin, LEAD))
        .append_pair("view", &choice_modal("Urgent?").to_string())
        .finish();
    let form = reqwest::Client::new()
        .post(format!("{}views.open", standin.api_url()))
        .bearer_auth(&bot)
        .header("content-type", "application/x-www-form-urlencoded")
        .body(body)
        .send()
        .await
        .expect("a form POST");
    assert!(form.headers().get("x-accepted-oauth-scopes").is_none());
    let form: Value = form.json().await.expect("JSON");
    assert_eq!(form["ok"], true, "{form}");
    assert_eq!(standin.views_of(LEAD).len(), 1, "shown to the trigger's person");
    assert_eq!(standin.views_of(STAFF).len(), 1);
}

#[tokio::test]
async fn views_open_refuses_views_slack_would_refuse() {
    let standin = SlackStandIn::start_default().await;
    let bot = standin.bot_token();

    let long_title = views_open(
        &standin,
        &bot,
        &trigger(&standin, STAFF),
        text_modal(&"t".repeat(25)),
    )
    .await;
    assert_eq!(long_title["ok"], false);
    assert_eq!(long_title["error"], "invalid_arguments");
    assert_eq!(
        messages(&long_title),
        vec!["[ERROR] must be less than 25 characters [json-pointer:/view/title/text]"]
    );
    let longest = views_open(
        &standin,
        &bot,
        &trigger(&standin, STAFF),
        text_modal(&"t".repeat(24)),
    )
    .await;
    assert_eq!(longest["ok"], true, "24 characters is the limit: {longest}");

    let mut no_submit = text_modal("Report");
    no_submit.as_object_mut().expect("an object").remove("submit");
    let refused = views_open(&standin, &bot, &trigger(&standin, STAFF), no_submit).await;
    assert_eq!(refused["error"], "invalid_arguments");
    assert_eq!(
        messages(&refused),
        vec!["[ERROR] must define `submit` to use an `input` block in modals [json-pointer:/view/blocks/1/input]"]
    );

    let mut checks: Vec<(Value, &str)> = Vec::new();
    let mut eleven = choice_modal("Urgent?");
    eleven["blocks"][0]["element"]["options"] = json!((0..11)
        .map(|i| json!({ "text": { "type": "plain_text", "text": format!("{i}") }, "value": format!("{i}") }))
        .collect::<Vec<_>>());
    checks.push((
        eleven,
        "[ERROR] no more than 10 items allowed [json-pointer:/view/blocks/0/element/options]",
    ));
    let mut long_value = choice_modal("Urgent?");
    long_value["blocks"][0]["element"]["options"][1]["value"] = json!("v".repeat(151));
    checks.push((
        long_value,
        "[ERROR] must be less than 151 characters [json-pointer:/view/blocks/0/element/options/1/value]",
    ));
    let mut metadata = text_modal("Report");
    metadata["private_metadata"] = json!("m".repeat(3001));
    checks.push((
        metadata,
        "[ERROR] must be less than 3001 characters [json-pointer:/view/private_metadata]",
    ));
    let mut twice = text_modal("Report");
    twice["blocks"][0]["block_id"] = json!("what");
    checks.push((
        twice,
        "[ERROR] block_id already exists [json-pointer:/view/blocks/1/block_id]",
    ));
    let mut big_input = text_modal("Report");
    big_input["blocks"][1]["element"]["max_length"] = json!(3001);
    checks.push((
        big_input,
        "[ERROR] must be less than 3001 [json-pointer:/view/blocks/1/element/max_length]",
    ));
    let mut home = text_modal("Report");
    home["type"] = json!("home");
    checks.push((home, "[ERROR] unsupported type: home [json-pointer:/view/type]"));
    let mut empty_section = text_modal("Report");
    empty_section["blocks"][0]["text"]["text"] = json!("");
    checks.push((
        empty_section,
        "[ERROR] must be more than 0 characters [json-pointer:/view/blocks/0/text/text]",
    ));
    for (view, expected) in checks {
        let answer = views_open(&standin, &bot, &trigger(&standin, STAFF), view).await;
        assert_eq!(answer["error"], "invalid_arguments", "{answer}");
        assert_eq!(messages(&answer), vec![expected.to_string()]);
    }
    assert_eq!(standin.views_of(STAFF).len(), 1, "only the valid view opened");
}

#[tokio::test]
async fn view_submissions_and_closes_are_what_slack_morphism_reads() {
    let standin = SlackStandIn::start_default().await;
    let client = client(&standin);
    let bot_token = token(&standin.bot_token());
    let session = client.open_session(&bot_token);

    // slack-morphism opens the modal and reads the answer.
    let modal: SlackView = serde_json::from_value(text_modal("Report a concern")).expect("a SlackView");
    let opened = session
        .views_open(&SlackApiViewsOpenRequest::new(
            trigger(&standin, STAFF).into(),
            modal,
        ))
        .await
        .expect("views.open");
    let id = opened.view.state_params.id.0.clone();
    assert_eq!(
        opened
            .view
            .state_params
            .root_view_id
            .as_ref()
            .map(|v| v.0.as_str()),
        Some(id.as_str())
    );

    let envelope = standin.submit_view(STAFF, &id, ViewAnswer::Text("He asked for photos".into()));
    let payload = standin.envelope(&envelope).expect("recorded").payload;
    assert_eq!(standin.envelope(&envelope).expect("recorded").kind, "interactive");
    match serde_json::from_value::<SlackInteractionEvent>(payload.clone()) {
        Ok(SlackInteractionEvent::ViewSubmission(submitted)) => {
            assert_eq!(submitted.user.id.0, STAFF);
            assert_eq!(submitted.team.id.0, TEAM_ID);
            assert_eq!(submitted.view.state_params.id.0, id);
            assert!(submitted.trigger_id.is_some(), "a new trigger comes with it");
            let value = state_value(&submitted.view, "what", "answer");
            assert_eq!(value.action_type.0, "plain_text_input");
            assert_eq!(value.value.as_deref(), Some("He asked for photos"));
            match submitted.view.view {
                SlackView::Modal(modal) => {
                    assert_eq!(modal.private_metadata.as_deref(), Some("sg-0042"));
                    assert_eq!(modal.callback_id.map(|c| c.0).as_deref(), Some("report"));
                }
                other => panic!("expected a modal, got {other:?}"),
            }
        }
        other => panic!("expected a view_submission, got {other:?}\n{payload}"),
    }
    assert_eq!(payload["response_urls"], json!([]));
    assert_eq!(payload["is_enterprise_install"], false);
    assert_eq!(
        standin.view(&id).expect("kept").view["state"]["values"]["what"]["answer"]["value"],
        "He asked for photos",
        "the view as now shown has the typed text"
    );

    // Radio buttons: the chosen option, text and value.
    let choice = views_open(
        &standin,
        &standin.bot_token(),
        &trigger(&standin, LEAD),
        choice_modal("Urgent?"),
    )
    .await;
    let choice_id = choice["view"]["id"].as_str().expect("an id").to_string();
    let envelope = standin.submit_view(LEAD, &choice_id, ViewAnswer::Choice("yes".into()));
    let payload = standin.envelope(&envelope).expect("recorded").payload;
    match serde_json::from_value::<SlackInteractionEvent>(payload.clone()) {
        Ok(SlackInteractionEvent::ViewSubmission(submitted)) => {
            assert_eq!(submitted.user.id.0, LEAD);
            assert_eq!(submitted.view.state_params.id.0, choice_id);
            let value = state_value(&submitted.view, "danger", "answer");
            assert_eq!(value.action_type.0, "radio_buttons");
            let selected = value.selected_option.as_ref().expect("an option");
            assert_eq!(selected.value, "yes");
            assert_eq!(selected.text.text, "Yes");
        }
        other => panic!("expected a view_submission, got {other:?}\n{payload}"),
    }

    // An optional input left empty: value null.
    let mut optional = text_modal("Anything else?");
    optional["blocks"][1]["optional"] = json!(true);
    optional["notify_on_close"] = json!(true);
    let opened = views_open(
        &standin,
        &standin.bot_token(),
        &trigger(&standin, STAFF_2),
        optional,
    )
    .await;
    let optional_id = opened["view"]["id"].as_str().expect("an id").to_string();
    let envelope = standin.submit_view(STAFF_2, &optional_id, ViewAnswer::Nothing);
    match serde_json::from_value::<SlackInteractionEvent>(
        standin.envelope(&envelope).expect("recorded").payload,
    ) {
        Ok(SlackInteractionEvent::ViewSubmission(submitted)) => {
            assert_eq!(state_value(&submitted.view, "what", "answer").value, None);
        }
        other => panic!("expected a view_submission, got {other:?}"),
    }

    // Closing a view that asked for notify_on_close sends view_closed.
    let closed = standin
        .close_view(STAFF_2, &optional_id)
        .expect("notify_on_close: view_closed is sent");
    let payload = standin.envelope(&closed).expect("recorded").payload;
    match serde_json::from_value::<SlackInteractionEvent>(payload.clone()) {
        Ok(SlackInteractionEvent::ViewClosed(closed)) => {
            assert_eq!(closed.user.id.0, STAFF_2);
            assert_eq!(closed.view.state_params.id.0, optional_id);
        }
        other => panic!("expected a view_closed, got {other:?}\n{payload}"),
    }
    assert_eq!(payload["is_cleared"], false);
    assert!(!standin.view(&optional_id).expect("kept").open);
    assert_eq!(
        standin.close_view(STAFF, &id),
        None,
        "no notify_on_close: nothing sent"
    );
    assert!(!standin.view(&id).expect("kept").open);
}

fn modal(value: Value) -> SlackView {
    serde_json::from_value(value).expect("a SlackView")
}

fn answer_next(seen: &Recorder, answer: SlackViewSubmissionResponse) {
    seen.interaction_answers
        .lock()
        .expect("not poisoned")
        .push_back(answer.into());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_acknowledgement_of_a_submission_updates_marks_or_closes_the_modal() {
    let standin = SlackStandIn::start_default().await;
    let seen = Arc::new(Recorder::default());
    let listener = listen(&standin, seen.clone()).await;
    let client = client(&standin);
    let bot_token = token(&standin.bot_token());
    let session = client.open_session(&bot_token);

    let command = standin.push_slash_command(STAFF, STAFF_CHANNEL, "");
    standin
        .wait_for_ack(&command.envelope_id, PATIENCE)
        .await
        .expect("the command is acknowledged");
    let opened = session
        .views_open(&SlackApiViewsOpenRequest::new(
            command.trigger_id.clone().into(),
            modal(text_modal("Report a concern")),
        ))
        .await
        .expect("views.open with the command's trigger");
    let id = opened.view.state_params.id.0.clone();
    let first_hash = standin.view(&id).expect("kept").hash;

    // errors: the modal stays open, the errors shown under the input.
    answer_next(
        &seen,
        SlackViewSubmissionResponse::Errors(SlackViewSubmissionErrorsResponse::new(HashMap::from([(
            "what".to_string(),
            "Please say a little more".to_string(),
        )]))),
    );
    let envelope = standin.submit_view(STAFF, &id, ViewAnswer::Text("x".into()));
    let marked = standin
        .wait_for_view_update(&id, &first_hash, PATIENCE)
        .await
        .expect("the errors are shown");
    assert!(marked.open);
    assert_eq!(marked.hash, first_hash);
    assert_eq!(marked.errors, Some(json!({ "what": "Please say a little more" })));
    let latency = standin.wait_for_ack(&envelope, PATIENCE).await.expect("acked");
    assert!(latency < Duration::from_secs(3));

    // update: the next question, same view id, a new hash.
    answer_next(
        &seen,
        SlackViewSubmissionResponse::Update(SlackViewSubmissionUpdateResponse::new(modal(choice_modal(
            "Anyone in danger?",
        )))),
    );
    standin.submit_view(STAFF, &id, ViewAnswer::Text("He asked for photos".into()));
    let updated = standin
        .wait_for_view_update(&id, &first_hash, PATIENCE)
        .await
        .expect("the view is updated");
    assert!(updated.open);
    assert_ne!(updated.hash, first_hash);
    assert_eq!(updated.errors, None);
    assert_eq!(updated.view["id"], id.as_str());
    assert_eq!(updated.view["hash"], updated.hash.as_str());
    assert_eq!(updated.view["title"]["text"], "Anyone in danger?");
    assert_eq!(updated.view["state"], json!({ "values": {} }));

    // A bare acknowledgement closes it.
    standin.submit_view(STAFF, &id, ViewAnswer::Choice("no".into()));
    let closed = standin
        .wait_for_view_update(&id, &updated.hash, PATIENCE)
        .await
        .expect("the view is closed");
    assert!(!closed.open);

    let submitted: Vec<SlackInteractionViewSubmissionEvent> = seen
        .interactions
        .lock()
        .expect("not poisoned")
        .iter()
        .filter_map(|e| match e {
            SlackInteractionEvent::ViewSubmission(s) => Some(s.clone()),
            _ => None,
        })
        .collect();
    assert_eq!(submitted.len(), 3);
    let chosen = state_value(&submitted[2].view, "danger", "answer").selected_option;
    assert_eq!(chosen.map(|o| o.value).as_deref(), Some("no"));
    assert_eq!(
        submitted[1].view.state_params.hash, first_hash,
        "the second submission was of the first view"
    );

    // An update Slack would refuse leaves the modal as it was, and is
    // recorded; clear then closes every modal of the person.
    let command = standin.push_slash_command(STAFF, STAFF_CHANNEL, "");
    standin
        .wait_for_ack(&command.envelope_id, PATIENCE)
        .await
        .expect("acked");
    let again = session
        .views_open(&SlackApiViewsOpenRequest::new(
            command.trigger_id.into(),
            modal(text_modal("Report a concern")),
        ))
        .await
        .expect("views.open");
    let again_id = again.view.state_params.id.0.clone();
    let again_hash = standin.view(&again_id).expect("kept").hash;
    answer_next(
        &seen,
        SlackViewSubmissionResponse::Update(SlackViewSubmissionUpdateResponse::new(modal(choice_modal(
            &"t".repeat(30),
        )))),
    );
    let envelope = standin.submit_view(STAFF, &again_id, ViewAnswer::Text("more".into()));
    standin.wait_for_ack(&envelope, PATIENCE).await.expect("acked");
    let problems = standin.problems();
    assert_eq!(problems.len(), 1, "{problems:?}");
    assert!(
        problems[0].contains("[ERROR] must be less than 25 characters [json-pointer:/view/title/text]"),
        "{problems:?}"
    );
    let unchanged = standin.view(&again_id).expect("kept");
    assert!(unchanged.open);
    assert_eq!(unchanged.hash, again_hash);

    answer_next(
        &seen,
        SlackViewSubmissionResponse::Clear(SlackViewSubmissionClearResponse::new()),
    );
    standin.submit_view(STAFF, &again_id, ViewAnswer::Text("more".into()));
    let cleared = standin
        .wait_for_view_update(&again_id, &again_hash, PATIENCE)
        .await
        .expect("cleared");
    assert!(!cleared.open);
    assert!(standin.views_of(STAFF).iter().all(|v| !v.open));

    assert!(
        standin.late_or_missing_acks().is_empty(),
        "{:?}",
        standin.late_or_missing_acks()
    );
    assert_eq!(standin.problems().len(), 1);
    listener.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_answer_to_a_submission_after_the_ack_timeout_is_ignored() {
    // A short ack timeout stands for Slack's 3 seconds.
    let standin = SlackStandIn::start(StandInOptions {
        ack_timeout: Duration::from_millis(300),
        ..StandInOptions::default()
    })
    .await;
    let seen = Arc::new(Recorder::default());
    let listener = listen(&standin, seen.clone()).await;
    let opened = views_open(
        &standin,
        &standin.bot_token(),
        &trigger(&standin, STAFF),
        text_modal("Report"),
    )
    .await;
    let id = opened["view"]["id"].as_str().expect("an id").to_string();

    seen.interaction_delay_ms.store(700, Ordering::SeqCst);
    answer_next(
        &seen,
        SlackViewSubmissionResponse::Clear(SlackViewSubmissionClearResponse::new()),
    );
    let envelope = standin.submit_view(STAFF, &id, ViewAnswer::Text("late".into()));
    let latency = standin
        .wait_for_ack(&envelope, PATIENCE)
        .await
        .expect("acked, late");
    assert!(latency > Duration::from_millis(300), "{latency:?}");
    assert!(standin.view(&id).expect("kept").open, "the late clear is ignored");
    let late = standin.late_or_missing_acks();
    assert_eq!(late, vec![(envelope.clone(), Some(latency))]);
    let problems = standin.problems();
    assert_eq!(problems.len(), 1, "{problems:?}");
    assert!(problems[0].contains(&envelope), "{problems:?}");
    listener.shutdown().await;
}
