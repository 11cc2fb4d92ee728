//! Logistic mixing, as in the PAQ family: the inputs are predictions in the stretched domain,
//! the output is squash(Σ wᵢ·xᵢ), and after each decision the weights move along the
//! gradient of its code length (w += rate·(bit − p)·x). Several weight sets, each chosen by
//! its own small context, each give a prediction; a final mixer weighs those.
//! An APM then refines the probability by what such probabilities turned out to be in a
//! context. All in f32 in a fixed order, so the decoder repeats every bit.

use super::counters::prefetch;
use super::dots::dots;
use super::huge::Table;
use super::math::{squash, squash_all, stretch};
use super::tree::CLIP;

pub const MAX_INPUTS: usize = 64;
/// Most weight-set selectors (first layers) of a [`Mixer`].
const MAX_SELECTORS: usize = 8;

/// One layer: `sets` weight vectors of `n` inputs; `select` picks one per decision. A set
/// learns faster while it is young: its rate is `rate · (1 + boost · 64 / (64 + updates))`.
pub struct Layer {
    n: usize,
    w: Vec<f32>,
    updates: Vec<u32>,
    rate: f32,
    boost: f32,
}

impl Layer {
    pub fn new(n: usize, sets: usize, rate: f32, boost: f32, init: &[f32]) -> Self {
        let mut w = vec![0.0; n * sets];
        for s in 0..sets {
            w[s * n..s * n + init.len()].copy_from_slice(init);
        }
        Layer { n, w, updates: vec![0; sets], rate, boost }
    }

    /// The weights of set `set`.
    #[inline]
    fn row(&self, set: usize) -> &[f32] {
        &self.w[set * self.n..(set + 1) * self.n]
    }

    #[inline]
    pub fn dot(&self, set: usize, x: &[f32]) -> f32 {
        let w = &self.w[set * self.n..(set + 1) * self.n];
        let mut s = 0.0f32;
        for (a, b) in w.iter().zip(x) {
            s += a * b;
        }
        s.clamp(-CLIP, CLIP)
    }

    #[inline]
    pub fn train(&mut self, set: usize, x: &[f32], err: f32) {
        let g = self.step(set, err);
        add_scaled(&mut self.w[set * self.n..(set + 1) * self.n], x, g);
    }

    /// The step of set `set`'s weights for error `err` (counting the update): its rate times
    /// the error.
    #[inline(always)]
    fn step(&mut self, set: usize, err: f32) -> f32 {
        let u = self.updates[set];
        self.updates[set] = u.saturating_add(1);
        err * self.rate * (1.0 + self.boost * 64.0 / (64.0 + u as f32))
    }
}

/// `w[i] += g · x[i]` for each `i` (a product then a sum, each rounded: the same bits at any
/// vector width), with AVX where the CPU has it.
#[inline]
fn add_scaled(w: &mut [f32], x: &[f32], g: f32) {
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx") {
        // SAFETY: the CPU has AVX (checked just above)
        return unsafe { add_scaled_avx(w, x, g) };
    }
    add_scaled_loop(w, x, g);
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx")]
unsafe fn add_scaled_avx(w: &mut [f32], x: &[f32], g: f32) {
    add_scaled_loop(w, x, g);
}

#[inline(always)]
fn add_scaled_loop(w: &mut [f32], x: &[f32], g: f32) {
    for (a, b) in w.iter_mut().zip(x) {
        *a += g * b;
    }
}

/// Weight sets chosen by several contexts, then a final mixer over their outputs.
pub struct Mixer {
    first: Vec<Layer>,
    final_: Layer,
    x: [f32; MAX_INPUTS],
    nx: usize,
    sel: Vec<usize>,
    h: Vec<f32>,
    fsel: usize,
    p_first: Vec<f32>,
    pub p: f32,
}

impl Mixer {
    /// `sets[k]`: how many weight sets selector k chooses from; `init`: starting weights of
    /// the first inputs (the rest start at 0).
    pub fn new(n: usize, sets: &[usize], final_sets: usize, rate: f32, boost: f32, init: &[f32]) -> Self {
        let k = sets.len();
        assert!((1..=MAX_SELECTORS).contains(&k));
        Mixer {
            first: sets.iter().map(|&s| Layer::new(n, s, rate, boost, init)).collect(),
            final_: Layer::new(k, final_sets, rate * 0.5, boost, &vec![1.0 / k as f32; k]),
            x: [0.0; MAX_INPUTS],
            nx: 0,
            sel: vec![0; k],
            h: vec![0.0; k],
            fsel: 0,
            p_first: vec![0.5; k],
            p: 0.5,
        }
    }

    #[inline]
    pub fn clear(&mut self) {
        self.nx = 0;
    }

    #[inline]
    pub fn add(&mut self, x: f32) {
        self.x[self.nx] = x;
        self.nx += 1;
    }

    /// [`Mixer::add`] of each of `xs`, in order.
    #[inline]
    pub fn add_all(&mut self, xs: &[f32]) {
        self.x[self.nx..self.nx + xs.len()].copy_from_slice(xs);
        self.nx += xs.len();
    }

    /// P(1) from the inputs added since `clear`, with selector k choosing weight set `sel[k]`.
    pub fn mix(&mut self, sel: &[usize], fsel: usize) -> f32 {
        let x = &self.x[..self.nx];
        let k = self.first.len();
        let mut rows: [&[f32]; MAX_SELECTORS] = [&[]; MAX_SELECTORS];
        for (j, layer) in self.first.iter().enumerate() {
            self.sel[j] = sel[j];
            rows[j] = layer.row(sel[j]);
        }
        let mut s = [0.0f32; MAX_SELECTORS];
        match k {
            4 => s[..4].copy_from_slice(&dots::<4>(rows[..4].try_into().unwrap(), x)),
            5 => s[..5].copy_from_slice(&dots::<5>(rows[..5].try_into().unwrap(), x)),
            6 => s[..6].copy_from_slice(&dots::<6>(rows[..6].try_into().unwrap(), x)),
            _ => {
                for (j, layer) in self.first.iter().enumerate() {
                    s[j] = layer.dot(sel[j], x);
                }
            }
        }
        let h = s.map(|sj| sj.clamp(-CLIP, CLIP));
        let mut p = h;
        squash_all(&mut p);
        self.h.copy_from_slice(&h[..k]);
        self.p_first.copy_from_slice(&p[..k]);
        self.fsel = fsel;
        self.p = squash(self.final_.dot(fsel, &self.h));
        self.p
    }

    pub fn update(&mut self, bit: bool) {
        #[cfg(target_arch = "x86_64")]
        if std::arch::is_x86_feature_detected!("avx") {
            // SAFETY: the CPU has AVX (checked just above)
            return unsafe { self.update_avx(bit) };
        }
        self.update_loop(bit);
    }

    /// [`Mixer::update`] compiled for AVX: the weight rows' loops inlined and eight wide.
    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx")]
    unsafe fn update_avx(&mut self, bit: bool) {
        self.update_loop(bit);
    }

    #[inline(always)]
    fn update_loop(&mut self, bit: bool) {
        let y = if bit { 1.0 } else { 0.0 };
        let x = &self.x[..self.nx];
        for (k, layer) in self.first.iter_mut().enumerate() {
            let set = self.sel[k];
            let g = layer.step(set, y - self.p_first[k]);
            add_scaled_loop(&mut layer.w[set * layer.n..(set + 1) * layer.n], x, g);
        }
        let g = self.final_.step(self.fsel, y - self.p);
        add_scaled_loop(&mut self.final_.w[self.fsel * self.final_.n..(self.fsel + 1) * self.final_.n], &self.h, g);
    }
}

/// Adaptive probability map: per context, a curve from input probability to output
/// probability over 33 points of the stretched domain, interpolated, trained towards the bit.
pub struct Apm {
    t: Table<Point>,
    idx: usize,
    frac: f32,
    rate: f32,
}

/// A point of a curve beside its update count, so that a refinement and its update touch
/// one cache line, not two.
#[derive(Clone, Copy)]
struct Point {
    p: f32,
    /// updates, for a rate that starts fast: max(1 / (n + 1.5), rate)
    n: u16,
}

const APM_STEPS: usize = 33;
/// Bytes of one APM context's curve.
pub const APM_ROW_BYTES: usize = APM_STEPS * std::mem::size_of::<Point>();
const APM_RANGE: f32 = 8.0;

impl Apm {
    pub fn new(contexts: usize, rate: f32) -> Self {
        let curve: Vec<Point> =
            (0..APM_STEPS).map(|j| Point { p: squash((j as f32 - 16.0) * (APM_RANGE / 16.0)), n: 0 }).collect();
        let t = Table::from_fn(contexts * APM_STEPS, |i| curve[i % APM_STEPS]);
        Apm { t, idx: 0, frac: 0.0, rate }
    }

    pub fn contexts(&self) -> usize {
        self.t.len() / APM_STEPS
    }

    /// Starts loading the curve of context `ctx` into the cache ahead of its
    /// [`Apm::refine`]; no effect on any value.
    #[inline]
    pub fn prefetch(&self, ctx: usize) {
        let row = &self.t[ctx * APM_STEPS..(ctx + 1) * APM_STEPS];
        // one point per 64-byte line reaches every line of the row
        for x in row.iter().step_by(64 / std::mem::size_of::<Point>()) {
            prefetch(x);
        }
        prefetch(&row[APM_STEPS - 1]);
    }

    pub fn refine(&mut self, p: f32, ctx: usize) -> f32 {
        self.refine_stretched(stretch(p), ctx)
    }

    /// [`Apm::refine`] of the probability whose stretch is `sp` (maps that refine the same
    /// probability share its stretch).
    pub fn refine_stretched(&mut self, sp: f32, ctx: usize) -> f32 {
        self.refine_at(Place::of(sp), ctx)
    }

    /// [`Apm::refine_stretched`] of the probability that falls at `at` (maps that refine
    /// the same probability share its place).
    #[inline]
    pub fn refine_at(&mut self, at: Place, ctx: usize) -> f32 {
        self.frac = at.frac;
        self.idx = ctx * APM_STEPS + at.j;
        self.t[self.idx].p * (1.0 - self.frac) + self.t[self.idx + 1].p * self.frac
    }

    pub fn update(&mut self, bit: bool) {
        let y = if bit { 1.0 } else { 0.0 };
        for (k, share) in [(self.idx, 1.0 - self.frac), (self.idx + 1, self.frac)] {
            let x = &mut self.t[k];
            let r = RECIPROCAL[x.n as usize].max(self.rate);
            x.p += (y - x.p) * r * share;
            x.n = x.n.saturating_add(1).min(APM_MAX_N);
        }
    }
}

/// Most updates an APM point counts.
const APM_MAX_N: u16 = 1000;

/// 1 / (n + 1.5) for every count a point reaches, computed at compile time (IEEE division,
/// the quotients a run computes).
const RECIPROCAL: [f32; APM_MAX_N as usize + 1] = {
    let mut t = [0.0f32; APM_MAX_N as usize + 1];
    let mut n = 0;
    while n < t.len() {
        t[n] = 1.0 / (n as f32 + 1.5);
        n += 1;
    }
    t
};

/// Where a stretched probability falls on an APM's curve: the point below it and how far
/// towards the next one.
#[derive(Clone, Copy)]
pub struct Place {
    j: usize,
    frac: f32,
}

impl Place {
    #[inline]
    pub fn of(sp: f32) -> Place {
        let s = (sp.clamp(-APM_RANGE, APM_RANGE) + APM_RANGE) * (16.0 / APM_RANGE);
        let j = (s as usize).min(APM_STEPS - 2);
        Place { j, frac: s - j as f32 }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The table built at compile time holds the quotients a run computes, and the vector
    /// update of a weight row the plain loop's bits.
    #[test]
    fn tables_and_vectors_give_the_plain_bits() {
        for n in 0..=APM_MAX_N {
            let at_run = 1.0 / (std::hint::black_box(n) as f32 + 1.5);
            assert_eq!(RECIPROCAL[n as usize].to_bits(), at_run.to_bits(), "n = {n}");
        }
        let x: Vec<f32> = (0..41).map(|i| ((i * 37 % 23) as f32 - 11.0) * 0.37 + 1e-39 * i as f32).collect();
        let w0: Vec<f32> = (0..41).map(|i| ((i * 13 % 17) as f32 - 8.0) * 0.011).collect();
        for g in [0.003f32, -0.7, 1e-30, 3.1e7] {
            let (mut a, mut b) = (w0.clone(), w0.clone());
            add_scaled(&mut a, &x, g);
            add_scaled_loop(&mut b, &x, g);
            let plain: Vec<f32> = w0.iter().zip(&x).map(|(w, x)| w + std::hint::black_box(g * x)).collect();
            assert_eq!(
                a.iter().map(|v| v.to_bits()).collect::<Vec<_>>(),
                plain.iter().map(|v| v.to_bits()).collect::<Vec<_>>()
            );
            assert_eq!(
                a.iter().map(|v| v.to_bits()).collect::<Vec<_>>(),
                b.iter().map(|v| v.to_bits()).collect::<Vec<_>>()
            );
        }
    }
}
