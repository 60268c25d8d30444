/**
  The Debian packages the library builds from: the kernel and busybox of
  the build VM and of images' initramfs, systemd-boot and GRUB for
  `bootloader`. They are read from one folder, `$IMGX_VM_PACKAGES`, else
  `$XDG_CACHE_HOME/imgx/vm`, else `~/.cache/imgx/vm`, which
  `imgx vm fetch` fills; of several versions of a package the newest is
  taken. Each attribute is a path to a `.deb`; asking for one that is not
  there is an error that says how to get it.
*/
let
  env = builtins.getEnv;
  orElse = value: fallback: if value != "" then value else fallback;

  dir = orElse (env "IMGX_VM_PACKAGES")
    "${orElse (env "XDG_CACHE_HOME") "${env "HOME"}/.cache"}/imgx/vm";

  names = if builtins.pathExists dir then builtins.attrNames (builtins.readDir dir) else [ ];

  /* The newest package whose file name matches `pattern`, as a path. */
  newest = what: pattern:
    let
      found = builtins.filter (name: builtins.match pattern name != null) names;
      sorted = builtins.sort (a: b: builtins.compareVersions a b > 0) found;
    in
    if sorted == [ ] then
      throw "imgx needs ${what}, and there is none in ${dir}: run `imgx vm fetch` to download Debian's"
    else /. + "${dir}/${builtins.head sorted}";

  /* A path given in an environment variable, else the newest package. */
  chosen = variable: what: pattern:
    if env variable != "" then /. + env variable else newest what pattern;
in
{
  /** The folder the packages are read from. */
  inherit dir;

  /**
    A Debian cloud kernel package (`linux-image-<version>-cloud-amd64`),
    or `$IMGX_VM_KERNEL` (a package or an unpacked one) when set.
  */
  kernel = chosen "IMGX_VM_KERNEL" "a kernel package (linux-image-…-cloud-amd64)" "linux-image-[0-9].*\\.deb";

  /**
    Debian's statically linked busybox (`busybox-static`), or
    `$IMGX_VM_BUSYBOX` (a package, an unpacked one or the binary) when set.
  */
  busybox = chosen "IMGX_VM_BUSYBOX" "busybox (busybox-static)" "busybox-static_.*\\.deb";

  /** systemd-boot's UEFI loader (`systemd-boot-efi`). */
  systemdBoot = newest "systemd-boot (systemd-boot-efi)" "systemd-boot-efi_.*\\.deb";

  /** GRUB for UEFI (`grub-efi-amd64-bin`), with its monolithic loader. */
  grubEfi = newest "GRUB for UEFI (grub-efi-amd64-bin)" "grub-efi-amd64-bin_.*\\.deb";
}
