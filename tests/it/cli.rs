//! The command line as a lead or an IT volunteer uses it.

use std::io::Write;
use std::process::{Command, Stdio};

const BIN: &str = env!("CARGO_BIN_EXE_safeguarding-bot");

fn run(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(BIN)
        .args(args)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("the binary runs");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).to_string(),
        String::from_utf8_lossy(&out.stderr).to_string(),
    )
}

#[test]
fn flow_check_passes_both_flows() {
    let (code, out, _) = run(&[
        "flow",
        "check",
        "conversations/online-safety-referral.toml",
        "conversations/cauk-online-safety.toml",
    ]);
    assert_eq!(code, 0, "{out}");
    assert_eq!(out.matches(": ok:").count(), 2, "{out}");
}

#[test]
fn flow_check_lists_every_problem_with_file_and_line_and_exits_1() {
    let (code, out, _) = run(&["flow", "check", "tests/data/several-mistakes.toml"]);
    assert_eq!(code, 1, "{out}");
    let lines: Vec<&str> = out
        .lines()
        .filter(|l| l.starts_with("tests/data/several-mistakes.toml:"))
        .collect();
    assert!(lines.len() >= 4, "every problem listed: {out}");
    assert!(out.contains("will not run until they are fixed"), "{out}");
}

#[test]
fn flow_graph_prints_a_mermaid_chart_with_all_four_questions() {
    let (code, out, _) = run(&["flow", "graph", "conversations/online-safety-referral.toml"]);
    assert_eq!(code, 0);
    assert!(out.starts_with("flowchart TD"), "{out}");
    for q in [
        "Is a crime in progress or is anyone in immediate danger?",
        "Is the concern about child sexual content anywhere in the world?",
        "Is the concern about a person communicating with a child or adult for sexual reasons?",
        "Is the concern about a known person, non-sexual harassment or other potential crime?",
    ] {
        assert!(out.contains(q), "{q} missing from:\n{out}");
    }
    let (code, dot, _) = run(&[
        "flow",
        "graph",
        "--dot",
        "conversations/online-safety-referral.toml",
    ]);
    assert_eq!(code, 0);
    assert!(dot.starts_with("digraph"), "{dot}");
}

#[test]
fn a_missing_flow_file_is_named() {
    let (code, _, err) = run(&["flow", "graph", "conversations/nope.toml"]);
    assert_eq!(code, 2);
    assert!(err.contains("conversations/nope.toml"), "{err}");
}

#[test]
fn rehearse_walks_a_flow_in_the_terminal_and_shows_what_the_bot_would_do() {
    let mut child = Command::new(BIN)
        .args(["rehearse", "conversations/online-safety-referral.toml"])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("runs");
    let answers = "yes\nI saw a threat\nskip\ntoday\na child\nan app\nskip\nskip\n1\nstaff\nskip\nsend\n";
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(answers.as_bytes())
        .expect("write");
    let out = child.wait_with_output().expect("finishes");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success());
    let urgent = text
        .find("[The bot would page the lead now, as URGENT.]")
        .expect("urgent page shown");
    let call = text.find("Call 999 now").expect("999 shown");
    assert!(urgent < call, "the page comes first, then the 999 instruction");
    assert!(
        text.contains("[The bot would keep the record, submitted.]"),
        "{text}"
    );
    assert!(text.contains("I saw a threat"), "the record is shown at the end");
}

#[test]
fn check_config_reports_bad_keys_and_values() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("bot.toml");
    std::fs::write(
        &path,
        "[matrix]\nhomeserver_url = \"http://127.0.0.1:8008\"\nuser_id = \"@bot:x\"\npassword = \"p\"\nstaff_rooms = [\"!a:x\"]\nfavourite_colour = \"blue\"\n",
    )
    .expect("write");
    let (code, _, err) = run(&["check-config", path.to_str().expect("utf8")]);
    assert_eq!(code, 1, "problems in the file exit 1, as the help says");
    assert!(err.contains("unknown key `favourite_colour`"), "{err}");
    assert!(err.contains("line 6"), "{err}");
}

#[test]
fn help_lists_every_subcommand() {
    let (code, out, _) = run(&["--help"]);
    assert_eq!(code, 0);
    for sub in [
        "flow",
        "rehearse",
        "run",
        "check-config",
        "export",
        "audit",
        "retention",
        "stats",
    ] {
        assert!(out.contains(sub), "{sub}: {out}");
    }
}

#[test]
fn version_names_the_package_and_the_flowchart_format() {
    let (code, out, err) = run(&["--version"]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(
        out.trim(),
        format!(
            "safeguarding-bot {} (flowchart format {})",
            env!("CARGO_PKG_VERSION"),
            safeguarding_bot::flow::FORMAT_VERSION
        )
    );
}

/// The package installs the example as /etc/safeguarding-bot/config.toml;
/// the unit runs check-config before every start, so an unedited config
/// stops the service with this in the journal.
#[test]
fn the_example_config_as_shipped_is_refused_until_edited() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("config.toml");
    std::fs::copy(
        concat!(env!("CARGO_MANIFEST_DIR"), "/deploy/config.example.toml"),
        &path,
    )
    .expect("copy");
    let shown = path.to_str().expect("utf8");
    let (code, out, err) = run(&["check-config", shown]);
    assert_eq!(code, 1, "{out}{err}");
    assert!(
        err.contains(&format!("{shown} is the example config, not filled in yet")),
        "{err}"
    );
    assert!(
        err.contains(&format!("safeguarding-bot check-config {shown}")),
        "{err}"
    );
    let (code, out, err) = run(&["run", "--config", shown]);
    assert_ne!(code, 0, "{out}{err}");
    assert!(err.contains("is the example config, not filled in yet"), "{err}");
}

/// The password kept in `env` beside the config, as deploy/README.md says,
/// is read by check-config as systemd hands it to the service.
#[test]
fn check_config_reads_the_password_from_the_env_file_beside_it() {
    let dir = tempfile::tempdir().expect("tempdir");
    let flow = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/conversations/online-safety-referral.toml"
    );
    let example = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/deploy/config.example.toml"))
        .expect("example config");
    let text: String = example
        .lines()
        .filter(|l| !l.starts_with("password = "))
        .map(|l| {
            if l.starts_with("file = ") {
                format!("file = \"{flow}\"\n")
            } else {
                format!("{l}\n")
            }
        })
        .collect();
    let path = dir.path().join("config.toml");
    std::fs::write(&path, text).expect("write");
    let shown = path.to_str().expect("utf8");
    let (code, out, err) = run(&["check-config", shown]);
    assert_eq!(code, 1, "{out}{err}");
    assert!(err.contains("SAFEGUARDING_BOT_MATRIX_PASSWORD"), "{err}");
    std::fs::write(
        dir.path().join("env"),
        "# from deploy/README.md, step 5\nSAFEGUARDING_BOT_MATRIX_PASSWORD=the-bot-password\n",
    )
    .expect("env file");
    let (code, out, err) = run(&["check-config", shown]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains(": ok:"), "{out}");
}

#[test]
fn the_example_config_is_valid() {
    let example = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/deploy/config.example.toml"))
        .expect("example config");
    let flow = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/conversations/online-safety-referral.toml"
    );
    let text: String = example
        .lines()
        .map(|l| {
            if l.starts_with("file = ") {
                format!("file = \"{flow}\"")
            } else {
                l.to_string()
            }
        })
        .collect::<Vec<_>>()
        .join("\n");
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("config.toml");
    std::fs::write(&path, text).expect("write");
    let (code, out, err) = run(&["check-config", path.to_str().expect("utf8")]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains(": ok:"), "{out}");
}

// ----- the subcommands that read or change the store -----

mod store_commands {
    use std::os::unix::fs::PermissionsExt;
    use std::path::{Path, PathBuf};
    use std::process::Command;

    use chrono::{DateTime, TimeZone, Utc};

    use safeguarding_bot::casework::{Casefile, EntryKind};
    use safeguarding_bot::concern::{ConcernRecord, Reference, RouteTaken};
    use safeguarding_bot::escalation::{Acknowledgement, Escalation};
    use safeguarding_bot::store::{Key, Store, Tree};

    use super::BIN;

    const WORDS: &str = "a stranger called Zebedee sent them messages";

    /// A config and a data directory with its key, as the bot leaves them.
    /// The config has no password, as in production, where it is in a file
    /// only systemd reads: these subcommands never log in.
    struct Setup {
        _tmp: tempfile::TempDir,
        dir: PathBuf,
        config: PathBuf,
    }

    impl Setup {
        fn new() -> Setup {
            let tmp = tempfile::tempdir().expect("tempdir");
            let dir = tmp.path().to_path_buf();
            let config = dir.join("bot.toml");
            let flow = concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/conversations/online-safety-referral.toml"
            );
            std::fs::write(
                &config,
                format!(
                    "[matrix]\nhomeserver_url = \"http://127.0.0.1:1\"\nuser_id = \"@bot:example.org\"\nstaff_rooms = [\"!staff:example.org\"]\n\n[safeguarding]\norganisation = \"Test Charity\"\nlead = \"@dsl:example.org\"\nretention = \"6 years\"\n\n[storage]\ndata_dir = \"data\"\n\n[flow]\nfile = \"{flow}\"\n"
                ),
            )
            .expect("write config");
            Setup {
                _tmp: tmp,
                dir,
                config,
            }
        }

        /// The store, opened in this process.
        fn store(&self) -> Store {
            let data = self.dir.join("data");
            let key = Key::load_or_create(&data.join("key")).expect("key");
            Store::open(&data.join("store"), key).expect("the store opens")
        }

        /// Runs the binary with this config, in the temporary folder.
        fn run(&self, args: &[&str]) -> (i32, String, String) {
            let out = Command::new(BIN)
                .args(args)
                .arg("--config")
                .arg(&self.config)
                .current_dir(&self.dir)
                .env_remove("SAFEGUARDING_BOT_CONFIG")
                .env_remove("SAFEGUARDING_BOT_KEY")
                .output()
                .expect("the binary runs");
            (
                out.status.code().unwrap_or(-1),
                String::from_utf8_lossy(&out.stdout).to_string(),
                String::from_utf8_lossy(&out.stderr).to_string(),
            )
        }
    }

    fn at(year: i32, month: u32, day: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(year, month, day, 10, 0, 0).unwrap()
    }

    /// A concern that took the CEOP route.
    fn record(n: u64, started: DateTime<Utc>) -> ConcernRecord {
        ConcernRecord {
            route: Some(RouteTaken {
                outcome_id: "ceop".into(),
                title: "Report to CEOP".into(),
                agency: "CEOP".into(),
                contact: "ceop.police.uk".into(),
                guidance: "Report it to CEOP.".into(),
                note_afterwards: String::new(),
                urgent: false,
            }),
            ..crate::common::concern_record(n, started, WORDS)
        }
    }

    /// SG-0001, reported and closed in 2015 (long past six years); SG-0002,
    /// reported in 2026 and open, acknowledged after four minutes.
    fn two_concerns(s: &Setup) {
        let store = s.store();
        store.put_concern(&record(1, at(2015, 1, 1))).unwrap();
        let closed = Casefile::new(Reference::new(1))
            .with_entry(
                "@dsl:example.org",
                EntryKind::Closed {
                    kind: Some("No further action".into()),
                    outcome: String::new(),
                },
                at(2015, 1, 2),
            )
            .0;
        store.put_item(Tree::Casefiles, "SG-0001", &closed).unwrap();
        store.put_concern(&record(2, at(2026, 4, 2))).unwrap();
        let mut esc = Escalation::new(
            Reference::new(2),
            "@staff:example.org",
            false,
            "!room:example.org",
            "@dsl:example.org",
            at(2026, 4, 2),
        );
        esc.acknowledged = Some(Acknowledgement {
            by: "@dsl:example.org".into(),
            at: at(2026, 4, 2) + chrono::Duration::minutes(4),
            via: Default::default(),
        });
        store.put_item(Tree::Escalations, "SG-0002", &esc).unwrap();
        for (i, action) in ["one", "two", "three"].into_iter().enumerate() {
            store
                .audit(at(2026, 4, 3 + i as u32), "bot", action, None, "")
                .unwrap();
        }
    }

    fn alter_audit_entry(s: &Setup, seq: u64) {
        let path = s.dir.join("data/store");
        let db = crate::common::raw_sled(&path);
        let audit = db.open_tree("audit_seq_entry").unwrap();
        let key = seq.to_be_bytes();
        let mut bytes = audit.get(key).unwrap().unwrap().to_vec();
        let middle = bytes.len() / 2;
        bytes[middle] ^= 0x01;
        audit.insert(key, bytes).unwrap();
        db.flush().unwrap();
    }

    #[test]
    fn audit_verify_says_intact_then_names_the_altered_entry() {
        let s = Setup::new();
        two_concerns(&s);
        let (code, out, err) = s.run(&["audit", "verify"]);
        assert_eq!(code, 0, "{out}{err}");
        assert!(
            out.contains("The audit log is intact: 3 entries, the first at 11:00 BST, 3 April 2026, the last at 11:00 BST, 5 April 2026"),
            "{out}"
        );

        alter_audit_entry(&s, 2);
        let (code, out, err) = s.run(&["audit", "verify"]);
        assert_eq!(code, 1, "a broken log is a problem found: {out}{err}");
        assert!(out.contains("cannot be trusted from entry 2"), "{out}");
        assert!(out.contains("altered"), "{out}");
    }

    #[test]
    fn audit_show_lists_entries_without_content() {
        let s = Setup::new();
        two_concerns(&s);
        s.store()
            .audit(
                at(2026, 4, 9),
                "@dsl:example.org",
                "exported",
                Some(&Reference::new(2)),
                "pdf",
            )
            .unwrap();
        let (code, out, err) = s.run(&["audit", "show", "--reference", "SG-0002"]);
        assert_eq!(code, 0, "{out}{err}");
        assert_eq!(
            out.trim(),
            "4  2026-04-09 11:00:00 BST  @dsl:example.org  exported  SG-0002  (pdf)"
        );
    }

    #[test]
    fn retention_dry_run_lists_the_closed_concern_and_leaves_it_then_the_real_run_deletes_it() {
        let s = Setup::new();
        two_concerns(&s);
        let (code, out, err) = s.run(&["retention", "--dry-run"]);
        assert_eq!(code, 0, "{out}{err}");
        assert!(
            out.contains("Dry run: 1 concern would be deleted now; nothing was deleted."),
            "{out}"
        );
        assert!(
            out.contains("- SG-0001: closed on 2 January 2015; the retention period of 6 years ended on"),
            "{out}"
        );
        assert!(!out.contains("SG-0002"), "an open concern is never due: {out}");
        {
            let store = s.store();
            assert!(store.get_concern(&Reference::new(1)).unwrap().is_some(), "kept");
            assert_eq!(store.audit_entries().unwrap().len(), 3, "nothing audited");
        }

        let (code, out, err) = s.run(&["retention"]);
        assert_eq!(code, 0, "{out}{err}");
        assert!(
            out.contains("Deleted 1 concern, each written to the audit log:"),
            "{out}"
        );
        assert!(out.contains("- SG-0001: closed on 2 January 2015"), "{out}");
        let store = s.store();
        assert_eq!(store.get_concern(&Reference::new(1)).unwrap(), None);
        assert!(store.get_concern(&Reference::new(2)).unwrap().is_some());
        let last = store.audit_entries().unwrap().pop().unwrap();
        assert!(last.actor.starts_with("command line (user "), "{}", last.actor);
        assert_eq!(
            (last.action.as_str(), last.reference),
            ("deleted under retention", Some(Reference::new(1)))
        );
        assert_eq!(store.verify_audit(), Ok(()));
    }

    #[test]
    fn stats_prints_the_counts() {
        let s = Setup::new();
        two_concerns(&s);
        let (code, out, err) = s.run(&["stats"]);
        assert_eq!(code, 0, "{out}{err}");
        assert!(
            out.starts_with("2 concerns reported in all: 0 urgent, 2 not urgent."),
            "{out}"
        );
        assert!(
            out.contains("1 open, 0 referred, 0 monitoring, 1 closed"),
            "{out}"
        );
        assert!(out.contains("- Report to CEOP: 2"), "{out}");
        assert!(!out.contains("Zebedee"), "{out}");

        let (code, out, err) = s.run(&["stats", "--since", "1 April 2026"]);
        assert_eq!(code, 0, "{out}{err}");
        assert!(out.starts_with("1 concern reported since 1 April 2026"), "{out}");
        assert!(
            out.contains("- median 4 minutes, worst 4 minutes (1 acknowledged)"),
            "{out}"
        );

        let (code, _, err) = s.run(&["stats", "--since", "last spring"]);
        assert_eq!(code, 2);
        assert!(
            err.contains("\"last spring\" is not a date; write it like 2026-04-01 or 1 April 2026"),
            "{err}"
        );
    }

    #[test]
    fn export_of_an_unknown_reference_exits_1_and_says_so() {
        let s = Setup::new();
        two_concerns(&s);
        let (code, out, err) = s.run(&["export", "SG-0042"]);
        assert_eq!(code, 1, "{out}{err}");
        assert!(err.contains("There is no concern SG-0042 in this store"), "{err}");
        assert!(!s.dir.join("SG-0042.pdf").exists());
    }

    #[test]
    fn export_writes_a_private_pdf_once_and_audits_it() {
        let s = Setup::new();
        two_concerns(&s);
        let (code, out, err) = s.run(&["export", "SG-0002"]);
        assert_eq!(code, 0, "{out}{err}");
        let path = s.dir.join("SG-0002.pdf");
        assert!(
            out.contains(&format!("Wrote SG-0002 as PDF to {}", "SG-0002.pdf")),
            "{out}"
        );
        let bytes = std::fs::read(&path).expect("the PDF was written");
        assert!(bytes.starts_with(b"%PDF"), "a PDF");
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600, "readable only by its owner");

        // Not over an existing file, unless asked.
        let (code, _, err) = s.run(&["export", "SG-0002"]);
        assert_eq!(code, 2);
        assert!(err.contains("already exists") && err.contains("--force"), "{err}");
        let md = s.dir.join("out.md");
        std::fs::write(&md, "old").unwrap();
        std::fs::set_permissions(&md, std::fs::Permissions::from_mode(0o644)).unwrap();
        let (code, out, err) = s.run(&[
            "export", "SG-0002", "--format", "md", "--output", "out.md", "--force",
        ]);
        assert_eq!(code, 0, "{out}{err}");
        let text = std::fs::read_to_string(&md).unwrap();
        assert!(text.contains("SG-0002"), "{text}");
        assert_eq!(
            std::fs::metadata(&md).unwrap().permissions().mode() & 0o777,
            0o600
        );

        let store = s.store();
        let exports: Vec<_> = store
            .audit_entries()
            .unwrap()
            .into_iter()
            .filter(|e| e.action == "exported")
            .map(|e| (e.actor.starts_with("command line (user "), e.reference, e.detail))
            .collect();
        let entry = |f: &str| (true, Some(Reference::new(2)), f.to_string());
        assert_eq!(exports, vec![entry("pdf"), entry("md")]);
    }

    #[test]
    fn a_store_in_use_by_the_bot_is_named_plainly() {
        let s = Setup::new();
        two_concerns(&s);
        let _running = s.store();
        let (code, _, err) = s.run(&["stats"]);
        assert_eq!(code, 2);
        assert!(
            err.contains("is in use: the bot is running. Stop the bot first"),
            "{err}"
        );
        assert!(err.contains("!stats"), "{err}");
    }

    #[test]
    fn a_data_directory_with_no_store_is_not_created() {
        let s = Setup::new();
        let (code, _, err) = s.run(&["audit", "verify"]);
        assert_eq!(code, 2);
        assert!(err.contains("there is no store in"), "{err}");
        assert!(!Path::new(&s.dir.join("data")).exists(), "nothing was created");
    }
}
