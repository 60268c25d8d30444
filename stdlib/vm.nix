/**
  The build VM and `run` steps: commands run inside a disk image.

  Imported by `default.nix`, which passes its `step` helper and the
  packages; use them as `(import <imgx>).runStep` (or `run` with a `disk`)
  and `(import <imgx>).vm`.
*/
{ step, packages }:
let
  /* Made once, however many run steps use it. */
  defaultVm = lib.mkVm { };

  lib = rec {
  /**
    The build VM: a kernel and an initramfs (busybox, the kernel modules
    it needs and imgx's init script), built as a step so that its key is
    part of every run step's key.

    # Arguments
    - `kernel` (default: `$IMGX_VM_KERNEL`, else the newest
      `linux-image-<version>…deb` in the package folder): a Debian kernel
      package or an unpacked one.
    - `busybox` (default: `$IMGX_VM_BUSYBOX`, else the newest
      `busybox-static_…deb` there): a package, an unpacked one, or the
      static binary.
    - `modules` (default: virtio disks, consoles and network, vfat, xfs):
      modules to load, with what they depend on.
    - `init` (default: imgx's own, `stdlib/vm/init`): the VM's init
      script, which speaks the protocol `run` steps expect.

    The package folder is `$IMGX_VM_PACKAGES`, else
    `~/.cache/imgx/vm`; `imgx vm fetch` fills it.

    # Example
    ```nix
    mkVm { modules = vmModules ++ [ "btrfs" ]; }
    ```
  */
  mkVm =
    { kernel ? packages.kernel
    , busybox ? packages.busybox
    , modules ? defaultModules
    , init ? ./vm/init
    , name ? "build-vm"
    }:
    step "vm" { inherit kernel busybox modules init name; };

  /** The modules the default VM loads. */
  defaultModules = [
    "virtio_pci" "virtio_blk" "virtio_console" "virtio_net"
    "vfat" "nls_cp437" "nls_ascii" "nls_iso8859_1" "xfs"
  ];

  /** The default build VM (see `mkVm`). */
  vm = defaultVm;

  /**
    A script run inside a disk image, in the build VM. The output is a new
    disk; the input is never changed.

    The VM finds the root file system by its `/etc/fstab`, mounts what
    fstab lists, copies `files` and `workdir` in, and runs the script as
    root with `set -e` under `chroot` with the image's `/bin/sh` (or, for
    images without one, with the VM's busybox and the image at `/mnt`,
    also in `$IMGX_ROOT`). The environment is fixed: `LC_ALL=C`, `TZ=UTC`,
    umask 022, hostname `imgx`, `SOURCE_DATE_EPOCH`, and a clock that
    starts at that date.

    # Arguments
    - `disk`: a raw disk image (a step or a path).
    - `script`: shell commands.
    - `name` (default `"run"`).
    - `files` (default `{ }`): paths in the image to files or trees
      (paths or steps), copied in before the script runs (modes 0644,
      or 0755 for executables; owner root).
    - `workdir` (default `null`): a tree copied into a fresh folder in the
      image, where the script starts, and removed afterwards.
    - `memory` (MiB, default 1024), `cpus` (default 1), `timeout`
      (seconds, default 1800).
    - `network` (default `false`): give the VM a network. Such a step is
      impure and must declare its output's `hash` (`"imgx:<hex>"`; with
      `hash = ""` the first build fails and prints the hash to paste).
    - `shell` (default `"image"`): `"vm"` runs the script with the VM's
      busybox even if the image has a shell.
    - `vm` (default: the default build VM).

    # Example
    ```nix
    run { disk = base; script = "echo hello > /etc/motd"; }
    ```
  */
  run =
    { disk
    , script
    , name ? "run"
    , files ? { }
    , workdir ? null
    , memory ? null
    , cpus ? null
    , timeout ? null
    , network ? false
    , hash ? null
    , shell ? "image"
    , vm ? defaultVm
    }@args:
    step "run" (args // { inherit name vm; });

  /**
    Boots a finished disk image in QEMU and succeeds only when `expect`
    appears in a line of its serial console (the first serial port, COM1 /
    ttyS0): a smoke test that the image boots. The disk is attached with
    `snapshot=on`, so it is never changed. The output is a text file: the
    matching line (the whole console is the step's log, `imgx log`, and
    `-L` prints it as it comes). On a timeout, or when
    QEMU stops first, the step fails with the console's last lines.

    # Arguments
    - `disk`: a disk image (a step or a path): raw, qcow2, vmdk, vhd or
      vhdx, told apart by their magic; attached as a virtio disk.
    - `firmware`: `"uefi"` (OVMF, Debian package `ovmf`) or `"bios"`
      (SeaBIOS).
    - `expect`: the text to wait for, within one line.
    - `timeout` (seconds, default 120), `memory` (MiB, default 1024).
    - `name` (default `"test-boot"`).

    # Example
    ```nix
    testBoot { disk = image; firmware = "uefi"; expect = "login:"; }
    ```
  */
  testBoot =
    { disk
    , firmware
    , expect
    , timeout ? null
    , memory ? null
    , name ? "test-boot"
    }@args:
    step "testBoot" (args // { inherit name; });
};
in
lib
