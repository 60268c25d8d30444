# What it shows: a disk image made from nothing, with the steps that need
# no VM and no root. A 1 GiB GPT disk with an EFI system partition (vfat,
# holding a systemd-boot loader configuration) and an ext4 root filled from
# a `directory` tree; both have mount points, so the root gets a generated
# /etc/fstab that names them by UUID. The same disk is then converted to
# qcow2, vmdk (streamOptimized), vhd (fixed, as Azure takes it) and vhdx in
# the same build. Every output is the same bytes on every build, in any
# store, whatever the clock, umask or user (tests/examples.rs checks that).
#
# Build it with `imgx build examples/scratch.nix`: it links result,
# result-2 … result-5 to the outputs in the order of the attribute names
# (qcow2, raw, vhd, vhdx, vmdk). The first build takes about 1.5 s on two
# shared cores; a second one does nothing.
let
  imgx = import <imgx>;

  text = name: text: imgx.file { inherit name text; };

  esp = imgx.directory {
    name = "esp";
    entries = {
      "loader/loader.conf" = text "loader.conf" "default scratch.conf\ntimeout 3\n";
      "loader/entries/scratch.conf" = text "scratch.conf" ''
        title   Scratch
        linux   /vmlinuz
        options root=PARTLABEL=root console=ttyS0
      '';
    };
  };

  rootfs = imgx.directory {
    name = "rootfs";
    entries = {
      "etc/hostname" = text "hostname" "scratch\n";
      "etc/motd" = text "motd" "Built by imgx from scratch.\n";
      "usr/local/bin/hello" = imgx.file {
        name = "hello";
        text = "#!/bin/sh\necho \"hello from $(cat /etc/hostname)\"\n";
        executable = true;
      };
      # The ESP's mount point: an empty directory.
      "boot/efi" = imgx.directory { name = "mount-point"; entries = { }; };
    };
  };

  disk = imgx.disk {
    name = "scratch";
    size = "1G";
    table = "gpt";
    partitions = [
      { label = "ESP"; type = "esp"; size = "100M"; fs = "vfat"; contents = esp; mount = "/boot/efi";
        options.mountOptions = "umask=0077"; }
      { label = "root"; type = "linux-root-x86-64"; size = "rest"; fs = "ext4"; contents = rootfs; mount = "/"; }
    ];
  };
in
{
  raw = disk;
  qcow2 = imgx.convert { inherit disk; format = "qcow2"; };
  vmdk = imgx.convert { inherit disk; format = "vmdk"; options.subformat = "streamOptimized"; };
  vhd = imgx.convert { inherit disk; format = "vhd"; options.subformat = "fixed"; };
  vhdx = imgx.convert { inherit disk; format = "vhdx"; };
}
