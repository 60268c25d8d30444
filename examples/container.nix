# What it shows: a container image turned into a bootable disk, as
# bootc-image-builder does. The OCI archive's layers (a busybox userland,
# then its configuration) are applied into a tree with their owners and
# modes kept as data, the tree becomes the ext4 root of a UEFI disk, and
# systemd-boot with Debian's cloud kernel is installed next to it; the
# container never had a kernel or a boot loader. testBoot boots it under
# OVMF and waits for the container's own motd.
#
# Make an archive (any OCI image archive of a busybox- or Debian-based
# system works), then build with it and its hash:
#   examples/container/make-archive ~/.cache/imgx/vm/busybox-static_*.deb oci.tar
#   imgx build examples/container.nix --arg archive ./oci.tar \
#     --argstr hash "sha256-$(openssl dgst -sha256 -binary oci.tar | base64)"
# It links result (the console line the boot test waited for) and result-2
# (container.qcow2); `imgx log` on the boot test shows the whole console.
# The first build takes about a minute here (two cores, QEMU without KVM).
{ archive, hash }:
let
  imgx = import <imgx>;

  rootfs = imgx.fetch { path = archive; inherit hash; unpack = "oci"; name = "container-rootfs"; };

  system = imgx.image {
    name = "container";
    disk = imgx.layouts.uefi { size = "512M"; espSize = "64M"; contents = rootfs; };
    steps = [ (imgx.bootloader { title = "Container"; }) ];
    format = "qcow2";
  };
in
{
  image = system;

  boot = imgx.testBoot {
    disk = system;
    firmware = "uefi";
    expect = "Hello from a container image!";
    timeout = 300;
  };
}
