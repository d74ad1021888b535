//! Pages by email: plain text over SMTP (lettre), with STARTTLS or implicit
//! TLS, on rustls with the ring provider, signing in when the config gives
//! a username. The `Message-ID` is the page's own ([`Email::message_id`]),
//! so a page sent again after a crash is recognisably the same message.
//!
//! An extra CA certificate can be trusted beside the system's (`[email]
//! ca_file`), for a relay with a private certificate and for the tests.

use std::time::Duration;

use lettre::message::header::{ContentType, MessageId};
use lettre::message::Mailbox;
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::{Certificate, Tls, TlsParameters};
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};

use super::config::{EmailConfig, SmtpTls};
use super::{Email, NotifyError};

/// How long one SMTP exchange step may take.
pub const SMTP_TIMEOUT: Duration = Duration::from_secs(30);

/// Sends email through one SMTP server.
#[derive(Clone)]
pub struct Mailer {
    transport: AsyncSmtpTransport<Tokio1Executor>,
    from: Mailbox,
}

impl std::fmt::Debug for Mailer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Mailer")
            .field("from", &self.from)
            .finish_non_exhaustive()
    }
}

impl Mailer {
    /// The transport for `[email]`. Connects to nothing yet: each email
    /// opens its own connection, so a server that went away and came back
    /// is simply used again.
    pub fn new(config: &EmailConfig) -> Result<Self, String> {
        let mut tls = TlsParameters::builder(config.host.clone());
        if let Some(ca) = &config.ca {
            let cert = Certificate::from_pem(&ca.pem)
                .map_err(|e| format!("{} is not a PEM certificate: {e}", ca.path.display()))?;
            tls = tls.add_root_certificate(cert);
        }
        let tls = tls
            .build_rustls()
            .map_err(|e| format!("could not set up TLS for {}: {e}", config.host))?;
        let mut builder = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(config.host.clone())
            .port(config.port)
            .timeout(Some(SMTP_TIMEOUT))
            .tls(match config.tls {
                SmtpTls::StartTls => Tls::Required(tls),
                SmtpTls::Implicit => Tls::Wrapper(tls),
            });
        if let Some(login) = &config.login {
            builder = builder.credentials(Credentials::new(
                login.username.clone(),
                login.password.expose().to_string(),
            ));
        }
        Ok(Mailer {
            transport: builder.build(),
            from: config.from.clone(),
        })
    }

    /// Sends one email. A refusal that will not change (5xx: a wrong
    /// password, a refused recipient; a certificate that does not check
    /// out) is [`NotifyError::Refused`]; anything else (no connection, a
    /// timeout, 4xx) is [`NotifyError::Later`].
    pub async fn send(&self, email: &Email) -> Result<(), NotifyError> {
        let message = build(&self.from, email)?;
        self.transport.send(message).await.map(|_| ()).map_err(smtp_error)
    }
}

/// The message as it goes out: plain text, the page's own Message-ID.
pub fn build(from: &Mailbox, email: &Email) -> Result<Message, NotifyError> {
    let bad = |reason: String| NotifyError::Refused { code: None, reason };
    let id = &email.message_id;
    if id.is_empty() || !id.contains('@') || id.chars().any(|c| c.is_whitespace() || c == '<' || c == '>') {
        return Err(bad(format!(
            "the message id \"{id}\" is not of the form key@host"
        )));
    }
    let to: Mailbox = email.to.as_str().parse().map_err(|e| {
        bad(format!(
            "{} is not an address the mail server can take: {e}",
            email.to
        ))
    })?;
    Message::builder()
        .from(from.clone())
        .to(to)
        .subject(email.subject.clone())
        .header(MessageId::from(format!("<{id}>")))
        .header(ContentType::TEXT_PLAIN)
        .body(email.body.clone())
        .map_err(|e| bad(format!("the email could not be put together: {e}")))
}

fn smtp_error(e: lettre::transport::smtp::Error) -> NotifyError {
    let code = e.status().and_then(|c| c.to_string().parse::<u32>().ok());
    if e.is_permanent() {
        NotifyError::Refused {
            code,
            reason: format!("the mail server refused the email: {e}"),
        }
    } else if e.is_tls() || certificate_refused(&e) {
        NotifyError::Refused {
            code: None,
            reason: format!(
                "the mail server's TLS could not be checked (its certificate, or [email] tls and port): {e}"
            ),
        }
    } else if e.is_client() {
        NotifyError::Refused {
            code: None,
            reason: format!("the mail server and the bot could not agree (is a username and password needed, or another tls setting?): {e}"),
        }
    } else {
        NotifyError::Later(format!("the mail server could not take the email now: {e}"))
    }
}

/// Whether the connection failed because the server's certificate did
/// not check out (rustls's error, inside lettre's connection error): that
/// will not change until the config does.
fn certificate_refused(e: &lettre::transport::smtp::Error) -> bool {
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(err) = source {
        let inner = err
            .downcast_ref::<std::io::Error>()
            .and_then(|io| io.get_ref())
            .map(|i| i as &(dyn std::error::Error + 'static))
            .unwrap_or(err);
        if matches!(
            inner.downcast_ref::<rustls::Error>(),
            Some(rustls::Error::InvalidCertificate(_) | rustls::Error::NoCertificatesPresented)
        ) {
            return true;
        }
        source = err.source();
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    fn email() -> Email {
        Email {
            to: "dsl@example.org".to_string().try_into().expect("address"),
            subject: "Safeguarding page SG-0042".into(),
            body: "A concern needs you: SG-0042.\nAcknowledge in the chat.".into(),
            message_id: "page-sg-0042-lead-1@safeguarding.example.org".into(),
        }
    }

    #[test]
    fn the_message_carries_the_pages_id_and_plain_text() {
        let from: Mailbox = "Safeguarding bot <bot@example.org>".parse().expect("mailbox");
        let message = build(&from, &email()).expect("built");
        let text = String::from_utf8(message.formatted()).expect("utf-8");
        assert!(
            text.contains("Message-ID: <page-sg-0042-lead-1@safeguarding.example.org>"),
            "{text}"
        );
        assert!(text.contains("Content-Type: text/plain; charset=utf-8"), "{text}");
        assert!(text.contains("To: dsl@example.org"), "{text}");
        assert!(text.contains("Acknowledge in the chat."), "{text}");
        // The same page built again is the same message, as far as a reader
        // or a mail server's deduplication can tell.
        let again = String::from_utf8(build(&from, &email()).expect("built").formatted()).expect("utf-8");
        let id = |t: &str| {
            t.lines()
                .find(|l| l.starts_with("Message-ID"))
                .map(str::to_string)
        };
        assert_eq!(id(&text), id(&again));
    }

    #[test]
    fn a_malformed_message_id_is_refused_before_sending() {
        let from: Mailbox = "bot@example.org".parse().expect("mailbox");
        for bad in ["", "no-at-sign", "<a@b>", "a b@c"] {
            let mut e = email();
            e.message_id = bad.into();
            assert!(
                matches!(build(&from, &e), Err(NotifyError::Refused { .. })),
                "{bad}"
            );
        }
    }
}
