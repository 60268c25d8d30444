//! Finding the build VM's parts (a kernel with its modules, busybox) in a
//! Debian package or in an unpacked tree.
//!
//! A `.deb` is read with `dpkg-deb --fsys-tarfile`, which knows every
//! compression Debian has used, and only the files the VM needs are
//! written out. A directory is taken as the package's files already
//! unpacked (`boot/vmlinuz-*`, `lib/modules/<version>/…`).

use crate::builder::BuildError;
use std::collections::BTreeMap;
use std::fs;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// A kernel image and the modules built for it.
#[derive(Debug)]
pub struct Kernel {
    /// The kernel's release (`6.1.0-56-cloud-amd64`), from its modules folder.
    pub release: String,
    /// The bootable image.
    pub image: PathBuf,
    /// Every loadable module, by its name as `depends=` spells it
    /// (dashes as underscores).
    pub modules: BTreeMap<String, PathBuf>,
    /// Modules compiled into the kernel, which need no file.
    pub builtin: Vec<String>,
}

/// The name by which the kernel knows the module in file `file_name`.
pub fn module_name(file_name: &str) -> Option<String> {
    let stem = file_name
        .strip_suffix(".ko")
        .or_else(|| [".ko.xz", ".ko.zst", ".ko.gz"].iter().find_map(|suffix| file_name.strip_suffix(suffix)))?;
    Some(stem.replace('-', "_"))
}

/// Whether a package member is part of what the VM takes from a kernel.
fn wanted_from_kernel(path: &str) -> bool {
    let path = path.trim_start_matches("./");
    let path = path.strip_prefix("usr/").unwrap_or(path);
    path.starts_with("boot/vmlinuz-")
        || (path.starts_with("lib/modules/") && (module_name(path).is_some() || path.ends_with("/modules.builtin")))
}

/// Writes the members of `deb` that `wanted` selects under `into`.
pub fn unpack_deb(deb: &Path, into: &Path, wanted: &dyn Fn(&str) -> bool) -> Result<usize, BuildError> {
    let mut child = Command::new("dpkg-deb")
        .arg("--fsys-tarfile")
        .arg(deb)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| {
            BuildError::Failed(format!("cannot run dpkg-deb (Debian package dpkg) to read '{}': {e}", deb.display()))
        })?;
    let stdout = child.stdout.take().expect("stdout is piped");
    let mut archive = tar::Archive::new(stdout);
    let mut count = 0;
    let entries = archive.entries().map_err(|e| BuildError::io("reading package", deb, e))?;
    for entry in entries {
        let mut entry = entry.map_err(|e| BuildError::io("reading package", deb, e))?;
        if entry.header().entry_type() != tar::EntryType::Regular {
            continue;
        }
        let member =
            entry.path().map_err(|e| BuildError::io("reading package", deb, e))?.to_string_lossy().into_owned();
        if !wanted(&member) {
            continue;
        }
        let relative = member.trim_start_matches("./");
        if relative.split('/').any(|c| c == ".." || c.is_empty()) {
            return Err(BuildError::Failed(format!("package '{}' has a bad member name '{member}'", deb.display())));
        }
        let target = into.join(relative);
        if let Some(parent) = target.parent() {
            fs::create_dir_all(parent).map_err(|e| BuildError::io("creating", parent, e))?;
        }
        let mut bytes = Vec::new();
        entry.read_to_end(&mut bytes).map_err(|e| BuildError::io("reading package", deb, e))?;
        fs::write(&target, bytes).map_err(|e| BuildError::io("writing", &target, e))?;
        count += 1;
    }
    let output = child.wait_with_output().map_err(|e| BuildError::io("reading package", deb, e))?;
    if !output.status.success() {
        return Err(BuildError::Failed(format!(
            "dpkg-deb could not read '{}': {}",
            deb.display(),
            String::from_utf8_lossy(&output.stderr).trim()
        )));
    }
    Ok(count)
}

/// The kernel in `source`: a kernel package (`linux-image-…​.deb`) or the
/// tree of one unpacked. Package members are written under `work`.
pub fn kernel(source: &Path, work: &Path) -> Result<Kernel, BuildError> {
    let tree = if source.is_dir() {
        source.to_path_buf()
    } else {
        let tree = work.join("kernel");
        unpack_deb(source, &tree, &wanted_from_kernel)?;
        tree
    };
    let modules_root =
        [tree.join("lib/modules"), tree.join("usr/lib/modules")].into_iter().find(|p| p.is_dir()).ok_or_else(|| {
            BuildError::Failed(format!("'{}' has no lib/modules folder: is it a kernel package?", source.display()))
        })?;
    let mut releases: Vec<String> = read_names(&modules_root)?;
    releases.sort();
    let release = match releases.as_slice() {
        [one] => one.clone(),
        [] => return Err(BuildError::Failed(format!("'{}' holds no kernel modules", source.display()))),
        many => {
            return Err(BuildError::Failed(format!(
                "'{}' holds modules of several kernels ({}): name one kernel package",
                source.display(),
                many.join(", ")
            )));
        }
    };
    let image = [tree.join("boot"), tree.join("usr/boot")]
        .iter()
        .map(|boot| boot.join(format!("vmlinuz-{release}")))
        .find(|p| p.is_file())
        .ok_or_else(|| BuildError::Failed(format!("'{}' has no boot/vmlinuz-{release}", source.display())))?;
    let release_dir = modules_root.join(&release);
    let mut modules = BTreeMap::new();
    collect_modules(&release_dir, &mut modules)?;
    let builtin = match fs::read_to_string(release_dir.join("modules.builtin")) {
        Ok(text) => text.lines().filter_map(|line| module_name(line.rsplit('/').next()?)).collect(),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Vec::new(),
        Err(e) => return Err(BuildError::io("reading", &release_dir.join("modules.builtin"), e)),
    };
    Ok(Kernel { release, image, modules, builtin })
}

/// busybox from `source`: the static binary itself, a `busybox-static`
/// package, or the tree of one unpacked.
pub fn busybox(source: &Path, work: &Path) -> Result<PathBuf, BuildError> {
    let candidates = |root: &Path| [root.join("bin/busybox"), root.join("usr/bin/busybox")];
    if source.is_dir() {
        return candidates(source)
            .into_iter()
            .find(|p| p.is_file())
            .ok_or_else(|| BuildError::Failed(format!("'{}' has no bin/busybox", source.display())));
    }
    let mut magic = [0u8; 4];
    fs::File::open(source)
        .and_then(|mut f| f.read_exact(&mut magic))
        .map_err(|e| BuildError::io("reading", source, e))?;
    if &magic == b"\x7fELF" {
        return Ok(source.to_path_buf());
    }
    let tree = work.join("busybox");
    unpack_deb(source, &tree, &|member| {
        let member = member.trim_start_matches("./");
        member == "bin/busybox" || member == "usr/bin/busybox"
    })?;
    candidates(&tree)
        .into_iter()
        .find(|p| p.is_file())
        .ok_or_else(|| BuildError::Failed(format!("package '{}' has no bin/busybox", source.display())))
}

fn read_names(dir: &Path) -> Result<Vec<String>, BuildError> {
    let mut names = Vec::new();
    for entry in fs::read_dir(dir).map_err(|e| BuildError::io("reading", dir, e))? {
        let entry = entry.map_err(|e| BuildError::io("reading", dir, e))?;
        names.push(entry.file_name().to_string_lossy().into_owned());
    }
    Ok(names)
}

fn collect_modules(dir: &Path, into: &mut BTreeMap<String, PathBuf>) -> Result<(), BuildError> {
    let mut entries: Vec<_> = fs::read_dir(dir)
        .map_err(|e| BuildError::io("reading", dir, e))?
        .collect::<Result<_, _>>()
        .map_err(|e| BuildError::io("reading", dir, e))?;
    entries.sort_by_key(|e| e.file_name());
    for entry in entries {
        let path = entry.path();
        let kind = entry.file_type().map_err(|e| BuildError::io("reading", &path, e))?;
        if kind.is_dir() {
            collect_modules(&path, into)?;
        } else if let Some(name) = module_name(&entry.file_name().to_string_lossy()) {
            into.entry(name).or_insert(path);
        }
    }
    Ok(())
}
