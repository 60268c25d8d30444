//! `vm { kernel; busybox; init; modules }`: the build VM, a kernel and an
//! initramfs that `run` steps boot in QEMU.
//!
//! ```nix
//! builtins.step { kind = "vm"; name = "build-vm";
//!                 kernel = /path/to/linux-image-6.1.0-56-cloud-amd64.deb;
//!                 busybox = /path/to/busybox-static.deb;
//!                 init = ./vm/init; modules = [ "virtio_blk" "vfat" ]; }
//! ```
//!
//! The VM is a step like any other, so its key (the kernel, busybox and
//! init script it is made of) is part of the key of every `run` step that
//! uses it: a new kernel rebuilds run steps and nothing else.
//!
//! The output is a directory with `kernel` (the kernel image, as packaged),
//! `initrd` (an uncompressed newc archive, see [`cpio`]) and `vm.json`
//! (the kernel release and the modules in load order). The initramfs holds
//! `/init` (the init script), `/bin/busybox`, and the requested modules
//! with their dependencies ([`modules`]) under `/lib/modules`, listed in
//! load order in `/etc/imgx/modules`.

mod cpio;
mod modules;
mod package;

use crate::builder::{BuildContext, BuildError, Builder, ParamError};
use cpio::CpioWriter;
use std::io::{BufWriter, Write};
use std::path::Path;

/// Builds the kernel and initramfs that `run` steps boot.
pub struct VmBuilder;

/// The folders of the initramfs's root, made before anything is put in.
const FOLDERS: &[&str] =
    &["bin", "dev", "etc", "etc/imgx", "job", "lib", "lib/modules", "mnt", "proc", "root", "run", "sys", "tmp"];

impl Builder for VmBuilder {
    fn kind(&self) -> &'static str {
        "vm"
    }

    fn version(&self) -> &'static str {
        "1"
    }

    fn validate(&self, params: &serde_json::Value) -> Result<(), ParamError> {
        for name in ["kernel", "busybox", "init"] {
            match params.get(name) {
                None => return Err(format!("a vm step needs '{name}'").into()),
                Some(value) if value.is_string() => {}
                Some(_) => return Err(ParamError::at(name, format!("'{name}' must be a path or a step"))),
            }
        }
        match params.get("modules") {
            None => Ok(()),
            Some(serde_json::Value::Array(items)) => {
                for (i, item) in items.iter().enumerate() {
                    if !item.is_string() {
                        return Err(ParamError::at(format!("modules[{i}]"), "a module is named by a string"));
                    }
                }
                Ok(())
            }
            Some(_) => Err(ParamError::at("modules", "'modules' must be a list of module names")),
        }
    }

    fn build(&self, ctx: &mut BuildContext<'_>) -> Result<(), BuildError> {
        let param =
            |name: &str| ctx.str_param(name).ok_or_else(|| BuildError::InvalidParams(format!("'{name}' is missing")));
        let kernel_source = ctx.input_path(param("kernel")?)?.to_path_buf();
        let busybox_source = ctx.input_path(param("busybox")?)?.to_path_buf();
        let init = ctx.input_path(param("init")?)?.to_path_buf();
        let requested: Vec<String> = ctx
            .step
            .params
            .get("modules")
            .and_then(|m| m.as_array())
            .map(|items| items.iter().filter_map(|i| i.as_str().map(str::to_string)).collect())
            .unwrap_or_default();

        let kernel = package::kernel(&kernel_source, &ctx.work)?;
        writeln!(ctx.log, "kernel {} ({} modules available)", kernel.release, kernel.modules.len()).ok();
        let busybox = package::busybox(&busybox_source, &ctx.work)?;
        let modules = modules::load_order(&kernel, &requested)?;
        let names: Vec<&str> = modules.iter().map(|m| m.name.as_str()).collect();
        writeln!(ctx.log, "modules in load order: {}", names.join(" ")).ok();

        let out = ctx.out.clone();
        std::fs::create_dir(&out).map_err(|e| BuildError::io("creating", &out, e))?;
        let kernel_out = out.join("kernel");
        std::fs::copy(&kernel.image, &kernel_out)
            .map_err(|e| BuildError::io("copying the kernel to", &kernel_out, e))?;
        let read = |path: &Path| std::fs::read(path).map_err(|e| BuildError::io("reading", path, e));
        let initrd = out.join("initrd");
        write_initramfs(&initrd, &read(&init)?, &read(&busybox)?, &modules)
            .map_err(|e| BuildError::io("writing", &initrd, e))?;
        let info = serde_json::json!({ "kernel": kernel.release, "modules": names });
        let info_path = out.join("vm.json");
        std::fs::write(&info_path, format!("{info:#}\n")).map_err(|e| BuildError::io("writing", &info_path, e))?;
        Ok(())
    }
}

/// Writes the initramfs archive.
fn write_initramfs(path: &Path, init: &[u8], busybox: &[u8], modules: &[modules::Module]) -> std::io::Result<()> {
    let file = std::fs::File::create(path)?;
    let mut archive = CpioWriter::new(BufWriter::new(file));
    for folder in FOLDERS {
        archive.directory(folder, 0o755)?;
    }
    archive.file("init", 0o755, init)?;
    archive.file("bin/busybox", 0o755, busybox)?;
    archive.symlink("bin/sh", "busybox")?;
    let mut list = String::new();
    for module in modules {
        archive.file(&format!("lib/modules/{}.ko", module.name), 0o644, &module.bytes)?;
        list.push_str(&module.name);
        list.push('\n');
    }
    archive.file("etc/imgx/modules", 0o644, list.as_bytes())?;
    let mut out = archive.finish()?;
    out.flush()?;
    // Registering the output syncs it.
    out.into_inner().map_err(|e| e.into_error()).map(drop)
}
