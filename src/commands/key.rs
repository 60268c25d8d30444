//! `imgx key generate NAME`: a new signing key pair for a binary cache.

use super::{EXIT_ERROR, Failure};
use crate::cache::sign::{SecretKey, valid_name};
use crate::cli::KeyCommand;
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

pub fn run(command: KeyCommand) -> Result<(), Failure> {
    match command {
        KeyCommand::Generate { name, dir } => generate(&name, &dir),
    }
}

/// Writes `NAME.secret` (mode 0600) and `NAME.public` into `dir`, never
/// over existing files, and prints the public key.
fn generate(name: &str, dir: &Path) -> Result<(), Failure> {
    if !valid_name(name) || name.contains('/') || name.starts_with('.') {
        return Err(Failure::with_code(
            miette::miette!(
                help = "use letters, digits, dots and dashes, such as cache.example.org-1",
                "{name:?} cannot be a key name"
            ),
            super::EXIT_USAGE,
        ));
    }
    let secret =
        SecretKey::generate(name).map_err(|e| Failure::new(miette::miette!("{}", crate::cache::describe(&e))))?;
    let public = secret.public().render();
    write_new(&dir.join(format!("{name}.secret")), &secret.render(), 0o600)?;
    write_new(&dir.join(format!("{name}.public")), &public, 0o644)?;
    println!("{public}");
    Ok(())
}

fn write_new(path: &Path, text: &str, mode: u32) -> Result<(), Failure> {
    let written = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(mode)
        .open(path)
        .and_then(|mut file| writeln!(file, "{text}"));
    written.map_err(|e| Failure::with_code(miette::miette!("cannot write {}: {e}", path.display()), EXIT_ERROR))
}
