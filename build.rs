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
    // Asked of git rather than assumed: in a worktree `.git` is a file, and a watched path
    // that never exists makes cargo re-run this script, and rebuild the crate, every time.
    for file in ["HEAD", "index"] {
        let path = Command::new("git")
            .args(["rev-parse", "--git-path", file])
            .output()
            .ok()
            .filter(|out| out.status.success())
            .and_then(|out| String::from_utf8(out.stdout).ok())
            .map(|text| text.trim().to_string())
            .unwrap_or_else(|| format!(".git/{file}"));
        println!("cargo:rerun-if-changed={path}");
    }
    println!("cargo:rerun-if-changed=build.rs");
}
