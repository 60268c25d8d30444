//! The store's behaviour through its public API: registration, imports,
//! records, locks, roots, garbage collection, verification and sharing.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Barrier, mpsc};
use std::thread;
use std::time::{Duration, Instant};

use imgx_store::{ObjectKind, Realisation, RootKind, Store, StoreError};

/// A directory under the system's temporary directory, removed (read-only
/// objects included) when dropped.
struct TempDir(PathBuf);

impl TempDir {
    fn new(name: &str) -> TempDir {
        static COUNTER: AtomicU64 = AtomicU64::new(0);
        let unique = format!("imgx-store-{name}-{}-{}", std::process::id(), COUNTER.fetch_add(1, Ordering::Relaxed));
        let path = std::env::temp_dir().join(unique);
        let _ = remove_all(&path);
        fs::create_dir_all(&path).unwrap();
        TempDir(path)
    }

    fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = remove_all(&self.0);
    }
}

fn remove_all(path: &Path) -> std::io::Result<()> {
    let meta = fs::symlink_metadata(path)?;
    if meta.is_dir() {
        fs::set_permissions(path, fs::Permissions::from_mode(0o755))?;
        for entry in fs::read_dir(path)? {
            remove_all(&entry?.path())?;
        }
        fs::remove_dir(path)
    } else {
        fs::remove_file(path)
    }
}

fn key(n: u64) -> String {
    format!("{n:064x}")
}

fn mode(path: &Path) -> u32 {
    fs::symlink_metadata(path).unwrap().permissions().mode() & 0o7777
}

/// Registers a file with `content` built in a fresh scratch directory.
fn register_bytes(store: &Store, content: &[u8]) -> imgx_store::ObjectInfo {
    let scratch = store.scratch("test").unwrap();
    let out = scratch.path().join("out");
    fs::write(&out, content).unwrap();
    store.register(&out).unwrap()
}

fn realisation(key: String, output: imgx_store::ObjectHash) -> Realisation {
    Realisation { key, output, built_at: 1_700_000_000, duration_ms: 42, builder_version: "test 1".into() }
}

#[test]
fn registers_a_file_and_a_directory() {
    let root = TempDir::new("register");
    let store = Store::open(root.path()).unwrap();
    for dir in ["objects", "scratch", "logs", "locks", "quarantine"] {
        assert!(root.path().join(dir).is_dir(), "{dir} is created");
    }
    assert!(root.path().join("db.sqlite").is_file());

    let file = register_bytes(&store, b"hello");
    assert_eq!(file.kind, ObjectKind::File);
    assert_eq!(file.size, 5);
    assert_eq!(file.path, store.object_path(&file.hash));
    assert_eq!(file.path.file_name().unwrap().to_str().unwrap(), file.hash.to_hex());
    assert_eq!(fs::read(&file.path).unwrap(), b"hello");
    assert_eq!(store.object_info(&file.hash).unwrap(), Some(file.clone()));
    assert!(store.has_object(&file.hash).unwrap());

    let scratch = store.scratch("tree").unwrap();
    let tree = scratch.path().join("tree");
    fs::create_dir_all(tree.join("sub/deeper")).unwrap();
    fs::write(tree.join("data"), b"0123456789").unwrap();
    fs::write(tree.join("sub/tool"), b"#!/bin/sh\n").unwrap();
    fs::set_permissions(tree.join("sub/tool"), fs::Permissions::from_mode(0o700)).unwrap();
    std::os::unix::fs::symlink("../data", tree.join("sub/link")).unwrap();
    let dir = store.register(&tree).unwrap();
    assert!(!tree.exists(), "registration moves the tree");
    assert_eq!(dir.kind, ObjectKind::Directory);
    assert_eq!(dir.size, 10 + 10 + "../data".len() as u64);
    assert_eq!(fs::read(dir.path.join("sub/tool")).unwrap(), b"#!/bin/sh\n");
    assert_eq!(fs::read_link(dir.path.join("sub/link")).unwrap(), PathBuf::from("../data"));
    assert_ne!(dir.hash, file.hash);
    drop(scratch);
    assert_eq!(fs::read_dir(root.path().join("scratch")).unwrap().count(), 0, "scratch removes itself");
}

#[test]
fn registered_objects_are_read_only() {
    let root = TempDir::new("read-only");
    let store = Store::open(root.path()).unwrap();
    let scratch = store.scratch("tree").unwrap();
    let tree = scratch.path().join("tree");
    fs::create_dir_all(tree.join("sub")).unwrap();
    fs::write(tree.join("plain"), b"plain").unwrap();
    fs::set_permissions(tree.join("plain"), fs::Permissions::from_mode(0o664)).unwrap();
    fs::write(tree.join("sub/exec"), b"exec").unwrap();
    fs::set_permissions(tree.join("sub/exec"), fs::Permissions::from_mode(0o4751)).unwrap();
    let object = store.register(&tree).unwrap();
    assert_eq!(mode(&object.path), 0o555);
    assert_eq!(mode(&object.path.join("sub")), 0o555);
    assert_eq!(mode(&object.path.join("plain")), 0o444);
    assert_eq!(mode(&object.path.join("sub/exec")), 0o555, "executable, and no setuid bit");

    let file = register_bytes(&store, b"a single file");
    assert_eq!(mode(&file.path), 0o444);
}

#[test]
fn identical_content_is_stored_once() {
    let root = TempDir::new("dedup");
    let store = Store::open(root.path()).unwrap();
    let first = register_bytes(&store, b"same bytes");
    let second = register_bytes(&store, b"same bytes");
    assert_eq!(first, second);
    assert_eq!(fs::read_dir(root.path().join("objects")).unwrap().count(), 1);
    let report = store.verify(false).unwrap();
    assert_eq!(report.checked, 1);
    assert!(report.is_clean(), "{report:?}");
    assert_eq!(fs::read_dir(root.path().join("scratch")).unwrap().count(), 0, "the duplicate is discarded");
}

#[test]
fn register_refuses_paths_outside_scratch_and_cleans_up_failures() {
    let root = TempDir::new("outside");
    let outside = TempDir::new("outside-src");
    let store = Store::open(root.path()).unwrap();
    let file = outside.path().join("file");
    fs::write(&file, b"mine").unwrap();
    assert!(matches!(store.register(&file), Err(StoreError::NotInScratch { .. })));
    assert_eq!(fs::read(&file).unwrap(), b"mine", "a refused path is not touched");

    // A FIFO cannot be stored; the failed registration removes the partial
    // output and registers nothing.
    let scratch = store.scratch("fifo").unwrap();
    let tree = scratch.path().join("tree");
    fs::create_dir(&tree).unwrap();
    fs::write(tree.join("ok"), b"ok").unwrap();
    let status = Command::new("mkfifo").arg(tree.join("pipe")).status();
    if status.is_ok_and(|status| status.success()) {
        assert!(matches!(store.register(&tree), Err(StoreError::UnsupportedFileType { .. })));
        assert!(!tree.exists(), "the partial output is removed");
        assert_eq!(fs::read_dir(root.path().join("objects")).unwrap().count(), 0);
    }
}

#[test]
fn import_copies_from_outside_the_store() {
    let root = TempDir::new("import");
    let source = TempDir::new("import-src");
    let store = Store::open(root.path()).unwrap();
    let file = source.path().join("image.raw");
    fs::write(&file, b"disk image").unwrap();
    let original_mode = mode(&file);
    let imported = store.import(&file).unwrap();
    assert_eq!(imported.kind, ObjectKind::File);
    assert_eq!(fs::read(&imported.path).unwrap(), b"disk image");
    assert_eq!(fs::read(&file).unwrap(), b"disk image", "the original stays");
    assert_eq!(mode(&file), original_mode, "the original's mode is untouched");

    let tree = source.path().join("tree");
    fs::create_dir_all(tree.join("a")).unwrap();
    fs::write(tree.join("a/b"), b"b").unwrap();
    std::os::unix::fs::symlink("a/b", tree.join("link")).unwrap();
    let imported_tree = store.import(&tree).unwrap();
    assert_eq!(imported_tree.kind, ObjectKind::Directory);
    assert_eq!(fs::read(imported_tree.path.join("a/b")).unwrap(), b"b");
    assert!(tree.join("a/b").exists());

    // Importing the same content as a registered build output yields that
    // object.
    assert_eq!(store.import(&file).unwrap(), imported);
    assert_eq!(register_bytes(&store, b"disk image"), imported);
}

#[test]
fn importing_content_the_store_holds_copies_nothing() {
    let root = TempDir::new("import-again");
    let source = TempDir::new("import-again-src");
    let store = Store::open(root.path()).unwrap();
    let tree = source.path().join("tree");
    fs::create_dir_all(tree.join("etc")).unwrap();
    fs::write(tree.join("etc/motd"), b"hello").unwrap();
    fs::write(tree.join("run.sh"), b"#!/bin/sh").unwrap();
    fs::set_permissions(tree.join("run.sh"), fs::Permissions::from_mode(0o700)).unwrap();
    let first = store.import(&tree).unwrap();

    // Without a scratch area nothing can be copied: a second import of the
    // same content must be answered from the object it already made.
    let scratch = root.path().join("scratch");
    fs::remove_dir_all(&scratch).unwrap();
    fs::write(&scratch, b"not a directory").unwrap();
    assert_eq!(store.import(&tree).unwrap(), first);
    fs::write(tree.join("etc/motd"), b"changed").unwrap();
    assert!(store.import(&tree).is_err(), "changed content is copied, which needs the scratch area");
}

#[test]
fn steps_realisations_and_logs_round_trip() {
    let root = TempDir::new("records");
    let store = Store::open(root.path()).unwrap();
    assert_eq!(store.step(&key(1)).unwrap(), None);
    store.put_step(&key(1), "{\"kind\":\"file\"}").unwrap();
    store.put_step(&key(1), "{\"kind\":\"file\"}").unwrap();
    assert_eq!(store.step(&key(1)).unwrap().as_deref(), Some("{\"kind\":\"file\"}"));
    assert!(matches!(store.put_step(&key(1), "other"), Err(StoreError::Corrupt { .. })));
    assert!(matches!(store.put_step("not-a-key", "x"), Err(StoreError::InvalidKey { .. })));

    let object = register_bytes(&store, b"output");
    // Both the input-addressed and the content key map to one output.
    store.put_realisation(&realisation(key(2), object.hash)).unwrap();
    store.put_realisation(&realisation(key(3), object.hash)).unwrap();
    assert_eq!(store.realisation(&key(2)).unwrap(), Some(realisation(key(2), object.hash)));
    assert_eq!(store.realisation(&key(3)).unwrap().unwrap().output, object.hash);
    assert_eq!(store.realisation(&key(4)).unwrap(), None);
    let unknown = imgx_store::ObjectHash([7; 32]);
    assert!(matches!(
        store.put_realisation(&realisation(key(4), unknown)),
        Err(StoreError::NoSuchObject { hash }) if hash == unknown
    ));

    assert_eq!(store.log_path(&key(2)).unwrap(), None);
    let log = store.put_log(&key(2), b"line 1\nline 2\n").unwrap();
    assert_eq!(log, store.root().join("logs").join(format!("{}.log", key(2))));
    assert_eq!(fs::read(&log).unwrap(), b"line 1\nline 2\n");
    store.put_log(&key(2), b"replaced\n").unwrap();
    assert_eq!(fs::read(&log).unwrap(), b"replaced\n");
    assert_eq!(store.log_path(&key(2)).unwrap(), Some(log));

    assert_eq!(store.eval_cache(&key(5)).unwrap(), None);
    store.put_eval_cache(&key(5), "inputs", "result").unwrap();
    let entry = store.eval_cache(&key(5)).unwrap().unwrap();
    assert_eq!((entry.inputs.as_str(), entry.result.as_str()), ("inputs", "result"));

    // The realisation is gone once its output is.
    store.add_root(Path::new("/nonexistent/keep"), &object.hash, RootKind::Explicit).unwrap();
    assert!(store.remove_root(Path::new("/nonexistent/keep")).unwrap());
    store.gc().unwrap();
    assert_eq!(store.realisation(&key(2)).unwrap(), None);
    assert_eq!(store.log_path(&key(2)).unwrap(), None);
}

#[test]
fn key_locks_exclude_each_other_across_threads() {
    let root = TempDir::new("locks");
    let store = Arc::new(Store::open(root.path()).unwrap());
    let held = store.lock_key(&key(9)).unwrap();
    assert_eq!(held.key(), key(9));
    assert!(store.try_lock_key(&key(9)).unwrap().is_none(), "a second handle in this process is excluded");
    assert!(store.try_lock_key(&key(10)).unwrap().is_some(), "other keys are independent");

    let (sender, receiver) = mpsc::channel();
    let waiter = {
        let store = Arc::clone(&store);
        thread::spawn(move || {
            let other = Store::open(store.root()).unwrap();
            assert!(other.try_lock_key(&key(9)).unwrap().is_none());
            let started = Instant::now();
            let lock = other.lock_key(&key(9)).unwrap();
            sender.send(started.elapsed()).unwrap();
            drop(lock);
        })
    };
    thread::sleep(Duration::from_millis(300));
    assert!(receiver.try_recv().is_err(), "the waiter is still waiting");
    drop(held);
    let waited = receiver.recv_timeout(Duration::from_secs(10)).unwrap();
    assert!(waited >= Duration::from_millis(200), "waited {waited:?}");
    waiter.join().unwrap();
    assert!(store.try_lock_key(&key(9)).unwrap().is_some());
}

/// Run as a child process by the test below: reports whether the key lock
/// named in the environment is free.
#[test]
fn child_process_probes_a_key_lock() {
    let Some(root) = std::env::var_os("IMGX_STORE_TEST_CHILD_ROOT") else { return };
    let expect_free = std::env::var("IMGX_STORE_TEST_CHILD_EXPECT").unwrap() == "free";
    let store = Store::open(Path::new(&root)).unwrap();
    assert_eq!(store.try_lock_key(&key(11)).unwrap().is_some(), expect_free);
}

#[test]
fn key_locks_exclude_each_other_across_processes() {
    let root = TempDir::new("process-locks");
    let store = Store::open(root.path()).unwrap();
    let probe = |expect: &str| {
        let status = Command::new(std::env::current_exe().unwrap())
            .args(["--exact", "child_process_probes_a_key_lock", "--quiet", "--test-threads=1"])
            .env("IMGX_STORE_TEST_CHILD_ROOT", root.path())
            .env("IMGX_STORE_TEST_CHILD_EXPECT", expect)
            .output()
            .unwrap();
        assert!(status.status.success(), "child expecting {expect}: {}", String::from_utf8_lossy(&status.stdout));
    };
    let lock = store.lock_key(&key(11)).unwrap();
    probe("held");
    drop(lock);
    probe("free");
}

#[test]
fn gc_keeps_rooted_objects_and_deletes_the_rest() {
    let root = TempDir::new("gc");
    let links = TempDir::new("gc-links");
    let store = Store::open(root.path()).unwrap();
    let big = vec![0x5a; 1 << 20];

    let out_linked = register_bytes(&store, b"out-linked");
    let explicit = register_bytes(&store, b"explicit");
    let unrooted = register_bytes(&store, &big);
    let stale = register_bytes(&store, b"stale out-link");
    let repointed = register_bytes(&store, b"repointed out-link");

    let result = links.path().join("result");
    store.create_out_link(&result, &out_linked.hash).unwrap();
    assert_eq!(fs::read(&result).unwrap(), b"out-linked");
    store.add_root(Path::new("profiles/default"), &explicit.hash, RootKind::Explicit).unwrap();
    let gone = links.path().join("gone");
    store.create_out_link(&gone, &stale.hash).unwrap();
    fs::remove_file(&gone).unwrap();
    // An out-link root whose symlink now points at another object keeps
    // only that other object if it is rooted itself (here it is not).
    let moved = links.path().join("moved");
    store.create_out_link(&moved, &repointed.hash).unwrap();
    fs::remove_file(&moved).unwrap();
    std::os::unix::fs::symlink(&unrooted.path, &moved).unwrap();

    store.put_realisation(&realisation(key(20), unrooted.hash)).unwrap();
    store.put_log(&key(20), b"log of the unrooted build").unwrap();
    store.put_realisation(&realisation(key(21), out_linked.hash)).unwrap();

    assert!(matches!(
        store.add_root(Path::new("x"), &imgx_store::ObjectHash([1; 32]), RootKind::Explicit),
        Err(StoreError::NoSuchObject { .. })
    ));

    let report = store.gc().unwrap();
    assert_eq!(report.objects_deleted, 3, "{report:?}");
    assert_eq!(report.objects_kept, 2, "{report:?}");
    assert_eq!(report.roots_dropped, 2, "{report:?}");
    assert!(report.bytes_freed >= 1 << 20, "{report:?}");

    assert!(store.has_object(&out_linked.hash).unwrap());
    assert!(store.has_object(&explicit.hash).unwrap());
    for deleted in [&unrooted, &stale, &repointed] {
        assert!(!store.has_object(&deleted.hash).unwrap());
        assert!(!deleted.path.exists());
    }
    assert_eq!(store.realisation(&key(20)).unwrap(), None);
    assert_eq!(store.log_path(&key(20)).unwrap(), None);
    assert!(!root.path().join("logs").join(format!("{}.log", key(20))).exists());
    assert!(store.realisation(&key(21)).unwrap().is_some());
    let roots: Vec<_> = store.roots().unwrap().into_iter().map(|root| root.target).collect();
    assert_eq!(roots.len(), 2);
    assert!(roots.contains(&out_linked.hash) && roots.contains(&explicit.hash));

    // Nothing more to collect; removing the explicit root frees it.
    assert_eq!(store.gc().unwrap().objects_deleted, 0);
    assert!(store.remove_root(Path::new("profiles/default")).unwrap());
    assert_eq!(store.gc().unwrap().objects_deleted, 1);
    assert!(store.has_object(&out_linked.hash).unwrap());
    assert!(store.verify(false).unwrap().is_clean());
}

#[test]
fn gc_waits_for_build_guards_and_refuses_to_wait_for_itself() {
    let root = TempDir::new("gc-guard");
    let store = Store::open(root.path()).unwrap();
    let guard = store.build_guard().unwrap();
    assert!(matches!(store.gc(), Err(StoreError::WouldDeadlock { .. })));
    assert!(matches!(store.verify(true), Err(StoreError::WouldDeadlock { .. })));
    store.verify(false).unwrap();

    let path = store.root().to_path_buf();
    let (sender, receiver) = mpsc::channel();
    let collector = thread::spawn(move || {
        let other = Store::open(&path).unwrap();
        other.gc().unwrap();
        sender.send(()).unwrap();
    });
    thread::sleep(Duration::from_millis(300));
    assert!(receiver.try_recv().is_err(), "gc waits while a build guard is held");
    drop(guard);
    receiver.recv_timeout(Duration::from_secs(10)).unwrap();
    collector.join().unwrap();
    store.gc().unwrap();
}

#[test]
fn verify_detects_a_flipped_byte_and_quarantines_the_object() {
    let root = TempDir::new("verify");
    let store = Store::open(root.path()).unwrap();
    let good = register_bytes(&store, b"good object");
    let bad = register_bytes(&store, b"object to be damaged");
    store.put_realisation(&realisation(key(30), bad.hash)).unwrap();
    store.put_realisation(&realisation(key(31), good.hash)).unwrap();
    assert!(store.verify(false).unwrap().is_clean());

    fs::set_permissions(&bad.path, fs::Permissions::from_mode(0o644)).unwrap();
    let mut bytes = fs::read(&bad.path).unwrap();
    bytes[3] ^= 0x01;
    fs::write(&bad.path, &bytes).unwrap();
    fs::set_permissions(&bad.path, fs::Permissions::from_mode(0o444)).unwrap();

    let report = store.verify(false).unwrap();
    assert_eq!(report.checked, 2);
    assert_eq!(report.corrupt, vec![bad.hash]);
    assert!(report.quarantined.is_empty());
    assert!(store.realisation(&key(30)).unwrap().is_some(), "report-only changes nothing");

    let report = store.verify(true).unwrap();
    assert_eq!(report.corrupt, vec![bad.hash]);
    assert_eq!(report.quarantined.len(), 1);
    let quarantined = &report.quarantined[0];
    assert!(quarantined.starts_with(store.root().join("quarantine")));
    assert_eq!(fs::read(quarantined).unwrap(), bytes);
    assert!(!bad.path.exists());
    assert_eq!(store.object_info(&bad.hash).unwrap(), None);
    assert_eq!(store.realisation(&key(30)).unwrap(), None);
    assert!(store.realisation(&key(31)).unwrap().is_some());
    assert!(store.verify(false).unwrap().is_clean());

    // The next build replaces the object.
    let rebuilt = register_bytes(&store, b"object to be damaged");
    assert_eq!(rebuilt.hash, bad.hash);
    assert!(store.verify(false).unwrap().is_clean());
}

#[test]
fn verify_removes_rows_whose_object_is_missing() {
    let root = TempDir::new("verify-missing");
    let store = Store::open(root.path()).unwrap();
    let object = register_bytes(&store, b"soon missing");
    store.put_realisation(&realisation(key(40), object.hash)).unwrap();
    fs::remove_file(&object.path).unwrap();
    assert_eq!(store.realisation(&key(40)).unwrap(), None, "a realisation needs its object");
    let report = store.verify(false).unwrap();
    assert_eq!(report.missing, vec![object.hash]);
    assert!(store.verify(false).unwrap().is_clean(), "the row is gone");
}

#[test]
fn opening_twice_is_idempotent() {
    let root = TempDir::new("reopen");
    let object = {
        let store = Store::open(root.path()).unwrap();
        register_bytes(&store, b"persisted")
    };
    let first = Store::open(root.path()).unwrap();
    let second = Store::open(root.path()).unwrap();
    assert_eq!(first.object_info(&object.hash).unwrap(), Some(object.clone()));
    assert_eq!(second.object_info(&object.hash).unwrap(), Some(object));
}

#[test]
fn stores_on_one_root_work_concurrently() {
    let root = TempDir::new("concurrent");
    let threads = 4;
    let barrier = Arc::new(Barrier::new(threads));
    let handles: Vec<_> = (0..threads)
        .map(|n| {
            let barrier = Arc::clone(&barrier);
            let root = root.path().to_path_buf();
            thread::spawn(move || {
                barrier.wait();
                let store = Store::open(&root).unwrap();
                for i in 0..10u64 {
                    let object = register_bytes(&store, format!("thread {n} object {i}").as_bytes());
                    let shared = register_bytes(&store, b"shared by every thread");
                    let k = key(1000 + n as u64 * 100 + i);
                    store.put_step(&k, "step").unwrap();
                    store.put_realisation(&realisation(k.clone(), object.hash)).unwrap();
                    assert_eq!(store.realisation(&k).unwrap().unwrap().output, object.hash);
                    assert!(store.has_object(&shared.hash).unwrap());
                }
            })
        })
        .collect();
    for handle in handles {
        handle.join().unwrap();
    }
    let store = Store::open(root.path()).unwrap();
    let report = store.verify(false).unwrap();
    assert_eq!(report.checked, threads as u64 * 10 + 1);
    assert!(report.is_clean(), "{report:?}");
}

#[test]
fn open_removes_scratch_left_by_dead_processes_only() {
    let root = TempDir::new("stale-scratch");
    let store = Store::open(root.path()).unwrap();
    let live = store.scratch("live").unwrap();
    let dead = root.path().join("scratch/dead-1-0-0");
    fs::create_dir_all(dead.join("sub")).unwrap();
    fs::write(dead.join("sub/file"), b"x").unwrap();
    fs::set_permissions(dead.join("sub"), fs::Permissions::from_mode(0o555)).unwrap();
    fs::write(root.path().join("scratch/dead-1-0-0.lock"), b"").unwrap();
    let kept = store.scratch("kept").unwrap().keep().unwrap();

    let _again = Store::open(root.path()).unwrap();
    assert!(!dead.exists());
    assert!(live.path().is_dir());
    assert!(kept.is_dir());
}

#[test]
fn errors_name_the_path_and_action() {
    let error = StoreError::NoSpace { action: "write", path: PathBuf::from("/store/scratch/x") };
    assert!(error.is_no_space());
    assert_eq!(
        error.to_string(),
        "no space left on the device holding the store (while trying to write /store/scratch/x)"
    );
    let root = TempDir::new("errors");
    let file = root.path().join("file");
    fs::write(&file, b"").unwrap();
    // A store cannot be created under a regular file.
    let error = Store::open(&file.join("store")).unwrap_err();
    assert!(matches!(&error, StoreError::Io { path, .. } if path.starts_with(&file)), "{error:?}");
    assert!(error.to_string().contains(&file.display().to_string()));
}

#[test]
fn sizes_are_apparent_and_freed_bytes_are_allocated() {
    let root = TempDir::new("sparse");
    let store = Store::open(root.path()).unwrap();
    let scratch = store.scratch("sparse").unwrap();
    let image = scratch.path().join("disk.raw");
    {
        use std::io::{Seek, SeekFrom, Write};
        let mut file = fs::File::create(&image).unwrap();
        file.set_len(1 << 30).unwrap();
        file.seek(SeekFrom::Start(1 << 29)).unwrap();
        file.write_all(&[1; 4096]).unwrap();
    }
    let object = store.register(&image).unwrap();
    assert_eq!(object.size, 1 << 30, "the size counts the holes");
    let report = store.gc().unwrap();
    assert_eq!(report.objects_deleted, 1);
    assert!(report.bytes_freed >= 4096, "{report:?}");
    assert!(report.bytes_freed < 1 << 20, "only allocated blocks count: {report:?}");
}
