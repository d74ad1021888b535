//! Delivering an SMS or email effect through the core's
//! [`crate::notify::Notifier`].
//!
//! An SMS is the one effect that may go twice: the gateway has no
//! idempotency key, so a crash after the request and before the effect is
//! marked done would send it again. To keep that window small and seen,
//! the effect is marked in flight, durably, just before the request; the
//! mark goes in the same commit that marks the effect done. A mark found
//! on a later try (after a restart) is audited: that SMS may arrive twice.
//! Sending again rather than dropping it is on purpose: a page lost is
//! worse than a page twice.
//!
//! A refusal for good moves the person on to their next method at once
//! ([`Core::page_step_failed`]); a STOP refusal also stops SMS to that
//! number. A page whose concern was acknowledged or closed meanwhile is
//! not sent.

use std::time::Duration;

use chrono::{DateTime, Utc};
use tracing::{error, info, warn};

use super::{Effect, Outcome, PageStep};
use crate::bot::Core;
use crate::notify::{Notifier, NotifyError, Sms};
use crate::store::{Batch, Pending, Tree};

/// How long before an SMS or email the gateway could not take now is
/// tried again, at least (the outbox backs off from there).
const LATER: Duration = Duration::from_secs(2);

fn inflight_key(key: &str) -> String {
    format!("sms-inflight:{key}")
}

impl Core {
    /// One try of an SMS or email effect.
    pub(super) async fn attempt_notification(&self, item: &Pending<Effect>) -> Outcome {
        let (page, word) = match &item.effect {
            Effect::Sms { page, .. } => (page.as_ref(), "SMS"),
            Effect::Email { page, .. } => (page.as_ref(), "email"),
            _ => return Outcome::Dropped,
        };
        let audit = |action: &str| {
            let (reference, who) = page.map_or((None, ""), |p| (Some(&p.reference), p.who.as_str()));
            if let Err(e) = self.store.audit(self.now(), "bot", action, reference, who) {
                error!(error = %e, "could not audit a page outside the chat");
            }
        };
        let Some(notifier) = self.notifier.clone() else {
            audit(&format!("{word} not sent: not configured"));
            return Outcome::Dropped;
        };
        if let Some(p) = page {
            if !self.page_still_wanted(&p.reference) {
                audit(&format!("{word} page not sent: acknowledged or closed"));
                return Outcome::Dropped;
            }
        }
        let result = match &item.effect {
            Effect::Sms { sms, page } => {
                return self.send_sms(notifier.as_ref(), item, sms, page.as_ref()).await
            }
            Effect::Email { email, .. } => notifier.send_email(email).await,
            _ => return Outcome::Dropped,
        };
        match result {
            Ok(()) => {
                self.metrics.outside("email", "sent");
                audit(if page.is_some() {
                    "paged by email"
                } else {
                    "email sent"
                });
                Outcome::done(Batch::new())
            }
            Err(e) => self.not_sent(item, page, e).await,
        }
    }

    async fn send_sms(
        &self,
        notifier: &dyn Notifier,
        item: &Pending<Effect>,
        sms: &Sms,
        page: Option<&PageStep>,
    ) -> Outcome {
        let (reference, who) = page.map_or((None, ""), |p| (Some(&p.reference), p.who.as_str()));
        let mark = inflight_key(&item.key);
        if matches!(
            self.store.get_item::<DateTime<Utc>>(Tree::Settings, &mark),
            Ok(Some(_))
        ) {
            warn!("an SMS may have gone before a restart; sending it again, so it may arrive twice");
            let _ = self.store.audit(
                self.now(),
                "bot",
                "SMS tried again after a restart: it may arrive twice",
                reference,
                who,
            );
        }
        if let Err(e) = self.store.put_item(Tree::Settings, &mark, &self.now()) {
            error!(error = %e, "could not mark an SMS in flight; not sending it yet");
            return Outcome::retry(Duration::from_secs(1));
        }
        let result = notifier.send_sms(sms).await;
        let mut then = Batch::new();
        self.store.stage_remove_item(&mut then, Tree::Settings, &mark);
        match result {
            Ok(accepted) => {
                if let Some(p) = page {
                    if let Err(e) = self.stage_sent(&mut then, &accepted.sid, p) {
                        error!(error = %format!("{e:#}"), "could not keep which page an SMS was");
                    }
                }
                let action = if page.is_some() {
                    "paged by SMS"
                } else {
                    "SMS sent"
                };
                let _ = self.store.audit(self.now(), "bot", action, reference, who);
                self.metrics.outside("sms", "sent");
                info!("SMS taken by the gateway");
                Outcome::done(then)
            }
            Err(e) => {
                // The gateway answered: it did not send. The mark goes now.
                if let Err(e) = self.store.commit(then) {
                    error!(error = %e, "could not clear an SMS's in-flight mark");
                }
                self.not_sent(item, page, e).await
            }
        }
    }

    /// An SMS or email the gateway did not take: tried again later, or,
    /// refused for good, audited and the person moved on to their next
    /// method (and SMS to their number stopped, for STOP).
    async fn not_sent(&self, item: &Pending<Effect>, page: Option<&PageStep>, e: NotifyError) -> Outcome {
        let word = if matches!(item.effect, Effect::Sms { .. }) {
            "SMS"
        } else {
            "email"
        };
        let (reference, who) = page.map_or((None, ""), |p| (Some(&p.reference), p.who.as_str()));
        let method = if word == "SMS" { "sms" } else { "email" };
        match e {
            NotifyError::Later(why) => {
                self.metrics.outside(method, "retry");
                let _ = self.store.audit(
                    self.now(),
                    "bot",
                    &format!("{word} not sent yet: will try again"),
                    reference,
                    who,
                );
                info!(reason = %why, "{word} not taken now; trying again");
                Outcome::Retry {
                    after: LATER,
                    counts: true,
                }
            }
            refused => {
                self.metrics.outside(method, "failed");
                let detail = format!("{who}: {refused}");
                let _ = self.store.audit(
                    self.now(),
                    "bot",
                    &format!("{word} refused"),
                    reference,
                    detail.trim_start_matches(": "),
                );
                warn!("{word} refused for good");
                if let (true, Effect::Sms { sms, .. }, Some(p)) = (refused.is_stop(), &item.effect, page) {
                    if let Err(e) = self.delivery_stopped(&p.who, &sms.to, &item.key).await {
                        error!(error = %format!("{e:#}"), "could not note that a number refuses SMS");
                    }
                }
                if let Some(p) = page {
                    if let Err(e) = self.page_step_failed(p, None).await {
                        error!(error = %format!("{e:#}"), "could not move on to someone's next way of being paged");
                    }
                }
                Outcome::Dropped
            }
        }
    }

    /// An SMS or email that kept failing and was given up: as a refusal.
    pub(super) async fn notification_given_up(&self, item: &Pending<Effect>, why: &str) -> Batch {
        let page = match &item.effect {
            Effect::Sms { page, .. } | Effect::Email { page, .. } => page.clone(),
            _ => None,
        };
        let _ = self
            .not_sent(
                item,
                page.as_ref(),
                NotifyError::Refused {
                    code: None,
                    reason: why.to_string(),
                },
            )
            .await;
        Batch::new()
    }
}
