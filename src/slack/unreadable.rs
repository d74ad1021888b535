//! What may be logged of an error slack-morphism reports: its kind, and
//! the type of the envelope it came with. Never its text: a protocol
//! error's text carries the body it failed to read, which may be a form
//! submission with every answer of a report in it.

use serde_json::Value;
use slack_morphism::errors::{SlackClientError, SlackClientProtocolError};

/// The envelope types Socket Mode sends; anything else is named "other".
const ENVELOPE_TYPES: &[&str] = &[
    "hello",
    "disconnect",
    "events_api",
    "slash_commands",
    "interactive",
];

/// The error's kind, and the type of the envelope it came with ("none"
/// when it came with none, "unreadable" when not even that can be read).
/// slack-morphism hands over an envelope it could not read as its
/// protocol error alone, and other failures as its client error.
pub fn describe(err: &(dyn std::error::Error + Send + Sync + 'static)) -> (&'static str, &'static str) {
    if let Some(p) = err.downcast_ref::<SlackClientProtocolError>() {
        return ("unreadable envelope", envelope_type(p.json_body.as_deref()));
    }
    let Some(e) = err.downcast_ref::<SlackClientError>() else {
        return ("unknown", "none");
    };
    match e {
        SlackClientError::ProtocolError(p) => ("unreadable envelope", envelope_type(p.json_body.as_deref())),
        SlackClientError::SocketModeProtocolError(_) => ("socket mode protocol", "none"),
        SlackClientError::ApiError(_) => ("web api", "none"),
        SlackClientError::HttpError(_) => ("http", "none"),
        SlackClientError::HttpProtocolError(_) => ("http protocol", "none"),
        SlackClientError::EndOfStream(_) => ("end of stream", "none"),
        SlackClientError::SystemError(_) => ("system", "none"),
        SlackClientError::RateLimitError(_) => ("rate limited", "none"),
    }
}

/// The `type` of an envelope's body, if it is one Socket Mode sends.
fn envelope_type(body: Option<&str>) -> &'static str {
    let Some(body) = body else {
        return "none";
    };
    let Ok(value) = serde_json::from_str::<Value>(body) else {
        return "unreadable";
    };
    let named = value.get("type").and_then(Value::as_str).unwrap_or_default();
    ENVELOPE_TYPES
        .iter()
        .find(|t| **t == named)
        .copied()
        .unwrap_or("other")
}

#[cfg(test)]
mod tests {
    use super::*;

    type Boxed = Box<dyn std::error::Error + Send + Sync>;

    /// As slack-morphism hands an unreadable envelope to the error handler.
    fn protocol_error(body: &str) -> Boxed {
        let json_error = serde_json::from_str::<Value>("{").expect_err("not JSON");
        SlackClientProtocolError::new(json_error)
            .with_json_body(body.into())
            .into()
    }

    #[test]
    fn only_the_kind_and_a_known_envelope_type_are_told() {
        let secret = "moss-lantern-5521";
        for (body, envelope) in [
            (
                format!(r#"{{"type":"interactive","envelope_id":"e1","payload":{{"view":"{secret}"}}}}"#),
                "interactive",
            ),
            (format!(r#"{{"type":"{secret}"}}"#), "other"),
            (format!("not json {secret}"), "unreadable"),
        ] {
            let (kind, named) = describe(protocol_error(&body).as_ref());
            assert_eq!(kind, "unreadable envelope");
            assert_eq!(named, envelope);
            assert!(!kind.contains(secret) && !named.contains(secret));
        }
        let wrapped: Boxed = Box::new(SlackClientError::ProtocolError(
            SlackClientProtocolError::new(serde_json::from_str::<Value>("{").expect_err("not JSON"))
                .with_json_body(r#"{"type":"events_api"}"#.into()),
        ));
        assert_eq!(describe(wrapped.as_ref()), ("unreadable envelope", "events_api"));
        let other: Boxed = "something else".into();
        assert_eq!(describe(other.as_ref()), ("unknown", "none"));
    }
}
