//! Uncompressed qcow2, written by imgx itself: one pass over the raw
//! disk's data that copies each cluster holding data, leaves out the ones
//! that hold only zeros, and hashes the image's blocks on the way, so that
//! registering the image does not read it back.
//!
//! The image is qcow2 version 3 with 64 KiB clusters and 16-bit refcounts
//! (what `qemu-img create -o compat=1.1,cluster_size=65536,refcount_bits=16`
//! makes), every table in front of the data:
//!
//! | clusters        | what                                                        |
//! |-----------------|-------------------------------------------------------------|
//! | 0               | the header, then the end of the header extensions           |
//! | L1 table        | one entry per 512 MiB of the virtual disk                   |
//! | refcount table  | one entry per refcount block                                |
//! | refcount blocks | one 16-bit count per cluster of the image file              |
//! | L2 tables       | one per 512 MiB of the virtual disk that the raw file has data in |
//! | data            | one slot per virtual cluster that the raw file has data in, in order |
//!
//! The raw file's data extents (`SEEK_DATA`) alone give the size of every
//! table, so the data can be written at its final place while it is read.
//! A slot whose cluster turns out to hold only zeros is not written: it
//! stays a hole of the image file with a refcount of 0, and its L2 entry
//! says "unallocated", which reads as zeros. Nothing but the input's bytes
//! goes into the image, so the same disk always gives the same image.

use std::fs::{File, OpenOptions};
use std::io;
use std::os::unix::fs::FileExt;
use std::path::Path;

use imgx_store::hash::{BLOCK_LEN, ContentHasher, ObjectHash, TAG_FILE, block_digest, data_extents, object_hash};
use rayon::prelude::*;

/// The cluster size: also the store's hash block, so that every cluster is
/// hashed as one block.
const CLUSTER: u64 = 64 * 1024;
const _: () = assert!(CLUSTER == BLOCK_LEN);
/// L2 entries in one L2 table (each maps one cluster).
const L2_ENTRIES: u64 = CLUSTER / 8;
/// Refcounts in one refcount block (16 bits each).
const REFCOUNTS_PER_BLOCK: u64 = CLUSTER / 2;
/// Set in L1 and L2 entries whose cluster has a refcount of exactly 1.
const COPIED: u64 = 1 << 63;
/// The header's length in bytes (version 3 without the optional fields).
const HEADER_LEN: u32 = 104;
/// Slots read, hashed and written per batch (32 MiB).
const BATCH: usize = 512;

/// 64 KiB of zeros, to recognise clusters that need not be written.
static ZEROS: [u8; CLUSTER as usize] = [0; CLUSTER as usize];

/// A written image.
#[derive(Debug)]
pub(super) struct Written {
    /// The store's hash of the image file as written (mode bits aside: a
    /// plain file).
    pub hash: ObjectHash,
    /// How many data clusters it holds.
    pub data_clusters: u64,
}

/// Where each table starts (in clusters) and how long it is.
#[derive(Debug, PartialEq, Eq)]
struct Layout {
    virtual_size: u64,
    l1_entries: u64,
    l1_start: u64,
    refcount_table_start: u64,
    refcount_table_clusters: u64,
    refcount_blocks_start: u64,
    refcount_blocks: u64,
    l2_start: u64,
    /// The L1 index of each L2 table, in order.
    l2_tables: Vec<u64>,
    data_start: u64,
    /// The virtual cluster of each data slot, in order.
    slots: Vec<u64>,
}

impl Layout {
    /// Lays out an image of `virtual_size` bytes whose data lies in the
    /// virtual clusters `slots` (sorted, distinct).
    fn new(virtual_size: u64, slots: Vec<u64>) -> Layout {
        let clusters = virtual_size.div_ceil(CLUSTER);
        let l1_entries = clusters.div_ceil(L2_ENTRIES).max(1);
        let l1_clusters = (l1_entries * 8).div_ceil(CLUSTER);
        let mut l2_tables: Vec<u64> = slots.iter().map(|slot| slot / L2_ENTRIES).collect();
        l2_tables.dedup();
        // The refcount blocks count themselves and the refcount table:
        // grow both until they cover every cluster the file can have.
        let fixed = 1 + l1_clusters + len64(l2_tables.len()) + len64(slots.len());
        let (mut blocks, mut table) = (1, 1);
        loop {
            let total = fixed + table + blocks;
            let needed_blocks = total.div_ceil(REFCOUNTS_PER_BLOCK);
            let needed_table = (needed_blocks * 8).div_ceil(CLUSTER);
            if (needed_blocks, needed_table) == (blocks, table) {
                break;
            }
            (blocks, table) = (needed_blocks.max(blocks), needed_table.max(table));
        }
        let l1_start = 1;
        let refcount_table_start = l1_start + l1_clusters;
        let refcount_blocks_start = refcount_table_start + table;
        let l2_start = refcount_blocks_start + blocks;
        let data_start = l2_start + len64(l2_tables.len());
        Layout {
            virtual_size,
            l1_entries,
            l1_start,
            refcount_table_start,
            refcount_table_clusters: table,
            refcount_blocks_start,
            refcount_blocks: blocks,
            l2_start,
            l2_tables,
            data_start,
            slots,
        }
    }

    /// The header cluster's first bytes.
    fn header(&self) -> Vec<u8> {
        let mut header = Vec::with_capacity(HEADER_LEN as usize + 8);
        header.extend_from_slice(b"QFI\xfb");
        header.extend_from_slice(&3u32.to_be_bytes()); // version
        header.extend_from_slice(&0u64.to_be_bytes()); // backing file offset
        header.extend_from_slice(&0u32.to_be_bytes()); // backing file name length
        header.extend_from_slice(&16u32.to_be_bytes()); // cluster bits
        header.extend_from_slice(&self.virtual_size.to_be_bytes());
        header.extend_from_slice(&0u32.to_be_bytes()); // no encryption
        header.extend_from_slice(&u32::try_from(self.l1_entries).unwrap_or(u32::MAX).to_be_bytes());
        header.extend_from_slice(&(self.l1_start * CLUSTER).to_be_bytes());
        header.extend_from_slice(&(self.refcount_table_start * CLUSTER).to_be_bytes());
        header.extend_from_slice(&u32::try_from(self.refcount_table_clusters).unwrap_or(u32::MAX).to_be_bytes());
        header.extend_from_slice(&0u32.to_be_bytes()); // snapshots
        header.extend_from_slice(&0u64.to_be_bytes()); // snapshots offset
        header.extend_from_slice(&0u64.to_be_bytes()); // incompatible features
        header.extend_from_slice(&0u64.to_be_bytes()); // compatible features
        header.extend_from_slice(&0u64.to_be_bytes()); // autoclear features
        header.extend_from_slice(&4u32.to_be_bytes()); // refcount order: 16 bits
        header.extend_from_slice(&HEADER_LEN.to_be_bytes());
        debug_assert_eq!(header.len(), HEADER_LEN as usize);
        header.extend_from_slice(&[0; 8]); // end of the header extensions
        header
    }
}

fn len64(len: usize) -> u64 {
    len as u64
}

/// The virtual clusters that the data extents of a raw file touch.
fn clusters_with_data(extents: &[(u64, u64)]) -> Vec<u64> {
    let mut clusters: Vec<u64> = Vec::new();
    for &(start, end) in extents {
        let first = start / CLUSTER;
        let first = match clusters.last() {
            Some(&last) if last >= first => last + 1,
            _ => first,
        };
        clusters.extend(first..end.div_ceil(CLUSTER));
    }
    clusters
}

/// Writes the raw disk image at `raw` as qcow2 to `out` (created; it must
/// not exist), with a virtual size of the raw file's length.
pub(super) fn write(raw: &Path, out: &Path) -> io::Result<Written> {
    let input = File::open(raw)?;
    let len = input.metadata()?.len();
    let extents = data_extents(&input, len)?;
    let layout = Layout::new(len, clusters_with_data(&extents));
    let image = OpenOptions::new().write(true).create_new(true).open(out)?;

    // The data, batch by batch: read, compare with zeros, hash and write
    // each slot on rayon's pool.
    let mut data: Vec<Option<[u8; 32]>> = Vec::with_capacity(layout.slots.len());
    for (batch_index, batch) in layout.slots.chunks(BATCH).enumerate() {
        let first_slot = batch_index * BATCH;
        let digests = batch
            .par_iter()
            .enumerate()
            .map_init(
                || vec![0u8; CLUSTER as usize],
                |buffer, (index, &cluster)| -> io::Result<Option<[u8; 32]>> {
                    let offset = cluster * CLUSTER;
                    let filled = (len - offset).min(CLUSTER) as usize;
                    input.read_exact_at(&mut buffer[..filled], offset)?;
                    buffer[filled..].fill(0);
                    if buffer[..] == ZEROS[..] {
                        return Ok(None);
                    }
                    let place = (layout.data_start + len64(first_slot + index)) * CLUSTER;
                    image.write_all_at(buffer, place)?;
                    Ok(Some(block_digest(buffer)))
                },
            )
            .collect::<io::Result<Vec<_>>>()?;
        data.extend(digests);
    }

    // The tables, now that it is known which slots hold data.
    let mut l1 = vec![0u64; layout.l1_entries as usize];
    let mut l2: Vec<Vec<u64>> = vec![Vec::new(); layout.l2_tables.len()];
    let mut used: Vec<u64> = Vec::new(); // clusters with a refcount of 1, in order
    used.push(0);
    used.extend(layout.l1_start..layout.refcount_blocks_start + layout.refcount_blocks);
    let mut table_of_slot = 0;
    for (slot, (&cluster, digest)) in layout.slots.iter().zip(&data).enumerate() {
        while layout.l2_tables[table_of_slot] != cluster / L2_ENTRIES {
            table_of_slot += 1;
        }
        if digest.is_some() {
            let entries = &mut l2[table_of_slot];
            if entries.is_empty() {
                entries.resize(L2_ENTRIES as usize, 0);
            }
            entries[(cluster % L2_ENTRIES) as usize] = ((layout.data_start + len64(slot)) * CLUSTER) | COPIED;
        }
    }
    for (index, (&l1_index, entries)) in layout.l2_tables.iter().zip(&l2).enumerate() {
        if !entries.is_empty() {
            let cluster = layout.l2_start + len64(index);
            l1[l1_index as usize] = (cluster * CLUSTER) | COPIED;
            used.push(cluster);
        }
    }
    used.extend(data.iter().enumerate().filter(|(_, d)| d.is_some()).map(|(slot, _)| layout.data_start + len64(slot)));

    let mut metadata: Vec<(u64, Vec<u8>)> = Vec::new();
    let mut header = layout.header();
    header.resize(CLUSTER as usize, 0);
    metadata.push((0, header));
    metadata.extend(table_clusters(layout.l1_start, &l1));
    let refcount_table: Vec<u64> =
        (0..layout.refcount_blocks).map(|block| (layout.refcount_blocks_start + block) * CLUSTER).collect();
    metadata.extend(table_clusters(layout.refcount_table_start, &refcount_table));
    let mut refcounts = vec![vec![0u8; CLUSTER as usize]; layout.refcount_blocks as usize];
    for &cluster in &used {
        let at = ((cluster % REFCOUNTS_PER_BLOCK) * 2) as usize;
        refcounts[(cluster / REFCOUNTS_PER_BLOCK) as usize][at..at + 2].copy_from_slice(&1u16.to_be_bytes());
    }
    for (block, counts) in refcounts.into_iter().enumerate() {
        metadata.push((layout.refcount_blocks_start + len64(block), counts));
    }
    for (index, entries) in l2.iter().enumerate() {
        if !entries.is_empty() {
            metadata.extend(table_clusters(layout.l2_start + len64(index), entries));
        }
    }
    let mut digests: Vec<(u64, [u8; 32])> = Vec::with_capacity(metadata.len() + used.len());
    for (cluster, bytes) in &metadata {
        image.write_all_at(bytes, cluster * CLUSTER)?;
        digests.push((*cluster, block_digest(bytes)));
    }
    let end = used.iter().max().map_or(CLUSTER, |last| (last + 1) * CLUSTER);
    image.set_len(end)?;

    // The image's hash: its blocks in order, holes where nothing was written.
    digests.extend(
        data.iter()
            .enumerate()
            .filter_map(|(slot, digest)| digest.map(|digest| (layout.data_start + len64(slot), digest))),
    );
    digests.sort_unstable_by_key(|(cluster, _)| *cluster);
    let mut hasher = ContentHasher::new(end);
    for (cluster, digest) in &digests {
        hasher.block_digests(*cluster, std::slice::from_ref(digest));
    }
    let data_clusters = len64(data.iter().flatten().count());
    Ok(Written { hash: object_hash(TAG_FILE, hasher.finish()), data_clusters })
}

/// A table of big-endian 64-bit entries starting at cluster `start`, cut
/// into clusters (the last one padded with zeros).
fn table_clusters(start: u64, entries: &[u64]) -> Vec<(u64, Vec<u8>)> {
    let bytes: Vec<u8> = entries.iter().flat_map(|entry| entry.to_be_bytes()).collect();
    bytes
        .chunks(CLUSTER as usize)
        .enumerate()
        .map(|(index, chunk)| {
            let mut cluster = chunk.to_vec();
            cluster.resize(CLUSTER as usize, 0);
            (start + len64(index), cluster)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    use std::process::Command;

    /// A scratch folder removed when dropped.
    struct TempDir(std::path::PathBuf);

    impl Drop for TempDir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    fn qemu_img(args: &[&str]) -> std::process::Output {
        Command::new("qemu-img").args(args).output().expect("qemu-img runs (scripts/deps installs qemu-utils)")
    }

    #[test]
    fn images_read_back_as_their_disk_and_hash_as_the_store_hashes_them() {
        let dir = TempDir(std::env::temp_dir().join(format!("imgx-qcow2-test-{}", std::process::id())));
        std::fs::create_dir_all(&dir.0).unwrap();
        // 1 GiB and a sector, sparse: data at the start, a written cluster
        // of zeros, data across an L2 table's boundary (512 MiB) and in the
        // short last cluster.
        let raw = dir.0.join("disk.raw");
        let file = File::create(&raw).unwrap();
        file.set_len((1 << 30) + 512).unwrap();
        file.write_all_at(&[0xab; 100_000], 4096).unwrap();
        file.write_all_at(&vec![0; CLUSTER as usize], 3 * CLUSTER).unwrap();
        file.write_all_at(&[0xcd; 3 * 4096], (512 << 20) - 4096).unwrap();
        file.write_all_at(b"last sector", 1 << 30).unwrap();
        drop(file);

        let image = dir.0.join("disk.qcow2");
        let written = write(&raw, &image).unwrap();
        assert_eq!(written.hash, imgx_store::hash::hash_path(&image).unwrap(), "hashed as written");
        // Clusters 0, 1 (the 100,000 bytes), the two around 512 MiB and the
        // last; not the cluster of zeros.
        assert_eq!(written.data_clusters, 5);
        let check = qemu_img(&["check", "-f", "qcow2", image.to_str().unwrap()]);
        assert!(check.status.success(), "{}", String::from_utf8_lossy(&check.stdout));
        let compare =
            qemu_img(&["compare", "-f", "raw", "-F", "qcow2", raw.to_str().unwrap(), image.to_str().unwrap()]);
        assert!(compare.status.success(), "{}", String::from_utf8_lossy(&compare.stdout));
        let info = qemu_img(&["info", "--output=json", image.to_str().unwrap()]);
        let info: serde_json::Value = serde_json::from_slice(&info.stdout).unwrap();
        assert_eq!(info["virtual-size"], (1u64 << 30) + 512);
        assert_eq!(info["format"], "qcow2");
        assert!(std::fs::metadata(&image).unwrap().len() <= 13 * CLUSTER, "only the tables and the data are stored");

        // The same disk gives the same bytes; an existing output is refused.
        let again = dir.0.join("again.qcow2");
        assert_eq!(write(&raw, &again).unwrap().hash, written.hash);
        assert_eq!(write(&raw, &again).unwrap_err().kind(), io::ErrorKind::AlreadyExists);

        // A disk without data is an image of tables only.
        let empty = dir.0.join("empty.raw");
        File::create(&empty).unwrap().set_len(1 << 20).unwrap();
        let image = dir.0.join("empty.qcow2");
        let written = write(&empty, &image).unwrap();
        assert_eq!(written.data_clusters, 0);
        assert_eq!(written.hash, imgx_store::hash::hash_path(&image).unwrap());
        let compare =
            qemu_img(&["compare", "-f", "raw", "-F", "qcow2", empty.to_str().unwrap(), image.to_str().unwrap()]);
        assert!(compare.status.success());
    }

    #[test]
    fn clusters_of_extents_are_sorted_and_distinct() {
        let extents = [(0, 4096), (8192, 70_000), (70_000, 70_001), (CLUSTER * 5 + 1, CLUSTER * 6 + 1)];
        assert_eq!(clusters_with_data(&extents), vec![0, 1, 5, 6]);
        assert_eq!(clusters_with_data(&[]), Vec::<u64>::new());
    }

    #[test]
    fn tables_grow_with_the_disk_and_its_data() {
        let layout = Layout::new(4 << 30, vec![0, 1, 8192, 65_535]);
        assert_eq!(layout.l1_entries, 8);
        assert_eq!(layout.l2_tables, vec![0, 1, 7]);
        assert_eq!((layout.l1_start, layout.refcount_table_start, layout.refcount_blocks_start), (1, 2, 3));
        assert_eq!((layout.refcount_blocks, layout.l2_start, layout.data_start), (1, 4, 7));
        // More clusters than one refcount block counts.
        let layout = Layout::new(8 << 30, (0..40_000).collect());
        assert_eq!(layout.refcount_blocks, 2);
        let header = layout.header();
        assert_eq!(&header[..4], b"QFI\xfb");
        assert_eq!(u64::from_be_bytes(header[24..32].try_into().unwrap()), 8 << 30);
    }
}
