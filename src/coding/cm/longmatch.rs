//! The second match model (version 6): the same search as [`Matcher`] but from a longer
//! hashed context, so on text where short contexts recur with many continuations (log lines,
//! table rows) it points at the place whose longer past agrees, where the first model
//! follows the latest short repeat. It is one more mixer input with its own confidence,
//! learned by match length and depth.

use super::counters::{Counters, Read};
use super::matcher::Matcher;
use super::table_bits;

/// Longest match length the confidence tells apart.
const LEN_BUCKETS: u32 = 16;

pub struct LongMatch {
    matcher: Matcher,
    confidence: Counters,
    bits: u32,
    /// the expected token's rank and the match length
    expect: Option<(u32, u32)>,
    read: Read,
    expect_bit: Option<bool>,
    /// 0 no match, 1 the path left the expected token, 2 a match of under 16 tokens, 3 longer
    pub state: usize,
}

/// The values of [`LongMatch::state`].
pub const STATES: usize = 4;

impl LongMatch {
    /// For a block of `n` tokens and a tree of `bits` levels; matches share `min` tokens.
    /// Its table has `slots` slots per token.
    pub fn new(n: usize, bits: u32, min: usize, slots: usize) -> Self {
        LongMatch {
            matcher: Matcher::new(n, table_bits(n, slots, 10, 22)).with_min(min),
            confidence: Counters::new(12),
            bits,
            expect: None,
            read: Read::default(),
            expect_bit: None,
            state: 0,
        }
    }

    /// Before coding position `i`: find the match; `rank` maps a token to its rank.
    pub fn begin(&mut self, i: usize, known: &[u32], rank: impl Fn(u32) -> u32) {
        self.expect = self.matcher.find(i, known).map(|(t, len, _)| (rank(t), len));
    }

    /// The input for the decision at `node`, `depth`: the stretched confidence towards the
    /// expected bit while the path still leads to the expected token, else 0.
    pub fn input(&mut self, node: u32, depth: u32) -> f32 {
        self.expect_bit = None;
        self.state = 0;
        let Some((tok, len)) = self.expect else { return 0.0 };
        if (tok | (1 << self.bits)) >> (self.bits - depth) != node {
            self.state = 1;
            return 0.0;
        }
        self.state = if len < 16 { 2 } else { 3 };
        let eb = (tok >> (self.bits - 1 - depth)) & 1 == 1;
        self.expect_bit = Some(eb);
        let bucket = (len / 3).min(LEN_BUCKETS - 1) as u64;
        self.read = self.confidence.read(bucket * 32 + depth as u64, 0);
        let s = self.read.stretch();
        if eb {
            s
        } else {
            -s
        }
    }

    pub fn update(&mut self, bit: bool) {
        if let Some(eb) = self.expect_bit {
            self.confidence.update(&self.read, bit == eb);
        }
    }

    /// `known[i]` was just revealed.
    pub fn learn(&mut self, i: usize, known: &[u32]) {
        self.matcher.learn(i, known);
    }
}
