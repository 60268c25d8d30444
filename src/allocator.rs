//! The process's global allocator: mimalloc, entered through its plain
//! `malloc` path whenever that already gives the alignment asked for.
//!
//! The `mimalloc` crate's allocator passes every request to
//! `mi_malloc_aligned`, which for most sizes that are not a power of two
//! (24, 40, 48 bytes: thunks, environment frames, strings) misses its fast
//! path and over-allocates; measured on the evaluator benchmarks that was
//! about a tenth of all instructions. mimalloc's block sizes are multiples
//! of the word size, so every block it returns is word-aligned, and
//! requests that need no more than that go to `mi_malloc`.

#![allow(unsafe_code)]

use libmimalloc_sys as mi;
use std::alloc::{GlobalAlloc, Layout};
use std::ffi::c_void;

/// The alignment every mimalloc block has: its block sizes are whole words.
const WORD_ALIGN: usize = std::mem::size_of::<usize>();

/// mimalloc with a fast path for word-aligned requests (see the module
/// documentation); installed as the `#[global_allocator]` in `main.rs`.
pub struct Allocator;

// SAFETY: every method forwards to the mimalloc function with the same
// contract. The unaligned entry points are used only when the requested
// alignment is at most a word, which every mimalloc block satisfies;
// `mi_free` accepts pointers from both families.
unsafe impl GlobalAlloc for Allocator {
    #[inline]
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: see the impl's comment.
        unsafe {
            if layout.align() <= WORD_ALIGN {
                mi::mi_malloc(layout.size()).cast()
            } else {
                mi::mi_malloc_aligned(layout.size(), layout.align()).cast()
            }
        }
    }

    #[inline]
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        // SAFETY: see the impl's comment.
        unsafe {
            if layout.align() <= WORD_ALIGN {
                mi::mi_zalloc(layout.size()).cast()
            } else {
                mi::mi_zalloc_aligned(layout.size(), layout.align()).cast()
            }
        }
    }

    #[inline]
    unsafe fn dealloc(&self, ptr: *mut u8, _layout: Layout) {
        // SAFETY: `ptr` came from this allocator, hence from mimalloc.
        unsafe { mi::mi_free(ptr.cast::<c_void>()) }
    }

    #[inline]
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: see the impl's comment; `ptr` came from this allocator.
        unsafe {
            if layout.align() <= WORD_ALIGN {
                mi::mi_realloc(ptr.cast::<c_void>(), new_size).cast()
            } else {
                mi::mi_realloc_aligned(ptr.cast::<c_void>(), new_size, layout.align()).cast()
            }
        }
    }
}

#[cfg(test)]
mod tests {
    /// Every size of a boxed slice of words, grown and shrunk, keeps the
    /// alignment its type needs (checked through the global allocator).
    #[test]
    fn word_aligned_blocks_of_every_small_size() {
        for len in 0..300usize {
            let v: Vec<u64> = (0..len as u64).collect();
            assert_eq!(v.as_ptr() as usize % std::mem::align_of::<u64>(), 0);
            let bytes: Vec<u8> = vec![1; len * 3 + 1];
            let mut words: Vec<u64> = Vec::with_capacity(len + 1);
            words.extend_from_slice(&v);
            words.push(bytes.len() as u64);
            words.shrink_to_fit();
            assert_eq!(words.as_ptr() as usize % std::mem::align_of::<u64>(), 0);
            let wide: Box<[u128]> = vec![0u128; len + 1].into_boxed_slice();
            assert_eq!(wide.as_ptr() as usize % std::mem::align_of::<u128>(), 0);
        }
    }
}
