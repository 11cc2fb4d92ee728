//! Vectorised forms of the per-element integer steps that follow every product: requantisation
//! (64-bit products, rounding shift, clamp) and the final log-distribution (`ops::log_softmax`,
//! which touches every vocabulary entry of every predicted token). The same integers in every
//! lane as the scalar definitions in `ops.rs` (docs/FORMAT.md); tests compare them bit for bit.

use std::mem::MaybeUninit;

use super::gemm::Isa;
use super::ops::{self, ActInt, RESIDUAL_MAX};
use super::params::{Gelu, Requant, MAX_INTER_I8, MAX_WIDTH};

/// A row of accumulators requantised into an activation type.
pub fn requant_act<T: ActInt>(isa: Isa, acc: &[i32], rq: &Requant, out: &mut [T]) {
    with_scratch(acc.len(), |t| {
        requant_clamp(isa, acc, rq, T::LIMIT, t);
        for (o, &v) in out.iter_mut().zip(t.iter()) {
            *o = T::from_i64(v as i64);
        }
    })
}

/// Runs `f` on a zeroed scratch row of `n` entries, on the stack (no allocation per row): a
/// `MAX_WIDTH` row for every row but the feed-forward's inner one of wide models, which gets a
/// `MAX_INTER_I8` row (the loader's bound); anything wider, which no loaded model has, the
/// heap. Only where the row lives differs; the integers written are the same.
fn with_scratch<R>(n: usize, f: impl FnOnce(&mut [i32]) -> R) -> R {
    if n <= MAX_WIDTH {
        let mut t = [0i32; MAX_WIDTH];
        f(&mut t[..n])
    } else if n <= MAX_INTER_I8 {
        let mut t = [0i32; MAX_INTER_I8];
        f(&mut t[..n])
    } else {
        f(&mut vec![0i32; n])
    }
}

/// A row of accumulators requantised and added to the residual stream (clamped to ±2^30).
pub fn requant_add(isa: Isa, acc: &[i32], rq: &Requant, x: &mut [i32]) {
    with_scratch(acc.len(), |t| {
        requant_clamp(isa, acc, rq, RESIDUAL_MAX, t);
        for (xv, &y) in x.iter_mut().zip(t.iter()) {
            *xv = (*xv as i64 + y as i64).clamp(-RESIDUAL_MAX, RESIDUAL_MAX) as i32;
        }
    })
}

/// A row of accumulators requantised (clamped to ±2^30) and through the GELU table.
pub fn requant_gelu<T: ActInt>(isa: Isa, acc: &[i32], rq: &Requant, g: &Gelu, out: &mut [T]) {
    with_scratch(acc.len(), |t| {
        requant_clamp(isa, acc, rq, RESIDUAL_MAX, t);
        let lim = T::LIMIT;
        for (o, &u) in out.iter_mut().zip(t.iter()) {
            *o = T::from_i64(ops::gelu(u as i64, g).clamp(-lim, lim));
        }
    })
}

/// `clamp(requant(acc[j], m[j], b[j], shift), lim)` for every j, on `isa`'s instructions
/// (`lim` ≤ 2^30).
pub fn requant_clamp(isa: Isa, acc: &[i32], rq: &Requant, lim: i64, out: &mut [i32]) {
    let n = acc.len();
    assert!(rq.m.len() >= n && rq.b.len() >= n && out.len() >= n && (0..=1 << 30).contains(&lim));
    let done = match isa {
        #[cfg(target_arch = "x86_64")]
        // SAFETY: `isa` is only an instruction set the CPU has; accesses are within the
        // lengths asserted above.
        Isa::Avx512Vnni => unsafe { x86::requant512(acc, rq, lim, out) },
        #[cfg(target_arch = "x86_64")]
        // SAFETY: as above.
        Isa::Avx2 => unsafe { x86::requant256(acc, rq, lim, out) },
        _ => 0,
    };
    for j in done..n {
        out[j] = ops::requant(acc[j], rq.m[j], rq.b[j], rq.shift).clamp(-lim, lim) as i32;
    }
}

/// Natural-log probabilities of one row of decoder accumulators, on `isa`'s instructions.
pub fn log_softmax(
    isa: Isa,
    acc: &[i32],
    rq: &Requant,
    exp2: &[u32],
    log2: &[u32],
    logits: &mut [i32],
    out: &mut [MaybeUninit<f32>],
) {
    let n = acc.len();
    assert!(rq.m.len() >= n && rq.b.len() >= n && logits.len() >= n && out.len() >= n && exp2.len() == 1024);
    match isa {
        #[cfg(target_arch = "x86_64")]
        // SAFETY: `isa` is only ever an instruction set the CPU has (Isa::available); every
        // access is within the lengths asserted above.
        Isa::Avx512Vnni => unsafe { x86::avx512(acc, rq, exp2, log2, logits, out) },
        #[cfg(target_arch = "x86_64")]
        // SAFETY: as above.
        Isa::Avx2 => unsafe { x86::avx2(acc, rq, exp2, log2, logits, out) },
        _ => ops::log_softmax(acc, rq, exp2, log2, logits, out),
    }
}

#[cfg(target_arch = "x86_64")]
mod x86 {
    use std::arch::x86_64::*;
    use std::mem::MaybeUninit;

    use super::super::ops::{self, LP_MIN, LP_TO_NATS, RESIDUAL_MAX};
    use super::super::params::{Requant, EXP_BITS};

    const STEP: i32 = (ops::LOGIT_BITS - EXP_BITS) as i32;

    /// The first `n - n % 8` values of `requant_clamp`; returns how many it wrote.
    #[target_feature(enable = "avx512f,avx512bw,avx512vnni")]
    pub unsafe fn requant512(acc: &[i32], rq: &Requant, lim: i64, out: &mut [i32]) -> usize {
        let body = acc.len() - acc.len() % 8;
        let sh = _mm_cvtsi32_si128(rq.shift as i32);
        let round = _mm512_set1_epi64(if rq.shift == 0 { 0 } else { 1i64 << (rq.shift - 1) });
        let (lo, hi) = (_mm512_set1_epi64(-lim), _mm512_set1_epi64(lim));
        for i in (0..body).step_by(8) {
            let a = _mm512_cvtepi32_epi64(_mm256_loadu_si256(acc.as_ptr().add(i) as *const _));
            let m = _mm512_cvtepi32_epi64(_mm256_loadu_si256(rq.m.as_ptr().add(i) as *const _));
            let b = _mm512_loadu_si512(rq.b.as_ptr().add(i) as *const _);
            let y = _mm512_sra_epi64(_mm512_add_epi64(_mm512_add_epi64(_mm512_mul_epi32(a, m), b), round), sh);
            let l = _mm512_cvtepi64_epi32(_mm512_min_epi64(_mm512_max_epi64(y, lo), hi));
            _mm256_storeu_si256(out.as_mut_ptr().add(i) as *mut _, l);
        }
        body
    }

    #[target_feature(enable = "avx512f,avx512bw,avx512vnni")]
    pub unsafe fn avx512(
        acc: &[i32],
        rq: &Requant,
        exp2: &[u32],
        log2: &[u32],
        logits: &mut [i32],
        out: &mut [MaybeUninit<f32>],
    ) {
        let n = acc.len();
        let body = requant512(acc, rq, RESIDUAL_MAX, logits);
        for i in body..n {
            logits[i] = ops::requant(acc[i], rq.m[i], rq.b[i], rq.shift).clamp(-RESIDUAL_MAX, RESIDUAL_MAX) as i32;
        }
        let mx = logits[..n].iter().copied().max().unwrap_or(i32::MIN);
        let body = n - n % 16;
        let vmx = _mm512_set1_epi32(mx);
        let half = _mm512_set1_epi32(1 << (STEP - 1));
        let mask = _mm512_set1_epi32((1 << EXP_BITS) - 1);
        let mut s0 = _mm512_setzero_si512();
        let mut s1 = _mm512_setzero_si512();
        for i in (0..body).step_by(16) {
            let l = _mm512_loadu_si512(logits.as_ptr().add(i) as *const _);
            // mx - l ≤ 2^31 fits u32; the rounding add stays below 2^32
            let f = _mm512_srli_epi32(_mm512_add_epi32(_mm512_sub_epi32(vmx, l), half), STEP as u32);
            let e = _mm512_i32gather_epi32(_mm512_and_si512(f, mask), exp2.as_ptr() as *const i32, 4);
            let e = _mm512_srlv_epi32(e, _mm512_srli_epi32(f, EXP_BITS));
            s0 = _mm512_add_epi64(s0, _mm512_cvtepu32_epi64(_mm512_castsi512_si256(e)));
            s1 = _mm512_add_epi64(s1, _mm512_cvtepu32_epi64(_mm512_extracti64x4_epi64(e, 1)));
        }
        let mut sum = _mm512_reduce_add_epi64(_mm512_add_epi64(s0, s1)) as u64;
        for &l in &logits[body..n] {
            sum += ops::exp2_neg(ops::rshift(mx as i64 - l as i64, STEP as u32), exp2);
        }
        let c = mx as i64 + ops::log2_fixed(sum, log2);
        // max(l - c, LP_MIN) as l' - c with l' = max(l, c + LP_MIN): no i32 overflow
        let (vc, vfloor) = (_mm512_set1_epi32(c as i32), _mm512_set1_epi32((c + LP_MIN) as i32));
        let k = _mm512_set1_ps(LP_TO_NATS);
        for i in (0..body).step_by(16) {
            let l = _mm512_loadu_si512(logits.as_ptr().add(i) as *const _);
            let d = _mm512_sub_epi32(_mm512_max_epi32(l, vfloor), vc);
            _mm512_storeu_ps(out.as_mut_ptr().add(i) as *mut f32, _mm512_mul_ps(_mm512_cvtepi32_ps(d), k));
        }
        for i in body..n {
            out[i].write((logits[i] as i64 - c).max(LP_MIN) as f32 * LP_TO_NATS);
        }
    }

    /// Arithmetic right shift of i64 lanes (AVX2 has only the logical one): bias by 2^63,
    /// shift, unbias.
    #[target_feature(enable = "avx2")]
    #[inline]
    unsafe fn sra64(x: __m256i, sh: __m128i, bias: __m256i, bias_sh: __m256i) -> __m256i {
        _mm256_sub_epi64(_mm256_srl_epi64(_mm256_xor_si256(x, bias), sh), bias_sh)
    }

    /// The first `n - n % 4` values of `requant_clamp`; returns how many it wrote.
    #[target_feature(enable = "avx2")]
    pub unsafe fn requant256(acc: &[i32], rq: &Requant, lim: i64, out: &mut [i32]) -> usize {
        let body = acc.len() - acc.len() % 4;
        let s = rq.shift;
        let sh = _mm_cvtsi32_si128(s as i32);
        let round = _mm256_set1_epi64x(if s == 0 { 0 } else { 1i64 << (s - 1) });
        let bias = _mm256_set1_epi64x(i64::MIN);
        let bias_sh = _mm256_set1_epi64x(((1u64 << 63) >> s) as i64);
        let (lo, hi) = (_mm256_set1_epi64x(-lim), _mm256_set1_epi64x(lim));
        let even = _mm256_setr_epi32(0, 2, 4, 6, 0, 0, 0, 0);
        for i in (0..body).step_by(4) {
            let a = _mm256_cvtepi32_epi64(_mm_loadu_si128(acc.as_ptr().add(i) as *const _));
            let m = _mm256_cvtepi32_epi64(_mm_loadu_si128(rq.m.as_ptr().add(i) as *const _));
            let b = _mm256_loadu_si256(rq.b.as_ptr().add(i) as *const _);
            let y = sra64(_mm256_add_epi64(_mm256_add_epi64(_mm256_mul_epi32(a, m), b), round), sh, bias, bias_sh);
            let y = _mm256_blendv_epi8(y, lo, _mm256_cmpgt_epi64(lo, y));
            let y = _mm256_blendv_epi8(y, hi, _mm256_cmpgt_epi64(y, hi));
            let l = _mm256_castsi256_si128(_mm256_permutevar8x32_epi32(y, even));
            _mm_storeu_si128(out.as_mut_ptr().add(i) as *mut _, l);
        }
        body
    }

    #[target_feature(enable = "avx2")]
    pub unsafe fn avx2(
        acc: &[i32],
        rq: &Requant,
        exp2: &[u32],
        log2: &[u32],
        logits: &mut [i32],
        out: &mut [MaybeUninit<f32>],
    ) {
        let n = acc.len();
        let body = requant256(acc, rq, RESIDUAL_MAX, logits);
        for i in body..n {
            logits[i] = ops::requant(acc[i], rq.m[i], rq.b[i], rq.shift).clamp(-RESIDUAL_MAX, RESIDUAL_MAX) as i32;
        }
        let mx = logits[..n].iter().copied().max().unwrap_or(i32::MIN);
        let body = n - n % 8;
        let vmx = _mm256_set1_epi32(mx);
        let half = _mm256_set1_epi32(1 << (STEP - 1));
        let mask = _mm256_set1_epi32((1 << EXP_BITS) - 1);
        let (mut s0, mut s1) = (_mm256_setzero_si256(), _mm256_setzero_si256());
        for i in (0..body).step_by(8) {
            let l = _mm256_loadu_si256(logits.as_ptr().add(i) as *const _);
            let f = _mm256_srli_epi32(_mm256_add_epi32(_mm256_sub_epi32(vmx, l), half), STEP);
            let e = _mm256_i32gather_epi32(exp2.as_ptr() as *const i32, _mm256_and_si256(f, mask), 4);
            let e = _mm256_srlv_epi32(e, _mm256_srli_epi32(f, EXP_BITS as i32));
            s0 = _mm256_add_epi64(s0, _mm256_cvtepu32_epi64(_mm256_castsi256_si128(e)));
            s1 = _mm256_add_epi64(s1, _mm256_cvtepu32_epi64(_mm256_extracti128_si256(e, 1)));
        }
        let mut q = [0u64; 4];
        _mm256_storeu_si256(q.as_mut_ptr() as *mut _, _mm256_add_epi64(s0, s1));
        let mut sum: u64 = q.iter().sum();
        for &l in &logits[body..n] {
            sum += ops::exp2_neg(ops::rshift(mx as i64 - l as i64, STEP as u32), exp2);
        }
        let c = mx as i64 + ops::log2_fixed(sum, log2);
        let (vc, vfloor) = (_mm256_set1_epi32(c as i32), _mm256_set1_epi32((c + LP_MIN) as i32));
        let k = _mm256_set1_ps(LP_TO_NATS);
        for i in (0..body).step_by(8) {
            let l = _mm256_loadu_si256(logits.as_ptr().add(i) as *const _);
            let d = _mm256_sub_epi32(_mm256_max_epi32(l, vfloor), vc);
            _mm256_storeu_ps(out.as_mut_ptr().add(i) as *mut f32, _mm256_mul_ps(_mm256_cvtepi32_ps(d), k));
        }
        for i in body..n {
            out[i].write((logits[i] as i64 - c).max(LP_MIN) as f32 * LP_TO_NATS);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::int8::quantize::{exp2_table, log2_table};
    use rand::{Rng, SeedableRng};

    fn uninit(s: &mut [f32]) -> &mut [MaybeUninit<f32>] {
        // SAFETY: MaybeUninit<f32> has f32's layout, and only initialised values are written
        unsafe { &mut *(s as *mut [f32] as *mut [MaybeUninit<f32>]) }
    }

    #[test]
    fn simd_requant_equals_scalar() {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(3);
        for n in [1usize, 5, 8, 13, 100, 515] {
            for shift in [0u32, 7, 31, 62] {
                for lim in [127i64, 16383, 1 << 30] {
                    let acc: Vec<i32> = (0..n).map(|_| rng.random()).collect();
                    let rq = Requant {
                        m: (0..n).map(|_| rng.random_range(0..1 << 30)).collect(),
                        b: (0..n)
                            .map(|_| rng.random_range(-(1i64 << 61)..=1 << 61) >> rng.random_range(0..62))
                            .collect(),
                        shift,
                    };
                    let mut want = vec![0; n];
                    requant_clamp(Isa::Scalar, &acc, &rq, lim, &mut want);
                    for isa in Isa::ALL.into_iter().filter(|i| i.available()) {
                        let mut got = vec![0; n];
                        requant_clamp(isa, &acc, &rq, lim, &mut got);
                        assert_eq!(got, want, "{isa:?} n {n} shift {shift} lim {lim}");
                    }
                }
            }
        }
    }

    /// Each vectorised version writes the scalar definition's bits, also at the clamps.
    #[test]
    fn simd_log_softmax_equals_scalar() {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(9);
        let (e, l) = (exp2_table(), log2_table());
        for &(n, spread) in &[(1usize, 1i32), (7, 1000), (37, 1 << 20), (8000, 1 << 28), (1003, i32::MAX)] {
            for shift in [0u32, 1, 20, 40, 62] {
                let acc: Vec<i32> = (0..n).map(|_| rng.random_range(-spread..=spread.saturating_sub(0))).collect();
                let rq = Requant {
                    m: (0..n).map(|_| rng.random_range(0..1 << 30)).collect(),
                    b: (0..n).map(|_| rng.random_range(-(1i64 << 61)..=1 << 61) >> rng.random_range(0..62)).collect(),
                    shift,
                };
                let mut want = vec![0f32; n];
                ops::log_softmax(&acc, &rq, &e, &l, &mut vec![0; n], uninit(&mut want));
                for isa in Isa::ALL.into_iter().filter(|i| i.available()) {
                    let mut got = vec![0f32; n];
                    log_softmax(isa, &acc, &rq, &e, &l, &mut vec![0; n], uninit(&mut got));
                    let bad = got.iter().zip(&want).position(|(a, b)| a.to_bits() != b.to_bits());
                    assert!(
                        bad.is_none(),
                        "{isa:?} n {n} spread {spread} shift {shift}: {:?}",
                        bad.map(|i| (i, got[i], want[i]))
                    );
                }
            }
        }
    }
}
