//! Attention of a few queries (the new rows of a cached causal call, the selected rows of a
//! last layer): the integer sums of [`Engine::attend`]'s products, exact in wrapping i32 and
//! so equal in any order, read in place. Packing each sequence's keys and values for the
//! products costs more than the products when each key and value serves one or two queries.
//! Compiled once per instruction set so that the loops vectorise; every version computes the
//! same integers.

use super::gemm::Isa;
use super::{ops, Engine};

/// Contexts (int8, `pos.len() × H`) of the query rows `q` at positions `pos` over the keys
/// and values `k`, `v` (`n × H`) of layer `li`.
pub(super) fn few(e: &Engine, li: usize, q: &[i8], pos: &[usize], k: &[i8], v: &[i8]) -> Vec<i8> {
    match e.isa {
        #[cfg(target_arch = "x86_64")]
        // SAFETY: an engine's instruction set is one this CPU has (Isa::available)
        Isa::Avx512Vnni => unsafe { few_avx512(e, li, q, pos, k, v) },
        #[cfg(target_arch = "x86_64")]
        // SAFETY: as above
        Isa::Avx2 => unsafe { few_avx2(e, li, q, pos, k, v) },
        _ => few_in(e, li, q, pos, k, v),
    }
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx512bw,avx512vnni")]
unsafe fn few_avx512(e: &Engine, li: usize, q: &[i8], pos: &[usize], k: &[i8], v: &[i8]) -> Vec<i8> {
    few_in(e, li, q, pos, k, v)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn few_avx2(e: &Engine, li: usize, q: &[i8], pos: &[usize], k: &[i8], v: &[i8]) -> Vec<i8> {
    few_in(e, li, q, pos, k, v)
}

#[inline(always)]
fn few_in(e: &Engine, li: usize, q: &[i8], pos: &[usize], k: &[i8], v: &[i8]) -> Vec<i8> {
    let (p, l) = (&e.p, &e.p.layers[li]);
    let h = p.hidden;
    let hd = h / p.heads;
    let n = k.len() / h;
    let mut z = vec![0i64; n];
    let mut probs = vec![0i16; n];
    let mut acc = vec![0i32; hd];
    let mut ctx = vec![0i8; pos.len() * h];
    for (i, &r) in pos.iter().enumerate() {
        let keys = if e.causal { r + 1 } else { n };
        for c0 in (0..h).step_by(hd) {
            let qh = &q[i * h + c0..i * h + c0 + hd];
            for (j, zj) in z[..keys].iter_mut().enumerate() {
                let kh = &k[j * h + c0..j * h + c0 + hd];
                let s = qh.iter().zip(kh).fold(0i32, |s, (&a, &b)| s.wrapping_add(i32::from(a) * i32::from(b)));
                *zj = ops::rshift(s as i64 * l.score_m, l.score_shift);
            }
            ops::softmax_q14(&z[..keys], &p.exp2, &mut probs[..keys]);
            acc.fill(0);
            for (j, &pj) in probs[..keys].iter().enumerate() {
                for (a, &x) in acc.iter_mut().zip(&v[j * h + c0..j * h + c0 + hd]) {
                    *a = a.wrapping_add(i32::from(pj) * i32::from(x));
                }
            }
            for (c, &a) in ctx[i * h + c0..i * h + c0 + hd].iter_mut().zip(&acc) {
                *c = ops::rshift(a as i64, 14).clamp(-127, 127) as i8;
            }
        }
    }
    ctx
}
