//! Exports of one concern (Markdown, HTML, PDF) to send with a referral.
