//! Build script: which git commit the binary is built from, for `sidekick --version`. Sets
//! `SIDEKICK_BUILD_COMMIT` to `git <12-digit commit>`, with `, dirty tree` when the checkout has
//! uncommitted changes, or says there was no git checkout (a source tarball, no `git` installed).

use std::path::Path;
use std::process::Command;

fn git(args: &[&str]) -> Option<String> {
    let out = Command::new("git").args(args).output().ok()?;
    if !out.status.success() {
        return None;
    }
    Some(String::from_utf8(out.stdout).ok()?.trim().to_string())
}

fn main() {
    // What changes the answer: the sources (a dirty tree), and HEAD, the index and the branch.
    // An edit elsewhere (tests, docs) shows as dirty only once one of these triggers a rerun.
    for p in [
        "build.rs",
        "Cargo.toml",
        "Cargo.lock",
        "src",
        "unit-files",
        "packaging",
    ] {
        println!("cargo:rerun-if-changed={p}");
    }
    let manifest_dir = std::env::var("CARGO_MANIFEST_DIR").unwrap_or_default();
    // Only this package's own checkout counts, not a repository it happens to be unpacked in.
    let ours = git(&["rev-parse", "--show-toplevel"]).is_some_and(|top| {
        Path::new(&top).canonicalize().ok() == Path::new(&manifest_dir).canonicalize().ok()
    });
    let describe = match ours
        .then(|| git(&["rev-parse", "--short=12", "HEAD"]))
        .flatten()
    {
        Some(commit) => {
            let branch = git(&["symbolic-ref", "-q", "HEAD"]);
            for p in ["HEAD", "index", "packed-refs"]
                .iter()
                .copied()
                .chain(branch.as_deref())
            {
                if let Some(path) = git(&["rev-parse", "--git-path", p]) {
                    println!("cargo:rerun-if-changed={path}");
                }
            }
            // Without --no-optional-locks, `git status` refreshes the index, which is one of the
            // files above: every cargo run then saw it changed, re-ran this script and rebuilt
            // the crate (a fat-LTO release build each time).
            match git(&["--no-optional-locks", "status", "--porcelain"]) {
                Some(s) if s.is_empty() => format!("git {commit}"),
                Some(_) => format!("git {commit}, dirty tree"),
                None => format!("git {commit}, tree state unknown"),
            }
        }
        None => "no git commit: built outside a git checkout".to_string(),
    };
    println!("cargo:rustc-env=SIDEKICK_BUILD_COMMIT={describe}");
}
