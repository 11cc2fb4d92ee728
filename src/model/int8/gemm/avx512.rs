//! AVX-512 VNNI kernels, panels of 16 outputs, micro-tiles of up to 8 rows × 2 panels.
//! - int8 activations: `vpdpbusd` multiplies unsigned bytes by signed bytes in groups of
//!   four. Activations are offset by +128 (`a ^ 0x80`), weights laid out `[panel][k/4][16][4]`;
//!   the offset's contribution, 128 · Σ_t w[j][t], is subtracted at the end (exactly).
//! - int16 activations: `vpdpwssd` on i16 pairs, weights `[panel][k/2][16][2]`.

#![cfg(target_arch = "x86_64")]

use std::arch::x86_64::*;

use super::{widen, ActRows};

const MR: usize = 8;

pub fn gemm_u8(w: &[i8], colsum: &[i32], a: &[i8], m: usize, n: usize, k: usize, out: &mut [i32]) {
    let groups = k.div_ceil(4);
    let kp = groups * 4;
    let mut au = vec![0x80u8; m * kp];
    for i in 0..m {
        for (d, &s) in au[i * kp..i * kp + k].iter_mut().zip(&a[i * k..(i + 1) * k]) {
            *d = (s as u8) ^ 0x80;
        }
    }
    let panels = n.div_ceil(16).next_multiple_of(2);
    assert!(w.len() >= panels * groups * 64 && colsum.len() >= n);
    // SAFETY: the caller checked the CPU features (Isa::available); indices are in bounds.
    unsafe { run(Kind::U8(w, colsum), au.as_ptr(), kp, groups, m, n, out) }
}

pub fn gemm_i16(w: &[i16], a: ActRows, m: usize, n: usize, k: usize, out: &mut [i32]) {
    let groups = k.div_ceil(2);
    let kp = groups * 2;
    let a16 = widen(a, m, k, kp);
    let panels = n.div_ceil(16).next_multiple_of(2);
    assert!(w.len() >= panels * groups * 32);
    // SAFETY: as above.
    unsafe { run(Kind::I16(w), a16.as_ptr() as *const u8, kp * 2, groups, m, n, out) }
}

#[derive(Clone, Copy)]
enum Kind<'a> {
    U8(&'a [i8], &'a [i32]),
    I16(&'a [i16]),
}

/// `stride`: bytes per activation row; each group reads 4 bytes of a row.
#[target_feature(enable = "avx512f,avx512bw,avx512vnni")]
unsafe fn run(kind: Kind, a: *const u8, stride: usize, groups: usize, m: usize, n: usize, out: &mut [i32]) {
    let panels = n.div_ceil(16);
    for p in (0..panels).step_by(2) {
        let mut r = 0;
        while r < m {
            let rows = (m - r).min(MR);
            let a = a.add(r * stride);
            match rows {
                8 => tile::<8>(kind, a, stride, r, p, groups, n, out),
                7 => tile::<7>(kind, a, stride, r, p, groups, n, out),
                6 => tile::<6>(kind, a, stride, r, p, groups, n, out),
                5 => tile::<5>(kind, a, stride, r, p, groups, n, out),
                4 => tile::<4>(kind, a, stride, r, p, groups, n, out),
                3 => tile::<3>(kind, a, stride, r, p, groups, n, out),
                2 => tile::<2>(kind, a, stride, r, p, groups, n, out),
                _ => tile::<1>(kind, a, stride, r, p, groups, n, out),
            }
            r += rows;
        }
    }
}

#[target_feature(enable = "avx512f,avx512bw,avx512vnni")]
#[inline]
#[allow(clippy::too_many_arguments)]
unsafe fn tile<const R: usize>(
    kind: Kind,
    a: *const u8,
    stride: usize,
    r0: usize,
    p: usize,
    groups: usize,
    n: usize,
    out: &mut [i32],
) {
    let mut acc = [[_mm512_setzero_si512(); 2]; R];
    let (w0, w1) = match kind {
        Kind::U8(w, _) => {
            (w.as_ptr().add(p * groups * 64) as *const u8, w.as_ptr().add((p + 1) * groups * 64) as *const u8)
        }
        Kind::I16(w) => {
            (w.as_ptr().add(p * groups * 32) as *const u8, w.as_ptr().add((p + 1) * groups * 32) as *const u8)
        }
    };
    let u8s = matches!(kind, Kind::U8(..));
    for g in 0..groups {
        let b0 = _mm512_loadu_si512(w0.add(g * 64) as *const _);
        let b1 = _mm512_loadu_si512(w1.add(g * 64) as *const _);
        for (i, acc) in acc.iter_mut().enumerate() {
            let x = _mm512_set1_epi32((a.add(i * stride + 4 * g) as *const i32).read_unaligned());
            if u8s {
                acc[0] = _mm512_dpbusd_epi32(acc[0], x, b0);
                acc[1] = _mm512_dpbusd_epi32(acc[1], x, b1);
            } else {
                acc[0] = _mm512_dpwssd_epi32(acc[0], x, b0);
                acc[1] = _mm512_dpwssd_epi32(acc[1], x, b1);
            }
        }
    }
    let c0 = p * 16;
    let cols = (n - c0).min(32);
    for (i, acc) in acc.iter().enumerate() {
        let mut t = [0i32; 32];
        _mm512_storeu_si512(t.as_mut_ptr() as *mut _, acc[0]);
        _mm512_storeu_si512(t.as_mut_ptr().add(16) as *mut _, acc[1]);
        if let Kind::U8(_, colsum) = kind {
            for (c, v) in t[..cols].iter_mut().enumerate() {
                *v = v.wrapping_sub(colsum[c0 + c].wrapping_mul(128));
            }
        }
        let o = (r0 + i) * n + c0;
        out[o..o + cols].copy_from_slice(&t[..cols]);
    }
}
