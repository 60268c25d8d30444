# What it shows: building on top of an existing image, as jetpack does. The
# base is hello.nix's disk, brought in as a fetched file pinned by its hash
# (as a team would take a golden image from a file share); a build
# directory is copied in, a build command runs inside the image, a
# configuration file is added with its own mode, and the result is
# converted to VMDK and VHD in the same build. Each step is its own cached
# step: editing build.sh rebuilds the build step and what follows, never
# the base.
#
# Build hello's disk, then this, passing the disk and its BLAKE3 hash:
#   imgx build examples/hello.nix -A image.raw -o hello.raw
#   imgx build examples/derivative.nix --arg base ./hello.raw \
#     --argstr hash "blake3:$(b3sum --no-names hello.raw)"
# It links result (derivative.vhd) and result-2 (derivative.vmdk). The
# first build takes about half a minute here (two cores, QEMU without
# KVM): three short boots of the build VM and two conversions.
{ base, hash }:
let
  imgx = import <imgx>;

  system = imgx.image {
    name = "derivative";
    from = imgx.fetch { path = base; inherit hash; name = "hello.raw"; };
    steps = [
      (imgx.copy ./derivative "/usr/src/greeter")
      (imgx.run {
        name = "build";
        script = ''
          cd /usr/src/greeter
          sh build.sh /usr/local
          /usr/local/bin/greeter
        '';
      })
      (imgx.files {
        "/etc/greeter.conf" = { text = "greeting = hello\n"; mode = "0600"; };
      })
    ];
  };
in
{
  vmdk = imgx.convert { name = "derivative.vmdk"; disk = system.raw; format = "vmdk"; options.subformat = "streamOptimized"; };
  vhd = imgx.convert { name = "derivative.vhd"; disk = system.raw; format = "vhd"; };
}
