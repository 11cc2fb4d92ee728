//! The LM's rows in *ranked* form ([`RowForm::Ranked`]): what [`LmBits`] makes of a row of
//! log-probabilities at the start of each token, made by the model's backend instead (a GPU,
//! right after the log-probabilities, so that the coding thread neither takes e^x of every
//! value nor sums the tree's top ranges): e^lp in the tree's rank order, then the probability
//! sums of the ranges of the tree's nodes at depths 1 to `depth` (node `m` at `m − 2`). A
//! decision above `depth` reads its two sides' sums from the row; a deeper one sums its
//! ranges (at most vocab / 2^depth values) as [`LmBits::stretch`] does.
//!
//! Invariant: for every row of log-probabilities `lp`, [`RankedOdds`] over [`ranked_row`]`(lp)`
//! and [`LmBits`] loaded with `lp` give bit-identical odds for every decision (the sums are
//! [`sums`]' additions in its order); a backend's own ranked rows must equal [`ranked_row`]'s
//! bit for bit (the GPU's: `tests/causal.rs`). So the form changes no output byte.

use super::counters::prefetch;
use super::tree::{odds_of, sums, LmBits, Tree};
use super::LmOdds;
use crate::coding::{adaptive::Version, Method};
use crate::error::{Error, Result};
use crate::model::{Architecture, MaskedLm, RowForm};
use crate::text::LosslessTokenizer;

/// Levels of node sums in a ranked row: 126 sums beside 2^13 probabilities for the built-in
/// models (1.5% more to bring back); below them a decision sums at most 64 + 64 values.
/// The GPU kernel gives each of the 2^(DEPTH+1) − 2 sums eight threads of one 1,024-thread
/// block, so DEPTH is at most 6.
pub const DEPTH: u32 = 6;

/// The depth of sums for `tree` (no deeper than its leaves).
pub fn depth_for(tree: &Tree) -> u32 {
    DEPTH.min(tree.bits)
}

/// The ranks `[lo, hi)` under node `m` at depth `d`, clipped to the vocabulary.
fn range(tree: &Tree, m: usize, d: u32) -> (usize, usize) {
    let below = tree.bits - d;
    let lo = (m ^ (1 << d)) << below;
    (lo.min(tree.vocab), (lo + (1 << below)).min(tree.vocab))
}

/// The ranked row of `lp` for `tree` with `depth` levels of sums, into `out` (`lm` is
/// scratch): the reference every backend's own ranked rows must equal bit for bit.
pub fn ranked_row(lp: &[f32], tree: &Tree, v3: bool, depth: u32, lm: &mut LmBits, out: &mut Vec<f32>) {
    lm.load(lp, tree, v3);
    let p = lm.probs();
    out.clear();
    out.reserve(RowForm::Ranked { depth }.len(p.len()));
    out.extend_from_slice(p);
    for d in 1..=depth {
        for m in 1usize << d..2usize << d {
            let (lo, hi) = range(tree, m, d);
            out.push(sums(&p[lo..hi], &[]).0);
        }
    }
}

/// The path row of `lp` for `tree` and the token of rank `r` ([`RowForm::Path`]), into `out`:
/// for each depth the sums of the two sides of the decision on `r`'s path, as
/// [`LmBits::stretch`] sums them (the reference for backends that make them).
pub fn path_row(lp: &[f32], tree: &Tree, v3: bool, r: u32, lm: &mut LmBits, out: &mut Vec<f32>) {
    lm.load(lp, tree, v3);
    let p = lm.probs();
    out.clear();
    for d in 0..tree.bits {
        let node = (1 << d) | (r >> (tree.bits - d));
        let (lo, mid, hi) = tree.split(node, d);
        let (s0, s1) = sums(&p[lo..mid], &p[mid..hi]);
        out.extend([s0, s1]);
    }
}

/// A path row read as the LM's odds for the decisions on its token's path (the only ones an
/// encoder asks for).
pub struct PathOdds<'a> {
    row: &'a [f32],
}

impl<'a> PathOdds<'a> {
    /// `want`: the token the row's path leads to (an encoder's; a decoder has none).
    pub fn new(row: &'a [f32], tree: &Tree, want: Option<u32>) -> Result<Self> {
        if want.is_none() || row.len() != RowForm::Path.len(tree.vocab) {
            return Err(Error::Internal("path rows serve an encoder only, one pair per depth".into()));
        }
        // fresh from the backend: every line of it, before the first decision reads it
        for x in row.iter().step_by(16).chain(row.last()) {
            prefetch(x);
        }
        Ok(PathOdds { row })
    }
}

impl LmOdds for PathOdds<'_> {
    #[inline]
    fn odds(&self, depth: u32, _lo: usize, _mid: usize, _hi: usize) -> f32 {
        let d = depth as usize;
        odds_of(self.row[2 * d], self.row[2 * d + 1])
    }
}

/// A ranked row read as the LM's odds for each decision.
pub struct RankedOdds<'a> {
    p: &'a [f32],
    top: &'a [f32],
    bits: u32,
    depth: u32,
}

impl<'a> RankedOdds<'a> {
    pub fn new(row: &'a [f32], tree: &Tree, depth: u32) -> Result<Self> {
        if depth > tree.bits || row.len() != (RowForm::Ranked { depth }).len(tree.vocab) {
            return Err(Error::Internal(format!("a ranked row of {} values does not fit the vocabulary", row.len())));
        }
        let (p, top) = row.split_at(tree.vocab);
        // the sums the first decisions read, a line at a time: the row is fresh from the
        // backend, not in this core's cache
        for x in top.iter().step_by(16) {
            prefetch(x);
        }
        Ok(RankedOdds { p, top, bits: tree.bits, depth })
    }
}

impl LmOdds for RankedOdds<'_> {
    #[inline]
    fn odds(&self, depth: u32, lo: usize, mid: usize, hi: usize) -> f32 {
        // a decision whose 1-side is empty may have `lo` clipped, which names no node
        if depth < self.depth && mid < self.p.len() {
            let node = (1usize << depth) | (lo >> (self.bits - depth));
            return odds_of(self.top[2 * node - 2], self.top[2 * node - 1]);
        }
        let (s0, s1) = sums(&self.p[lo..mid], &self.p[mid..hi]);
        odds_of(s0, s1)
    }

    /// Above the first level it sums, the probabilities under the decision's node: the next
    /// decision sums half of them, the ones below parts of that half.
    #[inline]
    fn prefetch_below(&self, depth: u32, lo: usize, hi: usize) {
        if depth + 1 == self.depth {
            for x in self.p[lo.min(hi)..hi].iter().step_by(16) {
                prefetch(x);
            }
        }
    }
}

/// Whether coding may ask backends for ranked rows (`LLMZIP_GPU_TREE=0`: never, for
/// comparing; the same files either way).
fn allowed() -> bool {
    static ON: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *ON.get_or_init(|| std::env::var_os("LLMZIP_GPU_TREE").is_none_or(|v| v != "0"))
}

/// `lm` with rows in the form the block's adaptive model reads fastest, where they serve
/// the coding (the arith method with a context-mixing adaptive model `mix`) and the backend
/// makes them: path rows for an `encoder` (it knows each token), ranked ones for a decoder;
/// `None` otherwise.
pub fn for_coding<'a>(
    lm: &'a dyn MaskedLm,
    tokenizer: &LosslessTokenizer,
    method: Method,
    mix: u8,
    rounds: usize,
    encoder: bool,
) -> Option<Box<dyn MaskedLm + 'a>> {
    if method != Method::Arith || !allowed() {
        return None;
    }
    let params = Version::from_u8(mix).ok()?.params(rounds)?;
    let tree = Tree::new(lm.vocab_size(), &tokenizer.token_bytes());
    let form = if encoder { RowForm::Path } else { RowForm::Ranked { depth: depth_for(&tree) } };
    lm.ranked(tree.ranks(), form, params.v3)
}

/// A model whose rows are made ranked (or path rows) on the host from another's
/// log-probabilities with [`ranked_row`] ([`path_row`]): the reference for backends that make
/// them themselves, and the way tests code through such rows without a GPU.
pub struct HostRanked<'a> {
    lm: &'a dyn MaskedLm,
    tree: Tree,
    v3: bool,
    form: RowForm,
}

impl<'a> HostRanked<'a> {
    /// `lm`'s rows in `form` for the tree of `rank` ([`MaskedLm::ranked`]'s arguments); `None`
    /// for a `rank` that is no permutation of `lm`'s vocabulary or a depth below its leaves.
    pub fn new(lm: &'a dyn MaskedLm, rank: &[u32], form: RowForm, v3: bool) -> Option<Self> {
        let tree = Tree::from_ranks(rank).filter(|t| t.vocab == lm.vocab_size())?;
        match form {
            RowForm::Ranked { depth } if depth <= tree.bits => {}
            RowForm::Path => {}
            _ => return None,
        }
        Some(HostRanked { lm, tree, v3, form })
    }

    /// The rows of `lp` (log-probabilities, one row per selection) in this form.
    fn convert(&self, lp: &[f32], known: Option<&[u32]>) -> Result<Vec<f32>> {
        let v = self.lm.vocab_size();
        let (mut lm, mut row) = (LmBits::default(), Vec::new());
        let mut out = Vec::with_capacity(lp.len() / v * self.form.len(v));
        for (k, r) in lp.chunks_exact(v).enumerate() {
            match self.form {
                RowForm::Ranked { depth } => ranked_row(r, &self.tree, self.v3, depth, &mut lm, &mut row),
                _ => {
                    let t = known.and_then(|known| known.get(k)).copied();
                    let t = t
                        .filter(|&t| (t as usize) < v)
                        .ok_or_else(|| Error::Internal("path rows need each selection's token".into()))?;
                    path_row(r, &self.tree, self.v3, self.tree.rank(t), &mut lm, &mut row)
                }
            }
            out.extend_from_slice(&row);
        }
        Ok(out)
    }
}

impl MaskedLm for HostRanked<'_> {
    fn vocab_size(&self) -> usize {
        self.lm.vocab_size()
    }
    fn max_sequence(&self) -> usize {
        self.lm.max_sequence()
    }
    fn numerics(&self) -> &str {
        self.lm.numerics()
    }
    fn architecture(&self) -> Architecture {
        self.lm.architecture()
    }
    fn batch_invariant(&self) -> bool {
        self.lm.batch_invariant()
    }
    fn causal(&self) -> bool {
        self.lm.causal()
    }
    fn merges_calls(&self) -> bool {
        self.lm.merges_calls()
    }
    fn rows(&self) -> RowForm {
        self.form
    }
    fn log_probs(&self, seqs: &[Vec<u32>], sel: &[(usize, usize)]) -> Result<Vec<f32>> {
        self.convert(&self.lm.log_probs(seqs, sel)?, None)
    }
    fn log_probs_known(&self, seqs: &[Vec<u32>], sel: &[(usize, usize)], known: &[u32]) -> Result<Vec<f32>> {
        self.convert(&self.lm.log_probs(seqs, sel)?, Some(known))
    }
}

#[cfg(test)]
mod tests {
    use rand::{Rng, SeedableRng};

    use super::*;

    /// Every decision's odds from a ranked row are the loaded row's, bit for bit, for
    /// vocabularies that fill their tree and ones that do not, peaked and flat rows, and
    /// values at the edges of e^x (−87 and below, 0, NaN) with and without version 3's reading.
    #[test]
    fn ranked_odds_are_the_loaded_odds() {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(7);
        for vocab in [2usize, 3, 5, 64, 100, 1000, 1024, 8000] {
            let text: Vec<Vec<u8>> = (0..vocab).map(|i| format!("t{}", (i * 7919) % vocab).into_bytes()).collect();
            let tree = Tree::new(vocab, &text);
            let depth = depth_for(&tree);
            for trial in 0..6 {
                let mut lp: Vec<f32> = (0..vocab).map(|_| -rng.random_range(0.0f32..30.0)).collect();
                if trial % 2 == 1 {
                    lp[rng.random_range(0..vocab)] = -0.01;
                }
                if trial >= 4 {
                    for x in lp.iter_mut().take(vocab / 3) {
                        *x = [f32::NAN, -87.0, -90.0, 0.0, -1e30][rng.random_range(0..5)];
                    }
                }
                let v3 = trial == 5;
                let (mut lm, mut row) = (LmBits::default(), Vec::new());
                ranked_row(&lp, &tree, v3, depth, &mut LmBits::default(), &mut row);
                lm.load(&lp, &tree, v3);
                let ranked = RankedOdds::new(&row, &tree, depth).unwrap();
                let mut checked = 0;
                for d in 0..tree.bits {
                    for node in 1u32 << d..2u32 << d {
                        let (lo, mid, hi) = tree.split(node, d);
                        let (a, b) = (lm.odds(d, lo, mid, hi), ranked.odds(d, lo, mid, hi));
                        assert_eq!(a.to_bits(), b.to_bits(), "vocab {vocab} trial {trial} node {node}");
                        checked += 1;
                    }
                }
                assert!(checked >= vocab - 1);
                // the path rows of a few tokens: the odds of the decisions on each one's path
                for t in [0, vocab - 1, rng.random_range(0..vocab)] {
                    let r = tree.rank(t as u32);
                    path_row(&lp, &tree, v3, r, &mut LmBits::default(), &mut row);
                    let path = PathOdds::new(&row, &tree, Some(t as u32)).unwrap();
                    for d in 0..tree.bits {
                        let node = (1 << d) | (r >> (tree.bits - d));
                        let (lo, mid, hi) = tree.split(node, d);
                        let (a, b) = (lm.odds(d, lo, mid, hi), path.odds(d, lo, mid, hi));
                        assert_eq!(a.to_bits(), b.to_bits(), "vocab {vocab} trial {trial} token {t} depth {d}");
                    }
                    assert!(PathOdds::new(&row, &tree, None).is_err(), "a decoder has no path");
                }
            }
            assert!(RankedOdds::new(&[0.0; 3], &tree, depth).is_err());
        }
    }
}
