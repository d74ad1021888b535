//! The command line: what each subcommand means and does.

use std::io::{self, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::{Parser, Subcommand};

use crate::config::{self, CONFIG_ENV};
use crate::flow::{self, FlowError};
use crate::rehearse;
use crate::store::{Key, Store, KEY_ENV_VAR};

/// A safeguarding referral bot for a charity's staff chat.
///
/// Staff report an online-safety concern in chat; the bot walks them through
/// the organisation's referral flowchart, tells them at once what to do,
/// records the concern encrypted, and pages the Designated Safeguarding Lead.
#[derive(Debug, Parser)]
#[command(name = "safeguarding-bot", version, about, long_about)]
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
    /// Run the bot: connect to the homeserver and take reports until stopped
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
            let checked = config::load(&file, |k| std::env::var(k).ok())
                .map_err(anyhow::Error::from)
                .and_then(|c| Ok((flow::load_file(&c.flow.file)?, c)));
            let (flow, config) = match checked {
                Ok(both) => both,
                Err(e) => {
                    eprintln!("{e:#}");
                    return Ok(ExitCode::from(1));
                }
            };
            println!(
                "{}: ok: {} for {}, lead {}, {} deputies, flow \"{}\" version {}",
                file.display(),
                config.matrix.user_id,
                config.safeguarding.organisation,
                config.safeguarding.lead,
                config.safeguarding.deputies.len(),
                flow.title,
                flow.version
            );
            Ok(ExitCode::SUCCESS)
        }
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
        crate::matrix::run(config, flow, store, stop_rx).await
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
        tracing_subscriber::EnvFilter::new("info,matrix_sdk=warn,matrix_sdk::http_client=off,matrix_sdk_crypto=warn,matrix_sdk_crypto::backups=error,matrix_sdk_base=warn")
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
