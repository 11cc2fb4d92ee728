//! CPU-side timers (thread CPU time) of a block's coding, on when `LLMZIP_PROFILE` is set (not `0`): where a
//! block's time goes besides the model calls: turning the LM's distribution into what the
//! coder takes ("quantize"), the adaptive model, and the range coder. Counters are per
//! thread: the coding of a block runs on the block's thread, its model calls on another.
//! A thread CPU clock read is a system call (about as long as coding a decision), so the
//! stages are timed on a sample of the tokens ([`sample_token`]) and scaled up; the block's
//! whole coding-thread time is measured exactly.

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
    /// how many intervals each stage's time adds up
    static STOPS: Cell<[u64; 3]> = const { Cell::new([0; 3]) };
    /// tokens seen and tokens timed since the last `take`
    static TOKENS: Cell<[u64; 2]> = const { Cell::new([0; 2]) };
    /// whether the token being coded is one of the sample
    static SAMPLING: Cell<bool> = const { Cell::new(false) };
}

/// One token in this many (on average) has its stages timed.
const SAMPLE_EVERY: u64 = 16;

/// Whether timers run in this process.
pub fn enabled() -> bool {
    static ON: OnceLock<bool> = OnceLock::new();
    *ON.get_or_init(|| std::env::var_os("LLMZIP_PROFILE").is_some_and(|v| !v.is_empty() && v != "0"))
}

/// Counts a token about to be coded and says whether to time its stages (one in
/// [`SAMPLE_EVERY`], picked by a hash of the count so that the sample does not follow the
/// plan's lanes); [`start`] times only while the answer holds, until [`end_token`].
pub fn sample_token() -> bool {
    let c = TOKENS.with(|c| {
        let mut v = c.get();
        v[0] += 1;
        let pick = (v[0].wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 59) % SAMPLE_EVERY == 0;
        v[1] += pick as u64;
        c.set(v);
        pick
    });
    SAMPLING.with(|s| s.set(c));
    c
}

/// Ends the token [`sample_token`] began.
pub fn end_token() {
    SAMPLING.with(|s| s.set(false));
}

/// A started timer (`None` while profiling is off or the token is not in the sample): this
/// thread's CPU nanoseconds.
pub fn start() -> Option<u64> {
    (enabled() && SAMPLING.with(Cell::get)).then(thread_nanos)
}

/// Adds this thread's CPU time since `t` to `stage`.
pub fn stop(stage: Stage, t: Option<u64>) {
    if let Some(t) = t {
        let ns = thread_nanos().saturating_sub(t);
        for (cell, x) in [(&NANOS, ns), (&STOPS, 1)] {
            cell.with(|c| {
                let mut v = c.get();
                v[stage as usize] += x;
                c.set(v);
            });
        }
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

/// This thread's times since the last `take`, which resets them: the sampled tokens' times
/// scaled to all tokens.
pub fn take() -> Times {
    let [q, c, t] = NANOS.with(|c| c.replace([0; 3])).map(|ns| ns as f64);
    let [nq, nc, nt] = STOPS.with(|c| c.replace([0; 3])).map(|n| n as f64);
    let [seen, timed] = TOKENS.with(|c| c.replace([0; 2]));
    let scale = if timed == 0 { 1.0 } else { seen as f64 / timed as f64 };
    // an interval holds about one clock read; a token's, also both reads of each interval
    // within it
    let r = if nq + nc + nt > 0.0 { read_cost() } else { 0.0 };
    let (q, c) = ((q - r * nq).max(0.0), (c - r * nc).max(0.0));
    let t = (t - r * nt - 2.0 * r * (nq + nc)).max(q + c);
    let s = |ns: f64| ns * scale / 1e9;
    Times { quantize: s(q), coding: s(c), adaptive: s(t - q - c) }
}

/// CPU nanoseconds one clock read costs, measured once: what [`take`] takes off the times.
fn read_cost() -> f64 {
    static COST: OnceLock<f64> = OnceLock::new();
    *COST.get_or_init(|| {
        const READS: u64 = 1000;
        let t0 = thread_nanos();
        for _ in 0..READS {
            std::hint::black_box(thread_nanos());
        }
        (thread_nanos() - t0) as f64 / (READS + 1) as f64
    })
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
         coding thread CPU {cpu:.3} s: quantize {:.3} s, adaptive {:.3} s, range coding {:.3} s \
         (stages timed on 1 token in {SAMPLE_EVERY}, scaled)",
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
        // less the clock reads' cost, which is under a microsecond
        assert!(t.quantize >= 0.0099 && t.quantize < 0.012, "{t:?}");
        assert!(t.coding >= 0.0049 && t.coding < 0.007, "{t:?}");
        assert!(t.adaptive >= 0.0149 && t.adaptive < 0.017, "{t:?}");
        let z = take();
        assert_eq!((z.quantize, z.coding, z.adaptive), (0.0, 0.0, 0.0));
        stop(Stage::Coding, None);
        assert_eq!(take().coding, 0.0);
    }

    /// Stage times of the sampled tokens stand for all tokens: a 1 ms stage in every
    /// sampled token of 1600 reads as 1.6 s, and about one token in 16 is sampled.
    #[test]
    fn a_sample_is_scaled_to_all_tokens() {
        let _ = take();
        // a start 1 ms back needs a thread that has run that long
        spin(2);
        let mut picked = 0;
        for _ in 0..1600 {
            if sample_token() {
                picked += 1;
                stop(Stage::Quantize, Some(thread_nanos().saturating_sub(1_000_000)));
            }
            end_token();
        }
        assert!((50..=150).contains(&picked), "{picked} of 1600 sampled");
        let q = take().quantize;
        assert!((1.59..1.61).contains(&q), "{q}");
    }
}
