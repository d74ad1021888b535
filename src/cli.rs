//! The command line: what each subcommand means and does.

use std::io::{self, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::{Parser, Subcommand};

use crate::flow::{self, FlowError};
use crate::rehearse;

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
            let chart = if dot { flow::dot(&flow) } else { flow::mermaid(&flow) };
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
    }
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
                println!("{}: {} problem(s); this flow will not run until they are fixed.", file.display(), problems.len());
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
