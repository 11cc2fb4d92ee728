//! A token as a path of binary decisions. Tokens are put in order of their text (bytes,
//! then id), so that a token's *rank* in that order says much about how it is spelt; ranks
//! are `bits` wide and coded from the highest bit down, so the first decisions are roughly
//! about the first bytes and tokens spelt alike share their early decisions (and what the
//! contexts learned about them). Node `1` is the root; after deciding bit `b` at node `n` the
//! path is at `2n + b` (the decided bits with a leading 1). A decision whose 1-side holds no
//! rank below the vocabulary size is not coded: it can only be 0.

use super::math;

pub struct Tree {
    pub bits: u32,
    pub vocab: usize,
    /// id → rank and rank → id
    rank: Vec<u32>,
    id: Vec<u32>,
}

impl Tree {
    /// The tree of a vocabulary of `vocab` ids whose texts are `text` (missing ones empty).
    pub fn new(vocab: usize, text: &[Vec<u8>]) -> Self {
        let bits = usize::BITS - (vocab.max(2) - 1).leading_zeros();
        let empty = Vec::new();
        let mut id: Vec<u32> = (0..vocab as u32).collect();
        id.sort_by(|&a, &b| {
            let (x, y) = (text.get(a as usize).unwrap_or(&empty), text.get(b as usize).unwrap_or(&empty));
            x.cmp(y).then(a.cmp(&b))
        });
        let mut rank = vec![0; vocab];
        for (r, &i) in id.iter().enumerate() {
            rank[i as usize] = r as u32;
        }
        Tree { bits, vocab, rank, id }
    }

    #[inline]
    pub fn rank(&self, id: u32) -> u32 {
        self.rank[id as usize]
    }

    #[inline]
    pub fn id(&self, rank: u32) -> u32 {
        self.id[rank as usize]
    }

    /// Ranks under node `node` at `depth` (0 = root), split at the decision: `[lo, mid)` is the
    /// 0-side, `[mid, hi)` the 1-side, both clipped to the vocabulary.
    #[inline]
    pub fn split(&self, node: u32, depth: u32) -> (usize, usize, usize) {
        let below = self.bits - depth;
        let prefix = (node ^ (1 << depth)) as usize;
        let lo = prefix << below;
        let mid = lo + (1 << (below - 1));
        let hi = lo + (1 << below);
        (lo.min(self.vocab), mid.min(self.vocab), hi.min(self.vocab))
    }
}

/// The LM's distribution as bit decisions: probabilities in rank order once per token, then
/// per decision the stretched share of the 1-side.
#[derive(Default)]
pub struct LmBits {
    p: Vec<f32>,
}

/// The logistic domain is clipped to ±CLIP: beyond it one decision costs at most ~11.5 bits
/// or saves nothing measurable.
pub const CLIP: f32 = 11.5;

impl LmBits {
    /// `v3`: as files of adaptive model version 3 were written, log-probabilities at or below
    /// −87 (and NaN) count as probability 0 rather than e^−87.
    pub fn load(&mut self, lp: &[f32], tree: &Tree, v3: bool) {
        self.p.clear();
        self.p.extend(tree.id.iter().map(|&i| lp[i as usize]));
        // a separate pass over contiguous values, which vectorises
        for x in self.p.iter_mut() {
            *x = math::exp(*x);
        }
        if v3 {
            for (x, &i) in self.p.iter_mut().zip(&tree.id) {
                if !(lp[i as usize] > -87.0) {
                    *x = 0.0;
                }
            }
        }
    }

    /// ln(P(1-side) / P(0-side)) for the decision splitting `[lo, mid) | [mid, hi)`.
    #[inline]
    pub fn stretch(&self, lo: usize, mid: usize, hi: usize) -> f32 {
        let (s0, s1) = (sum(&self.p[lo..mid]), sum(&self.p[mid..hi]));
        if s0 <= 0.0 && s1 <= 0.0 {
            return 0.0;
        }
        (math::ln(s1) - math::ln(s0)).clamp(-CLIP, CLIP)
    }
}

/// Sum in a fixed order: eight running sums over the slice, then combined pairwise.
#[inline]
fn sum(x: &[f32]) -> f32 {
    let mut acc = [0.0f32; 8];
    let chunks = x.chunks_exact(8);
    let rest = chunks.remainder();
    for c in chunks {
        for k in 0..8 {
            acc[k] += c[k];
        }
    }
    for (k, &v) in rest.iter().enumerate() {
        acc[k] += v;
    }
    ((acc[0] + acc[1]) + (acc[2] + acc[3])) + ((acc[4] + acc[5]) + (acc[6] + acc[7]))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_id_has_one_path_and_the_lm_odds_are_exact() {
        for v in [2usize, 3, 5, 600, 8000] {
            let t = Tree::new(v, &[]);
            assert!(1usize << t.bits >= v && 1usize << (t.bits - 1) < v);
            for tok in 0..v {
                let mut node = 1u32;
                for d in 0..t.bits {
                    let (lo, mid, hi) = t.split(node, d);
                    let bit = (tok >> (t.bits - 1 - d)) & 1;
                    assert!(lo <= tok && tok < hi);
                    assert_eq!(bit == 1, tok >= mid);
                    assert!(bit == 0 || mid < hi, "a 1 is only taken where the 1-side has ids");
                    node = 2 * node + bit as u32;
                }
            }
        }
        let mut lm = LmBits::default();
        let lp: Vec<f32> = [0.1f32, 0.2, 0.3, 0.4].iter().map(|p| p.ln()).collect();
        // ids 0..4 spelt d, c, b, a: ranks reverse the ids
        let t = Tree::new(4, &[b"d".to_vec(), b"c".to_vec(), b"b".to_vec(), b"a".to_vec()]);
        assert_eq!((t.rank(0), t.id(0)), (3, 3));
        lm.load(&lp, &t, false);
        let (lo, mid, hi) = t.split(1, 0);
        assert!((lm.stretch(lo, mid, hi) - (0.3f32 / 0.7).ln()).abs() < 1e-5);
    }
}
