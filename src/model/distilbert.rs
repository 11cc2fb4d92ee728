//! DistilBertForMaskedLM tensor names (`distilbert.*`, `vocab_*`). No token-type embeddings.
use super::transformer::Names;

pub fn names() -> Names {
    Names {
        word: "distilbert.embeddings.word_embeddings".into(),
        position: "distilbert.embeddings.position_embeddings".into(),
        token_type: None,
        emb_norm: "distilbert.embeddings.LayerNorm".into(),
        layer: "distilbert.transformer.layer.{}".into(),
        q: "attention.q_lin",
        k: "attention.k_lin",
        v: "attention.v_lin",
        attn_out: "attention.out_lin",
        attn_norm: "sa_layer_norm",
        ffn_in: "ffn.lin1",
        ffn_out: "ffn.lin2",
        ffn_norm: "output_layer_norm",
        final_norm: None,
        head_dense: "vocab_transform".into(),
        head_norm: "vocab_layer_norm".into(),
        head_decoder: "vocab_projector".into(),
        head_bias: vec!["vocab_projector.bias".into()],
    }
}
