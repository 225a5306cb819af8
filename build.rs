//! Embeds a version string for `-V`: `git describe` when built from a git checkout,
//! otherwise the package version.

use std::process::Command;

fn main() {
    let from_git = Command::new("git")
        .args(["describe", "--always", "--dirty", "--tags"])
        .output()
        .ok()
        .filter(|out| out.status.success())
        .and_then(|out| String::from_utf8(out.stdout).ok())
        .map(|text| text.trim().to_string())
        .filter(|text| !text.is_empty());
    let package = std::env::var("CARGO_PKG_VERSION").unwrap_or_else(|_| "unknown".into());
    let version = match from_git {
        Some(describe) => format!("{package} ({describe})"),
        None => package,
    };
    println!("cargo:rustc-env=L3ROAMD_VERSION={version}");
    println!("cargo:rerun-if-changed=.git/HEAD");
    println!("cargo:rerun-if-changed=.git/index");
    println!("cargo:rerun-if-changed=build.rs");
}
