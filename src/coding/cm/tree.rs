//! A token as a path of binary decisions. Tokens are put in order of their text (bytes,
//! then id), so that a token's *rank* in that order says much about how it is spelt; ranks
//! are `bits` wide and coded from the highest bit down, so the first decisions are roughly
//! about the first bytes and tokens spelt alike share their early decisions (and what the
//! contexts learned about them). Node `1` is the root; after deciding bit `b` at node `n` the
//! path is at `2n + b` (the decided bits with a leading 1). A decision whose 1-side holds no
//! rank below the vocabulary size is not coded: it can only be 0.

use super::counters::prefetch;
use super::math;

/// Depth of the tree of a vocabulary of `vocab` ids: bits of the largest rank.
pub fn tree_bits(vocab: usize) -> u32 {
    usize::BITS - (vocab.max(2) - 1).leading_zeros()
}

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
        let bits = tree_bits(vocab);
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

    /// Each id's rank, by id.
    pub fn ranks(&self) -> &[u32] {
        &self.rank
    }

    /// The tree whose [`Tree::ranks`] are `rank` (`None` unless a permutation).
    pub fn from_ranks(rank: &[u32]) -> Option<Self> {
        let vocab = rank.len();
        let mut id = vec![u32::MAX; vocab];
        for (i, &r) in rank.iter().enumerate() {
            let slot = id.get_mut(r as usize).filter(|s| **s == u32::MAX)?;
            *slot = i as u32;
        }
        let bits = tree_bits(vocab);
        Some(Tree { bits, vocab, rank: rank.to_vec(), id })
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
    /// the probabilities in id order (scratch of `load`)
    by_id: Vec<f32>,
}

/// The logistic domain is clipped to ±CLIP: beyond it one decision costs at most ~11.5 bits
/// or saves nothing measurable.
pub const CLIP: f32 = 11.5;

impl LmBits {
    /// `v3`: as files of adaptive model version 3 were written, log-probabilities at or below
    /// −87 (and NaN) count as probability 0 rather than e^−87.
    pub fn load(&mut self, lp: &[f32], tree: &Tree, v3: bool) {
        self.p.resize(tree.id.len(), 0.0);
        if lp.len() == tree.rank.len() {
            // one pass in id order: it reads the model's output (fresh from another thread,
            // so not in this core's cache) in the order the hardware prefetches, and each
            // e^x goes straight to its rank (a permutation, so every entry is written once)
            return exp_scatter(lp, &tree.rank, &mut self.p, v3);
        }
        // a distribution of another size: what its ids in the tree's order give
        self.by_id.resize(lp.len(), 0.0);
        exp_into(lp, &mut self.by_id);
        if v3 {
            zero_below_87(lp, &mut self.by_id);
        }
        for (x, &i) in self.p.iter_mut().zip(&tree.id) {
            *x = self.by_id[i as usize];
        }
    }

    /// ln(P(1-side) / P(0-side)) for the decision splitting `[lo, mid) | [mid, hi)`.
    #[inline]
    pub fn stretch(&self, lo: usize, mid: usize, hi: usize) -> f32 {
        let (s0, s1) = sums(&self.p[lo..mid], &self.p[mid..hi]);
        odds_of(s0, s1)
    }

    /// The probabilities in rank order, as [`LmBits::load`] left them.
    pub fn probs(&self) -> &[f32] {
        &self.p
    }
}

/// ln(`s1` / `s0`) clipped to ±[`CLIP`], for the probability sums of a decision's two sides.
#[inline]
pub fn odds_of(s0: f32, s1: f32) -> f32 {
    if s0 <= 0.0 && s1 <= 0.0 {
        return 0.0;
    }
    (math::ln(s1) - math::ln(s0)).clamp(-CLIP, CLIP)
}

/// e^x of each of `lp` into `out`, with the widest vectors this CPU has (the same bits at
/// any width: each value is computed alone, by the same operations in the same order).
fn exp_into(lp: &[f32], out: &mut [f32]) {
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx2") {
        // SAFETY: the CPU has AVX2 (checked just above)
        return unsafe { exp_into_avx2(lp, out) };
    }
    exp_loop(lp, out);
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn exp_into_avx2(lp: &[f32], out: &mut [f32]) {
    exp_loop(lp, out);
}

#[inline(always)]
fn exp_loop(lp: &[f32], out: &mut [f32]) {
    for (o, &x) in out.iter_mut().zip(lp) {
        *o = math::exp(x);
    }
}

/// Version 3's reading of `lp`: at or below −87, and NaN, probability 0.
#[inline(always)]
fn zero_below_87(lp: &[f32], out: &mut [f32]) {
    for (x, &l) in out.iter_mut().zip(lp) {
        if !(l > -87.0) {
            *x = 0.0;
        }
    }
}

/// `out[rank[i]]` = e^`lp[i]` (0 where `v3` reads `lp[i]` as probability 0), for `rank` a
/// permutation of `0..out.len()`; the values of [`exp_into`] then a gather in rank order.
fn exp_scatter(lp: &[f32], rank: &[u32], out: &mut [f32], v3: bool) {
    #[cfg(target_arch = "x86_64")]
    {
        if std::arch::is_x86_feature_detected!("avx512f") {
            // SAFETY: the CPU has AVX-512F (checked just above)
            return unsafe { exp_scatter_avx512(lp, rank, out, v3) };
        }
        if std::arch::is_x86_feature_detected!("avx2") {
            // SAFETY: the CPU has AVX2 (checked just above)
            return unsafe { exp_scatter_avx2(lp, rank, out, v3) };
        }
    }
    exp_scatter_loop(lp, rank, out, v3);
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
unsafe fn exp_scatter_avx512(lp: &[f32], rank: &[u32], out: &mut [f32], v3: bool) {
    exp_scatter_loop(lp, rank, out, v3);
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn exp_scatter_avx2(lp: &[f32], rank: &[u32], out: &mut [f32], v3: bool) {
    exp_scatter_loop(lp, rank, out, v3);
}

/// Values a chunk at a time, so that their e^x vectorise, then stored one by one.
const SCATTER: usize = 16;
/// How far ahead of the chunk being read the load of `lp` is asked for: a row fresh from
/// another thread is in no cache of this core, and the hardware's own prefetch of the
/// stream keeps too few lines in flight (measured: 1 KiB ahead, a cold row costs what a
/// cached one does).
const AHEAD: usize = 256;

#[inline(always)]
fn exp_scatter_loop(lp: &[f32], rank: &[u32], out: &mut [f32], v3: bool) {
    let whole = lp.len() / SCATTER * SCATTER;
    let mut e = [0.0f32; SCATTER];
    for (j, (l, r)) in lp[..whole].chunks_exact(SCATTER).zip(rank.chunks_exact(SCATTER)).enumerate() {
        prefetch(&lp[(j * SCATTER + AHEAD).min(lp.len() - 1)]);
        let l: &[f32; SCATTER] = l.try_into().expect("a whole chunk");
        exp_loop(l, &mut e);
        if v3 {
            zero_below_87(l, &mut e);
        }
        for (&r, &e) in r.iter().zip(&e) {
            out[r as usize] = e;
        }
    }
    let (l, r) = (&lp[whole..], &rank[whole..]);
    exp_loop(l, &mut e);
    if v3 {
        zero_below_87(l, &mut e);
    }
    for (&r, &e) in r.iter().zip(&e) {
        out[r as usize] = e;
    }
}

/// The sums of two slices in a fixed order (eight running sums over each, combined pairwise),
/// their whole chunks of eight side by side while both have one: the same additions in the
/// same order per slice, two chains at once. With AVX the eight running sums are one vector
/// (the same additions, lane by lane).
#[inline]
pub fn sums(a: &[f32], b: &[f32]) -> (f32, f32) {
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx") {
        // SAFETY: the CPU has AVX (checked just above)
        return unsafe { sums_avx(a, b) };
    }
    sums_loop(a, b)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx")]
unsafe fn sums_avx(a: &[f32], b: &[f32]) -> (f32, f32) {
    sums_loop(a, b)
}

#[inline(always)]
fn sums_loop(a: &[f32], b: &[f32]) -> (f32, f32) {
    let both = a.len().min(b.len()) / 8 * 8;
    let (mut x, mut y) = ([0.0f32; 8], [0.0f32; 8]);
    for (c, d) in a[..both].chunks_exact(8).zip(b[..both].chunks_exact(8)) {
        for k in 0..8 {
            x[k] += c[k];
            y[k] += d[k];
        }
    }
    (combine(&sum_into(x, &a[both..])), combine(&sum_into(y, &b[both..])))
}

/// Eight running sums combined pairwise.
#[inline(always)]
fn combine(acc: &[f32; 8]) -> f32 {
    ((acc[0] + acc[1]) + (acc[2] + acc[3])) + ((acc[4] + acc[5]) + (acc[6] + acc[7]))
}

/// `acc` with the eight running sums of `x` added: element `8j + k` to `acc[k]`, in order.
#[inline(always)]
fn sum_into(mut acc: [f32; 8], x: &[f32]) -> [f32; 8] {
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
    acc
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Two slices summed side by side give the bits of each summed alone, whatever their
    /// lengths.
    #[test]
    fn sums_side_by_side_are_sums_alone() {
        let x: Vec<f32> = (0..700).map(|i| ((i * 7919) % 1000) as f32 * 1e-3 + 1e-7 * i as f32).collect();
        for (la, lb) in [(0, 0), (3, 0), (8, 8), (16, 8), (512, 488), (37, 91), (64, 64), (350, 350)] {
            let (a, b) = (&x[..la], &x[700 - lb..]);
            // element j goes to running sum j mod 8, in order (the order files were written with)
            let alone = |x: &[f32]| {
                let mut acc = [0.0f32; 8];
                for (j, &v) in x.iter().enumerate() {
                    acc[j % 8] += v;
                }
                combine(&acc).to_bits()
            };
            // the dispatched sums and the plain loop (CPUs without AVX)
            for (s, t) in [sums(a, b), sums_loop(a, b)] {
                assert_eq!((s.to_bits(), t.to_bits()), (alone(a), alone(b)), "{la}, {lb}");
            }
        }
    }

    /// The one-pass load gives the bits of e^x in id order gathered in rank order (the
    /// order files were written with), at every vector width, with and without version 3's
    /// zeros, for vocabularies that fill whole chunks and ones that do not.
    #[test]
    fn the_scattered_load_is_the_gathered_one() {
        use rand::{Rng, SeedableRng};
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(5);
        for v in [2usize, 15, 16, 17, 333, 8000] {
            let text: Vec<Vec<u8>> = (0..v).map(|_| (0..3).map(|_| rng.random_range(b'a'..=b'e')).collect()).collect();
            let tree = Tree::new(v, &text);
            let mut lp: Vec<f32> = (0..v).map(|_| rng.random::<f32>() * -100.0).collect();
            for (k, x) in [f32::NAN, f32::NEG_INFINITY, -87.0, -86.999_99, 0.0, 89.0, -0.0].into_iter().enumerate() {
                lp[k % v] = x;
            }
            for v3 in [false, true] {
                let mut want = vec![0.0f32; v];
                exp_loop(&lp, &mut want);
                if v3 {
                    zero_below_87(&lp, &mut want);
                }
                let want: Vec<u32> = tree.id.iter().map(|&i| want[i as usize].to_bits()).collect();
                let mut plain = vec![f32::NAN; v];
                exp_scatter_loop(&lp, &tree.rank, &mut plain, v3);
                let mut lm = LmBits::default();
                lm.load(&lp, &tree, v3);
                for got in [&plain, &lm.p] {
                    assert_eq!(got.iter().map(|x| x.to_bits()).collect::<Vec<_>>(), want, "v = {v}, v3 = {v3}");
                }
            }
        }
    }

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
