//! The engine and the wire formats stay sans-IO: no clock, no descriptor, no OS randomness,
//! no environment. This test reads their sources and fails on any such call, so the contract
//! cannot erode silently.

use std::path::Path;

/// What a sans-IO module must never mention (comments included: an example in a comment
/// is as good a hint as any that someone is about to write it).
const FORBIDDEN: &[&str] = &[
    "Instant::now",
    "SystemTime",
    "std::time::Instant",
    "std::fs",
    "std::net::UdpSocket",
    "std::net::TcpStream",
    "std::net::TcpListener",
    "std::os::",
    "std::env",
    "std::process",
    "std::thread",
    "std::io::stdin",
    "File::",
    "libc",
    "nix::",
    "getrandom",
    "/dev/urandom",
    "unsafe ",
];

fn offences(text: &str) -> Vec<String> {
    text.lines()
        .enumerate()
        .flat_map(|(n, line)| {
            FORBIDDEN
                .iter()
                .filter(move |pattern| line.contains(**pattern))
                .map(move |pattern| format!("line {}: {pattern}", n + 1))
        })
        .collect()
}

fn sources(dir: &Path, out: &mut Vec<std::path::PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            sources(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

#[test]
fn engine_and_wire_never_touch_the_system() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    for module in ["engine", "wire"] {
        sources(&root.join(module), &mut files);
    }
    assert!(files.len() >= 10, "found {files:?}");
    let mut problems = Vec::new();
    for file in files {
        let text = std::fs::read_to_string(&file).unwrap();
        for offence in offences(&text) {
            problems.push(format!("{}: {offence}", file.display()));
        }
    }
    assert!(
        problems.is_empty(),
        "sans-IO modules call the system:\n{}",
        problems.join("\n")
    );
}

#[test]
fn the_detector_detects() {
    assert_eq!(offences("let t = std::time::Instant::now();").len(), 2);
    assert_eq!(offences("let f = std::fs::read(p);\nlet x = 1;").len(), 1);
    assert!(offences("use crate::time::{Duration, Instant};").is_empty());
}
