//! Tables on huge pages. The context slots and the larger APMs are read at random, one entry
//! per context and decision: with 4 KiB pages nearly every such read also misses the TLB, and
//! the page walk costs more than the read. On Linux with transparent huge pages in `madvise`
//! mode (or `always`) a table can ask for 2 MiB pages; for them to cover it whole, it must
//! begin on a 2 MiB boundary, so a [`Table`] allocates one huge page more and starts at the
//! first boundary inside. Where huge pages are not to be had it is an ordinary table: the
//! values are the same either way.

use std::ops::{Deref, DerefMut};

/// Bytes of a huge page.
const HUGE: usize = 2 << 20;
/// Tables smaller than this stay on ordinary pages (a few TLB entries cover them anyway).
const WORTH: usize = 4 << 20;

/// `len` entries; dereferences to them.
pub struct Table<T> {
    buf: Vec<T>,
    start: usize,
}

impl<T: Clone> Table<T> {
    /// `len` copies of `fill`. For zero (integers, floats) the memory comes zeroed from the
    /// system and untouched, so each page is huge from its first write.
    pub fn filled(len: usize, fill: T) -> Self {
        let Some(pad) = pad::<T>(len) else { return Table { buf: vec![fill; len], start: 0 } };
        let mut buf = vec![fill; len + pad];
        let start = advise(&buf, len);
        buf.truncate(start + len);
        Table { buf, start }
    }

    /// Entry `i` is `f(i)`: advised before it is written.
    pub fn from_fn(len: usize, mut f: impl FnMut(usize) -> T) -> Self {
        let Some(pad) = pad::<T>(len) else { return Table { buf: (0..len).map(f).collect(), start: 0 } };
        let mut buf = Vec::with_capacity(len + pad);
        let start = advise(buf.spare_capacity_mut(), len);
        buf.extend((0..start).map(|_| f(0)));
        buf.extend((0..len).map(f));
        Table { buf, start }
    }
}

/// The room a table of `len` entries of `T` needs to start on a huge page (`None`: not
/// worth it, or no such start).
fn pad<T>(len: usize) -> Option<usize> {
    let size = std::mem::size_of::<T>();
    (cfg!(target_os = "linux") && size > 0 && HUGE % size == 0 && len.saturating_mul(size) >= WORTH)
        .then_some(HUGE / size)
}

/// Where in `buf` the first huge page begins, after asking the kernel to back the `len`
/// entries from there with huge pages.
fn advise<T>(buf: &[T], len: usize) -> usize {
    let size = std::mem::size_of::<T>();
    let at = buf.as_ptr() as usize;
    let start = (at.next_multiple_of(HUGE) - at) / size;
    #[cfg(target_os = "linux")]
    // SAFETY: the range lies within `buf`'s allocation (it has `HUGE / size` entries of room
    // beyond `len`), and MADV_HUGEPAGE only changes how the kernel backs memory, never its
    // contents; a refusal (no transparent huge pages) is harmless
    unsafe {
        libc::madvise((at + start * size) as *mut libc::c_void, len * size, libc::MADV_HUGEPAGE);
    }
    start
}

impl<T> Deref for Table<T> {
    type Target = [T];
    #[inline]
    fn deref(&self) -> &[T] {
        &self.buf[self.start..]
    }
}

impl<T> DerefMut for Table<T> {
    #[inline]
    fn deref_mut(&mut self) -> &mut [T] {
        &mut self.buf[self.start..]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Large and small tables hold what they were made with, and a large one starts on a
    /// huge-page boundary.
    #[test]
    fn tables_hold_their_entries() {
        for len in [0usize, 5, 3 << 20] {
            let z = Table::filled(len, 0u32);
            assert_eq!(z.len(), len);
            assert!(z.iter().all(|&x| x == 0));
            let f = Table::from_fn(len, |i| i as u64 * 3);
            assert_eq!(f.len(), len);
            assert!(f.iter().enumerate().all(|(i, &x)| x == i as u64 * 3));
            if len >= 3 << 20 && cfg!(target_os = "linux") {
                assert_eq!(z.as_ptr() as usize % HUGE, 0);
                assert_eq!(f.as_ptr() as usize % HUGE, 0);
            }
        }
    }
}
