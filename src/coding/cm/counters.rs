//! Adaptive probabilities of bit decisions, one per (context, tree node), in a hash table of
//! fixed size. A slot is one u32: P(1) in 18 bits, a count in 6 bits (the learning rate is
//! 1/(count + 1.5), so a fresh context learns fast and an old one averages), and 8 check bits
//! of the hash: a slot owned by another context reads as fresh and is taken over on update.

use std::sync::OnceLock;

use super::math;

const P_BITS: u32 = 18;
const HALF: u32 = 1 << (P_BITS - 1);

/// Most observations a slot's rate counts (then it adapts at 1/(LIMIT + 1.5)).
pub const LIMIT: u32 = 60;

/// 2^16 / (n + 1.5), the learning rate after n observations.
fn rate(n: u32) -> u32 {
    static T: OnceLock<[u32; 64]> = OnceLock::new();
    T.get_or_init(|| std::array::from_fn(|n| 131_072 / (2 * n as u32 + 3)))[n as usize]
}

/// stretch(P(1)) for the top 12 bits of a slot's probability.
pub fn stretch_p(p18: u32) -> f32 {
    static T: OnceLock<Vec<f32>> = OnceLock::new();
    T.get_or_init(|| (0..4096).map(|j| math::stretch((j as f32 + 0.5) / 4096.0)).collect())[(p18 >> 6) as usize]
}

#[inline]
fn mix(h: u64, node: u32) -> u64 {
    let mut x = h ^ (node as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    x = (x ^ (x >> 29)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    x ^ (x >> 32)
}

/// A probability as read: the slot's index (for the update), P(1) in 18 bits and the count.
#[derive(Clone, Copy, Default)]
pub struct Read {
    pub idx: u32,
    pub chk: u8,
    pub p: u32,
    pub n: u32,
}

impl Read {
    pub fn stretch(&self) -> f32 {
        if self.n == 0 {
            0.0
        } else {
            stretch_p(self.p)
        }
    }
}

pub struct Counters {
    t: Vec<u32>,
    mask: u64,
}

impl Counters {
    /// A table of 2^bits slots.
    pub fn new(bits: u32) -> Self {
        Counters { t: vec![0; 1 << bits], mask: (1u64 << bits) - 1 }
    }

    #[inline]
    pub fn read(&self, h: u64, node: u32) -> Read {
        let x = mix(h, node);
        let idx = (x & self.mask) as u32;
        let chk = (x >> 56) as u8;
        let s = self.t[idx as usize];
        if s & 0xFF == chk as u32 && s != 0 {
            Read { idx, chk, p: s >> 14, n: (s >> 8) & 63 }
        } else {
            Read { idx, chk, p: HALF, n: 0 }
        }
    }

    #[inline]
    pub fn update(&mut self, r: &Read, bit: bool) {
        let p = r.p as i64;
        let target = if bit { (1i64 << P_BITS) - 1 } else { 0 };
        let p = (p + (((target - p) * rate(r.n) as i64) >> 16)) as u32;
        let n = (r.n + 1).min(LIMIT);
        // a slot is never 0 once written (n ≥ 1), so 0 means empty
        self.t[r.idx as usize] = (p << 14) | (n << 8) | r.chk as u32;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn learns_a_biased_bit_and_separates_contexts() {
        let mut c = Counters::new(12);
        for k in 0..200 {
            let r = c.read(7, 3);
            c.update(&r, k % 10 != 0);
            let r = c.read(8, 3);
            c.update(&r, false);
        }
        let a = c.read(7, 3);
        assert!((a.p as f32 / (1 << P_BITS) as f32 - 0.9).abs() < 0.05, "p = {}", a.p);
        assert_eq!(a.n, LIMIT);
        assert!(c.read(8, 3).stretch() < -3.0);
        assert_eq!(c.read(9, 3).n, 0, "an unseen context reads as fresh");
    }
}
