//! Model runtime: one [`MaskedLm`] interface over BERT, RoBERTa (XLM-R), DistilBERT and
//! RoBERTa-PreLayerNorm checkpoints in Hugging Face layout, plus loading and fingerprinting ([`Model`]).

pub mod bert;
pub mod builtin;
pub mod config;
pub mod distilbert;
pub mod hub;
pub mod int8;
pub mod roberta;
pub mod roberta_prelayernorm;
pub mod transformer;

use std::borrow::Cow;
use std::collections::HashMap;
use std::path::Path;

use candle_core::{DType, Device, Tensor};
use candle_nn::VarBuilder;

use crate::error::{Error, Result};
use crate::text::LosslessTokenizer;
use config::{Arch, ModelConfig};
use transformer::{Encoder, Names};

/// A masked language model: log-probabilities over the vocabulary at chosen positions of a
/// batch of token sequences. Implementations must be deterministic: the same call on the
/// same machine and build returns bit-identical numbers (the decoder repeats the encoder's
/// calls exactly, same batch shapes included).
pub trait MaskedLm: Send + Sync {
    fn vocab_size(&self) -> usize;
    /// Longest sequence accepted, special tokens included.
    fn max_sequence(&self) -> usize;
    /// `seqs`: token ids (padded internally to the longest); `sel`: (sequence, position)
    /// pairs. Returns `sel.len() * vocab_size()` natural-log probabilities, row-major.
    fn log_probs(&self, seqs: &[Vec<u32>], sel: &[(usize, usize)]) -> Result<Vec<f32>>;
}

pub fn names_for(arch: Arch) -> Names {
    match arch {
        Arch::Bert => bert::names(),
        Arch::Roberta => roberta::names(),
        Arch::DistilBert => distilbert::names(),
        Arch::RobertaPreLayerNorm => roberta_prelayernorm::names(),
    }
}

/// A candle [`Encoder`] behind the [`MaskedLm`] trait.
pub struct CandleLm {
    pub encoder: std::sync::Arc<Encoder>,
}

impl MaskedLm for CandleLm {
    fn vocab_size(&self) -> usize {
        self.encoder.cfg.vocab_size
    }
    fn max_sequence(&self) -> usize {
        self.encoder.cfg.max_sequence()
    }
    fn log_probs(&self, seqs: &[Vec<u32>], sel: &[(usize, usize)]) -> Result<Vec<f32>> {
        if sel.is_empty() {
            return Ok(Vec::new());
        }
        let t = seqs.iter().map(|s| s.len()).max().unwrap_or(0);
        let b = seqs.len();
        let pad = self.encoder.cfg.pad_token_id;
        let mut ids = Vec::with_capacity(b * t);
        let mut mask = Vec::with_capacity(b * t);
        for s in seqs {
            ids.extend_from_slice(s);
            ids.extend(std::iter::repeat_n(pad, t - s.len()));
            mask.extend(std::iter::repeat_n(1u8, s.len()));
            mask.extend(std::iter::repeat_n(0u8, t - s.len()));
        }
        let dev = self.encoder.device();
        let ids = Tensor::from_vec(ids, (b, t), dev)?;
        let mask = Tensor::from_vec(mask, (b, t), dev)?;
        let flat: Vec<u32> = sel.iter().map(|&(i, p)| (i * t + p) as u32).collect();
        let sel_t = Tensor::from_vec(flat, sel.len(), dev)?;
        let lp = self.encoder.log_probs_at(&ids, &mask, &sel_t)?;
        Ok(lp.flatten_all()?.to_vec1::<f32>()?)
    }
}

/// Tensor-name normalisation for real checkpoints: legacy LayerNorm `gamma`/`beta`.
pub fn normalise_name(name: &str) -> String {
    if let Some(s) = name.strip_suffix(".gamma") {
        format!("{s}.weight")
    } else if let Some(s) = name.strip_suffix(".beta") {
        format!("{s}.bias")
    } else {
        name.to_string()
    }
}

/// Reads safetensors files into f32 tensors with normalised names.
pub fn read_weights(files: &[&[u8]], device: &Device) -> Result<HashMap<String, Tensor>> {
    let mut map = HashMap::new();
    for bytes in files {
        let st = safetensors::SafeTensors::deserialize(bytes).map_err(|e| Error::model("weights", e))?;
        for (name, view) in st.tensors() {
            let t = candle_core::safetensors::Load::load(&view, &Device::Cpu)?;
            // integer buffers (position_ids) are not parameters
            if !t.dtype().is_float() {
                continue;
            }
            let t = if t.dtype() == DType::F32 { t } else { t.to_dtype(DType::F32)? };
            map.insert(normalise_name(&name), t.to_device(device)?);
        }
    }
    Ok(map)
}

/// Which computation backend decodes a file: part of the header, because float results differ
/// between devices (and possibly CPUs). Decoding elsewhere is attempted; the checksums catch
/// any divergence (issue #7).
pub fn numerics_id(device: &Device) -> String {
    let dev = match device {
        Device::Cpu => "cpu".to_string(),
        Device::Cuda(_) => "cuda".to_string(),
        _ => "other".to_string(),
    };
    format!("candle-0.9.2/{dev}/f32")
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
    /// The name the user gave (directory or hub id); recorded in headers.
    pub name: String,
    /// blake3 over config, tokenizer and weight bytes.
    pub fingerprint: [u8; 32],
    pub config: ModelConfig,
    pub tokenizer: LosslessTokenizer,
    pub lm: Box<dyn MaskedLm>,
    pub numerics: String,
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
            weights: vec![Cow::Borrowed(b.weights)],
            int8: None,
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
    pub fn load(name: &str, device: &Device) -> Result<Self> {
        let b = resolve(name)?;
        match &b.int8 {
            Some(int) => Self::from_int8(name, &b.config, &b.tokenizer, int, device),
            None => Self::from_bytes(name, &b.config, &b.tokenizer, &b.weight_slices(), device),
        }
    }

    /// Loads `name` on the engine that computed `numerics`: the integer engine for its id, else
    /// the float one (falling back to whichever the directory has, so that a wrong choice
    /// ends in the fingerprint check's error).
    pub fn load_for(name: &str, device: &Device, numerics: &str) -> Result<Self> {
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
    pub fn from_int8(name: &str, config: &[u8], tokenizer_json: &[u8], int: &[u8], device: &Device) -> Result<Self> {
        let cfg_text = std::str::from_utf8(config).map_err(|_| Error::model(name, "config.json is not UTF-8"))?;
        let cfg = ModelConfig::from_json(cfg_text, name)?;
        let tokenizer = LosslessTokenizer::from_bytes(tokenizer_json, name)?;
        if tokenizer.vocab_size() > cfg.vocab_size {
            return Err(Error::model(name, "tokenizer vocabulary is larger than the model's"));
        }
        let lm = int8::load_lm(int, &cfg, device).map_err(|e| match e {
            Error::Model { reason, .. } => Error::model(name, format!("{}: {reason}", int8::FILE)),
            e => e,
        })?;
        Ok(Model {
            name: name.to_string(),
            fingerprint: fingerprint([config, tokenizer_json, int].into_iter()),
            config: cfg,
            tokenizer,
            lm,
            numerics: int8::NUMERICS.to_string(),
            weight_bytes: int.len() as u64,
        })
    }

    pub fn from_bytes(name: &str, config: &[u8], tokenizer: &[u8], weights: &[&[u8]], device: &Device) -> Result<Self> {
        let fingerprint = fingerprint([config, tokenizer].into_iter().chain(weights.iter().copied()));
        let cfg_text = std::str::from_utf8(config).map_err(|_| Error::model(name, "config.json is not UTF-8"))?;
        let cfg = ModelConfig::from_json(cfg_text, name)?;
        let tokenizer = LosslessTokenizer::from_bytes(tokenizer, name)?;
        if tokenizer.vocab_size() > cfg.vocab_size {
            return Err(Error::model(name, "tokenizer vocabulary is larger than the model's"));
        }
        let tensors = read_weights(weights, device)?;
        let vb = VarBuilder::from_tensors(tensors, DType::F32, device);
        let encoder = Encoder::load(cfg.clone(), vb, &names_for(cfg.arch)).map_err(|e| Error::model(name, e))?;
        Ok(Model {
            name: name.to_string(),
            fingerprint,
            config: cfg,
            tokenizer,
            lm: Box::new(CandleLm { encoder: std::sync::Arc::new(encoder) }),
            numerics: numerics_id(device),
            weight_bytes: weights.iter().map(|w| w.len() as u64).sum(),
        })
    }

    pub fn fingerprint_hex(&self) -> String {
        hex(&self.fingerprint)
    }
}

pub fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// Parses `--device`: `cpu`, `cuda`, `cuda:N`.
pub fn parse_device(s: &str) -> Result<Device> {
    match s {
        "cpu" => Ok(Device::Cpu),
        _ if s.starts_with("cuda") => {
            let n = s.strip_prefix("cuda").unwrap().trim_start_matches(':');
            let n: usize =
                if n.is_empty() { 0 } else { n.parse().map_err(|_| Error::Invalid(format!("bad device '{s}'")))? };
            if !candle_core::utils::cuda_is_available() {
                return Err(Error::Invalid("this build has no CUDA support (rebuild with --features cuda)".into()));
            }
            Device::new_cuda(n).map_err(Error::from)
        }
        _ => Err(Error::Invalid(format!("unknown device '{s}' (cpu, cuda, cuda:N)"))),
    }
}
