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
