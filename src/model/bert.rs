//! BertForMaskedLM tensor names (`bert.*`, `cls.predictions.*`).
use super::transformer::Names;

pub fn names() -> Names {
    Names {
        word: "bert.embeddings.word_embeddings".into(),
        position: "bert.embeddings.position_embeddings".into(),
        token_type: Some("bert.embeddings.token_type_embeddings".into()),
        emb_norm: "bert.embeddings.LayerNorm".into(),
        layer: "bert.encoder.layer.{}".into(),
        q: "attention.self.query",
        k: "attention.self.key",
        v: "attention.self.value",
        attn_out: "attention.output.dense",
        attn_norm: "attention.output.LayerNorm",
        ffn_in: "intermediate.dense",
        ffn_out: "output.dense",
        ffn_norm: "output.LayerNorm",
        final_norm: None,
        head_dense: "cls.predictions.transform.dense".into(),
        head_norm: "cls.predictions.transform.LayerNorm".into(),
        head_decoder: "cls.predictions.decoder".into(),
        head_bias: vec!["cls.predictions.bias".into(), "cls.predictions.decoder.bias".into()],
    }
}
