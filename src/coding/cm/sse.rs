//! The stage after the mixer: APMs refine the mixed probability by small contexts
//! (secondary symbol estimation). Versions 3 and 4 average two or three of them with the
//! mixer's output at a fixed share; version 5 adds two more (the two previous tokens, the
//! LM's own odds) and mixes all five with the mixer's output by a learned weight set per
//! depth, so a poorly trained map is weighed down instead of diluting the others.

use super::counters::slot_of;
use super::math::{squash, stretch, stretch_all};
use super::mixer::{Apm, Layer, Place};
use super::params::Params;
use super::tree::CLIP;

/// LM odds buckets of the version 5 APM by the LM.
pub(super) const LM_STEPS: usize = 24;

/// What an APM stage needs to know about one decision.
pub struct Decision {
    /// depth (capped) and match state
    pub depth: usize,
    pub mstate: usize,
    pub node: u32,
    /// hashes of the previous token and of the two previous tokens
    pub prev: u64,
    pub prev2: u64,
    /// the LM's odds for the decision
    pub lm: f32,
}

/// The APM by the LM's odds: which of its [`LM_STEPS`] buckets odds `lm` fall in.
#[inline]
fn lm_step(lm: f32) -> usize {
    (((lm + CLIP) * (LM_STEPS as f32 / (2.0 * CLIP))) as usize).min(LM_STEPS - 1)
}

pub struct Sse {
    share: f32,
    /// how many match states the first APM tells apart per depth
    states: usize,
    by_state: Apm,
    /// by the decision's node (what tokens spelt like this turned out to be)
    by_node: Apm,
    /// by the previous token and the node (versions 4, 5)
    by_prev: Option<Apm>,
    /// version 5: by the two previous tokens and the node, by the LM's odds and the depth,
    /// and the layer that mixes them all
    v5: Option<(Apm, Apm, Layer)>,
    x: [f32; 6],
    set: usize,
    p: f32,
}

impl Sse {
    /// For a block whose order-1 maps get `small` contexts, a tree of `bits` levels and
    /// `depths` capped depths.
    pub fn new(p: &Params, small: usize, bits: u32, depths: usize, states: usize) -> Self {
        let apm = |n: usize| Apm::new(n, p.apm_rate);
        Sse {
            share: p.apm_share,
            states,
            by_state: apm(depths * states),
            by_node: apm(1 << bits.min(16)),
            by_prev: p.apm_prev.then(|| apm(small)),
            v5: p.apm_mix.then(|| {
                let init = [0.25, 0.15, 0.15, 0.15, 0.15, 0.15];
                (apm(small), apm(depths * LM_STEPS), Layer::new(6, depths, p.apm_mix_rate, 0.0, &init))
            }),
            x: [0.0; 6],
            set: 0,
            p: 0.5,
        }
    }

    /// Starts loading what [`Sse::refine`] will read for a decision at `node` whose previous
    /// tokens hash to `prev` and `prev2` (the maps too large for the cache); no effect on any
    /// value.
    #[inline]
    pub fn prefetch(&self, node: u32, prev: u64, prev2: u64) {
        self.by_node.prefetch(node as usize & 0xFFFF);
        if let Some(by_prev) = &self.by_prev {
            by_prev.prefetch(slot_of(prev, node) as usize & (by_prev.contexts() - 1));
        }
        if let Some((by_prev2, _, _)) = &self.v5 {
            by_prev2.prefetch(slot_of(prev2, node) as usize & (by_prev2.contexts() - 1));
        }
    }

    /// Starts loading the curves of decision `d` that [`Sse::prefetch`] could not ask for
    /// ahead (they depend on the decision's match state and LM odds), while the mixer mixes;
    /// no effect on any value.
    #[inline]
    pub fn prefetch_rows(&self, d: &Decision) {
        self.by_state.prefetch(d.depth * self.states + d.mstate);
        if let Some((_, by_lm, _)) = &self.v5 {
            by_lm.prefetch(d.depth * LM_STEPS + lm_step(d.lm));
        }
    }

    /// The refined P(1) of the mixer's `pm`.
    pub fn refine(&mut self, pm: f32, d: &Decision) -> f32 {
        // every map refines pm: its stretch once
        let spm = stretch(pm);
        let at = Place::of(spm);
        let pa = self.by_state.refine_at(at, d.depth * self.states + d.mstate);
        let pn = self.by_node.refine_at(at, d.node as usize & 0xFFFF);
        let Some(by_prev) = &mut self.by_prev else {
            return pm + ((pa + pn) * 0.5 - pm) * self.share;
        };
        let pp = by_prev.refine_at(at, slot_of(d.prev, d.node) as usize & (by_prev.contexts() - 1));
        let Some((by_prev2, by_lm, layer)) = &mut self.v5 else {
            return pm + ((pa + pn + pp) * (1.0 / 3.0) - pm) * self.share;
        };
        let p2 = by_prev2.refine_at(at, slot_of(d.prev2, d.node) as usize & (by_prev2.contexts() - 1));
        let pl = by_lm.refine_at(at, d.depth * LM_STEPS + lm_step(d.lm));
        let mut st = [pa, pn, pp, p2, pl, 0.5, 0.5, 0.5];
        stretch_all(&mut st);
        self.x = [spm, st[0], st[1], st[2], st[3], st[4]].map(|x| x.clamp(-CLIP, CLIP));
        self.set = d.depth;
        self.p = squash(layer.dot(self.set, &self.x));
        self.p
    }

    pub fn update(&mut self, bit: bool) {
        self.by_state.update(bit);
        self.by_node.update(bit);
        if let Some(a) = &mut self.by_prev {
            a.update(bit);
        }
        if let Some((a, b, layer)) = &mut self.v5 {
            a.update(bit);
            b.update(bit);
            let y = if bit { 1.0 } else { 0.0 };
            layer.train(self.set, &self.x, y - self.p);
        }
    }
}
