//! RobertaForMaskedLM / XLMRobertaForMaskedLM tensor names (`roberta.*`, `lm_head.*`). The
//! encoder is BERT's; positions start at padding_idx + 1 (handled by `ModelConfig`).
use super::transformer::Names;

pub fn names() -> Names {
    Names {
        word: "roberta.embeddings.word_embeddings".into(),
        position: "roberta.embeddings.position_embeddings".into(),
        token_type: Some("roberta.embeddings.token_type_embeddings".into()),
        emb_norm: "roberta.embeddings.LayerNorm".into(),
        layer: "roberta.encoder.layer.{}".into(),
        q: "attention.self.query",
        k: "attention.self.key",
        v: "attention.self.value",
        attn_out: "attention.output.dense",
        attn_norm: "attention.output.LayerNorm",
        ffn_in: "intermediate.dense",
        ffn_out: "output.dense",
        ffn_norm: "output.LayerNorm",
        head_dense: "lm_head.dense".into(),
        head_norm: "lm_head.layer_norm".into(),
        head_decoder: "lm_head.decoder".into(),
        head_bias: vec!["lm_head.bias".into(), "lm_head.decoder.bias".into()],
    }
}
