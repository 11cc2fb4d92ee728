//! Float checkpoint + calibration statistics → integer checkpoint. Weights get one scale per
//! output channel (max |w| / 127); activations one scale per tensor from a quantile of their
//! calibrated magnitudes; every scale product becomes an integer multiplier and shift. This is
//! the only place that computes with floats: the engine reads the integers it writes.

use std::collections::BTreeMap;

use candle_core::Tensor;

use super::calibrate::{act, FloatModel, Stats};
use super::ops::LOGIT_BITS;
use super::params::{Act, Gelu, IntParams, Layer, Linear, Norm, Requant, EXP_BITS, LOG_BITS, MAX_EMB_MUL};
use crate::error::{Error, Result};

/// Choices that trade accuracy against speed.
#[derive(Debug, Clone)]
pub struct Options {
    /// quantile of |x| mapped to the largest activation value (1.0: the maximum)
    pub clip: f64,
    /// type of the LayerNorm outputs inside layers (inputs of Q/K/V and the FFN)
    pub ln: Act,
    /// type of the FFN's GELU outputs
    pub gelu: Act,
    /// type of the final LayerNorm output (input of the head's dense layer)
    pub final_ln: Act,
    /// type of the head's LayerNorm output (input of the output projection)
    pub head: Act,
    /// requantised GELU inputs span -half..=half
    pub gelu_half: usize,
}

impl Default for Options {
    fn default() -> Self {
        Options { clip: 1.0, ln: Act::I8, gelu: Act::I8, final_ln: Act::I8, head: Act::I16, gelu_half: 4096 }
    }
}

fn limit(a: Act) -> f64 {
    match a {
        Act::I8 => 127.0,
        Act::I16 => 16383.0,
        Act::I32 => (1u64 << 30) as f64,
    }
}

fn vec(t: &Tensor) -> Result<Vec<f32>> {
    Ok(t.flatten_all()?.to_vec1::<f32>()?)
}

/// The largest shift ≤ 62 that keeps `max_ratio · 2^shift` below 2^30.
fn shift_for(max_ratio: f64) -> u32 {
    if !(max_ratio > 0.0) {
        return 62;
    }
    ((((1u64 << 30) - 1) as f64 / max_ratio).log2().floor() as i64).clamp(0, 62) as u32
}

fn offset(x: f64, shift: u32) -> i64 {
    (x * 2f64.powi(shift as i32)).round().clamp(-(2f64.powi(61)), 2f64.powi(61)) as i64
}

/// Per-row symmetric int8: values and scales.
fn quant_rows(w: &[f32], k: usize) -> (Vec<i8>, Vec<f64>) {
    let mut q = Vec::with_capacity(w.len());
    let mut s = Vec::with_capacity(w.len() / k.max(1));
    for row in w.chunks_exact(k) {
        let m = row.iter().fold(0f32, |a, &x| a.max(x.abs())) as f64;
        let sc = if m > 0.0 { m / 127.0 } else { 1.0 };
        q.extend(row.iter().map(|&x| (x as f64 / sc).round().clamp(-127.0, 127.0) as i8));
        s.push(sc);
    }
    (q, s)
}

/// Requantisation of a product with input scale `sa`, per-channel weight scales `sw`, float
/// bias `b`, to output unit `so`.
fn requant(sa: f64, sw: &[f64], b: &[f32], so: f64) -> Requant {
    let ratios: Vec<f64> = sw.iter().map(|&s| sa * s / so).collect();
    let mut shift = shift_for(ratios.iter().cloned().fold(0.0, f64::max));
    // keep the offsets inside their bound too
    while shift > 0 && b.iter().any(|&x| (x as f64 / so * 2f64.powi(shift as i32)).abs() > 2f64.powi(61)) {
        shift -= 1;
    }
    Requant {
        m: ratios.iter().map(|r| (r * 2f64.powi(shift as i32)).round() as i32).collect(),
        b: b.iter().map(|&x| offset(x as f64 / so, shift)).collect(),
        shift,
    }
}

/// A float linear layer as int8 weights with requantisation from `sa` to `so`.
fn linear(m: &FloatModel, prefix: &str, sa: f64, so: f64) -> Result<Linear> {
    let w = m.get(&format!("{prefix}.weight"))?;
    let (n, k) = w.dims2()?;
    let (q, sw) = quant_rows(&vec(w)?, k);
    let b = vec(m.get(&format!("{prefix}.bias"))?)?;
    Ok(Linear { n, k, w: q, rq: requant(sa, &sw, &b, so) })
}

/// LayerNorm with float input unit `s_in`, writing `out` values of unit `s_out`.
fn norm(m: &FloatModel, prefix: &str, s_in: f64, s_out: f64, out: Act) -> Result<Norm> {
    let g = vec(m.get(&format!("{prefix}.weight"))?)?;
    let b = vec(m.get(&format!("{prefix}.bias"))?)?;
    let h = g.len() as f64;
    let shift = 16 + shift_for(g.iter().fold(0f64, |a, &x| a.max((x as f64 / s_out).abs()))).min(46);
    Ok(Norm {
        g: g.iter().map(|&x| (x as f64 / s_out * 2f64.powi(shift as i32 - 16)).round() as i32).collect(),
        b: b.iter().map(|&x| offset(x as f64 / s_out, shift)).collect(),
        shift,
        eps: (m.cfg.layer_norm_eps * h * h / (s_in * s_in)).round().clamp(0.0, 2f64.powi(62)) as i64,
        out,
    })
}

/// The GELU table: inputs of unit `s_in` over -half..=half, outputs of unit `s_out`.
fn gelu(a: crate::model::config::Activation, s_in: f64, s_out: f64, half: usize, out: Act) -> Result<Gelu> {
    let xs: Vec<f32> = (0..=2 * half).map(|u| ((u as f64 - half as f64) * s_in) as f32).collect();
    let n = xs.len();
    let ys = vec(&act(a, &Tensor::from_vec(xs, n, &candle_core::Device::Cpu)?)?)?;
    let lim = limit(out).min(i16::MAX as f64);
    let ratio = s_in / s_out;
    let lin_shift = shift_for(ratio);
    Ok(Gelu {
        table: ys.iter().map(|&y| (y as f64 / s_out).round().clamp(-lim, lim) as i16).collect(),
        half,
        lin_m: (ratio * 2f64.powi(lin_shift as i32)).round() as i32,
        lin_shift,
        out,
    })
}

/// `2^30 · 2^(-f/2^EXP_BITS)` and `2^16 · log2(1 + i/2^LOG_BITS)`, rounded.
pub fn exp2_table() -> Vec<u32> {
    (0..1u32 << EXP_BITS)
        .map(|f| (2f64.powi(30) * 2f64.powf(-(f as f64) / (1u32 << EXP_BITS) as f64)).round() as u32)
        .collect()
}

pub fn log2_table() -> Vec<u32> {
    let n = 1u32 << LOG_BITS;
    (0..=n).map(|i| ((1.0 + i as f64 / n as f64).log2() * 2f64.powi(LOGIT_BITS as i32)).round() as u32).collect()
}

/// Layer `l`: its inputs and outputs in the residual stream's unit `s_res`, its activations in
/// the units `scale` gives from calibration.
fn layer(m: &FloatModel, l: usize, s_res: f64, scale: &dyn Fn(&str, Act) -> Result<f64>, o: &Options) -> Result<Layer> {
    let (cfg, n) = (m.cfg, m.names);
    let hd = cfg.hidden / cfg.heads;
    let p = n.layer.replace("{}", &l.to_string());
    let k = |s: &str| format!("layer.{l}.{s}");
    let (s_ln1, s_ln2) = (scale(&k("ln1"), o.ln)?, scale(&k("ln2"), o.ln)?);
    let (sq, sk, sv) = (scale(&k("q"), Act::I8)?, scale(&k("k"), Act::I8)?, scale(&k("v"), Act::I8)?);
    let s_gin = scale(&k("gelu_in"), Act::I32)? * limit(Act::I32) / o.gelu_half as f64;
    let s_gout = scale(&k("gelu_out"), o.gelu)?;
    let score = sq * sk / (hd as f64).sqrt() * std::f64::consts::LOG2_E * (1u32 << EXP_BITS) as f64;
    let score_shift = shift_for(score);
    Ok(Layer {
        ln1: norm(m, &format!("{p}.{}", n.attn_norm), s_res, s_ln1, o.ln)?,
        q: linear(m, &format!("{p}.{}", n.q), s_ln1, sq)?,
        k: linear(m, &format!("{p}.{}", n.k), s_ln1, sk)?,
        v: linear(m, &format!("{p}.{}", n.v), s_ln1, sv)?,
        score_m: (score * 2f64.powi(score_shift as i32)).round() as i64,
        score_shift,
        o: linear(m, &format!("{p}.{}", n.attn_out), sv, s_res)?,
        ln2: norm(m, &format!("{p}.{}", n.ffn_norm), s_res, s_ln2, o.ln)?,
        ffn_in: linear(m, &format!("{p}.{}", n.ffn_in), s_ln2, s_gin)?,
        gelu: gelu(cfg.activation, s_gin, s_gout, o.gelu_half, o.gelu)?,
        ffn_out: linear(m, &format!("{p}.{}", n.ffn_out), s_gout, s_res)?,
    })
}

/// Builds the integer checkpoint of `m` from calibration statistics.
pub fn build(m: &FloatModel, st: &Stats, o: &Options) -> Result<IntParams> {
    let (cfg, n) = (m.cfg, m.names);
    let h = cfg.hidden;
    let scale =
        |name: &str, t: Act| -> Result<f64> { Ok((st.get(name)?.quantile(o.clip) as f64).max(1e-6) / limit(t)) };
    // residual stream: the calibrated maximum at 2^22, leaving 2^8 of headroom below 2^30
    let resid_max = st.get("resid")?.max.max(1e-3) as f64;
    let fr = (2f64.powi(22) / resid_max).log2().floor();
    let s_res = 2f64.powf(-fr);
    let word = m.get(&format!("{}.weight", n.word))?;
    if let Some(d) = m.t.get(&format!("{}.weight", n.head_decoder)) {
        if vec(d)? != vec(word)? {
            return Err(Error::model("quantize", "the output projection is not tied to the word embeddings"));
        }
    }
    let (wq, ws) = quant_rows(&vec(word)?, h);
    let mut pos = m.get(&format!("{}.weight", n.position))?.clone();
    if let Some(tt) = &n.token_type {
        pos = pos.broadcast_add(&m.get(&format!("{tt}.weight"))?.narrow(0, 0, 1)?)?;
    }
    let (pq, ps) = quant_rows(&vec(&pos)?, h);
    let smax = ws.iter().chain(&ps).cloned().fold(0.0, f64::max);
    let fe = (((MAX_EMB_MUL - 1) as f64) / smax).log2().floor();
    let emb_mul = |s: &[f64]| s.iter().map(|&x| (x * 2f64.powf(fe)).round() as i32).collect::<Vec<_>>();
    let mut layers = Vec::with_capacity(cfg.layers);
    for l in 0..cfg.layers {
        layers.push(layer(m, l, s_res, &scale, o)?);
    }
    let s_fin = scale("final.ln", o.final_ln)?;
    let s_hin = scale("head.gelu_in", Act::I32)? * limit(Act::I32) / o.gelu_half as f64;
    let s_hout = scale("head.gelu_out", Act::I16)?;
    let s_head = scale("head.ln", o.head)?;
    let fin = n.final_norm.as_deref().ok_or_else(|| Error::Internal("pre-LN names without a final norm".into()))?;
    let bias = vec(m.head_bias()?)?;
    let s_logit = std::f64::consts::LN_2 / 2f64.powi(LOGIT_BITS as i32);
    let mut meta = BTreeMap::new();
    meta.insert("residual_bits".into(), format!("{fr}"));
    meta.insert("embedding_bits".into(), format!("{fe}"));
    meta.insert("clip".into(), format!("{}", o.clip));
    Ok(IntParams {
        vocab: cfg.vocab_size,
        hidden: h,
        heads: cfg.heads,
        inter: cfg.intermediate,
        positions: cfg.max_positions,
        position_offset: cfg.position_offset,
        word: wq,
        word_m: emb_mul(&ws),
        pos: pq,
        pos_m: emb_mul(&ps),
        emb_ln: norm(m, &n.emb_norm, 2f64.powf(-fe), s_res, Act::I32)?,
        layers,
        final_ln: norm(m, fin, s_res, s_fin, o.final_ln)?,
        head_dense: linear(m, &n.head_dense, s_fin, s_hin)?,
        head_gelu: gelu(cfg.head_activation, s_hin, s_hout, o.gelu_half, Act::I16)?,
        head_ln: norm(m, &n.head_norm, s_hout, s_head, o.head)?,
        decoder: requant(s_head, &ws, &bias, s_logit),
        exp2: exp2_table(),
        log2: log2_table(),
        meta,
    })
}
