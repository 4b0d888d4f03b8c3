use clap::Parser;
use std::process::ExitCode;

fn main() -> ExitCode {
    // Rust ignores SIGPIPE, so printing to a closed pipe (`thresh scores ... | head`) panics
    // in println!. Restore the default: the process ends quietly, as other tools do. Every
    // command prints after its work is stored, so nothing acknowledged is lost.
    #[cfg(unix)]
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
    thresh::alloc::keep_freed_memory();
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
