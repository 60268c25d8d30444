//! Writing a file's data as an archive is unpacked: in whole 64 KiB blocks,
//! hashed on the way, so that the object's name is known when the last byte
//! is written and nothing has to be read back.
//!
//! The unpacker asks for room for the bytes at an offset ([`BlockWriter::space`]),
//! reads them from the stream straight into it and says how many it wrote
//! ([`BlockWriter::commit`]). Bytes gather in a *run*: up to 8 MiB of
//! consecutive blocks, with the parts no extent covered zeroed. A run is
//! handed on when it is full or when the next extent starts a whole block
//! or more after it, so blocks that are all hole stay holes.
//!
//! A large file's runs go to a thread of their own, which writes each one
//! with `O_DIRECT` and then hashes its blocks (on rayon's pool) into a
//! [`ContentHasher`], while the unpacker goes on decompressing into the next
//! buffer. Direct writes skip the page cache: no copy into it, no reclaim
//! to make room for a gigabyte of dirty pages, and little left to flush
//! when the store syncs the object at registration. Where the file system
//! refuses `O_DIRECT` (tmpfs, some network file systems) the same thread
//! writes through the page cache. A small file is written and hashed on the
//! calling thread.

use std::fs::{File, OpenOptions};
use std::io;
use std::os::unix::fs::{FileExt, OpenOptionsExt};
use std::path::Path;
use std::sync::mpsc::{Receiver, SyncSender, sync_channel};
use std::thread::JoinHandle;

use imgx_store::hash::{BLOCK_LEN, ContentHasher};

/// The blocks in one run (8 MiB).
const RUN_BLOCKS: u64 = 128;
/// Files at least this large (apparent size) are written on a thread of
/// their own, with `O_DIRECT` where the file system allows it.
const THREADED_FROM: u64 = 16 << 20;
/// Runs in flight between the unpacker and the writing thread, plus the
/// one being filled.
const BUFFERS: usize = 3;
/// The alignment of direct writes: offsets, lengths and memory (the
/// largest logical block size in common use).
const DIRECT_ALIGN: usize = 4096;

/// A file being written block by block; see the [module documentation](self).
pub(crate) struct BlockWriter {
    /// The file's apparent size.
    size: u64,
    /// The run being filled.
    run: Run,
    /// The end (exclusive, from the run's start) of what `space` handed out.
    pending: usize,
    sink: Sink,
}

/// Where full runs go.
enum Sink {
    /// Written and hashed on the calling thread.
    Inline { file: File, hasher: Box<ContentHasher> },
    /// Sent to the writing thread.
    Threaded(WritingThread),
}

/// The thread a large file's runs are written on. It returns each buffer
/// when it is done with it, and the file's content hash when the channel
/// closes; dropped half way (the unpacking failed), it is stopped.
struct WritingThread {
    runs: Option<SyncSender<Ready>>,
    spare: Receiver<AlignedBuf>,
    worker: Option<JoinHandle<Worked>>,
}

/// What the writing thread ends with.
type Worked = io::Result<[u8; 32]>;

/// Consecutive blocks of the file starting at block `first`, of which the
/// first `filled` bytes are final (data or zeros); empty while `filled` is
/// zero.
struct Run {
    buf: AlignedBuf,
    first: u64,
    filled: usize,
}

/// A run that is ready to be written: its bytes up to `data` are the file's
/// (they end on a block boundary or at the file's end), and up to `io` (a
/// multiple of [`DIRECT_ALIGN`], zeros past `data`) are written.
struct Ready {
    run: Run,
    data: usize,
    io: usize,
}

impl BlockWriter {
    /// Creates the file at `path` (which must not exist) with the apparent
    /// size `size`, readable by everyone and executable if asked.
    pub(crate) fn create(path: &Path, size: u64, executable: bool) -> io::Result<BlockWriter> {
        let file =
            OpenOptions::new().write(true).create_new(true).mode(if executable { 0o755 } else { 0o644 }).open(path)?;
        file.set_len(size)?;
        let capacity =
            if size >= THREADED_FROM { RUN_BLOCKS * BLOCK_LEN } else { size.div_ceil(BLOCK_LEN) * BLOCK_LEN };
        let capacity = usize::try_from(capacity.min(RUN_BLOCKS * BLOCK_LEN)).unwrap_or(usize::MAX);
        let run = Run { buf: AlignedBuf::new(capacity), first: 0, filled: 0 };
        let sink = if size >= THREADED_FROM {
            // A second descriptor for direct writes: O_DIRECT is refused at
            // open by file systems without it, which must not cost the file.
            let direct = OpenOptions::new().write(true).custom_flags(libc::O_DIRECT).open(path).ok();
            let (runs, incoming) = sync_channel::<Ready>(BUFFERS - 1);
            let (returned, spare) = sync_channel::<AlignedBuf>(BUFFERS);
            for _ in 1..BUFFERS {
                let _ = returned.send(AlignedBuf::new(capacity));
            }
            let hasher = ContentHasher::new(size);
            let worker = std::thread::Builder::new()
                .name("imgx-unpack-write".into())
                .spawn(move || write_runs(file, direct, size, hasher, incoming, returned))?;
            Sink::Threaded(WritingThread { runs: Some(runs), spare, worker: Some(worker) })
        } else {
            Sink::Inline { file, hasher: Box::new(ContentHasher::new(size)) }
        };
        Ok(BlockWriter { size, run, pending: 0, sink })
    }

    /// Room for the file's bytes from `offset` on, at most `len` of them
    /// (and at least one when `len` is not zero). Offsets must increase:
    /// each call starts at or after the end of what was committed before.
    pub(crate) fn space(&mut self, offset: u64, len: u64) -> io::Result<&mut [u8]> {
        let block = offset / BLOCK_LEN;
        let capacity = len64(self.run.buf.len());
        let run_start = self.run.first * BLOCK_LEN;
        let touched_end = (run_start + len64(self.run.filled)).div_ceil(BLOCK_LEN);
        if self.run.filled == 0 || offset >= run_start + capacity || block > touched_end {
            self.flush()?;
            self.run.first = block;
        }
        let run_start = self.run.first * BLOCK_LEN;
        let at = usize::try_from(offset - run_start).expect("inside the run buffer");
        let room = (capacity - len64(at)).min(self.size - offset).min(len);
        let end = at + usize::try_from(room).expect("inside the run buffer");
        let buf = self.run.buf.as_mut();
        buf[self.run.filled..at].fill(0);
        self.run.filled = at;
        self.pending = end;
        Ok(&mut buf[at..end])
    }

    /// Marks the bytes handed out by the last [`BlockWriter::space`] as
    /// written.
    pub(crate) fn commit(&mut self) {
        self.run.filled = self.pending;
    }

    /// Writes what is left and returns the file's content hash (`file(F)`).
    pub(crate) fn finish(mut self) -> io::Result<[u8; 32]> {
        self.flush()?;
        match self.sink {
            Sink::Inline { hasher, .. } => Ok((*hasher).finish()),
            Sink::Threaded(mut thread) => thread.close(),
        }
    }

    /// Hands the current run on, if it holds anything, and starts an empty
    /// one.
    fn flush(&mut self) -> io::Result<()> {
        if self.run.filled == 0 {
            return Ok(());
        }
        let run_start = self.run.first * BLOCK_LEN;
        let to_block_end = len64(self.run.filled).div_ceil(BLOCK_LEN) * BLOCK_LEN;
        let data = usize::try_from(to_block_end.min(self.size - run_start)).expect("inside the run buffer");
        let io = data.next_multiple_of(DIRECT_ALIGN).min(self.run.buf.len());
        self.run.buf.as_mut()[self.run.filled..io].fill(0);
        match &mut self.sink {
            Sink::Inline { file, hasher } => {
                let bytes = &self.run.buf.as_mut()[..data];
                file.write_all_at(bytes, run_start)?;
                hasher.blocks(self.run.first, bytes);
            }
            Sink::Threaded(thread) => {
                let fresh = thread.take_spare()?;
                let run = std::mem::replace(&mut self.run, Run { buf: fresh, first: 0, filled: 0 });
                thread.send(Ready { run, data, io })?;
            }
        }
        self.run.filled = 0;
        Ok(())
    }
}

impl WritingThread {
    /// A buffer the thread is done with (waiting for one if need be).
    fn take_spare(&mut self) -> io::Result<AlignedBuf> {
        // If the thread stopped, its error says why.
        self.spare.recv().map_err(|_| self.close().err().unwrap_or_else(stopped))
    }

    /// Hands a run to the thread.
    fn send(&mut self, ready: Ready) -> io::Result<()> {
        let sent = self.runs.as_ref().map(|runs| runs.send(ready));
        if matches!(sent, Some(Ok(()))) { Ok(()) } else { Err(self.close().err().unwrap_or_else(stopped)) }
    }

    /// Closes the channel and waits for the thread: the file's content
    /// hash, or why it stopped.
    fn close(&mut self) -> Worked {
        drop(self.runs.take());
        match self.worker.take() {
            Some(handle) => handle.join().unwrap_or_else(|_| Err(stopped())),
            None => Err(stopped()),
        }
    }
}

impl Drop for WritingThread {
    fn drop(&mut self) {
        let _ = self.close();
    }
}

fn stopped() -> io::Error {
    io::Error::other("the thread writing the file stopped")
}

/// The writing thread: writes each run (directly when it can), hashes its
/// blocks, returns its buffer; when the channel closes, trims the file to
/// its size and returns the content hash.
fn write_runs(
    file: File,
    mut direct: Option<File>,
    size: u64,
    mut hasher: ContentHasher,
    incoming: Receiver<Ready>,
    returned: SyncSender<AlignedBuf>,
) -> Worked {
    for Ready { mut run, data, io } in incoming {
        let start = run.first * BLOCK_LEN;
        let bytes = run.buf.as_mut();
        let written = match &direct {
            Some(direct) => direct.write_all_at(&bytes[..io], start),
            None => file.write_all_at(&bytes[..data], start),
        };
        if let Err(error) = written {
            // A file system that opens with O_DIRECT but refuses the
            // alignment: write through the page cache from now on.
            if direct.is_none() || error.raw_os_error() != Some(libc::EINVAL) {
                return Err(error);
            }
            direct = None;
            file.write_all_at(&bytes[..data], start)?;
        }
        hasher.blocks(run.first, &bytes[..data]);
        let _ = returned.send(run.buf);
    }
    // Direct writes are whole pages: cut what went past the end.
    file.set_len(size)?;
    Ok(hasher.finish())
}

/// A byte buffer whose start is aligned for direct I/O.
struct AlignedBuf {
    storage: Vec<u8>,
    start: usize,
    len: usize,
}

impl AlignedBuf {
    fn new(len: usize) -> AlignedBuf {
        let storage = vec![0u8; len + DIRECT_ALIGN];
        let start = storage.as_ptr().align_offset(DIRECT_ALIGN);
        AlignedBuf { storage, start, len }
    }

    fn len(&self) -> usize {
        self.len
    }

    fn as_mut(&mut self) -> &mut [u8] {
        &mut self.storage[self.start..self.start + self.len]
    }
}

fn len64(n: usize) -> u64 {
    n as u64
}
