//! The deployment files say what deploy/README.md promises: the systemd unit
//! is locked down and runs the bot as its own user, the container does not
//! run as root and carries the flowcharts, and the guide tells the installer
//! about rate limits and the key.
//!
//! The unit is also checked by `systemd-analyze verify` (see deploy/README.md
//! and the unit's comments); this test needs no systemd and runs everywhere.

use std::collections::BTreeMap;
use std::path::PathBuf;

fn deploy_file(name: &str) -> String {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("deploy")
        .join(name);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("could not read {}: {e}", path.display()))
}

/// A systemd unit as sections of (key, value) pairs, in order. Keys may
/// repeat (as `SystemCallFilter=` does), so each section keeps a list.
/// Comments, blank lines and line continuations are handled as systemd does.
fn parse_unit(text: &str) -> BTreeMap<String, Vec<(String, String)>> {
    let mut sections: BTreeMap<String, Vec<(String, String)>> = BTreeMap::new();
    let mut current: Option<String> = None;
    let mut pending = String::new();
    for raw in text.lines() {
        let line = raw.trim();
        if pending.is_empty() && (line.is_empty() || line.starts_with('#') || line.starts_with(';')) {
            continue;
        }
        if let Some(rest) = line.strip_suffix('\\') {
            pending.push_str(rest);
            pending.push(' ');
            continue;
        }
        pending.push_str(line);
        let full = std::mem::take(&mut pending);
        if full.starts_with('[') && full.ends_with(']') {
            let name = full[1..full.len() - 1].to_string();
            sections.entry(name.clone()).or_default();
            current = Some(name);
            continue;
        }
        let (key, value) = full
            .split_once('=')
            .unwrap_or_else(|| panic!("unit line without '=': {full:?}"));
        let section = current
            .as_ref()
            .unwrap_or_else(|| panic!("unit line before any [section]: {full:?}"));
        sections
            .get_mut(section)
            .expect("section was created")
            .push((key.trim().to_string(), value.trim().to_string()));
    }
    assert!(pending.is_empty(), "the unit ends in a line continuation");
    sections
}

fn values<'a>(section: &'a [(String, String)], key: &str) -> Vec<&'a str> {
    section
        .iter()
        .filter(|(k, _)| k == key)
        .map(|(_, v)| v.as_str())
        .collect()
}

/// The one value of a key that must appear exactly once.
fn single<'a>(section: &'a [(String, String)], key: &str) -> &'a str {
    match values(section, key).as_slice() {
        [v] => v,
        [] => panic!("the unit's [Service] has no {key}="),
        many => panic!("the unit's [Service] sets {key}= {} times: {many:?}", many.len()),
    }
}

fn service() -> Vec<(String, String)> {
    let unit = parse_unit(&deploy_file("safeguarding-bot.service"));
    for section in ["Unit", "Service", "Install"] {
        assert!(unit.contains_key(section), "the unit has no [{section}] section");
    }
    unit["Service"].clone()
}

#[test]
fn unit_is_hardened() {
    let s = service();
    let expected = [
        ("StateDirectory", "safeguarding-bot"),
        ("ConfigurationDirectory", "safeguarding-bot"),
        ("EnvironmentFile", "-/etc/safeguarding-bot/env"),
        ("Restart", "always"),
        ("KillSignal", "SIGTERM"),
        ("UMask", "0077"),
        ("NoNewPrivileges", "yes"),
        ("CapabilityBoundingSet", ""),
        ("ProtectSystem", "strict"),
        ("ProtectHome", "yes"),
        ("PrivateTmp", "yes"),
        ("PrivateDevices", "yes"),
        ("ProtectKernelTunables", "yes"),
        ("ProtectKernelModules", "yes"),
        ("ProtectKernelLogs", "yes"),
        ("ProtectControlGroups", "yes"),
        ("ProtectClock", "yes"),
        ("ProtectHostname", "yes"),
        ("RestrictAddressFamilies", "AF_INET AF_INET6 AF_UNIX"),
        ("RestrictNamespaces", "yes"),
        ("RestrictRealtime", "yes"),
        ("RestrictSUIDSGID", "yes"),
        ("LockPersonality", "yes"),
        ("MemoryDenyWriteExecute", "yes"),
        ("SystemCallArchitectures", "native"),
    ];
    let mut wrong = Vec::new();
    for (key, want) in expected {
        match values(&s, key).as_slice() {
            [got] if *got == want => {}
            got => wrong.push(format!("{key}={want} (the unit has {got:?})")),
        }
    }
    assert!(wrong.is_empty(), "the unit should set:\n{}", wrong.join("\n"));

    // The first SystemCallFilter= is the allow list; later ones may only
    // take more away (a leading "~").
    let filters = values(&s, "SystemCallFilter");
    assert_eq!(filters.first(), Some(&"@system-service"), "{filters:?}");
    assert!(filters[1..].iter().all(|f| f.starts_with('~')), "{filters:?}");

    for key in ["RestartSec", "TimeoutStopSec"] {
        let v = single(&s, key);
        let secs: u64 = v
            .strip_suffix('s')
            .unwrap_or(v)
            .parse()
            .unwrap_or_else(|_| panic!("{key}={v} should be a number of seconds, like 10s"));
        assert!(
            (1..=120).contains(&secs),
            "{key}={v} should be between 1s and 120s"
        );
    }
}

#[test]
fn unit_runs_as_its_own_user() {
    let s = service();
    let dynamic = values(&s, "DynamicUser");
    let user = values(&s, "User");
    assert!(
        dynamic == ["yes"] || user == ["safeguarding-bot"],
        "the unit should run as its own user: DynamicUser=yes or User=safeguarding-bot \
         (DynamicUser={dynamic:?}, User={user:?})"
    );
    assert!(!user.contains(&"root"), "the unit must not run as root");
    assert!(
        values(&s, "AmbientCapabilities").iter().all(|v| v.is_empty()),
        "the bot needs no capabilities"
    );
}

#[test]
fn unit_checks_the_config_then_runs_the_bot() {
    let s = service();
    let config = "/etc/safeguarding-bot/config.toml";
    assert_eq!(
        single(&s, "ExecStart"),
        format!("/usr/bin/safeguarding-bot run --config {config}")
    );
    let pre = values(&s, "ExecStartPre");
    assert!(
        pre.iter()
            .any(|p| p.ends_with(&format!("safeguarding-bot check-config {config}"))),
        "ExecStartPre= should run check-config on {config}: {pre:?}"
    );
}

/// The lines of the Containerfile's last stage: the image that runs.
fn runtime_stage() -> Vec<String> {
    let text = deploy_file("Containerfile");
    // Join continuation lines, drop comments.
    let mut lines = Vec::new();
    let mut pending = String::new();
    for raw in text.lines() {
        let line = raw.trim();
        if pending.is_empty() && (line.is_empty() || line.starts_with('#')) {
            continue;
        }
        if let Some(rest) = line.strip_suffix('\\') {
            pending.push_str(rest);
            pending.push(' ');
            continue;
        }
        pending.push_str(line);
        lines.push(std::mem::take(&mut pending));
    }
    let froms: Vec<usize> = (0..lines.len())
        .filter(|&i| lines[i].to_uppercase().starts_with("FROM "))
        .collect();
    assert!(
        froms.len() >= 2,
        "the Containerfile should be a multi-stage build (a builder and a runtime stage)"
    );
    assert!(
        lines[froms[0]].contains("rust:"),
        "the builder stage: {}",
        lines[froms[0]]
    );
    let stage = lines[*froms.last().unwrap()..].to_vec();
    assert!(
        stage[0].contains("debian:bookworm-slim"),
        "the runtime stage: {}",
        stage[0]
    );
    stage
}

fn instruction<'a>(stage: &'a [String], name: &str) -> Vec<&'a str> {
    stage
        .iter()
        .filter_map(|l| {
            let (word, rest) = l.split_once(char::is_whitespace)?;
            word.eq_ignore_ascii_case(name).then_some(rest.trim())
        })
        .collect()
}

#[test]
fn container_does_not_run_as_root() {
    let stage = runtime_stage();
    let users = instruction(&stage, "USER");
    let last = users
        .last()
        .expect("the runtime stage should have a USER line: it must not run as root");
    let user = last.split(':').next().unwrap_or_default();
    assert!(
        !user.is_empty() && user != "root" && user != "0",
        "the runtime stage runs as {last}"
    );
}

#[test]
fn container_carries_the_flowcharts_and_runs_the_bot() {
    let stage = runtime_stage();
    let copies = instruction(&stage, "COPY");
    assert!(
        copies
            .iter()
            .any(|c| c.starts_with("conversations") && c.contains("/usr/share/safeguarding-bot/conversations")),
        "the runtime stage should copy conversations/ to /usr/share/safeguarding-bot/conversations: {copies:?}"
    );
    let volumes = instruction(&stage, "VOLUME");
    assert!(
        volumes.iter().any(|v| v.contains("/var/lib/safeguarding-bot")),
        "the data directory should be a VOLUME: {volumes:?}"
    );
    let entry = instruction(&stage, "ENTRYPOINT");
    let entry = entry.last().expect("the runtime stage should have an ENTRYPOINT");
    assert!(
        entry.contains("safeguarding-bot")
            && entry.contains("\"run\"")
            && entry.contains("\"--config\"")
            && entry.contains("/etc/safeguarding-bot/config.toml"),
        "ENTRYPOINT should run the bot with run --config /etc/safeguarding-bot/config.toml: {entry}"
    );
    let builder = deploy_file("Containerfile");
    assert!(builder.contains("cargo build --release --locked"));
}

#[test]
fn guide_covers_rate_limits_and_the_key() {
    let guide = deploy_file("README.md");
    // Markdown wraps lines anywhere: compare with whitespace collapsed.
    let flat = guide.split_whitespace().collect::<Vec<_>>().join(" ");
    for needle in [
        "override_ratelimit",
        r#"{"messages_per_second": 0, "burst_count": 0}"#,
        "register_new_matrix_user",
        "Back up the key file",
        "What is lost without the key",
        "cannot be read by anyone, ever",
        "What is lost without `data_dir/matrix`",
        "SAFEGUARDING_BOT_MATRIX_PASSWORD=",
        "systemctl enable --now safeguarding-bot",
        "journalctl -u safeguarding-bot",
        "never logs the words of a concern",
        "It has not been built",
    ] {
        assert!(
            flat.contains(needle),
            "deploy/README.md should mention {needle:?}"
        );
    }
}

#[test]
fn every_config_the_repo_writes_sets_retention_and_the_guide_explains_it() {
    // The local trial writes its own config; it must load like any other.
    let trial = deploy_file("try-locally.sh");
    assert!(
        trial
            .lines()
            .any(|l| l.trim_start().starts_with("retention = \"")),
        "deploy/try-locally.sh should set [safeguarding] retention"
    );
    // Comments wrap too: compare without the comment marks.
    let example = deploy_file("config.example.toml");
    let flat = example
        .lines()
        .map(|l| l.trim_start().trim_start_matches('#'))
        .flat_map(str::split_whitespace)
        .collect::<Vec<_>>()
        .join(" ");
    for needle in [
        "retention = \"6 years\"",
        "date of birth + 25 years",
        "retention --dry-run",
    ] {
        assert!(
            flat.contains(needle),
            "the example config should mention {needle:?}"
        );
    }
    let guide = deploy_file("README.md");
    let flat = guide.split_whitespace().collect::<Vec<_>>().join(" ");
    for needle in [
        "sudo -u safeguarding-bot safeguarding-bot retention --dry-run",
        "never as root",
        "audit verify",
    ] {
        assert!(
            flat.contains(needle),
            "deploy/README.md should mention {needle:?}"
        );
    }
}

/// The outcomes list shown (commented out) in the example config and in the
/// leads' guide is the one the bot uses when the config leaves it out.
#[test]
fn the_example_config_and_the_leads_guide_show_the_default_outcomes() {
    let example = deploy_file("config.example.toml");
    let block: String = example
        .lines()
        .skip_while(|l| !l.starts_with("# outcomes = ["))
        .take_while(|l| l.starts_with('#'))
        .map(|l| l.trim_start_matches('#'))
        .collect::<Vec<_>>()
        .join("\n");
    let end = block.find(']').expect("the commented outcomes list ends with ]");
    let parsed: toml::Table = toml::from_str(&block[..=end]).expect("the commented list is TOML");
    let listed: Vec<&str> = parsed["outcomes"]
        .as_array()
        .expect("a list")
        .iter()
        .map(|v| v.as_str().expect("text"))
        .collect();
    assert_eq!(listed, safeguarding_bot::casework::DEFAULT_OUTCOMES);

    let guide = std::fs::read_to_string(PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("docs/for-leads.md"))
        .expect("docs/for-leads.md");
    for (i, name) in safeguarding_bot::casework::DEFAULT_OUTCOMES.iter().enumerate() {
        let item = format!("{} {name}", i + 1);
        assert!(guide.contains(&item), "docs/for-leads.md should list {item:?}");
    }
}

/// The guide's short way: five commands from the package to a running
/// service, each as .ci/run and deploy/check-package.sh check it (they build
/// the package, install it into a scratch root, check the config as
/// installed and filled in, and verify the unit).
#[test]
fn the_guide_starts_with_the_package_in_five_commands() {
    let guide = deploy_file("README.md");
    let short = guide
        .split("## The short way: the Debian package")
        .nth(1)
        .expect("deploy/README.md should have a section \"The short way: the Debian package\"");
    let first_section = guide.find("## The short way").expect("the short way");
    let first_step = guide.find("## 1. Register").expect("step 1");
    assert!(first_section < first_step, "the package path should come first");
    let block: Vec<&str> = short
        .split("```sh\n")
        .nth(1)
        .and_then(|b| b.split("```").next())
        .expect("a sh block")
        .lines()
        .map(|l| l.split("  #").next().unwrap_or(l).trim())
        .collect();
    let deb = format!(
        "apt install ./target/debian/safeguarding-bot_{}-1_amd64.deb",
        env!("CARGO_PKG_VERSION")
    );
    assert_eq!(
        block,
        [
            "cargo install cargo-deb && cargo deb --locked",
            deb.as_str(),
            "nano /etc/safeguarding-bot/config.toml",
            "safeguarding-bot check-config /etc/safeguarding-bot/config.toml",
            "systemctl enable --now safeguarding-bot",
        ]
    );
    let ci =
        std::fs::read_to_string(PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(".ci/run")).expect(".ci/run");
    for needle in ["cargo deb --locked", "deploy/check-package.sh"] {
        assert!(ci.contains(needle), ".ci/run should run {needle:?}");
    }
    let check = deploy_file("check-package.sh");
    for needle in [
        "dpkg --root=",
        "check-config \"$config\"",
        "systemd-analyze verify",
        "lintian --fail-on error",
    ] {
        assert!(
            check.contains(needle),
            "deploy/check-package.sh should run {needle:?}"
        );
    }
    assert!(
        guide.contains("apt purge safeguarding-bot") && guide.contains("deletes `/var/lib/safeguarding-bot`"),
        "the guide should warn that purge deletes the records"
    );
}
