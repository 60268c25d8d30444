//! The bundled standard library (`import <imgx>`).
//!
//! The files of `stdlib/` are compiled into the binary, so that `<imgx>`
//! works wherever imgx is installed and always matches the binary. They
//! are written out once into the store root, in a folder named by the hash
//! of their contents, and `<imgx>` resolves to that folder.

use std::path::{Path, PathBuf};

/// The library's files: path relative to `stdlib/`, and contents.
pub const FILES: &[(&str, &str)] = &[
    ("default.nix", include_str!("../stdlib/default.nix")),
    ("boot.nix", include_str!("../stdlib/boot.nix")),
    ("boot/init", include_str!("../stdlib/boot/init")),
    ("helpers.nix", include_str!("../stdlib/helpers.nix")),
    ("image.nix", include_str!("../stdlib/image.nix")),
    ("packages.nix", include_str!("../stdlib/packages.nix")),
    ("vm.nix", include_str!("../stdlib/vm.nix")),
    ("vm/init", include_str!("../stdlib/vm/init")),
];

/// Writes the library under `root` (if not there yet) and returns its folder.
pub fn install(root: &Path) -> std::io::Result<PathBuf> {
    let mut hasher = blake3::Hasher::new();
    for (name, text) in FILES {
        hasher.update(name.as_bytes()).update(&[0]).update(text.as_bytes()).update(&[0]);
    }
    let hex = hasher.finalize().to_hex();
    let dir = root.join("stdlib").join(&hex[..32]);
    if dir.join(".complete").exists() {
        return Ok(dir);
    }
    let staging = root.join("stdlib").join(format!(".{}-{}", &hex[..32], std::process::id()));
    std::fs::create_dir_all(&staging)?;
    for (name, text) in FILES {
        let path = staging.join(name);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)?;
        }
        std::fs::write(path, text)?;
    }
    std::fs::write(staging.join(".complete"), "")?;
    match std::fs::rename(&staging, &dir) {
        Ok(()) => Ok(dir),
        // Another process installed it first.
        Err(_) if dir.join(".complete").exists() => {
            let _ = std::fs::remove_dir_all(&staging);
            Ok(dir)
        }
        Err(error) => Err(error),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_stdlib_file_is_embedded() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("stdlib");
        let mut on_disk = Vec::new();
        let mut stack = vec![dir.clone()];
        while let Some(current) = stack.pop() {
            for entry in std::fs::read_dir(&current).expect("stdlib is readable") {
                let path = entry.expect("entry").path();
                if path.is_dir() {
                    stack.push(path);
                } else {
                    on_disk.push(path.strip_prefix(&dir).expect("inside").to_string_lossy().into_owned());
                }
            }
        }
        on_disk.sort();
        let mut embedded: Vec<String> = FILES.iter().map(|(name, _)| name.to_string()).collect();
        embedded.sort();
        assert_eq!(on_disk, embedded, "add new stdlib files to stdlib::FILES");
    }
}
