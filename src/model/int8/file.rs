//! The integer checkpoint (`model.int8.safetensors`): the engine's parameters, read with the
//! bounds that keep the engine's arithmetic inside its integer types (docs/FORMAT.md lists
//! them). Written by `llmzip quantize`.

use std::collections::{BTreeMap, HashMap};

use safetensors::tensor::{Dtype, TensorView};
use safetensors::SafeTensors;

use super::params::{
    Act, Gelu, IntParams, Layer, Linear, Norm, Requant, EXP_BITS, FILE, LOG_BITS, MAX_EMB_MUL, MAX_INTER_I8, MAX_WIDTH,
    VERSION,
};
use crate::error::{Error, Result};
use crate::model::config::{Arch, ModelConfig};

const MAX_MUL: i64 = 1 << 30;
const MAX_OFFSET: i64 = 1 << 61;
const MAX_SHIFT: i64 = 62;

fn bad(why: impl std::fmt::Display) -> Error {
    Error::model(FILE, why)
}

/// Reads named tensors of one file with exact dtype and shape checks.
struct Reader<'a> {
    st: SafeTensors<'a>,
}

impl Reader<'_> {
    fn raw(&self, name: &str, dtype: Dtype, shape: &[usize]) -> Result<Vec<u8>> {
        let t = self.st.tensor(name).map_err(|_| bad(format!("tensor {name} is missing")))?;
        if t.dtype() != dtype || t.shape() != shape {
            return Err(bad(format!("tensor {name} is {:?} {:?}, expected {dtype:?} {shape:?}", t.dtype(), t.shape())));
        }
        Ok(t.data().to_vec())
    }
    fn i8s(&self, name: &str, shape: &[usize]) -> Result<Vec<i8>> {
        let v: Vec<i8> = self.raw(name, Dtype::I8, shape)?.into_iter().map(|b| b as i8).collect();
        if v.contains(&i8::MIN) {
            return Err(bad(format!("{name} holds -128 (weights are symmetric, ±127)")));
        }
        Ok(v)
    }
    fn i16s(&self, name: &str, shape: &[usize]) -> Result<Vec<i16>> {
        Ok(self.raw(name, Dtype::I16, shape)?.chunks_exact(2).map(|c| i16::from_le_bytes([c[0], c[1]])).collect())
    }
    fn i32s(&self, name: &str, shape: &[usize], lo: i64, hi: i64) -> Result<Vec<i32>> {
        let v: Vec<i32> = self
            .raw(name, Dtype::I32, shape)?
            .chunks_exact(4)
            .map(|c| i32::from_le_bytes(c.try_into().unwrap()))
            .collect();
        in_range(name, v.iter().map(|&x| x as i64), lo, hi)?;
        Ok(v)
    }
    fn i64s(&self, name: &str, shape: &[usize], lo: i64, hi: i64) -> Result<Vec<i64>> {
        let v: Vec<i64> = self
            .raw(name, Dtype::I64, shape)?
            .chunks_exact(8)
            .map(|c| i64::from_le_bytes(c.try_into().unwrap()))
            .collect();
        in_range(name, v.iter().copied(), lo, hi)?;
        Ok(v)
    }
    fn scalar(&self, name: &str, lo: i64, hi: i64) -> Result<i64> {
        Ok(self.i64s(name, &[1], lo, hi)?[0])
    }
    fn act(&self, name: &str) -> Result<Act> {
        match self.scalar(name, 8, 32)? {
            8 => Ok(Act::I8),
            16 => Ok(Act::I16),
            32 => Ok(Act::I32),
            b => Err(bad(format!("{name}: activation of {b} bits"))),
        }
    }
    fn requant(&self, p: &str, n: usize) -> Result<Requant> {
        Ok(Requant {
            m: self.i32s(&format!("{p}.m"), &[n], 0, MAX_MUL - 1)?,
            b: self.i64s(&format!("{p}.b"), &[n], -MAX_OFFSET, MAX_OFFSET)?,
            shift: self.scalar(&format!("{p}.shift"), 0, MAX_SHIFT)? as u32,
        })
    }
    fn linear(&self, p: &str, n: usize, k: usize) -> Result<Linear> {
        Ok(Linear { n, k, w: self.i8s(&format!("{p}.w"), &[n, k])?, rq: self.requant(p, n)? })
    }
    fn norm(&self, p: &str, h: usize) -> Result<Norm> {
        Ok(Norm {
            g: self.i32s(&format!("{p}.g"), &[h], -(MAX_MUL - 1), MAX_MUL - 1)?,
            b: self.i64s(&format!("{p}.b"), &[h], -MAX_OFFSET, MAX_OFFSET)?,
            shift: self.scalar(&format!("{p}.shift"), 0, MAX_SHIFT)? as u32,
            eps: self.scalar(&format!("{p}.eps"), 0, 1 << 62)?,
            out: self.act(&format!("{p}.bits"))?,
        })
    }
    fn gelu(&self, p: &str) -> Result<Gelu> {
        let t = self.st.tensor(&format!("{p}.table")).map_err(|_| bad(format!("{p}.table is missing")))?;
        let len = t.shape().first().copied().unwrap_or(0);
        if t.shape().len() != 1 || len % 2 == 0 || len > (1 << 17) + 1 {
            return Err(bad(format!("{p}.table must have an odd length up to 2^17 + 1")));
        }
        let lin = self.i64s(&format!("{p}.lin"), &[2], 0, MAX_SHIFT.max(MAX_MUL - 1))?;
        if lin[0] >= MAX_MUL || lin[1] > MAX_SHIFT {
            return Err(bad(format!("{p}.lin out of range")));
        }
        Ok(Gelu {
            table: self.i16s(&format!("{p}.table"), &[len])?,
            half: len / 2,
            lin_m: lin[0] as i32,
            lin_shift: lin[1] as u32,
            out: self.act(&format!("{p}.bits"))?,
        })
    }
}

fn in_range(name: &str, v: impl Iterator<Item = i64>, lo: i64, hi: i64) -> Result<()> {
    for x in v {
        if x < lo || x > hi {
            return Err(bad(format!("{name} holds {x}, outside {lo}..={hi}")));
        }
    }
    Ok(())
}

impl IntParams {
    /// Reads and validates an integer checkpoint for the architecture `cfg` describes.
    pub fn read(bytes: &[u8], cfg: &ModelConfig) -> Result<Self> {
        if cfg.arch != Arch::RobertaPreLayerNorm {
            return Err(bad("the integer engine runs pre-LayerNorm RoBERTa models only"));
        }
        let (_, meta) = SafeTensors::read_metadata(bytes).map_err(|e| bad(e))?;
        let meta: BTreeMap<String, String> = meta.metadata().clone().unwrap_or_default().into_iter().collect();
        match meta.get("llmzip-int8").map(String::as_str) {
            Some(VERSION) => {}
            Some(v) => return Err(bad(format!("integer numerics version {v}; this build implements {VERSION}"))),
            None => return Err(bad("not an llmzip integer checkpoint (no llmzip-int8 metadata)")),
        }
        let r = Reader { st: SafeTensors::deserialize(bytes).map_err(|e| bad(e))? };
        let (v, h, i, p) = (cfg.vocab_size, cfg.hidden, cfg.intermediate, cfg.max_positions);
        if h > MAX_WIDTH || i > MAX_INTER_I8 || cfg.max_sequence() > MAX_WIDTH {
            return Err(bad(format!(
                "hidden width and sequence length above {MAX_WIDTH}, or an intermediate width above \
                 {MAX_INTER_I8}, are not supported"
            )));
        }
        let mut layers = Vec::with_capacity(cfg.layers);
        for l in 0..cfg.layers {
            let p = |s: &str| format!("layer.{l}.{s}");
            let score = r.i64s(&p("attn.score"), &[2], 0, MAX_MUL - 1)?;
            if score[1] > MAX_SHIFT {
                return Err(bad(format!("{} shift out of range", p("attn.score"))));
            }
            layers.push(Layer {
                ln1: r.norm(&p("ln1"), h)?,
                q: r.linear(&p("q"), h, h)?,
                k: r.linear(&p("k"), h, h)?,
                v: r.linear(&p("v"), h, h)?,
                score_m: score[0],
                score_shift: score[1] as u32,
                o: r.linear(&p("o"), h, h)?,
                ln2: r.norm(&p("ln2"), h)?,
                ffn_in: r.linear(&p("ffn_in"), i, h)?,
                gelu: r.gelu(&p("gelu"))?,
                ffn_out: r.linear(&p("ffn_out"), h, i)?,
            });
        }
        if i > MAX_WIDTH && layers.iter().any(|l| l.gelu.out != Act::I8) {
            return Err(bad(format!("an intermediate width above {MAX_WIDTH} needs 8-bit GELU outputs")));
        }
        let exp2: Vec<u32> =
            r.i32s("table.exp2", &[1 << EXP_BITS], 0, 1 << 30)?.into_iter().map(|x| x as u32).collect();
        if exp2[0] != 1 << 30 {
            return Err(bad("table.exp2[0] must be 2^30"));
        }
        let log2 = r.i32s("table.log2", &[(1 << LOG_BITS) + 1], 0, 1 << 17)?.into_iter().map(|x| x as u32).collect();
        let emb_ln = r.norm("emb.ln", h)?;
        let final_ln = r.norm("final.ln", h)?;
        let head_gelu = r.gelu("head.gelu")?;
        let head_ln = r.norm("head.ln", h)?;
        let mut matmul_inputs = vec![final_ln.out, head_ln.out];
        for l in &layers {
            matmul_inputs.extend([l.ln1.out, l.ln2.out, l.gelu.out]);
        }
        if emb_ln.out != Act::I32 || head_gelu.out == Act::I32 || matmul_inputs.contains(&Act::I32) {
            return Err(bad("activation types: the embedding LayerNorm writes 32 bits, the rest 8 or 16"));
        }
        Ok(IntParams {
            vocab: v,
            hidden: h,
            heads: cfg.heads,
            inter: i,
            positions: p,
            position_offset: cfg.position_offset,
            word: r.i8s("emb.word", &[v, h])?,
            word_m: r.i32s("emb.word.m", &[v], 0, MAX_EMB_MUL - 1)?,
            pos: r.i8s("emb.pos", &[p, h])?,
            pos_m: r.i32s("emb.pos.m", &[p], 0, MAX_EMB_MUL - 1)?,
            emb_ln,
            layers,
            final_ln,
            head_dense: r.linear("head.dense", h, h)?,
            head_gelu,
            head_ln,
            decoder: r.requant("head.decoder", v)?,
            exp2,
            log2,
            meta,
        })
    }

    /// The checkpoint's bytes (safetensors, sorted names).
    pub fn to_bytes(&self) -> Result<Vec<u8>> {
        let mut w = Writer::default();
        let (v, h, p) = (self.vocab, self.hidden, self.positions);
        w.i8s("emb.word", &[v, h], &self.word);
        w.i32s("emb.word.m", &self.word_m);
        w.i8s("emb.pos", &[p, h], &self.pos);
        w.i32s("emb.pos.m", &self.pos_m);
        w.norm("emb.ln", &self.emb_ln);
        for (l, x) in self.layers.iter().enumerate() {
            let p = |s: &str| format!("layer.{l}.{s}");
            w.norm(&p("ln1"), &x.ln1);
            w.linear(&p("q"), &x.q);
            w.linear(&p("k"), &x.k);
            w.linear(&p("v"), &x.v);
            w.i64s(&p("attn.score"), &[x.score_m, x.score_shift as i64]);
            w.linear(&p("o"), &x.o);
            w.norm(&p("ln2"), &x.ln2);
            w.linear(&p("ffn_in"), &x.ffn_in);
            w.gelu(&p("gelu"), &x.gelu);
            w.linear(&p("ffn_out"), &x.ffn_out);
        }
        w.norm("final.ln", &self.final_ln);
        w.linear("head.dense", &self.head_dense);
        w.gelu("head.gelu", &self.head_gelu);
        w.norm("head.ln", &self.head_ln);
        w.requant("head.decoder", &self.decoder);
        w.i32s("table.exp2", &self.exp2.iter().map(|&x| x as i32).collect::<Vec<_>>());
        w.i32s("table.log2", &self.log2.iter().map(|&x| x as i32).collect::<Vec<_>>());
        let mut meta: HashMap<String, String> = self.meta.clone().into_iter().collect();
        meta.insert("llmzip-int8".into(), VERSION.into());
        let views: Vec<(String, TensorView)> =
            w.0.iter()
                .map(|(k, (d, s, b))| TensorView::new(*d, s.clone(), b).map(|t| (k.clone(), t)))
                .collect::<std::result::Result<_, _>>()
                .map_err(|e| Error::Internal(format!("integer checkpoint: {e}")))?;
        safetensors::tensor::serialize(views, Some(meta))
            .map_err(|e| Error::Internal(format!("integer checkpoint: {e}")))
    }
}

#[derive(Default)]
struct Writer(BTreeMap<String, (Dtype, Vec<usize>, Vec<u8>)>);

impl Writer {
    fn put(&mut self, name: &str, d: Dtype, shape: Vec<usize>, bytes: Vec<u8>) {
        self.0.insert(name.to_string(), (d, shape, bytes));
    }
    fn i8s(&mut self, name: &str, shape: &[usize], v: &[i8]) {
        self.put(name, Dtype::I8, shape.to_vec(), v.iter().map(|&x| x as u8).collect());
    }
    fn i16s(&mut self, name: &str, v: &[i16]) {
        self.put(name, Dtype::I16, vec![v.len()], v.iter().flat_map(|x| x.to_le_bytes()).collect());
    }
    fn i32s(&mut self, name: &str, v: &[i32]) {
        self.put(name, Dtype::I32, vec![v.len()], v.iter().flat_map(|x| x.to_le_bytes()).collect());
    }
    fn i64s(&mut self, name: &str, v: &[i64]) {
        self.put(name, Dtype::I64, vec![v.len()], v.iter().flat_map(|x| x.to_le_bytes()).collect());
    }
    fn requant(&mut self, p: &str, r: &Requant) {
        self.i32s(&format!("{p}.m"), &r.m);
        self.i64s(&format!("{p}.b"), &r.b);
        self.i64s(&format!("{p}.shift"), &[r.shift as i64]);
    }
    fn linear(&mut self, p: &str, l: &Linear) {
        self.i8s(&format!("{p}.w"), &[l.n, l.k], &l.w);
        self.requant(p, &l.rq);
    }
    fn norm(&mut self, p: &str, n: &Norm) {
        self.i32s(&format!("{p}.g"), &n.g);
        self.i64s(&format!("{p}.b"), &n.b);
        self.i64s(&format!("{p}.shift"), &[n.shift as i64]);
        self.i64s(&format!("{p}.eps"), &[n.eps]);
        self.i64s(&format!("{p}.bits"), &[n.out.bits()]);
    }
    fn gelu(&mut self, p: &str, g: &Gelu) {
        self.i16s(&format!("{p}.table"), &g.table);
        self.i64s(&format!("{p}.lin"), &[g.lin_m as i64, g.lin_shift as i64]);
        self.i64s(&format!("{p}.bits"), &[g.out.bits()]);
    }
}
