//! The binary: flags in, logging up, then the event loop. Every decision lives in the library.

use std::process::ExitCode;

use l3roamd::config::{self, Action, Config};
use l3roamd::sys::logger::ProcdLogger;

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
        Ok(Action::Run(mut config)) => {
            if let Some(path) = config.key_file.clone() {
                if let Err(err) = config::apply_key_file(&mut config, read_key_file(&path)) {
                    return usage_error(&err.to_string());
                }
            }
            run(config)
        }
    }
}

/// The key file's bytes and mode bits, from one open file.
fn read_key_file(path: &std::path::Path) -> std::io::Result<(Vec<u8>, u32)> {
    use std::io::Read;
    use std::os::unix::fs::PermissionsExt;
    const LIMIT: u64 = 64 * 1024;
    let file = std::fs::File::open(path)?;
    let mode = file.metadata()?.permissions().mode();
    // A key file is a few lines: anything much larger is a wrong path, and is not read whole.
    let mut text = Vec::new();
    file.take(LIMIT + 1).read_to_end(&mut text)?;
    if text.len() as u64 > LIMIT {
        return Err(std::io::Error::other("larger than 64 KiB, not a key file"));
    }
    Ok((text, mode))
}

fn usage_error(message: &str) -> ExitCode {
    eprintln!("l3roamd: {message}");
    eprintln!("Try 'l3roamd -h'.");
    ExitCode::from(EXIT_USAGE)
}

fn run(config: Config) -> ExitCode {
    // The flags alone decide the level: RUST_LOG on a router is more surprise than help.
    ProcdLogger::install(config.log_level.level_filter());
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
