//! What every fuzz target links: a global allocator that aborts on any single allocation
//! larger than [`MAX_ALLOCATION`], so an unbounded allocation is a crash libFuzzer reports and
//! keeps the input of, even without a sanitizer. (libFuzzer's `-malloc_limit_mb` hooks malloc
//! only through a sanitizer's runtime; `-rss_limit_mb` works everywhere and bounds the total.)

use std::alloc::{GlobalAlloc, Layout, System};
use std::io::Write;

/// 256 times the largest input any target is given (a 64 KiB callback body).
pub const MAX_ALLOCATION: usize = 16 << 20;

struct Capped;

fn check(size: usize) {
    if size > MAX_ALLOCATION {
        // Nothing here may allocate.
        let _ = std::io::stderr().write_all(b"fuzz: an allocation larger than 16 MiB\n");
        std::process::abort();
    }
}

// SAFETY: every call is passed on to the system allocator unchanged; `check` only aborts.
unsafe impl GlobalAlloc for Capped {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        check(layout.size());
        unsafe { System.alloc(layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        check(layout.size());
        unsafe { System.alloc_zeroed(layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        check(new_size);
        unsafe { System.realloc(ptr, layout, new_size) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static CAPPED: Capped = Capped;
