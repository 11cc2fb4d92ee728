//! The integer forward pass of a pre-LayerNorm RoBERTa encoder and its MLM head. Only the
//! real tokens of each sequence are computed (padding never influences them), rows of all
//! sequences side by side. Work is split over rows, sequences and row blocks with rayon; each
//! output value is computed by the same integer code whatever the split, so thread count
//! cannot change a bit.

use rayon::prelude::*;

use super::gemm::{gemm, ActRows, Isa, Packed};
use super::ops::{self, ActInt};
use super::params::{Act, IntParams, Norm};
use super::vector;
use super::Engine;
use crate::error::{Error, Result};

/// Rows per parallel task in the encoder and in the head.
const ENC_ROWS: usize = 32;
const HEAD_ROWS: usize = 8;
/// Most queries per sequence whose attention reads keys and values in place (`attend_few`).
const FEW_QUERIES: usize = 4;

/// An activation buffer of the type the next product reads.
enum Buf {
    I8(Vec<i8>),
    I16(Vec<i16>),
}

impl Buf {
    fn new(t: Act, len: usize) -> Buf {
        match t {
            Act::I16 => Buf::I16(vec![0; len]),
            _ => Buf::I8(vec![0; len]),
        }
    }
    fn rows(&self) -> ActRows<'_> {
        match self {
            Buf::I8(v) => ActRows::I8(v),
            Buf::I16(v) => ActRows::I16(v),
        }
    }
    fn norm_rows(&mut self, x: &[i32], h: usize, n: &Norm) {
        match self {
            Buf::I8(v) => norm_rows(x, h, n, v),
            Buf::I16(v) => norm_rows(x, h, n, v),
        }
    }
}

thread_local! {
    /// Each worker's accumulator buffer, reused from call to call (products overwrite it).
    static SCRATCH: std::cell::RefCell<Vec<i32>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// Runs `f` on this thread's scratch of `n` values (not nested).
fn with_scratch<R>(n: usize, f: impl FnOnce(&mut [i32]) -> R) -> R {
    SCRATCH.with(|s| {
        let mut s = s.borrow_mut();
        if s.len() < n {
            s.resize(n, 0);
        }
        f(&mut s[..n])
    })
}

fn gelu_rows<T: ActInt>(isa: Isa, acc: &[i32], inter: usize, l: &super::params::Layer, out: &mut [T]) {
    for (ar, gr) in acc.chunks_exact(inter).zip(out.chunks_exact_mut(inter)) {
        vector::requant_gelu(isa, ar, &l.ffn_in.rq, &l.gelu, gr);
    }
}

fn norm_rows<T: ActInt>(x: &[i32], h: usize, n: &Norm, out: &mut [T]) {
    for (xr, o) in x.chunks_exact(h).zip(out.chunks_exact_mut(h)) {
        ops::layer_norm(xr, n, o);
    }
}

/// Where each sequence's rows start, and the total.
fn offsets(seqs: &[Vec<u32>]) -> (Vec<usize>, usize) {
    let mut off = Vec::with_capacity(seqs.len());
    let mut total = 0;
    for s in seqs {
        off.push(total);
        total += s.len();
    }
    (off, total)
}

impl Engine {
    /// Natural-log probabilities (`sel.len() × vocab`) at the selected positions.
    pub fn forward(&self, seqs: &[Vec<u32>], sel: &[(usize, usize)]) -> Result<Vec<f32>> {
        let p = &self.p;
        let h = p.hidden;
        let (off, rows) = offsets(seqs);
        for &(s, pos) in sel {
            if s >= seqs.len() || pos >= seqs[s].len() {
                return Err(Error::Internal(format!("selected position ({s}, {pos}) is not in the batch")));
            }
        }
        let mut x = vec![0i32; rows * h];
        self.embed(seqs, None, &mut x)?;
        let all: Vec<(usize, usize)> =
            seqs.iter().enumerate().flat_map(|(i, q)| (0..q.len()).map(move |j| (i, j))).collect();
        let last = p.layers.len().saturating_sub(1);
        for l in 0..last {
            let ctx = self.attention(l, &x, seqs, &off, &all);
            self.feed_forward(l, &mut x, &ctx);
        }
        // the last layer's attention and feed-forward only matter at the selected rows
        let mut picked = Vec::with_capacity(sel.len() * h);
        for &(s, pos) in sel {
            let r = off[s] + pos;
            picked.extend_from_slice(&x[r * h..(r + 1) * h]);
        }
        if !p.layers.is_empty() {
            let ctx = self.attention(last, &x, seqs, &off, sel);
            self.feed_forward(last, &mut picked, &ctx);
        }
        Ok(self.head(&picked))
    }

    /// The residual stream of every row after the embedding and `layers` full layers (a
    /// checkpoint for comparing engines step by step).
    pub fn residual_after(&self, seqs: &[Vec<u32>], layers: usize) -> Result<Vec<i32>> {
        let (off, rows) = offsets(seqs);
        let mut x = vec![0i32; rows * self.p.hidden];
        self.embed(seqs, None, &mut x)?;
        let all: Vec<(usize, usize)> =
            seqs.iter().enumerate().flat_map(|(i, q)| (0..q.len()).map(move |j| (i, j))).collect();
        for l in 0..layers.min(self.p.layers.len()) {
            let ctx = self.attention(l, &x, seqs, &off, &all);
            self.feed_forward(l, &mut x, &ctx);
        }
        Ok(x)
    }

    /// The first layer's input at the rows of every sequence from `from[s]` on (all rows
    /// without `from`), side by side in `x`.
    pub(super) fn embed(&self, seqs: &[Vec<u32>], from: Option<&[usize]>, x: &mut [i32]) -> Result<()> {
        let p = &self.p;
        let h = p.hidden;
        let mut e = vec![0i32; h];
        let mut r = 0;
        for (k, s) in seqs.iter().enumerate() {
            if s.len() + p.position_offset > p.positions {
                return Err(Error::Internal(format!("sequence of {} tokens exceeds the model's positions", s.len())));
            }
            let start = from.map_or(0, |f| f[k]);
            for (i, &id) in s.iter().enumerate().skip(start) {
                let id = id as usize;
                if id >= p.vocab {
                    return Err(Error::Internal(format!("token id {id} outside the vocabulary")));
                }
                let pi = p.position_offset + i;
                let (wm, pm) = (p.word_m[id], p.pos_m[pi]);
                let (wr, pr) = (&p.word[id * h..(id + 1) * h], &p.pos[pi * h..(pi + 1) * h]);
                for c in 0..h {
                    e[c] = wr[c] as i32 * wm + pr[c] as i32 * pm;
                }
                ops::layer_norm(&e, &p.emb_ln, &mut x[r * h..(r + 1) * h]);
                r += 1;
            }
        }
        Ok(())
    }

    /// `Attn(LN1(x))` of layer `li` before its output projection, at the `queries`
    /// ((sequence, position) pairs): int8 rows in query order. Keys and values are every row
    /// (in a causal model, those at or before the query's).
    fn attention(&self, li: usize, x: &[i32], seqs: &[Vec<u32>], off: &[usize], queries: &[(usize, usize)]) -> Vec<i8> {
        let h = self.p.hidden;
        let (q, k, v) = self.qkv(li, x);
        by_sequence(seqs.len(), h, queries, |s, pos| {
            let (o, n) = (off[s], seqs[s].len());
            let r = o * h..(o + n) * h;
            let qs: Vec<i8> = pos.iter().flat_map(|&p| &q[(o + p) * h..(o + p + 1) * h]).copied().collect();
            self.attend(li, &qs, pos, &k[r.clone()], &v[r])
        })
    }

    /// Q, K and V of layer `li` (int8, `rows × H` each) for the residual rows `x`: each row's
    /// from that row alone.
    pub(super) fn qkv(&self, li: usize, x: &[i32]) -> (Vec<i8>, Vec<i8>, Vec<i8>) {
        let (p, l) = (&self.p, &self.p.layers[li]);
        let h = p.hidden;
        let rows = x.len() / h;
        let (mut q, mut k, mut v) = (vec![0i8; rows * h], vec![0i8; rows * h], vec![0i8; rows * h]);
        let blk = ENC_ROWS * h;
        x.par_chunks(blk).zip(q.par_chunks_mut(blk)).zip(k.par_chunks_mut(blk)).zip(v.par_chunks_mut(blk)).for_each(
            |(((xb, qb), kb), vb)| {
                let m = xb.len() / h;
                let mut a = Buf::new(l.ln1.out, m * h);
                a.norm_rows(xb, h, &l.ln1);
                with_scratch(m * 3 * h, |acc| {
                    gemm(&self.w.qkv[li], a.rows(), acc);
                    for (r, ar) in acc.chunks_exact(3 * h).enumerate() {
                        let o = r * h..(r + 1) * h;
                        vector::requant_act(self.isa, &ar[..h], &l.q.rq, &mut qb[o.clone()]);
                        vector::requant_act(self.isa, &ar[h..2 * h], &l.k.rq, &mut kb[o.clone()]);
                        vector::requant_act(self.isa, &ar[2 * h..], &l.v.rq, &mut vb[o]);
                    }
                });
            },
        );
        (q, k, v)
    }

    /// The rest of layer `li` on rows `x` whose attention context is `ctx`:
    /// `x += O(ctx); x += FFN(LN2(x))`.
    pub(super) fn feed_forward(&self, li: usize, x: &mut [i32], ctx: &[i8]) {
        let (h, inter) = (self.p.hidden, self.p.inter);
        let blk = ENC_ROWS * h;
        x.par_chunks_mut(blk).zip(ctx.par_chunks(blk)).for_each(|(xb, cb)| {
            let m = xb.len() / h;
            with_scratch(m * h.max(inter), |acc| self.feed_forward_block(li, xb, cb, acc));
        });
    }

    /// One block of rows of `feed_forward`; `acc`: scratch of `rows × max(H, intermediate)`.
    fn feed_forward_block(&self, li: usize, xb: &mut [i32], cb: &[i8], acc: &mut [i32]) {
        let (p, l) = (&self.p, &self.p.layers[li]);
        let (h, inter) = (p.hidden, p.inter);
        let m = xb.len() / h;
        gemm(&self.w.o[li], ActRows::I8(cb), acc);
        for (ar, xr) in acc.chunks_exact(h).zip(xb.chunks_exact_mut(h)) {
            vector::requant_add(self.isa, ar, &l.o.rq, xr);
        }
        let mut a = Buf::new(l.ln2.out, m * h);
        a.norm_rows(xb, h, &l.ln2);
        gemm(&self.w.ffn_in[li], a.rows(), acc);
        let mut g = Buf::new(l.gelu.out, m * inter);
        match &mut g {
            Buf::I8(gv) => gelu_rows(self.isa, &acc[..m * inter], inter, l, gv),
            Buf::I16(gv) => gelu_rows(self.isa, &acc[..m * inter], inter, l, gv),
        }
        gemm(&self.w.ffn_out[li], g.rows(), acc);
        for (ar, xr) in acc.chunks_exact(h).zip(xb.chunks_exact_mut(h)) {
            vector::requant_add(self.isa, ar, &l.ffn_out.rq, xr);
        }
    }

    /// Self-attention within one sequence whose keys and values are `k` and `v` (`n × H`),
    /// every head, for the query rows `q` at positions `pos`: their int8 contexts (V's scale:
    /// a convex combination of values stays in range). In a causal model a query attends the
    /// keys at or before its position: the later ones get probability 0, so its context is
    /// the same integer sum whatever rows follow it.
    pub(super) fn attend(&self, li: usize, q: &[i8], pos: &[usize], k: &[i8], v: &[i8]) -> Vec<i8> {
        let (p, l) = (&self.p, &self.p.layers[li]);
        let h = p.hidden;
        let hd = h / p.heads;
        let nq = pos.len();
        if nq <= FEW_QUERIES {
            return super::attend::few(self, li, q, pos, k, v);
        }
        let n = match self.causal {
            true => pos.iter().max().map_or(0, |&m| m + 1),
            false => k.len() / h,
        };
        let (mut qh, mut kh, mut vt) = (vec![0i8; nq * hd], vec![0i8; n * hd], vec![0i8; n * hd]);
        let mut scores = vec![0i32; nq * n];
        let mut probs = vec![0i16; nq * n];
        let mut z = vec![0i64; n];
        let mut out = vec![0i32; nq * hd];
        let mut ctx = vec![0i8; nq * h];
        for head in 0..p.heads {
            let c0 = head * hd;
            for i in 0..nq {
                qh[i * hd..(i + 1) * hd].copy_from_slice(&q[i * h + c0..i * h + c0 + hd]);
            }
            for i in 0..n {
                kh[i * hd..(i + 1) * hd].copy_from_slice(&k[i * h + c0..i * h + c0 + hd]);
                for d in 0..hd {
                    vt[d * n + i] = v[i * h + c0 + d];
                }
            }
            gemm(&Packed::new(self.isa, false, &kh, n, hd), ActRows::I8(&qh), &mut scores);
            for ((sr, pr), &r) in scores.chunks_exact(n).zip(probs.chunks_exact_mut(n)).zip(pos) {
                let keys = if self.causal { r + 1 } else { n };
                for (zj, &s) in z.iter_mut().zip(&sr[..keys]) {
                    *zj = ops::rshift(s as i64 * l.score_m, l.score_shift);
                }
                ops::softmax_q14(&z[..keys], &p.exp2, &mut pr[..keys]);
                pr[keys..].fill(0);
            }
            gemm(&Packed::new(self.isa, true, &vt, hd, n), ActRows::I16(&probs), &mut out);
            for i in 0..nq {
                for d in 0..hd {
                    ctx[i * h + c0 + d] = ops::rshift(out[i * hd + d] as i64, 14).clamp(-127, 127) as i8;
                }
            }
        }
        ctx
    }

    /// The MLM head on the selected rows of the last layer's output.
    pub(super) fn head(&self, picked: &[i32]) -> Vec<f32> {
        let p = &self.p;
        let (h, v) = (p.hidden, p.vocab);
        let n = picked.len() / h.max(1);
        // every entry is written below: no need to zero 4·n·V bytes first
        let mut out: Vec<f32> = Vec::with_capacity(n * v);
        out.spare_capacity_mut()[..n * v].par_chunks_mut(HEAD_ROWS * v).zip(picked.par_chunks(HEAD_ROWS * h)).for_each(
            |(o, x)| {
                let m = x.len() / h;
                let mut a = Buf::new(p.final_ln.out, m * h);
                a.norm_rows(x, h, &p.final_ln);
                with_scratch(m * v.max(h) + v, |scratch| {
                    let (acc, logits) = scratch.split_at_mut(m * v.max(h));
                    gemm(&self.w.head_dense, a.rows(), acc);
                    // the head's GELU feeds a LayerNorm, not a product: kept at the table's 16 bits
                    let mut g = vec![0i16; m * h];
                    for (ar, gr) in acc.chunks_exact(h).zip(g.chunks_exact_mut(h)).take(m) {
                        vector::requant_gelu(self.isa, ar, &p.head_dense.rq, &p.head_gelu, gr);
                    }
                    let g: Vec<i32> = g.into_iter().map(i32::from).collect();
                    let mut y = Buf::new(p.head_ln.out, m * h);
                    y.norm_rows(&g, h, &p.head_ln);
                    gemm(&self.w.decoder, y.rows(), acc);
                    for (ar, or) in acc.chunks_exact(v).zip(o.chunks_exact_mut(v)) {
                        vector::log_softmax(self.isa, ar, &p.decoder, &p.exp2, &p.log2, logits, or);
                    }
                });
            },
        );
        // SAFETY: the chunks above cover all n·V entries and log_softmax writes each of them
        unsafe { out.set_len(n * v) };
        out
    }
}

/// The packed form of every product's weights, for one instruction set.
pub struct PackedWeights {
    pub qkv: Vec<Packed>,
    pub o: Vec<Packed>,
    pub ffn_in: Vec<Packed>,
    pub ffn_out: Vec<Packed>,
    pub head_dense: Packed,
    pub decoder: Packed,
}

impl PackedWeights {
    pub fn new(p: &IntParams, isa: Isa) -> PackedWeights {
        let wide = |a: Act| a == Act::I16;
        let mut w = PackedWeights {
            qkv: Vec::new(),
            o: Vec::new(),
            ffn_in: Vec::new(),
            ffn_out: Vec::new(),
            head_dense: Packed::new(isa, wide(p.final_ln.out), &p.head_dense.w, p.hidden, p.hidden),
            decoder: Packed::new(isa, wide(p.head_ln.out), &p.word, p.vocab, p.hidden),
        };
        for l in &p.layers {
            let qkv: Vec<i8> = [&l.q.w, &l.k.w, &l.v.w].into_iter().flatten().copied().collect();
            w.qkv.push(Packed::new(isa, wide(l.ln1.out), &qkv, 3 * p.hidden, p.hidden));
            w.o.push(Packed::new(isa, false, &l.o.w, p.hidden, p.hidden));
            w.ffn_in.push(Packed::new(isa, wide(l.ln2.out), &l.ffn_in.w, p.inter, p.hidden));
            w.ffn_out.push(Packed::new(isa, wide(l.gelu.out), &l.ffn_out.w, p.hidden, p.inter));
        }
        w
    }
}

/// Runs `f(sequence, positions of its queries)` for every sequence of `seqs` that has queries,
/// side by side, and puts the int8 context rows it returns (`positions.len() × h`) back in the
/// order of `queries` ((sequence, position) pairs).
pub(super) fn by_sequence(
    seqs: usize,
    h: usize,
    queries: &[(usize, usize)],
    f: impl Fn(usize, &[usize]) -> Vec<i8> + Sync,
) -> Vec<i8> {
    let mut by_seq: Vec<Vec<usize>> = vec![Vec::new(); seqs];
    for (i, &(s, _)) in queries.iter().enumerate() {
        by_seq[s].push(i);
    }
    let parts: Vec<(usize, Vec<i8>)> = (0..seqs)
        .into_par_iter()
        .filter(|&s| !by_seq[s].is_empty())
        .map(|s| {
            let pos: Vec<usize> = by_seq[s].iter().map(|&i| queries[i].1).collect();
            (s, f(s, &pos))
        })
        .collect();
    let mut ctx = vec![0i8; queries.len() * h];
    for (s, c) in parts {
        for (&i, row) in by_seq[s].iter().zip(c.chunks_exact(h)) {
            ctx[i * h..(i + 1) * h].copy_from_slice(row);
        }
    }
    ctx
}
