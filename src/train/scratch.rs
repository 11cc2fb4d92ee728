//! `--from-scratch`: a byte-level BPE tokenizer trained on the corpus (every byte has a
//! token, so it is byte-lossless) and a new RoBERTa-style configuration.

use std::collections::HashSet;

use tokenizers::models::bpe::{BpeTrainerBuilder, BPE};
use tokenizers::models::TrainerWrapper;
use tokenizers::pre_tokenizers::byte_level::ByteLevel;
use tokenizers::processors::roberta::RobertaProcessing;
use tokenizers::{AddedToken, Tokenizer};

use crate::error::{Error, Result};

pub const SPECIALS: [&str; 5] = ["<s>", "<pad>", "</s>", "<unk>", "<mask>"];

#[derive(Debug, Clone)]
pub struct Size {
    pub vocab: usize,
    pub layers: usize,
    pub hidden: usize,
    pub heads: usize,
    pub intermediate: usize,
    /// model sequence length, special tokens included
    pub seq_len: usize,
    /// pre-LayerNorm RoBERTa (`roberta-prelayernorm`) rather than RoBERTa
    pub pre_layer_norm: bool,
}

pub fn train_tokenizer(texts: &[String], vocab: usize) -> Result<Tokenizer> {
    if vocab < 300 {
        return Err(Error::Invalid("--vocab must be at least 300 (256 bytes + specials + merges)".into()));
    }
    let bl = ByteLevel::default().add_prefix_space(false);
    let mut tok = Tokenizer::new(BPE::default());
    tok.with_pre_tokenizer(Some(bl));
    tok.with_decoder(Some(bl));
    tok.with_post_processor(Some(
        RobertaProcessing::new(("</s>".into(), 2), ("<s>".into(), 0)).add_prefix_space(false),
    ));
    let alphabet: HashSet<char> = ByteLevel::alphabet().into_iter().collect();
    let mut trainer: TrainerWrapper = BpeTrainerBuilder::new()
        .vocab_size(vocab)
        .min_frequency(2)
        .show_progress(false)
        .special_tokens(SPECIALS.iter().map(|s| AddedToken::from(*s, true)).collect())
        .initial_alphabet(alphabet)
        .build()
        .into();
    tok.train(&mut trainer, texts.iter()).map_err(|e| Error::Tokenizer(e.to_string()))?;
    Ok(tok)
}

pub fn roberta_config(s: &Size) -> serde_json::Value {
    let (arch, model_type) = if s.pre_layer_norm {
        ("RobertaPreLayerNormForMaskedLM", "roberta-prelayernorm")
    } else {
        ("RobertaForMaskedLM", "roberta")
    };
    serde_json::json!({
        "architectures": [arch],
        "model_type": model_type,
        "vocab_size": s.vocab,
        "hidden_size": s.hidden,
        "num_hidden_layers": s.layers,
        "num_attention_heads": s.heads,
        "intermediate_size": s.intermediate,
        "max_position_embeddings": s.seq_len + 2,
        "type_vocab_size": 1,
        "hidden_act": "gelu",
        "layer_norm_eps": 1e-5,
        "pad_token_id": 1,
        "bos_token_id": 0,
        "eos_token_id": 2,
        "hidden_dropout_prob": 0.1,
        "attention_probs_dropout_prob": 0.1,
        "initializer_range": 0.02,
        "tie_word_embeddings": true
    })
}
