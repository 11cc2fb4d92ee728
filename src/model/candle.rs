//! The candle backend: the encoders of [`super::transformer`] in f32 on candle's CPU or CUDA
//! kernels, behind [`MaskedLm`]. candle's `Device` and the parsed [`ModelConfig`] stay in
//! here and in the trainer, which trains these same encoders.

use std::collections::HashMap;
use std::sync::Arc;

use candle_core::{DType, Device, Tensor};
use candle_nn::VarBuilder;

use super::config::{Arch, ModelConfig};
use super::device::Unusable;
use super::transformer::{Encoder, Names};
use super::{bert, distilbert, roberta, roberta_prelayernorm, Architecture, DeviceSpec, MaskedLm};
use crate::error::{Error, Result};
use crate::numerics;

pub fn names_for(arch: Arch) -> Names {
    match arch {
        Arch::Bert => bert::names(),
        Arch::Roberta => roberta::names(),
        Arch::DistilBert => distilbert::names(),
        Arch::RobertaPreLayerNorm => roberta_prelayernorm::names(),
    }
}

/// Whether this build can compute float models on `spec`.
pub fn supports(spec: DeviceSpec) -> std::result::Result<(), Unusable> {
    match spec {
        DeviceSpec::Cpu => Ok(()),
        DeviceSpec::Cuda(_) if candle_core::utils::cuda_is_available() => Ok(()),
        DeviceSpec::Cuda(_) => Err(Unusable::NotBuilt { integer_only: cfg!(feature = "int8-cuda") }),
    }
}

/// candle's device for `spec`.
pub fn device(spec: DeviceSpec) -> Result<Device> {
    supports(spec).map_err(|problem| Error::Device { asked: format!("--device {spec}"), problem })?;
    match spec {
        DeviceSpec::Cpu => Ok(Device::Cpu),
        DeviceSpec::Cuda(n) => Device::new_cuda(n).map_err(|e| cuda_failed(e, n)),
    }
}

/// A GPU that is not there is said so, with the number there are; other failures are
/// candle's (its CUDA errors carry the driver's code only in their text).
fn cuda_failed(e: candle_core::Error, n: usize) -> Error {
    #[cfg(feature = "cuda")]
    {
        use super::device::{missing_gpu, OpenFailure};
        let text = e.to_string();
        let failure = if text.contains("CUDA_ERROR_INVALID_DEVICE") {
            OpenFailure::InvalidDevice
        } else if text.contains("CUDA_ERROR_NO_DEVICE") {
            OpenFailure::NoDevice
        } else {
            OpenFailure::Other
        };
        if let Some(err) = missing_gpu(&format!("--device cuda:{n}"), n, failure, super::int8::cuda::gpu_count(), false)
        {
            return err;
        }
    }
    let _ = n;
    Error::from(e)
}

/// Which computation backend decodes a file: part of the header, because float results differ
/// between devices (and possibly CPUs). Decoding elsewhere is refused up front.
pub fn numerics_id(device: &Device) -> &'static str {
    match device {
        Device::Cpu => numerics::CANDLE_CPU_F32,
        Device::Cuda(_) => numerics::CANDLE_CUDA_F32,
        _ => "candle-0.9.2/other/f32",
    }
}

/// A candle [`Encoder`] behind the [`MaskedLm`] trait.
pub struct CandleLm {
    pub encoder: Arc<Encoder>,
    numerics: &'static str,
}

impl CandleLm {
    pub fn new(encoder: Arc<Encoder>) -> Self {
        let numerics = numerics_id(encoder.device());
        CandleLm { encoder, numerics }
    }

    /// Loads a checkpoint's config.json and weight files onto `spec`'s device.
    pub fn load(name: &str, config: &[u8], weights: &[&[u8]], spec: DeviceSpec) -> Result<Self> {
        let dev = device(spec)?;
        let cfg_text = std::str::from_utf8(config).map_err(|_| Error::model(name, "config.json is not UTF-8"))?;
        let cfg = ModelConfig::from_json(cfg_text, name)?;
        let vb = VarBuilder::from_tensors(read_weights(weights, &dev)?, DType::F32, &dev);
        let encoder = Encoder::load(cfg.clone(), vb, &names_for(cfg.arch)).map_err(|e| Error::model(name, e))?;
        Ok(Self::new(Arc::new(encoder)))
    }
}

impl MaskedLm for CandleLm {
    fn vocab_size(&self) -> usize {
        self.encoder.cfg.vocab_size
    }
    fn max_sequence(&self) -> usize {
        self.encoder.cfg.max_sequence()
    }
    fn numerics(&self) -> &str {
        self.numerics
    }
    fn architecture(&self) -> Architecture {
        let c = &self.encoder.cfg;
        let model_type = match c.arch {
            Arch::Bert => "bert",
            Arch::Roberta => "roberta",
            Arch::DistilBert => "distilbert",
            Arch::RobertaPreLayerNorm => "roberta-prelayernorm",
        };
        Architecture { model_type, layers: c.layers, hidden: c.hidden, intermediate: c.intermediate }
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
    fn causal(&self) -> bool {
        self.encoder.cfg.causal
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

/// Reads safetensors files into f32 tensors with normalised names (f16 and bf16 widen
/// exactly).
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
