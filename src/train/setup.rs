//! Where a training run starts: a checkpoint (`--resume`), a new tokenizer and model
//! (`--from-scratch`), or an existing model.

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;

use candle_core::{DType, Device, Tensor, Var};
use candle_nn::{VarBuilder, VarMap};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use super::checkpoint::{self, State};
use super::{corpus, scratch, TrainOptions};
use crate::error::{Error, Result};
use crate::model::candle::{names_for, read_weights};
use crate::model::config::ModelConfig;
use crate::model::transformer::Encoder;
use crate::text::LosslessTokenizer;

/// A model being trained: its files' text, the trainable variables and the encoder over them.
pub struct Setup {
    pub cfg_json: String,
    pub tokenizer_json: String,
    pub cfg: ModelConfig,
    pub tok: LosslessTokenizer,
    pub varmap: VarMap,
    pub encoder: Arc<Encoder>,
}

impl Setup {
    /// Writes config, tokenizer and weights to `dir`; the weights are written then renamed, so
    /// an interrupted save never leaves a torn file.
    pub fn save(&self, dir: &Path) -> Result<()> {
        std::fs::create_dir_all(dir).map_err(|e| Error::io(format!("creating {}", dir.display()), e))?;
        let w = |name: &str, text: &str| {
            std::fs::write(dir.join(name), text)
                .map_err(|e| Error::io(format!("writing {}", dir.join(name).display()), e))
        };
        w("config.json", &self.cfg_json)?;
        w("tokenizer.json", &self.tokenizer_json)?;
        let tmp = dir.join("model.safetensors.tmp");
        self.varmap.save(&tmp)?;
        std::fs::rename(&tmp, dir.join("model.safetensors")).map_err(|e| Error::io("saving model", e))
    }
}

fn normal(rng: &mut ChaCha8Rng, n: usize, std: f32) -> Vec<f32> {
    (0..n)
        .map(|_| {
            let u1: f32 = rng.random::<f32>().max(1e-12);
            let u2: f32 = rng.random::<f32>();
            (-2.0 * u1.ln()).sqrt() * (std::f32::consts::TAU * u2).cos() * std
        })
        .collect()
}

/// Builds the trainable model from config and tokenizer text, with `weights` or, without
/// them, a BERT-style initialisation from the seeded RNG: N(0, 0.02) matrices, LayerNorm 1/0.
pub fn build(
    cfg_json: String,
    tokenizer_json: String,
    weights: Option<HashMap<String, Tensor>>,
    seed: u64,
    dev: &Device,
) -> Result<Setup> {
    let cfg = ModelConfig::from_json(&cfg_json, "finetune")?;
    let tok = LosslessTokenizer::from_bytes(tokenizer_json.as_bytes(), "finetune")?;
    let varmap = VarMap::new();
    let fresh = weights.is_none();
    if let Some(w) = weights {
        let mut data = varmap.data().lock().unwrap();
        for (k, t) in w {
            data.insert(k, Var::from_tensor(&t)?);
        }
    }
    let vb = VarBuilder::from_varmap(&varmap, DType::F32, dev);
    let encoder = Encoder::load(cfg.clone(), vb, &names_for(cfg.arch))?;
    if fresh {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let mut vars: Vec<(String, Var)> =
            varmap.data().lock().unwrap().iter().map(|(k, v)| (k.clone(), v.clone())).collect();
        vars.sort_by(|a, b| a.0.cmp(&b.0));
        for (name, v) in vars {
            if v.rank() >= 2 {
                let t = Tensor::from_vec(normal(&mut rng, v.elem_count(), 0.02), v.shape(), dev)?;
                v.set(&t)?;
            } else if name.ends_with("bias") {
                v.set(&v.zeros_like()?)?;
            }
        }
    }
    Ok(Setup { cfg_json, tokenizer_json, cfg, tok, varmap, encoder: Arc::new(encoder) })
}

/// The model to train and, when resuming, the checkpoint's state.
pub fn start(o: &TrainOptions, files: &[std::path::PathBuf], dev: &Device) -> Result<(Setup, Option<State>)> {
    if o.resume {
        let (cfg, tj, w, state) = checkpoint::load(&o.out)?;
        let weights = read_weights(&[&w], dev)?;
        return Ok((build(cfg, tj, Some(weights), o.seed, dev)?, Some(state)));
    }
    if let Some(size) = &o.scratch {
        return Ok((from_scratch(o, size, files, dev)?, None));
    }
    let name = o.model.as_deref().ok_or_else(|| Error::Invalid("give --model M or --from-scratch".into()))?;
    let b = crate::model::resolve(name)?;
    if b.weights.is_empty() {
        return Err(Error::model(
            name,
            "it holds only an integer version (model.int8.safetensors); fine-tuning needs its float \
             weights (model.safetensors): fine-tune the float checkpoint it was quantised from",
        ));
    }
    let weights = read_weights(&b.weight_slices(), dev)?;
    let cfg = String::from_utf8_lossy(&b.config).into_owned();
    let tj = String::from_utf8_lossy(&b.tokenizer).into_owned();
    Ok((build(cfg, tj, Some(weights), o.seed, dev)?, None))
}

/// A tokenizer trained on the first `--tokenizer-bytes` of the corpus and a new model.
fn from_scratch(o: &TrainOptions, size: &scratch::Size, files: &[std::path::PathBuf], dev: &Device) -> Result<Setup> {
    let mut texts = Vec::new();
    let mut got = 0usize;
    let mut ch = corpus::Chunks::new(files.to_vec(), 1 << 16);
    while got < o.tokenizer_bytes {
        match ch.next_chunk()? {
            Some(t) => {
                got += t.len();
                texts.push(t);
            }
            None => break,
        }
    }
    let tok = scratch::train_tokenizer(&texts, size.vocab)?;
    let mut size = size.clone();
    size.vocab = tok.get_vocab_size(true);
    let tj = tok.to_string(false).map_err(|e| Error::Tokenizer(e.to_string()))?;
    build(scratch::roberta_config(&size).to_string(), tj, None, o.seed, dev)
}
