# What it shows: one system, every cloud's format, in one build. hello.nix's
# disk is converted to a fixed VHD (sized to a whole MiB, as Azure
# requires), a streamOptimized VMDK (vSphere, OVA) and a compressed qcow2
# (OpenStack, GCP's import); the three conversions share every step before
# them, so each format costs one conversion and nothing else. Every file is
# the same bytes on every build: the formats' UUIDs and timestamps derive
# from the step, not the clock.
#
# Build it with `imgx build examples/cloud.nix`: it links result
# (hello.qcow2, compressed), result-2 (hello.vhd) and result-3
# (hello.vmdk). After hello.nix has been built the first build takes a few
# seconds here; from nothing, about a minute (two cores, QEMU without KVM).
let
  imgx = import <imgx>;
  hello = import ./hello.nix;
  disk = hello.image.raw;
in
{
  azure = imgx.convert { name = "hello.vhd"; inherit disk; format = "vhd"; options.subformat = "fixed"; };
  vsphere = imgx.convert { name = "hello.vmdk"; inherit disk; format = "vmdk"; options.subformat = "streamOptimized"; };
  openstack = imgx.convert { name = "hello-compressed.qcow2"; inherit disk; format = "qcow2"; options.compress = true; };
}
