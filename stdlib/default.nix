/**
  imgx's standard library: `import <imgx>`.

  Each step kind is a function of the same name that takes the step's
  parameters as a set and returns a step. Steps are values: put them in
  sets and lists, pass them to functions, use them in strings (which makes
  them inputs of the step that uses the string).
*/
let
  step = kind: args: builtins.step (args // { inherit kind; });
  packages = import ./packages.nix;
  vmLib = import ./vm.nix { inherit step packages; };
  helpers = import ./helpers.nix;

  /* The library: the step kinds below, and what the other files add. */
  lib = steps // import ./image.nix lib // import ./boot.nix lib;

  steps = {
  # Sizes, standard layouts, kernel command lines: see helpers.nix.
  inherit (helpers) sizes layouts kernelCommandLine fstab describe;

  # The Debian packages the VM and the boot helpers are made from: see packages.nix.
  inherit packages;

  /**
    One file in the store.

    # Arguments
    - `name`: the file's name (shown in logs; part of the step's key).
    - `text`: the file's contents; or
    - `source`: a path or a step whose output is a file, copied as is.
    - `executable` (default `false`): whether the file gets mode 0555.

    # Example
    ```nix
    file { name = "motd"; text = "hello\n"; }
    ```
  */
  file = { name, text ? null, source ? null, executable ? false }@args: step "file" args;

  /**
    A directory tree assembled from files and other trees.

    # Arguments
    - `name`: the tree's name.
    - `entries`: a set from relative paths (`"etc/motd"`) to paths or steps.

    # Example
    ```nix
    directory { name = "rootfs"; entries = { "etc/motd" = motd; "opt/app" = ./app; }; }
    ```
  */
  directory = { name, entries }: step "directory" { inherit name entries; };

  /**
    A file or tree fetched by URL or path and checked against its hash: a
    fixed-output step, so changing the URL (a mirror) rebuilds nothing.

    # Arguments
    - `url` (`http://`, `https://`, `file://`) or `path`.
    - `hash`: of the fetched bytes, as SRI (`"sha256-…"`, `"sha512-…"`) or
      `"blake3:<hex>"`. A wrong hash fails with the hash to paste.
    - `name` (default: the last component of the URL or path).
    - `unpack` (default `false`): `true` chooses by extension; or one of
      `"xz"`, `"zst"`, `"gz"`, `"tar"`, `"tar.gz"`, `"tar.xz"`, `"tar.zst"`,
      `"qcow2"`, `"vmdk"` (to a raw disk), `"oci"`. Tarballs and OCI layouts
      become trees whose owners and modes are kept as data.

    # Example
    ```nix
    fetch { url = "https://example.org/base.qcow2"; hash = "sha256-…"; unpack = "qcow2"; }
    ```
  */
  fetch = { hash, url ? null, path ? null, name ? null, unpack ? false }@args:
    let
      source = if args ? url then args.url else toString args.path;
      tail = baseNameOf (builtins.head (builtins.split "[?#]" source));
    in
    step "fetch" (args // { name = args.name or (if tail == "" then "fetched" else tail); });

  /**
    A disk image converted to the format a hypervisor or cloud takes,
    byte-reproducibly.

    # Arguments
    - `disk`: a raw disk image (a step or a path).
    - `format`: `"raw"`, `"qcow2"`, `"vmdk"`, `"vhd"` or `"vhdx"`.
    - `options` (default `{ }`): `compress = true` for qcow2;
      `subformat = "monolithicSparse" | "streamOptimized"` for vmdk;
      `subformat = "dynamic" | "fixed"` for vhd (fixed is MiB-aligned).
    - `sourceDateEpoch` (default 315532800, 1980-01-01): the time the
      formats that record one (vhd, vhdx) are stamped with.
    - `name` (default: the disk's name and the format).

    # Example
    ```nix
    convert { disk = root; format = "qcow2"; options.compress = true; }
    ```
  */
  convert = { disk, format, options ? { }, sourceDateEpoch ? null, name ? null }@args:
    let base = if builtins.isAttrs disk && disk ? name then disk.name else "disk"; in
    step "convert" ((builtins.removeAttrs args [ "name" ]) // { name = args.name or "${base}.${format}"; });

  /**
    A raw disk image partitioned, formatted and filled from scratch,
    without root, loop devices or mounts, the same bytes on every build.

    # Arguments
    - `size`: the disk's size, bytes as an integer or a string such as
      `"4G"`, `"512M"` (powers of 1024; also `"100MiB"`), `"1GB"` (powers
      of 1000).
    - `table`: `"gpt"` or `"mbr"` (at most four partitions, 2 TiB).
    - `partitions`: a list, laid out in order, each starting on the next
      1 MiB boundary. Each partition is a set of
      - `label`: the GPT partition name and the file-system label;
      - `type`: `"esp"`, `"linux"`, `"linux-root-x86-64"`, `"swap"`,
        `"bios-boot"`, `"xbootldr"`, or a type GUID (GPT) or hex byte
        (MBR, `"0x0c"`);
      - `size`: as for the disk, or `"rest"` (last partition only): what is
        left, rounded down to a whole MiB;
      - `fs`: `"ext4"`, `"vfat"`, `"xfs"` (300 MiB or more), `"swap"` or
        `"none"`;
      - `contents` (default: empty): a directory (a path, a `directory` or
        `fetch` step, or `"${step}/sub/dir"`); owners and modes recorded in
        its `.imgx-attributes` are applied, everything else is root's;
      - `mount` (default: not mounted): a mount point (`"/"`,
        `"/boot/efi"`) or `"swap"`; when any partition has one, the
        partition mounted at `/` gets a generated `/etc/fstab` listing them
        by file-system UUID;
      - `options` (default `{ }`): `partUuid`, `uuid` (file system; vfat:
        `"XXXX-XXXX"`), `fsLabel`, `mountOptions`, `hashSeed` (ext4),
        `fatSize` (12, 16 or 32), `bootable`.
    - `options` (default `{ }`): `diskId`, the GPT disk GUID or the MBR
      disk id (`"0x1234abcd"`). Identifiers not given derive from the
      step's key.
    - `sourceDateEpoch` (default 315532800, 1980-01-01): every file's time.
    - `name` (default `"disk"`).

    A layout that cannot work (a partition past the end, two roots, an
    unknown type) is an evaluation error at the attribute that is wrong;
    contents too large for their partition fail the build.

    A layout from `layouts` is a disk's `size`, `table` and `partitions`:
    `disk (layouts.uefi { contents = rootfs; })`.

    # Example
    ```nix
    disk {
      name = "vm"; size = "4G"; table = "gpt";
      partitions = [
        { label = "ESP"; type = "esp"; size = "100M"; fs = "vfat"; contents = ./esp; mount = "/boot/efi"; }
        { label = "root"; type = "linux-root-x86-64"; size = "rest"; fs = "ext4"; contents = rootfs; mount = "/"; }
      ];
    }
    ```
  */
  disk = { size, table, partitions, options ? { }, sourceDateEpoch ? null, name ? "disk" }@args:
    step "disk" (args // { name = args.name or "disk"; });

  /**
    A file or tree that is already here (a path, or a step's output)
    unpacked: the `unpack` choices of `fetch`, without a hash to declare,
    since the source's own hash is part of the step's key.

    # Arguments
    - `source`: a path or a step (`"${tree}/sub/file"` for part of one).
    - `format` (default `"auto"`: chosen from the content): `"deb"` (a
      Debian package's files), `"tar"`, `"tar.gz"`, `"tar.xz"`,
      `"tar.zst"`, `"xz"`, `"zst"`, `"gz"`, `"qcow2"`, `"vmdk"`, `"oci"`.
    - `name` (default: the source's name).

    # Example
    ```nix
    unpack { source = packages.systemdBoot; format = "deb"; }
    ```
  */
  unpack = { source, format ? "auto", name ? null }@args:
    step "unpack" ((builtins.removeAttrs args [ "name" ]) // {
      name = if name != null then name else baseNameOf (toString source);
    });

  # The build VM and run steps (vm.nix); `run` itself is in image.nix.
  inherit (vmLib) vm mkVm testBoot;
  /** A `run` step: a script run in a disk image (see `run` in vm.nix). */
  runStep = vmLib.run;
  /** The modules the default build VM loads (see `mkVm`). */
  vmModules = vmLib.defaultModules;

  /** The version of the library. */
  version = "0.1.0";
  };
in
lib
