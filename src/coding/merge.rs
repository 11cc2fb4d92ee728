//! The encoder's calls of several steps made as one, for a causal model whose calls cost about
//! the same whatever their rows (the GPU engine with its K/V cache: [`MaskedLm::merges_calls`];
//! any engine when a block has few lanes, [`FEW_LANES`]).
//! In a causal model a row sees only the rows at and before it, and the integer engines
//! compute each row by the same integer code whatever the batch ([`MaskedLm::batch_invariant`]),
//! so the row of a sequence's last token is the same row inside any longer sequence that
//! starts with it: a lane's sequence that extends its previous step's by one token joins it,
//! one longer sequence with a selection per step. The decoder makes each step's call alone
//! (it learns a step's tokens only by decoding them) and gets the very same rows.
//!
//! [`MaskedLm::merges_calls`]: crate::model::MaskedLm::merges_calls
//! [`MaskedLm::batch_invariant`]: crate::model::MaskedLm::batch_invariant

use crate::schedule::Step;

/// Steps made as one call at most (each step is a call of every lane: 8 steps of 16 blocks'
/// 32 lanes are 4,096 rows, 128 MB of log-probabilities at a vocabulary of 8,000).
pub const STEPS: usize = 8;

/// The encoder merges the steps of a block of at most this many lanes whatever the model
/// (the CPU engine reads its weights once per call: a call of one row costs nearly what a
/// call of 32 does).
pub const FEW_LANES: usize = 4;

/// One call of several steps.
pub struct Merged {
    pub seqs: Vec<Vec<u32>>,
    /// the steps' selections in order (step k's rows follow step k−1's)
    pub sel: Vec<(usize, usize)>,
    /// the number of selections of each step
    pub parts: Vec<usize>,
}

/// The one call of `steps`.
pub fn merge(steps: &[Step]) -> Merged {
    let mut seqs: Vec<Vec<u32>> = Vec::new();
    let mut sel = Vec::new();
    // where each sequence of the previous step went in `seqs`
    let mut prev: Vec<usize> = Vec::new();
    for step in steps {
        let mut here = Vec::with_capacity(step.seqs.len());
        for (j, s) in step.seqs.iter().enumerate() {
            let joined = prev.get(j).copied().filter(|&m| {
                let m: &Vec<u32> = &seqs[m];
                s.len() == m.len() + 1 && s.starts_with(m)
            });
            match joined {
                Some(m) => {
                    seqs[m].push(s[s.len() - 1]);
                    here.push(m);
                }
                None => {
                    here.push(seqs.len());
                    seqs.push(s.clone());
                }
            }
        }
        sel.extend(step.sel.iter().map(|&(j, p)| (here[j], p)));
        prev = here;
    }
    Merged { seqs, sel, parts: steps.iter().map(|s| s.sel.len()).collect() }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn step(seqs: Vec<Vec<u32>>) -> Step {
        let sel = seqs.iter().enumerate().map(|(i, s)| (i, s.len() - 1)).collect();
        let targets = (0..seqs.len()).collect();
        Step { seqs, sel, targets }
    }

    /// Lanes that extend their sequence by a token join it; a lane that hops starts a new one;
    /// every selection still names its step's sequence's tokens.
    #[test]
    fn extensions_join_and_hops_start_anew() {
        let steps = vec![
            step(vec![vec![0, 5, 6], vec![0, 9]]),
            step(vec![vec![0, 5, 6, 7], vec![0, 4]]),
            step(vec![vec![0, 5, 6, 7, 8], vec![0, 4, 3]]),
        ];
        let Merged { seqs, sel, parts } = merge(&steps);
        assert_eq!(seqs, vec![vec![0, 5, 6, 7, 8], vec![0, 9], vec![0, 4, 3]]);
        assert_eq!(parts, vec![2, 2, 2]);
        let mut k = 0;
        for st in &steps {
            for &(j, p) in &st.sel {
                let (m, q) = sel[k];
                assert_eq!(p, q);
                assert_eq!(seqs[m][..=q], st.seqs[j][..=p], "selection {k}");
                k += 1;
            }
        }
    }
}
