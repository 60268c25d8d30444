# What it shows: the shape of an imgx description, written in the Nix
# language: functions, attribute sets, string interpolation and laziness.
# Evaluate it with `imgx eval --strict examples/hello.nix` (about 10 ms).
let
  sizes = { M = 1024 * 1024; G = 1024 * 1024 * 1024; };

  # Parses "512M" or "2G" into bytes.
  parseSize = text:
    let
      unit = builtins.substring (builtins.stringLength text - 1) 1 text;
      number = builtins.fromJSON (builtins.substring 0 (builtins.stringLength text - 1) text);
    in number * sizes.${unit};

  partition = { label, size, fs, mount ? null }: { inherit label fs mount; bytes = parseSize size; };

  layout = [
    (partition { label = "esp"; size = "100M"; fs = "vfat"; mount = "/boot"; })
    (partition { label = "root"; size = "1G"; fs = "ext4"; mount = "/"; })
  ];
in
{
  name = "hello";
  partitions = layout;
  totalBytes = builtins.foldl' (sum: p: sum + p.bytes) 0 layout;
  fstab = builtins.concatStringsSep "\n"
    (map (p: "LABEL=${p.label} ${p.mount} ${p.fs} defaults 0 1") layout);
}
