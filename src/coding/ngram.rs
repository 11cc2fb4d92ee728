//! Adaptive token model, version 2: order-0 to order-3 token statistics of the
//! block so far, blended by Witten-Bell interpolation, then mixed with the masked LM. The LM's
//! share is picked per token from a grid by decayed code length, separately for each context
//! class (deepest order seen × how often it was seen), so confident long contexts can
//! outweigh the LM while fresh ones defer to it. The decoder repeats every step exactly;
//! all arithmetic on counts is integer and the floating-point operations are done in a fixed
//! order.
//!
//! Invariant: an n-gram is counted exactly once, when the last of its tokens becomes known,
//! whatever order the reveal plan codes positions in.

use std::collections::HashMap;

use super::token_model::Mixture;

const ORDERS: usize = 3;
/// the n-gram model's share of the mixture
const BETA: [f32; 12] = [0.0, 0.03, 0.07, 0.12, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9];
const DECAY: f64 = 0.998;
/// context classes: deepest order (0..=3) × count bucket (4)
const CLASSES: usize = (ORDERS + 1) * 4;

#[derive(Default)]
struct Counts {
    total: u32,
    next: HashMap<u32, u32>,
}

pub struct NgramModel {
    v: usize,
    uni: Vec<u32>,
    uni_total: u32,
    /// contexts of order 1..=3, keyed by their tokens packed into a u64 (tokens < 2^21)
    ctx: [HashMap<u64, Counts>; ORDERS],
    known: Vec<Option<u32>>,
    loss: [[f64; BETA.len()]; CLASSES],
    pub probs: Vec<f32>,
}

/// The contexts found for one position: orders 1..=n, shortest first.
struct Ctxs<'a> {
    c: [Option<&'a Counts>; ORDERS],
    n: usize,
}

impl<'a> Ctxs<'a> {
    fn iter(&self) -> impl Iterator<Item = &'a Counts> + '_ {
        self.c[..self.n].iter().flatten().copied()
    }
    fn last(&self) -> Option<&'a Counts> {
        self.n.checked_sub(1).and_then(|i| self.c[i])
    }
}

fn bucket(total: u32) -> usize {
    match total {
        0..=1 => 0,
        2..=4 => 1,
        5..=15 => 2,
        _ => 3,
    }
}

impl NgramModel {
    pub fn new(v: usize, n: usize) -> Self {
        NgramModel {
            v,
            uni: vec![0; v],
            uni_total: 0,
            ctx: Default::default(),
            known: vec![None; n],
            loss: [[0.0; BETA.len()]; CLASSES],
            probs: Vec::with_capacity(v),
        }
    }

    /// The known contexts before position `i`, shortest first (order 1, 2, 3), up to the
    /// first unknown token or unseen context. No allocation: this runs twice per token.
    fn contexts(&self, i: usize) -> Ctxs<'_> {
        let mut out = Ctxs { c: [None; ORDERS], n: 0 };
        let mut k = 0u64;
        for n in 1..=ORDERS {
            let Some(t) = i.checked_sub(n).and_then(|j| self.known[j]) else { break };
            // the same packing as `key`, oldest token in the highest bits
            k |= (t as u64 & 0x1F_FFFF) << (21 * (n - 1));
            match self.ctx[n - 1].get(&k) {
                Some(c) => {
                    out.c[n - 1] = Some(c);
                    out.n = n;
                }
                None => break,
            }
        }
        out
    }

    fn class(&self, ctxs: &Ctxs) -> usize {
        match ctxs.last() {
            Some(c) => ctxs.n * 4 + bucket(c.total),
            None => bucket(self.uni_total),
        }
    }

    fn beta(&self, class: usize) -> f32 {
        if self.uni_total == 0 {
            return 0.0;
        }
        let l = &self.loss[class];
        let best = (0..BETA.len()).min_by(|&a, &b| l[a].total_cmp(&l[b]).then(a.cmp(&b))).unwrap();
        BETA[best]
    }

    /// Witten-Bell weights: for each order (shortest first), the factor that scales the
    /// lower-order estimate and the factor for this order's own counts.
    fn interpolation(ctxs: &Ctxs) -> [(f32, f32); ORDERS] {
        let mut w = [(0.0, 0.0); ORDERS];
        for (w, c) in w.iter_mut().zip(ctxs.iter()) {
            let d = c.next.len() as f32;
            let t = c.total as f32;
            *w = (d / (t + d), 1.0 / (t + d));
        }
        w
    }

    /// The n-gram estimate of `tok` at position `i`.
    fn ngram_p(&self, ctxs: &Ctxs, tok: u32) -> f32 {
        if self.uni_total == 0 {
            return 0.0;
        }
        let mut p = self.uni[tok as usize] as f32 / self.uni_total as f32;
        for c in ctxs.iter() {
            let d = c.next.len() as f32;
            let t = c.total as f32;
            p = (c.next.get(&tok).copied().unwrap_or(0) as f32 + d * p) / (t + d);
        }
        p
    }
}

impl Mixture for NgramModel {
    /// The mixed distribution for position `i`.
    fn mix(&mut self, i: usize, lp: &[f32]) -> &[f32] {
        let mut p = std::mem::take(&mut self.probs);
        p.clear();
        let ctxs = self.contexts(i);
        let class = self.class(&ctxs);
        let beta = self.beta(class);
        if beta == 0.0 {
            p.extend(lp.iter().map(|&x| if x.is_finite() { x.exp() } else { 0.0 }));
            self.probs = p;
            return &self.probs;
        }
        let w = Self::interpolation(&ctxs);
        let w = &w[..ctxs.n];
        // the order-0 estimate is scaled by every higher order's back-off factor
        let mut scale0 = beta / self.uni_total as f32;
        for &(back, _) in w {
            scale0 *= back;
        }
        let wm = 1.0 - beta;
        p.extend(
            lp.iter()
                .zip(&self.uni)
                .map(|(&x, &c)| (if x.is_finite() { x.exp() * wm } else { 0.0 }) + c as f32 * scale0),
        );
        for (n, c) in ctxs.iter().enumerate() {
            let mut s = beta * w[n].1;
            for &(back, _) in &w[n + 1..] {
                s *= back;
            }
            // each token gets one addition per order, in order of orders, so the map's
            // iteration order (which differs between processes) never changes a sum
            for (&t, &cnt) in &c.next {
                p[t as usize] += cnt as f32 * s;
            }
        }
        self.probs = p;
        &self.probs
    }

    /// Learns from the coded token `tok` at position `i` (whose LM log-probs were `lp`).
    fn update(&mut self, i: usize, tok: u32, lp: &[f32]) {
        debug_assert!((tok as usize) < self.v);
        let ctxs = self.contexts(i);
        let class = self.class(&ctxs);
        let pm = lp[tok as usize].exp();
        let pn = self.ngram_p(&ctxs, tok);
        for (k, &b) in BETA.iter().enumerate() {
            let p = ((1.0 - b) * pm + b * pn).max(1e-9);
            self.loss[class][k] = self.loss[class][k] * DECAY - (p as f64).ln();
        }
        self.uni[tok as usize] += 1;
        self.uni_total += 1;
        self.known[i] = Some(tok);
        // every n-gram that `tok` completes: it ends at e (i..=i+ORDERS) and covers i
        for e in i..(i + ORDERS + 1).min(self.known.len()) {
            let Some(target) = self.known[e] else { continue };
            for n in 1..=ORDERS {
                if e < n || e - n > i {
                    continue;
                }
                let toks = (e - n..e).try_fold(0u64, |k, j| self.known[j].map(|t| (k << 21) | (t as u64 & 0x1F_FFFF)));
                if let Some(k) = toks {
                    let c = self.ctx[n - 1].entry(k).or_default();
                    c.total += 1;
                    *c.next.entry(target).or_default() += 1;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Revealing the same tokens in any order leaves the same counts (each n-gram counted once).
    #[test]
    fn counts_do_not_depend_on_reveal_order() {
        let toks = [5u32, 6, 7, 5, 6, 7, 5, 6, 8, 9];
        let lp = vec![(0.1f32).ln(); 10];
        let count = |order: &[usize]| {
            let mut m = NgramModel::new(10, toks.len());
            for &i in order {
                m.update(i, toks[i], &lp);
            }
            let mut v: Vec<(usize, u64, u32, u32)> = Vec::new();
            for (n, map) in m.ctx.iter().enumerate() {
                for (k, c) in map {
                    for (&t, &x) in &c.next {
                        v.push((n, *k, t, x));
                    }
                }
            }
            v.sort();
            v
        };
        let forward: Vec<usize> = (0..toks.len()).collect();
        let scattered = [3, 9, 0, 6, 1, 8, 2, 5, 7, 4];
        assert_eq!(count(&forward), count(&scattered));
        // 9 bigrams, 8 trigrams, 7 four-grams
        let c = count(&forward);
        let sum = |n| c.iter().filter(|x| x.0 == n).map(|x| x.3).sum::<u32>();
        assert_eq!((sum(0), sum(1), sum(2)), (9, 8, 7));
    }

    /// The mixed distribution sums to one and puts more mass on a repeated continuation.
    #[test]
    fn mixture_is_a_distribution_that_learns_repeats() {
        let v = 50;
        let lp = vec![(1.0f32 / v as f32).ln(); v];
        let mut m = NgramModel::new(v, 400);
        let pattern = [1u32, 2, 3, 4];
        let mut last = 0.0;
        for i in 0..400 {
            m.mix(i, &lp);
            let sum: f32 = m.probs.iter().sum();
            assert!((sum - 1.0).abs() < 1e-3, "sums to {sum}");
            last = m.probs[pattern[i % 4] as usize];
            m.update(i, pattern[i % 4], &lp);
        }
        assert!(last > 0.9, "a repeated pattern should become near certain, got {last}");
    }
}
