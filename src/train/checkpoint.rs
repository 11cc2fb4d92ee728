//! Saving a model in Hugging Face layout, and the checkpoint `--resume` continues from:
//! `OUT/checkpoint/` holds the model, the optimizer moments and [`State`].

use std::path::{Path, PathBuf};

use candle_core::Device;
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

use super::{optim, Eval};
use crate::error::{Error, Result};

/// Everything besides weights and optimizer moments that a resumed run needs (state.json;
/// fields in name order, as earlier versions wrote them).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct State {
    /// corpus reader position: (epoch, file, bytes consumed in that file)
    pub data: (usize, usize, u64),
    /// word positions of the dropout and batch RNGs, as decimal text (they are u128)
    pub drop_rng: String,
    #[serde(default)]
    pub evals: Vec<Eval>,
    pub rng: String,
    pub step: usize,
    pub tokens_seen: u64,
}

impl State {
    pub fn rng_pos(s: &str) -> u128 {
        s.parse().unwrap_or(0)
    }

    pub fn rng_text(rng: &ChaCha8Rng) -> String {
        rng.get_word_pos().to_string()
    }
}

pub fn dir(out: &Path) -> PathBuf {
    out.join("checkpoint")
}

fn io(what: &'static str) -> impl Fn(std::io::Error) -> Error {
    move |e| Error::io(what, e)
}

pub fn save(out: &Path, opt: &optim::AdamW, state: &State) -> Result<()> {
    let ck = dir(out);
    let tmp = ck.join("optimizer.safetensors.tmp");
    candle_core::safetensors::save(&opt.state(), &tmp)?;
    std::fs::rename(&tmp, ck.join("optimizer.safetensors")).map_err(io("saving optimizer"))?;
    let text = serde_json::to_string(state).map_err(|e| Error::Internal(format!("state.json: {e}")))?;
    std::fs::write(ck.join("state.json"), text).map_err(io("saving state"))
}

/// The checkpoint's files: (config.json, tokenizer.json, weights, state).
pub fn load(out: &Path) -> Result<(String, String, Vec<u8>, State)> {
    let ck = dir(out);
    let text = std::fs::read_to_string(ck.join("state.json"))
        .map_err(|e| Error::io(format!("--resume: no checkpoint in {}", ck.display()), e))?;
    let state: State = serde_json::from_str(&text).map_err(|e| Error::Invalid(format!("bad state.json: {e}")))?;
    let weights = std::fs::read(ck.join("model.safetensors")).map_err(io("reading checkpoint"))?;
    let cfg = std::fs::read_to_string(ck.join("config.json")).map_err(io("reading checkpoint"))?;
    let tj = std::fs::read_to_string(ck.join("tokenizer.json")).map_err(io("reading checkpoint"))?;
    Ok((cfg, tj, weights, state))
}

pub fn load_optimizer(out: &Path, opt: &mut optim::AdamW, step: usize, dev: &Device) -> Result<()> {
    let ost = candle_core::safetensors::load(dir(out).join("optimizer.safetensors"), dev)?;
    opt.load_state(&ost, step);
    Ok(())
}
