//! `fetch { url | path; hash; name ?; unpack ? false; }`: bytes from
//! elsewhere, pinned by their hash — a fixed-output step.
//!
//! ```nix
//! builtins.step {
//!   kind = "fetch"; name = "debian";
//!   url = "https://example.org/debian-12.qcow2";
//!   hash = "sha256-…";
//!   unpack = "qcow2";
//! }
//! ```
//!
//! # Sources
//!
//! Exactly one of:
//!
//! * `url`: `http://`, `https://` or `file://` (an absolute path on the
//!   building machine, percent-encoded where needed);
//! * `path`: a path literal (`./base.img`, imported into the store at
//!   evaluation) or another step's output.
//!
//! # The hash
//!
//! `hash` is the hash of the fetched bytes, before unpacking: SRI
//! (`sha256-<base64>`, `sha512-<base64>`), `blake3:<hex>` (plain BLAKE3,
//! as `b3sum` prints it), or anything Nix's `parseAny` reads for those
//! algorithms (`sha256:<nix32 or hex>`). MD5 and SHA-1 are refused. The one
//! exception is a source that is a directory (an OCI layout given by
//! `path` or a `file://` URL): there is no byte stream to hash, so its
//! hash is `blake3:<hex>` of imgx's tree hash, the one objects are named
//! by (the hex in the path's `/imgx/objects/<hex>` placeholder).
//!
//! The step's keys cover only the declaration
//! `{ "hash": <canonical hash>, "unpack": <normalised choice> }`
//! ([`Builder::fixed_output`]), never the URL, the path or the name: moving
//! to a mirror rebuilds nothing. A download whose hash is not the declared
//! one fails, printing both hashes and the line to paste; nothing is
//! registered.
//!
//! # Unpacking
//!
//! `unpack` is `false` (the output is the fetched file), `true` or
//! `"auto"`, or one of `"xz"`, `"zst"`, `"gz"` (a compressed file,
//! decompressed into a sparse file: zero blocks of 4 KiB become holes),
//! `"tar"`, `"tar.gz"`, `"tar.xz"`, `"tar.zst"` (a directory, see below),
//! `"qcow2"`, `"vmdk"` (a raw disk image, sparse, by `qemu-img convert`;
//! images with backing files or external data are refused) and `"oci"`
//! (an OCI image layout, a directory or a tar of one: the single image its
//! `index.json` names, layers applied in order with `.wh.*` and
//! `.wh..wh..opq` whiteouts). `"auto"` is resolved at evaluation from the
//! URL's file name (`.tar.gz`, `.tgz`, `.raw.xz`, `.qcow2`, …), so the
//! declaration records the concrete choice; when no name tells (a `path`,
//! a URL without a known ending) the declaration says `"auto"` and the
//! choice is made from the fetched bytes' magic numbers, a function of the
//! bytes the hash pins. An OCI layout packed in a `.tar` needs an explicit
//! `"oci"`. Decompressors are the system's `xz`, `zstd` and `gzip`.
//!
//! # Directory objects and `.imgx-attributes`
//!
//! imgx may run unprivileged, so a tree unpacked from a tarball or an OCI
//! image cannot carry its owners, set-user-ID bits or device nodes on the
//! host. Files are written with modes the builder can write (0644, or 0755
//! when any execute bit is set; directories 0755), symbolic links are
//! created as symbolic links, hard links as hard links, and the real
//! metadata is kept **as data** in a file `.imgx-attributes` at the top of
//! the directory object. It is JSON lines, one object per entry, sorted by
//! path (byte order), describing **every** entry of the tree except the
//! top directory and the file itself:
//!
//! ```text
//! {"path":"dev/null","type":"char","rdev":259,"uid":0,"gid":0,"mode":438}
//! {"path":"etc/shadow","uid":0,"gid":42,"mode":416,"xattrs":{"security.capability":"<base64>"}}
//! {"path":"usr/bin/passwd","uid":0,"gid":0,"mode":2541}
//! ```
//!
//! * `path`: relative, `/`-separated, no `.` or `..`;
//! * `uid`, `gid`, `mode` (permission bits with set-user-ID, set-group-ID
//!   and sticky, as a number): always;
//! * `xattrs`: extended attributes, name to base-64 value, when there are any;
//! * `type`: absent for what exists on disk as itself (file, directory,
//!   symbolic link); `"char"`, `"block"` (with `rdev`, Linux's encoding of
//!   major and minor) and `"fifo"` for special files, which are recorded
//!   only and have nothing on disk; `"hardlink"` with `target`, the path of
//!   the entry it links to (on disk a hard link or a copy; its `uid`, `gid`,
//!   `mode` and `xattrs` are the target's).
//!
//! Directories created only because an entry lies in them are recorded as
//! `0:0` with mode 0755. Builders that consume a tree (file-system
//! writers) apply these attributes and treat a tree without the file as
//! all `0:0`, with the modes found on disk. Archive entries with absolute
//! paths, `..`, a path under a symbolic link of the tree, or the name
//! `.imgx-attributes` are refused.
//!
//! # The download cache
//!
//! An HTTP download is written to `<store>/cache/fetch/<algo>-<hex of the
//! declared hash>/partial`, so an interrupted attempt is resumed by the
//! next (see [`http`]); the folder is removed once the step succeeds (its
//! small lock file beside it stays). It is a cache: deleting it while no
//! build runs only costs a download.

mod hash;
mod http;
mod oci;
mod tar;
mod unpack;

use crate::builder::{BuildContext, BuildError, Builder, ParamError};
use crate::step::InputRef;
use hash::{DeclaredHash, mismatch};
pub use http::http_agent;
use imgx_lang::hash_format::HashAlgo;
use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
pub(crate) use unpack::Unpack;

/// Fetches a file or tree by URL or path, checks its hash, and unpacks it.
pub struct FetchBuilder;

/// Where the bytes come from.
#[derive(Debug, Clone, PartialEq)]
enum Source {
    /// An `http://`, `https://` or `file://` URL.
    Url(String),
    /// A placeholder: an imported path or a step's output.
    Path(String),
}

/// The parameters, checked.
#[derive(Debug, Clone)]
struct Params {
    source: Source,
    hash: DeclaredHash,
    unpack: Unpack,
}

impl Params {
    fn parse(params: &serde_json::Value) -> Result<Params, ParamError> {
        let object = params.as_object().ok_or("the parameters of a fetch must be a set")?;
        for key in object.keys() {
            if !matches!(key.as_str(), "url" | "path" | "hash" | "unpack") {
                return Err(ParamError::at(
                    key.clone(),
                    format!("unknown parameter '{key}' (a fetch takes url or path, hash and unpack)"),
                ));
            }
        }
        let source = match (object.get("url"), object.get("path")) {
            (Some(_), Some(_)) => return Err(ParamError::at("path", "give either 'url' or 'path', not both")),
            (None, None) => return Err("a fetch needs 'url' or 'path'".into()),
            (Some(url), None) => {
                let url = url.as_str().ok_or_else(|| ParamError::at("url", "'url' must be a string"))?;
                check_url(url).map_err(|message| ParamError::at("url", message))?;
                Source::Url(url.to_string())
            }
            (None, Some(path)) => {
                let path = path.as_str().filter(|p| InputRef::parse_placeholder(p).is_some()).ok_or_else(|| {
                    ParamError::at(
                        "path",
                        "'path' must be a path (./base.img) or a step; \
                         for a file named by a string, use url = \"file:///…\"",
                    )
                })?;
                Source::Path(path.to_string())
            }
        };
        let hash = object.get("hash").ok_or(
            "a fetch needs 'hash', the hash of the fetched bytes (e.g. \"sha256-…\"); \
             write any, and the failing build prints the right one",
        )?;
        let hash = hash.as_str().ok_or_else(|| ParamError::at("hash", "'hash' must be a string"))?;
        let hash = DeclaredHash::parse(hash).map_err(|message| ParamError::at("hash", message))?;
        let unpack = Unpack::from_param(object.get("unpack")).map_err(|message| ParamError::at("unpack", message))?;
        Ok(Params { source, hash, unpack })
    }

    /// `unpack`, with `"auto"` resolved by the URL's file name where it tells.
    fn resolved_unpack(&self) -> Unpack {
        match (&self.unpack, &self.source) {
            (Unpack::Auto, Source::Url(url)) => Unpack::from_file_name(url_file_name(url)).unwrap_or(Unpack::Auto),
            (unpack, _) => *unpack,
        }
    }
}

/// The last segment of a URL's path (without query or fragment).
fn url_file_name(url: &str) -> &str {
    let end = url.find(['?', '#']).unwrap_or(url.len());
    let path = &url[..end];
    path.rsplit('/').next().unwrap_or(path)
}

/// Checks a URL's scheme and shape.
fn check_url(url: &str) -> Result<(), String> {
    if let Some(rest) = url.strip_prefix("http://").or_else(|| url.strip_prefix("https://")) {
        if rest.is_empty() || rest.starts_with('/') {
            return Err(format!("URL '{url}' has no host"));
        }
        return Ok(());
    }
    if url.starts_with("file://") {
        return file_url_path(url).map(drop);
    }
    Err(format!("URL '{url}' must start with http://, https:// or file://"))
}

/// The local path a `file://` URL names (percent-decoded).
fn file_url_path(url: &str) -> Result<PathBuf, String> {
    let rest = url.strip_prefix("file://").unwrap_or(url);
    let rest = rest.strip_prefix("localhost").unwrap_or(rest);
    if !rest.starts_with('/') {
        return Err(format!("URL '{url}' must name an absolute path (file:///…)"));
    }
    let bytes = rest.as_bytes();
    let mut decoded = Vec::with_capacity(bytes.len());
    let mut at = 0;
    while at < bytes.len() {
        if bytes[at] == b'%' {
            let hex = rest.get(at + 1..at + 3).and_then(|h| u8::from_str_radix(h, 16).ok());
            let byte = hex.ok_or_else(|| format!("URL '{url}' has a malformed %-escape"))?;
            decoded.push(byte);
            at += 3;
        } else {
            decoded.push(bytes[at]);
            at += 1;
        }
    }
    use std::os::unix::ffi::OsStringExt;
    Ok(PathBuf::from(std::ffi::OsString::from_vec(decoded)))
}

impl Builder for FetchBuilder {
    fn kind(&self) -> &'static str {
        "fetch"
    }

    fn version(&self) -> &'static str {
        "fetch-1"
    }

    fn validate(&self, params: &serde_json::Value) -> Result<(), ParamError> {
        Params::parse(params).map(drop)
    }

    fn fixed_output(&self, params: &serde_json::Value) -> Option<serde_json::Value> {
        let params = Params::parse(params).ok()?;
        Some(serde_json::json!({ "hash": params.hash.canonical(), "unpack": params.resolved_unpack().name() }))
    }

    fn build(&self, ctx: &mut BuildContext<'_>) -> Result<(), BuildError> {
        let params = Params::parse(&ctx.step.params).map_err(|e| BuildError::InvalidParams(e.message))?;
        let unpack = params.resolved_unpack();
        let hash = &params.hash;
        let (out, work) = (ctx.out.clone(), ctx.work.clone());
        let mut cache = None;
        let fetched = match &params.source {
            Source::Url(url) if url.starts_with("file://") => {
                let from = file_url_path(url).map_err(BuildError::InvalidParams)?;
                writeln!(ctx.log, "copying {}", from.display()).ok();
                let copy = work.join("fetched");
                let meta = std::fs::metadata(&from)
                    .map_err(|e| BuildError::Failed(format!("fetching {url} failed: {}: {e}", from.display())))?;
                let copied = if meta.is_dir() {
                    imgx_store::copy::copy_tree(&from, &copy)
                } else {
                    imgx_store::copy::copy_file(&from, &copy).map(drop)
                };
                copied.map_err(|e| BuildError::Failed(format!("fetching {url} failed: {e}")))?;
                check_local(&copy, url, hash)?;
                Fetched { path: copy, owned: true }
            }
            Source::Url(url) => {
                writeln!(ctx.log, "fetching {url} ({})", hash.canonical()).ok();
                let dir = cache_root(ctx).join(hash.file_name());
                let download = http::download(url, hash, &dir, ctx.log)?;
                let path = download.path.clone();
                cache = Some(download);
                Fetched { path, owned: true }
            }
            Source::Path(placeholder) => {
                let path = ctx.input_file("path", placeholder)?;
                writeln!(ctx.log, "reading {placeholder}").ok();
                check_local(&path, &format!("path {placeholder}"), hash)?;
                Fetched { path, owned: false }
            }
        };
        produce(unpack, &fetched, &out, &work, ctx.log)?;
        if let Some(download) = cache {
            download.remove();
        }
        Ok(())
    }
}

/// The fetched bytes, checked against the declared hash.
struct Fetched {
    path: PathBuf,
    /// Whether the file is ours to move (else it is a store object).
    owned: bool,
}

/// Where downloads are kept until their step succeeds: `cache/fetch` in
/// the store (the output lies at `<store>/scratch/<name>/out`), else the
/// work folder.
fn cache_root(ctx: &BuildContext<'_>) -> PathBuf {
    let scratch = ctx.out.parent().and_then(Path::parent).filter(|dir| dir.file_name() == Some("scratch".as_ref()));
    match scratch.and_then(Path::parent) {
        Some(store) => store.join("cache").join("fetch"),
        None => ctx.work.join("fetch-cache"),
    }
}

/// Checks a local file (its bytes) or directory (its tree hash) against
/// the declared hash.
fn check_local(path: &Path, what: &str, hash: &DeclaredHash) -> Result<(), BuildError> {
    let meta = std::fs::metadata(path).map_err(|e| BuildError::io("reading", path, e))?;
    let actual = if meta.is_dir() {
        let tree = imgx_store::hash::hash_path(path).map_err(|e| BuildError::io("hashing", path, e))?;
        if hash.algo != HashAlgo::Blake3 {
            let got = hash::canonical(HashAlgo::Blake3, &tree.0);
            return Err(BuildError::Failed(format!(
                "{what} is a directory, whose hash is imgx's BLAKE3 tree hash, not {}; use hash = \"{got}\";",
                hash.algo
            )));
        }
        tree.0.to_vec()
    } else {
        hash::hash_file(hash.algo, path).map_err(|e| BuildError::io("reading", path, e))?
    };
    if actual != hash.digest {
        return Err(mismatch(what, hash, &actual));
    }
    Ok(())
}

/// Unpacks a file or tree that is already on this machine (an input of
/// the step) as `unpack` says: the `unpack` step's whole work.
pub(crate) fn unpack_local(
    unpack: Unpack,
    path: &Path,
    out: &Path,
    work: &Path,
    log: &mut dyn Write,
) -> Result<(), BuildError> {
    produce(unpack, &Fetched { path: path.to_path_buf(), owned: false }, out, work, log)
}

/// Makes the output from the fetched, checked bytes.
fn produce(unpack: Unpack, fetched: &Fetched, out: &Path, work: &Path, log: &mut dyn Write) -> Result<(), BuildError> {
    let from = &fetched.path;
    let unpack = if unpack == Unpack::Auto {
        let found = unpack::sniff(from, work)?;
        writeln!(log, "unpack = auto: the content is {}", found.name()).ok();
        found
    } else {
        unpack
    };
    let is_dir = std::fs::metadata(from).map_err(|e| BuildError::io("reading", from, e))?.is_dir();
    if is_dir && !matches!(unpack, Unpack::None | Unpack::Oci) {
        return Err(BuildError::Failed(format!(
            "unpack = \"{}\" needs a file, but the fetched source is a directory",
            unpack.name()
        )));
    }
    match unpack {
        Unpack::None | Unpack::Auto if is_dir => {
            imgx_store::copy::copy_tree(from, out).map_err(|e| BuildError::io("copying into", out, e))?;
        }
        Unpack::None | Unpack::Auto => {
            let moved = fetched.owned && std::fs::rename(from, out).is_ok();
            if !moved {
                imgx_store::copy::copy_file(from, out).map_err(|e| BuildError::io("copying into", out, e))?;
            }
            std::fs::set_permissions(out, std::fs::Permissions::from_mode(0o644))
                .map_err(|e| BuildError::io("setting the mode of", out, e))?;
        }
        Unpack::Xz | Unpack::Zst | Unpack::Gz => {
            let compression = unpack.compression().unwrap_or(unpack::Compression::Gz);
            let written = unpack::decompress(compression, from, out, work)?;
            writeln!(log, "decompressed ({}) to {written} bytes", unpack.name()).ok();
        }
        Unpack::Tar | Unpack::TarGz | Unpack::TarXz | Unpack::TarZst | Unpack::Deb => {
            let mut tree = tar::Tree::create(out)?;
            let stream = match unpack.compression() {
                _ if unpack == Unpack::Deb => Some(unpack::Decompressor::spawn_deb(from, work)?),
                Some(compression) => Some(unpack::Decompressor::spawn(compression, from, work)?),
                None => None,
            };
            match stream {
                Some(stream) => stream.read_with(|reader| tree.apply(reader, false))?,
                None => {
                    let file = std::fs::File::open(from).map_err(|e| BuildError::io("opening", from, e))?;
                    tree.apply(std::io::BufReader::with_capacity(1 << 20, file), false)?;
                }
            }
            writeln!(log, "unpacked {} entries ({})", tree.entries, unpack.name()).ok();
            tree.finish()?;
        }
        Unpack::Qcow2 | Unpack::Vmdk => {
            unpack::convert_disk(unpack, from, out)?;
            writeln!(log, "converted the {} image to a raw disk", unpack.name()).ok();
        }
        Unpack::Oci => oci::unpack(from, out, work, log)?,
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const HASH: &str = "sha256-LCa0a2j/xo/5m0U8HTBBNBNCLXBkg7+g+YpeiGJm564=";

    fn params(value: serde_json::Value) -> Result<Params, ParamError> {
        Params::parse(&value)
    }

    #[test]
    fn validation_points_at_the_attribute() {
        let at = |value| params(value).unwrap_err().at;
        assert_eq!(at(serde_json::json!({ "url": "ftp://x/y", "hash": HASH })), Some("url".into()));
        assert_eq!(at(serde_json::json!({ "url": "http://x/y", "hash": "nope" })), Some("hash".into()));
        assert_eq!(
            at(serde_json::json!({ "url": "http://x/y", "hash": HASH, "unpack": "rar" })),
            Some("unpack".into())
        );
        assert_eq!(at(serde_json::json!({ "url": "http://x/y", "hash": HASH, "sha": 1 })), Some("sha".into()));
        assert_eq!(at(serde_json::json!({ "path": "/etc/passwd", "hash": HASH })), Some("path".into()));
        assert!(params(serde_json::json!({ "hash": HASH })).unwrap_err().message.contains("'url' or 'path'"));
        assert!(params(serde_json::json!({ "url": "http://x/y" })).unwrap_err().message.contains("needs 'hash'"));
        assert!(params(serde_json::json!({ "url": "file:///x", "hash": HASH })).is_ok());
        assert!(params(serde_json::json!({ "url": "file://x", "hash": HASH })).is_err());
    }

    #[test]
    fn the_declaration_ignores_the_source_and_resolves_auto_by_name() {
        let declared = |value| FetchBuilder.fixed_output(&value).unwrap();
        let a = declared(serde_json::json!({ "url": "https://one.example/a.img", "hash": HASH }));
        let b = declared(serde_json::json!({ "url": "https://two.example/b.img", "hash": HASH }));
        assert_eq!(a, b);
        assert_eq!(a, serde_json::json!({ "hash": HASH, "unpack": "none" }));
        let hex = imgx_lang::hash_format::to_base16(&DeclaredHash::parse(HASH).unwrap().digest);
        let c = declared(serde_json::json!({ "url": "https://x/a.img", "hash": format!("sha256:{hex}") }));
        assert_eq!(c, a, "every spelling of a hash is one declaration");
        let tarball = declared(serde_json::json!({ "url": "https://x/root.tgz?x=1", "hash": HASH, "unpack": true }));
        assert_eq!(tarball["unpack"], "tar.gz");
        let unknown = declared(serde_json::json!({ "url": "https://x/download", "hash": HASH, "unpack": "auto" }));
        assert_eq!(unknown["unpack"], "auto");
    }

    #[test]
    fn file_urls_decode() {
        assert_eq!(file_url_path("file:///a%20b/c"), Ok(PathBuf::from("/a b/c")));
        assert_eq!(file_url_path("file://localhost/x"), Ok(PathBuf::from("/x")));
        assert!(file_url_path("file:///a%2").is_err());
    }
}
