//! The integer inference engine: a second backend behind [`MaskedLm`] for pre-LayerNorm
//! RoBERTa models that carry an integer version of their weights (`model.int8.safetensors`,
//! written by `llmzip quantize`). int8 weights with per-output-channel multipliers, int8 or
//! int16 activations, exact i32 products, and LayerNorm, softmax, GELU and the final
//! log-distribution in fixed point with tables (after I-BERT, Kim et al. 2021). Everything the
//! coder receives is computed with integers and converted to f32 by one correctly rounded
//! multiplication, so the probabilities are the same on every CPU, instruction set and thread
//! count: files made with it carry one numerics id for all devices ([`NUMERICS`]).

mod attend;
mod cache;
pub mod calibrate;
#[cfg(any(feature = "cuda", feature = "int8-cuda"))]
pub mod cuda;
mod file;
mod forward;
pub mod gemm;
pub mod make;
pub mod ops;
pub mod params;
pub mod quantize;
mod vector;

use crate::error::Result;
use crate::model::config::ModelConfig;
use crate::model::{Architecture, MaskedLm};
use forward::PackedWeights;
use gemm::Isa;
pub use params::{IntParams, FILE};

/// The header's numerics id for files computed by this engine, on any device.
pub const NUMERICS: &str = crate::numerics::INT8_V1;

/// Parameters and their weights packed for one kernel family.
pub struct Engine {
    pub p: IntParams,
    w: PackedWeights,
    pub isa: Isa,
    /// each row attends to the rows at or before it only (a model whose config has
    /// `is_decoder`)
    pub causal: bool,
}

impl Engine {
    pub fn new(p: IntParams, isa: Isa, causal: bool) -> Engine {
        let w = PackedWeights::new(&p, isa);
        Engine { p, w, isa, causal }
    }
}

/// The architecture an integer checkpoint computes (the engine has one: pre-LN RoBERTa).
pub(crate) fn architecture(p: &IntParams) -> Architecture {
    Architecture { model_type: "roberta-prelayernorm", layers: p.layers.len(), hidden: p.hidden, intermediate: p.inter }
}

/// The engine behind the [`MaskedLm`] trait.
pub struct IntLm {
    pub engine: Engine,
    max_sequence: usize,
    arch: Architecture,
    /// a causal model's K and V rows of the latest calls' sequences
    cache: cache::KvCache,
}

impl IntLm {
    /// Reads an integer checkpoint for `cfg` and packs it for the fastest kernels this CPU has.
    pub fn load(bytes: &[u8], cfg: &ModelConfig) -> Result<IntLm> {
        Self::with_isa(bytes, cfg, Isa::best())
    }

    /// An engine for parameters in memory; `causal` as the model's config says (`is_decoder`).
    pub fn from_params(p: IntParams, max_sequence: usize, causal: bool) -> IntLm {
        let arch = architecture(&p);
        IntLm { engine: Engine::new(p, Isa::best(), causal), max_sequence, arch, cache: Default::default() }
    }

    /// Rows a causal model computed and rows whose K and V it took from earlier calls, so far.
    pub fn cache_rows(&self) -> (u64, u64) {
        self.cache.rows()
    }

    pub fn with_isa(bytes: &[u8], cfg: &ModelConfig, isa: Isa) -> Result<IntLm> {
        let p = IntParams::read(bytes, cfg)?;
        let arch = Architecture {
            model_type: "roberta-prelayernorm",
            layers: cfg.layers,
            hidden: cfg.hidden,
            intermediate: cfg.intermediate,
        };
        let engine = Engine::new(p, isa, cfg.causal);
        Ok(IntLm { engine, max_sequence: cfg.max_sequence(), arch, cache: Default::default() })
    }
}

/// The engine for `device`: the GPU kernels on a CUDA device (or the GPU numbered by
/// `LLMZIP_INT8_CUDA` in builds with them), else the CPU. Same numbers either way.
pub fn load_lm(bytes: &[u8], cfg: &ModelConfig, device: &crate::model::DeviceSpec) -> Result<Box<dyn MaskedLm>> {
    #[cfg(any(feature = "cuda", feature = "int8-cuda"))]
    {
        let ordinal = match device {
            crate::model::DeviceSpec::Cuda(gpu_id) => Some(*gpu_id),
            crate::model::DeviceSpec::Cpu => std::env::var("LLMZIP_INT8_CUDA").ok().and_then(|s| s.parse().ok()),
        };
        if let Some(o) = ordinal {
            let p = IntParams::read(bytes, cfg)?;
            return match cuda::CudaLm::new(&p, o, cfg.max_sequence(), cfg.causal) {
                Ok(lm) => Ok(Box::new(lm)),
                // the GPU was named by the environment, not by --device
                Err(crate::Error::Device { problem, .. }) if !device.is_gpu() => {
                    Err(crate::Error::Device { asked: format!("LLMZIP_INT8_CUDA={o}"), problem })
                }
                Err(e) => Err(e),
            };
        }
    }
    let _ = device;
    Ok(Box::new(IntLm::load(bytes, cfg)?))
}

impl MaskedLm for IntLm {
    fn vocab_size(&self) -> usize {
        self.engine.p.vocab
    }
    fn max_sequence(&self) -> usize {
        self.max_sequence
    }
    fn numerics(&self) -> &str {
        NUMERICS
    }
    fn architecture(&self) -> Architecture {
        self.arch
    }
    fn log_probs(&self, seqs: &[Vec<u32>], sel: &[(usize, usize)]) -> Result<Vec<f32>> {
        if sel.is_empty() {
            return Ok(Vec::new());
        }
        match self.engine.causal {
            true => self.engine.forward_cached(seqs, sel, &self.cache),
            false => self.engine.forward(seqs, sel),
        }
    }
    fn causal(&self) -> bool {
        self.engine.causal
    }
    /// Each row is computed by the same integer code whatever the batch (forward.rs).
    fn batch_invariant(&self) -> bool {
        true
    }
}
