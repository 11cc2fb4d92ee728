//! RobertaPreLayerNormForMaskedLM tensor names (`roberta_prelayernorm.*`, `lm_head.*`).
//! Each layer normalises the input of its attention (`attention.LayerNorm`) and of its
//! feed-forward block (`intermediate.LayerNorm`); the embeddings keep their LayerNorm, and
//! `roberta_prelayernorm.LayerNorm` normalises the last layer's output before the head.
use super::transformer::Names;

pub fn names() -> Names {
    Names {
        attn_norm: "attention.LayerNorm",
        ffn_norm: "intermediate.LayerNorm",
        final_norm: Some("roberta_prelayernorm.LayerNorm".into()),
        ..super::roberta::names().with_prefix("roberta.", "roberta_prelayernorm.")
    }
}
