//! Model runtime: one [`MaskedLm`] interface over BERT, RoBERTa (XLM-R), DistilBERT and
//! RoBERTa-PreLayerNorm checkpoints in Hugging Face layout, plus loading and fingerprinting ([`Model`]).

pub mod batcher;
pub mod bert;
pub mod builtin;
pub mod candle;
pub mod config;
pub mod device;
pub mod distilbert;
mod dropout;
pub mod hub;
pub mod int8;
pub mod mock;
pub mod roberta;
pub mod roberta_prelayernorm;
pub mod transformer;

use std::borrow::Cow;
use std::path::Path;

use crate::error::{Error, Result};
use crate::text::LosslessTokenizer;

/// A masked language model: log-probabilities over the vocabulary at chosen positions of a
/// batch of token sequences. Implementations must be deterministic: the same call on the
/// same machine and build returns bit-identical numbers (the decoder repeats the encoder's
/// calls exactly, same batch shapes included). A backend is an implementation of this trait
/// and a way to load it in [`Model::from_bytes`]; coding, container and CLI see only this.
pub trait MaskedLm: Send + Sync {
    fn vocab_size(&self) -> usize;
    /// Longest sequence accepted, special tokens included.
    fn max_sequence(&self) -> usize;
    /// `seqs`: token ids (padded internally to the longest); `sel`: (sequence, position)
    /// pairs. Returns a row per selection, row-major, in [`MaskedLm::rows`]' form: for a
    /// model itself `vocab_size()` natural-log probabilities.
    fn log_probs(&self, seqs: &[Vec<u32>], sel: &[(usize, usize)]) -> Result<Vec<f32>>;
    /// [`MaskedLm::log_probs`] of several callers' calls made as one: `parts[i]` of the
    /// selections (in order) are caller i's, and its rows come back as a vector of its own
    /// (a backend whose results live elsewhere, a GPU, copies each part straight there).
    fn log_probs_parts(&self, seqs: &[Vec<u32>], sel: &[(usize, usize)], parts: &[usize]) -> Result<Vec<Vec<f32>>> {
        split_parts(self.log_probs(seqs, sel), self.rows().len(self.vocab_size()), parts)
    }
    /// The encoder's [`MaskedLm::log_probs`]: `known[k]` is the token at selection k's
    /// target, which a row's form may use ([`RowForm::Path`]).
    fn log_probs_known(&self, seqs: &[Vec<u32>], sel: &[(usize, usize)], _known: &[u32]) -> Result<Vec<f32>> {
        self.log_probs(seqs, sel)
    }
    /// [`MaskedLm::log_probs_parts`] with the selections' tokens ([`MaskedLm::log_probs_known`]).
    fn log_probs_parts_known(
        &self,
        seqs: &[Vec<u32>],
        sel: &[(usize, usize)],
        parts: &[usize],
        known: &[u32],
    ) -> Result<Vec<Vec<f32>>> {
        split_parts(self.log_probs_known(seqs, sel, known), self.rows().len(self.vocab_size()), parts)
    }
    /// What a row of [`MaskedLm::log_probs`] holds.
    fn rows(&self) -> RowForm {
        RowForm::LogProbs
    }
    /// This model with rows in `form` ([`RowForm::Ranked`] or [`RowForm::Path`]) for the
    /// vocabulary tree whose `rank[id]` is each id's rank, where the backend computes that
    /// form itself (a GPU: the context mixer's first step per token done there, with the bits
    /// the coding thread would compute from log-probabilities, `coding::cm::ranked`). `None`:
    /// not offered.
    fn ranked<'a>(&'a self, _rank: &[u32], _form: RowForm, _v3: bool) -> Option<Box<dyn MaskedLm + 'a>> {
        None
    }
    /// Names the computation (an id of [`crate::numerics`] or a new one): files record it, and
    /// equal ids must mean bit-identical `log_probs`.
    fn numerics(&self) -> &str;
    /// The network's shape, for listings and cost estimates.
    fn architecture(&self) -> Architecture;
    /// Whether a sequence's log-probabilities are bit-identical whatever other sequences
    /// share its call. Then a decoder may split a call's batch and overlap the parts with
    /// coding ([`crate::coding::overlap`]) and still repeat the encoder exactly.
    fn batch_invariant(&self) -> bool {
        false
    }
    /// A causal model: a position sees only itself and the positions before it, and its
    /// log-probabilities are those of the token *after* it. Only causal reveal plans
    /// ([`crate::schedule::Shape::Causal`]) fit such a model, and only such a model fits them.
    fn causal(&self) -> bool {
        false
    }
    /// Whether blocks coded at once should have their calls merged into one
    /// ([`batcher::Batcher`]) by default: a backend whose cost per call barely grows with its
    /// rows. Only for batch invariant models.
    fn merges_calls(&self) -> bool {
        false
    }
}

/// How a row of [`MaskedLm::log_probs`] is laid out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RowForm {
    /// `vocab` natural-log probabilities, by token id
    LogProbs,
    /// the probabilities e^lp (the context mixer's `math::exp`) in the vocabulary tree's rank
    /// order, then the sums of the ranges of the tree's nodes at depths 1 to `depth`
    /// (`coding::cm::ranked`)
    Ranked { depth: u32 },
    /// the encoder's: for each depth of the vocabulary tree, the probability sums of the two
    /// sides of the decision on the path to the selection's known token
    /// ([`MaskedLm::log_probs_known`]), 2 × the tree's depth values
    Path,
}

impl RowForm {
    /// Floats per row for a vocabulary of `vocab` ids.
    pub fn len(self, vocab: usize) -> usize {
        match self {
            RowForm::LogProbs => vocab,
            RowForm::Ranked { depth } => vocab + (2usize << depth) - 2,
            RowForm::Path => 2 * crate::coding::cm::tree::tree_bits(vocab) as usize,
        }
    }
}

/// A merged call's rows (`row` floats per selection) as one vector per part of `parts[i]` rows.
pub fn split_parts(all: Result<Vec<f32>>, vocab: usize, parts: &[usize]) -> Result<Vec<Vec<f32>>> {
    let all = all?;
    if all.len() != parts.iter().sum::<usize>() * vocab {
        return Err(crate::error::Error::Internal("a merged call's rows do not match its parts".into()));
    }
    let mut at = 0;
    Ok(parts
        .iter()
        .map(|&n| {
            at += n * vocab;
            all[at - n * vocab..at].to_vec()
        })
        .collect())
}

/// What a backend tells about its network.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct Architecture {
    /// Hugging Face `model_type`, e.g. `roberta-prelayernorm`
    pub model_type: &'static str,
    pub layers: usize,
    pub hidden: usize,
    pub intermediate: usize,
}

/// Where a model computes (`--device`): `cpu`, `cuda` or `cuda:N`. Backends map it to their
/// own device type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeviceSpec {
    Cpu,
    Cuda(usize),
}

impl DeviceSpec {
    pub fn is_gpu(self) -> bool {
        matches!(self, DeviceSpec::Cuda(_))
    }
}

impl std::str::FromStr for DeviceSpec {
    type Err = Error;

    /// Parses a device and checks that this build can use it.
    fn from_str(s: &str) -> Result<Self> {
        let spec = match s {
            "cpu" => DeviceSpec::Cpu,
            _ if s.starts_with("cuda") => {
                let n = s.strip_prefix("cuda").unwrap_or_default().trim_start_matches(':');
                let n = if n.is_empty() {
                    0
                } else {
                    n.parse().map_err(|_| Error::Invalid(format!("bad device '{s}'")))?
                };
                DeviceSpec::Cuda(n)
            }
            _ => return Err(Error::Invalid(format!("unknown device '{s}' (cpu, cuda, cuda:N)"))),
        };
        // a build with the integer engine's GPU kernels alone runs integer models there; the
        // float loader refuses the device for other models
        #[cfg(not(feature = "int8-cuda"))]
        candle::supports(spec).map_err(|problem| Error::Device { asked: format!("--device {s}"), problem })?;
        Ok(spec)
    }
}

/// The name `--model` defaults to: a built-in model (see [`builtin`]), so the main job needs no
/// flag and no network.
pub const DEFAULT_MODEL: &str = "llmzip-default";

/// The model a header without a model name means ([`builtin::UNNAMED`]).
pub const UNNAMED_MODEL: &str = builtin::UNNAMED;

/// Where a model comes from.
#[derive(Debug, Clone)]
pub enum ModelSource {
    Dir(std::path::PathBuf),
    Hub(String),
}

impl ModelSource {
    pub fn parse(name: &str) -> Result<Self> {
        let p = Path::new(name);
        if p.is_dir() {
            Ok(ModelSource::Dir(p.to_path_buf()))
        } else if hub::looks_like_hub_id(name) && !p.exists() {
            Ok(ModelSource::Hub(name.to_string()))
        } else {
            Err(Error::model(name, "not a model directory and not a hub id"))
        }
    }
}

/// A loaded model: network, tokenizer and identity.
pub struct Model {
    /// The name the user gave (built-in name, directory or hub id); recorded in headers.
    pub name: String,
    /// blake3 over config, tokenizer and weight bytes.
    pub fingerprint: [u8; 32],
    pub tokenizer: LosslessTokenizer,
    pub lm: Box<dyn MaskedLm>,
    /// Bytes of weights on disk (for adjusted ratios).
    pub weight_bytes: u64,
}

/// A model's files read into memory: config.json, tokenizer.json and the weight files in
/// order (what loading and the fingerprint need). Built-in models borrow the binary's bytes.
pub struct ModelBytes {
    pub config: Cow<'static, [u8]>,
    pub tokenizer: Cow<'static, [u8]>,
    pub weights: Vec<Cow<'static, [u8]>>,
    /// the integer version of the weights ([`int8::FILE`]), when the directory has one
    pub int8: Option<Vec<u8>>,
}

impl ModelBytes {
    pub fn weight_slices(&self) -> Vec<&[u8]> {
        self.weights.iter().map(|w| w.as_ref()).collect()
    }
}

/// Resolves a `--model` name to its files: a built-in model, a local directory or a hub id
/// (a built-in name wins over a directory of the same name). Every path that loads a model
/// (compression, training, listings) comes through here.
pub fn resolve(name: &str) -> Result<ModelBytes> {
    if let Some(b) = builtin::find(name) {
        return Ok(ModelBytes {
            config: Cow::Borrowed(b.config),
            tokenizer: Cow::Borrowed(b.tokenizer),
            // an integer-only built-in model has no float weights at all
            weights: if b.weights.is_empty() { Vec::new() } else { vec![Cow::Borrowed(b.weights)] },
            int8: b.int8.map(<[u8]>::to_vec),
        });
    }
    let read =
        |p: &Path| std::fs::read(p).map(Cow::Owned).map_err(|e| Error::io(format!("reading {}", p.display()), e));
    let source = ModelSource::parse(name)?;
    // an integer checkpoint needs no float weights beside it
    if let ModelSource::Dir(d) = &source {
        let int = d.join(int8::FILE);
        if int.is_file() && !d.join("model.safetensors").is_file() {
            let (config, tokenizer) = (read(&d.join("config.json"))?, read(&d.join("tokenizer.json"))?);
            return Ok(ModelBytes { config, tokenizer, weights: Vec::new(), int8: Some(read(&int)?.into_owned()) });
        }
    }
    let (files, int8) = match source {
        ModelSource::Dir(d) => {
            let int = d.join(int8::FILE);
            (hub::from_dir(&d, name)?, if int.is_file() { Some(read(&int)?.into_owned()) } else { None })
        }
        ModelSource::Hub(id) => (hub::from_hub(&id)?, None),
    };
    let weights = files.weights.iter().map(|w| read(w)).collect::<Result<Vec<_>>>()?;
    Ok(ModelBytes { config: read(&files.config)?, tokenizer: read(&files.tokenizer)?, weights, int8 })
}

/// BLAKE3 over (length ‖ bytes) of each part: a model's identity in headers.
fn fingerprint<'a>(parts: impl Iterator<Item = &'a [u8]>) -> [u8; 32] {
    let mut h = blake3::Hasher::new();
    for part in parts {
        h.update(&(part.len() as u64).to_le_bytes());
        h.update(part);
    }
    *h.finalize().as_bytes()
}

impl Model {
    /// Loads a model; a directory with an integer version of its weights runs on the integer
    /// engine (the same numerics on every device), any other on candle in f32 on `device`.
    pub fn load(name: &str, device: &DeviceSpec) -> Result<Self> {
        let b = resolve(name)?;
        match &b.int8 {
            Some(int) => Self::from_int8(name, &b.config, &b.tokenizer, int, device),
            None => Self::from_bytes(name, &b.config, &b.tokenizer, &b.weight_slices(), device),
        }
    }

    /// Loads `name` on the engine that computed `numerics`: the integer engine for its id, else
    /// the float one (falling back to whichever the directory has, so that a wrong choice
    /// ends in the fingerprint check's error).
    pub fn load_for(name: &str, device: &DeviceSpec, numerics: &str) -> Result<Self> {
        let b = resolve(name)?;
        match &b.int8 {
            Some(int) if numerics == int8::NUMERICS || b.weights.is_empty() => {
                Self::from_int8(name, &b.config, &b.tokenizer, int, device)
            }
            _ => Self::from_bytes(name, &b.config, &b.tokenizer, &b.weight_slices(), device),
        }
    }

    /// A model on the integer engine; its fingerprint covers config, tokenizer and the
    /// integer checkpoint (the float weights it was made from are not used).
    pub fn from_int8(
        name: &str,
        config: &[u8],
        tokenizer_json: &[u8],
        int: &[u8],
        device: &DeviceSpec,
    ) -> Result<Self> {
        let cfg_text = std::str::from_utf8(config).map_err(|_| Error::model(name, "config.json is not UTF-8"))?;
        let cfg = config::ModelConfig::from_json(cfg_text, name)?;
        let tokenizer = LosslessTokenizer::from_bytes(tokenizer_json, name)?;
        if tokenizer.vocab_size() > cfg.vocab_size {
            return Err(Error::model(name, "tokenizer vocabulary is larger than the model's"));
        }
        let lm = int8::load_lm(int, &cfg, device).map_err(|e| match e {
            Error::Model { reason, .. } => Error::model(name, format!("{}: {reason}", int8::FILE)),
            e => e,
        })?;
        let mut m = Self::from_parts(name, fingerprint([config, tokenizer_json, int].into_iter()), tokenizer, lm)?;
        m.weight_bytes = int.len() as u64;
        Ok(m)
    }

    /// A model from its files' bytes, computed by the candle backend on `device`.
    pub fn from_bytes(
        name: &str,
        config: &[u8],
        tokenizer: &[u8],
        weights: &[&[u8]],
        device: &DeviceSpec,
    ) -> Result<Self> {
        let fingerprint = fingerprint([config, tokenizer].into_iter().chain(weights.iter().copied()));
        let lm = candle::CandleLm::load(name, config, weights, *device)?;
        let tokenizer = LosslessTokenizer::from_bytes(tokenizer, name)?;
        let mut m = Self::from_parts(name, fingerprint, tokenizer, Box::new(lm))?;
        m.weight_bytes = weights.iter().map(|w| w.len() as u64).sum();
        Ok(m)
    }

    /// A model from a tokenizer and any [`MaskedLm`] (a test's mock, the trainer's encoder).
    pub fn from_parts(
        name: &str,
        fingerprint: [u8; 32],
        tokenizer: LosslessTokenizer,
        lm: Box<dyn MaskedLm>,
    ) -> Result<Self> {
        if tokenizer.vocab_size() > lm.vocab_size() {
            return Err(Error::model(name, "tokenizer vocabulary is larger than the model's"));
        }
        Ok(Model { name: name.to_string(), fingerprint, tokenizer, lm, weight_bytes: 0 })
    }

    /// The numerics id of the backend computing this model.
    pub fn numerics(&self) -> &str {
        self.lm.numerics()
    }

    /// The `k` likeliest tokens at each of `positions` of the sequence `ids`, likeliest first
    /// (lowest id on ties), with their natural-log probabilities (`infill`).
    pub fn top_k(&self, ids: Vec<u32>, positions: &[usize], k: usize) -> Result<Vec<Vec<(u32, f32)>>> {
        let sel: Vec<(usize, usize)> = positions.iter().map(|&p| (0, p)).collect();
        let lp = self.lm.log_probs(&[ids], &sel)?;
        let v = self.lm.vocab_size();
        Ok((0..positions.len())
            .map(|n| {
                let row = &lp[n * v..(n + 1) * v];
                let mut idx: Vec<usize> = (0..v).collect();
                idx.sort_by(|&x, &y| row[y].total_cmp(&row[x]).then(x.cmp(&y)));
                idx.into_iter().take(k).map(|i| (i as u32, row[i])).collect()
            })
            .collect())
    }
}

pub fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}
