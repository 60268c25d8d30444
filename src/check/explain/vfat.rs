//! FAT file systems, read without mounting through mtools addressed as
//! `image@@offset`: `minfo` for the boot sector (volume serial, label,
//! geometry), `mattrib -/` for attributes, and `mcopy -s -m` to extract
//! both trees, whose files are then compared by content and modification
//! time.

use super::{Aspect, Difference, ExplainError, bytes, run_tool, within};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

/// A file or folder extracted from a FAT file system.
#[derive(Debug)]
struct Entry {
    dir: bool,
    /// Modification time in seconds (what FAT records, to 2 s).
    mtime: i64,
    host_path: PathBuf,
}

fn image_spec(image: &Path, offset: u64) -> String {
    format!("{}@@{offset}", image.display())
}

/// `minfo`'s description of the boot sector, one `name: value` per line.
fn boot_sector(image: &Path, offset: u64) -> Result<Vec<String>, ExplainError> {
    let output = run_tool("minfo", Command::new("minfo").arg("-i").arg(image_spec(image, offset)).arg("::"))?;
    Ok(String::from_utf8_lossy(&output)
        .lines()
        // The first lines name the image file and the mformat command line
        // that would recreate it (with the file's name in it).
        .filter(|line| !line.starts_with("filename=") && !line.contains("mformat "))
        .filter(|line| line.contains(':') || line.contains('='))
        .map(str::to_string)
        .collect())
}

/// `mattrib -/`: attribute letters by path.
fn attributes(image: &Path, offset: u64) -> Result<BTreeMap<String, String>, ExplainError> {
    let output =
        run_tool("mattrib", Command::new("mattrib").arg("-/").arg("-i").arg(image_spec(image, offset)).arg("::"))?;
    Ok(String::from_utf8_lossy(&output)
        .lines()
        .filter_map(|line| {
            let at = line.find("::")?;
            Some((line[at + 2..].to_string(), line[..at].split_whitespace().collect::<String>()))
        })
        .collect())
}

/// Extracts the whole file system into `into` and lists it by path.
fn extract(image: &Path, offset: u64, into: &Path) -> Result<BTreeMap<String, Entry>, ExplainError> {
    std::fs::create_dir_all(into).map_err(|e| ExplainError::io("create", into, e))?;
    run_tool(
        "mcopy",
        Command::new("mcopy").args(["-s", "-m", "-n", "-Q", "-i"]).arg(image_spec(image, offset)).arg("::/").arg(into),
    )?;
    let mut entries = BTreeMap::new();
    let mut stack = vec![into.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).map_err(|e| ExplainError::io("list", &dir, e))? {
            let entry = entry.map_err(|e| ExplainError::io("list", &dir, e))?;
            let path = entry.path();
            let meta = std::fs::symlink_metadata(&path).map_err(|e| ExplainError::io("inspect", &path, e))?;
            let relative = path.strip_prefix(into).unwrap_or(&path).to_string_lossy().into_owned();
            use std::os::unix::fs::MetadataExt;
            if meta.is_dir() {
                stack.push(path.clone());
            }
            entries.insert(format!("/{relative}"), Entry { dir: meta.is_dir(), mtime: meta.mtime(), host_path: path });
        }
    }
    Ok(entries)
}

/// Compares the FAT file systems at `offset` of both images.
pub fn compare(
    place: &str,
    registered: &Path,
    rebuilt: &Path,
    offset: u64,
    _size: u64,
    work: &Path,
    found: &mut Vec<Difference>,
) -> Result<(), ExplainError> {
    let (boot_a, boot_b) = (boot_sector(registered, offset)?, boot_sector(rebuilt, offset)?);
    for (old, new) in boot_a.iter().zip(&boot_b) {
        if old != new {
            // `serial number: 8A438795` and `serial number: 69FE119D` read
            // as `serial number: 8A438795 → 69FE119D`.
            let detail = match (old.split_once(':'), new.split_once(':')) {
                (Some((key, a)), Some((same, b))) if key == same => format!("{key}: {} → {}", a.trim(), b.trim()),
                _ => format!("{old} → {new}"),
            };
            found.push(Difference::new(within(place, "boot sector"), Aspect::FsMetadata, detail));
        }
    }
    let a = extract(registered, offset, &work.join(format!("fat-registered-{offset}")))?;
    let b = extract(rebuilt, offset, &work.join(format!("fat-rebuilt-{offset}")))?;
    let (attrs_a, attrs_b) = (attributes(registered, offset)?, attributes(rebuilt, offset)?);
    let paths: std::collections::BTreeSet<&String> = a.keys().chain(b.keys()).collect();
    for path in paths {
        let here = within(place, path);
        let (old, new) = match (a.get(path), b.get(path)) {
            (Some(old), Some(new)) => (old, new),
            (Some(_), None) => {
                found.push(Difference::new(here, Aspect::Removed, "only in the registered output"));
                continue;
            }
            (None, Some(_)) => {
                found.push(Difference::new(here, Aspect::Added, "only in the rebuilt output"));
                continue;
            }
            (None, None) => continue,
        };
        if old.dir != new.dir {
            let name = |dir: bool| if dir { "directory" } else { "file" };
            found.push(Difference::new(here, Aspect::Type, format!("{} → {}", name(old.dir), name(new.dir))));
            continue;
        }
        if !old.dir {
            let same = std::fs::read(&old.host_path).ok() == std::fs::read(&new.host_path).ok();
            if !same {
                let detail = bytes::describe_files(&old.host_path, &new.host_path)
                    .unwrap_or_else(|e| format!("the contents differ ({e})"));
                found.push(Difference::new(&here, Aspect::Content, detail));
            }
        }
        if old.mtime != new.mtime {
            found.push(Difference::new(
                &here,
                Aspect::Times,
                format!("mtime {} → {} (Unix seconds)", old.mtime, new.mtime),
            ));
        }
        if attrs_a.get(path) != attrs_b.get(path) {
            found.push(Difference::new(
                &here,
                Aspect::Mode,
                format!("attributes {:?} → {:?}", attrs_a.get(path), attrs_b.get(path)),
            ));
        }
    }
    Ok(())
}
