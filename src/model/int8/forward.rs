//! The integer forward pass of a pre-LayerNorm RoBERTa encoder and its MLM head. Only the
//! real tokens of each sequence are computed (padding never influences them), rows of all
//! sequences side by side. Work is split over rows, sequences and row blocks with rayon; each
//! output value is computed by the same integer code whatever the split, so thread count
//! cannot change a bit.

use rayon::prelude::*;

use super::gemm::{gemm, ActRows, Isa, Packed};
use super::logsoftmax;
use super::ops::{self, ActInt};
use super::params::{Act, IntParams, Norm};
use super::Engine;
use crate::error::{Error, Result};

/// Rows per parallel task in the encoder and in the head.
const ENC_ROWS: usize = 32;
const HEAD_ROWS: usize = 8;

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

fn gelu_rows<T: ActInt>(acc: &[i32], inter: usize, l: &super::params::Layer, out: &mut [T]) {
    for (ar, gr) in acc.chunks_exact(inter).zip(out.chunks_exact_mut(inter)) {
        ops::requant_gelu(ar, &l.ffn_in.rq, &l.gelu, gr);
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
        let mut x = vec![0i32; rows * h];
        self.embed(seqs, &mut x)?;
        for l in 0..p.layers.len() {
            self.layer(l, seqs, &off, &mut x);
        }
        let mut picked = Vec::with_capacity(sel.len() * h);
        for &(s, pos) in sel {
            if s >= seqs.len() || pos >= seqs[s].len() {
                return Err(Error::Internal(format!("selected position ({s}, {pos}) is not in the batch")));
            }
            let r = off[s] + pos;
            picked.extend_from_slice(&x[r * h..(r + 1) * h]);
        }
        Ok(self.head(&picked))
    }

    fn embed(&self, seqs: &[Vec<u32>], x: &mut [i32]) -> Result<()> {
        let p = &self.p;
        let h = p.hidden;
        let mut e = vec![0i32; h];
        let mut r = 0;
        for s in seqs {
            if s.len() + p.position_offset > p.positions {
                return Err(Error::Internal(format!("sequence of {} tokens exceeds the model's positions", s.len())));
            }
            for (i, &id) in s.iter().enumerate() {
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

    /// One pre-LN layer: `x += Attn(LN1(x)); x += FFN(LN2(x))`.
    fn layer(&self, li: usize, seqs: &[Vec<u32>], off: &[usize], x: &mut [i32]) {
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
                let mut acc = vec![0i32; m * 3 * h];
                gemm(&self.w.qkv[li], a.rows(), &mut acc);
                for (r, ar) in acc.chunks_exact(3 * h).enumerate() {
                    let o = r * h..(r + 1) * h;
                    ops::requant_act(&ar[..h], &l.q.rq, &mut qb[o.clone()]);
                    ops::requant_act(&ar[h..2 * h], &l.k.rq, &mut kb[o.clone()]);
                    ops::requant_act(&ar[2 * h..], &l.v.rq, &mut vb[o]);
                }
            },
        );
        let mut ctx = vec![0i8; rows * h];
        let mut parts = Vec::with_capacity(seqs.len());
        let mut rest = &mut ctx[..];
        for (s, &o) in seqs.iter().zip(off) {
            let (a, b) = rest.split_at_mut(s.len() * h);
            parts.push((o, s.len(), a));
            rest = b;
        }
        parts.into_par_iter().for_each(|(o, n, c)| {
            let r = o * h..(o + n) * h;
            self.attend(li, &q[r.clone()], &k[r.clone()], &v[r], n, c);
        });
        let inter = p.inter;
        x.par_chunks_mut(blk).zip(ctx.par_chunks(blk)).for_each(|(xb, cb)| {
            let m = xb.len() / h;
            let mut acc = vec![0i32; m * h.max(inter)];
            gemm(&self.w.o[li], ActRows::I8(cb), &mut acc);
            for (ar, xr) in acc.chunks_exact(h).zip(xb.chunks_exact_mut(h)) {
                ops::requant_add(ar, &l.o.rq, xr);
            }
            let mut a = Buf::new(l.ln2.out, m * h);
            a.norm_rows(xb, h, &l.ln2);
            gemm(&self.w.ffn_in[li], a.rows(), &mut acc);
            let mut g = Buf::new(l.gelu.out, m * inter);
            match &mut g {
                Buf::I8(gv) => gelu_rows(&acc[..m * inter], inter, l, gv),
                Buf::I16(gv) => gelu_rows(&acc[..m * inter], inter, l, gv),
            }
            gemm(&self.w.ffn_out[li], g.rows(), &mut acc);
            for (ar, xr) in acc.chunks_exact(h).zip(xb.chunks_exact_mut(h)) {
                ops::requant_add(ar, &l.ffn_out.rq, xr);
            }
        });
    }

    /// Self-attention of one sequence's `n` rows, every head, into `ctx` (int8, V's scale:
    /// a convex combination of values stays in their range).
    fn attend(&self, li: usize, q: &[i8], k: &[i8], v: &[i8], n: usize, ctx: &mut [i8]) {
        let (p, l) = (&self.p, &self.p.layers[li]);
        let h = p.hidden;
        let hd = h / p.heads;
        let (mut qh, mut kh, mut vt) = (vec![0i8; n * hd], vec![0i8; n * hd], vec![0i8; n * hd]);
        let mut scores = vec![0i32; n * n];
        let mut probs = vec![0i16; n * n];
        let mut z = vec![0i64; n];
        let mut out = vec![0i32; n * hd];
        for head in 0..p.heads {
            let c0 = head * hd;
            for i in 0..n {
                qh[i * hd..(i + 1) * hd].copy_from_slice(&q[i * h + c0..i * h + c0 + hd]);
                kh[i * hd..(i + 1) * hd].copy_from_slice(&k[i * h + c0..i * h + c0 + hd]);
                for d in 0..hd {
                    vt[d * n + i] = v[i * h + c0 + d];
                }
            }
            gemm(&Packed::new(self.isa, false, &kh, n, hd), ActRows::I8(&qh), &mut scores);
            for (sr, pr) in scores.chunks_exact(n).zip(probs.chunks_exact_mut(n)) {
                for (zj, &s) in z.iter_mut().zip(sr) {
                    *zj = ops::rshift(s as i64 * l.score_m, l.score_shift);
                }
                ops::softmax_q14(&z, &p.exp2, pr);
            }
            gemm(&Packed::new(self.isa, true, &vt, hd, n), ActRows::I16(&probs), &mut out);
            for i in 0..n {
                for d in 0..hd {
                    ctx[i * h + c0 + d] = ops::rshift(out[i * hd + d] as i64, 14).clamp(-127, 127) as i8;
                }
            }
        }
    }

    /// The MLM head on the selected rows of the last layer's output.
    fn head(&self, picked: &[i32]) -> Vec<f32> {
        let p = &self.p;
        let (h, v) = (p.hidden, p.vocab);
        let n = picked.len() / h.max(1);
        let mut out = vec![0f32; n * v];
        out.par_chunks_mut(HEAD_ROWS * v).zip(picked.par_chunks(HEAD_ROWS * h)).for_each(|(o, x)| {
            let m = x.len() / h;
            let mut a = Buf::new(p.final_ln.out, m * h);
            a.norm_rows(x, h, &p.final_ln);
            let mut acc = vec![0i32; m * v.max(h)];
            gemm(&self.w.head_dense, a.rows(), &mut acc);
            // the head's GELU feeds a LayerNorm, not a product: kept at the table's 16 bits
            let mut g = vec![0i16; m * h];
            for (ar, gr) in acc.chunks_exact(h).zip(g.chunks_exact_mut(h)).take(m) {
                ops::requant_gelu(ar, &p.head_dense.rq, &p.head_gelu, gr);
            }
            let g: Vec<i32> = g.into_iter().map(i32::from).collect();
            let mut y = Buf::new(p.head_ln.out, m * h);
            y.norm_rows(&g, h, &p.head_ln);
            gemm(&self.w.decoder, y.rows(), &mut acc);
            let mut logits = vec![0i32; v];
            for (ar, or) in acc.chunks_exact(v).zip(o.chunks_exact_mut(v)) {
                logsoftmax::log_softmax(self.isa, ar, &p.decoder, &p.exp2, &p.log2, &mut logits, or);
            }
        });
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
