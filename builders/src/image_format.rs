//! Recognising a disk image's container format by its magic, so that steps
//! which take raw disks refuse the others and QEMU is told the right
//! `format=`. Formats are never probed by QEMU itself.

use crate::builder::BuildError;
use std::os::unix::fs::FileExt;
use std::path::Path;

/// A disk image's container format.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ImageFormat {
    /// A raw disk (boot code or zeros at the start).
    Raw,
    /// QEMU's qcow2.
    Qcow2,
    /// VMDK, sparse (`KDMV`) or a descriptor file.
    Vmdk,
    /// VHD: dynamic (the footer's copy at the start) or fixed (a raw disk
    /// followed by a footer in its last sector).
    Vhd {
        /// Whether the data is a raw disk with only a footer after it.
        fixed: bool,
    },
    /// VHDX.
    Vhdx,
}

impl ImageFormat {
    /// The format of the image at `path`.
    pub fn detect(path: &Path) -> Result<ImageFormat, BuildError> {
        let file = std::fs::File::open(path).map_err(|e| BuildError::io("opening", path, e))?;
        let mut start = [0u8; 8];
        let n = file.read_at(&mut start, 0).map_err(|e| BuildError::io("reading", path, e))?;
        let start = &start[..n];
        let magics: [(&[u8], ImageFormat); 5] = [
            (b"QFI\xfb", ImageFormat::Qcow2),
            (b"KDMV", ImageFormat::Vmdk),
            (b"# Disk D", ImageFormat::Vmdk),
            (b"vhdxfile", ImageFormat::Vhdx),
            (b"conectix", ImageFormat::Vhd { fixed: false }),
        ];
        if let Some((_, format)) = magics.iter().find(|(magic, _)| start.starts_with(magic)) {
            return Ok(*format);
        }
        let size = file.metadata().map_err(|e| BuildError::io("reading", path, e))?.len();
        if size >= 512 {
            let mut footer = [0u8; 8];
            file.read_exact_at(&mut footer, size - 512).map_err(|e| BuildError::io("reading", path, e))?;
            if &footer == b"conectix" {
                return Ok(ImageFormat::Vhd { fixed: true });
            }
        }
        Ok(ImageFormat::Raw)
    }

    /// The name people and `fetch`'s `unpack` use: raw, qcow2, vmdk, vhd, vhdx.
    pub fn name(self) -> &'static str {
        match self {
            ImageFormat::Raw => "raw",
            ImageFormat::Qcow2 => "qcow2",
            ImageFormat::Vmdk => "vmdk",
            ImageFormat::Vhd { .. } => "vhd",
            ImageFormat::Vhdx => "vhdx",
        }
    }

    /// The name QEMU's `format=` and `qemu-img -f` take.
    pub fn qemu_name(self) -> &'static str {
        match self {
            ImageFormat::Vhd { .. } => "vpc",
            other => other.name(),
        }
    }

    /// Whether the bytes can be used as a raw disk: a raw image, or a fixed
    /// VHD (whose footer lies past the last partition).
    pub fn is_raw_disk(self) -> bool {
        matches!(self, ImageFormat::Raw | ImageFormat::Vhd { fixed: true })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_are_told_by_their_magic() {
        let dir = std::env::temp_dir().join(format!("imgx-image-format-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let check = |name: &str, bytes: Vec<u8>, expected: ImageFormat| {
            let path = dir.join(name);
            std::fs::write(&path, bytes).unwrap();
            assert_eq!(ImageFormat::detect(&path).unwrap(), expected, "{name}");
        };
        let mut fixed = vec![0u8; 2048];
        fixed[1536..1544].copy_from_slice(b"conectix");
        check("raw", vec![0u8; 1024], ImageFormat::Raw);
        check("short", b"QF".to_vec(), ImageFormat::Raw);
        check("qcow2", b"QFI\xfb\0\0\0\x03".to_vec(), ImageFormat::Qcow2);
        check("descriptor", b"# Disk DescriptorFile\n".to_vec(), ImageFormat::Vmdk);
        check("dynamic", b"conectix\0\0".to_vec(), ImageFormat::Vhd { fixed: false });
        check("fixed", fixed, ImageFormat::Vhd { fixed: true });
        assert_eq!(ImageFormat::Vhd { fixed: true }.qemu_name(), "vpc");
        assert!(ImageFormat::Vhd { fixed: true }.is_raw_disk() && !ImageFormat::Qcow2.is_raw_disk());
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
