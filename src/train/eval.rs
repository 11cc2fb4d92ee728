//! Validation: the held-out text compressed with the model as it is now, in real bits per byte.

use std::io::Read;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use super::setup::Setup;
use super::{corpus, TrainOptions};
use crate::compressor::{Compressor, Hooks, Options};
use crate::error::{Error, Result};
use crate::model::candle::CandleLm;
use crate::model::Model;
use crate::schedule::{RevealPlan, Shape};
use crate::text::LosslessTokenizer;

/// One validation (fields in name order, as earlier versions wrote them).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Eval {
    pub bits_per_byte: f64,
    pub bits_per_token: f64,
    pub bytes: usize,
    /// compressed size without the header (which names the model)
    pub coded_bytes: usize,
    pub step: usize,
    pub tokens_seen: u64,
}

/// The validation text: `--valid`, else a file named valid* in the corpus, which is then held
/// out of `files`.
pub fn valid_text(o: &TrainOptions, files: &mut Vec<PathBuf>) -> Result<Option<Vec<u8>>> {
    let path = match &o.valid {
        Some(p) => Some(p.clone()),
        None => {
            let pos = files
                .iter()
                .position(|f| f.file_name().and_then(|n| n.to_str()).is_some_and(|n| n.starts_with("valid")));
            pos.map(|i| files.remove(i))
        }
    };
    let Some(p) = path else { return Ok(None) };
    files.retain(|f| f != &p);
    let mut buf = Vec::new();
    corpus::open(&p)?
        .take(o.valid_bytes as u64)
        .read_to_end(&mut buf)
        .map_err(|e| Error::io("reading validation text", e))?;
    Ok(Some(buf))
}

/// Compresses `text` with the plan's window, context and rounds, batched in lanes as
/// compression does; a causal model with the causal plan of that window and context.
pub fn evaluate(s: &Setup, text: &[u8], plan: RevealPlan, step: usize, tokens_seen: u64) -> Result<Eval> {
    let tokenizer = LosslessTokenizer::from_bytes(s.tokenizer_json.as_bytes(), "training")?;
    let model = Model::from_parts("training", [0; 32], tokenizer, Box::new(CandleLm::new(s.encoder.clone())))?;
    let mut plan = RevealPlan { lanes: Options::default().plan.lanes, ..plan };
    if s.cfg.causal {
        plan = RevealPlan { shape: Shape::Causal, rounds: 1, settle: None, ..plan };
    }
    let opts = Options { plan, block_size: 1 << 20, ..Options::default() };
    let c = Compressor::new(&model, opts)?;
    let mut out = Vec::new();
    let st = c.compress(text, &mut out, &Hooks::default())?;
    let coded = out.len() - c.header().to_bytes().len();
    Ok(Eval {
        bits_per_byte: coded as f64 * 8.0 / text.len().max(1) as f64,
        bits_per_token: coded as f64 * 8.0 / st.tokens.max(1) as f64,
        bytes: text.len(),
        coded_bytes: coded,
        step,
        tokens_seen,
    })
}
