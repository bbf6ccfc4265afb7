//! Man pages and shell completions, generated from the clap definitions in `cli`, never written
//! by hand: `sidekick(1)`, one `sidekick-MODE(1)` per mode, and the bash, zsh and fish completion
//! scripts. Run by the hidden `sidekick generate-docs DIR` (scripts/package), so the pages and
//! completions always describe the very binary they are packaged with.

use std::path::{Path, PathBuf};

use clap::CommandFactory;
use clap_complete::Shell;

/// A page or script that could not be written.
#[derive(Debug, thiserror::Error)]
#[error("writing {}: {source}", path.display())]
pub struct DocsError {
    path: PathBuf,
    source: std::io::Error,
}

/// The shells completions are generated for (Cargo.toml's deb assets say where each goes).
const SHELLS: [Shell; 3] = [Shell::Bash, Shell::Zsh, Shell::Fish];

/// Writes `DIR/man/sidekick*.1` and `DIR/completions/{sidekick.bash,_sidekick,sidekick.fish}`;
/// returns the files written, sorted.
pub fn generate(dir: &Path) -> Result<Vec<PathBuf>, DocsError> {
    let at = |path: &Path| {
        let path = path.to_path_buf();
        move |source| DocsError { path, source }
    };
    let man = dir.join("man");
    let completions = dir.join("completions");
    for d in [&man, &completions] {
        std::fs::create_dir_all(d).map_err(at(d))?;
    }
    clap_mangen::generate_to(crate::cli::Cli::command(), &man).map_err(at(&man))?;
    let mut written = Vec::new();
    for shell in SHELLS {
        let mut cmd = crate::cli::Cli::command();
        written.push(
            clap_complete::generate_to(shell, &mut cmd, "sidekick", &completions)
                .map_err(at(&completions))?,
        );
    }
    for entry in std::fs::read_dir(&man).map_err(at(&man))? {
        written.push(entry.map_err(at(&man))?.path());
    }
    written.sort();
    Ok(written)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_page_per_visible_mode_and_three_completions() {
        let dir = tempfile::tempdir().unwrap();
        let files = generate(dir.path()).unwrap();
        let names: Vec<_> = files
            .iter()
            .map(|f| {
                f.strip_prefix(dir.path())
                    .unwrap()
                    .to_string_lossy()
                    .into_owned()
            })
            .collect();
        assert_eq!(
            names,
            [
                "completions/_sidekick",
                "completions/sidekick.bash",
                "completions/sidekick.fish",
                "man/sidekick-check.1",
                "man/sidekick-host.1",
                "man/sidekick-lbsync.1",
                "man/sidekick-run.1",
                "man/sidekick.1",
            ]
        );
        let top = std::fs::read_to_string(dir.path().join("man/sidekick.1")).unwrap();
        assert!(top.contains("sidekick\\-lbsync(1)"), "{top}");
        assert!(
            !top.contains("generate\\-docs"),
            "the hidden mode stays hidden: {top}"
        );
        let lbsync = std::fs::read_to_string(dir.path().join("man/sidekick-lbsync.1")).unwrap();
        assert!(lbsync.contains("\\-\\-upstream\\-file"), "{lbsync}");
        let bash = std::fs::read_to_string(dir.path().join("completions/sidekick.bash")).unwrap();
        // clap_complete does not skip hidden subcommands: `generate-docs` is offered too.
        assert!(bash.contains(" lbsync "), "{bash}");
    }
}
