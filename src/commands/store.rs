//! `imgx store gc | verify | info`.

use super::{EXIT_STORE, Failure, open_store};
use crate::cli::StoreCommand;
use imgx_store::hash::ObjectHash;

fn store_failure(error: impl std::fmt::Display) -> Failure {
    Failure::with_code(miette::miette!("{error}"), EXIT_STORE)
}

/// Bytes in a human unit.
pub fn human_bytes(bytes: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut value = bytes as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit + 1 < UNITS.len() {
        value /= 1024.0;
        unit += 1;
    }
    if unit == 0 { format!("{bytes} B") } else { format!("{value:.1} {}", UNITS[unit]) }
}

pub fn run(command: StoreCommand) -> Result<(), Failure> {
    let store = open_store()?;
    match command {
        StoreCommand::Gc => {
            let report = store.gc().map_err(store_failure)?;
            println!("deleted {} object(s), freed {}", report.objects_deleted, human_bytes(report.bytes_freed));
            Ok(())
        }
        StoreCommand::Verify { quarantine, report_only } => {
            let options =
                imgx_store::VerifyOptions { quarantine_corrupt: !report_only, remove_unregistered: quarantine };
            let report = store.verify_with(options).map_err(store_failure)?;
            for corrupt in &report.corrupt {
                println!("corrupt: {corrupt}");
            }
            for moved in &report.quarantined {
                println!("quarantined: {}", moved.display());
            }
            println!("checked {} object(s): {} corrupt", report.checked, report.corrupt.len());
            let unsynced = store.unsynced_count().map_err(store_failure)?;
            if unsynced > 0 {
                println!(
                    "{unsynced} object(s) not yet confirmed on the disk: an imgx command run a minute \
                     after their registration syncs them, and after a crash they are rehashed before any use"
                );
            }
            if report.corrupt.is_empty() {
                Ok(())
            } else {
                let advice = if report_only {
                    "run `imgx store verify` without --report-only to move them aside"
                } else {
                    "they were moved to the quarantine folder and forgotten; the next build replaces them"
                };
                Err(Failure::with_code(
                    miette::miette!("{} corrupt object(s): {advice}", report.corrupt.len()),
                    EXIT_STORE,
                ))
            }
        }
        StoreCommand::Info { what } => info(&store, &what),
    }
}

fn info(store: &imgx_store::Store, what: &str) -> Result<(), Failure> {
    let name = std::path::Path::new(what)
        .canonicalize()
        .ok()
        .and_then(|p| p.file_name().map(|n| n.to_string_lossy().into_owned()))
        .unwrap_or_else(|| what.to_string());
    if let Some(hash) = ObjectHash::from_hex(&name)
        && let Some(info) = store.object_info(&hash).map_err(store_failure)?
    {
        println!("object:   {}", info.hash);
        println!("kind:     {:?}", info.kind);
        println!("size:     {} ({} bytes)", human_bytes(info.size), info.size);
        println!("path:     {}", info.path.display());
        return Ok(());
    }
    if let Some(serialisation) = store.step(what).map_err(store_failure)? {
        println!("step:     {what}");
        if let Some(realisation) = store.realisation(what).map_err(store_failure)? {
            println!("output:   {}", realisation.output);
            println!("built by: {} in {} ms", realisation.builder_version, realisation.duration_ms);
        } else {
            println!("output:   (not built)");
        }
        println!("{serialisation}");
        return Ok(());
    }
    Err(Failure::new(miette::miette!("'{what}' is neither a store object nor a known step")))
}
