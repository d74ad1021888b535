//! An in-memory [`Notifier`] for the core's fast tests: it records every
//! SMS and email it is given, and refuses or delays them as a test asks.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::Duration;

use async_trait::async_trait;
use safeguarding_bot::notify::{Email, Notifier, NotifyError, Sms, SmsAccepted};

#[derive(Default)]
pub struct Recorder {
    sms: Mutex<Vec<(String, Sms)>>,
    emails: Mutex<Vec<Email>>,
    /// Every SMS is answered with this error, while set.
    refuse_sms: Mutex<Option<NotifyError>>,
    /// Every SMS tried, taken or not.
    tried: AtomicU64,
    next_sid: AtomicU64,
}

impl Recorder {
    /// Refuses every SMS with `e` from now on (None: takes them again).
    pub fn refuse_sms(&self, e: Option<NotifyError>) {
        *self.refuse_sms.lock().unwrap() = e;
    }

    /// Every SMS taken, with the sid it was given.
    pub fn sms(&self) -> Vec<(String, Sms)> {
        self.sms.lock().unwrap().clone()
    }

    pub fn sms_to(&self, to: &str) -> Vec<String> {
        self.sms()
            .into_iter()
            .filter(|(_, s)| s.to.as_str() == to)
            .map(|(_, s)| s.body)
            .collect()
    }

    pub fn emails(&self) -> Vec<Email> {
        self.emails.lock().unwrap().clone()
    }

    pub fn emails_to(&self, to: &str) -> Vec<Email> {
        self.emails()
            .into_iter()
            .filter(|e| e.to.as_str() == to)
            .collect()
    }

    pub fn sms_tried(&self) -> u64 {
        self.tried.load(Ordering::SeqCst)
    }

    /// Every SMS and email body and subject, for checks of what they say.
    pub fn all_text(&self) -> Vec<String> {
        let mut all: Vec<String> = self.sms().into_iter().map(|(_, s)| s.body).collect();
        for e in self.emails() {
            all.push(e.subject);
            all.push(e.body);
        }
        all
    }

    /// Waits (in the test's time) until `pred` holds.
    pub async fn wait_until(&self, what: &str, pred: impl Fn(&Recorder) -> bool) {
        for _ in 0..3000 {
            if pred(self) {
                return;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        panic!(
            "{what}: never happened; SMS {:?}, emails {:?}",
            self.sms(),
            self.emails()
        );
    }
}

#[async_trait]
impl Notifier for Recorder {
    async fn send_sms(&self, sms: &Sms) -> Result<SmsAccepted, NotifyError> {
        self.tried.fetch_add(1, Ordering::SeqCst);
        if let Some(e) = self.refuse_sms.lock().unwrap().clone() {
            return Err(e);
        }
        let sid = format!("SM{:032}", self.next_sid.fetch_add(1, Ordering::SeqCst));
        self.sms.lock().unwrap().push((sid.clone(), sms.clone()));
        Ok(SmsAccepted { sid })
    }

    async fn send_email(&self, email: &Email) -> Result<(), NotifyError> {
        self.emails.lock().unwrap().push(email.clone());
        Ok(())
    }

    fn has_sms(&self) -> bool {
        true
    }

    fn has_email(&self) -> bool {
        true
    }
}
