//! Host memory: handing freed memory back, and how many blocks fit in memory at once.

/// Hands the heap's free pages back to the kernel. The binary raises malloc's trim threshold
/// (model calls reuse their large buffers), so without this the ~90 bytes per input byte that
/// tokenizing a block allocates and frees again stay with the process for good: 60-90 MB per
/// 1 MiB block, on every block thread's arena. No effect on any value.
pub fn release_freed() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim only returns free memory to the kernel; it takes the allocator's
    // locks itself, so other threads may allocate meanwhile
    unsafe {
        libc::malloc_trim(0);
    }
}

/// Bytes one block of `block_len` input bytes holds while it is coded with adaptive-model
/// version `mix` (0: none) over a vocabulary of `vocab` ids by a plan of `rounds` rounds. An
/// upper bound: the block's tokens are taken to be as many as its bytes (tables are capped,
/// so this overstates only the per-position vectors). Beside the adaptive model's tables
/// ([`crate::coding::cm::model_bytes`]): the block, its tokens and what tokenizing leaves
/// behind (32 bytes per input byte, measured: 1 MiB blocks held ~33 MB besides the tables)
/// and the model calls' rows in flight (16 MB: 8 steps of 32 lanes × 8,000 floats, twice).
pub fn block_bytes(mix: u8, vocab: usize, rounds: usize, block_len: usize) -> u64 {
    let n = block_len;
    let model = crate::coding::adaptive::Version::from_u8(mix)
        .ok()
        .and_then(|v| v.params(rounds))
        .map_or(n * 16, |p| crate::coding::cm::model_bytes(vocab, n, &p));
    (model + 32 * block_len + (16 << 20)) as u64
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

/// How many of `jobs` blocks of `per_block` bytes each to code at once with `available`
/// bytes free: as many as fit in nine tenths of it (the rest for the model's own buffers and
/// the output), at least one; `jobs` when the free memory is not known. Coding fewer blocks
/// at once never changes the output.
pub fn jobs_that_fit(jobs: usize, per_block: u64, available: Option<u64>) -> usize {
    let Some(avail) = available else { return jobs.max(1) };
    let fit = (avail / 10 * 9) / per_block.max(1);
    jobs.min(fit.min(usize::MAX as u64) as usize).max(1)
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

    /// The cap keeps what fits, never goes below one block or above the request, and leaves
    /// the request alone where the free memory is unknown.
    #[test]
    fn jobs_are_capped_by_memory() {
        let gb = 1u64 << 30;
        assert_eq!(jobs_that_fit(48, gb / 2, Some(100 * gb)), 48);
        assert_eq!(jobs_that_fit(48, gb / 2, Some(10 * gb)), 18);
        assert_eq!(jobs_that_fit(48, gb / 2, Some(gb / 4)), 1);
        assert_eq!(jobs_that_fit(0, gb, Some(100 * gb)), 1);
        assert_eq!(jobs_that_fit(16, gb, None), 16);
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
        let v7 = block_bytes(7, 8000, 1, 1 << 20);
        assert!((330 << 20..420 << 20).contains(&v7), "{v7}");
        assert!(block_bytes(0, 8000, 1, 1 << 20) < v7 / 4);
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
