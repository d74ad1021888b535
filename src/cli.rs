//! The command line: what each subcommand means and does.

use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::LazyLock;

use anyhow::{bail, Context};
use chrono::{DateTime, Utc};
use clap::{Parser, Subcommand};

use crate::casework::view::when;
use crate::casework::{retention, stats, CaseView};
use crate::concern::Reference;
use crate::config::{self, Config, CONFIG_ENV};
use crate::export::{self, ExportMeta, Format};
use crate::flow::{self, FlowError};
use crate::rehearse;
use crate::store::{Key, Store, StoreError, KEY_ENV_VAR};

/// Who the audit log says acted, for everything done from the command line:
/// "command line (user alice)", from the login name or, failing that, the
/// numeric user id.
pub fn cli_actor() -> String {
    let user = ["USER", "LOGNAME"]
        .iter()
        .find_map(|v| std::env::var(v).ok().filter(|u| !u.trim().is_empty()))
        .or_else(|| {
            std::fs::read_to_string("/proc/self/status")
                .ok()
                .and_then(|status| {
                    status
                        .lines()
                        .find_map(|l| l.strip_prefix("Uid:"))
                        .and_then(|ids| ids.split_whitespace().next().map(|uid| format!("uid {uid}")))
                })
        })
        .unwrap_or_else(|| "unknown".to_string());
    format!("command line (user {user})")
}

/// What `--version` says: the program's version (the package's) and the
/// flowchart format it reads.
static VERSION: LazyLock<String> = LazyLock::new(|| {
    format!(
        "{} (flowchart format {})",
        env!("CARGO_PKG_VERSION"),
        flow::FORMAT_VERSION
    )
});

/// A safeguarding referral bot for a charity's staff chat.
///
/// Staff report an online-safety concern in chat; the bot walks them through
/// the organisation's referral flowchart, tells them at once what to do,
/// records the concern encrypted, and pages the Designated Safeguarding Lead.
#[derive(Debug, Parser)]
#[command(name = "safeguarding-bot", version = VERSION.as_str(), about, long_about)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Check or draw a referral flowchart file (conversations/*.toml).
    #[command(subcommand)]
    Flow(FlowCommand),
    /// Walk a flowchart in the terminal as a reporter would. Nothing is kept
    /// and nobody is paged: try a policy change here before deploying it.
    Rehearse {
        /// The flowchart file, such as conversations/online-safety-referral.toml.
        file: PathBuf,
    },
    /// Run the bot: connect to the chat the config names (a Matrix
    /// homeserver, or Slack over Socket Mode) and take reports until stopped
    /// (SIGTERM or Ctrl-C stop it cleanly).
    Run {
        /// The config file (see deploy/config.example.toml).
        #[arg(long, short, env = CONFIG_ENV)]
        config: PathBuf,
    },
    /// Check a config file and the flowchart it names, without connecting.
    /// Lists every problem with the key and how to fix it; exits 1 if any.
    CheckConfig {
        /// The config file.
        file: PathBuf,
    },
    /// Export one concern as a file to send with a referral: its record,
    /// route, casefile and whole chronology. The file is readable only by
    /// you (mode 0600); the export is written to the audit log. Needs the
    /// bot to be stopped; while it runs, use !export in chat.
    Export {
        /// The concern's reference, such as SG-0042.
        reference: Reference,
        /// pdf, html or md.
        #[arg(long, default_value = "pdf")]
        format: Format,
        /// Where to write it. Defaults to the reference and the format's
        /// extension (SG-0042.pdf) in the current folder.
        #[arg(long, short)]
        output: Option<PathBuf>,
        /// Replace the output file if it exists.
        #[arg(long)]
        force: bool,
        /// The config file (see deploy/config.example.toml).
        #[arg(long, short, env = CONFIG_ENV)]
        config: PathBuf,
    },
    /// Check or list the audit log, the hash-chained record of every page,
    /// acknowledgement, export and deletion. Needs the bot to be stopped.
    #[command(subcommand)]
    Audit(AuditCommand),
    /// Delete the closed concerns kept for the whole retention period set in
    /// the config ([safeguarding] retention), counted from their closing,
    /// and write each deletion to the audit log. Open, referred and
    /// monitored concerns are never deleted. Lists what was deleted and why.
    /// Needs the bot to be stopped.
    Retention {
        /// List what would be deleted now, and delete nothing.
        #[arg(long)]
        dry_run: bool,
        /// The config file (see deploy/config.example.toml).
        #[arg(long, short, env = CONFIG_ENV)]
        config: PathBuf,
    },
    /// Figures for the policy's annual review: concerns by risk area, route,
    /// outcome (as chosen from the list when closing) and urgency, and how
    /// quickly they were acknowledged. Counts only, nothing of any concern.
    /// Needs the bot to be stopped; while it runs, use !stats in chat.
    Stats {
        /// Count concerns reported on or after this day, such as 2026-04-01
        /// or "1 April 2026" (in the config's timezone). Default: all.
        #[arg(long)]
        since: Option<String>,
        /// The config file (see deploy/config.example.toml).
        #[arg(long, short, env = CONFIG_ENV)]
        config: PathBuf,
    },
}

#[derive(Debug, Subcommand)]
pub enum AuditCommand {
    /// Check the whole audit log: every entry present, unaltered and chained
    /// to the one before. Exits 0 if it is intact, 1 naming the first bad
    /// entry if not.
    Verify {
        /// The config file (see deploy/config.example.toml).
        #[arg(long, short, env = CONFIG_ENV)]
        config: PathBuf,
    },
    /// List the audit log's entries, oldest first: number, time, who, what,
    /// reference and detail. Entries never hold the words of a concern.
    Show {
        /// Only the entries about this concern, such as SG-0042.
        #[arg(long)]
        reference: Option<Reference>,
        /// The config file (see deploy/config.example.toml).
        #[arg(long, short, env = CONFIG_ENV)]
        config: PathBuf,
    },
}

#[derive(Debug, Subcommand)]
pub enum FlowCommand {
    /// Check flowchart files and list every problem with its file and line.
    /// Exits 1 if any file has a problem.
    Check {
        /// One or more flowchart files.
        #[arg(required = true)]
        files: Vec<PathBuf>,
    },
    /// Print a flowchart as a Mermaid chart (paste it into any Mermaid
    /// viewer), or as Graphviz DOT with --dot.
    Graph {
        /// The flowchart file.
        file: PathBuf,
        /// Print Graphviz DOT instead of Mermaid.
        #[arg(long)]
        dot: bool,
    },
}

/// Runs a parsed command line and returns the process's exit code.
pub fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.command {
        Command::Flow(FlowCommand::Check { files }) => Ok(flow_check(&files)),
        Command::Flow(FlowCommand::Graph { file, dot }) => {
            let flow = flow::load_file(&file)?;
            let chart = if dot {
                flow::dot(&flow)
            } else {
                flow::mermaid(&flow)
            };
            print!("{chart}");
            Ok(ExitCode::SUCCESS)
        }
        Command::Rehearse { file } => {
            let flow = flow::load_file(&file)?;
            let stdin = io::stdin();
            let mut stdout = io::stdout();
            rehearse::run(&flow, stdin.lock(), &mut stdout, chrono::Utc::now)
                .context("the rehearsal could not read or write the terminal")?;
            stdout.flush().ok();
            Ok(ExitCode::SUCCESS)
        }
        Command::Run { config } => run_bot(&config),
        Command::CheckConfig { file } => {
            // A problem in the file is the answer asked for (exit 1), not a
            // failure of the command (exit 2).
            // What the service sees: its environment, and the env file
            // beside the config that systemd hands it.
            let beside = config::env_file_beside(&file);
            let env = |k: &str| {
                std::env::var(k)
                    .ok()
                    .or_else(|| beside.iter().find(|(name, _)| name == k).map(|(_, v)| v.clone()))
            };
            let checked = config::load(&file, env)
                .map_err(anyhow::Error::from)
                .and_then(|c| Ok((flow::load_file(&c.flow.file)?, c)));
            let (flow, config) = match checked {
                Ok(both) => both,
                Err(e) => {
                    eprintln!("{e:#}");
                    return Ok(ExitCode::from(1));
                }
            };
            let runs_as = match config.transport() {
                config::Transport::Matrix => format!("runs on Matrix as {}", config.matrix.user_id),
                config::Transport::Slack => format!(
                    "runs on Slack (Socket Mode), staff channels {}",
                    config.staff_rooms().join(", ")
                ),
            };
            println!(
                "{}: ok: {runs_as}, for {}, lead {}, {} deputies, flow \"{}\" version {}",
                file.display(),
                config.safeguarding.organisation,
                config.safeguarding.lead,
                config.safeguarding.deputies.len(),
                flow.title,
                flow.version
            );
            for line in crate::notify::config::summary(&config) {
                println!("{line}");
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Export {
            reference,
            format,
            output,
            force,
            config,
        } => {
            let (config, store) = open_store(&config, Some("!export"))?;
            export_concern(&config, &store, &reference, format, output, force, Utc::now())
        }
        Command::Audit(AuditCommand::Verify { config }) => {
            let (config, store) = open_store(&config, None)?;
            audit_verify(&config, &store)
        }
        Command::Audit(AuditCommand::Show { reference, config }) => {
            let (config, store) = open_store(&config, None)?;
            audit_show(&config, &store, reference.as_ref())
        }
        Command::Retention { dry_run, config } => {
            let (config, store) = open_store(&config, None)?;
            retention_sweep(&config, &store, dry_run, Utc::now())
        }
        Command::Stats { since, config } => {
            let (config, store) = open_store(&config, Some("!stats"))?;
            let tz = config.safeguarding.timezone;
            let since = match since {
                Some(text) => Some(stats::parse_since(&text, tz).map_err(anyhow::Error::msg)?),
                None => None,
            };
            let cases = CaseView::all(&store)?;
            store.audit(Utc::now(), &cli_actor(), "viewed", None, "stats")?;
            println!("{}", stats::Stats::compute(&cases, since).to_text(since, tz));
            Ok(ExitCode::SUCCESS)
        }
    }
}

/// The config and the store, for the subcommands that read or change the
/// records. Never creates a store or a key: a wrong path in the config
/// must not start an empty store beside the real one. `chat` names the
/// chat command that does the same while the bot runs.
fn open_store(config_path: &Path, chat: Option<&str>) -> anyhow::Result<(Config, Store)> {
    let config = config::load_for_store(config_path, |k| std::env::var(k).ok())?;
    let dir = config.storage.data_dir.join("store");
    if !dir.exists() {
        bail!(
            "there is no store in {}: check storage.data_dir in {}; the bot creates the store when it first runs",
            dir.display(),
            config_path.display()
        );
    }
    let key_from_env = std::env::var(KEY_ENV_VAR).is_ok_and(|k| !k.trim().is_empty());
    if !key_from_env && !config.storage.key_file.exists() {
        bail!(
            "the key file {} is missing, so the store cannot be read: put it back from your backup, or set storage.key_file (or {KEY_ENV_VAR}) to where it is",
            config.storage.key_file.display()
        );
    }
    let key = load_key(&config.storage.key_file)?;
    match Store::open(&dir, key) {
        Ok(store) => Ok((config, store)),
        Err(StoreError::InUse { .. }) => {
            let instead = match chat {
                Some(command) => format!(", or use {command} in chat while it runs"),
                None => String::new(),
            };
            bail!(
                "the data directory {} is in use: the bot is running. Stop the bot first (for example: systemctl stop safeguarding-bot) and start it again afterwards{instead}",
                config.storage.data_dir.display()
            )
        }
        Err(e) => Err(e.into()),
    }
}

fn export_concern(
    config: &Config,
    store: &Store,
    reference: &Reference,
    format: Format,
    output: Option<PathBuf>,
    force: bool,
    now: DateTime<Utc>,
) -> anyhow::Result<ExitCode> {
    let Some(view) = CaseView::load(store, reference)? else {
        eprintln!(
            "There is no concern {reference} in this store ({}). Check the reference; a closed concern is deleted once its retention period has passed.",
            store.dir().display()
        );
        return Ok(ExitCode::from(1));
    };
    let actor = cli_actor();
    let meta = ExportMeta {
        organisation: &config.safeguarding.organisation,
        tz: config.safeguarding.timezone,
        generated_at: now,
        generated_by: &actor,
    };
    let bytes = export::render(&view, format, &meta);
    let path = output.unwrap_or_else(|| PathBuf::from(export::file_name(reference, format)));
    write_private(&path, &bytes, force)?;
    // A file nobody recorded must not be left behind: if the audit log
    // cannot be written, the file goes.
    if let Err(e) = store.audit(now, &actor, "exported", Some(reference), format.extension()) {
        let _ = std::fs::remove_file(&path);
        return Err(anyhow::Error::from(e).context(format!(
            "the export of {reference} could not be written to the audit log, so the file was removed"
        )));
    }
    println!(
        "Wrote {reference} as {} to {} (readable only by you). It holds special-category personal data: send it only by a secure route, and delete it once it has been sent.",
        format.label(),
        path.display()
    );
    Ok(ExitCode::SUCCESS)
}

/// Writes `bytes` to a new file at `path` that only its owner can read
/// (mode 0600). Refuses an existing file unless `force`; then the new file
/// is written beside it and renamed over it, so there is never a moment
/// when the old file's permissions cover the new contents.
fn write_private(path: &Path, bytes: &[u8], force: bool) -> anyhow::Result<()> {
    use std::fs::OpenOptions;
    use std::os::unix::fs::OpenOptionsExt;

    let create = |p: &Path| -> io::Result<()> {
        let mut f = OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(p)?;
        f.write_all(bytes)?;
        f.sync_all()
    };
    if !force {
        return create(path).map_err(|e| {
            if e.kind() == io::ErrorKind::AlreadyExists {
                anyhow::anyhow!(
                    "{} already exists; choose another --output, or add --force to replace it",
                    path.display()
                )
            } else {
                anyhow::Error::from(e).context(format!("could not write {}", path.display()))
            }
        });
    }
    let name = path
        .file_name()
        .with_context(|| format!("{} is not a file name", path.display()))?;
    let temp = path.with_file_name(format!(
        ".{}.{}.partial",
        name.to_string_lossy(),
        std::process::id()
    ));
    let written = create(&temp).and_then(|()| std::fs::rename(&temp, path));
    if let Err(e) = written {
        let _ = std::fs::remove_file(&temp);
        return Err(anyhow::Error::from(e).context(format!("could not write {}", path.display())));
    }
    Ok(())
}

fn audit_verify(config: &Config, store: &Store) -> anyhow::Result<ExitCode> {
    if let Err(brk) = store.verify_audit() {
        println!("{}", capitalise(&brk.to_string()));
        return Ok(ExitCode::from(1));
    }
    let entries = store.audit_entries()?;
    let tz = config.safeguarding.timezone;
    match (entries.first(), entries.last()) {
        (Some(first), Some(last)) => println!(
            "The audit log is intact: {} {}, the first at {}, the last at {}.",
            entries.len(),
            if entries.len() == 1 { "entry" } else { "entries" },
            when(first.at, tz),
            when(last.at, tz)
        ),
        _ => println!("The audit log is intact: 0 entries; nothing has been recorded yet."),
    }
    Ok(ExitCode::SUCCESS)
}

fn audit_show(config: &Config, store: &Store, reference: Option<&Reference>) -> anyhow::Result<ExitCode> {
    let tz = config.safeguarding.timezone;
    let entries = store.audit_entries()?;
    // Looking at who did what is itself recorded (after reading, so it is
    // not in what is shown).
    store.audit(Utc::now(), &cli_actor(), "viewed", reference, "audit log")?;
    let mut shown = 0;
    for e in entries
        .iter()
        .filter(|e| reference.is_none() || e.reference.as_ref() == reference)
    {
        shown += 1;
        let mut line = format!(
            "{}  {}  {}  {}",
            e.seq,
            e.at.with_timezone(&tz).format("%Y-%m-%d %H:%M:%S %Z"),
            e.actor,
            e.action
        );
        if let Some(r) = &e.reference {
            line.push_str(&format!("  {r}"));
        }
        if !e.detail.is_empty() {
            line.push_str(&format!("  ({})", e.detail));
        }
        println!("{line}");
    }
    if shown == 0 {
        match reference {
            Some(r) => println!("The audit log has no entries about {r}."),
            None => println!("The audit log has no entries yet."),
        }
    }
    if store.verify_audit().is_err() {
        println!("Warning: the audit log is damaged; run `safeguarding-bot audit verify` to see where.");
    }
    Ok(ExitCode::SUCCESS)
}

fn retention_sweep(
    config: &Config,
    store: &Store,
    dry_run: bool,
    now: DateTime<Utc>,
) -> anyhow::Result<ExitCode> {
    let period = config.safeguarding.retention;
    let tz = config.safeguarding.timezone;
    let day = |t: DateTime<Utc>| t.with_timezone(&tz).format("%-d %B %Y").to_string();
    let period_text = retention::period_text(period);
    // Read before the sweep: afterwards the deleted ones are gone.
    let cases = CaseView::all(store)?;
    let gone = retention::sweep(store, period, now, dry_run, &cli_actor())?;

    if gone.is_empty() {
        println!(
            "No closed concern has been kept for the whole retention period ({period_text}); nothing {}.",
            if dry_run {
                "would be deleted"
            } else {
                "was deleted"
            }
        );
    } else {
        let n = gone.len();
        let concerns = if n == 1 { "concern" } else { "concerns" };
        if dry_run {
            println!("Dry run: {n} {concerns} would be deleted now; nothing was deleted.");
        } else {
            println!("Deleted {n} {concerns}, each written to the audit log:");
        }
        for r in &gone {
            let case = cases.iter().find(|c| c.reference() == r);
            let closed = case.and_then(|c| c.casefile.closed_at());
            let due = case.and_then(|c| retention::delete_after(c, period));
            match (closed, due) {
                (Some(closed), Some(due)) => println!(
                    "- {r}: closed on {}; the retention period of {period_text} ended on {}",
                    day(closed),
                    day(due)
                ),
                _ => println!("- {r}"),
            }
        }
    }
    let next = cases
        .iter()
        .filter(|c| !gone.contains(c.reference()))
        .filter_map(|c| retention::delete_after(c, period).map(|t| (t, c.reference())))
        .filter(|(t, _)| *t > now)
        .min();
    if let Some((t, r)) = next {
        println!("The next to fall due is {r}, on {}.", day(t));
    }
    Ok(ExitCode::SUCCESS)
}

fn capitalise(s: &str) -> String {
    let mut c = s.chars();
    match c.next() {
        Some(first) => first.to_uppercase().chain(c).collect(),
        None => String::new(),
    }
}

/// The store key: from the environment if set there, else the key file
/// (created with mode 0600 on first run).
fn load_key(key_file: &std::path::Path) -> anyhow::Result<Key> {
    match std::env::var(KEY_ENV_VAR) {
        Ok(hex) if !hex.trim().is_empty() => Ok(Key::from_hex(&hex)?),
        _ => Ok(Key::load_or_create(key_file)?),
    }
}

fn run_bot(config_path: &std::path::Path) -> anyhow::Result<ExitCode> {
    init_tracing();
    let config = config::load(config_path, |k| std::env::var(k).ok())?;
    let flow = flow::load_file(&config.flow.file)?;
    let key = load_key(&config.storage.key_file)?;
    let store = Store::open(&config.storage.data_dir.join("store"), key)?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("could not start the async runtime")?;
    runtime.block_on(async move {
        let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
        tokio::spawn(async move {
            wait_for_signal().await;
            tracing::info!("stop signal received");
            let _ = stop_tx.send(true);
        });
        match config.transport() {
            config::Transport::Matrix => {
                crate::bot::host(crate::matrix::Matrix::new(&config), config, flow, store, stop_rx).await
            }
            config::Transport::Slack => {
                crate::bot::host(crate::slack::Slack::new(&config), config, flow, store, stop_rx).await
            }
        }
    })?;
    Ok(ExitCode::SUCCESS)
}

async fn wait_for_signal() {
    use tokio::signal::unix::{signal, SignalKind};
    match signal(SignalKind::terminate()) {
        Ok(mut term) => {
            tokio::select! {
                _ = term.recv() => {}
                _ = tokio::signal::ctrl_c() => {}
            }
        }
        Err(_) => {
            let _ = tokio::signal::ctrl_c().await;
        }
    }
}

/// Logs go to standard error. They carry references and event ids, never
/// the words of a concern; the SDK's own chatter is kept to warnings.
fn init_tracing() {
    let filter = tracing_subscriber::EnvFilter::try_from_env("SAFEGUARDING_BOT_LOG").unwrap_or_else(|_| {
        tracing_subscriber::EnvFilter::new("info,matrix_sdk=warn,matrix_sdk::http_client=off,matrix_sdk_crypto=warn,matrix_sdk_crypto::backups=error,matrix_sdk_base=warn,slack_morphism=warn")
    });
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .try_init();
}

fn flow_check(files: &[PathBuf]) -> ExitCode {
    let mut failed = false;
    for file in files {
        match flow::load_file(file) {
            Ok(f) => println!(
                "{}: ok: \"{}\" version {}, {} questions and outcomes, {} record questions",
                file.display(),
                f.title,
                f.version,
                f.nodes.len(),
                f.record.len()
            ),
            Err(FlowError::Invalid { problems, .. }) => {
                failed = true;
                for p in &problems {
                    println!("{p}");
                }
                println!(
                    "{}: {} problem(s); this flow will not run until they are fixed.",
                    file.display(),
                    problems.len()
                );
            }
            Err(e) => {
                failed = true;
                println!("{e}");
            }
        }
    }
    if failed {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    }
}
