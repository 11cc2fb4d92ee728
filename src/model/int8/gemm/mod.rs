//! Integer matrix products `out[i][j] = Σ_t a[i][t] · w[j][t]` with int8 weights, int8 or int16
//! activations and i32 accumulators, on three instruction sets. Sums of integers do not depend
//! on their order (additions wrap, and the bounds `params` checks keep them exact anyway), so
//! every kernel returns the same bits; only speed differs. Each call is single-threaded: the
//! engine parallelises over rows and heads around it.

mod avx2;
mod avx512;

use super::ops::ActInt;

/// A kernel family. [`Isa::best`] picks the fastest this CPU has.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Isa {
    /// portable Rust, one product at a time
    Scalar,
    /// x86-64 AVX2: 16-bit pairs, `vpmaddwd`
    Avx2,
    /// x86-64 AVX-512 VNNI: `vpdpbusd` (int8) and `vpdpwssd` (int16)
    Avx512Vnni,
}

impl Isa {
    pub const ALL: [Isa; 3] = [Isa::Scalar, Isa::Avx2, Isa::Avx512Vnni];

    pub fn name(self) -> &'static str {
        match self {
            Isa::Scalar => "scalar",
            Isa::Avx2 => "avx2",
            Isa::Avx512Vnni => "avx512vnni",
        }
    }

    pub fn parse(s: &str) -> Option<Isa> {
        Isa::ALL.into_iter().find(|i| i.name() == s)
    }

    /// Whether this CPU runs the kernel.
    pub fn available(self) -> bool {
        match self {
            Isa::Scalar => true,
            #[cfg(target_arch = "x86_64")]
            Isa::Avx2 => is_x86_feature_detected!("avx2"),
            #[cfg(target_arch = "x86_64")]
            Isa::Avx512Vnni => {
                is_x86_feature_detected!("avx512f")
                    && is_x86_feature_detected!("avx512bw")
                    && is_x86_feature_detected!("avx512vnni")
            }
            #[cfg(not(target_arch = "x86_64"))]
            _ => false,
        }
    }

    /// The fastest available kernel; `LLMZIP_ISA=scalar|avx2|avx512vnni` asks for another
    /// (for measurement: results are the same).
    pub fn best() -> Isa {
        if let Some(i) = std::env::var("LLMZIP_ISA").ok().and_then(|s| Isa::parse(&s)) {
            if i.available() {
                return i;
            }
        }
        [Isa::Avx512Vnni, Isa::Avx2].into_iter().find(|i| i.available()).unwrap_or(Isa::Scalar)
    }
}

/// The activation operand: `m` rows of `k` values.
#[derive(Clone, Copy)]
pub enum ActRows<'a> {
    I8(&'a [i8]),
    I16(&'a [i16]),
}

/// Weights laid out for one kernel and one activation width.
pub struct Packed {
    pub n: usize,
    pub k: usize,
    isa: Isa,
    wide: bool,
    /// scalar: the rows as given; the SIMD kernels: see their modules
    bytes: Vec<i8>,
    pairs: Vec<i16>,
    /// Σ_t w[j][t] per output (the int8 VNNI kernel's correction for its +128 offset)
    colsum: Vec<i32>,
}

/// Columns per SIMD panel and panels per micro-tile.
const fn panel(isa: Isa) -> usize {
    match isa {
        Isa::Avx512Vnni => 16,
        _ => 8,
    }
}

impl Packed {
    /// Lays out `w` (`[n, k]` row-major) for `isa`; `wide`: the activations will be int16.
    pub fn new(isa: Isa, wide: bool, w: &[i8], n: usize, k: usize) -> Packed {
        assert_eq!(w.len(), n * k, "weights of the wrong size");
        let mut p = Packed { n, k, isa, wide, bytes: Vec::new(), pairs: Vec::new(), colsum: Vec::new() };
        match isa {
            Isa::Scalar => p.bytes = w.to_vec(),
            Isa::Avx512Vnni if !wide => {
                p.bytes = interleave(w, n, k, 16, 4);
                p.colsum = w.chunks_exact(k.max(1)).map(|r| r.iter().map(|&x| x as i32).sum()).collect();
                p.colsum.resize(n, 0);
            }
            _ => {
                p.pairs = interleave(w, n, k, panel(isa), 2).into_iter().map(|x| x as i16).collect();
            }
        }
        p
    }
}

/// Panels of `lanes` outputs; within a panel, groups of `depth` consecutive k, each group
/// `lanes × depth` values (output-major). Padding (outputs past n, k past the end) is zero.
/// Panels are padded to an even count (the kernels take two at a time).
fn interleave(w: &[i8], n: usize, k: usize, lanes: usize, depth: usize) -> Vec<i8> {
    let panels = n.div_ceil(lanes).next_multiple_of(2);
    let groups = k.div_ceil(depth);
    let mut out = vec![0i8; panels * groups * lanes * depth];
    for j in 0..n {
        let (p, lane) = (j / lanes, j % lanes);
        for t in 0..k {
            let (g, d) = (t / depth, t % depth);
            out[((p * groups + g) * lanes + lane) * depth + d] = w[j * k + t];
        }
    }
    out
}

/// `out[i·n + j] = Σ_t a[i·k + t] · w[j·k + t]` for `m = a.len() / k` rows.
pub fn gemm(p: &Packed, a: ActRows, out: &mut [i32]) {
    let (n, k) = (p.n, p.k);
    let m = match a {
        ActRows::I8(x) => x.len(),
        ActRows::I16(x) => x.len(),
    } / k.max(1);
    assert!(out.len() >= m * n, "output too small");
    if m == 0 || n == 0 {
        return;
    }
    if k == 0 {
        out[..m * n].fill(0);
        return;
    }
    match (p.isa, a) {
        (Isa::Scalar, ActRows::I8(x)) => scalar(&p.bytes, x, m, n, k, out),
        (Isa::Scalar, ActRows::I16(x)) => scalar(&p.bytes, x, m, n, k, out),
        #[cfg(target_arch = "x86_64")]
        (Isa::Avx2, a) => avx2::gemm(&p.pairs, a, m, n, k, out),
        #[cfg(target_arch = "x86_64")]
        (Isa::Avx512Vnni, ActRows::I8(x)) if !p.wide => avx512::gemm_u8(&p.bytes, &p.colsum, x, m, n, k, out),
        #[cfg(target_arch = "x86_64")]
        (Isa::Avx512Vnni, a) if p.wide => avx512::gemm_i16(&p.pairs, a, m, n, k, out),
        _ => panic!("weights packed for {:?} (wide {}) used with other activations", p.isa, p.wide),
    }
}

fn scalar<A: ActInt>(w: &[i8], a: &[A], m: usize, n: usize, k: usize, out: &mut [i32]) {
    for i in 0..m {
        let row = &a[i * k..(i + 1) * k];
        for j in 0..n {
            let col = &w[j * k..(j + 1) * k];
            let mut s = 0i32;
            for (x, &y) in row.iter().zip(col) {
                s = s.wrapping_add(x.to_i32() * y as i32);
            }
            out[i * n + j] = s;
        }
    }
}

/// Activation rows widened to i16 and padded with zeros to `kp` columns.
fn widen(a: ActRows, m: usize, k: usize, kp: usize) -> Vec<i16> {
    let mut v = vec![0i16; m * kp];
    for i in 0..m {
        let dst = &mut v[i * kp..i * kp + k];
        match a {
            ActRows::I8(x) => dst.iter_mut().zip(&x[i * k..(i + 1) * k]).for_each(|(d, &s)| *d = s as i16),
            ActRows::I16(x) => dst.copy_from_slice(&x[i * k..(i + 1) * k]),
        }
    }
    v
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{Rng, SeedableRng};

    /// Every available kernel equals the scalar one bit for bit, at awkward sizes and at the
    /// extremes of the ranges.
    #[test]
    fn kernels_agree_with_scalar() {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(5);
        for &(m, n, k) in
            &[(1, 1, 1), (3, 5, 7), (7, 17, 33), (13, 40, 64), (9, 33, 130), (2, 8000, 16), (21, 48, 1024)]
        {
            for extreme in [false, true] {
                let w: Vec<i8> = (0..n * k)
                    .map(
                        |_| if extreme { 127 * (1 - 2 * rng.random_range(0..2)) } else { rng.random_range(-127..=127) },
                    )
                    .collect();
                let a8: Vec<i8> =
                    (0..m * k).map(|_| if extreme { -127 } else { rng.random_range(-127..=127) }).collect();
                let a16: Vec<i16> =
                    (0..m * k).map(|_| if extreme { 16383 } else { rng.random_range(-16383..=16383) }).collect();
                for (wide, a) in [(false, ActRows::I8(&a8)), (true, ActRows::I16(&a16))] {
                    let mut want = vec![0; m * n];
                    gemm(&Packed::new(Isa::Scalar, wide, &w, n, k), a, &mut want);
                    for isa in Isa::ALL.into_iter().filter(|i| i.available()) {
                        let mut got = vec![0; m * n];
                        gemm(&Packed::new(isa, wide, &w, n, k), a, &mut got);
                        assert_eq!(got, want, "{isa:?} m{m} n{n} k{k} wide {wide}");
                    }
                }
            }
        }
    }
}
