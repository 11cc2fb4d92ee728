//! Adaptive token model, version 1: a unigram cache
//! of the block so far and bigram caches from the known left and right neighbours, updated as
//! tokens are coded and mirrored exactly by the decoder. The mixture weights are picked per
//! token from a fixed grid: the setting with the lowest (decayed) code length so far wins,
//! as in context-mixing compressors' model selection.

use std::collections::HashMap;

use super::token_model::Mixture;

/// (unigram, left bigram, right bigram) weights; the masked LM gets the rest.
const GRID: [(f32, f32, f32); 17] = [
    (0.0, 0.0, 0.0),
    (0.02, 0.0, 0.0),
    (0.02, 0.1, 0.0),
    (0.02, 0.0, 0.1),
    (0.02, 0.1, 0.1),
    (0.02, 0.25, 0.0),
    (0.02, 0.0, 0.25),
    (0.02, 0.25, 0.25),
    (0.05, 0.1, 0.1),
    (0.02, 0.4, 0.2),
    (0.02, 0.2, 0.4),
    (0.01, 0.05, 0.05),
    (0.05, 0.5, 0.3),
    (0.05, 0.3, 0.5),
    (0.03, 0.6, 0.0),
    (0.03, 0.0, 0.6),
    (0.1, 0.2, 0.2),
];
const DECAY: f64 = 0.995;

/// (occurrences of a context token, counts of the tokens next to it)
type Followers = (u32, HashMap<u32, u32>);

pub struct BigramCache {
    v: usize,
    uni: Vec<u32>,
    uni_total: u32,
    left: HashMap<u32, Followers>,
    right: HashMap<u32, Followers>,
    known: Vec<Option<u32>>,
    loss: [f64; GRID.len()],
    probs: Vec<f32>,
}

fn add(map: &mut HashMap<u32, Followers>, ctx: u32, tok: u32) {
    let e = map.entry(ctx).or_default();
    e.0 += 1;
    *e.1.entry(tok).or_default() += 1;
}

impl BigramCache {
    pub fn new(v: usize, n: usize) -> Self {
        BigramCache {
            v,
            uni: vec![0; v],
            uni_total: 0,
            left: HashMap::new(),
            right: HashMap::new(),
            known: vec![None; n],
            loss: [0.0; GRID.len()],
            probs: Vec::with_capacity(v),
        }
    }

    fn contexts(&self, i: usize) -> (Option<&Followers>, Option<&Followers>) {
        let l = i.checked_sub(1).and_then(|j| self.known[j]).and_then(|t| self.left.get(&t));
        let r = self.known.get(i + 1).copied().flatten().and_then(|t| self.right.get(&t));
        (l, r)
    }

    fn weights(&self, k: usize, l: bool, r: bool) -> (f32, f32, f32, f32) {
        let (wu, wl, wr) = GRID[k];
        let wu = if self.uni_total > 0 { wu } else { 0.0 };
        let wl = if l { wl } else { 0.0 };
        let wr = if r { wr } else { 0.0 };
        (1.0 - wu - wl - wr, wu, wl, wr)
    }
}

impl Mixture for BigramCache {
    /// The mixed distribution for position `i`.
    fn mix(&mut self, i: usize, lp: &[f32]) -> &[f32] {
        let best = (0..GRID.len()).min_by(|&a, &b| self.loss[a].total_cmp(&self.loss[b]).then(a.cmp(&b))).unwrap();
        let mut p = std::mem::take(&mut self.probs);
        let (l, r) = self.contexts(i);
        let (wm, wu, wl, wr) = self.weights(best, l.is_some(), r.is_some());
        p.clear();
        p.extend(lp.iter().map(|&x| if x.is_finite() { x.exp() * wm } else { 0.0 }));
        if wu > 0.0 {
            let s = wu / self.uni_total as f32;
            for (q, &c) in p.iter_mut().zip(&self.uni) {
                *q += c as f32 * s;
            }
        }
        for (ctx, w) in [(l, wl), (r, wr)] {
            if let (Some((total, m)), true) = (ctx, w > 0.0) {
                let s = w / *total as f32;
                for (&t, &c) in m {
                    p[t as usize] += c as f32 * s;
                }
            }
        }
        self.probs = p;
        &self.probs
    }

    /// Learns from the coded token `tok` at position `i` (whose LM log-probs were `lp`).
    fn update(&mut self, i: usize, tok: u32, lp: &[f32]) {
        let (l, r) = self.contexts(i);
        let pm = lp[tok as usize].exp();
        let pu = if self.uni_total > 0 { self.uni[tok as usize] as f32 / self.uni_total as f32 } else { 0.0 };
        let pl = l.map(|(t, m)| m.get(&tok).copied().unwrap_or(0) as f32 / *t as f32).unwrap_or(0.0);
        let pr = r.map(|(t, m)| m.get(&tok).copied().unwrap_or(0) as f32 / *t as f32).unwrap_or(0.0);
        let (hl, hr) = (l.is_some(), r.is_some());
        for k in 0..GRID.len() {
            let (wm, wu, wl, wr) = self.weights(k, hl, hr);
            let p = (wm * pm + wu * pu + wl * pl + wr * pr).max(1e-9);
            self.loss[k] = self.loss[k] * DECAY - (p as f64).ln();
        }
        debug_assert!((tok as usize) < self.v);
        self.uni[tok as usize] += 1;
        self.uni_total += 1;
        self.known[i] = Some(tok);
        // each adjacent pair is counted once, when the second of the two becomes known
        if let Some(prev) = i.checked_sub(1).and_then(|j| self.known[j]) {
            add(&mut self.left, prev, tok);
            add(&mut self.right, tok, prev);
        }
        if let Some(next) = self.known.get(i + 1).copied().flatten() {
            add(&mut self.left, tok, next);
            add(&mut self.right, next, tok);
        }
    }
}
