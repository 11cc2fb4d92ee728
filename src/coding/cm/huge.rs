//! Tables on huge pages, mapped straight from the kernel. The context slots and the larger
//! APMs are read at random, one entry per context and decision: with 4 KiB pages nearly every
//! such read also misses the TLB, and the page walk costs more than the read. On Linux with
//! transparent huge pages in `madvise` mode (or `always`) a table can ask for 2 MiB pages; for
//! them to cover it whole, it must begin on a 2 MiB boundary.
//!
//! A large table is its own anonymous mapping rather than a heap allocation: the process
//! raises malloc's mapping threshold (model calls reuse their large buffers), so from the heap
//! a table would be cleared by `calloc` page by page before it is advised (touching every page,
//! as small pages), and its memory would stay with the process after the block. A mapping is
//! zero without being touched, is aligned by unmapping the slack around it, and goes back to
//! the kernel when the table is dropped. Where huge pages or mappings are not to be had it is
//! an ordinary vector: the values are the same either way.

use std::ops::{Deref, DerefMut};

/// Bytes of a huge page.
const HUGE: usize = 2 << 20;
/// Tables smaller than this stay on the heap (a few TLB entries cover them anyway), unless
/// they are whole huge pages ([`mapping_pays`]).
const WORTH: usize = 4 << 20;

/// Whether a table of `bytes` is mapped on huge pages: from [`WORTH`] on, or when it fills
/// whole huge pages (no slack; small blocks' context tables, read at random like the large).
fn mapping_pays(bytes: usize) -> bool {
    cfg!(target_os = "linux") && (bytes >= WORTH || (bytes > 0 && bytes % HUGE == 0))
}

#[cfg(test)]
thread_local! {
    /// bytes of table mappings this thread made and dropped, net (for tests that weigh what
    /// a model holds)
    static MAPPED_HERE: std::cell::Cell<isize> = const { std::cell::Cell::new(0) };
}

/// Bytes of table mappings made on this thread and not yet unmapped there.
#[cfg(test)]
pub fn mapped_here() -> isize {
    MAPPED_HERE.with(|m| m.get())
}

/// Bytes a table of `bytes` takes: a mapped one whole huge pages.
pub fn footprint(bytes: usize) -> usize {
    if mapping_pays(bytes) {
        bytes.next_multiple_of(HUGE)
    } else {
        bytes
    }
}

/// Entry types whose all-zero bytes are the value [`Zeroed::ZERO`] (what a fresh mapping
/// holds).
///
/// # Safety
/// All-zero bytes must be a valid value of the type, equal to `ZERO`.
pub unsafe trait Zeroed: Copy {
    const ZERO: Self;
}
// SAFETY: integers and floats are valid (zero) as all-zero bytes
unsafe impl Zeroed for u32 {
    const ZERO: Self = 0;
}
// SAFETY: as above
unsafe impl Zeroed for u64 {
    const ZERO: Self = 0;
}
// SAFETY: as above
unsafe impl Zeroed for f32 {
    const ZERO: Self = 0.0;
}

/// `len` entries; dereferences to them.
pub struct Table<T: Copy> {
    ptr: *mut T,
    len: usize,
    /// who owns the memory `ptr` points into
    owner: Owner<T>,
}

enum Owner<T> {
    /// a heap vector, held only to be freed with the table (its buffer does not move when
    /// the vector does)
    Heap(#[allow(dead_code)] Vec<T>),
    /// a mapping of this many bytes at `ptr`
    Mapped(usize),
    /// a part of a mapping shared with other tables, unmapped with the last of them
    Shared(#[allow(dead_code)] std::sync::Arc<Mapping>),
}

/// A mapping that several tables share ([`Table::zeroed_together`]).
struct Mapping {
    at: *mut u8,
    bytes: usize,
}

// SAFETY: the mapping is plain memory; the tables carved from it never overlap, and it is only
// unmapped when the last of them is dropped
unsafe impl Send for Mapping {}
// SAFETY: as above; `&Mapping` gives access to nothing
unsafe impl Sync for Mapping {}

impl Drop for Mapping {
    fn drop(&mut self) {
        #[cfg(target_os = "linux")]
        // SAFETY: made by `map_aligned` with this start and length, unmapped once, after every
        // table in it was dropped (each holds the `Arc`)
        unsafe {
            libc::munmap(self.at as *mut libc::c_void, self.bytes);
        }
        #[cfg(test)]
        MAPPED_HERE.with(|m| m.set(m.get() - self.bytes as isize));
    }
}

/// Which of tables of `bytes` each [`Table::zeroed_together`] maps together: the largest
/// first, as many as fill whole huge pages (no slack); the others are made alone.
fn together(bytes: &[usize]) -> (Vec<usize>, usize) {
    let mut order: Vec<usize> = (0..bytes.len()).collect();
    order.sort_by_key(|&k| std::cmp::Reverse(bytes[k]));
    let (mut sum, mut take) = (0usize, 0);
    for (j, &k) in order.iter().enumerate() {
        sum += bytes[k];
        if bytes[k] % 64 != 0 {
            break;
        }
        if sum % HUGE == 0 && mapping_pays(sum) {
            take = j + 1;
        }
    }
    (order, take)
}

/// Bytes that tables of `bytes` each take when made by [`Table::zeroed_together`].
pub fn footprint_together(bytes: &[usize]) -> usize {
    let (order, take) = together(bytes);
    order[..take].iter().map(|&k| bytes[k]).sum::<usize>()
        + order[take..].iter().map(|&k| footprint(bytes[k])).sum::<usize>()
}

// SAFETY: a table owns its entries like a `Vec<T>` does; the raw pointer is never shared
unsafe impl<T: Copy + Send> Send for Table<T> {}
// SAFETY: as above; `&Table` only gives out `&[T]`
unsafe impl<T: Copy + Sync> Sync for Table<T> {}

impl<T: Copy> Table<T> {
    fn heap(mut v: Vec<T>) -> Self {
        Table { ptr: v.as_mut_ptr(), len: v.len(), owner: Owner::Heap(v) }
    }

    /// Tables of `lens[k]` zeros each. The largest of them, as many as fill whole huge pages,
    /// lie one after the other in one mapping ([`together`]): tables too small for huge pages of
    /// their own (a small block's contexts) share them; the others are made alone.
    pub fn zeroed_together(lens: &[usize]) -> Vec<Self>
    where
        T: Zeroed,
    {
        let size = std::mem::size_of::<T>();
        let bytes: Vec<usize> = lens.iter().map(|&l| l * size).collect();
        let (order, take) = together(&bytes);
        let total: usize = order[..take].iter().map(|&k| bytes[k]).sum();
        let mut parts: Vec<Option<Self>> = lens.iter().map(|_| None).collect();
        if let Some((at, mapped)) =
            (take > 0 && HUGE % std::mem::align_of::<T>() == 0).then(|| map_aligned(total)).flatten()
        {
            let shared = std::sync::Arc::new(Mapping { at, bytes: mapped });
            let mut offset = 0;
            for &k in &order[..take] {
                // SAFETY: the parts lie one after the other within the mapping (`total` bytes),
                // each aligned for `T` (every part's size is a multiple of 64 bytes); a fresh
                // mapping is zero bytes, a valid `T` (`Zeroed`); the `Arc` keeps the mapping
                // until the last part goes
                let ptr = unsafe { at.add(offset) } as *mut T;
                offset += bytes[k];
                parts[k] = Some(Table { ptr, len: lens[k], owner: Owner::Shared(shared.clone()) });
            }
        }
        parts.into_iter().zip(lens).map(|(t, &len)| t.unwrap_or_else(|| Self::zeroed(len))).collect()
    }

    /// `len` zeros; the pages are the kernel's zero pages until written, so each becomes a
    /// huge page at its first write.
    pub fn zeroed(len: usize) -> Self
    where
        T: Zeroed,
    {
        // SAFETY: a fresh anonymous mapping holds zero bytes, a valid `T` (`Zeroed`)
        unsafe { Self::mapped(len) }.unwrap_or_else(|| Self::heap(vec![T::ZERO; len]))
    }

    /// Entry `i` is `f(i)`: advised before it is written.
    pub fn from_fn(len: usize, mut f: impl FnMut(usize) -> T) -> Self {
        // SAFETY: every entry is written below before the table is handed out (`T: Copy`,
        // so overwriting the zero bytes drops nothing)
        match unsafe { Self::mapped(len) } {
            Some(t) => {
                for i in 0..len {
                    // SAFETY: entry `i` lies in the mapping; a whole value is written without
                    // reading the old bytes
                    unsafe { t.ptr.add(i).write(f(i)) };
                }
                t
            }
            None => Self::heap((0..len).map(f).collect()),
        }
    }

    /// A mapping of `len` entries on a huge-page boundary, advised for huge pages (`None`:
    /// not worth it, not Linux, or no mapping to be had).
    ///
    /// # Safety
    /// The entries are zero bytes: the caller makes them valid values before reading them.
    unsafe fn mapped(len: usize) -> Option<Self> {
        let size = std::mem::size_of::<T>();
        let bytes = len.checked_mul(size)?;
        if size == 0 || !mapping_pays(bytes) || HUGE % std::mem::align_of::<T>() != 0 {
            return None;
        }
        map_aligned(bytes).map(|(ptr, mapped)| Table { ptr: ptr as *mut T, len, owner: Owner::Mapped(mapped) })
    }
}

/// `bytes` (rounded up to whole huge pages) of fresh zero memory starting on a huge-page
/// boundary and advised for huge pages: the start and the mapping's length.
#[cfg(target_os = "linux")]
fn map_aligned(bytes: usize) -> Option<(*mut u8, usize)> {
    let want = bytes.checked_next_multiple_of(HUGE)?;
    let total = want.checked_add(HUGE)?;
    // SAFETY: a new private anonymous mapping touches no existing memory; the slack before
    // the first boundary and after `want` bytes is unmapped again (both are whole pages of
    // that same mapping), and MADV_HUGEPAGE only changes how the kernel backs the range,
    // never its contents (a refusal is harmless)
    unsafe {
        let at = libc::mmap(
            std::ptr::null_mut(),
            total,
            libc::PROT_READ | libc::PROT_WRITE,
            libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
            -1,
            0,
        );
        if at == libc::MAP_FAILED {
            return None;
        }
        let base = at as usize;
        let start = base.next_multiple_of(HUGE);
        if start > base {
            libc::munmap(at, start - base);
        }
        let end = start + want;
        if base + total > end {
            libc::munmap(end as *mut libc::c_void, base + total - end);
        }
        libc::madvise(start as *mut libc::c_void, want, libc::MADV_HUGEPAGE);
        #[cfg(test)]
        MAPPED_HERE.with(|m| m.set(m.get() + want as isize));
        Some((start as *mut u8, want))
    }
}

#[cfg(not(target_os = "linux"))]
fn map_aligned(_bytes: usize) -> Option<(*mut u8, usize)> {
    None
}

impl<T: Copy> Drop for Table<T> {
    fn drop(&mut self) {
        #[cfg(target_os = "linux")]
        if let Owner::Mapped(bytes) = self.owner {
            // SAFETY: the mapping was made by `map_aligned` with this start and length and is
            // unmapped once; no reference into it outlives the table
            unsafe {
                libc::munmap(self.ptr as *mut libc::c_void, bytes);
            }
            #[cfg(test)]
            MAPPED_HERE.with(|m| m.set(m.get() - bytes as isize));
        }
    }
}

impl<T: Copy> Deref for Table<T> {
    type Target = [T];
    #[inline]
    fn deref(&self) -> &[T] {
        // SAFETY: `ptr` points to `len` initialised entries owned by the table
        unsafe { std::slice::from_raw_parts(self.ptr, self.len) }
    }
}

impl<T: Copy> DerefMut for Table<T> {
    #[inline]
    fn deref_mut(&mut self) -> &mut [T] {
        // SAFETY: as in `deref`, and `&mut self` makes the access exclusive
        unsafe { std::slice::from_raw_parts_mut(self.ptr, self.len) }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Large and small tables hold what they were made with and can be written, and a large
    /// one starts on a huge-page boundary.
    #[test]
    fn tables_hold_their_entries() {
        for len in [0usize, 5, 3 << 20] {
            let mut z = Table::<u32>::zeroed(len);
            assert_eq!(z.len(), len);
            assert!(z.iter().all(|&x| x == 0));
            if len > 0 {
                z[len - 1] = 7;
                assert_eq!(z[len - 1], 7);
            }
            let f = Table::from_fn(len, |i| i as u64 * 3);
            assert_eq!(f.len(), len);
            assert!(f.iter().enumerate().all(|(i, &x)| x == i as u64 * 3));
            if len >= 3 << 20 && cfg!(target_os = "linux") {
                assert_eq!(z.as_ptr() as usize % HUGE, 0);
                assert_eq!(f.as_ptr() as usize % HUGE, 0);
            }
        }
    }

    /// A large zeroed table takes no memory until it is written (a block's model costs only
    /// the pages its contexts reach, and no slack around the table is ever touched).
    #[cfg(target_os = "linux")]
    #[test]
    fn a_fresh_table_is_not_resident() {
        let resident = |t: &[u32]| {
            let page = 4096;
            let mut v = vec![0u8; (t.len() * 4).div_ceil(page)];
            // SAFETY: the range is the table's own, page-aligned (it starts on a huge page)
            let rc = unsafe { libc::mincore(t.as_ptr() as *mut libc::c_void, t.len() * 4, v.as_mut_ptr()) };
            assert_eq!(rc, 0);
            v.iter().filter(|&&b| b & 1 == 1).count()
        };
        let mut t = Table::<u32>::zeroed(8 << 20);
        assert_eq!(resident(&t), 0);
        t[12345] = 1;
        let after = resident(&t);
        assert!((1..=512).contains(&after), "{after} pages resident after one write");
    }

    /// Tables made together hold zeros, do not overlap, share huge pages where together they
    /// fill them, and give the mapping back with the last of them.
    #[test]
    fn tables_made_together_are_apart() {
        let cases = [
            (vec![1 << 18, 1 << 17, 1 << 18, 5], 2 << 20),
            (vec![3, 7], 0),
            (vec![1 << 19, 1 << 20, 1 << 19, 1 << 16], 8 << 20),
        ];
        for (lens, together) in cases {
            let mapped = mapped_here();
            let mut ts = Table::<u32>::zeroed_together(&lens);
            let bytes: Vec<usize> = lens.iter().map(|l| l * 4).collect();
            let want = if cfg!(target_os = "linux") { together } else { 0 };
            assert_eq!(mapped_here() - mapped, want, "{lens:?}");
            assert_eq!(footprint_together(&bytes), bytes.iter().sum::<usize>(), "{lens:?}: no slack");
            for (k, t) in ts.iter_mut().enumerate() {
                assert_eq!(t.len(), lens[k]);
                assert!(t.iter().all(|&x| x == 0));
                t.fill(k as u32 + 1);
            }
            for (k, t) in ts.iter().enumerate() {
                assert!(t.iter().all(|&x| x == k as u32 + 1), "table {k} of {lens:?} was overwritten");
            }
            if cfg!(target_os = "linux") && lens[1] == 1 << 20 {
                // the largest first, on a huge page's boundary; the 256 KiB one alone
                assert_eq!(ts[1].as_ptr() as usize % HUGE, 0);
            }
            drop(ts);
            assert_eq!(mapped_here(), mapped);
        }
    }

    /// Tables of entries of odd sizes (a struct of 8 bytes with padding) map and fill too.
    #[test]
    fn padded_entries_fill() {
        #[derive(Clone, Copy, PartialEq, Debug)]
        struct P {
            p: f32,
            n: u16,
        }
        let len = (WORTH / 8) + 3;
        let t = Table::from_fn(len, |i| P { p: i as f32, n: (i % 1000) as u16 });
        assert_eq!(t.len(), len);
        assert_eq!(t[len - 1], P { p: (len - 1) as f32, n: ((len - 1) % 1000) as u16 });
        drop(t);
    }
}
