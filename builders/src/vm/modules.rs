//! Choosing the kernel modules the build VM loads, and their order.
//!
//! A module names the modules it needs in the `depends=` string of its
//! `.modinfo` section, so the closure of the requested modules and a load
//! order (every module after what it depends on) come from the module
//! files alone, without `depmod` or `modprobe` in the VM.

use super::package::Kernel;
use crate::builder::BuildError;
use std::collections::BTreeSet;
use std::path::Path;
use std::process::Command;

/// One module to load, with its (uncompressed) contents.
pub struct Module {
    /// The module's name.
    pub name: String,
    /// The ELF object `insmod` takes.
    pub bytes: Vec<u8>,
}

/// The modules a module file says it depends on.
pub fn depends(bytes: &[u8]) -> Vec<String> {
    const KEY: &[u8] = b"depends=";
    let mut found = Vec::new();
    let mut at = 0;
    while let Some(offset) = bytes[at..].windows(KEY.len()).position(|w| w == KEY) {
        let start = at + offset;
        at = start + KEY.len();
        if start > 0 && bytes[start - 1] != 0 {
            continue;
        }
        let end = bytes[at..].iter().position(|&b| b == 0).map_or(bytes.len(), |n| at + n);
        let value = String::from_utf8_lossy(&bytes[at..end]);
        found.extend(value.split(',').filter(|s| !s.is_empty()).map(|s| s.replace('-', "_")));
        break;
    }
    found
}

/// The contents of a module file, decompressed if it is compressed.
fn read_module(path: &Path) -> Result<Vec<u8>, BuildError> {
    let name = path.to_string_lossy();
    let tool = if name.ends_with(".xz") {
        Some("xz")
    } else if name.ends_with(".zst") {
        Some("zstd")
    } else if name.ends_with(".gz") {
        Some("gzip")
    } else {
        None
    };
    let Some(tool) = tool else {
        return std::fs::read(path).map_err(|e| BuildError::io("reading", path, e));
    };
    let output = Command::new(tool)
        .args(["-d", "-c"])
        .arg(path)
        .output()
        .map_err(|e| BuildError::Failed(format!("cannot run {tool} to decompress '{}': {e}", path.display())))?;
    if !output.status.success() {
        return Err(BuildError::Failed(format!(
            "{tool} could not decompress '{}': {}",
            path.display(),
            String::from_utf8_lossy(&output.stderr).trim()
        )));
    }
    Ok(output.stdout)
}

/// The requested modules and everything they depend on, in an order in
/// which each can be loaded. Modules built into the kernel are skipped; a
/// module that is neither built in nor present is an error.
pub fn load_order(kernel: &Kernel, requested: &[String]) -> Result<Vec<Module>, BuildError> {
    let builtin: BTreeSet<&str> = kernel.builtin.iter().map(String::as_str).collect();
    let mut order = Vec::new();
    let mut done = BTreeSet::new();
    for name in requested {
        visit(kernel, &builtin, &name.replace('-', "_"), &mut Vec::new(), &mut done, &mut order)?;
    }
    Ok(order)
}

fn visit(
    kernel: &Kernel,
    builtin: &BTreeSet<&str>,
    name: &str,
    path: &mut Vec<String>,
    done: &mut BTreeSet<String>,
    order: &mut Vec<Module>,
) -> Result<(), BuildError> {
    if done.contains(name) || builtin.contains(name) {
        return Ok(());
    }
    if path.iter().any(|p| p == name) {
        return Err(BuildError::Failed(format!(
            "kernel modules depend on each other in a cycle: {} -> {name}",
            path.join(" -> ")
        )));
    }
    let file = kernel.modules.get(name).ok_or_else(|| {
        let wanted_by = path.last().map(|p| format!(" (needed by {p})")).unwrap_or_default();
        BuildError::Failed(format!("kernel {} has no module '{name}'{wanted_by}", kernel.release))
    })?;
    let bytes = read_module(file)?;
    path.push(name.to_string());
    for dependency in depends(&bytes) {
        visit(kernel, builtin, &dependency, path, done, order)?;
    }
    path.pop();
    done.insert(name.to_string());
    order.push(Module { name: name.to_string(), bytes });
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn depends_reads_the_modinfo_string() {
        let bytes = b"\x7fELF junk\0license=GPL\0depends=virtio,virtio-ring\0name=virtio_blk\0";
        assert_eq!(depends(bytes), ["virtio", "virtio_ring"]);
        assert!(depends(b"\0depends=\0name=x\0").is_empty());
        assert!(depends(b"no modinfo here").is_empty());
        // A `depends=` inside another string is not the key.
        assert_eq!(depends(b"\0xdepends=a\0depends=b\0"), ["b"]);
    }
}
