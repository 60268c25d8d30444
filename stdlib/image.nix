/**
  Images described top to bottom: `image` and the steps it takes (`run`,
  `copy`, `files`, `hostname`, `users`, `groups`, `units`, `busybox`;
  `bootloader` is in boot.nix).

  An image step is a value `{ _type = "imgx-image-step"; name; apply; }`
  whose `apply` turns a disk into a new disk: `image` folds its steps over
  the base disk, so each step is its own cached step in the graph, and
  editing the last one rebuilds only the last one and what follows it.

  Imported by `default.nix`, which passes the whole library.
*/
imgx:
let
  inherit (builtins) attrNames concatStringsSep concatMap filter foldl' genList hasContext isAttrs isFunction isList
    isPath isString length match mapAttrs replaceStrings stringLength substring;
  inherit (imgx) describe;

  /* A word quoted for the shell. */
  quote = text: "'" + replaceStrings [ "'" ] [ "'\\''" ] text + "'";

  /* Fails with `message` unless `ok`, else gives `value`. */
  check = ok: message: value: if ok then value else throw message;

  /* An absolute path inside the image. */
  imagePath = what: path:
    check (isString path && match "/.*" path != null && match ".*[\n].*" path == null)
      "${what}: '${toString path}' must be an absolute path in the image, such as \"/opt/app\""
      path;

  /* Whether a value names a file on the building machine (a path or a
     step's output) rather than a path inside the image. */
  isHostFile = value: isPath value || (isAttrs value && value ? outPath) || (isString value && hasContext value);

  /* A file step holding `text`, named after the path it goes to. */
  textFile = path: text: imgx.file { name = baseNameOf path; inherit text; };

  /* Modes are strings of octal digits: Nix has no octal numbers. */
  checkMode = what: mode:
    check (isString mode && match "[0-7]{3,4}" mode != null)
      "${what}: mode ${if isString mode then "'${mode}'" else describe mode} must be a string of three or four octal digits, such as \"0644\""
      mode;

  /* User and group names as useradd accepts them. */
  checkName = what: name:
    check (isString name && match "[a-z_][a-z0-9_-]*[$]?" name != null && stringLength name <= 32)
      "${what}: '${toString name}' is not a user or group name (lower-case letters, digits, _ and -, starting with a letter or _)"
      name;

  optionalId = what: id:
    check (id == null || (builtins.isInt id && id >= 0 && id < 4294967295))
      "${what} must be an integer from 0 to 4294967294, not ${describe id}"
      (if id == null then "" else toString id);

  /* An image step; `make disk name` makes its step. `checked` is forced
     deeply first (a script, a list of names), so that wrong arguments are
     reported as soon as the step is used, before any input is imported. */
  imageStep = name: checked: make: builtins.deepSeq checked { _type = "imgx-image-step"; inherit name; apply = make; };

  isImageStep = value: isAttrs value && (value._type or null) == "imgx-image-step";

  /* A run step made by an image step: the script, files and options. */
  runIn = disk: name: args: imgx.runStep ({ inherit disk name; } // args);

  /* Shell functions the account steps share: the next free id at or above
     1000 in a database, and the id of a named group. */
  accountFunctions = ''
    next_id() {
    	awk -F: 'BEGIN { n = 1000 } $3 >= n && $3 < 60000 { n = $3 + 1 } END { print n }' "$@"
    }
    group_id() {
    	awk -F: -v name="$1" '$1 == name { print $3 }' /etc/group
    }
    replace_line() { # FILE NAME LINE: the line for NAME in FILE, added or replaced, keeping FILE's mode
    	{ grep -v "^$2:" "$1" || true; printf '%s\n' "$3"; } >"$1.imgx-new"
    	cat "$1.imgx-new" >"$1"
    	rm -f "$1.imgx-new"
    }
    touch /etc/passwd /etc/group
  '';

  /* The script that adds (or completes) one group. */
  groupScript = name: spec:
    let
      group = checkName "groups" name;
      gid = optionalId "groups.${name}.gid" (spec.gid or null);
      members = spec.members or [ ];
    in
    check (isAttrs spec) "groups.${name}: a group is a set such as { gid = 100; members = [ \"alice\" ]; }, not ${describe spec}" ''
      if ! grep -q ${quote "^${group}:"} /etc/group; then
      	gid=${quote gid}
      	[ -n "$gid" ] || gid=$(next_id /etc/group)
      	printf '%s:x:%s:\n' ${quote group} "$gid" >>/etc/group
      fi
      ${concatStringsSep "\n" (map (member: "add_member ${quote group} ${quote (checkName "groups.${name}.members" member)}") members)}
    '';

  memberFunction = ''
    add_member() { # GROUP USER
    	grep -q "^$1:" /etc/group || { echo "the group $1 does not exist" >&2; exit 1; }
    	awk -F: -v OFS=: -v group="$1" -v user="$2" '
    		$1 == group {
    			n = split($4, members, ",")
    			for (i = 1; i <= n; i++) if (members[i] == user) { print; next }
    			$4 = ($4 == "" ? user : $4 "," user)
    		}
    		{ print }' /etc/group >/etc/group.imgx-new
    	cat /etc/group.imgx-new >/etc/group
    	rm -f /etc/group.imgx-new
    }
  '';

  /* The script that adds (or updates) one user. */
  userScript = name: spec:
    let
      user = checkName "users" name;
      at = "users.${name}";
      uid = optionalId "${at}.uid" (spec.uid or null);
      group = checkName "${at}.group" (spec.group or name);
      home = imagePath "${at}.home" (spec.home or (if name == "root" then "/root" else "/home/${name}"));
      shell = imagePath "${at}.shell" (spec.shell or "/bin/sh");
      description = spec.description or "";
      passwordHash = spec.passwordHash or null;
      sshKeys = spec.sshKeys or [ ];
      extraGroups = spec.extraGroups or [ ];
      known = [ "uid" "group" "home" "shell" "description" "passwordHash" "sshKeys" "extraGroups" ];
      unknown = filter (key: !builtins.elem key known) (attrNames spec);
    in
    if !isAttrs spec then throw "${at}: a user is a set such as { uid = 1000; sshKeys = [ \"ssh-ed25519 …\" ]; }, not ${describe spec}"
    else if unknown != [ ] then throw "${at}: unknown attribute '${builtins.head unknown}' (a user takes ${concatStringsSep ", " known})"
    else if match "[^:\n]*" description == null then throw "${at}.description may not contain ':' or a line break"
    else if passwordHash != null && (!isString passwordHash || match "[^:\n]*" passwordHash == null) then
      throw "${at}.passwordHash must be a crypt(3) hash such as \"$y$j9T$…\" (from `mkpasswd`), without ':'"
    else if !isList sshKeys then throw "${at}.sshKeys must be a list of public keys, not ${describe sshKeys}"
    else ''
      if grep -q ${quote "^${user}:"} /etc/passwd; then
      	uid=$(awk -F: -v name=${quote user} '$1 == name { print $3 }' /etc/passwd)
      	gid=$(awk -F: -v name=${quote user} '$1 == name { print $4 }' /etc/passwd)
      else
      	uid=${quote uid}
      	[ -n "$uid" ] || uid=$(next_id /etc/passwd)
      	if ! grep -q ${quote "^${group}:"} /etc/group; then
      		gid=$uid
      		awk -F: -v id="$gid" '$3 == id { found = 1 } END { exit !found }' /etc/group && gid=$(next_id /etc/group)
      		printf '%s:x:%s:\n' ${quote group} "$gid" >>/etc/group
      	fi
      	gid=$(group_id ${quote group})
      	printf '%s:x:%s:%s:%s:%s:%s\n' ${quote user} "$uid" "$gid" ${quote description} ${quote home} ${quote shell} >>/etc/passwd
      fi
      [ -e /etc/shadow ] || { touch /etc/shadow && chmod 0640 /etc/shadow; }
      ${if passwordHash != null then ''
        replace_line /etc/shadow ${quote user} ${quote "${user}:${passwordHash}"}":$((SOURCE_DATE_EPOCH / 86400)):0:99999:7:::"
      '' else ''
        grep -q ${quote "^${user}:"} /etc/shadow || printf '%s:!:%s:0:99999:7:::\n' ${quote user} "$((SOURCE_DATE_EPOCH / 86400))" >>/etc/shadow
      ''}
      if [ ! -d ${quote home} ]; then
      	mkdir -p ${quote home}
      	chown "$uid:$gid" ${quote home}
      	chmod 0700 ${quote home}
      fi
      ${if sshKeys == [ ] then "" else ''
        mkdir -p ${quote "${home}/.ssh"}
        printf '%s\n' ${concatStringsSep " " (map quote sshKeys)} >${quote "${home}/.ssh/authorized_keys"}
        chmod 0700 ${quote "${home}/.ssh"}
        chmod 0600 ${quote "${home}/.ssh/authorized_keys"}
        chown -R "$uid:$gid" ${quote "${home}/.ssh"}
      ''}
      ${concatStringsSep "\n" (map (g: "add_member ${quote (checkName "${at}.extraGroups" g)} ${quote user}") extraGroups)}
    '';

  /* The image step of `users` or `groups`: one script for every entry of
     `specs` (a set from names, `shape` says to what). */
  accountStep = what: shape: scriptOf: specs:
    let
      script = check (isAttrs specs) "${what}: takes a set from ${shape}, not ${describe specs}"
        (concatStringsSep "\n" ([ accountFunctions memberFunction ] ++ map (name: scriptOf name specs.${name}) (attrNames specs)));
    in
    imageStep what script (disk: name: runIn disk name { inherit script; });

  /* What `files` takes for one path: the file step or host file, and the
     mode, owner and group to set. */
  fileEntry = path: entry:
    let at = "files.\"${path}\""; in
    if isString entry && !hasContext entry then { source = textFile path entry; }
    else if isHostFile entry then { source = entry; }
    else if isAttrs entry then
      let
        unknown = filter (key: !builtins.elem key [ "text" "source" "mode" "owner" "group" ]) (attrNames entry);
        source =
          if entry ? text && entry ? source then throw "${at}: give either text or source, not both"
          else if entry ? text then textFile path entry.text
          else if entry ? source then entry.source
          else throw "${at}: a file needs text or source";
      in
      if unknown != [ ] then throw "${at}: unknown attribute '${builtins.head unknown}' (a file takes text or source, mode, owner and group)"
      else {
        inherit source;
        mode = if entry ? mode then checkMode at entry.mode else null;
        owner = entry.owner or null;
        group = entry.group or null;
      }
    else throw "${at}: a file is a string (its text), a path, a step or a set { text | source; mode; owner; group; }, not ${describe entry}";

  /* The commands that give a copied file its mode and owner. */
  fileFixup = path: entry:
    let
      target = quote path;
      owner = if entry.owner or null == null then "" else toString entry.owner;
      group = if entry.group or null == null then "" else toString entry.group;
      ownership = if group == "" then owner else "${owner}:${group}";
    in
    concatStringsSep "\n" (
      (if entry.mode or null != null then [ "chmod ${entry.mode} ${target}" ] else [ ])
      ++ (if ownership != "" then [ "chown ${quote ownership} ${target}" ] else [ ])
    );

  /* The [Install] section's links of a unit, made as `systemctl enable`
     makes them, for images where systemctl cannot run. */
  enableFunction = ''
    enable_unit() { # UNIT
    	unit=$1 path=""
    	for dir in /etc/systemd/system /usr/local/lib/systemd/system /usr/lib/systemd/system /lib/systemd/system; do
    		if [ -f "$dir/$unit" ]; then path=$dir/$unit; break; fi
    	done
    	[ -n "$path" ] || { echo "units: no unit file $unit in /etc/systemd/system or /usr/lib/systemd/system" >&2; exit 1; }
    	linked=""
    	for kind in WantedBy:wants RequiredBy:requires UpheldBy:upholds; do
    		key=''${kind%%:*} suffix=''${kind#*:}
    		for target in $(sed -n "s/^[[:space:]]*$key[[:space:]]*=//p" "$path"); do
    			mkdir -p "/etc/systemd/system/$target.$suffix"
    			ln -sfn "$path" "/etc/systemd/system/$target.$suffix/$unit"
    			linked=yes
    		done
    	done
    	for alias in $(sed -n 's/^[[:space:]]*Alias[[:space:]]*=//p' "$path"); do
    		ln -sfn "$path" "/etc/systemd/system/$alias"
    		linked=yes
    	done
    	[ -n "$linked" ] || { echo "units: $unit has no WantedBy=, RequiredBy= or Alias= in its [Install] section; there is nothing to enable" >&2; exit 1; }
    }
  '';

  /* The files of a busybox userland: what busybox's init runs. */
  inittab = ''
    # busybox init: mount and name the system, then a shell on the console.
    ::sysinit:/etc/init.d/rcS
    ::askfirst:-/bin/sh
    ::ctrlaltdel:/sbin/reboot
    ::shutdown:/bin/umount -a -r
  '';

  rcS = ''
    #!/bin/sh
    # Mounts what the kernel provides and what /etc/fstab lists, names the
    # host, runs /etc/rc.local, and shows /etc/motd on the console.
    mount -t proc proc /proc
    mount -t sysfs sysfs /sys
    mkdir -p /dev/pts /dev/shm
    mount -t devpts devpts /dev/pts
    mount -t tmpfs -o mode=0755 tmpfs /run
    mount -o remount,rw /
    mount -a
    [ -f /etc/hostname ] && hostname -F /etc/hostname
    [ -x /etc/rc.local ] && /etc/rc.local
    [ -f /etc/motd ] && cat /etc/motd
  '';

  lib = {
    /**
      A disk image described top to bottom: a base disk (`from`, or one
      made from `disk`), then `steps` applied in order, each its own cached
      step, then a conversion to `format`.

      # Arguments
      - `name` (default `"image"`): names the image's steps
        (`<name>-<step>`) and the converted file.
      - `from` (default `null`): a raw disk image to start from (a step,
        such as `fetch`, or a path); or
      - `disk`: the arguments of a `disk` step (`size`, `table`,
        `partitions`, …): a layout such as `layouts.uefi { … }`.
      - `steps` (default `[ ]`): image steps: `run`, `copy`, `files`,
        `hostname`, `users`, `groups`, `units`, `busybox`, `bootloader`.
      - `format` (default `"raw"`): as `convert` takes it.
      - `options` (default `{ }`): `convert`'s options.

      The result is the converted image, a step, with one more attribute:
      `raw`, the disk after the last step, before conversion.

      # Example
      ```nix
      image {
        name = "app";
        from = fetch { url = "https://example.org/debian-12.qcow2"; hash = "sha256-…"; unpack = "qcow2"; };
        steps = [
          (copy ./app "/opt/app")
          (run "chmod +x /opt/app/start")
          (hostname "app")
        ];
        format = "qcow2";
      }
      ```
    */
    image = { name ? "image", from ? null, disk ? null, steps ? [ ], format ? "raw", options ? { } }:
      let
        base =
          if from != null && disk != null then throw "image ${name}: give either `from` (a disk to start from) or `disk` (a layout to make one), not both"
          else if from != null then from
          else if disk != null then
            check (isAttrs disk) "image ${name}: `disk` is the arguments of a disk step (size, table, partitions), such as layouts.uefi { }, not ${describe disk}"
              (imgx.disk ({ inherit name; } // disk))
          else throw "image ${name}: give `from` (a disk to start from) or `disk` (a layout to make one from, such as layouts.uefi { })";
        checked =
          check (isList steps) "image ${name}: `steps` must be a list of image steps, not ${describe steps}"
            (genList (i:
              let s = builtins.elemAt steps i; in
              check (isImageStep s)
                "image ${name}: steps element ${toString i} is ${describe s}, not an image step (run, copy, files, hostname, users, groups, units, busybox, bootloader)${if isFunction s then "; did you leave out its argument?" else ""}"
                s) (length steps));
        final = foldl' (current: s: s.apply current "${name}-${s.name}") base checked;
        converted = if format == "raw" then final else imgx.convert { disk = final; inherit format options; name = "${name}.${format}"; };
      in
      converted // { raw = final; };

    /**
      Commands run inside a disk image, in the build VM.

      With a set that has `disk`, this is the `run` step itself (see
      `runStep` for every argument). Without `disk` it is an image step
      for `image`: a script (a string) or a set of `runStep`'s arguments.

      # Example
      ```nix
      run { disk = base; script = "echo hello > /etc/motd"; }   # a step
      image { from = base; steps = [ (run "echo hello > /etc/motd") ]; }
      image { from = base; steps = [ (run { name = "build"; script = "make"; workdir = ./src; }) ]; }
      ```
    */
    run = arg:
      if isString arg then imageStep "run" null (disk: name: runIn disk name { script = arg; })
      else if isAttrs arg && arg ? disk then imgx.runStep arg
      else if isAttrs arg then imageStep (arg.name or "run") null (disk: name: runIn disk name (builtins.removeAttrs arg [ "name" ]))
      else throw "run takes a script (a string) or a set of run's arguments, not ${describe arg}";

    /**
      An image step that copies a file or tree from the building machine
      into the image (files 0644 or, if executable, 0755; owner root).

      # Arguments
      - `source`: a path, or a step (`"${tree}/sub"` for part of one).
      - `destination`: the absolute path in the image; parents are made.

      # Example
      ```nix
      copy ./app "/opt/app"
      ```
    */
    copy = source: destination:
      let target = imagePath "copy" destination; in
      check (isHostFile source) "copy: the source must be a path or a step, not ${describe source}"
        (imageStep "copy" target (disk: name: runIn disk name { files.${target} = source; script = "true"; }));

    /**
      An image step that writes files with the modes and owners given.

      # Arguments
      A set from absolute paths in the image to
      - a string: the file's text (mode 0644, owner root); or
      - a path or step: the file copied; or
      - a set with `text` or `source`, and optionally `mode` (a string of
        octal digits, `"0600"`), `owner` and `group` (names or numbers, as
        the image's `chown` takes them).

      # Example
      ```nix
      files {
        "/etc/motd" = "Welcome\n";
        "/etc/app/secret" = { source = ./secret; mode = "0600"; owner = "app"; };
      }
      ```
    */
    files = entries:
      let
        parsed = check (isAttrs entries) "files: takes a set from paths in the image to files, not ${describe entries}"
          (mapAttrs (path: entry: fileEntry (imagePath "files" path) entry) entries);
        script = concatStringsSep "\n" ([ "true" ] ++ map (path: fileFixup path parsed.${path}) (attrNames parsed));
      in
      imageStep "files" script (disk: name: runIn disk name {
        files = mapAttrs (_: entry: entry.source) parsed;
        inherit script;
      });

    /**
      An image step that names the host: `/etc/hostname`, and the
      `127.0.1.1` line of `/etc/hosts`.

      # Arguments
      - `name`: a host name (letters, digits and `-`, dot-separated).

      # Example
      ```nix
      hostname "web-1"
      ```
    */
    hostname = name:
      let
        valid = isString name && stringLength name <= 253
          && match "[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?([.][A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*" name != null;
      in
      check valid "hostname: '${toString name}' is not a host name (letters, digits and '-', in dot-separated parts of at most 63)"
        (imageStep "hostname" null (disk: step: runIn disk step {
          files."/etc/hostname" = textFile "hostname" "${name}\n";
          script = ''
            if [ -f /etc/hosts ] && grep -q '^127\.0\.1\.1[[:space:]]' /etc/hosts; then
            	sed -i 's/^127\.0\.1\.1[[:space:]].*/127.0.1.1\t${name}/' /etc/hosts
            else
            	printf '127.0.1.1\t%s\n' ${quote name} >>/etc/hosts
            fi
          '';
        }));

    /**
      An image step that adds groups, or adds members to existing ones.

      # Arguments
      A set from group names to sets with
      - `gid` (default: the next free id from 1000);
      - `members` (default `[ ]`): user names added to the group.

      # Example
      ```nix
      groups { deploy = { gid = 2000; }; wheel = { members = [ "alice" ]; }; }
      ```
    */
    groups = specs:
      accountStep "groups" "group names to { gid; members; }" groupScript specs;

    /**
      An image step that adds users (in `/etc/passwd`, `/etc/shadow` and
      `/etc/group`, as `useradd` would), or updates the password and keys
      of existing ones such as `root`. Works on any image with a shell and
      awk: Debian's or a busybox userland.

      # Arguments
      A set from user names to sets with
      - `uid` (default: the next free id from 1000);
      - `group` (default: the user's name; made, with the uid as its gid
        when that is free, if it does not exist);
      - `extraGroups` (default `[ ]`): groups the user joins (they must
        exist: make them with `groups` first);
      - `home` (default `/home/<name>`, `/root` for root; made, mode 0700),
        `shell` (default `/bin/sh`), `description` (default `""`);
      - `passwordHash` (default: the account is locked, `!`): a crypt(3)
        hash, from `mkpasswd -m yescrypt` or `openssl passwd -6`;
      - `sshKeys` (default `[ ]`): public keys for
        `~/.ssh/authorized_keys`.

      # Example
      ```nix
      users { alice = { uid = 1000; extraGroups = [ "sudo" ]; sshKeys = [ "ssh-ed25519 AAAA… alice@laptop" ]; }; }
      ```
    */
    users = specs:
      accountStep "users" "user names to { uid; sshKeys; … }" userScript specs;

    /**
      An image step that installs systemd units and enables them, making
      the links of their `[Install]` section (`WantedBy=`, `RequiredBy=`,
      `UpheldBy=`, `Alias=`) as `systemctl enable` does.

      # Arguments
      - `files` (default `{ }`): unit files to install into
        `/etc/systemd/system`, by name: a string (the unit's text), a
        path or a step.
      - `enable` (default `[ ]`): units to enable, installed here or
        already in the image (`/etc/systemd/system`, `/usr/lib/systemd/system`).

      # Example
      ```nix
      units {
        files."hello.service" = ''
          [Service]
          ExecStart=/usr/bin/echo hello
          [Install]
          WantedBy=multi-user.target
        '';
        enable = [ "hello.service" "ssh.service" ];
      }
      ```
    */
    units = { files ? { }, enable ? [ ] }:
      let
        unitName = what: unit:
          check (isString unit && match "[A-Za-z0-9:_.@-]+[.](service|socket|target|timer|mount|automount|path|swap|slice)" unit != null)
            "units: ${what} '${toString unit}' is not a unit name such as \"app.service\""
            unit;
        installed = mapAttrs (unit: text: if isString text && !hasContext text then textFile unit text else text) files;
        destinations = map (unit: "/etc/systemd/system/${unitName "files" unit}") (attrNames installed);
        script = concatStringsSep "\n" ([ enableFunction ] ++ map (unit: "enable_unit ${quote (unitName "enable" unit)}") enable);
      in
      imageStep "units" [ destinations script ] (disk: name: runIn disk name {
        files = builtins.listToAttrs (map (unit: {
          name = "/etc/systemd/system/${unit}";
          value = installed.${unit};
        }) (attrNames installed));
        inherit script;
      });

    /**
      An image step that installs a busybox userland: `/bin/busybox` with
      a link for every applet, the folders a system needs, a `root`
      account without a password, and busybox init's `/etc/inittab` with an
      `/etc/init.d/rcS` that mounts `/etc/fstab`'s file systems, sets the
      host name, runs `/etc/rc.local` and prints `/etc/motd`. Files the
      image already has are kept.

      # Arguments
      - `package` (default: Debian's busybox-static, see `packages`): a
        `.deb`, or the static binary.

      # Example
      ```nix
      image { disk = layouts.uefi { size = "1G"; }; steps = [ (busybox { }) ]; }
      ```
    */
    busybox = { package ? imgx.packages.busybox }:
      let
        binary =
          if match ".*[.]deb" (toString package) != null
          then "${imgx.unpack { source = package; format = "deb"; name = "busybox"; }}/bin/busybox"
          else package;
      in
      imageStep "busybox" null (disk: name: runIn disk name {
        shell = "vm";
        files = { "/bin/busybox" = binary; };
        script = ''
          cd "$IMGX_ROOT"
          chmod 0755 bin/busybox
          for applet in $(./bin/busybox --list-full); do
          	[ -e "$applet" ] || [ -L "$applet" ] || { mkdir -p "$(dirname "$applet")" && ln -s /bin/busybox "$applet"; }
          done
          mkdir -p dev proc sys run tmp root home mnt var/log etc/init.d
          chmod 1777 tmp
          chmod 0700 root
          [ -e etc/passwd ] || printf 'root::0:0:root:/root:/bin/sh\n' >etc/passwd
          [ -e etc/group ] || printf 'root:x:0:\n' >etc/group
          [ -e etc/inittab ] || cat >etc/inittab <<'EOF'
          ${inittab}EOF
          [ -e etc/init.d/rcS ] || { cat >etc/init.d/rcS <<'EOF'
          ${rcS}EOF
          chmod 0755 etc/init.d/rcS; }
        '';
      });
  };
in
lib
