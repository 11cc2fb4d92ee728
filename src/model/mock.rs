//! A deterministic stand-in for a checkpoint: [`MockLm`] computes log-probabilities from a
//! hash of everything a call shows, and [`model`] pairs it with a byte-level tokenizer of 256
//! byte tokens and five specials. Plans, methods and the container round-trip through it in
//! tests without loading weights, and any difference between what the encoder and the
//! decoder show the model changes the probabilities, so it cannot go unnoticed.

use super::{Architecture, MaskedLm, Model};
use crate::error::Result;
use crate::text::LosslessTokenizer;

/// Id of the mock's computation in headers.
pub const NUMERICS: &str = "llmzip-mock/1";
/// The mock tokenizer's specials, ids 0..5; byte `b` is id `5 + b`.
pub const SPECIALS: [&str; 5] = ["<s>", "<pad>", "</s>", "<unk>", "<mask>"];
const VOCAB: usize = 256 + SPECIALS.len();

pub struct MockLm {
    pub vocab: usize,
    pub max_sequence: usize,
}

fn mix(mut h: u64, x: u64) -> u64 {
    h ^= x.wrapping_add(0x9e37_79b9_7f4a_7c15).wrapping_add(h << 6).wrapping_add(h >> 2);
    h.wrapping_mul(0xff51_afd7_ed55_8ccd)
}

impl MaskedLm for MockLm {
    fn vocab_size(&self) -> usize {
        self.vocab
    }
    fn max_sequence(&self) -> usize {
        self.max_sequence
    }
    fn numerics(&self) -> &str {
        NUMERICS
    }
    fn architecture(&self) -> Architecture {
        Architecture { model_type: "mock", layers: 0, hidden: 0, intermediate: 0 }
    }
    /// A peaked distribution: the token after the nearest shown token to the left (bytes
    /// repeat, so it is often right), the rest spread by a hash of the whole sequence and the
    /// position. Sums in a fixed order in f32: the same numbers on every machine.
    fn log_probs(&self, seqs: &[Vec<u32>], sel: &[(usize, usize)]) -> Result<Vec<f32>> {
        let v = self.vocab;
        let mut out = Vec::with_capacity(sel.len() * v);
        for &(i, p) in sel {
            let seq = &seqs[i];
            let seen = seq.iter().fold(mix(0, seq.len() as u64), |h, &t| mix(h, t as u64));
            let h = mix(seen, p as u64);
            let guess = seq[..p].iter().rev().find(|&&t| t != 4 && t >= 5).map(|&t| (t as usize + 1) % v);
            let logits: Vec<f32> = (0..v)
                .map(|j| {
                    let spread = (mix(h, j as u64) >> 40) as f32 / (1u64 << 24) as f32;
                    if Some(j) == guess {
                        4.0 + spread
                    } else {
                        spread
                    }
                })
                .collect();
            let max = logits.iter().fold(f32::MIN, |m, &x| m.max(x));
            let lse = max + logits.iter().map(|&x| (x - max).exp()).sum::<f32>().ln();
            out.extend(logits.iter().map(|&x| x - lse));
        }
        Ok(out)
    }
}

/// The mock tokenizer: byte-level BPE without merges, so every byte is one token.
pub fn tokenizer() -> LosslessTokenizer {
    let added: Vec<serde_json::Value> = SPECIALS
        .iter()
        .enumerate()
        .map(|(i, s)| {
            serde_json::json!({"id": i, "content": s, "single_word": false, "lstrip": false,
                "rstrip": false, "normalized": false, "special": true})
        })
        .collect();
    let mut vocab = serde_json::Map::new();
    for (i, s) in SPECIALS.iter().enumerate() {
        vocab.insert(s.to_string(), i.into());
    }
    for (b, c) in crate::text::byte_level_chars() {
        vocab.insert(c.to_string(), (SPECIALS.len() + b as usize).into());
    }
    let byte_level =
        serde_json::json!({"type": "ByteLevel", "add_prefix_space": false, "trim_offsets": true, "use_regex": true});
    let json = serde_json::json!({
        "version": "1.0", "truncation": null, "padding": null, "added_tokens": added,
        "normalizer": null, "pre_tokenizer": byte_level, "post_processor": null, "decoder": byte_level,
        "model": {"type": "BPE", "dropout": null, "unk_token": null, "continuing_subword_prefix": null,
            "end_of_word_suffix": null, "fuse_unk": false, "byte_fallback": false, "ignore_merges": false,
            "vocab": vocab, "merges": []}
    });
    LosslessTokenizer::from_bytes(json.to_string().as_bytes(), "mock").expect("the mock tokenizer is valid")
}

/// A [`Model`] of the mock tokenizer and [`MockLm`] (4,096 positions).
pub fn model() -> Model {
    let lm = MockLm { vocab: VOCAB, max_sequence: 4096 };
    let fingerprint = *blake3::hash(NUMERICS.as_bytes()).as_bytes();
    Model::from_parts("mock", fingerprint, tokenizer(), Box::new(lm)).expect("vocabularies agree")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::coding::Method;
    use crate::schedule::{Lanes, RevealPlan, Shape};
    use crate::{Compressor, Decompressor, Hooks, Options};

    #[test]
    fn plans_and_methods_round_trip_through_the_mock() {
        let m = model();
        let text = "Any bytes: \u{1F600} caf\u{e9} \0\r\n[MASK] <mask> and the same words again and again. ".repeat(20);
        let mut sizes = Vec::new();
        for (lanes, rounds, shape, method) in [
            (32, 1, Shape::Geometric, Method::Arith),
            (0, 3, Shape::Uniform, Method::Arith),
            (4, 4, Shape::Geometric, Method::Mask),
            (1, 2, Shape::Uniform, Method::Arith),
        ] {
            let plan = RevealPlan { window: 16, context: 8, rounds, shape, lanes: Lanes::from_count(lanes) };
            let o = Options { plan, method, block_size: 500, batch: 3, ..Options::default() };
            let mut z = Vec::new();
            Compressor::new(&m, o).unwrap().compress(text.as_bytes(), &mut z, &Hooks::default()).unwrap();
            let mut out = Vec::new();
            Decompressor::new(&m, 2).decompress(&z[..], &mut out, &Hooks::default()).unwrap();
            assert_eq!(out, text.as_bytes());
            sizes.push(z.len());
        }
        assert!(sizes[0] < text.len(), "the mock predicts repeats: {sizes:?}");
    }

    #[test]
    fn probabilities_depend_on_what_the_call_shows() {
        let lm = MockLm { vocab: VOCAB, max_sequence: 64 };
        let a = lm.log_probs(&[vec![0, 10, 11, 4, 2]], &[(0, 3)]).unwrap();
        let b = lm.log_probs(&[vec![0, 10, 12, 4, 2]], &[(0, 3)]).unwrap();
        assert_eq!(a, lm.log_probs(&[vec![0, 10, 11, 4, 2]], &[(0, 3)]).unwrap());
        assert_ne!(a, b);
        let total: f64 = a.iter().map(|&x| (x as f64).exp()).sum();
        assert!((total - 1.0).abs() < 1e-4, "{total}");
    }
}
