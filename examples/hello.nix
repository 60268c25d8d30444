# What it shows: a bootable system from nothing, the way `image` reads: a
# GPT disk with an EFI system partition and an ext4 root (layouts.uefi), a
# busybox userland, systemd-boot with Debian's cloud kernel and an
# initramfs, a host name, and a run step that writes /etc/motd; then
# converted to qcow2 and booted under OVMF (UEFI) by `testBoot`, which
# passes when the system's init prints the motd on the serial console.
#
# Build it with `imgx build examples/hello.nix` (scripts/setup does): it
# links result (the console line the boot test waited for; `imgx log` on
# the test-boot step shows the whole console) and result-2 (hello.qcow2). Boot
# it yourself with
#   qemu-system-x86_64 -m 512 -nographic -bios /usr/share/ovmf/OVMF.fd \
#     -drive file=result-2,if=virtio,snapshot=on
# The first build takes about 50 s here (two cores, QEMU without KVM),
# most of it five boots; a second one does nothing.
let
  imgx = import <imgx>;

  system = imgx.image {
    name = "hello";
    disk = imgx.layouts.uefi { size = "1G"; espSize = "64M"; };
    steps = [
      (imgx.busybox { })
      (imgx.bootloader { title = "Hello"; })
      (imgx.hostname "hello")
      (imgx.run "echo 'Hello from imgx!' > /etc/motd")
    ];
    format = "qcow2";
  };
in
{
  image = system;

  boot = imgx.testBoot {
    disk = system;
    firmware = "uefi";
    expect = "Hello from imgx!";
    timeout = 300;
  };
}
