//! Host memory: the allocator's settings, handing freed memory back, what a block in flight
//! holds, and how many blocks to code at once within a budget (`--memory`) and the memory
//! available.

use crate::error::{Error, Result};

/// Sets the allocator up as the binary runs it. Every model call allocates and frees several
/// 32 MB tensors (batch × window × vocabulary floats): glibc would hand each back to the
/// kernel and take it again, page-faulting every page; keeping them in the heap is faster and
/// changes no number. Call before any thread starts.
pub fn tune_allocator() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only tunes the allocator; the caller calls it before threads start
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, 256 << 20);
        libc::mallopt(libc::M_TRIM_THRESHOLD, 512 << 20);
    }
}

/// Hands the heap's free pages back to the kernel. [`tune_allocator`] raises malloc's trim
/// threshold (model calls reuse their large buffers), so without this what tokenizing a block
/// allocates and frees again stays with the process for good, on every block thread's arena.
/// No effect on any value.
pub fn release_freed() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim only returns free memory to the kernel; it takes the allocator's
    // locks itself, so other threads may allocate meanwhile
    unsafe {
        libc::malloc_trim(0);
    }
}

/// A block's buffers per input byte, an upper bound (tokens are at most as many as bytes):
/// the block and the text the tokenizer reads (1 + 1), its ids and the coder's known tokens
/// (4 + 4 per token), the residual, the coded bytes and the stored block (about 1 each
/// where nothing compresses), and the heap's slack around them; the decoder holds less (its
/// ids, known tokens, text and output). Measured (docs/RESULTS.md, "Session 13"): a 1 MiB
/// block of English holds ~24 MB besides its tables compressing, ~15 MB decompressing, both
/// with [`BLOCK_FIXED`].
pub const BUFFERS_PER_BYTE: usize = 16;

/// A block's memory besides its tables and buffers, whatever its length: the model calls'
/// rows in flight (32 lanes × 8,000 floats a step, a merged call's steps and the ones sent
/// ahead), the engine's keys and values for the block's lanes, two threads' stacks (128 KiB
/// blocks of English: ~10-15 MB a block besides the tables, both ways).
pub const BLOCK_FIXED: usize = 12 << 20;

/// The process's memory for coding besides its blocks: the output's and input's buffers, the
/// engine's shared scratch, the batcher.
pub const PROCESS_FIXED: usize = 16 << 20;

/// Bytes one block of `block_len` input bytes holds at most while it is coded with
/// adaptive-model version `mix` (0: none) over a vocabulary of `vocab` ids by a plan of
/// `rounds` rounds, where at most `tokenized` bytes of text are given to the tokenizer at
/// once (0 when decoding). An upper bound: the block's tokens are taken to be as many as its
/// bytes (tables are capped, so this overstates only the per-position parts). The adaptive
/// model's tables ([`crate::coding::cm::model_bytes`]) or, if more, the tokenizer's working
/// memory ([`crate::text::WORK_PER_BYTE`]), which is given back before the tables are
/// written; the block's buffers ([`BUFFERS_PER_BYTE`]) and [`BLOCK_FIXED`].
pub fn block_bytes(mix: u8, vocab: usize, rounds: usize, block_len: usize, tokenized: usize) -> u64 {
    let n = block_len;
    let model = crate::coding::adaptive::Version::from_u8(mix)
        .ok()
        .and_then(|v| v.params(rounds))
        .map_or(n * 16, |p| crate::coding::cm::model_bytes(vocab, n, &p));
    let tokenizer = crate::text::WORK_PER_BYTE.saturating_mul(tokenized);
    (model.max(tokenizer) + BUFFERS_PER_BYTE * block_len + BLOCK_FIXED) as u64
}

/// What coding needs: `per_block` bytes for each block in flight ([`block_bytes`]) and
/// `shared` bytes once, whatever the number of blocks ([`PROCESS_FIXED`]). A block whose
/// text has a long stretch with no cut needs more while that stretch is tokenized, one at a
/// time in the process: the compressor adds it where it reads such a block
/// ([`crate::text::LosslessTokenizer::longest_piece`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Need {
    pub per_block: u64,
    pub shared: u64,
}

impl Need {
    /// The memory `jobs` blocks in flight take, with the shared part.
    pub fn total(self, jobs: usize) -> u64 {
        self.shared + self.per_block * jobs as u64
    }
}

/// Bytes of memory the process may still take: the kernel's estimate of available memory,
/// within the cgroup's limit where one is set (`None`: not known on this system).
pub fn available() -> Option<u64> {
    let meminfo = std::fs::read_to_string("/proc/meminfo").ok()?;
    let kb = meminfo.lines().find_map(|l| l.strip_prefix("MemAvailable:"))?.trim().strip_suffix("kB")?;
    let mut avail = kb.trim().parse::<u64>().ok()?.saturating_mul(1024);
    let read = |f: &str| std::fs::read_to_string(format!("/sys/fs/cgroup/{f}")).ok()?.trim().parse::<u64>().ok();
    if let (Some(max), Some(current)) = (read("memory.max"), read("memory.current")) {
        avail = avail.min(max.saturating_sub(current));
    }
    Some(avail)
}

/// How many of `jobs` blocks to code at once: as many as `budget` holds (the memory the
/// blocks in flight may take beyond the loaded model, `--memory`; `None`: no budget) and as
/// fit in nine tenths of the `available` memory (the rest for what is not counted), at least
/// one; where even one block does not fit the budget, an error. Coding fewer blocks at once
/// never changes the output.
pub fn jobs_for(jobs: usize, need: Need, budget: Option<u64>, available: Option<u64>) -> Result<usize> {
    let mut fit = jobs.max(1);
    if let Some(budget) = budget {
        if need.total(1) > budget {
            return Err(Error::Memory { need_mb: need.total(1).div_ceil(1 << 20), budget_mb: budget >> 20 });
        }
        fit = fit.min(((budget - need.shared) / need.per_block.max(1)).min(usize::MAX as u64) as usize);
    }
    if let Some(avail) = available {
        let room = (avail / 10 * 9).saturating_sub(need.shared) / need.per_block.max(1);
        fit = fit.min(room.min(usize::MAX as u64) as usize);
    }
    Ok(fit.max(1))
}

/// The test binary's allocator: the system's, counting each thread's live heap bytes, so a
/// test can weigh what it builds while other tests run beside it.
#[cfg(test)]
mod counting {
    use std::alloc::{GlobalAlloc, Layout, System};
    use std::cell::Cell;

    thread_local! {
        static LIVE: Cell<isize> = const { Cell::new(0) };
    }

    /// Heap bytes allocated minus freed on this thread so far.
    pub fn live_here() -> isize {
        LIVE.with(|l| l.get())
    }

    fn add(bytes: isize) {
        // a thread being torn down has no counter left: its frees are not counted
        let _ = LIVE.try_with(|l| l.set(l.get() + bytes));
    }

    struct Counting;

    // SAFETY: every call is passed to the system allocator unchanged; only counted
    unsafe impl GlobalAlloc for Counting {
        unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
            add(layout.size() as isize);
            // SAFETY: the caller's layout, as `GlobalAlloc::alloc` requires
            unsafe { System.alloc(layout) }
        }
        unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
            add(layout.size() as isize);
            // SAFETY: as above
            unsafe { System.alloc_zeroed(layout) }
        }
        unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
            add(-(layout.size() as isize));
            // SAFETY: `ptr` came from this allocator with `layout`
            unsafe { System.dealloc(ptr, layout) }
        }
        unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
            add(new_size as isize - layout.size() as isize);
            // SAFETY: as above
            unsafe { System.realloc(ptr, layout, new_size) }
        }
    }

    #[global_allocator]
    static ALLOC: Counting = Counting;
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::coding::adaptive::Version;
    use crate::coding::cm::{self, huge};

    /// What a block's adaptive model holds (heap and table mappings, counted) is what
    /// [`cm::model_bytes`] says, within 5%, for short and long blocks of every
    /// context-mixing version; and dropping it gives all of it back.
    #[test]
    fn block_models_hold_what_the_estimate_says() {
        let vocab = 8000;
        let text = || (0..vocab).map(|t| format!("t{t}").into_bytes()).collect();
        for v in 3..=crate::coding::MAX_MIX_VERSION {
            let version = Version::from_u8(v).unwrap();
            for (n, rounds) in [(20_000, 1), (300_000, 1), (300_000, 3), (1000, 1)] {
                let (heap, mapped) = (counting::live_here(), huge::mapped_here());
                let model = version.model(vocab, n, rounds, text);
                let held = (counting::live_here() - heap + huge::mapped_here() - mapped) as f64;
                let est = cm::model_bytes(vocab, n, &version.params(rounds).unwrap()) as f64;
                assert!((held / est - 1.0).abs() < 0.05, "v{v} n={n}: holds {held}, estimated {est}");
                drop(model);
                assert_eq!(huge::mapped_here(), mapped, "v{v}: the tables' mappings went back");
                assert!(counting::live_here() - heap < 64 << 10, "v{v}: the heap part went back");
            }
        }
    }

    /// The cap keeps what fits in the available memory, never goes below one block or above
    /// the request, and leaves the request alone where the free memory is unknown.
    #[test]
    fn jobs_are_capped_by_memory() {
        let gb = 1u64 << 30;
        let half = Need { per_block: gb / 2, shared: 0 };
        let fit = |jobs, need, avail| jobs_for(jobs, need, None, avail).unwrap();
        assert_eq!(fit(48, half, Some(100 * gb)), 48);
        assert_eq!(fit(48, half, Some(10 * gb)), 18);
        assert_eq!(fit(48, Need { shared: gb, ..half }, Some(10 * gb)), 16);
        assert_eq!(fit(48, half, Some(gb / 4)), 1);
        assert_eq!(fit(0, half, Some(100 * gb)), 1);
        assert_eq!(fit(16, half, None), 16);
    }

    /// A budget holds as many blocks as fit beside the shared part, never more than asked
    /// nor than the available memory takes; one block over it is an error naming the need.
    #[test]
    fn a_budget_caps_the_blocks_in_flight() {
        let mb = 1u64 << 20;
        let need = Need { per_block: 70 * mb, shared: 30 * mb };
        assert_eq!(jobs_for(16, need, Some(512 * mb), None).unwrap(), 6);
        assert_eq!(jobs_for(4, need, Some(512 * mb), None).unwrap(), 4);
        assert_eq!(jobs_for(16, need, Some(512 * mb), Some(300 * mb)).unwrap(), 3);
        assert_eq!(jobs_for(16, need, Some(100 * mb), None).unwrap(), 1);
        assert!(need.total(6) <= 512 * mb && need.total(7) > 512 * mb);
        match jobs_for(16, need, Some(99 * mb), None) {
            Err(Error::Memory { need_mb: 100, budget_mb: 99 }) => {}
            other => panic!("{other:?}"),
        }
    }

    /// The kernel's figure is read where there is one, and it is not nonsense.
    #[test]
    fn available_memory_is_read_on_linux() {
        if cfg!(target_os = "linux") {
            let a = available().expect("MemAvailable");
            assert!(a > 16 << 20, "{a}");
        }
    }

    /// A 1 MiB block of version 7 costs what was measured (~350 MB a block in flight), and
    /// far less without the adaptive model.
    #[test]
    fn a_megabyte_block_costs_its_tables() {
        let v7 = block_bytes(7, 8000, 1, 1 << 20, 0);
        assert!((330 << 20..420 << 20).contains(&v7), "{v7}");
        assert!(block_bytes(0, 8000, 1, 1 << 20, 0) < v7 / 4);
    }

    /// Version 9 holds a 1 MiB block's model (323,057 tokens of English) in at most 48 MB, a
    /// seventh of version 8's.
    #[test]
    fn version_9_fits_a_megabyte_block_in_48_mb() {
        let n = 323_057;
        let v9 = cm::model_bytes(8000, n, &Version::ContextMixV9.params(1).unwrap());
        let v8 = cm::model_bytes(8000, n, &Version::ContextMixV8.params(1).unwrap());
        assert!(v9 <= 48_000_000 && v9 * 7 < v8, "v9 {v9}, v8 {v8}");
    }
}
