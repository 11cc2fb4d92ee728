//! AVX2 kernel: activations widened to i16, weights as i16 pairs in panels of 8 outputs
//! (`[panel][k/2][8][2]`); `vpmaddwd` multiplies a broadcast pair of one row's activations with
//! a panel's pairs and sums each product pair into i32 lanes, which accumulate with `vpaddd`.
//! A micro-tile is up to 6 rows × 2 panels (12 accumulators).

#![cfg(target_arch = "x86_64")]

use std::arch::x86_64::*;

use super::{widen, ActRows};

const MR: usize = 6;

pub fn gemm(w: &[i16], a: ActRows, m: usize, n: usize, k: usize, out: &mut [i32]) {
    let groups = k.div_ceil(2);
    let kp = groups * 2;
    let a16 = widen(a, m, k, kp);
    let panels = n.div_ceil(8).next_multiple_of(2);
    assert!(w.len() >= panels * groups * 16);
    // SAFETY: the caller checked that the CPU has AVX2 (Isa::available); every index is
    // within the buffers sized above.
    unsafe { run(w, &a16, m, n, groups, out) }
}

#[target_feature(enable = "avx2")]
unsafe fn run(w: &[i16], a: &[i16], m: usize, n: usize, groups: usize, out: &mut [i32]) {
    let panels = n.div_ceil(8);
    for p in (0..panels).step_by(2) {
        let mut r = 0;
        while r < m {
            let rows = (m - r).min(MR);
            match rows {
                6 => tile::<6>(w, a, r, p, groups, n, out),
                5 => tile::<5>(w, a, r, p, groups, n, out),
                4 => tile::<4>(w, a, r, p, groups, n, out),
                3 => tile::<3>(w, a, r, p, groups, n, out),
                2 => tile::<2>(w, a, r, p, groups, n, out),
                _ => tile::<1>(w, a, r, p, groups, n, out),
            }
            r += rows;
        }
    }
}

#[target_feature(enable = "avx2")]
#[inline]
unsafe fn tile<const R: usize>(w: &[i16], a: &[i16], r0: usize, p: usize, groups: usize, n: usize, out: &mut [i32]) {
    let kp = groups * 2;
    let mut acc = [[_mm256_setzero_si256(); 2]; R];
    let w0 = w.as_ptr().add(p * groups * 16);
    let w1 = w.as_ptr().add((p + 1) * groups * 16);
    let ap = a.as_ptr().add(r0 * kp);
    for g in 0..groups {
        let b0 = _mm256_loadu_si256(w0.add(g * 16) as *const __m256i);
        let b1 = _mm256_loadu_si256(w1.add(g * 16) as *const __m256i);
        for (i, acc) in acc.iter_mut().enumerate() {
            let x = _mm256_set1_epi32((ap.add(i * kp + 2 * g) as *const i32).read_unaligned());
            acc[0] = _mm256_add_epi32(acc[0], _mm256_madd_epi16(x, b0));
            acc[1] = _mm256_add_epi32(acc[1], _mm256_madd_epi16(x, b1));
        }
    }
    let c0 = p * 8;
    let cols = (n - c0).min(16);
    for (i, acc) in acc.iter().enumerate() {
        let mut t = [0i32; 16];
        _mm256_storeu_si256(t.as_mut_ptr() as *mut __m256i, acc[0]);
        _mm256_storeu_si256(t.as_mut_ptr().add(8) as *mut __m256i, acc[1]);
        let o = (r0 + i) * n + c0;
        out[o..o + cols].copy_from_slice(&t[..cols]);
    }
}
