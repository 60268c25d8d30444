# The imgx side of the no-op build benchmark (scripts/bench/build.sh).
# 900 `file` leaves with distinct text, 100 `directory` aggregators of 9
# leaves each, and a top `directory` of the 100 aggregators: 1,001 steps,
# depth 3, every step reachable from the top. nix.nix is the same graph
# made of derivations.
#
# `salt` goes into every leaf's text: build.sh passes a fresh one per run, so
# the first build of a run is cold in both stores.
{ salt ? "" }:
let
  imgx = import <imgx>;
  inherit (builtins) genList listToAttrs toString;
  leaves = 900;
  perAggregator = 9;
  leaf = i: imgx.file {
    name = "leaf-${toString i}";
    text = "leaf ${toString i} ${salt}\n";
  };
  aggregator = a: imgx.directory {
    name = "agg-${toString a}";
    entries = listToAttrs (genList (j:
      let i = a * perAggregator + j; in { name = "leaf-${toString i}"; value = leaf i; }
    ) perAggregator);
  };
in
imgx.directory {
  name = "top";
  entries = listToAttrs (genList (a: { name = "agg-${toString a}"; value = aggregator a; })
    (leaves / perAggregator));
}
