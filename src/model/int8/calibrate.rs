//! Calibration: the float model run on sample text, recording the magnitude of every
//! activation the integer engine stores (the residual stream, LayerNorm outputs, Q/K/V, GELU
//! inputs and outputs, the head), from which `quantize` chooses their scales. The forward
//! pass follows the pre-LN encoder of `transformer.rs` op for op, in candle f32.

use std::collections::{BTreeMap, HashMap};

use candle_core::{DType, Device, Tensor, D};

use crate::error::{Error, Result};
use crate::model::config::{Activation, ModelConfig};
use crate::model::transformer::Names;

/// Magnitudes seen at one activation point: the largest, and a histogram of log2|x| in
/// steps of 1/64 for quantiles.
#[derive(Debug, Clone)]
pub struct Stat {
    pub max: f32,
    hist: Vec<u64>,
    count: u64,
}

const LOG_MIN: f64 = -30.0;
const BINS_PER_OCTAVE: f64 = 64.0;
const BINS: usize = 60 * 64;

impl Default for Stat {
    fn default() -> Self {
        Stat { max: 0.0, hist: vec![0; BINS], count: 0 }
    }
}

impl Stat {
    fn add(&mut self, xs: &[f32]) {
        for &x in xs {
            let a = x.abs();
            if !a.is_finite() {
                continue;
            }
            self.max = self.max.max(a);
            let b = ((a.max(1e-9) as f64).log2() - LOG_MIN) * BINS_PER_OCTAVE;
            self.hist[(b.max(0.0) as usize).min(BINS - 1)] += 1;
            self.count += 1;
        }
    }

    /// The magnitude below which a fraction `q` of the values lie (`q ≥ 1`: the maximum).
    pub fn quantile(&self, q: f64) -> f32 {
        if q >= 1.0 || self.count == 0 {
            return self.max;
        }
        let want = (q * self.count as f64).ceil() as u64;
        let mut seen = 0;
        for (i, &c) in self.hist.iter().enumerate() {
            seen += c;
            if seen >= want {
                let v = 2f64.powf((i + 1) as f64 / BINS_PER_OCTAVE + LOG_MIN) as f32;
                return v.min(self.max);
            }
        }
        self.max
    }
}

/// Statistics by activation point (`resid`, `layer.{l}.ln1`, `layer.{l}.q`, …, `head.ln`).
#[derive(Debug, Default)]
pub struct Stats(pub BTreeMap<String, Stat>);

impl Stats {
    fn record(&mut self, name: &str, t: &Tensor) -> Result<()> {
        let v = t.flatten_all()?.to_dtype(DType::F32)?.to_vec1::<f32>()?;
        self.0.entry(name.to_string()).or_default().add(&v);
        Ok(())
    }

    pub fn get(&self, name: &str) -> Result<&Stat> {
        self.0.get(name).ok_or_else(|| Error::Internal(format!("no calibration statistics for {name}")))
    }
}

/// A float pre-LN model built from its checkpoint tensors.
pub struct FloatModel<'a> {
    pub cfg: &'a ModelConfig,
    pub t: &'a HashMap<String, Tensor>,
    pub names: &'a Names,
}

fn linear(x: &Tensor, w: &Tensor, b: &Tensor) -> Result<Tensor> {
    Ok(x.broadcast_matmul(&w.t()?)?.broadcast_add(b)?)
}

pub fn act(a: Activation, x: &Tensor) -> Result<Tensor> {
    Ok(match a {
        Activation::GeluErf => x.gelu_erf()?,
        Activation::GeluTanh => x.gelu()?,
        Activation::Relu => x.relu()?,
    })
}

impl FloatModel<'_> {
    pub fn get(&self, name: &str) -> Result<&Tensor> {
        self.t.get(name).ok_or_else(|| Error::model("calibration", format!("tensor {name} is missing")))
    }

    fn norm(&self, prefix: &str, x: &Tensor) -> Result<Tensor> {
        let (w, b) = (self.get(&format!("{prefix}.weight"))?, self.get(&format!("{prefix}.bias"))?);
        Ok(candle_nn::ops::layer_norm_slow(x, w, b, self.cfg.layer_norm_eps as f32)?)
    }

    fn lin(&self, prefix: &str, x: &Tensor) -> Result<Tensor> {
        linear(x, self.get(&format!("{prefix}.weight"))?, self.get(&format!("{prefix}.bias"))?)
    }

    /// Runs `ids` (`[B, T]`, no padding) and records statistics; returns log-probabilities
    /// `[B·T, V]`. A causal model's rows attend to the rows at or before them only.
    pub fn run(&self, ids: &Tensor, st: &mut Stats) -> Result<Tensor> {
        let (cfg, n) = (self.cfg, self.names);
        let (b, t) = ids.dims2()?;
        let h = cfg.hidden;
        let word = self.get(&format!("{}.weight", n.word))?;
        let pos = self.get(&format!("{}.weight", n.position))?.narrow(0, cfg.position_offset, t)?;
        let mut x = word.index_select(&ids.flatten_all()?, 0)?.reshape((b, t, h))?.broadcast_add(&pos)?;
        if let Some(tt) = &n.token_type {
            x = x.broadcast_add(&self.get(&format!("{tt}.weight"))?.narrow(0, 0, 1)?)?;
        }
        x = self.norm(&n.emb_norm, &x)?;
        st.record("resid", &x)?;
        let heads = cfg.heads;
        let hd = h / heads;
        for l in 0..cfg.layers {
            let p = n.layer.replace("{}", &l.to_string());
            let name = |s: &str| format!("layer.{l}.{s}");
            let a = self.norm(&format!("{p}.{}", n.attn_norm), &x)?;
            st.record(&name("ln1"), &a)?;
            let split =
                |y: &Tensor| -> Result<Tensor> { Ok(y.reshape((b, t, heads, hd))?.transpose(1, 2)?.contiguous()?) };
            let q = self.lin(&format!("{p}.{}", n.q), &a)?;
            let k = self.lin(&format!("{p}.{}", n.k), &a)?;
            let v = self.lin(&format!("{p}.{}", n.v), &a)?;
            st.record(&name("q"), &q)?;
            st.record(&name("k"), &k)?;
            st.record(&name("v"), &v)?;
            let mut scores = (split(&q)?.matmul(&split(&k)?.t()?)? / (hd as f64).sqrt())?;
            if cfg.causal {
                scores = scores.broadcast_add(&crate::model::transformer::causal_bias(t, ids.device())?)?;
            }
            let probs = candle_nn::ops::softmax(&scores, D::Minus1)?;
            let ctx = probs.matmul(&split(&v)?)?.transpose(1, 2)?.reshape((b, t, h))?;
            x = (x + self.lin(&format!("{p}.{}", n.attn_out), &ctx)?)?;
            st.record("resid", &x)?;
            let a = self.norm(&format!("{p}.{}", n.ffn_norm), &x)?;
            st.record(&name("ln2"), &a)?;
            let f = self.lin(&format!("{p}.{}", n.ffn_in), &a)?;
            st.record(&name("gelu_in"), &f)?;
            let g = act(cfg.activation, &f)?;
            st.record(&name("gelu_out"), &g)?;
            x = (x + self.lin(&format!("{p}.{}", n.ffn_out), &g)?)?;
            st.record("resid", &x)?;
        }
        let fin = n.final_norm.as_deref().ok_or_else(|| Error::Internal("pre-LN names without a final norm".into()))?;
        let y = self.norm(fin, &x.reshape((b * t, h))?)?;
        st.record("final.ln", &y)?;
        let d = self.lin(&n.head_dense, &y)?;
        st.record("head.gelu_in", &d)?;
        let g = act(cfg.head_activation, &d)?;
        st.record("head.gelu_out", &g)?;
        let y = self.norm(&n.head_norm, &g)?;
        st.record("head.ln", &y)?;
        let logits = linear(&y, word, self.head_bias()?)?;
        st.record("logits", &logits)?;
        Ok(candle_nn::ops::log_softmax(&logits, D::Minus1)?)
    }

    pub fn head_bias(&self) -> Result<&Tensor> {
        self.names
            .head_bias
            .iter()
            .find_map(|b| self.t.get(b))
            .ok_or_else(|| Error::model("calibration", "no output bias"))
    }
}

/// The CPU device calibration runs on.
pub fn device() -> Device {
    Device::Cpu
}
