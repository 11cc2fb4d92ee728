//! What the adaptive model's unit tests share: an LM that knows nothing, and the ideal cost of
//! coding a token sequence with given parameters.

use super::{ContextMix, LmOdds, Params};

/// An LM that gives even odds at every decision.
pub struct Uniform;

impl LmOdds for Uniform {
    fn odds(&self, _depth: u32, _lo: usize, _mid: usize, _hi: usize) -> f32 {
        0.0
    }
}

/// Ideal bits of coding `tokens` left to right with `p` and an LM that knows nothing.
pub fn cost(p: Params, text: &[Vec<u8>], tokens: &[u32]) -> f64 {
    let mut cm = ContextMix::new(text.len(), tokens.len(), text, p);
    let mut bits = 0.0;
    for (i, &t) in tokens.iter().enumerate() {
        cm.code(i, &Uniform, Some(t), |bit, p1| {
            let b = bit.unwrap();
            let q = p1 as f64 / 65536.0;
            bits -= if b { q } else { 1.0 - q }.log2();
            Ok(b)
        })
        .unwrap();
    }
    bits
}
