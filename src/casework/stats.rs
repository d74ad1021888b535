//! Figures for the policy's annual review: `!stats` and `safeguarding-bot stats`.
