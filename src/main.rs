//! The binary: flags in, logging up, then the event loop. Every decision lives in the library.

use std::process::ExitCode;

use l3roamd::config::{self, Action, Config};

/// getopt-style tools exit 2 on a bad command line, which tells procd logs and scripts a
/// mistake in the invocation apart from a runtime failure (1).
const EXIT_USAGE: u8 = 2;

fn main() -> ExitCode {
    let mut args = Vec::new();
    for arg in std::env::args_os().skip(1) {
        match arg.into_string() {
            Ok(arg) => args.push(arg),
            Err(raw) => {
                let message = format!("argument {raw:?} is not valid UTF-8");
                return usage_error(&message);
            }
        }
    }
    match config::parse(&args) {
        Err(err) => usage_error(&err.to_string()),
        Ok(Action::Help) => {
            print!("{}", config::usage());
            ExitCode::SUCCESS
        }
        Ok(Action::Version) => {
            print!("{}", config::version_text());
            ExitCode::SUCCESS
        }
        Ok(Action::Run(config)) => run(config),
    }
}

fn usage_error(message: &str) -> ExitCode {
    eprintln!("l3roamd: {message}");
    eprintln!("Try 'l3roamd -h'.");
    ExitCode::from(EXIT_USAGE)
}

fn run(config: Config) -> ExitCode {
    // The flags alone decide the level: RUST_LOG on a router is more surprise than help.
    // Our own messages pass up to trace and the global maximum does the filtering, so the
    // `verbosity` command can raise it later; libraries only ever speak up with warnings.
    env_logger::Builder::new()
        .filter_level(log::LevelFilter::Warn)
        .filter_module("l3roamd", log::LevelFilter::Trace)
        .init();
    log::set_max_level(config.log_level.level_filter());
    for warning in &config.warnings {
        log::warn!("{warning}");
    }
    match l3roamd::driver::run(config) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            // procd respawns a daemon that exits non-zero (the C daemon exited 0 here).
            log::error!("{error}");
            ExitCode::FAILURE
        }
    }
}
