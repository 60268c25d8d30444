//! Child processes that must not outlive the build that started them.

use std::os::unix::process::CommandExt;
use std::process::Command;

/// Makes the kernel kill the command's process if the thread that started
/// it dies, so no VM outlives an interrupted build.
#[allow(unsafe_code)]
pub(crate) fn die_with_parent(command: &mut Command) {
    // SAFETY: the closure runs between fork and exec and only calls prctl,
    // which is async-signal-safe and touches no memory of ours.
    unsafe {
        command.pre_exec(|| {
            if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) == -1 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
}

/// Reads a child's piped stderr on a thread of its own, so that a child
/// writing more than a pipe holds never blocks waiting for us; join the
/// handle for the text once the child has exited.
pub(crate) fn collect_stderr(child: &mut std::process::Child) -> std::thread::JoinHandle<String> {
    let pipe = child.stderr.take();
    std::thread::spawn(move || {
        let mut text = String::new();
        if let Some(mut pipe) = pipe {
            let _ = std::io::Read::read_to_string(&mut pipe, &mut text);
        }
        text
    })
}
