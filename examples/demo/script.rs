//! What the demo's people type, and what the bot says back to each (a
//! phrase of it), shared by `examples/demo.rs` and `tests/it/demo_script.rs`,
//! which walks the report through the flowchart so the demo always shows a
//! case the chart rightly routes to "Record the concern".

/// The member of staff's answers in their private chat, each with a phrase
/// of the bot's reply it waits for.
pub const REPORT: &[(&str, &str)] = &[
    // Nobody is in danger now, there is no sexual content, nobody is
    // contacting the young member, and no one has committed a crime: the
    // risk is their own conduct, so the chart rightly says to record it.
    ("no", "child sexual content"),
    ("no", "communicating with a child"),
    ("no", "known person"),
    ("no", "What did you see or hear"),
    (
        "I saw a young member post their home address in the charity's group chat",
        "their own words",
    ),
    ("skip", "When did it happen"),
    ("yesterday evening", "Who is involved"),
    (
        "a young member, about 14, who posted it themselves",
        "Where online",
    ),
    ("the charity's group chat", "Who else knows"),
    (
        "the other members of the group chat could see it",
        "What have you done so far",
    ),
    ("skip", "Which area of risk"),
    ("3", "What is your role"),
    ("volunteer", "anything else"),
    ("skip", "Please check your report"),
    ("send", "recorded as"),
];

/// The lead's follow-up in the concern's room, each with a phrase of the
/// bot's reply it waits for; the last closes the concern.
pub const FOLLOW_UP: &[(&str, &str)] = &[
    (
        "!note Asked the group chat's moderator to remove the post; it was removed within the hour",
        "Noted as entry",
    ),
    (
        "!decision no referral because the post was removed quickly and nobody is known to have used the address",
        "Decision and its reason recorded",
    ),
    ("!category conduct", "Category of"),
    (
        "!close 2 advice given to the young member and their family about keeping personal details private online",
        "is closed",
    ),
];
