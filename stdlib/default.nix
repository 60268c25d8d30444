/**
  imgx's standard library: `import <imgx>`.

  Each step kind is a function of the same name that takes the step's
  parameters as a set and returns a step. Steps are values: put them in
  sets and lists, pass them to functions, use them in strings (which makes
  them inputs of the step that uses the string).
*/
let
  step = kind: args: builtins.step (args // { inherit kind; });
  vmLib = import ./vm.nix { inherit step; };
in
{
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
    - `name` (default: the disk's name and the format).

    # Example
    ```nix
    convert { disk = root; format = "qcow2"; options.compress = true; }
    ```
  */
  convert = { disk, format, options ? { }, name ? null }@args:
    let base = if builtins.isAttrs disk && disk ? name then disk.name else "disk"; in
    step "convert" ((builtins.removeAttrs args [ "name" ]) // { name = args.name or "${base}.${format}"; });

  inherit (vmLib) vm mkVm run;

  /** The version of the library. */
  version = "0.1.0";
}
