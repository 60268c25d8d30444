//! Binary caches end to end, through the real binary: `imgx key generate`,
//! `imgx push` of the scratch example's closure, and `imgx build` from an
//! empty store substituting every step; then a tampered object and a
//! tampered manifest refused (and those steps built locally), and a dead
//! cache worked around. Against a real nginx with WebDAV on 127.0.0.1, a
//! real S3-compatible server (s3s-fs) on 127.0.0.1, and a cache folder
//! (file://).

mod support;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Output;
use support::nginx::Nginx;
use support::s3::S3Server;
use support::{Project, stderr};

/// The example every test pushes and substitutes: file, directory, disk
/// and convert steps, no VM.
fn scratch_example() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/scratch.nix")
}

/// The JSON events of a build, parsed.
fn events(output: &Output) -> Vec<serde_json::Value> {
    String::from_utf8_lossy(&output.stdout).lines().filter_map(|line| serde_json::from_str(line).ok()).collect()
}

fn named<'a>(events: &'a [serde_json::Value], name: &str) -> Vec<&'a serde_json::Value> {
    events.iter().filter(|e| e["event"] == name).collect()
}

/// Step names of the events called `name`.
fn steps_of(events: &[serde_json::Value], name: &str) -> BTreeSet<String> {
    named(events, name).iter().map(|e| e["step"]["name"].as_str().unwrap_or("?").to_owned()).collect()
}

/// The cache-test project: a key pair and a store with the scratch
/// example built.
struct Setup {
    project: Project,
    secret: PathBuf,
    public: PathBuf,
    /// Step name → output hash, from the first build.
    outputs: BTreeMap<String, String>,
    /// How many steps the example has.
    steps: usize,
    /// Environment variables for every imgx run (an S3 cache's credentials).
    env: Vec<(String, String)>,
}

impl Setup {
    fn new(name: &str) -> Setup {
        let project = Project::new(name);
        let output = project.imgx(&["key", "generate", "test-cache-1"]);
        assert!(output.status.success(), "{}", stderr(&output));
        let printed = String::from_utf8_lossy(&output.stdout).trim().to_owned();
        assert!(printed.starts_with("test-cache-1:"), "the public key is printed: {printed}");
        let public = project.dir.join("test-cache-1.public");
        assert_eq!(std::fs::read_to_string(&public).expect("public key").trim(), printed);
        let again = project.imgx(&["key", "generate", "test-cache-1"]);
        assert!(!again.status.success(), "an existing key is never overwritten");

        let example = scratch_example();
        let output = project.imgx(&["build", "--json", "--no-out-link", example.to_str().expect("utf-8")]);
        assert!(output.status.success(), "{}", stderr(&output));
        let events = events(&output);
        let built = named(&events, "built");
        let outputs: BTreeMap<String, String> = built
            .iter()
            .map(|e| {
                (e["step"]["name"].as_str().unwrap_or("?").to_owned(), e["output"].as_str().unwrap_or("").to_owned())
            })
            .collect();
        let steps = named(&events, "evaluated")[0]["steps"].as_u64().expect("steps") as usize;
        assert_eq!(built.len(), steps, "a first build builds every step");
        Setup { secret: project.dir.join("test-cache-1.secret"), public, project, outputs, steps, env: Vec::new() }
    }

    fn push(&self, cache: &str) -> Output {
        let example = scratch_example();
        let args = ["push", cache, example.to_str().expect("utf-8"), "--key", self.secret.to_str().expect("utf-8")];
        self.project.command(&args).envs(self.env.iter().cloned()).output().expect("imgx runs")
    }

    /// Builds the example into a new, empty store with `extra` flags.
    fn build_in_new_store(&self, store: &str, extra: &[&str]) -> (Output, Vec<serde_json::Value>) {
        let example = scratch_example();
        let mut args = vec!["build", "--json", "--no-out-link", example.to_str().expect("utf-8")];
        args.extend_from_slice(extra);
        let output = self
            .project
            .command(&args)
            .env("IMGX_STORE", self.project.dir.join(store))
            .env("XDG_CONFIG_HOME", self.project.dir.join("config"))
            .envs(self.env.iter().cloned())
            .output()
            .expect("imgx runs");
        let events = events(&output);
        (output, events)
    }

    fn substituting(&self, store: &str, cache: &str) -> (Output, Vec<serde_json::Value>) {
        let public = self.public.to_str().expect("utf-8").to_owned();
        self.build_in_new_store(store, &["--substituter", cache, "--trusted-key", &public])
    }

    /// Every manifest in the cache folder naming `output`.
    fn manifests_of(&self, cache_dir: &Path, output: &str) -> Vec<PathBuf> {
        let mut found = Vec::new();
        for entry in std::fs::read_dir(cache_dir.join("realisations")).expect("realisations").flatten() {
            let text = std::fs::read_to_string(entry.path()).expect("manifest");
            if text.contains(&format!("\"output\": \"{output}\"")) {
                found.push(entry.path());
            }
        }
        assert!(!found.is_empty(), "the cache has a manifest naming {output}");
        found
    }

    /// The whole story against one cache: push, push again (nothing to
    /// do), substitute everything, then tampering.
    fn push_substitute_and_tamper(&self, cache: &str, cache_dir: &Path) {
        let output = self.push(cache);
        assert!(output.status.success(), "push: {}", stderr(&output));
        assert!(cache_dir.join("imgx-cache-info").is_file());
        assert!(std::fs::read_dir(cache_dir.join("objects")).expect("objects").count() > 0);
        // Holes travel as holes: the 1 GiB disk and its 1 GiB raw
        // conversions are a few MiB of archives.
        let archived: u64 = std::fs::read_dir(cache_dir.join("objects"))
            .expect("objects")
            .flatten()
            .map(|e| e.metadata().map(|m| m.len()).unwrap_or(0))
            .sum();
        assert!(archived < 8 << 20, "the cache holds {archived} bytes of archives");
        let output = self.push(cache);
        assert!(output.status.success(), "push again: {}", stderr(&output));
        assert!(stderr(&output).contains("pushed 0 object(s)"), "a second push uploads nothing: {}", stderr(&output));

        // A dry run says so from the signed manifests alone: every step,
        // the later ones by the content keys the earlier outputs give.
        let public = self.public.to_str().expect("utf-8");
        let example = scratch_example();
        let args =
            ["build", "--dry-run", example.to_str().expect("utf-8"), "--substituter", cache, "--trusted-key", public];
        let output = self
            .project
            .command(&args)
            .env("IMGX_STORE", self.project.dir.join("store-dry-run"))
            .envs(self.env.iter().cloned())
            .output()
            .expect("imgx runs");
        let printed = String::from_utf8_lossy(&output.stdout);
        assert!(output.status.success(), "{}", stderr(&output));
        assert!(printed.contains(&format!("these {} step(s) will be substituted:", self.steps)), "{printed}");
        assert!(!printed.contains("will be built"), "{printed}");
        assert!(printed.contains(&format!("from {cache}")), "{printed}");
        let objects = self.project.dir.join("store-dry-run/objects");
        let downloaded = std::fs::read_dir(&objects).map(|d| d.count()).unwrap_or(0);
        assert_eq!(downloaded, 0, "a dry run downloads no object");

        // Everything comes from the cache, with the same outputs.
        let (output, events) = self.substituting("store-substituted", cache);
        assert!(output.status.success(), "{}", stderr(&output));
        assert_eq!(named(&events, "substituted").len(), self.steps, "every step is substituted: {events:?}");
        assert!(named(&events, "built").is_empty(), "nothing is built: {events:?}");
        assert!(named(&events, "warning").is_empty(), "{events:?}");
        for event in named(&events, "substituted") {
            let name = event["step"]["name"].as_str().expect("name");
            assert_eq!(event["output"].as_str(), self.outputs.get(name).map(String::as_str), "{name}");
        }
        let disk = self.project.dir.join("store-substituted/objects").join(&self.outputs["scratch"]);
        let meta = std::fs::metadata(&disk).expect("the substituted disk");
        use std::os::unix::fs::MetadataExt;
        assert!(meta.len() >= 1 << 30 && meta.blocks() * 512 < 64 << 20, "the substituted disk is sparse");
        let verify = self
            .project
            .command(&["store", "verify"])
            .env("IMGX_STORE", self.project.dir.join("store-substituted"))
            .output()
            .expect("verify");
        assert!(verify.status.success(), "the substituted store verifies: {}", stderr(&verify));

        // Tamper with motd's object (another object's archive in its place)
        // and with hostname's manifests (a changed size breaks the signature).
        let motd = &self.outputs["motd"];
        let hostname = &self.outputs["hostname"];
        let objects = cache_dir.join("objects");
        std::fs::copy(objects.join(format!("{hostname}.archive.zst")), objects.join(format!("{motd}.archive.zst")))
            .expect("tamper with an object");
        for manifest in self.manifests_of(cache_dir, hostname) {
            let text = std::fs::read_to_string(&manifest).expect("manifest");
            std::fs::write(&manifest, text.replace("\"size\": 8,", "\"size\": 9,")).expect("tamper with a manifest");
        }
        let (output, events) = self.substituting("store-tampered", cache);
        assert!(output.status.success(), "{}", stderr(&output));
        assert_eq!(
            steps_of(&events, "built"),
            BTreeSet::from(["hostname".to_owned(), "motd".to_owned()]),
            "{events:?}"
        );
        assert_eq!(named(&events, "substituted").len(), self.steps - 2, "{events:?}");
        let warnings: Vec<String> =
            named(&events, "warning").iter().map(|e| e["message"].as_str().unwrap_or("").to_owned()).collect();
        assert_eq!(
            warnings.iter().filter(|w| w.contains(motd.as_str()) && w.contains("content hash")).count(),
            1,
            "the tampered object is refused by its hash, and downloaded once: {warnings:?}"
        );
        assert!(
            warnings.iter().any(|w| w.contains("no valid signature by a trusted key")),
            "the tampered manifest is refused by its signature: {warnings:?}"
        );
        let rebuilt: BTreeMap<&str, &str> = named(&events, "built")
            .iter()
            .map(|e| (e["step"]["name"].as_str().unwrap_or("?"), e["output"].as_str().unwrap_or("")))
            .collect();
        assert_eq!(rebuilt["motd"], motd.as_str(), "the local build makes the real object");

        // An untrusted key: nothing is accepted, everything is built.
        let other = self.project.imgx(&["key", "generate", "other-1", "--dir", "other"]);
        assert!(!other.status.success(), "the folder must exist");
        std::fs::create_dir_all(self.project.dir.join("other")).expect("mkdir");
        let other = self.project.imgx(&["key", "generate", "other-1", "--dir", "other"]);
        assert!(other.status.success(), "{}", stderr(&other));
        let other = self.project.dir.join("other/other-1.public");
        let (output, events) = self.build_in_new_store(
            "store-untrusted",
            &["--substituter", cache, "--trusted-key", other.to_str().expect("utf-8")],
        );
        assert!(output.status.success(), "{}", stderr(&output));
        assert_eq!(named(&events, "built").len(), self.steps, "{events:?}");
        assert!(named(&events, "substituted").is_empty());
    }
}

#[test]
fn an_http_cache_on_nginx_substitutes_every_step_refuses_tampering_and_may_die() {
    let setup = Setup::new("cache-http");
    let mut nginx = Nginx::start(&setup.project.dir.join("nginx"), &setup.project.dir.join("www"));
    let cache = nginx.url("team/cache");
    setup.push_substitute_and_tamper(&cache, &setup.project.dir.join("www/team/cache"));
    assert!(nginx.access_log().contains("\"PUT /team/cache/objects/"), "objects were PUT");

    nginx.stop();
    let (output, events) = setup.substituting("store-dead", &cache);
    assert!(output.status.success(), "a dead cache does not fail the build: {}", stderr(&output));
    assert_eq!(named(&events, "built").len(), setup.steps, "{events:?}");
    let warnings = named(&events, "warning");
    assert_eq!(warnings.len(), 1, "one warning for the dead cache, then it is not asked again: {warnings:?}");
    assert!(warnings[0]["message"].as_str().unwrap_or("").contains(&cache), "{warnings:?}");
}

#[test]
fn an_s3_cache_substitutes_every_step_refuses_tampering_and_may_die() {
    let mut setup = Setup::new("cache-s3");
    let mut server = S3Server::start(&setup.project.dir.join("s3"), "bucket");
    setup.env = server.env();
    let cache = server.url("bucket/team/cache");
    setup.push_substitute_and_tamper(&cache, &server.root.join("bucket/team/cache"));

    let output = setup.project.imgx(&["push", &cache, "--all", "--key", setup.secret.to_str().expect("utf-8")]);
    assert!(!output.status.success(), "without credentials the server refuses: {}", stderr(&output));

    server.stop();
    let (output, events) = setup.substituting("store-dead", &cache);
    assert!(output.status.success(), "a dead cache does not fail the build: {}", stderr(&output));
    assert_eq!(named(&events, "built").len(), setup.steps, "{events:?}");
    assert_eq!(named(&events, "warning").len(), 1, "{events:?}");
}

#[test]
fn a_file_cache_substitutes_from_the_config_file_and_refuses_tampering() {
    let setup = Setup::new("cache-file");
    let cache_dir = setup.project.dir.join("shared/cache");
    let cache = format!("file://{}", cache_dir.display());
    setup.push_substitute_and_tamper(&cache, &cache_dir);

    // Substituters and trusted keys from the configuration file; the
    // tampered cache is replaced by a fresh push.
    std::fs::remove_dir_all(&cache_dir).expect("remove the cache");
    let output = setup.push(&cache);
    assert!(output.status.success(), "{}", stderr(&output));

    // challenge: the store that pushed and the cache agree on every step;
    // a manifest claiming another output is a disagreement, named.
    let example = scratch_example();
    let challenge = |cache: &str| setup.project.imgx(&["challenge", cache, example.to_str().expect("utf-8"), "--json"]);
    let output = challenge(&cache);
    assert!(output.status.success(), "{}", stderr(&output));
    let agreeing = events(&output);
    let results = named(&agreeing, "challenge");
    assert_eq!(results.len(), setup.steps, "{results:?}");
    assert!(results.iter().all(|e| e["result"] == "agree"), "{results:?}");
    let key = results[0]["key"].as_str().expect("a key").to_owned();
    let manifest = cache_dir.join("realisations").join(format!("{key}.json"));
    let text = std::fs::read_to_string(&manifest).expect("the manifest");
    let claimed = results[0]["local"].as_str().expect("the output");
    std::fs::write(&manifest, text.replace(claimed, &"0".repeat(64))).expect("rewrite the manifest");
    let output = challenge(cache_dir.to_str().expect("utf-8"));
    assert_eq!(output.status.code(), Some(1), "{}", stderr(&output));
    let disagreeing = events(&output);
    let results = named(&disagreeing, "challenge");
    let disagreeing: Vec<_> = results.iter().filter(|e| e["result"] == "disagree").collect();
    assert_eq!(disagreeing.len(), 1, "{results:?}");
    assert_eq!(disagreeing[0]["key"], key.as_str());
    std::fs::write(&manifest, text).expect("restore the manifest");

    let public = std::fs::read_to_string(&setup.public).expect("public key");
    setup.project.write(
        "config/imgx/config.toml",
        &format!("substituters = [\"{cache}\"]\ntrusted-public-keys = [\"{}\"]\n", public.trim()),
    );
    let (output, events) = setup.build_in_new_store("store-configured", &[]);
    assert!(output.status.success(), "{}", stderr(&output));
    assert_eq!(named(&events, "substituted").len(), setup.steps, "{events:?}");
    let (output, events) = setup.build_in_new_store("store-no-substituters", &["--no-substituters"]);
    assert!(output.status.success(), "{}", stderr(&output));
    assert_eq!(named(&events, "built").len(), setup.steps, "{events:?}");

    // A cache folder that is gone: one warning, a local build.
    std::fs::rename(&cache_dir, setup.project.dir.join("shared/moved")).expect("move the cache");
    let (output, events) = setup.build_in_new_store("store-gone", &[]);
    assert!(output.status.success(), "{}", stderr(&output));
    assert_eq!(named(&events, "built").len(), setup.steps, "{events:?}");
    assert_eq!(named(&events, "warning").len(), 1, "{events:?}");
}

#[test]
fn push_refuses_a_bad_key_and_unbuilt_steps() {
    let project = Project::new("cache-push-errors");
    project.write("key.secret", "not a key\n");
    project.write("default.nix", "(import <imgx>).file { name = \"a\"; text = \"a\\n\"; }\n");
    let cache = format!("file://{}", project.dir.join("cache").display());
    let output = project.imgx(&["push", &cache, "--key", "key.secret"]);
    assert_eq!(output.status.code(), Some(2), "{}", stderr(&output));
    let output = project.imgx(&["key", "generate", "k-1"]);
    assert!(output.status.success(), "{}", stderr(&output));
    let output = project.imgx(&["push", &cache, "--key", "k-1.secret"]);
    assert_eq!(output.status.code(), Some(1), "{}", stderr(&output));
    assert!(stderr(&output).contains("not built"), "{}", stderr(&output));
    let output = project.imgx(&["push", "ftp://example.invalid/c", "--all", "--key", "k-1.secret"]);
    assert_eq!(output.status.code(), Some(2), "{}", stderr(&output));
}
