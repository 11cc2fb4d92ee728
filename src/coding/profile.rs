//! CPU-side timers of a block's coding, on when `LLMZIP_PROFILE` is set (not `0`): where a
//! block's time goes besides the model calls: turning the LM's distribution into what the
//! coder takes ("quantize"), the adaptive model, and the range coder. Timing every decision
//! costs about two clock reads, so it is off unless asked for. Counters are per thread: the
//! coding of a block runs on the block's thread, its model calls on another.

use std::cell::Cell;
use std::sync::OnceLock;
use std::time::Instant;

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

/// A started timer (`None` while profiling is off).
pub fn start() -> Option<Instant> {
    enabled().then(Instant::now)
}

/// Adds the time since `t` to `stage` on this thread.
pub fn stop(stage: Stage, t: Option<Instant>) {
    if let Some(t) = t {
        let ns = t.elapsed().as_nanos() as u64;
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

/// The profile line of one block (`what`: "compress" or "decompress").
pub fn report(what: &str, bytes: usize, tokens: usize, model: f64, wall: f64) {
    let t = take();
    eprintln!(
        "profile {what}: block {bytes} bytes {tokens} tokens: wall {wall:.3} s, model calls {model:.3} s, \
         quantize {:.3} s, adaptive {:.3} s, range coding {:.3} s",
        t.quantize, t.adaptive, t.coding
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Times add up per stage, the adaptive share excludes the other two, and `take` resets.
    #[test]
    fn stages_add_up_and_reset() {
        let _ = take();
        let t0 = Some(Instant::now() - std::time::Duration::from_millis(30));
        stop(Stage::Token, t0);
        stop(Stage::Quantize, Some(Instant::now() - std::time::Duration::from_millis(10)));
        stop(Stage::Coding, Some(Instant::now() - std::time::Duration::from_millis(5)));
        let t = take();
        assert!(t.quantize >= 0.010 && t.quantize < 0.030, "{t:?}");
        assert!(t.coding >= 0.005 && t.coding < 0.030, "{t:?}");
        assert!(t.adaptive >= 0.010 && t.adaptive <= 0.030, "{t:?}");
        let z = take();
        assert_eq!((z.quantize, z.coding, z.adaptive), (0.0, 0.0, 0.0));
        stop(Stage::Coding, None);
        assert_eq!(take().coding, 0.0);
    }
}
