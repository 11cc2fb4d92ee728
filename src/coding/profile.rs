//! CPU-side timers (thread CPU time) of a block's coding, on when `LLMZIP_PROFILE` is set (not `0`): where a
//! block's time goes besides the model calls: turning the LM's distribution into what the
//! coder takes ("quantize"), the adaptive model, and the range coder. Timing every decision
//! costs two clock reads, so it is off unless asked for. Counters are per thread: the
//! coding of a block runs on the block's thread, its model calls on another.

use std::cell::Cell;
use std::sync::OnceLock;

/// What a timer measures.
#[derive(Debug, Clone, Copy)]
pub enum Stage {
    /// the LM's log-probabilities to frequencies or to the tree's rank order
    Quantize = 0,
    /// the range coder's calls (whole tokens or bits)
    Coding = 1,
    /// the adaptive model's whole `code` call, the two above included
    Token = 2,
}

thread_local! {
    static NANOS: Cell<[u64; 3]> = const { Cell::new([0; 3]) };
}

/// Whether timers run in this process.
pub fn enabled() -> bool {
    static ON: OnceLock<bool> = OnceLock::new();
    *ON.get_or_init(|| std::env::var_os("LLMZIP_PROFILE").is_some_and(|v| !v.is_empty() && v != "0"))
}

/// A started timer (`None` while profiling is off): this thread's CPU nanoseconds.
pub fn start() -> Option<u64> {
    enabled().then(thread_nanos)
}

/// Adds this thread's CPU time since `t` to `stage`.
pub fn stop(stage: Stage, t: Option<u64>) {
    if let Some(t) = t {
        let ns = thread_nanos().saturating_sub(t);
        NANOS.with(|c| {
            let mut v = c.get();
            v[stage as usize] += ns;
            c.set(v);
        });
    }
}

/// One block's coding times in seconds.
#[derive(Debug, Default, Clone, Copy)]
pub struct Times {
    pub quantize: f64,
    pub coding: f64,
    /// the adaptive model without quantizing and coding
    pub adaptive: f64,
}

/// This thread's times since the last `take`, which resets them.
pub fn take() -> Times {
    let v = NANOS.with(|c| c.replace([0; 3]));
    let s = |ns: u64| ns as f64 / 1e9;
    Times { quantize: s(v[0]), coding: s(v[1]), adaptive: s(v[2].saturating_sub(v[0] + v[1])) }
}

/// CPU nanoseconds this thread has run: a wall clock would count the time other work on a
/// busy machine takes, this does not.
fn thread_nanos() -> u64 {
    let mut ts = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    // SAFETY: clock_gettime writes only the timespec it is given
    let ok = unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) } == 0;
    if ok {
        ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64
    } else {
        0
    }
}

/// CPU seconds this thread has run.
pub fn thread_cpu() -> f64 {
    thread_nanos() as f64 / 1e9
}

/// Starts a block's profile when profiling is on: resets this thread's timers and returns
/// its CPU seconds so far, for [`report`].
pub fn begin() -> Option<f64> {
    enabled().then(|| {
        take();
        thread_cpu()
    })
}

/// The profile line of one block (`what`: "compress" or "decompress"); `model`: seconds in
/// model calls, `wall`: the block's seconds, `cpu0`: what [`begin`] returned. The block
/// thread's CPU time is its coding (the model calls run on other threads).
pub fn report(what: &str, bytes: usize, tokens: usize, model: f64, wall: f64, cpu0: f64) {
    let cpu = thread_cpu() - cpu0;
    let t = take();
    eprintln!(
        "profile {what}: block {bytes} bytes {tokens} tokens: wall {wall:.3} s, model calls {model:.3} s, \
         coding thread CPU {cpu:.3} s: quantize {:.3} s, adaptive {:.3} s, range coding {:.3} s",
        t.quantize, t.adaptive, t.coding
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Spins for about `ms` of this thread's CPU time.
    fn spin(ms: u64) {
        let t = thread_nanos();
        while thread_nanos() - t < ms * 1_000_000 {
            std::hint::black_box(0);
        }
    }

    /// Times add up per stage, the adaptive share excludes the other two, and `take` resets.
    #[test]
    fn stages_add_up_and_reset() {
        let _ = take();
        let whole = Some(thread_nanos());
        let q = Some(thread_nanos());
        spin(10);
        stop(Stage::Quantize, q);
        let c = Some(thread_nanos());
        spin(5);
        stop(Stage::Coding, c);
        spin(15);
        stop(Stage::Token, whole);
        let t = take();
        assert!(t.quantize >= 0.010 && t.quantize < 0.012, "{t:?}");
        assert!(t.coding >= 0.005 && t.coding < 0.007, "{t:?}");
        assert!(t.adaptive >= 0.015 && t.adaptive < 0.017, "{t:?}");
        let z = take();
        assert_eq!((z.quantize, z.coding, z.adaptive), (0.0, 0.0, 0.0));
        stop(Stage::Coding, None);
        assert_eq!(take().coding, 0.0);
    }
}
