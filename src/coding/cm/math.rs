//! The few transcendental functions the context mixer needs, written with +, −, ×, ÷ and bit
//! operations only, in a fixed order: IEEE single precision then gives the same bits on every
//! machine, which a platform `expf`/`logf` does not promise. They are part of the format.

const LN2_HI: f32 = 0.693_145_75;
const LN2_LO: f32 = 1.428_606_8e-6;
const LOG2E: f32 = std::f32::consts::LOG2_E;
/// Adding and subtracting 1.5 × 2^23 rounds an f32 of magnitude < 2^22 to an integer.
const ROUND: f32 = 12_582_912.0;

/// e^x, relative error below 3e-7, for x clamped to [−87, 88] (NaN counts as −87: e^−87 is
/// about 1.6e−38, as good as 0 here). Without branches, so loops over it vectorise.
#[inline(always)]
pub fn exp(x: f32) -> f32 {
    let x = x.max(-87.0).min(88.0);
    let k = (x * LOG2E + ROUND) - ROUND;
    let r = (x - k * LN2_HI) - k * LN2_LO;
    let p = 1.0 + r * (1.0 + r * (0.5 + r * (1.0 / 6.0 + r * (1.0 / 24.0 + r * (1.0 / 120.0 + r * (1.0 / 720.0))))));
    // 2^k: k + 127 lands in the low mantissa bits of 2^23 + k + 127, then moves to the exponent
    let two_k = f32::from_bits(((k + 8_388_735.0).to_bits() - 0x4B00_0000) << 23);
    p * two_k
}

/// Natural logarithm of x > 0 (x ≤ 0 or NaN gives −104, below any log of a positive f32).
#[inline]
pub fn ln(x: f32) -> f32 {
    if x.is_nan() || x <= 0.0 {
        return -104.0;
    }
    let bits = x.to_bits();
    let (e, m) = if bits < 0x0080_0000 {
        // subnormal: scale into the normal range first
        let b = (x * 8_388_608.0).to_bits();
        (((b >> 23) as i32) - 127 - 23, f32::from_bits((b & 0x007F_FFFF) | 0x3F80_0000))
    } else {
        (((bits >> 23) as i32) - 127, f32::from_bits((bits & 0x007F_FFFF) | 0x3F80_0000))
    };
    // m in [1, 2); move it to [0.75, 1.5) so the series converges fast
    let (e, m) = if m > 1.5 { (e + 1, m * 0.5) } else { (e, m) };
    let s = (m - 1.0) / (m + 1.0);
    let s2 = s * s;
    let series = 2.0 * s * (1.0 + s2 * (1.0 / 3.0 + s2 * (1.0 / 5.0 + s2 * (1.0 / 7.0 + s2 * (1.0 / 9.0)))));
    e as f32 * LN2_HI + (series + e as f32 * LN2_LO)
}

/// [`ln`] without branches (both ways computed, one kept), so that loops over it
/// vectorise: the same operations on the same values, so the same bits for every input.
#[inline(always)]
fn ln_select(x: f32) -> f32 {
    let bits = x.to_bits();
    let sub = bits < 0x0080_0000;
    let b = if sub { (x * 8_388_608.0).to_bits() } else { bits };
    let e = ((b >> 23) as i32) - 127 - if sub { 23 } else { 0 };
    let m = f32::from_bits((b & 0x007F_FFFF) | 0x3F80_0000);
    let big = m > 1.5;
    let (e, m) = (e + big as i32, if big { m * 0.5 } else { m });
    let s = (m - 1.0) / (m + 1.0);
    let s2 = s * s;
    let series = 2.0 * s * (1.0 + s2 * (1.0 / 3.0 + s2 * (1.0 / 5.0 + s2 * (1.0 / 7.0 + s2 * (1.0 / 9.0)))));
    let r = e as f32 * LN2_HI + (series + e as f32 * LN2_LO);
    if x.is_nan() || x <= 0.0 {
        -104.0
    } else {
        r
    }
}

/// Each of `p` replaced by its [`stretch`] (the same bits), several at a time with the
/// widest vectors this CPU has: a decision stretches a probability per context.
pub fn stretch_all<const N: usize>(p: &mut [f32; N]) {
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx2") {
        // SAFETY: the CPU has AVX2 (checked just above)
        return unsafe { stretch_all_avx2(p) };
    }
    stretch_loop(p);
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn stretch_all_avx2<const N: usize>(p: &mut [f32; N]) {
    stretch_loop(p);
}

#[inline(always)]
fn stretch_loop<const N: usize>(p: &mut [f32; N]) {
    for x in p.iter_mut() {
        *x = ln_select(*x) - ln_select(1.0 - *x);
    }
}

/// Each of `x` replaced by its [`squash`] (the same bits), several at a time with AVX2 where
/// the CPU has it: a decision squashes each weight set's output.
pub fn squash_all<const N: usize>(x: &mut [f32; N]) {
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx2") {
        // SAFETY: the CPU has AVX2 (checked just above)
        return unsafe { squash_all_avx2(x) };
    }
    squash_loop(x);
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn squash_all_avx2<const N: usize>(x: &mut [f32; N]) {
    squash_loop(x);
}

#[inline(always)]
fn squash_loop<const N: usize>(x: &mut [f32; N]) {
    for v in x.iter_mut() {
        *v = 1.0 / (1.0 + exp(-*v));
    }
}

/// ln(p / (1 − p)), the logistic domain the mixer works in.
#[inline]
pub fn stretch(p: f32) -> f32 {
    ln(p) - ln(1.0 - p)
}

/// 1 / (1 + e^−x), the inverse of [`stretch`].
#[inline]
pub fn squash(x: f32) -> f32 {
    1.0 / (1.0 + exp(-x))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The vector stretch gives the bits of the scalar one: edge cases (0, 1, subnormals,
    /// NaN, out of range) and a sweep over the bit patterns of [0, 1].
    #[test]
    fn stretch_all_is_stretch() {
        let mut xs: Vec<f32> = vec![0.0, -0.0, 1.0, 0.5, 1.5, -1.0, 2.0, f32::NAN, f32::INFINITY, f32::MIN_POSITIVE];
        xs.extend([1e-45f32, 1e-40, 3e-39, 1.0 - f32::EPSILON, 1.0 / 33_554_432.0, 0.999_999_94]);
        let mut b = 0u32;
        while b <= 1.0f32.to_bits() {
            xs.push(f32::from_bits(b));
            b += 997;
        }
        for chunk in xs.chunks(24) {
            let mut a = [0.25f32; 24];
            a[..chunk.len()].copy_from_slice(chunk);
            let want: Vec<u32> = a.iter().map(|&x| stretch(x).to_bits()).collect();
            // the plain loop (CPUs without AVX2) and the dispatched one
            let mut plain = a;
            stretch_loop(&mut plain);
            stretch_all(&mut a);
            for got in [a, plain] {
                let got: Vec<u32> = got.iter().map(|x| x.to_bits()).collect();
                assert_eq!(got, want, "{chunk:?}");
            }
        }
    }

    /// The vector squash gives the bits of the scalar one: edge cases and a sweep over
    /// the stretched domain and beyond.
    #[test]
    fn squash_all_is_squash() {
        let mut xs: Vec<f32> = vec![0.0, -0.0, f32::NAN, f32::INFINITY, f32::NEG_INFINITY, 1e-40, -1e-40, 87.5, -87.5];
        xs.extend([88.0, -88.0, 100.0, -100.0, 11.5, -11.5, f32::MAX, f32::MIN]);
        let mut x = -120.0f32;
        while x < 120.0 {
            xs.push(x);
            x += 0.003_7;
        }
        for chunk in xs.chunks(8) {
            let mut a = [0.25f32; 8];
            a[..chunk.len()].copy_from_slice(chunk);
            let want: Vec<u32> = a.iter().map(|&x| squash(x).to_bits()).collect();
            let mut plain = a;
            squash_loop(&mut plain);
            squash_all(&mut a);
            for got in [a, plain] {
                let got: Vec<u32> = got.iter().map(|x| x.to_bits()).collect();
                assert_eq!(got, want, "{chunk:?}");
            }
        }
    }

    #[test]
    fn close_to_the_platform_functions() {
        let mut x = -86.9f32;
        while x < 87.0 {
            let (a, b) = (exp(x), x.exp());
            assert!((a - b).abs() <= 3e-7 * b + 1e-38, "exp({x}) = {a}, want {b}");
            x += 0.0137;
        }
        for &y in &[1e-40f32, 1e-30, 1e-7, 0.01, 0.3, 0.5, 0.7, 0.99, 1.0, 1.4999, 1.5001, 7.0, 1e20] {
            let (a, b) = (ln(y), y.ln());
            assert!((a - b).abs() <= 2e-6 * b.abs().max(1.0), "ln({y}) = {a}, want {b}");
        }
        for x in [f32::NAN, -87.5, -1e30, f32::NEG_INFINITY] {
            assert!(exp(x) < 2e-38, "exp({x}) = {}", exp(x));
        }
        assert_eq!(ln(0.0), -104.0);
        for &p in &[0.001f32, 0.2, 0.5, 0.9, 0.9999] {
            assert!((squash(stretch(p)) - p).abs() < 1e-5);
        }
    }
}
