//! RobertaForMaskedLM / XLMRobertaForMaskedLM tensor names (`roberta.*`, `lm_head.*`). The
//! encoder is BERT's under another prefix; positions start at padding_idx + 1 (handled by
//! `ModelConfig`).
use super::transformer::Names;

pub fn names() -> Names {
    let b = super::bert::names();
    let re = |s: String| s.replacen("bert.", "roberta.", 1);
    Names {
        word: re(b.word),
        position: re(b.position),
        token_type: b.token_type.map(re),
        emb_norm: re(b.emb_norm),
        layer: re(b.layer),
        head_dense: "lm_head.dense".into(),
        head_norm: "lm_head.layer_norm".into(),
        head_decoder: "lm_head.decoder".into(),
        head_bias: vec!["lm_head.bias".into(), "lm_head.decoder.bias".into()],
        ..b
    }
}
