//! The subset of Hugging Face `config.json` that the encoder families need, normalised into
//! one struct. DistilBERT names its fields differently (dim, n_layers, ...).

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::error::{Error, Result};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Arch {
    Bert,
    Roberta,
    DistilBert,
    /// RoBERTa with pre-LayerNorm layers and a final LayerNorm (`roberta-prelayernorm`)
    RobertaPreLayerNorm,
}

impl Arch {
    /// Whether each sub-layer normalises its input (pre-LN) rather than its output (post-LN).
    pub fn pre_layer_norm(self) -> bool {
        self == Arch::RobertaPreLayerNorm
    }

    /// RoBERTa's position numbering and padding id conventions.
    fn roberta_like(self) -> bool {
        matches!(self, Arch::Roberta | Arch::RobertaPreLayerNorm)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Activation {
    /// exact erf GELU, what HF calls "gelu"
    GeluErf,
    /// tanh approximation ("gelu_new", "gelu_pytorch_tanh")
    GeluTanh,
    Relu,
}

#[derive(Debug, Clone)]
pub struct ModelConfig {
    pub arch: Arch,
    pub vocab_size: usize,
    pub hidden: usize,
    pub layers: usize,
    pub heads: usize,
    pub intermediate: usize,
    pub max_positions: usize,
    pub type_vocab_size: usize,
    pub layer_norm_eps: f64,
    pub activation: Activation,
    /// activation inside the MLM head's transform
    pub head_activation: Activation,
    pub pad_token_id: u32,
    /// RoBERTa numbers positions from padding_idx + 1.
    pub position_offset: usize,
    /// `is_decoder` in Hugging Face configs: each position attends to itself and the
    /// positions before it only, and its output predicts the *next* token (a causal LM with
    /// the same modules and weight names as the masked one)
    pub causal: bool,
}

fn get_usize(v: &Value, keys: &[&str]) -> Option<usize> {
    keys.iter().find_map(|k| v.get(*k).and_then(|x| x.as_u64()).map(|x| x as usize))
}

impl ModelConfig {
    pub fn from_json(text: &str, name: &str) -> Result<Self> {
        let v: Value = serde_json::from_str(text).map_err(|e| Error::model(name, format!("config.json: {e}")))?;
        let model_type = v.get("model_type").and_then(|x| x.as_str()).unwrap_or("bert");
        let arch = match model_type {
            "bert" => Arch::Bert,
            "roberta" | "xlm-roberta" | "camembert" => Arch::Roberta,
            "distilbert" => Arch::DistilBert,
            "roberta-prelayernorm" => Arch::RobertaPreLayerNorm,
            other => {
                return Err(Error::model(
                    name,
                    format!(
                        "model_type '{other}' is not supported \
                         (bert, roberta, xlm-roberta, distilbert, roberta-prelayernorm are)"
                    ),
                ))
            }
        };
        let need = |keys: &[&str]| {
            get_usize(&v, keys).ok_or_else(|| Error::model(name, format!("config.json lacks {}", keys[0])))
        };
        let act_name = v
            .get(if arch == Arch::DistilBert { "activation" } else { "hidden_act" })
            .and_then(|x| x.as_str())
            .unwrap_or("gelu");
        let activation = match act_name {
            "gelu" => Activation::GeluErf,
            "gelu_new" | "gelu_pytorch_tanh" | "gelu_fast" => Activation::GeluTanh,
            "relu" => Activation::Relu,
            other => return Err(Error::model(name, format!("activation '{other}' is not supported"))),
        };
        let pad_token_id = get_usize(&v, &["pad_token_id"]).unwrap_or(if arch.roberta_like() { 1 } else { 0 }) as u32;
        let cfg = ModelConfig {
            arch,
            vocab_size: need(&["vocab_size"])?,
            hidden: need(&["hidden_size", "dim"])?,
            layers: need(&["num_hidden_layers", "n_layers"])?,
            heads: need(&["num_attention_heads", "n_heads"])?,
            intermediate: need(&["intermediate_size", "hidden_dim"])?,
            max_positions: need(&["max_position_embeddings"])?,
            type_vocab_size: if arch == Arch::DistilBert {
                0
            } else {
                get_usize(&v, &["type_vocab_size"]).unwrap_or(2)
            },
            layer_norm_eps: v.get("layer_norm_eps").and_then(|x| x.as_f64()).unwrap_or(1e-12),
            activation,
            // transformers' pre-LN head calls exact GELU whatever `hidden_act` says
            head_activation: if arch.pre_layer_norm() { Activation::GeluErf } else { activation },
            pad_token_id,
            position_offset: if arch.roberta_like() { pad_token_id as usize + 1 } else { 0 },
            causal: v.get("is_decoder").and_then(|x| x.as_bool()).unwrap_or(false),
        };
        // the causal mask is checked against transformers for the pre-LN architecture only
        if cfg.causal && !arch.pre_layer_norm() {
            return Err(Error::model(
                name,
                format!("'is_decoder' (causal) models are supported for roberta-prelayernorm only, not '{model_type}'"),
            ));
        }
        if cfg.heads == 0 || cfg.hidden % cfg.heads != 0 {
            return Err(Error::model(name, "hidden size is not a multiple of the number of heads"));
        }
        if cfg.max_positions <= cfg.position_offset + 8 {
            return Err(Error::model(name, "max_position_embeddings is too small"));
        }
        Ok(cfg)
    }

    /// Longest token sequence (special tokens included) the position table allows.
    pub fn max_sequence(&self) -> usize {
        self.max_positions - self.position_offset
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(model_type: &str, is_decoder: bool) -> String {
        format!(
            r#"{{"model_type": "{model_type}", "vocab_size": 600, "hidden_size": 32, "num_hidden_layers": 2,
                "num_attention_heads": 2, "intermediate_size": 64, "max_position_embeddings": 258,
                "is_decoder": {is_decoder}}}"#
        )
    }

    /// `is_decoder` makes a pre-LN model causal; other architectures' causal numerics are not
    /// checked against transformers, so they are refused with one line naming the reason.
    #[test]
    fn only_pre_ln_models_may_be_causal() {
        assert!(ModelConfig::from_json(&config("roberta-prelayernorm", true), "m").unwrap().causal);
        assert!(!ModelConfig::from_json(&config("roberta-prelayernorm", false), "m").unwrap().causal);
        for t in ["bert", "roberta", "distilbert"] {
            assert!(!ModelConfig::from_json(&config(t, false), "m").unwrap().causal);
            let e = ModelConfig::from_json(&config(t, true), "m").unwrap_err().to_string();
            assert!(e.contains("is_decoder") && e.contains(t) && !e.contains('\n'), "{e}");
        }
    }
}
