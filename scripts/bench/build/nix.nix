# The Nix side of the no-op build benchmark (scripts/bench/build.sh): the
# graph of imgx.nix made of plain derivations (no nixpkgs). 900 leaves that
# write distinct text to $out, 100 aggregators that copy 9 leaves each into
# a directory, and a top derivation that copies the 100 aggregators:
# 1,001 derivations, depth 3. `salt` as in imgx.nix.
{ salt ? "" }:
let
  inherit (builtins) genList toString concatStringsSep;
  leaves = 900;
  perAggregator = 9;
  # No sandbox and no PATH: the builder is /bin/sh, other tools by full path.
  mk = name: script: derivation {
    inherit name;
    system = builtins.currentSystem;
    builder = "/bin/sh";
    args = [ "-c" script ];
  };
  leaf = i: mk "leaf-${toString i}" "echo 'leaf ${toString i} ${salt}' > $out";
  # entries: list of { name; value = derivation; }, copied into $out/NAME.
  tree = name: entries: mk name (concatStringsSep "\n" (
    [ "set -e" "/bin/mkdir $out" ]
    ++ map (e: "/bin/cp -R ${e.value} $out/${e.name}") entries));
  aggregator = a: tree "agg-${toString a}" (genList (j:
    let i = a * perAggregator + j; in { name = "leaf-${toString i}"; value = leaf i; }
  ) perAggregator);
in
tree "top" (genList (a: { name = "agg-${toString a}"; value = aggregator a; })
  (leaves / perAggregator))
