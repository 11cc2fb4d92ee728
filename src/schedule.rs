//! The reveal plan: which positions each model call predicts, and what it sees.
//!
//! A block's tokens are cut into windows of `window` tokens. Every position of a window
//! belongs to one group `0..rounds`; round `r` predicts group `r` with groups `< r` visible
//! and groups `>= r` masked. Two ways to order windows:
//!
//! - **lanes** ([`Lanes::AtMost`], the default): the block is split into up to that many contiguous
//!   lanes; within a lane windows are coded one after another, each seeing the `context`
//!   tokens before it in full (they are already known), so even round 0 is not blind.
//!   Lanes advance in lockstep and form the batch of each model call.
//! - **lockstep** ([`Lanes::Lockstep`]): all windows advance round by round together; a window also
//!   sees `context` tokens on each side from its neighbours under the same visibility rule.
//!
//! Invariant (asserted by tests): encoder and decoder derive the same calls from
//! `(RevealPlan, batch, n_tokens)` alone, every position is predicted exactly once, and a
//! call only shows tokens that were predicted in earlier calls.

use crate::error::{Error, Result};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shape {
    /// equal-sized groups
    Uniform = 0,
    /// group r holds 2^r shares: few blind guesses first, half the tokens last
    Geometric = 1,
    /// for causal models ([`MaskedLm::causal`](crate::model::MaskedLm::causal)): one token
    /// per lane and call, left to right, each predicted by the last row of `[CLS]` and the
    /// tokens before it since the lane's current segment start ([`causal_start`])
    Causal = 2,
}

impl Shape {
    pub fn from_u8(v: u8) -> Option<Self> {
        match v {
            0 => Some(Shape::Uniform),
            1 => Some(Shape::Geometric),
            2 => Some(Shape::Causal),
            _ => None,
        }
    }
    pub fn name(self) -> &'static str {
        match self {
            Shape::Uniform => "uniform",
            Shape::Geometric => "geometric",
            Shape::Causal => "causal",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RevealPlan {
    pub window: usize,
    pub context: usize,
    pub rounds: usize,
    pub shape: Shape,
    pub lanes: Lanes,
    /// lanes mode: how windows are revealed once the block's coding is well under way
    pub settle: Option<Settle>,
}

/// The later part of a lanes-mode plan. Once `after` tokens of the block are coded (counted
/// over all lanes), each window is coded as sub-windows of `window` tokens, one model call
/// each, left to right, every one seeing the `context` tokens before it. Measured in
/// docs/RESULTS.md: early in a block the LM carries the ratio and profits from seeing both
/// sides of a window (rounds); later the adaptive model has learnt the text and wants every
/// token's left neighbours, and the LM does best with its left context close by.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Settle {
    pub after: usize,
    pub window: usize,
}

/// How a block's windows are ordered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lanes {
    /// all windows advance round by round together, each seeing `context` tokens on both sides
    Lockstep,
    /// up to this many lanes (at least 1), windows coded in order within each
    AtMost(usize),
}

impl Lanes {
    /// From the number the header and `--lanes` use: 0 means lockstep.
    pub fn from_count(n: usize) -> Self {
        if n == 0 {
            Lanes::Lockstep
        } else {
            Lanes::AtMost(n)
        }
    }

    /// The number the header and `--lanes` use: 0 for lockstep.
    pub fn count(self) -> usize {
        match self {
            Lanes::Lockstep => 0,
            Lanes::AtMost(n) => n,
        }
    }
}

/// A lane holds at least this many windows (so short blocks use fewer lanes).
pub const MIN_LANE_WINDOWS: usize = 4;
pub const MAX_LANES: usize = 1 << 16;

pub const MAX_WINDOW: usize = 4096;
pub const MAX_ROUNDS: usize = 64;

impl RevealPlan {
    pub fn validate(&self, max_sequence: usize) -> Result<()> {
        if self.window == 0 || self.window > MAX_WINDOW {
            return Err(Error::Invalid(format!("window must be 1..={MAX_WINDOW}")));
        }
        if self.rounds == 0 || self.rounds > MAX_ROUNDS || self.rounds > self.window {
            return Err(Error::Invalid(format!("rounds must be 1..={} and at most the window", MAX_ROUNDS)));
        }
        if self.lanes.count() > MAX_LANES {
            return Err(Error::Invalid(format!("lanes must be at most {MAX_LANES}")));
        }
        if self.shape == Shape::Causal {
            if self.lanes == Lanes::Lockstep || self.settle.is_some() || self.rounds != 1 {
                return Err(Error::Invalid(
                    "a causal plan codes lanes one token at a time: one round, no settling".into(),
                ));
            }
            // [CLS] and at most context + window - 1 tokens
            if self.context + self.window > max_sequence {
                return Err(Error::Invalid(format!(
                    "context {} + window {} exceeds the model's {} positions",
                    self.context, self.window, max_sequence
                )));
            }
            return Ok(());
        }
        if let Some(st) = self.settle {
            if self.lanes == Lanes::Lockstep || st.window == 0 || st.window > self.window {
                return Err(Error::Invalid("settling needs lanes and a sub-window of 1..=window tokens".into()));
            }
        }
        let sides = if self.lanes == Lanes::Lockstep { 2 } else { 1 };
        if self.window + sides * self.context + 2 > max_sequence {
            return Err(Error::Invalid(format!(
                "window {} + {} x context {} + 2 special tokens exceeds the model's {} positions",
                self.window, sides, self.context, max_sequence
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
                Shape::Uniform | Shape::Causal => 1.0,
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

/// Causal plans: where the sequence predicting offset `o` of a lane starts (an offset too).
/// A lane's first `context + window` tokens all see the lane's start; after that the start
/// hops by `window`, so every token sees `context` … `context + window - 1` tokens before
/// it, and between hops each call's sequence is the lane's previous one plus one token: a
/// causal model's rows of that prefix are the same, and an engine may reuse them.
pub fn causal_start(o: usize, context: usize, window: usize) -> usize {
    if o < context + window {
        0
    } else {
        (o - context) / window * window
    }
}

/// What a position of a model call's sequence is in one round.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// shown as its token
    Visible,
    /// masked, and its log-probabilities are used
    Predicted,
    /// masked, not yet predicted
    Masked,
}

/// The lanes rule: context before the window (`group` None) is visible; inside the window a
/// position of an earlier group is visible, one of group `round` is predicted, and a later
/// one is masked. Training with the schedule objective uses the same rule.
pub fn lane_role(group: Option<usize>, round: usize) -> Role {
    match group {
        None => Role::Visible,
        Some(g) if g < round => Role::Visible,
        Some(g) if g == round => Role::Predicted,
        Some(_) => Role::Masked,
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

/// Walks the plan over a block of `n` tokens, one phase at a time. `known[i]` must hold the
/// true token of every position predicted in an earlier phase; other entries are ignored.
pub struct Walker<'p> {
    plan: &'p RevealPlan,
    groups: Vec<u8>,
    n: usize,
    batch: usize,
    /// lanes mode: (start, end) of each lane
    lanes: Vec<(usize, usize)>,
    /// lanes mode: windows of a lane from this one on are coded in sub-windows ([`Settle`])
    settled: usize,
    /// sub-windows per settled window
    subs: usize,
}

impl<'p> Walker<'p> {
    pub fn new(plan: &'p RevealPlan, n: usize, batch: usize) -> Self {
        let mut lanes = Vec::new();
        if let (Lanes::AtMost(most), true) = (plan.lanes, n > 0) {
            let windows = n.div_ceil(plan.window);
            let count = windows.div_ceil(MIN_LANE_WINDOWS).clamp(1, most);
            // lanes are whole windows long, the last one takes the rest
            let per = windows.div_ceil(count) * plan.window;
            let mut s = 0;
            while s < n {
                lanes.push((s, (s + per).min(n)));
                s += per;
            }
        }
        // the first window row by whose start `after` tokens are coded
        let (settled, subs) = match plan.settle {
            Some(st) if !lanes.is_empty() => {
                (st.after.div_ceil(lanes.len() * plan.window), plan.window.div_ceil(st.window))
            }
            _ => (usize::MAX, 1),
        };
        Walker { plan, groups: plan.groups(), n, batch: batch.max(1), lanes, settled, subs }
    }

    /// Group of position `i` (its offset within its window).
    pub fn group(&self, i: usize) -> usize {
        let off = match self.lanes.iter().find(|l| l.0 <= i && i < l.1) {
            Some(l) => i - l.0,
            None => i,
        };
        if off / self.plan.window >= self.settled {
            // a settled window's sub-windows are predicted in one round each
            return 0;
        }
        self.groups[off % self.plan.window] as usize
    }

    /// Lanes mode: the window index within each lane, the round and the sub-window of phase
    /// `ph` (rounds of the windows before [`Walker::settled`], sub-windows after).
    fn window_round(&self, ph: usize) -> (usize, usize, usize) {
        let r = self.plan.rounds;
        let early = self.settled.saturating_mul(r);
        if ph < early {
            (ph / r, ph % r, 0)
        } else {
            let late = ph - early;
            (self.settled + late / self.subs, 0, late % self.subs)
        }
    }

    pub fn phases(&self) -> usize {
        if self.plan.shape == Shape::Causal {
            return self.lanes.iter().map(|l| l.1 - l.0).max().unwrap_or(0);
        }
        if self.plan.lanes == Lanes::Lockstep {
            self.plan.rounds
        } else {
            let longest = self.lanes.iter().map(|l| (l.1 - l.0).div_ceil(self.plan.window)).max().unwrap_or(0);
            let early = longest.min(self.settled);
            early * self.plan.rounds + (longest - early) * self.subs
        }
    }

    /// Lanes of the block (0 in lockstep mode).
    pub fn lane_count(&self) -> usize {
        self.lanes.len()
    }

    /// The model calls of phase `ph`, in order.
    pub fn phase(&self, ph: usize, known: &[u32], cls: u32, sep: u32, mask: u32) -> Vec<Step> {
        self.phase_lanes(ph, 0..self.lanes.len(), known, cls, sep, mask)
    }

    /// The model calls of phase `ph` for the lanes `lanes` only (lanes mode; lockstep ignores
    /// it). A lane's sequences read only that lane's tokens, so `known` needs to be current
    /// for those lanes alone; the lanes' targets are in [`Walker::phase`]'s order.
    pub fn phase_lanes(
        &self,
        ph: usize,
        lanes: std::ops::Range<usize>,
        known: &[u32],
        cls: u32,
        sep: u32,
        mask: u32,
    ) -> Vec<Step> {
        if self.plan.shape == Shape::Causal {
            return self.causal_phase(ph, lanes, known, cls);
        }
        let w = self.plan.window;
        let c = self.plan.context;
        let mut steps = Vec::new();
        let mut cur = Step { seqs: Vec::new(), sel: Vec::new(), targets: Vec::new() };
        let push = |cur: &mut Step,
                    steps: &mut Vec<Step>,
                    lo: usize,
                    hi: usize,
                    s: usize,
                    e: usize,
                    r: usize,
                    visible: &dyn Fn(usize) -> bool| {
            if !(s..e).any(|i| self.group(i) == r) {
                return;
            }
            let mut seq = Vec::with_capacity(hi - lo + 2);
            seq.push(cls);
            seq.extend((lo..hi).map(|i| if visible(i) { known[i] } else { mask }));
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
                steps.push(std::mem::replace(cur, Step { seqs: Vec::new(), sel: Vec::new(), targets: Vec::new() }));
            }
        };
        if self.plan.lanes == Lanes::Lockstep {
            let r = ph;
            for win in 0..self.n.div_ceil(w) {
                let s = win * w;
                let e = (s + w).min(self.n);
                let vis = |i: usize| self.group(i) < r;
                push(&mut cur, &mut steps, s.saturating_sub(c), (e + c).min(self.n), s, e, r, &vis);
            }
        } else {
            let (k, r, sub) = self.window_round(ph);
            // a settled window's sub-window, else the whole window
            let (off, len) = match self.plan.settle {
                Some(st) if k >= self.settled => (sub * st.window, st.window.min(w - sub * st.window)),
                _ => (0, w),
            };
            for &(ls, le) in &self.lanes[lanes] {
                let s = ls + k * w + off;
                if s >= le {
                    continue;
                }
                let e = (s + len).min(le);
                let vis = |i: usize| lane_role((i >= s).then(|| self.group(i)), r) == Role::Visible;
                push(&mut cur, &mut steps, s.saturating_sub(c).max(ls), e, s, e, r, &vis);
            }
        }
        if !cur.seqs.is_empty() {
            steps.push(cur);
        }
        steps
    }

    /// A causal plan's phase `ph`: token `ph` of each lane, predicted by the last row of
    /// `[CLS]` + the lane's tokens from its segment start ([`causal_start`]) up to it.
    fn causal_phase(&self, ph: usize, lanes: std::ops::Range<usize>, known: &[u32], cls: u32) -> Vec<Step> {
        let mut steps = Vec::new();
        let mut cur = Step { seqs: Vec::new(), sel: Vec::new(), targets: Vec::new() };
        for &(ls, le) in &self.lanes[lanes] {
            let i = ls + ph;
            if i >= le {
                continue;
            }
            let lo = ls + causal_start(ph, self.plan.context, self.plan.window);
            let mut seq = Vec::with_capacity(1 + i - lo);
            seq.push(cls);
            seq.extend_from_slice(&known[lo..i]);
            cur.sel.push((cur.seqs.len(), seq.len() - 1));
            cur.targets.push(i);
            cur.seqs.push(seq);
            if cur.seqs.len() == self.batch {
                steps
                    .push(std::mem::replace(&mut cur, Step { seqs: Vec::new(), sel: Vec::new(), targets: Vec::new() }));
            }
        }
        if !cur.seqs.is_empty() {
            steps.push(cur);
        }
        steps
    }
}

#[cfg(test)]
mod tests;
