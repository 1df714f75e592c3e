//! The `hisp` binary: parse the command line, run, print one error line, exit.

use std::process::ExitCode;

use clap::Parser;
use hisp::cli::{self, Cli, Command, Output};
use tracing_subscriber::filter::LevelFilter;

fn main() -> ExitCode {
    let cli = Cli::parse();
    let level = if matches!(cli.command, Command::Serve) {
        LevelFilter::INFO
    } else {
        LevelFilter::WARN
    };
    hisp::telemetry::init_tracing(level);
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::from(1);
        }
    };
    let mut out = Output::stdout();
    match runtime.block_on(cli::run(cli, &mut out)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(e.exit_code())
        }
    }
}
