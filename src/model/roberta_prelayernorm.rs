//! RobertaPreLayerNormForMaskedLM tensor names (`roberta_prelayernorm.*`, `lm_head.*`).
//! Each layer normalises the input of its attention (`attention.LayerNorm`) and of its
//! feed-forward block (`intermediate.LayerNorm`); the embeddings keep their LayerNorm, and
//! `roberta_prelayernorm.LayerNorm` normalises the last layer's output before the head.
use super::transformer::Names;

pub fn names() -> Names {
    let r = super::roberta::names();
    let re = |s: String| s.replacen("roberta.", "roberta_prelayernorm.", 1);
    Names {
        word: re(r.word),
        position: re(r.position),
        token_type: r.token_type.map(re),
        emb_norm: re(r.emb_norm),
        layer: re(r.layer),
        attn_norm: "attention.LayerNorm",
        ffn_norm: "intermediate.LayerNorm",
        final_norm: Some("roberta_prelayernorm.LayerNorm".into()),
        ..r
    }
}
