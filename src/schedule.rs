//! The reveal plan: which positions each round predicts.
//!
//! A block's tokens are cut into windows of `window` tokens. Every position belongs to one
//! group `0..rounds`; round `r` predicts group `r` of every window, with groups `< r` visible
//! and groups `>= r` masked. Windows advance in lockstep, so a window's model input may also
//! show `context` tokens on each side from its neighbours, under the same visibility rule:
//! the decoder knows exactly those tokens at round `r`, whatever the batch order.
//!
//! Invariant (asserted by tests): encoder and decoder derive the same plan from
//! `(RevealPlan, n_tokens)` alone, and every position is predicted exactly once.

use crate::error::{Error, Result};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shape {
    /// equal-sized groups
    Uniform = 0,
    /// group r holds 2^r shares: few blind guesses first, half the tokens last
    Geometric = 1,
}

impl Shape {
    pub fn from_u8(v: u8) -> Option<Self> {
        match v {
            0 => Some(Shape::Uniform),
            1 => Some(Shape::Geometric),
            _ => None,
        }
    }
    pub fn name(self) -> &'static str {
        match self {
            Shape::Uniform => "uniform",
            Shape::Geometric => "geometric",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RevealPlan {
    pub window: usize,
    pub context: usize,
    pub rounds: usize,
    pub shape: Shape,
}

pub const MAX_WINDOW: usize = 4096;
pub const MAX_ROUNDS: usize = 64;

impl RevealPlan {
    pub fn validate(&self, max_sequence: usize) -> Result<()> {
        if self.window == 0 || self.window > MAX_WINDOW {
            return Err(Error::Invalid(format!("window must be 1..={MAX_WINDOW}")));
        }
        if self.rounds == 0 || self.rounds > MAX_ROUNDS || self.rounds > self.window {
            return Err(Error::Invalid(format!(
                "rounds must be 1..={} and at most the window",
                MAX_ROUNDS
            )));
        }
        if self.window + 2 * self.context + 2 > max_sequence {
            return Err(Error::Invalid(format!(
                "window {} + 2 x context {} + 2 special tokens exceeds the model's {} positions",
                self.window, self.context, max_sequence
            )));
        }
        Ok(())
    }

    /// Group of each offset within a full window. Positions are ranked in bit-reversed order
    /// (so every group is spread evenly over the window) and cut into `rounds` groups.
    pub fn groups(&self) -> Vec<u8> {
        let w = self.window;
        let bits = usize::BITS - (w.max(2) - 1).leading_zeros();
        let mut order: Vec<usize> = (0..w).collect();
        order.sort_by_key(|&p| (p.reverse_bits() >> (usize::BITS - bits), p));
        let weights: Vec<f64> = (0..self.rounds)
            .map(|r| match self.shape {
                Shape::Uniform => 1.0,
                Shape::Geometric => (2f64).powi(r as i32),
            })
            .collect();
        let total: f64 = weights.iter().sum();
        // cumulative cut points, each group non-empty
        let mut cuts = Vec::with_capacity(self.rounds);
        let mut acc = 0.0;
        for (r, wgt) in weights.iter().enumerate() {
            acc += wgt;
            let c = ((acc / total) * w as f64).round() as usize;
            let min = r + 1;
            let max = w - (self.rounds - 1 - r);
            cuts.push(c.clamp(min, max));
        }
        for r in 1..cuts.len() {
            if cuts[r] <= cuts[r - 1] {
                cuts[r] = cuts[r - 1] + 1;
            }
        }
        let mut g = vec![0u8; w];
        let mut r = 0;
        for (rank, &p) in order.iter().enumerate() {
            while rank >= cuts[r] {
                r += 1;
            }
            g[p] = r as u8;
        }
        g
    }
}

/// One model call's worth of work: a batch of window sequences and the positions to predict.
pub struct Step {
    pub seqs: Vec<Vec<u32>>,
    /// (sequence, position in sequence) for each predicted token
    pub sel: Vec<(usize, usize)>,
    /// global token index of each predicted token, parallel to `sel`
    pub targets: Vec<usize>,
}

/// Walks the plan over a block of `n` tokens: for each round, batches of windows.
/// `known[i]` must hold the true token for every index in a group `< r` when round `r` is
/// built; other entries are ignored (shown as mask).
pub struct Walker<'p> {
    plan: &'p RevealPlan,
    groups: Vec<u8>,
    n: usize,
    batch: usize,
}

impl<'p> Walker<'p> {
    pub fn new(plan: &'p RevealPlan, n: usize, batch: usize) -> Self {
        Walker {
            plan,
            groups: plan.groups(),
            n,
            batch: batch.max(1),
        }
    }

    pub fn group(&self, i: usize) -> usize {
        self.groups[i % self.plan.window] as usize
    }

    pub fn windows(&self) -> usize {
        self.n.div_ceil(self.plan.window)
    }

    /// Steps of round `r`, in order.
    pub fn round(&self, r: usize, known: &[u32], cls: u32, sep: u32, mask: u32) -> Vec<Step> {
        let w = self.plan.window;
        let c = self.plan.context;
        let mut steps = Vec::new();
        let mut cur = Step {
            seqs: Vec::new(),
            sel: Vec::new(),
            targets: Vec::new(),
        };
        for win in 0..self.windows() {
            let s = win * w;
            let e = (s + w).min(self.n);
            if !(s..e).any(|i| self.group(i) == r) {
                continue;
            }
            let lo = s.saturating_sub(c);
            let hi = (e + c).min(self.n);
            let mut seq = Vec::with_capacity(hi - lo + 2);
            seq.push(cls);
            for i in lo..hi {
                seq.push(if self.group(i) < r { known[i] } else { mask });
            }
            seq.push(sep);
            let si = cur.seqs.len();
            for i in s..e {
                if self.group(i) == r {
                    cur.sel.push((si, 1 + i - lo));
                    cur.targets.push(i);
                }
            }
            cur.seqs.push(seq);
            if cur.seqs.len() == self.batch {
                steps.push(std::mem::replace(
                    &mut cur,
                    Step {
                        seqs: Vec::new(),
                        sel: Vec::new(),
                        targets: Vec::new(),
                    },
                ));
            }
        }
        if !cur.seqs.is_empty() {
            steps.push(cur);
        }
        steps
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_position_predicted_once_and_only_earlier_groups_visible() {
        for (w, c, r, shape) in [
            (16, 0, 1, Shape::Uniform),
            (16, 4, 4, Shape::Geometric),
            (10, 3, 3, Shape::Uniform),
            (7, 2, 7, Shape::Geometric),
        ] {
            let plan = RevealPlan {
                window: w,
                context: c,
                rounds: r,
                shape,
            };
            for n in [0usize, 1, 5, 16, 33, 100] {
                let walker = Walker::new(&plan, n, 3);
                let known: Vec<u32> = (0..n as u32).map(|i| i + 10).collect();
                let mut seen = vec![0; n];
                for round in 0..r {
                    for st in walker.round(round, &known, 1, 2, 3) {
                        for (k, &(si, p)) in st.sel.iter().enumerate() {
                            let t = st.targets[k];
                            seen[t] += 1;
                            assert_eq!(walker.group(t), round);
                            assert_eq!(st.seqs[si][p], 3, "predicted position must be masked");
                        }
                        for seq in &st.seqs {
                            for &tok in &seq[1..seq.len() - 1] {
                                if tok != 3 {
                                    assert!(walker.group((tok - 10) as usize) < round);
                                }
                            }
                        }
                    }
                }
                assert!(seen.iter().all(|&s| s == 1), "{plan:?} n={n}");
            }
        }
    }

    #[test]
    fn groups_are_nonempty_and_geometric_grows() {
        let plan = RevealPlan {
            window: 128,
            context: 0,
            rounds: 4,
            shape: Shape::Geometric,
        };
        let g = plan.groups();
        let counts: Vec<usize> = (0..4)
            .map(|r| g.iter().filter(|&&x| x as usize == r).count())
            .collect();
        assert!(counts.windows(2).all(|p| p[0] < p[1]), "{counts:?}");
        assert_eq!(counts.iter().sum::<usize>(), 128);
    }
}
