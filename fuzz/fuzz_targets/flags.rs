//! The command line: the input split at NUL bytes into arguments, as the kernel splits argv.
#![no_main]

use l3roamd::config::{self, Action};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    // main.rs refuses arguments that are not UTF-8 before parsing; lossy decoding keeps
    // every input useful instead of wasting most of them on that one check.
    let args: Vec<String> = data
        .split(|&b| b == 0)
        .map(|arg| String::from_utf8_lossy(arg).into_owned())
        .collect();
    match config::parse(&args) {
        Ok(Action::Run(config)) => {
            let _ = format!("{config:?}");
        }
        Ok(_) => {}
        Err(e) => assert!(!e.to_string().is_empty()),
    }
});
