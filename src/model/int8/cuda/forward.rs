//! The forward pass on the GPU: the CPU engine's steps (forward.rs) as kernel launches.

use cudarc::driver::{CudaFunction, CudaSlice, CudaView, LaunchConfig, PushKernelArg};

use super::{gpu, kind, CudaLm, DBuf, DGelu, DLayer, DNorm};
use crate::error::{Error, Result};

/// What a product's epilogue does with its accumulators.
enum Epilogue<'a> {
    /// raw i32 (the output projection, before the log-distribution)
    Raw(&'a mut CudaSlice<i32>),
    /// requantise into an activation type
    Act(&'a mut DBuf),
    /// requantise and add to the residual stream
    Residual(&'a mut CudaSlice<i32>),
    /// requantise, GELU, into an activation type (clamped to `lim`)
    Gelu(&'a DGelu, &'a mut DBuf, i64),
}

/// A requantisation on the device: multipliers, offsets, shift.
type Rq<'a> = (&'a CudaSlice<i32>, &'a CudaSlice<i64>, i32);

fn out_kind(o: &DBuf) -> i32 {
    match o {
        DBuf::I8(_) => 0,
        DBuf::I16(_) => 1,
        DBuf::I32(_) => 2,
    }
}

impl CudaLm {
    /// `a · wᵀ` (`rows × n`, inner size `k`) through the epilogue.
    #[allow(clippy::too_many_arguments)]
    fn gemm(
        &self,
        a: &DBuf,
        w: &CudaSlice<i8>,
        n: usize,
        k: usize,
        rows: usize,
        rq: Option<Rq>,
        ep: Epilogue,
        what: &'static str,
    ) -> Result<()> {
        if rows == 0 {
            return Ok(());
        }
        let (f, cfg) = self.gemm_kernel(a, n, rows)?;
        let (m_, n_, k_) = (rows as i32, n as i32, k as i32);
        let (mode, kd, lim, ghalf, glin_m, glin_shift) = match &ep {
            Epilogue::Raw(_) => (0i32, 2i32, 0i64, 0i32, 0i32, 0i32),
            Epilogue::Act(o) => (1, out_kind(o), kind_lim(o), 0, 0, 0),
            Epilogue::Residual(_) => (2, 2, 1 << 30, 0, 0, 0),
            Epilogue::Gelu(g, o, lim) => (3, out_kind(o), *lim, g.half, g.lin_m, g.lin_shift),
        };
        let zero = 0i32;
        let mut b = self.stream.launch_builder(f);
        match a {
            DBuf::I8(x) => b.arg(x),
            DBuf::I16(x) => b.arg(x),
            DBuf::I32(x) => b.arg(x),
        };
        b.arg(w).arg(&m_).arg(&n_).arg(&k_).arg(&mode);
        match &rq {
            Some((m, bb, s)) => b.arg(*m).arg(*bb).arg(s),
            None => b.arg(&self.dummy).arg(&self.dummy).arg(&zero),
        };
        b.arg(&kd).arg(&lim);
        let table = match &ep {
            Epilogue::Gelu(g, ..) => &g.table,
            _ => &self.dummy,
        };
        match ep {
            Epilogue::Raw(o) | Epilogue::Residual(o) => b.arg(o),
            Epilogue::Act(o) | Epilogue::Gelu(_, o, _) => match o {
                DBuf::I8(o) => b.arg(o),
                DBuf::I16(o) => b.arg(o),
                DBuf::I32(o) => b.arg(o),
            },
        };
        b.arg(table).arg(&ghalf).arg(&glin_m).arg(&glin_shift);
        unsafe { b.launch(cfg) }.map_err(gpu)?;
        self.mark(what)
    }

    /// The product kernel for `a`'s type and its launch: dp4a with 64 × 64 tiles where they
    /// give every multiprocessor a block, else 32 × 32; or the simple kernel.
    fn gemm_kernel(&self, a: &DBuf, n: usize, rows: usize) -> Result<(&CudaFunction, LaunchConfig)> {
        let wide = match a {
            DBuf::I8(_) => false,
            DBuf::I16(_) => true,
            DBuf::I32(_) => return Err(Error::Internal("32-bit activations feed no product".into())),
        };
        let f = &self.f;
        let (kernel, tile) = if self.simple_gemm.load(std::sync::atomic::Ordering::Relaxed) {
            (if wide { &f.gemm_i16 } else { &f.gemm_i8 }, 16)
        } else if n.div_ceil(64) * rows.div_ceil(64) >= self.sms {
            (if wide { &f.gemm4_i16 } else { &f.gemm4_i8 }, 64)
        } else {
            (if wide { &f.gemm2_i16 } else { &f.gemm2_i8 }, 32)
        };
        let cfg = LaunchConfig {
            grid_dim: (n.div_ceil(tile) as u32, rows.div_ceil(tile) as u32, 1),
            block_dim: (16, 16, 1),
            shared_mem_bytes: 0,
        };
        Ok((kernel, cfg))
    }

    fn norm_into(&self, n: &DNorm, x: &CudaSlice<i32>, rows: usize) -> Result<DBuf> {
        let mut out = self.buf(n.out, rows * self.hidden)?;
        self.norm(n, x, rows, &mut out)?;
        Ok(out)
    }

    /// Natural-log probabilities at the selected positions, as the CPU engine computes them.
    pub fn forward(&self, seqs: &[Vec<u32>], sel: &[(usize, usize)]) -> Result<Vec<f32>> {
        self.fetch(self.forward_device(seqs, sel)?, sel.len())
    }

    /// The same, left on the device.
    pub(super) fn forward_device(&self, seqs: &[Vec<u32>], sel: &[(usize, usize)]) -> Result<CudaSlice<f32>> {
        match self.run(seqs, sel, None)? {
            Run::Probs(p) => Ok(p),
            Run::Residual(_) => Err(Error::Internal("forward stopped early".into())),
        }
    }

    /// The residual stream after the embedding and `layers` layers (see the CPU engine's
    /// `residual_after`).
    pub fn residual_after(&self, seqs: &[Vec<u32>], layers: usize) -> Result<Vec<i32>> {
        match self.run(seqs, &[], Some(layers))? {
            Run::Residual(x) => Ok(x),
            Run::Probs(_) => Err(Error::Internal("forward did not stop".into())),
        }
    }

    fn run(&self, seqs: &[Vec<u32>], sel: &[(usize, usize)], stop: Option<usize>) -> Result<Run> {
        let b = self.batch(seqs, sel)?;
        let rows = b.ids.len();
        let st = &self.stream;
        let u = self.upload(&[&b.qrow, &b.kstart, &b.klen, &b.ids, &b.pos, &b.picked])?;
        let d = DBatch { qrow: u.view(0), kstart: u.view(1), klen: u.view(2), longest: b.longest };
        let mut x = self.embed(&u.view(3), &u.view(4), rows)?;
        for (li, l) in self.layers.iter().enumerate() {
            if stop == Some(li) {
                return Ok(Run::Residual(st.clone_dtoh(&x).map_err(gpu)?));
            }
            self.layer(l, li, &mut x, rows, &d, None)?;
        }
        if stop.is_some() {
            return Ok(Run::Residual(st.clone_dtoh(&x).map_err(gpu)?));
        }
        Ok(Run::Probs(self.head(&x, &u.view(5), b.picked.len())?))
    }

    /// The batch's rows on the host: checked against the model, every sequence's rows one
    /// after the other, and the rows of the selected positions.
    fn batch(&self, seqs: &[Vec<u32>], sel: &[(usize, usize)]) -> Result<Batch> {
        let v = self.vocab;
        let mut b = Batch {
            ids: vec![],
            pos: vec![],
            qrow: vec![],
            kstart: vec![],
            klen: vec![],
            picked: Vec::with_capacity(sel.len()),
            longest: seqs.iter().map(|s| s.len()).max().unwrap_or(0),
        };
        let mut off = Vec::with_capacity(seqs.len());
        for s in seqs {
            if s.len() + self.position_offset > self.positions {
                return Err(Error::Internal(format!("sequence of {} tokens exceeds the model's positions", s.len())));
            }
            off.push(b.ids.len());
            let start = b.ids.len() as i32;
            for (i, &t) in s.iter().enumerate() {
                if t as usize >= v {
                    return Err(Error::Internal(format!("token id {t} outside the vocabulary")));
                }
                b.qrow.push(b.ids.len() as i32);
                b.ids.push(t as i32);
                b.pos.push((self.position_offset + i) as i32);
                b.kstart.push(start);
                // a causal model's row attends to the rows at and before it
                b.klen.push((if self.causal { i + 1 } else { s.len() }) as i32);
            }
        }
        for &(s, p) in sel {
            if s >= seqs.len() || p >= seqs[s].len() {
                return Err(Error::Internal(format!("selected position ({s}, {p}) is not in the batch")));
            }
            b.picked.push((off[s] + p) as i32);
        }
        Ok(b)
    }

    /// The residual stream after the embeddings and their LayerNorm.
    pub(super) fn embed(&self, d_ids: &CudaView<i32>, d_pos: &CudaView<i32>, rows: usize) -> Result<CudaSlice<i32>> {
        let h32 = self.hidden as i32;
        let mut e = self.alloc::<i32>(rows * self.hidden)?;
        let mut b = self.stream.launch_builder(&self.f.embed);
        b.arg(d_ids).arg(d_pos).arg(&self.word).arg(&self.word_m).arg(&self.pos).arg(&self.pos_m).arg(&h32).arg(&mut e);
        unsafe { b.launch(Self::rows_cfg(rows, 128)) }.map_err(gpu)?;
        self.mark("embed")?;
        match self.norm_into(&self.emb_ln, &e, rows)? {
            DBuf::I32(x) => Ok(x),
            _ => Err(Error::Internal("embedding LayerNorm must write the residual stream".into())),
        }
    }

    /// One encoder layer over every row of the residual stream `x`; with `kv` (layer `li` of a
    /// cached call) the rows' K and V go to their places in the cache's pools and the
    /// attention reads its keys and values there.
    pub(super) fn layer(
        &self,
        l: &DLayer,
        li: usize,
        x: &mut CudaSlice<i32>,
        rows: usize,
        d: &DBatch,
        kv: Option<&mut KvDest>,
    ) -> Result<()> {
        let h = self.hidden;
        let a = self.norm_into(&l.ln1, x, rows)?;
        let mut q = DBuf::I8(self.alloc(rows * h)?);
        let mut k = DBuf::I8(self.alloc(rows * h)?);
        let mut vv = DBuf::I8(self.alloc(rows * h)?);
        if !self.qkv(&a, l, rows, [&mut q, &mut k, &mut vv])? {
            for (lin, out) in [(&l.q, &mut q), (&l.k, &mut k), (&l.v, &mut vv)] {
                self.gemm(
                    &a,
                    &lin.w,
                    lin.n,
                    lin.k,
                    rows,
                    Some((&lin.m, &lin.b, lin.shift)),
                    Epilogue::Act(out),
                    "qkv",
                )?;
            }
        }
        let (DBuf::I8(q), DBuf::I8(k), DBuf::I8(vv)) = (&q, &k, &vv) else { unreachable!() };
        let mut ctx = self.alloc::<i8>(rows * h)?;
        match kv {
            None => self.attend(l, q, &k.slice(..), &vv.slice(..), rows, d, &mut ctx)?,
            Some(dst) => {
                let base = li * dst.layer_rows;
                self.scatter_kv(k, vv, base, dst, rows)?;
                let layer = base * h..(base + dst.layer_rows) * h;
                self.attend(l, q, &dst.k.slice(layer.clone()), &dst.v.slice(layer), rows, d, &mut ctx)?;
            }
        }
        let ctx = DBuf::I8(ctx);
        self.gemm(&ctx, &l.o.w, h, h, rows, Some((&l.o.m, &l.o.b, l.o.shift)), Epilogue::Residual(x), "gemm o")?;
        let a = self.norm_into(&l.ln2, x, rows)?;
        let mut g = self.buf(l.gelu.out, rows * self.inter)?;
        let lim = kind(l.gelu.out).1;
        let fi = &l.ffn_in;
        self.gemm(
            &a,
            &fi.w,
            fi.n,
            fi.k,
            rows,
            Some((&fi.m, &fi.b, fi.shift)),
            Epilogue::Gelu(&l.gelu, &mut g, lim),
            "gemm ffn_in",
        )?;
        let fo = &l.ffn_out;
        self.gemm(&g, &fo.w, fo.n, fo.k, rows, Some((&fo.m, &fo.b, fo.shift)), Epilogue::Residual(x), "gemm ffn_out")
    }

    /// The attention contexts of the `rows` query rows of `q`, each over its keys and values
    /// in `k` and `v` as the batch `d` places them.
    #[allow(clippy::too_many_arguments)]
    fn attend(
        &self,
        l: &DLayer,
        q: &CudaSlice<i8>,
        k: &CudaView<i8>,
        v: &CudaView<i8>,
        rows: usize,
        d: &DBatch,
        ctx: &mut CudaSlice<i8>,
    ) -> Result<()> {
        let (h32, hd32) = (self.hidden as i32, (self.hidden / self.heads) as i32);
        let mut b = self.stream.launch_builder(&self.f.attention);
        b.arg(q).arg(k).arg(v).arg(&h32).arg(&hd32).arg(&d.qrow).arg(&d.kstart).arg(&d.klen);
        b.arg(&l.score_m).arg(&l.score_shift).arg(&self.exp2).arg(ctx);
        let cfg = LaunchConfig {
            grid_dim: (rows as u32, self.heads as u32, 1),
            block_dim: (128, 1, 1),
            shared_mem_bytes: (8 * d.longest.max(1)) as u32,
        };
        unsafe { b.launch(cfg) }.map_err(gpu)?;
        self.mark("attention")
    }

    /// Row `i` of `k` and `v` (`rows × H` each) to row `base + dst.rows[i]` of the pools.
    fn scatter_kv(
        &self,
        k: &CudaSlice<i8>,
        v: &CudaSlice<i8>,
        base: usize,
        dst: &mut KvDest,
        rows: usize,
    ) -> Result<()> {
        if rows == 0 {
            return Ok(());
        }
        let (h32, base) = (self.hidden as i32, base as i64);
        let mut b = self.stream.launch_builder(&self.f.scatter_kv);
        b.arg(k).arg(v).arg(&h32).arg(&base).arg(&dst.rows).arg(&mut *dst.k).arg(&mut *dst.v);
        unsafe { b.launch(Self::rows_cfg(rows, 128)) }.map_err(gpu)?;
        self.mark("scatter_kv")
    }

    /// A layer's Q, K and V products of `a` in one launch (kernels `qkv*`: the products' own
    /// bodies and arguments, so the same integers). `false` where the three do not share a
    /// shape or the simple kernels are asked for: then they are three launches.
    fn qkv(&self, a: &DBuf, l: &DLayer, rows: usize, out: [&mut DBuf; 3]) -> Result<bool> {
        let (n, k) = (l.q.n, l.q.k);
        let same = [&l.k, &l.v].iter().all(|x| x.n == n && x.k == k);
        if !same || rows == 0 || self.simple_gemm.load(std::sync::atomic::Ordering::Relaxed) {
            return Ok(false);
        }
        // the tiles `gemm_kernel` would choose for each product
        let wide = n.div_ceil(64) * rows.div_ceil(64) >= self.sms;
        let tile = if wide { 64 } else { 32 };
        let cfg = LaunchConfig {
            grid_dim: (n.div_ceil(tile) as u32, rows.div_ceil(tile) as u32, 3),
            block_dim: (16, 16, 1),
            shared_mem_bytes: 0,
        };
        let f = &self.f;
        let kernel = match (a, wide) {
            (DBuf::I8(_), true) => &f.qkv4_i8,
            (DBuf::I16(_), true) => &f.qkv4_i16,
            (DBuf::I8(_), false) => &f.qkv2_i8,
            (DBuf::I16(_), false) => &f.qkv2_i16,
            (DBuf::I32(_), _) => return Err(Error::Internal("32-bit activations feed no product".into())),
        };
        let [DBuf::I8(oq), DBuf::I8(ok), DBuf::I8(ov)] = out else {
            return Err(Error::Internal("Q, K and V are int8".into()));
        };
        let (m_, n_, k_) = (rows as i32, n as i32, k as i32);
        let mut b = self.stream.launch_builder(kernel);
        match a {
            DBuf::I8(x) => b.arg(x),
            DBuf::I16(x) => b.arg(x),
            DBuf::I32(x) => b.arg(x),
        };
        b.arg(&l.q.w).arg(&l.k.w).arg(&l.v.w).arg(&l.q.m).arg(&l.k.m).arg(&l.v.m);
        b.arg(&l.q.b).arg(&l.k.b).arg(&l.v.b).arg(&l.q.shift).arg(&l.k.shift).arg(&l.v.shift);
        b.arg(oq).arg(ok).arg(ov).arg(&m_).arg(&n_).arg(&k_);
        unsafe { b.launch(cfg) }.map_err(gpu)?;
        self.mark("qkv")?;
        Ok(true)
    }

    /// The prediction head at the `n` rows of `x` that `d_pick` lists: natural-log
    /// probabilities, on the device (see [`CudaLm::fetch`]).
    pub(super) fn head(&self, x: &CudaSlice<i32>, d_pick: &CudaView<i32>, n: usize) -> Result<CudaSlice<f32>> {
        let (h, v) = (self.hidden, self.vocab);
        let (h32, st) = (h as i32, &self.stream);
        let mut xs = self.alloc::<i32>(n * h)?;
        let mut b = st.launch_builder(&self.f.gather);
        b.arg(x).arg(&h32).arg(d_pick).arg(&mut xs);
        unsafe { b.launch(Self::rows_cfg(n, 128)) }.map_err(gpu)?;
        self.mark("gather")?;
        let a = self.norm_into(&self.final_ln, &xs, n)?;
        // the head's GELU feeds a LayerNorm: kept in 32-bit storage at the table's 15 bits
        let mut g = DBuf::I32(self.alloc(n * h)?);
        let hdn = &self.head_dense;
        let lim = (1i64 << 14) - 1;
        self.gemm(
            &a,
            &hdn.w,
            h,
            h,
            n,
            Some((&hdn.m, &hdn.b, hdn.shift)),
            Epilogue::Gelu(&self.head_gelu, &mut g, lim),
            "gemm head",
        )?;
        let DBuf::I32(g) = g else { unreachable!() };
        let y = self.norm_into(&self.head_ln, &g, n)?;
        let mut acc = self.alloc::<i32>(n * v)?;
        self.gemm(&y, &self.word, v, h, n, None, Epilogue::Raw(&mut acc), "gemm vocab")?;
        let mut logits = self.alloc::<i32>(n * v)?;
        let mut out = self.alloc::<f32>(n * v)?;
        let v32 = v as i32;
        let mut b = st.launch_builder(&self.f.log_softmax);
        b.arg(&acc).arg(&v32).arg(&self.dec_m).arg(&self.dec_b).arg(&self.dec_shift);
        b.arg(&self.exp2).arg(&self.log2).arg(&mut logits).arg(&mut out);
        unsafe { b.launch(Self::rows_cfg(n, 256)) }.map_err(gpu)?;
        self.mark("log_softmax")?;
        Ok(out)
    }
}

/// A batch's rows on the host ([`CudaLm::batch`]).
struct Batch {
    ids: Vec<i32>,
    pos: Vec<i32>,
    /// each row's own index (the attention's query row)
    qrow: Vec<i32>,
    /// the first row of each row's sequence and the number of keys it attends to from there
    /// (the sequence's length; a causal model's: the row's position + 1)
    kstart: Vec<i32>,
    klen: Vec<i32>,
    /// the rows whose predictions are asked for
    picked: Vec<i32>,
    longest: usize,
}

/// What the attention needs of the batch, on the device.
pub(super) struct DBatch<'a> {
    pub qrow: CudaView<'a, i32>,
    pub kstart: CudaView<'a, i32>,
    pub klen: CudaView<'a, i32>,
    pub longest: usize,
}

/// Where a cached call keeps K and V (cache.rs): the pools (`layers × layer_rows` rows each)
/// and each new row's row within a layer's part.
pub(super) struct KvDest<'a> {
    pub k: &'a mut CudaSlice<i8>,
    pub v: &'a mut CudaSlice<i8>,
    pub layer_rows: usize,
    pub rows: CudaView<'a, i32>,
}

enum Run {
    Probs(CudaSlice<f32>),
    Residual(Vec<i32>),
}

fn kind_lim(o: &DBuf) -> i64 {
    match o {
        DBuf::I8(_) => 127,
        DBuf::I16(_) => (1 << 14) - 1,
        DBuf::I32(_) => 1 << 30,
    }
}
