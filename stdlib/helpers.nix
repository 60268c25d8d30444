/**
  Helpers for writing disks: sizes, standard partition layouts and kernel
  command lines. Plain functions of the Nix language; they make no steps.

  Imported by `default.nix`; use them as `(import <imgx>).sizes`,
  `(import <imgx>).layouts` and `(import <imgx>).kernelCommandLine`.
*/
let
  inherit (builtins) concatStringsSep elemAt foldl' genList isInt isList isString match stringLength substring typeOf;

  maxInt = 9223372036854775807;

  characters = text: genList (i: substring i 1 text) (stringLength text);

  digitValue = { "0" = 0; "1" = 1; "2" = 2; "3" = 3; "4" = 4; "5" = 5; "6" = 6; "7" = 7; "8" = 8; "9" = 9; };

  /* A string of at most 18 decimal digits as an integer. */
  decimal = digits: foldl' (acc: c: acc * 10 + digitValue.${c}) 0 (characters digits);

  power = base: exponent: foldl' (acc: _: acc * base) 1 (genList (i: i) exponent);

  gcd = a: b: if b == 0 then a else gcd b (a - (a / b) * b);

  lower = builtins.replaceStrings
    (characters "ABCDEFGHIJKLMNOPQRSTUVWXYZ")
    (characters "abcdefghijklmnopqrstuvwxyz");

  /* Bytes per unit, as the disk step reads them (util-linux's units). */
  units = {
    "" = 1; b = 1;
    k = 1024; kib = 1024;
    m = 1048576; mib = 1048576;
    g = 1073741824; gib = 1073741824;
    t = 1099511627776; tib = 1099511627776;
    kb = 1000; mb = 1000000; gb = 1000000000; tb = 1000000000000;
  };

  describe = value:
    {
      int = "an integer"; float = "a float"; bool = "a Boolean"; string = "a string"; path = "a path";
      null = "null"; set = "a set"; list = "a list"; lambda = "a function";
    }.${typeOf value} or "a ${typeOf value}";

  parseText = prefix: text:
    let
      bad = throw "${prefix}'${text}' is not a size: write bytes as an integer, or a number with a unit: K/M/G/T or KiB/MiB/GiB/TiB (powers of 1024), KB/MB/GB/TB (powers of 1000)";
      parts = match "[[:space:]]*([0-9.]*)[[:space:]]*([A-Za-z][^[:space:]]*)?[[:space:]]*" text;
      unit = let u = elemAt parts 1; in if u == null then "" else lower u;
      number = match "0*([0-9]*)(\\.([0-9]*))?" (elemAt parts 0);
      whole = elemAt number 0;
      fraction = let f = elemAt number 2; in if f == null then "" else f;
      significant = let m = match "([0-9]*[1-9])?0*" fraction; in if elemAt m 0 == null then "" else elemAt m 0;
      multiplier = units.${unit};
      scale = power 10 (stringLength significant);
      common = gcd multiplier scale;
      numerator = decimal significant;
      fractionBytes =
        if numerator == 0 then 0
        else if numerator - (numerator / (scale / common)) * (scale / common) != 0 then
          throw "${prefix}'${text}' is not a whole number of bytes"
        else numerator / (scale / common) * (multiplier / common);
      wholeValue = decimal whole;
      bytes = wholeValue * multiplier + fractionBytes;
    in
    if parts == null || !(units ? ${unit}) || number == null then bad
    # An empty whole part (".5M", "") is not a number; "0.5M" is.
    else if match "[[:space:]]*[0-9].*" text == null || stringLength fraction > 12 then bad
    else if stringLength whole > 18 || wholeValue > (maxInt - fractionBytes) / multiplier then
      throw "${prefix}'${text}' is too large"
    else if bytes == 0 then throw "${prefix}size '${text}' is zero"
    else bytes;

  /* `sizes.parse`, with messages that start with `prefix`. */
  parseAs = prefix: size:
    if isInt size then
      if size > 0 then size else throw "${prefix}size ${toString size} is not a positive whole number of bytes"
    else if builtins.isFloat size then
      throw "${prefix}size ${toString size} is not a positive whole number of bytes"
    else if isString size then parseText prefix size
    else throw "${prefix}a size must be an integer (bytes) or a string like \"512M\", not ${describe size}";

  /* A layout's size argument, checked where the layout is called. */
  checkSize = layout: name: size: builtins.seq (parseAs "layouts.${layout}: ${name}: " size) size;

  /*
    The disk's size: the caller's own attribute when given, so that the
    disk step's errors point at it.
  */
  diskSize = args: { size = "2G"; } // builtins.intersectAttrs { size = null; } args;

  optionalContents = contents: if contents == null then { } else { inherit contents; };
in
{
  /**
    A value's type in words (`"a string"`, `"a set"`), for error messages
    that say what was given.
  */
  inherit describe;

  /** Sizes in bytes, as the `disk` step reads them. */
  sizes = {
    /**
      A size in bytes: an integer is taken as is, a string is read as the
      `disk` step reads it: digits, an optional fraction, optional spaces
      and an optional unit, case-insensitive. `K`, `M`, `G`, `T` and `KiB`,
      `MiB`, `GiB`, `TiB` are powers of 1024; `KB`, `MB`, `GB`, `TB` powers
      of 1000; `B` or no unit is bytes. The result must be a positive whole
      number of bytes; anything else is an error that quotes the value.

      # Arguments
      - `size`: an integer (bytes) or a string.

      # Example
      ```nix
      sizes.parse "512M"   # 536870912
      sizes.parse "1.5G"   # 1610612736
      sizes.parse "1MB"    # 1000000
      ```
    */
    parse = parseAs "";
    /**
      Bytes in `n` KiB, MiB, GiB or TiB.

      # Arguments
      - `n`: an integer.

      # Example
      ```nix
      sizes.mib 64   # 67108864
      disk { size = sizes.gib 2 + sizes.mib 256; … }
      ```
    */
    kib = n: n * 1024;
    /** Bytes in `n` MiB (see `kib`). */
    mib = n: n * 1048576;
    /** Bytes in `n` GiB (see `kib`). */
    gib = n: n * 1073741824;
    /** Bytes in `n` TiB (see `kib`). */
    tib = n: n * 1099511627776;
  };

  /**
    Standard partition layouts. Each returns the `size`, `table` and
    `partitions` of a `disk`, so that a layout is a disk's arguments: pass
    it to `disk` as it is, or extend it with `//`.

    The root partition is labelled `root` (so `root=PARTLABEL=root`, the
    default of `kernelCommandLine`, finds it) and mounted at `/`; the disk
    step writes the root's `/etc/fstab` from the mount points.

    # Example
    ```nix
    disk (layouts.uefi { size = "4G"; contents = rootfs; espContents = esp; })
    disk (layouts.bios { contents = rootfs; } // { name = "legacy"; })
    ```
  */
  layouts = {
    /**
      A GPT disk for UEFI: an EFI system partition (vfat, label `ESP`,
      mounted at `/boot/efi`), then the root (`linux-root-x86-64`, label
      `root`, mounted at `/`) filling the rest.

      # Arguments
      - `size` (default `"2G"`): the disk's size (see `sizes.parse`).
      - `espSize` (default `"256M"`): the ESP's size.
      - `rootFs` (default `"ext4"`): the root's file system (`"ext4"` or
        `"xfs"`).
      - `contents` (default: empty): the root's tree.
      - `espContents` (default: empty): the ESP's tree.

      # Example
      ```nix
      disk (layouts.uefi { contents = rootfs; espContents = esp; })
      ```
    */
    uefi = { size ? "2G", espSize ? "256M", rootFs ? "ext4", contents ? null, espContents ? null }@args: diskSize args // {
      table = "gpt";
      partitions = [
        ({ label = "ESP"; type = "esp"; size = checkSize "uefi" "espSize" espSize; fs = "vfat"; mount = "/boot/efi"; } // optionalContents espContents)
        ({ label = "root"; type = "linux-root-x86-64"; size = "rest"; fs = rootFs; mount = "/"; } // optionalContents contents)
      ];
    };

    /**
      A GPT disk for BIOS booting with GRUB: a 1 MiB BIOS boot partition
      (type `bios-boot`, label `bios`, no file system) for GRUB's core
      image, then the root (`linux-root-x86-64`, label `root`, mounted at
      `/`) filling the rest. (`bootloader` installs UEFI loaders; GRUB for
      BIOS is installed by `grub-install` in a run step of the image's own.)

      # Arguments
      - `size` (default `"2G"`): the disk's size (see `sizes.parse`).
      - `rootFs` (default `"ext4"`): the root's file system.
      - `contents` (default: empty): the root's tree.

      # Example
      ```nix
      disk (layouts.bios { size = "1G"; contents = rootfs; })
      ```
    */
    bios = { size ? "2G", rootFs ? "ext4", contents ? null }@args: diskSize args // {
      table = "gpt";
      partitions = [
        { label = "bios"; type = "bios-boot"; size = "1M"; fs = "none"; }
        ({ label = "root"; type = "linux-root-x86-64"; size = "rest"; fs = rootFs; mount = "/"; } // optionalContents contents)
      ];
    };
  };

  /**
    An `/etc/fstab` for partitions given as a `disk` takes them (a
    layout's `partitions`): one line per partition with a `mount`, naming
    it by its GPT partition label (`PARTLABEL=…`), which is known when the
    description is written, unlike the UUIDs the disk step derives. The
    root is checked first (pass 1), the others after (pass 2), swap never.
    A partition's `options.mountOptions` becomes the line's options
    (default `defaults`). The `disk` step writes its own `/etc/fstab` (by
    UUID) when partitions have mount points; this is for images that
    start `from` a disk and for `files`.

    # Arguments
    - `partitions`: a list of partitions, each with `label`, `fs` and
      optionally `mount` and `options.mountOptions`.

    # Example
    ```nix
    fstab (layouts.uefi { }).partitions
    # "PARTLABEL=ESP /boot/efi vfat defaults 0 2\nPARTLABEL=root / ext4 defaults 0 1\n"
    files { "/etc/fstab" = fstab (layouts.uefi { }).partitions; }
    ```
  */
  fstab = partitions:
    let
      mounted = builtins.filter (p: (p.mount or null) != null) (if isList partitions then partitions
        else throw "fstab: takes a list of partitions (a layout's `partitions`), not ${describe partitions}");
      line = p:
        let
          label = p.label or (throw "fstab: a partition mounted at ${p.mount} has no label");
          fs = p.fs or (throw "fstab: the partition ${label} has no fs");
          swap = p.mount == "swap" || fs == "swap";
          options = p.options.mountOptions or (if swap then "sw" else "defaults");
          pass = if swap then "0" else if p.mount == "/" then "1" else "2";
        in
        if match "[^[:space:]]+" label == null then throw "fstab: the label '${label}' cannot be named in fstab (it has white space)"
        else "PARTLABEL=${label} ${if swap then "none" else p.mount} ${fs} ${options} 0 ${pass}\n";
    in
    concatStringsSep "" (map line mounted);

  /**
    A kernel command line: `root=…`, `rw` or `ro`, one `console=…` per
    console, then `extra`, separated by spaces.

    # Arguments
    - `root` (default `"PARTLABEL=root"`, the root of `layouts`): the root
      device: `"PARTLABEL=…"`, `"PARTUUID=…"` or `"/dev/…"`, which the
      kernel finds itself, or `"UUID=…"`, `"LABEL=…"`, which need an
      initramfs.
    - `console` (default `[ "ttyS0" ]`): consoles, such as `"tty0"` or
      `"ttyS0,115200"`; the last one is `/dev/console`. A string is one
      console.
    - `rw` (default `true`): mount the root read-write (`rw`) or read-only
      (`ro`, for an init that remounts it).
    - `extra` (default `[ ]`): more parameters, each a string.

    # Example
    ```nix
    kernelCommandLine { console = [ "tty0" "ttyS0" ]; extra = [ "quiet" ]; }
    # "root=PARTLABEL=root rw console=tty0 console=ttyS0 quiet"
    ```
  */
  kernelCommandLine = { root ? "PARTLABEL=root", console ? [ "ttyS0" ], rw ? true, extra ? [ ] }:
    let
      consoles = if isString console then [ console ] else console;
      word = what: value:
        if !isString value then throw "kernelCommandLine: ${what} must be a string, not ${describe value}"
        else if value == "" || match ".*[[:space:]].*" value != null then
          throw "kernelCommandLine: ${what} '${value}' must be one word, without spaces"
        else value;
      list = what: value:
        if isList value then value else throw "kernelCommandLine: ${what} must be a list of strings, not ${describe value}";
    in
    concatStringsSep " " (
      [ "root=${word "root" root}" (if rw then "rw" else "ro") ]
      ++ map (c: "console=${word "a console" c}") (list "console" consoles)
      ++ map (word "an extra parameter") (list "extra" extra)
    );
}
