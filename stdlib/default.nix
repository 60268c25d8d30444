/**
  imgx's standard library: `import <imgx>`.

  Each step kind is a function of the same name that takes the step's
  parameters as a set and returns a step. Steps are values: put them in
  sets and lists, pass them to functions, use them in strings (which makes
  them inputs of the step that uses the string).
*/
let
  step = kind: args: builtins.step (args // { inherit kind; });
in
{
  /**
    One file in the store.

    # Arguments
    - `name`: the file's name (shown in logs; part of the step's key).
    - `text`: the file's contents; or
    - `source`: a path or a step whose output is a file, copied as is.
    - `executable` (default `false`): whether the file gets mode 0555.

    # Example
    ```nix
    file { name = "motd"; text = "hello\n"; }
    ```
  */
  file = { name, text ? null, source ? null, executable ? false }@args: step "file" args;

  /**
    A directory tree assembled from files and other trees.

    # Arguments
    - `name`: the tree's name.
    - `entries`: a set from relative paths (`"etc/motd"`) to paths or steps.

    # Example
    ```nix
    directory { name = "rootfs"; entries = { "etc/motd" = motd; "opt/app" = ./app; }; }
    ```
  */
  directory = { name, entries }: step "directory" { inherit name entries; };

  /** The version of the library. */
  version = "0.1.0";
}
