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
    for sub in ["flow", "rehearse", "run", "check-config"] {
        assert!(out.contains(sub), "{sub}: {out}");
    }
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
