//! `imgx vm fetch` and `imgx vm shell`: the build VM's packages, and the
//! VM booted by hand with a disk for debugging a step.

use super::{EXIT_BUILD_FAILED, EXIT_ERROR, EXIT_HOST_TOOL, EXIT_USAGE, Failure, evaluate_source, open_store};
use crate::cli::{TargetArgs, VmCommand, VmShellArgs};
use crate::scheduler::BuildOptions;
use crate::session::Source;
use std::path::{Path, PathBuf};
use std::process::Command;

/// The Debian metapackage that names the current cloud kernel.
const KERNEL_METAPACKAGE: &str = "linux-image-cloud-amd64";

/// A package the library reads from the package folder (see
/// `stdlib/packages.nix`, whose file-name patterns these mirror).
struct Package {
    /// The package apt downloads; `None` for the kernel, whose name is
    /// found through [`KERNEL_METAPACKAGE`].
    apt_name: Option<&'static str>,
    /// Whether a file in the folder is a version of this package.
    matches: fn(&str) -> bool,
}

/// The build VM's kernel and busybox, then the boot loaders of `bootloader`.
const PACKAGES: &[Package] = &[
    Package { apt_name: None, matches: is_kernel_package },
    Package { apt_name: Some("busybox-static"), matches: |name| name.starts_with("busybox-static_") },
    Package { apt_name: Some("systemd-boot-efi"), matches: |name| name.starts_with("systemd-boot-efi_") },
    Package { apt_name: Some("grub-efi-amd64-bin"), matches: |name| name.starts_with("grub-efi-amd64-bin_") },
];

/// `linux-image-<digit>…`: a concrete kernel, not a metapackage.
fn is_kernel_package(name: &str) -> bool {
    name.strip_prefix("linux-image-").and_then(|rest| rest.chars().next()).is_some_and(|c| c.is_ascii_digit())
}

/// Runs `imgx vm …`.
pub fn run(command: VmCommand) -> Result<(), Failure> {
    match command {
        VmCommand::Fetch { update } => fetch(update).map_err(|e| {
            let code = match e {
                FetchError::NoFolder | FetchError::Folder { .. } => EXIT_ERROR,
                _ => EXIT_HOST_TOOL,
            };
            Failure::with_code(miette::Report::new(e), code)
        }),
        VmCommand::Shell(args) => shell(args),
    }
}

/// Why `imgx vm fetch` failed.
#[derive(Debug, thiserror::Error, miette::Diagnostic)]
enum FetchError {
    /// Neither `$IMGX_VM_PACKAGES`, `$XDG_CACHE_HOME` nor `$HOME` is set.
    #[error("there is no folder for the build VM's packages: set IMGX_VM_PACKAGES, XDG_CACHE_HOME or HOME")]
    NoFolder,
    /// The package folder cannot be made or read.
    #[error("cannot use the package folder {}: {source}", path.display())]
    Folder { path: PathBuf, source: std::io::Error },
    /// apt is not installed (or not runnable).
    #[error("cannot run `{command}`: {source}")]
    #[diagnostic(help(
        "imgx vm fetch downloads Debian packages with apt; on other systems, set IMGX_VM_KERNEL and IMGX_VM_BUSYBOX to a kernel package and busybox instead"
    ))]
    Missing { command: String, source: std::io::Error },
    /// An apt command failed.
    #[error("`{command}` failed ({status}):\n{stderr}")]
    #[diagnostic(help("apt needs its package lists (`apt-get update`) and a reachable mirror"))]
    Failed { command: String, status: String, stderr: String },
    /// apt knows the metapackage but it names no kernel.
    #[error("`apt-cache depends {KERNEL_METAPACKAGE}` names no linux-image-<version> package:\n{output}")]
    NoKernel { output: String },
}

/// The folder the bundled library reads the VM's packages from (see
/// `stdlib/vm.nix`): `$IMGX_VM_PACKAGES`, else `$XDG_CACHE_HOME/imgx/vm`,
/// else `~/.cache/imgx/vm`. Empty variables count as unset, as there.
fn package_dir() -> Option<PathBuf> {
    let var = |name: &str| std::env::var_os(name).filter(|v| !v.is_empty()).map(PathBuf::from);
    if let Some(dir) = var("IMGX_VM_PACKAGES") {
        return Some(dir);
    }
    let cache = var("XDG_CACHE_HOME").or_else(|| var("HOME").map(|home| home.join(".cache")))?;
    Some(cache.join("imgx").join("vm"))
}

/// For each of [`PACKAGES`], the newest version of it in `dir` (by file
/// name), if any.
fn present(dir: &Path) -> Result<Vec<Option<String>>, FetchError> {
    let entries = std::fs::read_dir(dir).map_err(|source| FetchError::Folder { path: dir.to_path_buf(), source })?;
    let names: Vec<String> = entries
        .flatten()
        .map(|entry| entry.file_name().to_string_lossy().into_owned())
        .filter(|name| name.ends_with(".deb"))
        .collect();
    Ok(PACKAGES.iter().map(|package| names.iter().filter(|name| (package.matches)(name)).max().cloned()).collect())
}

/// Whether this process runs as root: apt then downloads as root instead
/// of its `_apt` user, which may not write to a folder in root's home.
fn is_root() -> bool {
    use std::os::unix::fs::MetadataExt;
    std::fs::metadata("/proc/self").map(|m| m.uid() == 0).unwrap_or(false)
}

/// Runs an apt command and returns its standard output.
fn apt(program: &str, args: &[&str], dir: Option<&Path>) -> Result<String, FetchError> {
    let text = format!("{program} {}", args.join(" "));
    let mut command = Command::new(program);
    command.args(args).env("LC_ALL", "C").env("DEBIAN_FRONTEND", "noninteractive");
    if let Some(dir) = dir {
        command.current_dir(dir);
    }
    let output = command.output().map_err(|source| FetchError::Missing { command: text.clone(), source })?;
    if !output.status.success() {
        return Err(FetchError::Failed {
            command: text,
            status: output.status.to_string(),
            stderr: String::from_utf8_lossy(&output.stderr).trim().to_string(),
        });
    }
    Ok(String::from_utf8_lossy(&output.stdout).into_owned())
}

/// The concrete kernel package the metapackage depends on, from
/// `apt-cache depends` (`  Depends: linux-image-6.1.0-56-cloud-amd64`).
fn kernel_package(depends: &str) -> Option<String> {
    depends.lines().find_map(|line| {
        let name = line.trim().trim_start_matches('|').strip_prefix("Depends:")?.trim();
        let version = name.strip_prefix("linux-image-")?;
        (version.starts_with(|c: char| c.is_ascii_digit()) && !name.contains(['<', ' '])).then(|| name.to_string())
    })
}

/// Downloads what is missing from the package folder (everything with
/// `update`), so that a second run is instant and needs no network.
fn fetch(update: bool) -> Result<(), FetchError> {
    let dir = package_dir().ok_or(FetchError::NoFolder)?;
    std::fs::create_dir_all(&dir).map_err(|source| FetchError::Folder { path: dir.clone(), source })?;
    let found = present(&dir)?;
    let wanted: Vec<&Package> = PACKAGES
        .iter()
        .zip(&found)
        .filter(|(_, found)| update || found.is_none())
        .map(|(package, _)| package)
        .collect();
    if wanted.is_empty() {
        let names: Vec<&str> = found.iter().flatten().map(String::as_str).collect();
        eprintln!(
            "imgx: the packages are already in {}: {} (`imgx vm fetch --update` fetches newer ones)",
            dir.display(),
            names.join(", ")
        );
        return Ok(());
    }
    let mut names = Vec::new();
    for package in wanted {
        names.push(match package.apt_name {
            Some(name) => name.to_string(),
            None => {
                let depends = apt("apt-cache", &["depends", KERNEL_METAPACKAGE], None)?;
                kernel_package(&depends).ok_or(FetchError::NoKernel { output: depends.trim().to_string() })?
            }
        });
    }
    let mut args = vec!["download", "-q"];
    if is_root() {
        args.extend(["-o", "APT::Sandbox::User=root"]);
    }
    args.extend(names.iter().map(String::as_str));
    eprintln!("imgx: downloading {} into {}", names.join(", "), dir.display());
    apt("apt-get", &args, Some(&dir))?;
    let found = present(&dir)?;
    let names: Vec<&str> = found.iter().flatten().map(String::as_str).collect();
    eprintln!("imgx: the packages are in {}: {}", dir.display(), names.join(", "));
    Ok(())
}

/// The disk `imgx vm shell` opens: the one given, or `./result`.
fn shell_disk(given: Option<PathBuf>) -> Result<PathBuf, Failure> {
    if let Some(disk) = given {
        return Ok(disk);
    }
    let result = PathBuf::from("result");
    if result.is_file() {
        return Ok(result);
    }
    Err(Failure::with_code(
        miette::miette!(
            help = "build a disk first (`imgx build` links it as ./result), or name one: imgx vm shell DISK",
            "no disk given, and ./result is not a disk image file"
        ),
        EXIT_USAGE,
    ))
}

/// Builds (or finds in the store) the default build VM, as `imgx build`
/// would build `(import <imgx>).vm`, and returns its folder.
fn build_vm(includes: &[String]) -> Result<PathBuf, Failure> {
    let store = open_store()?;
    let target = TargetArgs {
        file: None,
        attr: None,
        arg: Vec::new(),
        argstr: Vec::new(),
        include: includes.to_vec(),
        no_eval_cache: false,
    };
    let evaluated = evaluate_source(Source::Expr("(import <imgx>).vm".into()), &target, &store)?;
    let options = BuildOptions { jobs: 1, keep_going: false, keep_failed: false, substituters: None };
    let report = super::run_build(&store, &evaluated, &options, false, false)?;
    let output = evaluated.targets.first().and_then(|t| report.results.get(t)).and_then(|r| r.output);
    match output {
        Some(output) => Ok(store.object_path(&output)),
        None => Err(Failure::with_code(
            miette::miette!(help = "`imgx log KEY` shows the step's whole log", "the build VM could not be built"),
            EXIT_BUILD_FAILED,
        )),
    }
}

fn shell(args: VmShellArgs) -> Result<(), Failure> {
    let disk = shell_disk(args.disk)?;
    let vm = build_vm(&args.include)?;
    let term = std::env::var("TERM").unwrap_or_default();
    let shell = imgx_builders::VmShell {
        vm: &vm,
        disk: &disk,
        memory_mib: args.memory,
        cpus: args.cpus,
        vm_shell: args.busybox,
        term,
    };
    match imgx_builders::vm_shell(&shell) {
        Ok(status) if status.success() => Ok(()),
        Ok(status) => Err(Failure::with_code(miette::miette!("QEMU exited with {status}"), EXIT_HOST_TOOL)),
        Err(error @ imgx_builders::ShellError::Vm(_)) => {
            Err(Failure::with_code(miette::Report::msg(error.to_string()), EXIT_HOST_TOOL))
        }
        Err(error) => Err(Failure::with_code(miette::Report::msg(error.to_string()), EXIT_ERROR)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_kernel_is_read_from_apt_cache_depends() {
        let output = "linux-image-cloud-amd64\n  Depends: linux-image-6.1.0-56-cloud-amd64\n";
        assert_eq!(kernel_package(output).as_deref(), Some("linux-image-6.1.0-56-cloud-amd64"));
        let alternatives = "linux-image-cloud-amd64\n |Depends: linux-image-6.12.9-cloud-amd64\n  Depends: foo\n";
        assert_eq!(kernel_package(alternatives).as_deref(), Some("linux-image-6.12.9-cloud-amd64"));
        assert_eq!(kernel_package("linux-image-cloud-amd64\n  Depends: <linux-image-virtual>\n"), None);
        assert_eq!(kernel_package(""), None);
    }
}
