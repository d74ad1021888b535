use std::process::ExitCode;

use clap::Parser;
use safeguarding_bot::cli::{self, Cli};

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli::run(cli) {
        Ok(code) => code,
        Err(err) => {
            eprintln!("safeguarding-bot: {err:#}");
            ExitCode::from(2)
        }
    }
}
