//! [`Gateways`]: the real [`Notifier`], made from `[sms]` and `[email]`.
//! Either may be absent; asked to use one that is, it refuses, so the core
//! moves on to the person's next method.

use async_trait::async_trait;

use super::config::{EmailConfig, SmsConfig};
use super::email::Mailer;
use super::twilio::TwilioClient;
use super::{Email, Notifier, NotifyError, Sms, SmsAccepted};

/// Twilio for SMS and an SMTP server for email, as the config gives them.
#[derive(Clone, Debug, Default)]
pub struct Gateways {
    sms: Option<TwilioClient>,
    email: Option<Mailer>,
}

impl Gateways {
    /// The gateways the config names. Fails only if a TLS or HTTP client
    /// cannot be set up at all; nothing is contacted yet.
    pub fn from_config(sms: Option<&SmsConfig>, email: Option<&EmailConfig>) -> anyhow::Result<Self> {
        let sms = sms
            .map(|c| TwilioClient::new(c.account.clone(), c.status_webhook_url()))
            .transpose()
            .map_err(anyhow::Error::msg)?;
        let email = email.map(Mailer::new).transpose().map_err(anyhow::Error::msg)?;
        if let Some(c) = &sms {
            tracing::info!(account = %c.account().account_sid, "SMS pages go through Twilio");
        }
        if email.is_some() {
            tracing::info!("email pages go through the configured SMTP server");
        }
        Ok(Gateways { sms, email })
    }

    /// Made from clients already built (tests).
    pub fn new(sms: Option<TwilioClient>, email: Option<Mailer>) -> Self {
        Gateways { sms, email }
    }

    /// The SMS client, for the poller.
    pub fn twilio(&self) -> Option<&TwilioClient> {
        self.sms.as_ref()
    }
}

#[async_trait]
impl Notifier for Gateways {
    async fn send_sms(&self, sms: &Sms) -> Result<SmsAccepted, NotifyError> {
        match &self.sms {
            Some(client) => client.send(sms).await,
            None => Err(NotifyError::Refused {
                code: None,
                reason: "no SMS gateway is set up ([sms] in the config)".into(),
            }),
        }
    }

    async fn send_email(&self, email: &Email) -> Result<(), NotifyError> {
        match &self.email {
            Some(mailer) => mailer.send(email).await,
            None => Err(NotifyError::Refused {
                code: None,
                reason: "no mail server is set up ([email] in the config)".into(),
            }),
        }
    }

    fn has_sms(&self) -> bool {
        self.sms.is_some()
    }

    fn has_email(&self) -> bool {
        self.email.is_some()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_gateway_left_out_refuses_so_the_next_method_is_tried() {
        let none = Gateways::default();
        assert!(!none.has_sms() && !none.has_email());
        let sms = Sms {
            to: "+447700900123".to_string().try_into().expect("phone"),
            body: "SG-0042".into(),
        };
        assert!(matches!(
            none.send_sms(&sms).await,
            Err(NotifyError::Refused { code: None, .. })
        ));
        let email = Email {
            to: "dsl@example.org".to_string().try_into().expect("address"),
            subject: "s".into(),
            body: "b".into(),
            message_id: "k@h".into(),
        };
        assert!(matches!(
            none.send_email(&email).await,
            Err(NotifyError::Refused { .. })
        ));
    }
}
