/**
  Booting what `image` builds: `initramfs` (a kernel and an initramfs
  that finds the root and starts the image's init) and `bootloader` (an
  image step that installs systemd-boot or GRUB into the EFI system
  partition, with a boot entry for that kernel).

  Imported by `default.nix`, which passes the whole library.
*/
imgx:
let
  inherit (builtins) concatStringsSep hasContext isAttrs isInt isPath isString match replaceStrings;
  inherit (imgx) describe;

  quote = text: "'" + replaceStrings [ "'" ] [ "'\\''" ] text + "'";

  isHostFile = value: isPath value || (isAttrs value && value ? outPath) || (isString value && hasContext value);

  /* Made once, however many bootloaders use it. */
  defaultInitramfs = lib.initramfs { };

  lib = rec {
    /**
      A kernel and an initramfs for booting an image: the kernel package's
      kernel, and an initramfs with busybox, the modules listed (with what
      they depend on) and imgx's init, which loads them, waits for the
      device that the kernel command line's `root=` names (`/dev/…`,
      `PARTLABEL=…`, `LABEL=…`, `UUID=…`), mounts it (`ro` or `rw`,
      `rootfstype=`, `rootflags=`) and starts its `/sbin/init` (or
      `init=`). If the root cannot be mounted it says why and starts a
      shell on the console.

      The output is a folder: `kernel` and `initrd`.

      # Arguments
      - `kernel` (default: `packages.kernel`, Debian's cloud kernel).
      - `busybox` (default: `packages.busybox`).
      - `modules` (default `initramfsModules`: virtio disks and
        network, SCSI disks, vfat with its code pages).
      - `init` (default: imgx's, `stdlib/boot/init`).
      - `name` (default `"initramfs"`).

      # Example
      ```nix
      initramfs { modules = initramfsModules ++ [ "xfs" ]; }
      ```
    */
    initramfs = { kernel ? imgx.packages.kernel, busybox ? imgx.packages.busybox, modules ? initramfsModules, init ? ./boot/init, name ? "initramfs" }:
      imgx.mkVm { inherit kernel busybox modules init name; };

    /** The modules `initramfs` loads unless told otherwise. */
    initramfsModules = [
      "virtio_pci" "virtio_blk" "virtio_scsi" "sd_mod" "virtio_net"
      "vfat" "nls_cp437" "nls_ascii" "nls_iso8859_1"
    ];

    /**
      An image step that installs a UEFI boot loader into the image's EFI
      system partition, as the removable-media loader
      (`EFI/BOOT/BOOTX64.EFI`, which firmware boots without any NVRAM
      entry), with one boot entry: the kernel, the initrd and the command
      line given, copied into `imgx/` on the ESP.

      # Arguments
      - `loader` (default `"systemd-boot"`): `"systemd-boot"` (Debian's
        `systemd-boot-efi`, with a `loader/entries/imgx.conf` entry) or
        `"grub"` (Debian's monolithic GRUB from `grub-efi-amd64-bin`, with
        `EFI/BOOT/grub.cfg` beside it).
      - `kernel`, `initrd` (default: those of `initramfs { }`): a path or
        a step for a file on the building machine, or a string with an
        absolute path in the image (`"/boot/vmlinuz"`). `initrd = null`
        boots without one.
      - `cmdline` (default `kernelCommandLine { }`: the root partition
        labelled `root`, read-write, console on ttyS0).
      - `esp` (default `"/boot/efi"`): where the ESP is mounted, as the
        image's `/etc/fstab` says.
      - `timeout` (default `0`: boot at once): seconds the menu waits.
      - `title` (default `"Linux"`): the entry's title.
      - `package` (default: `packages.systemdBoot` or `packages.grubEfi`):
        the Debian package the loader comes from.

      # Example
      ```nix
      image { disk = layouts.uefi { }; steps = [ (busybox { }) (bootloader { }) ]; }
      bootloader { loader = "grub"; cmdline = kernelCommandLine { extra = [ "quiet" ]; }; }
      ```
    */
    bootloader =
      { loader ? "systemd-boot"
      , kernel ? "${defaultInitramfs}/kernel"
      , initrd ? "${defaultInitramfs}/initrd"
      , cmdline ? imgx.kernelCommandLine { }
      , esp ? "/boot/efi"
      , timeout ? 0
      , title ? "Linux"
      , package ? null
      }:
      let
        what = "bootloader";
        line = name: value:
          if !isString value || match ".*[\n].*" value != null
          then throw "${what}: ${name} must be a string on one line, not ${describe value}"
          else value;
        espPath = if isString esp && match "/.*" esp != null then esp else throw "${what}: esp must be an absolute path in the image, such as \"/boot/efi\"";
        seconds = if isInt timeout && timeout >= 0 then toString timeout else throw "${what}: timeout must be a whole number of seconds, not ${describe timeout}";
        /* Where a kernel or initrd comes from: the host (a file to copy
           in) or the image (a path to copy from). */
        source = name: value:
          if isHostFile value then { host = value; }
          else if isString value && match "/.*" value != null then { image = value; }
          else throw "${what}: ${name} must be a path, a step or an absolute path in the image, not ${describe value}";
        bootFiles = { vmlinuz = source "kernel" kernel; } // (if initrd == null then { } else { initrd = source "initrd" initrd; });
        hostFiles = builtins.listToAttrs (builtins.concatMap (name:
          let from = bootFiles.${name}; in
          if from ? host then [ { name = "${espPath}/imgx/${name}"; value = from.host; } ] else [ ]) (builtins.attrNames bootFiles));
        imageCopies = concatStringsSep "\n" (builtins.concatMap (name:
          let from = bootFiles.${name}; in
          if from ? image then [ "mkdir -p ${quote "${espPath}/imgx"}" "cp ${quote from.image} ${quote "${espPath}/imgx/${name}"}" ] else [ ]) (builtins.attrNames bootFiles));
        text = name: content: imgx.file { inherit name; text = content; };
        options = line "cmdline" cmdline;
        entryTitle = line "title" title;
        unpacked = pkg: imgx.unpack { source = pkg; format = "deb"; name = "${loader}-package"; };
        loaders = {
          "systemd-boot" =
            let efi = "${unpacked (if package == null then imgx.packages.systemdBoot else package)}/usr/lib/systemd/boot/efi/systemd-bootx64.efi"; in
            {
              "${espPath}/EFI/BOOT/BOOTX64.EFI" = efi;
              "${espPath}/EFI/systemd/systemd-bootx64.efi" = efi;
              "${espPath}/loader/loader.conf" = text "loader.conf" "default imgx.conf\ntimeout ${seconds}\neditor no\n";
              "${espPath}/loader/entries/imgx.conf" = text "imgx.conf" (''
                title   ${entryTitle}
                linux   /imgx/vmlinuz
              '' + (if bootFiles ? initrd then "initrd  /imgx/initrd\n" else "") + ''
                options ${options}
              '');
            };
          grub = {
            "${espPath}/EFI/BOOT/BOOTX64.EFI" =
              "${unpacked (if package == null then imgx.packages.grubEfi else package)}/usr/lib/grub/x86_64-efi/monolithic/grubx64.efi";
            "${espPath}/EFI/BOOT/grub.cfg" = text "grub.cfg" (''
              set timeout=${seconds}
              search --no-floppy --file --set=root /imgx/vmlinuz
              menuentry ${quote entryTitle} {
                linux /imgx/vmlinuz ${options}
            '' + (if bootFiles ? initrd then "  initrd /imgx/initrd\n" else "") + ''
              }
            '');
          };
        };
        loaderFiles = loaders.${loader} or (throw "${what}: loader '${toString loader}' is not one of \"systemd-boot\", \"grub\"");
      in
      builtins.deepSeq [ (builtins.attrNames loaderFiles) options entryTitle seconds imageCopies ] {
        _type = "imgx-image-step";
        name = "bootloader";
        apply = disk: name: imgx.runStep {
          inherit disk name;
          files = loaderFiles // hostFiles;
          script = ''
            awk -v point=${quote espPath} '$2 == point { found = 1 } END { exit !found }' /proc/mounts || {
            	echo "bootloader: nothing is mounted at ${espPath}: the image's /etc/fstab must mount its EFI system partition there (or pass esp = \"…\")" >&2
            	exit 1
            }
            ${imageCopies}
          '';
        };
      };
  };
in
lib
