//! The mixer's dot products: the inputs against each of several weight rows (one per weight
//! set chosen for the decision). Part of the format: each row's sum adds its terms
//! `w[i] · x[i]` in input order from 0, a product then a sum per term (never fused), so
//! every row's sum has the bits of the plain loop whatever the vector width.

/// Most rows [`dots`] takes.
pub const MAX_ROWS: usize = 8;

/// The dot products of `x` with each of `rows` (over the shortest of them all), side by side:
/// each sum adds its terms in input order from 0, the sums of different rows do not wait on
/// each other. With AVX2 the rows' sums are the lanes of one vector (eight inputs of each
/// row loaded and turned into eight vectors of one input each); the same operations on the
/// same values, so the same bits.
#[inline]
pub fn dots<const K: usize>(rows: &[&[f32]; K], x: &[f32]) -> [f32; K] {
    const { assert!(K <= MAX_ROWS) };
    let n = rows.iter().fold(x.len(), |n, r| n.min(r.len()));
    let rows: [&[f32]; K] = std::array::from_fn(|j| &rows[j][..n]);
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx2") {
        // SAFETY: the CPU has AVX2 (checked just above)
        return unsafe { dots_avx2(&rows, &x[..n]) };
    }
    let mut s = [0.0f32; K];
    dots_from(&rows, x, 0, &mut s);
    s
}

/// Adds the terms from input `from` on to the running sums `s` (the plain loop).
#[inline(always)]
fn dots_from<const K: usize>(rows: &[&[f32]; K], x: &[f32], from: usize, s: &mut [f32; K]) {
    for i in from..rows.first().map_or(0, |r| r.len()) {
        for j in 0..K {
            s[j] += rows[j][i] * x[i];
        }
    }
}

/// [`dots`] with AVX2 for rows all `x.len()` long. Eight inputs at a time: each row's eight
/// weights are loaded as a vector, the 8 × 8 block is transposed so that vector `m` holds
/// input `m`'s weight of every row, and the sums (one lane per row) take a product and a sum
/// per input, in input order. The inputs after the last whole block go the plain way.
///
/// # Safety
/// The CPU must have AVX2, and every row must be `x.len()` long.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn dots_avx2<const K: usize>(rows: &[&[f32]; K], x: &[f32]) -> [f32; K] {
    use std::arch::x86_64::*;
    let n = x.len();
    let whole = n / 8 * 8;
    let mut acc = _mm256_setzero_ps();
    let mut i = 0;
    while i < whole {
        // rows past K read as zeros; their lanes are never read back
        let mut r = [_mm256_setzero_ps(); 8];
        for j in 0..K {
            r[j] = _mm256_loadu_ps(rows[j][i..i + 8].as_ptr());
        }
        let t = transpose8(r);
        for (m, tm) in t.iter().enumerate() {
            acc = _mm256_add_ps(acc, _mm256_mul_ps(*tm, _mm256_set1_ps(x[i + m])));
        }
        i += 8;
    }
    let mut lanes = [0.0f32; 8];
    _mm256_storeu_ps(lanes.as_mut_ptr(), acc);
    let mut s: [f32; K] = std::array::from_fn(|j| lanes[j]);
    dots_from(rows, x, whole, &mut s);
    s
}

/// The 8 × 8 transpose: lane `j` of output `m` is lane `m` of input `j`.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
#[inline]
unsafe fn transpose8(r: [std::arch::x86_64::__m256; 8]) -> [std::arch::x86_64::__m256; 8] {
    use std::arch::x86_64::*;
    // pairs of rows interleaved, then quads, then the 128-bit halves exchanged
    let a0 = _mm256_unpacklo_ps(r[0], r[1]);
    let a1 = _mm256_unpackhi_ps(r[0], r[1]);
    let a2 = _mm256_unpacklo_ps(r[2], r[3]);
    let a3 = _mm256_unpackhi_ps(r[2], r[3]);
    let a4 = _mm256_unpacklo_ps(r[4], r[5]);
    let a5 = _mm256_unpackhi_ps(r[4], r[5]);
    let a6 = _mm256_unpacklo_ps(r[6], r[7]);
    let a7 = _mm256_unpackhi_ps(r[6], r[7]);
    let b0 = _mm256_shuffle_ps::<0x44>(a0, a2);
    let b1 = _mm256_shuffle_ps::<0xEE>(a0, a2);
    let b2 = _mm256_shuffle_ps::<0x44>(a1, a3);
    let b3 = _mm256_shuffle_ps::<0xEE>(a1, a3);
    let b4 = _mm256_shuffle_ps::<0x44>(a4, a6);
    let b5 = _mm256_shuffle_ps::<0xEE>(a4, a6);
    let b6 = _mm256_shuffle_ps::<0x44>(a5, a7);
    let b7 = _mm256_shuffle_ps::<0xEE>(a5, a7);
    [
        _mm256_permute2f128_ps::<0x20>(b0, b4),
        _mm256_permute2f128_ps::<0x20>(b1, b5),
        _mm256_permute2f128_ps::<0x20>(b2, b6),
        _mm256_permute2f128_ps::<0x20>(b3, b7),
        _mm256_permute2f128_ps::<0x31>(b0, b4),
        _mm256_permute2f128_ps::<0x31>(b1, b5),
        _mm256_permute2f128_ps::<0x31>(b2, b6),
        _mm256_permute2f128_ps::<0x31>(b3, b7),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{Rng, SeedableRng};

    /// The plain loop, one row after another.
    fn plain(rows: &[&[f32]], x: &[f32]) -> Vec<f32> {
        rows.iter()
            .map(|r| {
                let mut s = 0.0f32;
                for (a, b) in r.iter().zip(x) {
                    s += a * b;
                }
                s
            })
            .collect()
    }

    fn check<const K: usize>(rng: &mut impl Rng, n: usize) {
        let odd = [0.0, -0.0, 1e-40, -3e-39, f32::MAX, f32::INFINITY, f32::NAN, 1e30, -1e-30];
        let draw = |rng: &mut dyn rand::RngCore| {
            if rng.random_range(0..16) == 0 {
                odd[rng.random_range(0..odd.len())]
            } else {
                rng.random_range(-12.0f32..12.0) * 10f32.powi(rng.random_range(-3..3))
            }
        };
        let w: Vec<Vec<f32>> = (0..K).map(|_| (0..n + 3).map(|_| draw(rng)).collect()).collect();
        let x: Vec<f32> = (0..n).map(|_| draw(rng)).collect();
        let rows: [&[f32]; K] = std::array::from_fn(|j| &w[j][..]);
        let want: Vec<u32> = plain(&rows, &x).iter().map(|s| s.to_bits()).collect();
        let got: Vec<u32> = dots(&rows, &x).iter().map(|s| s.to_bits()).collect();
        // NaN's payload may differ; a NaN must stay a NaN
        for (g, w) in got.iter().zip(&want) {
            let (gf, wf) = (f32::from_bits(*g), f32::from_bits(*w));
            assert!(g == w || (gf.is_nan() && wf.is_nan()), "K={K} n={n}: {gf} vs {wf}");
        }
    }

    /// The vector sums have the plain loop's bits: every row count the mixer uses, lengths
    /// around the block size, random weights and inputs with zeros, subnormals and
    /// non-finite values among them.
    #[test]
    fn vector_dots_are_the_plain_loop() {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(17);
        for n in [0, 1, 7, 8, 9, 16, 41, 47, 63, 64] {
            for _ in 0..200 {
                check::<1>(&mut rng, n);
                check::<4>(&mut rng, n);
                check::<5>(&mut rng, n);
                check::<6>(&mut rng, n);
                check::<8>(&mut rng, n);
            }
        }
    }
}
