//! Ranked and path rows on the GPU ([`RowForm::Ranked`], [`RowForm::Path`]): the head's
//! log-probabilities turned, on the device, into what the context mixer reads (kernels
//! `rank_rows`, `path_rows`), so that a block's coding thread takes no e^x per value and sums
//! no top ranges of the vocabulary tree, and an encoder brings back 2 × 13 values a token
//! instead of the whole distribution. The same bits as `coding::cm::ranked::ranked_row` and
//! `path_row` on the host (`tests/causal.rs`), so the same files.

use cudarc::driver::{CudaSlice, LaunchConfig, PushKernelArg};

use super::{gpu, CudaLm};
use crate::coding::cm::{ranked, tree::Tree};
use crate::error::{Error, Result};
use crate::model::{Architecture, MaskedLm, RowForm};

/// The largest row the ranking kernels keep in shared memory (within the 48 KB a block may
/// have without opting in, beside their own 4 KB).
const SHARED_ROW_BYTES: usize = 40 << 10;

/// A vocabulary tree's ranks on the device and the form of its rows.
pub struct Ranking {
    rank: CudaSlice<i32>,
    bits: i32,
    form: RowForm,
    v3: bool,
}

impl CudaLm {
    /// `out`'s `n` rows of log-probabilities in `rank`'s form (or as they are), and the
    /// values per row; `known`: the selections' tokens (path rows need them).
    pub(super) fn shape_rows(
        &self,
        out: CudaSlice<f32>,
        n: usize,
        rank: Option<&Ranking>,
        known: Option<&[u32]>,
    ) -> Result<(CudaSlice<f32>, usize)> {
        let Some(r) = rank else { return Ok((out, self.vocab)) };
        let row = r.form.len(self.vocab);
        let mut shaped = self.alloc::<f32>(n * row)?;
        let (v, v3) = (self.vocab as i32, r.v3 as i32);
        // 8 threads per node's sum (at most 126 nodes: `ranked::DEPTH`), 16 per path depth;
        // the sums read the row from shared memory where it fits beside the kernel's own 4 KB
        let shared = self.vocab * 4 <= SHARED_ROW_BYTES;
        let bytes = if shared { (self.vocab * 4) as u32 } else { 0 };
        let cfg = LaunchConfig { grid_dim: (n as u32, 1, 1), block_dim: (1024, 1, 1), shared_mem_bytes: bytes };
        let shared = shared as i32;
        match r.form {
            RowForm::Ranked { depth } => {
                let (row32, d) = (row as i32, depth as i32);
                let mut b = self.stream.launch_builder(&self.f.rank_rows);
                b.arg(&out)
                    .arg(&v)
                    .arg(&r.rank)
                    .arg(&r.bits)
                    .arg(&d)
                    .arg(&v3)
                    .arg(&mut shaped)
                    .arg(&row32)
                    .arg(&shared);
                unsafe { b.launch(cfg) }.map_err(gpu)?;
                self.mark("rank_rows")?;
            }
            _ => {
                let known = known.filter(|k| k.len() == n && k.iter().all(|&t| (t as usize) < self.vocab));
                let known: Vec<i32> = known
                    .ok_or_else(|| Error::Internal("path rows need each selection's token".into()))?
                    .iter()
                    .map(|&t| t as i32)
                    .collect();
                let known = self.stream.clone_htod(&known).map_err(gpu)?;
                let mut p = self.alloc::<f32>(if shared == 1 { 1 } else { n * self.vocab })?;
                let mut b = self.stream.launch_builder(&self.f.path_rows);
                b.arg(&out).arg(&v).arg(&r.rank).arg(&r.bits).arg(&v3).arg(&known).arg(&mut p).arg(&mut shaped);
                b.arg(&shared);
                unsafe { b.launch(cfg) }.map_err(gpu)?;
                self.mark("path_rows")?;
            }
        }
        Ok((shaped, row))
    }

    /// The engine's call behind both [`MaskedLm`]s: checks, then the cached path for a causal
    /// model, rows in `rank`'s form.
    pub(super) fn call(
        &self,
        seqs: &[Vec<u32>],
        sel: &[(usize, usize)],
        parts: &[usize],
        rank: Option<&Ranking>,
        known: Option<&[u32]>,
    ) -> Result<Vec<Vec<f32>>> {
        if parts.iter().sum::<usize>() != sel.len() {
            return Err(crate::Error::Internal("a merged call's parts do not cover its rows".into()));
        }
        if sel.is_empty() {
            return Ok(parts.iter().map(|_| Vec::new()).collect());
        }
        if self.causal && super::use_cache() {
            return self.forward_cached_parts(seqs, sel, parts, rank, known);
        }
        self.fetch_parts(self.forward_device(seqs, sel)?, parts, rank, known)
    }

    /// This engine with rows in `form` for the tree of `rank` (`MaskedLm::ranked`); `None`
    /// where the tree does not fit (a kernel's block holds at most 127 nodes' sums, or 64
    /// levels' pairs) or `rank` is no permutation of the vocabulary.
    pub(super) fn with_ranks(&self, rank: &[u32], form: RowForm, v3: bool) -> Option<RankedCuda<'_>> {
        let tree = Tree::from_ranks(rank).filter(|t| t.vocab == self.vocab)?;
        let bits = tree.bits;
        let fits = match form {
            RowForm::Ranked { depth } => depth <= bits && depth <= ranked::DEPTH,
            RowForm::Path => bits <= 64,
            RowForm::LogProbs => false,
        };
        if !fits {
            return None;
        }
        let host: Vec<i32> = rank.iter().map(|&r| r as i32).collect();
        let rank = self.stream.clone_htod(&host).ok()?;
        Some(RankedCuda { lm: self, ranking: Ranking { rank, bits: bits as i32, form, v3 } })
    }
}

/// [`CudaLm`] whose rows come in ranked form.
pub struct RankedCuda<'a> {
    lm: &'a CudaLm,
    ranking: Ranking,
}

impl MaskedLm for RankedCuda<'_> {
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
        self.ranking.form
    }
    fn log_probs(&self, seqs: &[Vec<u32>], sel: &[(usize, usize)]) -> Result<Vec<f32>> {
        Ok(self.lm.call(seqs, sel, &[sel.len()], Some(&self.ranking), None)?.pop().unwrap_or_default())
    }
    fn log_probs_parts(&self, seqs: &[Vec<u32>], sel: &[(usize, usize)], parts: &[usize]) -> Result<Vec<Vec<f32>>> {
        self.lm.call(seqs, sel, parts, Some(&self.ranking), None)
    }
    fn log_probs_known(&self, seqs: &[Vec<u32>], sel: &[(usize, usize)], known: &[u32]) -> Result<Vec<f32>> {
        let rows = self.lm.call(seqs, sel, &[sel.len()], Some(&self.ranking), Some(known))?;
        Ok(rows.into_iter().next().unwrap_or_default())
    }
    fn log_probs_parts_known(
        &self,
        seqs: &[Vec<u32>],
        sel: &[(usize, usize)],
        parts: &[usize],
        known: &[u32],
    ) -> Result<Vec<Vec<f32>>> {
        self.lm.call(seqs, sel, parts, Some(&self.ranking), Some(known))
    }
}
