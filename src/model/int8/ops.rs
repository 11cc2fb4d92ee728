//! The integer operations of the engine other than matrix products: requantisation, LayerNorm,
//! the attention softmax, GELU by table and the final log-distribution. Every function here
//! is scalar, integer-only and shared by all instruction sets, so only the products (exact
//! integer sums) differ between kernels. docs/FORMAT.md specifies each step; the bounds in
//! the comments are what `params` validates at load, so nothing here can overflow.

use super::params::{Gelu, Norm, Requant, EXP_BITS, LOG_BITS, MAX_WIDTH};

/// Largest magnitude of the residual stream (values are clamped to ±RESIDUAL_MAX).
pub const RESIDUAL_MAX: i64 = 1 << 30;

/// `round(x / 2^s)`, halves rounded up (towards +∞); `s = 0` is the identity.
#[inline(always)]
pub fn rshift(x: i64, s: u32) -> i64 {
    if s == 0 {
        x
    } else {
        x.wrapping_add(1i64 << (s - 1)) >> s
    }
}

/// Number of significant bits of `x` (0 for 0).
#[inline(always)]
fn bit_len(x: u64) -> u32 {
    64 - x.leading_zeros()
}

/// One output channel of a linear layer: `round((acc · m + b) / 2^shift)` before clamping.
#[inline(always)]
pub fn requant(acc: i32, m: i32, b: i64, shift: u32) -> i64 {
    rshift((acc as i64).wrapping_mul(m as i64).wrapping_add(b), shift)
}

/// Requantises a row of accumulators to an activation type (clamped to its range).
pub fn requant_act<T: ActInt>(acc: &[i32], rq: &Requant, out: &mut [T]) {
    let lim = T::LIMIT;
    for (n, (&a, o)) in acc.iter().zip(out.iter_mut()).enumerate() {
        *o = T::from_i64(requant(a, rq.m[n], rq.b[n], rq.shift).clamp(-lim, lim));
    }
}

/// Adds a requantised row to the residual stream, clamping it to ±RESIDUAL_MAX.
pub fn requant_add(acc: &[i32], rq: &Requant, x: &mut [i32]) {
    for (n, (&a, xv)) in acc.iter().zip(x.iter_mut()).enumerate() {
        let y = requant(a, rq.m[n], rq.b[n], rq.shift).clamp(-RESIDUAL_MAX, RESIDUAL_MAX);
        *xv = (*xv as i64 + y).clamp(-RESIDUAL_MAX, RESIDUAL_MAX) as i32;
    }
}

/// The integer types activations are stored in, with their symmetric ranges.
pub trait ActInt: Copy + Default + Send + Sync + 'static {
    const LIMIT: i64;
    fn from_i64(v: i64) -> Self;
    fn to_i32(self) -> i32;
}

impl ActInt for i8 {
    const LIMIT: i64 = 127;
    #[inline(always)]
    fn from_i64(v: i64) -> Self {
        v as i8
    }
    #[inline(always)]
    fn to_i32(self) -> i32 {
        self as i32
    }
}

/// 16-bit activations keep to 15 bits so that products with int8 weights summed over up to
/// 1024 terms stay inside i32.
impl ActInt for i16 {
    const LIMIT: i64 = (1 << 14) - 1;
    #[inline(always)]
    fn from_i64(v: i64) -> Self {
        v as i16
    }
    #[inline(always)]
    fn to_i32(self) -> i32 {
        self as i32
    }
}

/// The residual stream as a LayerNorm output.
impl ActInt for i32 {
    const LIMIT: i64 = RESIDUAL_MAX;
    #[inline(always)]
    fn from_i64(v: i64) -> Self {
        v as i32
    }
    #[inline(always)]
    fn to_i32(self) -> i32 {
        self
    }
}

/// Integer LayerNorm of one row (length H ≤ 1024, |x| < 2^31), written in `n.out`'s units.
///
/// The row is first scaled down by a power of two (chosen from its largest magnitude) to
/// |xs| ≤ 2^15; then, with exact integers, `d = H·xs − Σxs` is H times the deviation from the
/// mean and `S = Σd²` is H³ times the variance; `sd = ⌊√(⌊S/H⌋ + eps)⌋` is H times the standard
/// deviation; `nq = round(d · ⌊2^46/sd⌋ / 2^30)` is the normalised value in units of 2^-16;
/// the affine part and the output scale are one multiplier and offset per channel.
pub fn layer_norm<T: ActInt>(x: &[i32], n: &Norm, out: &mut [T]) {
    let h = x.len() as i64;
    let mx = x.iter().map(|v| v.unsigned_abs()).max().unwrap_or(0) as u64;
    let k = bit_len(mx).saturating_sub(15);
    let mut xs = [0i32; MAX_WIDTH];
    let xs = &mut xs[..x.len()];
    let mut sum = 0i64;
    for (s, &v) in xs.iter_mut().zip(x) {
        *s = rshift(v as i64, k) as i32;
        sum += *s as i64;
    }
    let mut s = 0i64;
    for &v in xs.iter() {
        let d = h * v as i64 - sum;
        s += d * d;
    }
    let eps = if 2 * k >= 63 { 0 } else { rshift(n.eps, 2 * k) };
    let sd = ((s / h + eps) as u64).isqrt() as i64;
    let r = if sd == 0 { 0 } else { (1i64 << 46) / sd };
    let lim = T::LIMIT;
    for (c, (&v, o)) in xs.iter().zip(out.iter_mut()).enumerate() {
        let nq = rshift((h * v as i64 - sum) * r, 30);
        *o = T::from_i64(rshift(nq * n.g[c] as i64 + n.b[c], n.shift).clamp(-lim, lim));
    }
}

/// `2^(-t / 2^EXP_BITS)` in units of 2^-30 for `t ≥ 0`, from the table of the fractional part.
#[inline(always)]
pub(crate) fn exp2_neg(t: i64, table: &[u32]) -> u64 {
    let ip = t >> EXP_BITS;
    if ip >= 31 {
        0
    } else {
        (table[(t & ((1 << EXP_BITS) - 1)) as usize] >> ip) as u64
    }
}

/// Attention softmax of one query row. `z`: scores already scaled to units of 2^-EXP_BITS of
/// log2 (only the attended keys); writes probabilities in units of 2^-14.
pub fn softmax_q14(z: &[i64], table: &[u32], out: &mut [i16]) {
    let Some(&mx) = z.iter().max() else { return };
    let mut sum = 0u64;
    for &v in z {
        sum += exp2_neg(mx - v, table);
    }
    // the maximum contributes table[0] = 2^30, so sum ≥ 2^30 and r ≤ 2^32
    let r = ((1u64 << 62) / sum.max(1)) as i64;
    for (&v, o) in z.iter().zip(out.iter_mut()) {
        let e = exp2_neg(mx - v, table) as i64;
        *o = rshift(e * r, 48) as i16;
    }
}

/// GELU of one requantised input `u` (units of the table's input scale).
#[inline(always)]
pub fn gelu(u: i64, g: &Gelu) -> i64 {
    let half = g.half as i64;
    if u < -half {
        g.table[0] as i64
    } else if u > half {
        // far right GELU(x) = x: a straight rescaling
        rshift(u.wrapping_mul(g.lin_m as i64), g.lin_shift)
    } else {
        g.table[(u + half) as usize] as i64
    }
}

/// A linear layer's accumulators through GELU into an activation row.
pub fn requant_gelu<T: ActInt>(acc: &[i32], rq: &Requant, g: &Gelu, out: &mut [T]) {
    let lim = T::LIMIT;
    for (n, (&a, o)) in acc.iter().zip(out.iter_mut()).enumerate() {
        let u = requant(a, rq.m[n], rq.b[n], rq.shift).clamp(-RESIDUAL_MAX, RESIDUAL_MAX);
        *o = T::from_i64(gelu(u, g).clamp(-lim, lim));
    }
}

/// Units of the engine's log-probabilities: 2^-LOGIT_BITS of log2.
pub const LOGIT_BITS: u32 = 16;
/// Most negative log-probability emitted, in those units (−256 bits): f32 holds it exactly.
pub const LP_MIN: i64 = -(1 << 24);
/// The one float operation of the engine: integer log2-units → natural log, an IEEE-754
/// single multiplication (correctly rounded everywhere). The f32 nearest to ln 2 / 2^16.
pub const LP_TO_NATS: f32 = std::f32::consts::LN_2 / 65536.0;

/// Log-softmax of one row of decoder accumulators into natural-log probabilities.
/// `logits` is scratch of the row's length.
pub fn log_softmax(acc: &[i32], rq: &Requant, exp2: &[u32], log2: &[u32], logits: &mut [i32], out: &mut [f32]) {
    let mut mx = i32::MIN;
    for (n, (&a, l)) in acc.iter().zip(logits.iter_mut()).enumerate() {
        *l = requant(a, rq.m[n], rq.b[n], rq.shift).clamp(-RESIDUAL_MAX, RESIDUAL_MAX) as i32;
        mx = mx.max(*l);
    }
    let step = LOGIT_BITS - EXP_BITS;
    let mut sum = 0u64;
    for &l in logits.iter() {
        sum += exp2_neg(rshift(mx as i64 - l as i64, step), exp2);
    }
    let lse = log2_fixed(sum, log2);
    for (&l, o) in logits.iter().zip(out.iter_mut()) {
        let lp = (l as i64 - mx as i64 - lse).max(LP_MIN);
        *o = lp as f32 * LP_TO_NATS;
    }
}

/// `log2(sum / 2^30)` in units of 2^-LOGIT_BITS for `sum ≥ 2^30`: the exponent, plus the
/// table value at the next LOG_BITS bits of the mantissa (rounded).
pub(crate) fn log2_fixed(sum: u64, table: &[u32]) -> i64 {
    let b = bit_len(sum).max(31) - 1;
    let frac = (sum - (1u64 << b)) as i64;
    let idx = rshift(frac, b - LOG_BITS) as usize;
    ((b as i64 - 30) << LOGIT_BITS) + table[idx] as i64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rshift_rounds_half_up() {
        assert_eq!(rshift(5, 1), 3);
        assert_eq!(rshift(-5, 1), -2);
        assert_eq!(rshift(-6, 2), -1);
        assert_eq!(rshift(7, 0), 7);
    }

    #[test]
    fn log2_fixed_matches_float() {
        let t = super::super::quantize::log2_table();
        for s in [1u64 << 30, 3 << 29, (1 << 40) + 12345, 8000 << 30] {
            let want = ((s as f64) / (1u64 << 30) as f64).log2() * 65536.0;
            let got = log2_fixed(s, &t) as f64;
            assert!((got - want).abs() < 12.0, "{s}: {got} vs {want}");
        }
    }
}
