//! `testBoot` steps, for real: QEMU boots a disk with SeaBIOS or OVMF and
//! the step waits for a line on the serial console.

mod support;

use std::process::Command;
use support::{Project, stderr, vm_package_dir};

/// A boot sector that prints `IMGX-BIOS-OK` to COM1 and halts:
/// `xor ax, ax; mov ds, ax; cld; mov si, msg; mov dx, 0x3f8;
/// next: lodsb; test al, al; jz done; out dx, al; jmp next;
/// done: cli; hlt; jmp $-1; msg: db "IMGX-BIOS-OK", 13, 10, 0`.
fn marker_disk() -> Vec<u8> {
    let mut code = vec![
        0x31, 0xC0, 0x8E, 0xD8, 0xFC, 0xBE, 0x17, 0x7C, 0xBA, 0xF8, 0x03, 0xAC, 0x84, 0xC0, 0x74, 0x03, 0xEE, 0xEB,
        0xF8, 0xFA, 0xF4, 0xEB, 0xFD,
    ];
    code.extend_from_slice(b"IMGX-BIOS-OK\r\n\0");
    let mut disk = vec![0u8; 1024 * 1024];
    disk[..code.len()].copy_from_slice(&code);
    disk[510] = 0x55;
    disk[511] = 0xAA;
    disk
}

fn bios_project(name: &str, expect: &str, timeout: u64) -> Project {
    let project = Project::new(name);
    std::fs::write(project.dir.join("boot.img"), marker_disk()).expect("write disk");
    project.write(
        "default.nix",
        &format!(
            r#"builtins.step {{ kind = "testBoot"; name = "boots"; disk = ./boot.img; firmware = "bios";
               expect = "{expect}"; timeout = {timeout}; memory = 64; }}"#
        ),
    );
    project
}

#[test]
fn a_bios_boot_succeeds_when_the_marker_appears() {
    let project = bios_project("bios-ok", "IMGX-BIOS-OK", 120);
    let output = project.imgx(&["build"]);
    assert!(output.status.success(), "{}", stderr(&output));
    let transcript = std::fs::read_to_string(project.dir.join("result")).expect("transcript");
    assert!(transcript.ends_with("IMGX-BIOS-OK\n"), "{transcript:?}");
    // The input is never changed.
    assert_eq!(std::fs::read(project.dir.join("boot.img")).expect("disk"), marker_disk());
}

#[test]
fn a_bios_boot_without_the_expected_line_fails_with_the_console() {
    let project = bios_project("bios-missing", "never printed", 8);
    let output = project.imgx(&["build"]);
    assert_eq!(output.status.code(), Some(3), "{}", stderr(&output));
    let text = stderr(&output);
    assert!(text.contains("'never printed' did not appear"), "{text}");
    assert!(text.contains("within 8 s"), "{text}");
    assert!(text.contains("IMGX-BIOS-OK"), "the console's tail is shown: {text}");
}

#[test]
fn a_bad_firmware_is_an_evaluation_error() {
    let project = bios_project("bios-bad", "x", 10);
    project.write(
        "default.nix",
        r#"builtins.step { kind = "testBoot"; name = "boots"; disk = ./boot.img; firmware = "coreboot"; expect = "x"; }"#,
    );
    let output = project.imgx(&["build"]);
    assert_eq!(output.status.code(), Some(1), "{}", stderr(&output));
    assert!(stderr(&output).contains("unknown firmware 'coreboot'"), "{}", stderr(&output));
}

/// A GPT disk made by the `disk` step whose ESP holds the Debian cloud
/// kernel as `EFI/BOOT/BOOTX64.EFI` (the kernel is an EFI executable).
/// The expected line is OVMF's own `BdsDxe: starting Boot0001 …`: OVMF
/// prints it on the serial console only after it found the ESP through
/// the GPT and loaded the file as a valid EFI image (a broken one gives
/// `BdsDxe: failed to load …`). The kernel itself prints nothing on the
/// serial port when started without a command line (no `console=ttyS0`),
/// so this is the last line that proves the image is bootable.
#[test]
fn a_uefi_boot_of_a_gpt_disk_reaches_its_efi_program() {
    let project = Project::new("uefi");
    let package = std::fs::read_dir(vm_package_dir())
        .expect("the VM package folder (scripts/deps --test)")
        .filter_map(|entry| entry.ok().map(|e| e.path()))
        .find(|path| path.file_name().is_some_and(|n| n.to_string_lossy().starts_with("linux-image-")))
        .expect("a kernel package");
    let unpacked = project.dir.join("kernel");
    let status = Command::new("dpkg-deb").arg("-x").arg(&package).arg(&unpacked).status().expect("dpkg-deb runs");
    assert!(status.success());
    let vmlinuz = std::fs::read_dir(unpacked.join("boot"))
        .expect("boot folder")
        .filter_map(|entry| entry.ok().map(|e| e.path()))
        .find(|path| path.file_name().is_some_and(|n| n.to_string_lossy().starts_with("vmlinuz-")))
        .expect("vmlinuz");
    std::fs::create_dir_all(project.dir.join("esp/EFI/BOOT")).expect("mkdir");
    std::fs::copy(&vmlinuz, project.dir.join("esp/EFI/BOOT/BOOTX64.EFI")).expect("copy kernel");
    project.write(
        "default.nix",
        r#"let
  image = builtins.step {
    kind = "disk"; name = "uefi"; size = "64M"; table = "gpt";
    partitions = [ { label = "ESP"; type = "esp"; size = "rest"; fs = "vfat"; contents = ./esp; } ];
  };
in (import <imgx>).testBoot { disk = image; firmware = "uefi"; expect = "BdsDxe: starting Boot"; memory = 256; timeout = 300; }
"#,
    );
    let output = project.imgx(&["build"]);
    assert!(output.status.success(), "{}", stderr(&output));
    let transcript = std::fs::read_to_string(project.dir.join("result")).expect("transcript");
    assert!(transcript.lines().last().is_some_and(|l| l.starts_with("BdsDxe: starting Boot")), "{transcript}");
}
