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

    /// Hidden states `[B, T, H]` for ids `[B, T]` (u32) and a key mask `[B, T]` (1 = real token).
    /// `dropout` is used only in training; it is our own, seeded (candle-transformers' dropout
    /// is a no-op and candle's own draws from an unseeded RNG).
    pub fn hidden(
        &self,
        ids: &Tensor,
        mask: &Tensor,
        mut dropout: Option<&mut Dropout>,
    ) -> candle_core::Result<Tensor> {
        let (b, t) = ids.dims2()?;
        let off = self.cfg.position_offset as u32;
        let pos = Tensor::arange(off, off + t as u32, &self.device)?;
        let mut x = self.word.forward(ids)?.broadcast_add(&self.position.forward(&pos)?.unsqueeze(0)?)?;
        if let Some(tt) = &self.token_type {
            // all segment ids are 0
            x = x.broadcast_add(&tt.embeddings().i(0)?.reshape((1, 1, self.cfg.hidden))?)?;
        }
        let train = dropout.is_some().then_some(self.cfg.layer_norm_eps);
        x = Dropout::maybe(&mut dropout, layer_norm(&self.emb_norm, &x, train)?)?;
        let bias = ((mask.to_dtype(DType::F32)? - 1.0)? * 1e9)?.reshape((b, 1, 1, t))?;
        let pre = self.final_norm.is_some();
        for l in &self.layers {
            if pre {
                let a = self.attention(l, &layer_norm(&l.norm1, &x, train)?, &bias, &mut dropout)?;
                x = (a + &x)?;
                let f = self.ffn(l, &layer_norm(&l.norm2, &x, train)?, &mut dropout)?;
                x = (f + &x)?;
            } else {
                let a = self.attention(l, &x, &bias, &mut dropout)?;
                x = layer_norm(&l.norm1, &(a + &x)?, train)?;
                let f = self.ffn(l, &x, &mut dropout)?;
                x = layer_norm(&l.norm2, &(f + &x)?, train)?;
            }
        }
        Ok(x)
    }

    /// Self-attention of one layer and its output projection (before the residual add).
    /// The additive `bias` is 0 where attended and -1e9 on padding keys.
    fn attention(
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
        let ctx = probs.matmul(&v)?.transpose(1, 2)?.reshape((b, t, self.cfg.hidden))?;
        Dropout::maybe(dropout, l.o.forward(&ctx)?)
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
        let rows = hidden.reshape((b * t, h))?.index_select(sel, 0)?;
        // LayerNorm is row-wise: the final one of a pre-LN model runs on the selected rows only
        let rows = match &self.final_norm {
            Some(n) => layer_norm(n, &rows, train)?,
            None => rows,
        };
        let y = layer_norm(&self.head_norm, &act(self.cfg.head_activation, &self.head_dense.forward(&rows)?)?, train)?;
        y.matmul(&self.decoder_w.t()?)?.broadcast_add(&self.decoder_b)
    }

    pub fn log_probs_at(&self, ids: &Tensor, mask: &Tensor, sel: &Tensor) -> candle_core::Result<Tensor> {
        let h = self.hidden(ids, mask, None)?;
        candle_nn::ops::log_softmax(&self.logits_at(&h, sel)?, D::Minus1)
    }
}

/// LayerNorm; `train` holds epsilon when training. Inference uses candle's fused kernel, whose numbers are part of the file
/// format. That kernel records no backward pass, so it would cut the gradient at every
/// LayerNorm and leave only the output embeddings and bias learning (the bug behind the first
/// default model, which predicted word frequencies whatever the context): training uses the
/// same formula from differentiable operations.
fn layer_norm(n: &LayerNorm, x: &Tensor, train: Option<f64>) -> candle_core::Result<Tensor> {
    let Some(eps) = train else { return n.forward(x) };
    let bias = n.bias().ok_or_else(|| candle_core::Error::Msg("LayerNorm without bias".into()))?;
    candle_nn::ops::layer_norm_slow(x, n.weight(), bias, eps as f32)
}

/// Seeded inverted dropout for training.
pub struct Dropout {
    pub p: f32,
    pub rng: rand_chacha::ChaCha8Rng,
}

impl Dropout {
    fn maybe(d: &mut Option<&mut Dropout>, x: Tensor) -> candle_core::Result<Tensor> {
        match d {
            Some(d) if d.p > 0.0 => d.apply(&x),
            _ => Ok(x),
        }
    }

    pub fn apply(&mut self, x: &Tensor) -> candle_core::Result<Tensor> {
        use rand::Rng;
        let keep = 1.0 - self.p;
        let scale = 1.0 / keep;
        let m: Vec<f32> =
            (0..x.elem_count()).map(|_| if self.rng.random::<f32>() < keep { scale } else { 0.0 }).collect();
        x * Tensor::from_vec(m, x.shape(), x.device())?
    }
}
