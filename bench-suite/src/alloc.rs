//! The global allocator of the bench binaries: mimalloc or the system allocator, picked
//! once per process, with optional live-byte counting.
//!
//! [`BenchAlloc`] is a thin dispatcher. At its first call it reads two environment variables
//! with `libc::getenv` (which does not allocate) and remembers the answer in one atomic byte:
//!
//! - `KAIROS_BENCH_ALLOC=system` selects the system allocator (glibc malloc on Linux); any
//!   other value, or none, selects mimalloc. The runner sets it for every child process from
//!   its `--alloc` flag, so every peer of a run uses the same allocator.
//! - `KAIROS_BENCH_COUNT_HEAP=1` turns on counting: live bytes, live blocks and blocks ever
//!   allocated, in global atomics ([`heap_stats`]). The runner turns it on only for the
//!   cases that report heap bytes (`Scenario::counts_heap`: `timers`, the `memory` cases of
//!   `iot` and `queue-ops`, and `recurring`'s 1 s cases), because the shared counters cost
//!   contended atomics per allocation; `recurring` turns it off ([`stop_counting`]) once it
//!   has read its heap figures, before the window it times.
//!
//! mimalloc is called the way `std`'s `System` calls `malloc`: a plain `mi_malloc` when
//! the alignment is at most 16 bytes (mimalloc's natural alignment, `MI_MAX_ALIGN_SIZE`)
//! and at most the size, `mi_malloc_aligned` (the `mimalloc` crate's `MiMalloc`) only
//! above that. `MiMalloc` sends every request through `mi_malloc_aligned`, whose slow
//! path (no free block in a page of the exact size class yet) over-allocates by the
//! alignment minus one when the class is not a power of two (mimalloc issue #889): an
//! 8-aligned 48-byte block then always lands in the 64-byte class, a 160-byte one in the
//! 192-byte class. The plain call gives every peer the size class it asked for.
//!
//! The choice is made before `main` (the Rust runtime allocates during start-up, on one
//! thread), and never changes, so a block is always freed by the allocator that made it.
//! The cost when counting is off is one relaxed load and a predictable branch per call, the
//! same for every peer.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicI64, AtomicU64, AtomicU8, Ordering::Relaxed};

use mimalloc::MiMalloc;

/// The alignment a plain `mi_malloc` gives a block at least that large (mimalloc's
/// `MI_MAX_ALIGN_SIZE`; blocks below it are aligned to their own size class).
const MI_PLAIN_ALIGN: usize = 16;

/// Whether a plain `mi_malloc(size)` meets `align` (the rule `std`'s `System` uses).
#[inline(always)]
fn mi_plain(align: usize, size: usize) -> bool {
    align <= MI_PLAIN_ALIGN && align <= size
}

/// Environment variable that selects the allocator: `system` or `mimalloc` (default).
pub const ALLOC_ENV: &str = "KAIROS_BENCH_ALLOC";
/// Environment variable that turns on heap counting when set to `1`.
pub const COUNT_ENV: &str = "KAIROS_BENCH_COUNT_HEAP";

const UNINIT: u8 = 0;
const READY: u8 = 1;
const SYSTEM: u8 = 2;
const COUNTING: u8 = 4;

static MODE: AtomicU8 = AtomicU8::new(UNINIT);
static LIVE_BYTES: AtomicI64 = AtomicI64::new(0);
static LIVE_BLOCKS: AtomicI64 = AtomicI64::new(0);
static TOTAL_BLOCKS: AtomicU64 = AtomicU64::new(0);
static TOTAL_BYTES: AtomicU64 = AtomicU64::new(0);
static PEAK_BYTES: AtomicI64 = AtomicI64::new(0);

/// Which allocator a process uses.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AllocKind {
    /// The `mimalloc` crate (the default).
    Mimalloc,
    /// `std::alloc::System`: glibc malloc on Linux.
    System,
}

impl AllocKind {
    /// The name used on the command line and in `KAIROS_BENCH_ALLOC`.
    pub fn name(self) -> &'static str {
        match self {
            AllocKind::Mimalloc => "mimalloc",
            AllocKind::System => "system",
        }
    }

    /// Parses `mimalloc` or `system` (also `glibc`, `malloc`).
    pub fn parse(s: &str) -> Option<AllocKind> {
        match s {
            "mimalloc" | "mi" => Some(AllocKind::Mimalloc),
            "system" | "glibc" | "malloc" => Some(AllocKind::System),
            _ => None,
        }
    }
}

/// The global allocator of the bench binaries (see the module docs).
///
/// ```ignore
/// #[global_allocator]
/// static GLOBAL: kairos_bench::alloc::BenchAlloc = kairos_bench::alloc::BenchAlloc;
/// ```
#[derive(Debug, Clone, Copy, Default)]
pub struct BenchAlloc;

fn env_bytes(name: &std::ffi::CStr) -> Option<&'static [u8]> {
    // SAFETY: `name` is NUL-terminated; getenv returns NULL or a pointer into the process
    // environment, which nobody modifies while we read it (we only read it once, at the first
    // allocation, while the process is single-threaded).
    let p = unsafe { libc::getenv(name.as_ptr()) };
    if p.is_null() {
        None
    } else {
        // SAFETY: a non-NULL result of getenv is a valid NUL-terminated C string that lives
        // as long as the environment entry, i.e. for the whole process in our use.
        Some(unsafe { std::ffi::CStr::from_ptr(p) }.to_bytes())
    }
}

#[cold]
fn init_mode() -> u8 {
    let mut mode = READY;
    if matches!(env_bytes(c"KAIROS_BENCH_ALLOC"), Some(b"system" | b"glibc" | b"malloc")) {
        mode |= SYSTEM;
    }
    if env_bytes(c"KAIROS_BENCH_COUNT_HEAP") == Some(b"1") {
        mode |= COUNTING;
    }
    MODE.store(mode, Relaxed);
    mode
}

#[inline(always)]
fn mode() -> u8 {
    let m = MODE.load(Relaxed);
    if m == UNINIT {
        init_mode()
    } else {
        m
    }
}

/// The allocator this process uses (decided at its first allocation).
pub fn current() -> AllocKind {
    if mode() & SYSTEM != 0 {
        AllocKind::System
    } else {
        AllocKind::Mimalloc
    }
}

/// Whether heap counting is on in this process.
pub fn counting() -> bool {
    mode() & COUNTING != 0
}

/// Turns heap counting off for the rest of the process, so that a case that has read its
/// heap figures times what follows without the counters' shared atomics (which cost most
/// the peers that allocate most). The figures stay as they were at the call.
pub fn stop_counting() {
    MODE.fetch_and(!COUNTING, Relaxed);
}

/// Heap figures kept by [`BenchAlloc`] when counting is on (all zero otherwise).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct HeapStats {
    /// Bytes currently allocated (as requested by the program, without allocator overhead).
    pub live_bytes: i64,
    /// Blocks currently allocated.
    pub live_blocks: i64,
    /// Blocks ever allocated.
    pub total_blocks: u64,
    /// Bytes ever allocated.
    pub total_bytes: u64,
}

/// The current [`HeapStats`].
pub fn heap_stats() -> HeapStats {
    HeapStats {
        live_bytes: LIVE_BYTES.load(Relaxed),
        live_blocks: LIVE_BLOCKS.load(Relaxed),
        total_blocks: TOTAL_BLOCKS.load(Relaxed),
        total_bytes: TOTAL_BYTES.load(Relaxed),
    }
}

/// Peak of live bytes since the last [`reset_peak`] (counting mode only).
pub fn peak_bytes() -> i64 {
    PEAK_BYTES.load(Relaxed)
}

/// Starts a new peak measurement at the current live bytes.
pub fn reset_peak() {
    PEAK_BYTES.store(LIVE_BYTES.load(Relaxed), Relaxed);
}

#[inline(always)]
fn count_alloc(size: usize) {
    let live = LIVE_BYTES.fetch_add(size as i64, Relaxed) + size as i64;
    PEAK_BYTES.fetch_max(live, Relaxed);
    LIVE_BLOCKS.fetch_add(1, Relaxed);
    TOTAL_BLOCKS.fetch_add(1, Relaxed);
    TOTAL_BYTES.fetch_add(size as u64, Relaxed);
}

#[inline(always)]
fn count_free(size: usize) {
    LIVE_BYTES.fetch_sub(size as i64, Relaxed);
    LIVE_BLOCKS.fetch_sub(1, Relaxed);
}

#[inline(always)]
unsafe fn alloc_with(m: u8, layout: Layout, zeroed: bool) -> *mut u8 {
    let p = if m & SYSTEM != 0 {
        if zeroed {
            // SAFETY: forwarded with the caller's GlobalAlloc guarantees (non-zero size).
            unsafe { System.alloc_zeroed(layout) }
        } else {
            // SAFETY: as above.
            unsafe { System.alloc(layout) }
        }
    } else if mi_plain(layout.align(), layout.size()) {
        let size = layout.size();
        // SAFETY: mimalloc's plain calls have no preconditions; the block is aligned to
        // `MI_PLAIN_ALIGN` or to its size class, either way to `layout.align()`.
        unsafe {
            if zeroed {
                libmimalloc_sys::mi_zalloc(size)
            } else {
                libmimalloc_sys::mi_malloc(size)
            }
        }
        .cast()
    } else if zeroed {
        // SAFETY: as above.
        unsafe { MiMalloc.alloc_zeroed(layout) }
    } else {
        // SAFETY: as above.
        unsafe { MiMalloc.alloc(layout) }
    };
    if m & COUNTING != 0 && !p.is_null() {
        count_alloc(layout.size());
    }
    p
}

#[inline(always)]
unsafe fn dealloc_with(m: u8, ptr: *mut u8, layout: Layout) {
    if m & COUNTING != 0 {
        count_free(layout.size());
    }
    if m & SYSTEM != 0 {
        // SAFETY: `ptr` was allocated by System (the mode never changes) with `layout`.
        unsafe { System.dealloc(ptr, layout) }
    } else {
        // SAFETY: `ptr` was allocated by MiMalloc with `layout`.
        unsafe { MiMalloc.dealloc(ptr, layout) }
    }
}

#[inline(always)]
unsafe fn realloc_with(m: u8, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
    let p = if m & SYSTEM != 0 {
        // SAFETY: `ptr` came from System with `layout`; caller upholds realloc's contract.
        unsafe { System.realloc(ptr, layout, new_size) }
    } else if mi_plain(layout.align(), new_size) {
        // SAFETY: `ptr` came from mimalloc (plain or aligned: `mi_realloc` takes either);
        // the new block meets `layout.align()` as in `alloc_with`.
        unsafe { libmimalloc_sys::mi_realloc(ptr.cast(), new_size) }.cast()
    } else {
        // SAFETY: `ptr` came from mimalloc with `layout`; caller upholds the contract.
        unsafe { MiMalloc.realloc(ptr, layout, new_size) }
    };
    if m & COUNTING != 0 && !p.is_null() {
        let live = LIVE_BYTES.fetch_add(new_size as i64 - layout.size() as i64, Relaxed)
            + (new_size as i64 - layout.size() as i64);
        PEAK_BYTES.fetch_max(live, Relaxed);
        TOTAL_BLOCKS.fetch_add(1, Relaxed);
        TOTAL_BYTES.fetch_add(new_size as u64, Relaxed);
    }
    p
}

// SAFETY: every method forwards to one of two sound allocators, and the choice between
// them is fixed for the life of the process (MODE is written once, before any block is
// handed out), so a block is always freed or resized by the allocator that allocated it.
unsafe impl GlobalAlloc for BenchAlloc {
    #[inline]
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: forwarded contract.
        unsafe { alloc_with(mode(), layout, false) }
    }

    #[inline]
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        // SAFETY: forwarded contract.
        unsafe { alloc_with(mode(), layout, true) }
    }

    #[inline]
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: forwarded contract.
        unsafe { dealloc_with(mode(), ptr, layout) }
    }

    #[inline]
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: forwarded contract.
        unsafe { realloc_with(mode(), ptr, layout, new_size) }
    }
}

/// [`BenchAlloc`] with counting always on (whatever `KAIROS_BENCH_COUNT_HEAP` says): the
/// allocator of the `kairos-profiles` binary when it is built without `dhat-heap`.
#[derive(Debug, Clone, Copy, Default)]
pub struct CountingAlloc;

// SAFETY: as for BenchAlloc; the COUNTING bit only adds bookkeeping and is the same for
// every call, so blocks are still freed by the allocator that made them.
unsafe impl GlobalAlloc for CountingAlloc {
    #[inline]
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: forwarded contract.
        unsafe { alloc_with(mode() | COUNTING, layout, false) }
    }

    #[inline]
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        // SAFETY: forwarded contract.
        unsafe { alloc_with(mode() | COUNTING, layout, true) }
    }

    #[inline]
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: forwarded contract.
        unsafe { dealloc_with(mode() | COUNTING, ptr, layout) }
    }

    #[inline]
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: forwarded contract.
        unsafe { realloc_with(mode() | COUNTING, ptr, layout, new_size) }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mimalloc_blocks_meet_every_alignment_on_both_paths() {
        for size in [1usize, 7, 8, 12, 24, 40, 48, 100, 4096] {
            for align in [1usize, 8, 16, 32, 64, 4096] {
                let layout = Layout::from_size_align(size, align).unwrap();
                for zeroed in [false, true] {
                    // SAFETY: non-zero size; the block is freed below with the same layout.
                    let p = unsafe { alloc_with(READY, layout, zeroed) };
                    assert!(!p.is_null());
                    assert_eq!(
                        p as usize % align,
                        0,
                        "size {size}, align {align}, plain {}",
                        mi_plain(align, size)
                    );
                    // SAFETY: `p` holds `size` bytes, written before being read.
                    unsafe { p.write_bytes(0xa5, size) };
                    // SAFETY: grown block of the same alignment; freed below with its layout.
                    let q = unsafe { realloc_with(READY, p, layout, size * 3) };
                    assert_eq!(q as usize % align, 0, "realloc: size {size}, align {align}");
                    // SAFETY: `realloc` kept the first `size` bytes.
                    assert!(unsafe { std::slice::from_raw_parts(q, size) }.iter().all(|&b| b == 0xa5));
                    // SAFETY: `q` came from `realloc_with` with this layout's alignment.
                    unsafe { dealloc_with(READY, q, Layout::from_size_align(size * 3, align).unwrap()) };
                }
            }
        }
    }

    #[test]
    fn parses_alloc_names() {
        assert_eq!(AllocKind::parse("system"), Some(AllocKind::System));
        assert_eq!(AllocKind::parse("mimalloc"), Some(AllocKind::Mimalloc));
        assert_eq!(AllocKind::parse("jemalloc"), None);
        assert_eq!(AllocKind::System.name(), "system");
    }
}
