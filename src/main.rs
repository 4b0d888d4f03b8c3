use clap::Parser;
use std::process::ExitCode;

fn main() -> ExitCode {
    let args = thresh::cli::Cli::parse();
    match thresh::cli::run(args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            // One line: the error and its causes joined with ": ".
            eprintln!("thresh: {e:#}");
            ExitCode::FAILURE
        }
    }
}
