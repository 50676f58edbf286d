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
//!   allocated, in three global atomics ([`heap_stats`]). The runner turns it on only for the
//!   scenarios that report heap bytes per task (`timers`), because the shared counters cost
//!   a contended atomic per allocation.
//!
//! The choice is made before `main` (the Rust runtime allocates during start-up, on one
//! thread), and never changes, so a block is always freed by the allocator that made it.
//! The cost when counting is off is one relaxed load and a predictable branch per call, the
//! same for every peer.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicI64, AtomicU64, AtomicU8, Ordering::Relaxed};

use mimalloc::MiMalloc;

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
    } else {
        // SAFETY: `ptr` came from MiMalloc with `layout`; caller upholds the contract.
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
    fn parses_alloc_names() {
        assert_eq!(AllocKind::parse("system"), Some(AllocKind::System));
        assert_eq!(AllocKind::parse("mimalloc"), Some(AllocKind::Mimalloc));
        assert_eq!(AllocKind::parse("jemalloc"), None);
        assert_eq!(AllocKind::System.name(), "system");
    }
}
