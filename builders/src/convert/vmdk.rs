//! VMDK: the random content id (`CID`) in the embedded descriptor.
//!
//! qemu-img writes a new random `CID` whenever it opens a VMDK for writing.
//! It is the only field that differs between runs, for both subformats:
//! `monolithicSparse` and `streamOptimized` both embed a text descriptor
//! (`CID=xxxxxxxx`, eight hex digits) in the sectors the sparse header
//! points at. The footer of a `streamOptimized` image repeats the binary
//! header (offsets and sizes, no CID) and needs no change; `parentCID` is
//! always `ffffffff` (no parent).

use crate::builder::BuildError;
use std::fs::OpenOptions;
use std::os::unix::fs::FileExt;
use std::path::Path;

/// `KDMV`, the sparse extent header's magic number (little-endian).
const MAGIC: &[u8; 4] = b"KDMV";

/// Sets the descriptor's `CID` to `cid`.
pub(super) fn patch(image: &Path, cid: u32) -> Result<(), BuildError> {
    let file =
        OpenOptions::new().read(true).write(true).open(image).map_err(|e| BuildError::io("opening", image, e))?;
    let invalid = |what: &str| BuildError::Failed(format!("qemu-img wrote an unexpected VMDK: {what}"));
    let mut header = [0u8; 512];
    file.read_exact_at(&mut header, 0).map_err(|e| BuildError::io("reading the header of", image, e))?;
    if &header[0..4] != MAGIC {
        return Err(invalid("no sparse extent header"));
    }
    let field = |at: usize| u64::from_le_bytes(header[at..at + 8].try_into().expect("8 bytes"));
    let (offset, sectors) = (field(28), field(36));
    if offset == 0 || sectors == 0 || sectors > 2048 {
        return Err(invalid("no embedded descriptor"));
    }
    let mut descriptor = vec![0u8; sectors as usize * 512];
    file.read_exact_at(&mut descriptor, offset * 512)
        .map_err(|e| BuildError::io("reading the descriptor of", image, e))?;
    let at = set_cid(&mut descriptor, cid).map_err(invalid)?;
    file.write_all_at(&descriptor[at..], offset * 512 + at as u64)
        .map_err(|e| BuildError::io("writing the descriptor of", image, e))
}

/// Replaces the digits of the line `CID=…` in a descriptor with eight hex
/// digits; returns where they start. qemu-img writes the CID without
/// leading zeros, so the line may be shorter: the rest of the descriptor
/// then moves into the zero padding that ends the descriptor area.
fn set_cid(descriptor: &mut [u8], cid: u32) -> Result<usize, &'static str> {
    let text = &descriptor[..];
    let line_start = |at: usize| at == 0 || text[at - 1] == b'\n';
    let find = |needle: &[u8]| {
        (0..text.len().saturating_sub(needle.len())).find(|&at| line_start(at) && text[at..].starts_with(needle))
    };
    if find(b"parentCID=ffffffff").is_none() {
        return Err("the descriptor names a parent");
    }
    let at = find(b"CID=").ok_or("the descriptor has no CID")? + 4;
    let length = text[at..].iter().take_while(|b| b.is_ascii_hexdigit()).count();
    if !(1..=8).contains(&length) || !matches!(text.get(at + length), Some(b'\n' | b'\r')) {
        return Err("the descriptor's CID is not one to eight hex digits");
    }
    let grow = 8 - length;
    let end = descriptor.len();
    if descriptor[end - grow..].iter().any(|&b| b != 0) {
        return Err("the descriptor has no room for an eight-digit CID");
    }
    descriptor.copy_within(at + length..end - grow, at + 8);
    descriptor[at..at + 8].copy_from_slice(format!("{cid:08x}").as_bytes());
    Ok(at)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_cids_are_widened_into_the_padding() {
        let mut bytes = b"CID=9c449c9\nparentCID=ffffffff\nend\n\0\0\0".to_vec();
        set_cid(&mut bytes, 0xabcdef01).expect("patched");
        assert_eq!(&bytes[..], b"CID=abcdef01\nparentCID=ffffffff\nend\n\0\0");
    }

    #[test]
    fn replaces_the_cid_and_nothing_else() {
        let text =
            "# Disk DescriptorFile\nversion=1\nCID=19c449c9\nparentCID=ffffffff\ncreateType=\"monolithicSparse\"\n";
        let mut bytes = text.as_bytes().to_vec();
        bytes.resize(512, 0);
        let at = set_cid(&mut bytes, 0xabc).expect("patched");
        let patched = String::from_utf8_lossy(&bytes[..text.len()]).into_owned();
        assert_eq!(patched, text.replace("19c449c9", "00000abc"));
        assert_eq!(&bytes[at..at + 8], b"00000abc");
    }

    #[test]
    fn refuses_descriptors_with_a_parent() {
        let mut bytes = b"CID=19c449c9\nparentCID=12345678\n".to_vec();
        assert!(set_cid(&mut bytes, 1).is_err());
    }
}
