//! RobertaForMaskedLM / XLMRobertaForMaskedLM tensor names (`roberta.*`, `lm_head.*`). The
//! encoder is BERT's under another prefix; positions start at padding_idx + 1 (handled by
//! `ModelConfig`).
use super::transformer::Names;

pub fn names() -> Names {
    Names {
        head_dense: "lm_head.dense".into(),
        head_norm: "lm_head.layer_norm".into(),
        head_decoder: "lm_head.decoder".into(),
        head_bias: vec!["lm_head.bias".into(), "lm_head.decoder.bias".into()],
        ..super::bert::names().with_prefix("bert.", "roberta.")
    }
}
