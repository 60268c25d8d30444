//! OCI image layouts: `index.json` → manifest → layers, applied in order
//! (with whiteouts) into one directory tree.
//!
//! The layout is a directory, or a tar of one (possibly compressed), which
//! is first unpacked into the work folder. Manifests, configurations and
//! layers are checked against their SHA-256 digests. An index must name
//! exactly one image (possibly through a nested index); layers may be
//! plain, gzip, zstd or xz tars (told apart by their first bytes, not by
//! media types, which vary between OCI and Docker).

use super::tar::Tree;
use super::unpack::{Compression, Decompressor, read_full};
use crate::builder::BuildError;
use std::io::Write;
use std::path::{Path, PathBuf};

fn failed(message: String) -> BuildError {
    BuildError::Failed(message)
}

/// Applies the layers of the image in the layout at `from` (a directory or
/// a tar of one) into the new directory `out`, and writes its attributes.
pub fn unpack(from: &Path, out: &Path, work: &Path, log: &mut dyn Write) -> Result<(), BuildError> {
    let layout = if std::fs::metadata(from).map_err(|e| BuildError::io("reading", from, e))?.is_dir() {
        from.to_path_buf()
    } else {
        let layout = work.join("oci-layout");
        let mut tree = Tree::create(&layout)?;
        apply_blob(&mut tree, from, work, false)?;
        layout
    };
    if let Ok(marker) = std::fs::read_to_string(layout.join("oci-layout")) {
        let version = serde_json::from_str::<serde_json::Value>(&marker)
            .ok()
            .and_then(|v| v.get("imageLayoutVersion").and_then(|v| v.as_str()).map(str::to_string));
        writeln!(log, "OCI layout version {}", version.as_deref().unwrap_or("?")).ok();
    }
    let index = read_json(&layout.join("index.json"), "index.json")?;
    let manifest = find_manifest(&layout, &index, 0)?;
    let layers = manifest
        .get("layers")
        .and_then(|l| l.as_array())
        .ok_or_else(|| failed("the OCI image manifest has no 'layers'".into()))?;
    if let Some(config) = manifest.get("config") {
        read_json(&blob(&layout, config)?, "the image configuration")?;
    }
    let mut tree = Tree::create(out)?;
    for (number, layer) in layers.iter().enumerate() {
        let path = blob(&layout, layer)?;
        tree.begin_layer();
        let before = tree.entries;
        apply_blob(&mut tree, &path, work, true)?;
        writeln!(log, "layer {} of {}: {} entries", number + 1, layers.len(), tree.entries - before).ok();
    }
    tree.finish()
}

/// Applies one (possibly compressed) tar file to the tree.
fn apply_blob(tree: &mut Tree, path: &Path, work: &Path, whiteouts: bool) -> Result<(), BuildError> {
    let mut head = [0u8; 8];
    let mut file = std::fs::File::open(path).map_err(|e| BuildError::io("opening", path, e))?;
    let n = read_full(&mut file, &mut head).map_err(|e| BuildError::io("reading", path, e))?;
    match Compression::sniff(&head[..n]) {
        Some(compression) => {
            let stream = Decompressor::spawn(compression, path, work)?;
            stream.read_with(|reader| tree.apply(reader, whiteouts))
        }
        None => {
            let file = std::fs::File::open(path).map_err(|e| BuildError::io("opening", path, e))?;
            tree.apply(std::io::BufReader::with_capacity(1 << 20, file), whiteouts)
        }
    }
}

/// Reads a JSON file of the layout.
fn read_json(path: &Path, what: &str) -> Result<serde_json::Value, BuildError> {
    if std::fs::symlink_metadata(path).is_ok_and(|m| !m.is_file()) {
        return Err(failed(format!("{what} of the OCI layout is not a regular file")));
    }
    let text = std::fs::read(path)
        .map_err(|e| failed(format!("the OCI layout has no readable {what} ({}): {e}", path.display())))?;
    serde_json::from_slice(&text).map_err(|e| failed(format!("{what} of the OCI layout is not valid JSON: {e}")))
}

/// The manifest the index names, following nested indexes.
fn find_manifest(layout: &Path, index: &serde_json::Value, depth: u32) -> Result<serde_json::Value, BuildError> {
    if depth > 4 {
        return Err(failed("the OCI index nests too deeply".into()));
    }
    let manifests = index
        .get("manifests")
        .and_then(|m| m.as_array())
        .ok_or_else(|| failed("the OCI index has no 'manifests'".into()))?;
    let [descriptor] = manifests.as_slice() else {
        let platforms: Vec<String> = manifests
            .iter()
            .map(|m| {
                let platform = m.get("platform");
                let field = |name: &str| platform.and_then(|p| p.get(name)).and_then(|v| v.as_str()).unwrap_or("?");
                format!("{}/{}", field("os"), field("architecture"))
            })
            .collect();
        return Err(failed(format!(
            "the OCI index lists {} images ({}); imgx needs a layout with exactly one \
             (copy a single platform into the layout)",
            manifests.len(),
            platforms.join(", ")
        )));
    };
    let document = read_json(&blob(layout, descriptor)?, "a manifest")?;
    let media_type = descriptor.get("mediaType").and_then(|m| m.as_str()).unwrap_or("");
    let nested = media_type.contains("image.index") || media_type.contains("manifest.list");
    if nested || (document.get("manifests").is_some() && document.get("layers").is_none()) {
        return find_manifest(layout, &document, depth + 1);
    }
    Ok(document)
}

/// The checked path of the blob a descriptor names: the digest must be
/// well formed (no path tricks), the blob a regular file under `blobs/`
/// (no symbolic links on the way), and its SHA-256 digest right.
fn blob(layout: &Path, descriptor: &serde_json::Value) -> Result<PathBuf, BuildError> {
    let digest = descriptor
        .get("digest")
        .and_then(|d| d.as_str())
        .ok_or_else(|| failed("an OCI descriptor has no 'digest'".into()))?;
    let (algorithm, encoded) =
        digest.split_once(':').ok_or_else(|| failed(format!("malformed OCI digest '{digest}'")))?;
    let algorithm_ok = !algorithm.is_empty()
        && algorithm.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"+._-".contains(&b));
    let encoded_ok = !encoded.is_empty() && encoded.bytes().all(|b| b.is_ascii_alphanumeric() || b"=_-".contains(&b));
    if !algorithm_ok || !encoded_ok {
        return Err(failed(format!("malformed OCI digest '{digest}'")));
    }
    let mut path = layout.to_path_buf();
    for part in ["blobs", algorithm, encoded] {
        path.push(part);
        let meta =
            std::fs::symlink_metadata(&path).map_err(|_| failed(format!("the OCI layout lacks the blob {digest}")))?;
        if meta.file_type().is_symlink() {
            return Err(failed(format!("the OCI layout reaches the blob {digest} through a symbolic link")));
        }
    }
    if !std::fs::symlink_metadata(&path).is_ok_and(|m| m.is_file()) {
        return Err(failed(format!("the OCI blob {digest} is not a file")));
    }
    if algorithm == "sha256" {
        let actual = super::hash::hash_file(imgx_lang::hash_format::HashAlgo::Sha256, &path)
            .map_err(|e| BuildError::io("reading", &path, e))?;
        if imgx_lang::hash_format::to_base16(&actual) != encoded {
            return Err(failed(format!("the OCI blob {digest} does not match its digest")));
        }
    }
    Ok(path)
}
