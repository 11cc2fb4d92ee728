//! The transformer encoder shared by BERT, RoBERTa and DistilBERT (post-LayerNorm) and
//! RoBERTa-PreLayerNorm, written on candle-nn. Each architecture file only maps tensor names
//! onto [`Names`]. The file format depends on these numerics (docs/FORMAT.md), so this is our
//! own code rather than candle-transformers', whose MLM heads lack the lm_head bias and
//! require an untied decoder.
//!
//! Post-LN layer: `x = LN1(x + Attn(x)); x = LN2(x + FFN(x))`.
//! Pre-LN layer: `x = x + Attn(LN1(x)); x = x + FFN(LN2(x))`, and one more LayerNorm after
//! the last layer.

use candle_core::{DType, Device, IndexOp, Module, Tensor, D};
use candle_nn::{Embedding, LayerNorm, Linear, VarBuilder};

use super::config::{Activation, ModelConfig};
pub use super::dropout::Dropout;

pub struct Names {
    pub word: String,
    pub position: String,
    pub token_type: Option<String>,
    pub emb_norm: String,
    /// layer prefix with `{}` for the index
    pub layer: String,
    pub q: &'static str,
    pub k: &'static str,
    pub v: &'static str,
    pub attn_out: &'static str,
    pub attn_norm: &'static str,
    pub ffn_in: &'static str,
    pub ffn_out: &'static str,
    pub ffn_norm: &'static str,
    /// pre-LN only: the LayerNorm after the last layer
    pub final_norm: Option<String>,
    pub head_dense: String,
    pub head_norm: String,
    pub head_decoder: String,
    /// candidates for the output bias, first found wins
    pub head_bias: Vec<String>,
}

impl Names {
    /// The same names with the encoder's prefix `from` (e.g. `bert.`) replaced by `to`:
    /// architectures that reuse BERT's encoder under another name.
    pub fn with_prefix(self, from: &str, to: &str) -> Names {
        let re = |s: String| s.replacen(from, to, 1);
        Names {
            word: re(self.word),
            position: re(self.position),
            token_type: self.token_type.map(re),
            emb_norm: re(self.emb_norm),
            layer: re(self.layer),
            ..self
        }
    }
}

struct Layer {
    q: Linear,
    k: Linear,
    v: Linear,
    o: Linear,
    norm1: LayerNorm,
    ffn_in: Linear,
    ffn_out: Linear,
    norm2: LayerNorm,
}

pub struct Encoder {
    pub cfg: ModelConfig,
    word: Embedding,
    position: Embedding,
    token_type: Option<Embedding>,
    emb_norm: LayerNorm,
    layers: Vec<Layer>,
    /// present exactly for pre-LN models
    final_norm: Option<LayerNorm>,
    head_dense: Linear,
    head_norm: LayerNorm,
    decoder_w: Tensor,
    decoder_b: Tensor,
    device: Device,
}

fn linear(vb: &VarBuilder, name: &str, i: usize, o: usize) -> candle_core::Result<Linear> {
    candle_nn::linear(i, o, vb.pp(name))
}

fn norm(vb: &VarBuilder, name: &str, h: usize, eps: f64) -> candle_core::Result<LayerNorm> {
    candle_nn::layer_norm(h, eps, vb.pp(name))
}

fn act(a: Activation, x: &Tensor) -> candle_core::Result<Tensor> {
    match a {
        Activation::GeluErf => x.gelu_erf(),
        Activation::GeluTanh => x.gelu(),
        Activation::Relu => x.relu(),
    }
}

impl Encoder {
    pub fn load(cfg: ModelConfig, vb: VarBuilder, n: &Names) -> candle_core::Result<Self> {
        let h = cfg.hidden;
        let eps = cfg.layer_norm_eps;
        let word = candle_nn::embedding(cfg.vocab_size, h, vb.pp(&n.word))?;
        let position = candle_nn::embedding(cfg.max_positions, h, vb.pp(&n.position))?;
        let token_type = match &n.token_type {
            Some(t) if cfg.type_vocab_size > 0 => Some(candle_nn::embedding(cfg.type_vocab_size, h, vb.pp(t))?),
            _ => None,
        };
        let emb_norm = norm(&vb, &n.emb_norm, h, eps)?;
        let mut layers = Vec::with_capacity(cfg.layers);
        for i in 0..cfg.layers {
            let lv = vb.pp(n.layer.replace("{}", &i.to_string()));
            layers.push(Layer {
                q: linear(&lv, n.q, h, h)?,
                k: linear(&lv, n.k, h, h)?,
                v: linear(&lv, n.v, h, h)?,
                o: linear(&lv, n.attn_out, h, h)?,
                norm1: norm(&lv, n.attn_norm, h, eps)?,
                ffn_in: linear(&lv, n.ffn_in, h, cfg.intermediate)?,
                ffn_out: linear(&lv, n.ffn_out, cfg.intermediate, h)?,
                norm2: norm(&lv, n.ffn_norm, h, eps)?,
            });
        }
        let final_norm = match &n.final_norm {
            Some(f) if cfg.arch.pre_layer_norm() => Some(norm(&vb, f, h, eps)?),
            _ if cfg.arch.pre_layer_norm() => candle_core::bail!("pre-LayerNorm model without a final LayerNorm name"),
            _ => None,
        };
        let head_dense = linear(&vb, &n.head_dense, h, h)?;
        let head_norm = norm(&vb, &n.head_norm, h, eps)?;
        // Real checkpoints omit the decoder weight because it is tied to the word embeddings.
        let dw_name = format!("{}.weight", n.head_decoder);
        let decoder_w = if vb.contains_tensor(&dw_name) {
            vb.get((cfg.vocab_size, h), &dw_name)?
        } else {
            word.embeddings().clone()
        };
        let mut decoder_b = None;
        for b in &n.head_bias {
            if vb.contains_tensor(b) {
                decoder_b = Some(vb.get(cfg.vocab_size, b)?);
                break;
            }
        }
        let decoder_b = match decoder_b {
            Some(b) => b,
            // A VarMap-backed builder (training from scratch) creates the first name.
            None => vb.get_with_hints(cfg.vocab_size, &n.head_bias[0], candle_nn::Init::Const(0.0))?,
        };
        let device = vb.device().clone();
        Ok(Encoder {
            cfg,
            word,
            position,
            token_type,
            emb_norm,
            layers,
            final_norm,
            head_dense,
            head_norm,
            decoder_w,
            decoder_b,
            device,
        })
    }

    pub fn device(&self) -> &Device {
        &self.device
    }

    /// Hidden states `[B, T, H]` for ids `[B, T]` (u32) and a key mask `[B, T]` (1 = real token);
    /// for a pre-LN model, before the final LayerNorm. `dropout` is used only in training; it
    /// is our own, seeded (candle-transformers' dropout is a no-op and candle's own draws from
    /// an unseeded RNG).
    pub fn hidden(
        &self,
        ids: &Tensor,
        mask: &Tensor,
        mut dropout: Option<&mut Dropout>,
    ) -> candle_core::Result<Tensor> {
        let train = dropout.is_some().then_some(self.cfg.layer_norm_eps);
        let mut x = self.embed(ids, train, &mut dropout)?;
        let bias = self.attn_bias(mask)?;
        for l in &self.layers {
            x = self.layer(l, x, &bias, train, &mut dropout)?;
        }
        Ok(x)
    }

    /// The additive attention bias for a key mask `[B, T]`: `[B, 1, 1, T]` (padding keys), and
    /// for a causal model `[B, 1, T, T]` with the keys after each query masked too.
    fn attn_bias(&self, mask: &Tensor) -> candle_core::Result<Tensor> {
        let bias = key_bias(mask)?;
        if !self.cfg.causal {
            return Ok(bias);
        }
        bias.broadcast_add(&causal_bias(mask.dim(1)?, mask.device())?)
    }

    /// Word, position and segment embeddings, normalised: the first layer's input.
    fn embed(
        &self,
        ids: &Tensor,
        train: Option<f64>,
        dropout: &mut Option<&mut Dropout>,
    ) -> candle_core::Result<Tensor> {
        let (_, t) = ids.dims2()?;
        let off = self.cfg.position_offset as u32;
        let pos = Tensor::arange(off, off + t as u32, &self.device)?;
        let mut x = self.word.forward(ids)?.broadcast_add(&self.position.forward(&pos)?.unsqueeze(0)?)?;
        if let Some(tt) = &self.token_type {
            // all segment ids are 0
            x = x.broadcast_add(&tt.embeddings().i(0)?.reshape((1, 1, self.cfg.hidden))?)?;
        }
        Dropout::maybe(dropout, layer_norm(&self.emb_norm, &x, train)?)
    }

    /// One layer, pre- or post-LN.
    fn layer(
        &self,
        l: &Layer,
        x: Tensor,
        bias: &Tensor,
        train: Option<f64>,
        dropout: &mut Option<&mut Dropout>,
    ) -> candle_core::Result<Tensor> {
        if self.final_norm.is_some() {
            let ctx = self.attend(l, &layer_norm(&l.norm1, &x, train)?, bias, dropout)?;
            let x = (Dropout::maybe(dropout, l.o.forward(&ctx)?)? + &x)?;
            let f = self.ffn(l, &layer_norm(&l.norm2, &x, train)?, dropout)?;
            f + &x
        } else {
            let ctx = self.attend(l, &x, bias, dropout)?;
            let x = layer_norm(&l.norm1, &(Dropout::maybe(dropout, l.o.forward(&ctx)?)? + &x)?, train)?;
            let f = self.ffn(l, &x, dropout)?;
            layer_norm(&l.norm2, &(f + &x)?, train)
        }
    }

    /// Pre-LN inference of the rows at the flat positions `sel` (`[N, H]`, before the final
    /// LayerNorm). Everything after the last layer's attention is row-wise, so its output
    /// projection and feed-forward block run on the selected rows only: with several rounds
    /// most positions of a call are context, and this saves most of one layer (14-18% of the
    /// CPU time of llmzip-small-1 and -medium-1 calls at two to four rounds).
    fn pre_ln_rows(&self, ids: &Tensor, mask: &Tensor, sel: &Tensor) -> candle_core::Result<Tensor> {
        let mut none = None;
        let mut x = self.embed(ids, None, &mut none)?;
        let (b, t, h) = x.dims3()?;
        let pick = |y: &Tensor| y.reshape((b * t, h))?.index_select(sel, 0);
        let Some((last, rest)) = self.layers.split_last() else { return pick(&x) };
        let bias = self.attn_bias(mask)?;
        for l in rest {
            x = self.layer(l, x, &bias, None, &mut none)?;
        }
        let ctx = self.attend(last, &layer_norm(&last.norm1, &x, None)?, &bias, &mut none)?;
        let x = (last.o.forward(&pick(&ctx)?)? + pick(&x)?)?;
        let f = self.ffn(last, &layer_norm(&last.norm2, &x, None)?, &mut none)?;
        f + &x
    }

    /// Self-attention of one layer: the heads' context `[B, T, H]`, before the output
    /// projection. The additive `bias` is 0 where attended and -1e9 on padding keys (and, in a
    /// causal model, on keys after the query).
    fn attend(
        &self,
        l: &Layer,
        x: &Tensor,
        bias: &Tensor,
        dropout: &mut Option<&mut Dropout>,
    ) -> candle_core::Result<Tensor> {
        let (b, t, _) = x.dims3()?;
        let heads = self.cfg.heads;
        let hd = self.cfg.hidden / heads;
        let scale = 1.0 / (hd as f64).sqrt();
        let split =
            |y: Tensor| -> candle_core::Result<Tensor> { y.reshape((b, t, heads, hd))?.transpose(1, 2)?.contiguous() };
        let q = split(l.q.forward(x)?)?;
        let k = split(l.k.forward(x)?)?;
        let v = split(l.v.forward(x)?)?;
        let scores = (q.matmul(&k.t()?)? * scale)?.broadcast_add(bias)?;
        // the fused softmax, like the fused LayerNorm, records no backward pass
        let probs = match dropout {
            None => candle_nn::ops::softmax_last_dim(&scores)?,
            Some(_) => candle_nn::ops::softmax(&scores, D::Minus1)?,
        };
        let probs = Dropout::maybe(dropout, probs)?;
        probs.matmul(&v)?.transpose(1, 2)?.reshape((b, t, self.cfg.hidden))
    }

    /// The feed-forward block of one layer (before the residual add).
    fn ffn(&self, l: &Layer, x: &Tensor, dropout: &mut Option<&mut Dropout>) -> candle_core::Result<Tensor> {
        let f = l.ffn_in.forward(x)?;
        Dropout::maybe(dropout, l.ffn_out.forward(&act(self.cfg.activation, &f)?)?)
    }

    /// Vocabulary logits `[N, V]` for the hidden states at the flat positions `sel` (index into
    /// `B*T`). Only the selected rows go through the output projection: it dominates small models.
    pub fn logits_at(&self, hidden: &Tensor, sel: &Tensor) -> candle_core::Result<Tensor> {
        self.logits(hidden, sel, None)
    }

    /// `logits_at` with gradients through every parameter (training).
    pub fn logits_at_for_training(&self, hidden: &Tensor, sel: &Tensor) -> candle_core::Result<Tensor> {
        self.logits(hidden, sel, Some(self.cfg.layer_norm_eps))
    }

    fn logits(&self, hidden: &Tensor, sel: &Tensor, train: Option<f64>) -> candle_core::Result<Tensor> {
        let (b, t, h) = hidden.dims3()?;
        self.head(&hidden.reshape((b * t, h))?.index_select(sel, 0)?, train)
    }

    /// The MLM head on rows `[N, H]` of the last layer (after the final LayerNorm of a pre-LN
    /// model, which is row-wise and so runs on these rows only).
    fn head(&self, rows: &Tensor, train: Option<f64>) -> candle_core::Result<Tensor> {
        let rows = match &self.final_norm {
            Some(n) => layer_norm(n, rows, train)?,
            None => rows.clone(),
        };
        let y = layer_norm(&self.head_norm, &act(self.cfg.head_activation, &self.head_dense.forward(&rows)?)?, train)?;
        y.matmul(&self.decoder_w.t()?)?.broadcast_add(&self.decoder_b)
    }

    pub fn log_probs_at(&self, ids: &Tensor, mask: &Tensor, sel: &Tensor) -> candle_core::Result<Tensor> {
        // From 16 rows on, the matrix kernels give each selected row the bits the full
        // computation gives it (measured on every plan shape); with one or two rows they take
        // a matrix-vector path that rounds differently, so small calls compute every row.
        let logits = if self.final_norm.is_some() && sel.dim(0)? >= ROWS_ONLY_FROM {
            self.head(&self.pre_ln_rows(ids, mask, sel)?, None)?
        } else {
            self.logits_at(&self.hidden(ids, mask, None)?, sel)?
        };
        candle_nn::ops::log_softmax(&logits, D::Minus1)
    }
}

/// Fewest selected rows for which a pre-LN model computes its last layer on those rows only.
pub const ROWS_ONLY_FROM: usize = 16;

/// The additive attention bias `[B, 1, 1, T]` for a key mask `[B, T]`: 0 on real tokens,
/// -1e9 on padding.
fn key_bias(mask: &Tensor) -> candle_core::Result<Tensor> {
    let (b, t) = mask.dims2()?;
    ((mask.to_dtype(DType::F32)? - 1.0)? * 1e9)?.reshape((b, 1, 1, t))
}

/// The additive attention bias `[1, 1, T, T]` of a causal model: -1e9 on the keys after each
/// query.
pub fn causal_bias(t: usize, device: &Device) -> candle_core::Result<Tensor> {
    let later: Vec<f32> = (0..t * t).map(|k| if k % t > k / t { -1e9 } else { 0.0 }).collect();
    Tensor::from_vec(later, (1, 1, t, t), device)
}

/// LayerNorm; `train` holds epsilon when training. Inference uses candle's fused kernel, whose
/// numbers are part of the file format. That kernel records no backward pass, so it would cut
/// the gradient at every LayerNorm and leave only the output embeddings and bias learning (a
/// model that predicts word frequencies whatever the context): training uses the same formula
/// from differentiable operations.
fn layer_norm(n: &LayerNorm, x: &Tensor, train: Option<f64>) -> candle_core::Result<Tensor> {
    let Some(eps) = train else { return n.forward(x) };
    let bias = n.bias().ok_or_else(|| candle_core::Error::Msg("LayerNorm without bias".into()))?;
    candle_nn::ops::layer_norm_slow(x, n.weight(), bias, eps as f32)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::candle::CandleLm;
    use crate::model::DeviceSpec;

    /// The pre-LN shortcut (last layer after attention on the selected rows only) gives the
    /// bits of the full computation, for calls shaped like the plans' (padding included).
    #[test]
    fn pre_ln_rows_only_equals_the_full_computation() {
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/tiny-roberta-prelayernorm/");
        let read = |f: &str| std::fs::read(format!("{dir}{f}")).unwrap();
        let lm = CandleLm::load("t", &read("config.json"), &[&read("model.safetensors")], DeviceSpec::Cpu).unwrap();
        let e = &lm.encoder;
        let dev = Device::Cpu;
        for (b, t, per) in [(32usize, 42usize, 32usize), (32, 98, 8), (8, 130, 2), (5, 20, 4), (2, 10, 1)] {
            let ids: Vec<u32> = (0..(b * t) as u32).map(|j| if j % 5 == 0 { 4 } else { 5 + (j * 7) % 590 }).collect();
            // the last sequence is shorter: padded
            let m: Vec<u8> = (0..b * t).map(|j| u8::from(j < (b - 1) * t + t / 2)).collect();
            let ids = Tensor::from_vec(ids, (b, t), &dev).unwrap();
            let mask = Tensor::from_vec(m, (b, t), &dev).unwrap();
            let sel: Vec<u32> =
                (0..b).flat_map(|i| (0..per).map(move |p| (i * t + 1 + p * (t / 2 - 2) / per) as u32)).collect();
            let n = sel.len();
            let sel = Tensor::from_vec(sel, n, &dev).unwrap();
            let fast = e.log_probs_at(&ids, &mask, &sel).unwrap().flatten_all().unwrap().to_vec1::<f32>().unwrap();
            let full = candle_nn::ops::log_softmax(
                &e.logits_at(&e.hidden(&ids, &mask, None).unwrap(), &sel).unwrap(),
                D::Minus1,
            );
            let full = full.unwrap().flatten_all().unwrap().to_vec1::<f32>().unwrap();
            assert!(fast == full, "b{b} t{t} sel{n}: rows-only and full computations differ");
        }
    }
}
