//! Embeds a version string for `-V`: `git describe` when built from a git checkout,
//! otherwise the package version.

use std::process::Command;

fn git(args: &[&str]) -> Option<String> {
    Command::new("git")
        .args(args)
        .output()
        .ok()
        .filter(|out| out.status.success())
        .and_then(|out| String::from_utf8(out.stdout).ok())
        .map(|text| text.trim().to_string())
        .filter(|text| !text.is_empty())
}

/// Whether git's repository here is this crate's own. A source tarball unpacked inside
/// another repository (OpenWrt's build tree, say) must not take that repository's version.
fn in_own_repository() -> bool {
    let canonical = |path: std::path::PathBuf| path.canonicalize().ok();
    let top = git(&["rev-parse", "--show-toplevel"]).and_then(|top| canonical(top.into()));
    let manifest = std::env::var_os("CARGO_MANIFEST_DIR").and_then(|dir| canonical(dir.into()));
    top.is_some() && top == manifest
}

fn main() {
    let from_git = if in_own_repository() {
        git(&["describe", "--always", "--dirty", "--tags"])
    } else {
        None
    };
    let package = std::env::var("CARGO_PKG_VERSION").unwrap_or_else(|_| "unknown".into());
    let version = match from_git {
        Some(describe) => format!("{package} ({describe})"),
        None => package,
    };
    println!("cargo:rustc-env=L3ROAMD_VERSION={version}");
    // Asked of git rather than assumed: in a worktree `.git` is a file, and a watched path
    // that never exists makes cargo re-run this script, and rebuild the crate, every time.
    for file in ["HEAD", "index"] {
        let path =
            git(&["rev-parse", "--git-path", file]).unwrap_or_else(|| format!(".git/{file}"));
        println!("cargo:rerun-if-changed={path}");
    }
    println!("cargo:rerun-if-changed=build.rs");
}
