//! `zkstate completions SHELL` (clap_complete) and the hidden `zkstate man --dir DIR`
//! (clap_mangen): both generated from the clap definitions in [`super::Cli`], so they never drift
//! from the flags. Packaging installs their output (see docs/design.md).
use std::io::Write;
use std::path::Path;

use clap::CommandFactory;

use super::{Cli, Exit};

/// The shells `completions` supports.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Shell {
    Bash,
    Zsh,
    Fish,
}

/// The completion script for `shell`.
pub fn script(shell: Shell) -> Vec<u8> {
    let mut cmd = Cli::command();
    let mut out = Vec::new();
    let generator = match shell {
        Shell::Bash => clap_complete::Shell::Bash,
        Shell::Zsh => clap_complete::Shell::Zsh,
        Shell::Fish => clap_complete::Shell::Fish,
    };
    clap_complete::generate(generator, &mut cmd, "zkstate", &mut out);
    out
}

/// Prints the completion script to stdout.
pub fn print(shell: Shell) -> Exit {
    let mut out = std::io::stdout().lock();
    match out.write_all(&script(shell)).and_then(|()| out.flush()) {
        Ok(()) => Exit::Ok,
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Exit::Ok,
        Err(e) => {
            eprintln!("error: failed to write the completion script: {e}");
            Exit::Trouble
        }
    }
}

/// Writes `zkstate.1` and `zkstate-<command>.1` for every visible subcommand into `dir`.
pub fn write_man_pages(dir: &Path) -> std::io::Result<Vec<String>> {
    std::fs::create_dir_all(dir)?;
    let mut cmd = Cli::command();
    cmd.build();
    let mut written = Vec::new();
    let mut render = |cmd: clap::Command, name: String| -> std::io::Result<()> {
        let mut buf = Vec::new();
        clap_mangen::Man::new(cmd).render(&mut buf)?;
        let file = format!("{name}.1");
        std::fs::write(dir.join(&file), buf)?;
        written.push(file);
        Ok(())
    };
    for sub in cmd.get_subcommands().filter(|s| !s.is_hide_set()) {
        let name = format!("zkstate-{}", sub.get_name());
        render(sub.clone().name(name.clone()), name)?;
    }
    render(cmd, "zkstate".into())?;
    Ok(written)
}

/// `zkstate man --dir DIR`.
pub fn man(dir: &Path) -> Exit {
    match write_man_pages(dir) {
        Ok(files) => {
            for f in files {
                println!("{}", dir.join(f).display());
            }
            Exit::Ok
        }
        Err(e) => {
            eprintln!(
                "error: cannot write man pages into {}: {e}; check that the directory is writable",
                dir.display()
            );
            Exit::Trouble
        }
    }
}
