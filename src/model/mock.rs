//! A deterministic stand-in for a checkpoint, for tests where the model is not the point:
//! [`MockLm`] is cheap enough for tens of thousands of round trips, yet its predictions depend
//! on what each position sees, so an encoder and decoder that disagree about visibility fail
//! to decode. [`model`] pairs it with a byte-level tokenizer of 256 byte tokens and five
//! specials; [`with_mock`] puts it in place of a loaded model's network.

use super::{Architecture, MaskedLm, Model};
use crate::error::Result;
use crate::text::LosslessTokenizer;

/// Id of the mock's computation in headers.
pub const NUMERICS: &str = "llmzip-mock/1";
/// Id of the causal mock's computation.
pub const CAUSAL_NUMERICS: &str = "llmzip-mock-causal/1";
/// The mock tokenizer's specials, ids 0..5; byte `b` is id `5 + b`.
pub const SPECIALS: [&str; 5] = ["<s>", "<pad>", "</s>", "<unk>", "<mask>"];
const VOCAB: usize = 256 + SPECIALS.len();
/// Log-probability (before normalising) of every token the rule does not raise.
const FLOOR: f32 = -9.0;

pub struct MockLm {
    pub vocab: usize,
    pub max_sequence: usize,
    /// a causal mock: row p sees `s[..=p]` and predicts the token after it (what the row
    /// for position p + 1 of a masked mock would, its right neighbour unknown)
    pub causal: bool,
    /// offers ranked rows ([`MaskedLm::ranked`]), made on the host: stands for a backend
    /// that makes them itself
    pub ranked: bool,
}

impl MockLm {
    /// Peaked log-probabilities for position `p` of `s`: most mass on the token that followed
    /// the last earlier occurrence of the left neighbour (a copy rule that learns repeated
    /// text, so the mask method has tokens to mask), some on a hash of both neighbours.
    fn row(&self, s: &[u32], p: usize, out: &mut Vec<f32>) {
        let v = self.vocab;
        let left = if p > 0 { s[p - 1] } else { u32::MAX };
        let right = s.get(p + 1).copied().unwrap_or(u32::MAX);
        let copied = (1..p).rev().find(|&j| s[j - 1] == left).map(|j| s[j] as usize % v);
        let hashed = (left as u64).wrapping_mul(0x9e37_79b9).wrapping_add(right as u64 * 31) as usize % v;
        // the few raised entries, later ones overriding earlier ones at the same index
        let mut peaks: Vec<(usize, f32)> = vec![(hashed, -1.5), ((left as usize).wrapping_add(1) % v, -3.0)];
        if let Some(c) = copied {
            peaks.push((c, 0.0));
        }
        let mut distinct: Vec<(usize, f32)> = Vec::new();
        for (i, x) in peaks.into_iter().rev() {
            if !distinct.iter().any(|&(j, _)| j == i) {
                distinct.push((i, x));
            }
        }
        // log-normalise in closed form: every other entry is the floor
        let sum = (v - distinct.len()) as f32 * FLOOR.exp() + distinct.iter().map(|&(_, x)| x.exp()).sum::<f32>();
        let lse = sum.ln();
        let start = out.len();
        out.extend(std::iter::repeat_n(FLOOR - lse, v));
        for (i, x) in distinct {
            out[start + i] = x - lse;
        }
    }
}

impl MaskedLm for MockLm {
    fn vocab_size(&self) -> usize {
        self.vocab
    }
    fn max_sequence(&self) -> usize {
        self.max_sequence
    }
    fn numerics(&self) -> &str {
        if self.causal {
            CAUSAL_NUMERICS
        } else {
            NUMERICS
        }
    }
    fn architecture(&self) -> Architecture {
        Architecture { model_type: "mock", layers: 0, hidden: 0, intermediate: 0 }
    }
    fn log_probs(&self, seqs: &[Vec<u32>], sel: &[(usize, usize)]) -> Result<Vec<f32>> {
        let mut out = Vec::with_capacity(sel.len() * self.vocab);
        for &(i, p) in sel {
            if self.causal {
                self.row(&seqs[i][..=p], p + 1, &mut out);
            } else {
                self.row(&seqs[i], p, &mut out);
            }
        }
        Ok(out)
    }
    fn batch_invariant(&self) -> bool {
        true
    }
    fn causal(&self) -> bool {
        self.causal
    }
    fn ranked<'a>(&'a self, rank: &[u32], form: super::RowForm, v3: bool) -> Option<Box<dyn MaskedLm + 'a>> {
        let host = crate::coding::cm::ranked::HostRanked::new(self, rank, form, v3);
        host.filter(|_| self.ranked).map(|h| Box::new(h) as Box<dyn MaskedLm>)
    }
}

/// `m`'s tokenizer and identity with [`MockLm`] in place of its network.
pub fn with_mock(mut m: Model) -> Model {
    m.lm = Box::new(MockLm {
        vocab: m.lm.vocab_size(),
        max_sequence: m.lm.max_sequence(),
        causal: m.lm.causal(),
        ranked: false,
    });
    m
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
    mock_model(false, false)
}

/// [`model`] with the causal mock (256 positions, like llmzip's causal models).
pub fn causal_model() -> Model {
    mock_model(true, false)
}

/// [`model`] or [`causal_model`] whose network offers ranked rows ([`MockLm::ranked`]).
pub fn ranked_model(causal: bool) -> Model {
    mock_model(causal, true)
}

fn mock_model(causal: bool, ranked: bool) -> Model {
    let lm = MockLm { vocab: VOCAB, max_sequence: if causal { 256 } else { 4096 }, causal, ranked };
    let fingerprint = *blake3::hash(lm.numerics().as_bytes()).as_bytes();
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
            let plan =
                RevealPlan { window: 16, context: 8, rounds, shape, lanes: Lanes::from_count(lanes), settle: None };
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

    /// The causal plan round-trips through the causal mock at any lane count, batch and
    /// hop, and a model of the other kind refuses each plan.
    #[test]
    fn the_causal_plan_round_trips_and_needs_a_causal_model() {
        let (m, c) = (model(), causal_model());
        let text = "Causal: \u{1F600} caf\u{e9} \0\r\n and the same words again and again. ".repeat(30);
        let mut sizes = Vec::new();
        for (lanes, context, window, batch) in [(32, 8, 16, 3), (1, 0, 1, 1), (4, 64, 192, 32), (3, 5, 7, 2)] {
            let plan = RevealPlan {
                window,
                context,
                rounds: 1,
                shape: Shape::Causal,
                lanes: Lanes::AtMost(lanes),
                settle: None,
            };
            let o = Options { plan, block_size: 700, batch, ..Options::default() };
            assert!(Compressor::new(&m, o.clone()).is_err(), "a masked model refuses the causal plan");
            let mut z = Vec::new();
            Compressor::new(&c, o).unwrap().compress(text.as_bytes(), &mut z, &Hooks::default()).unwrap();
            assert_eq!(z[4], 3, "a causal plan is written as container version 3");
            let mut out = Vec::new();
            Decompressor::new(&c, 2).decompress(&z[..], &mut out, &Hooks::default()).unwrap();
            assert_eq!(out, text.as_bytes(), "{plan:?}");
            sizes.push(z.len());
        }
        assert!(sizes[0] < text.len() / 2, "the causal mock predicts repeats: {sizes:?}");
        let masked = RevealPlan {
            window: 16,
            context: 8,
            rounds: 1,
            shape: Shape::Geometric,
            lanes: Lanes::AtMost(4),
            settle: None,
        };
        assert!(Compressor::new(&c, Options { plan: masked, ..Options::default() }).is_err());
    }

    /// Ranked rows change no byte: every context-mixing version, masked and causal plans,
    /// one lane and many, files made with and without them equal and decoded with them.
    #[test]
    fn ranked_rows_make_the_same_files() {
        let text = "Ranked: \u{1F600} caf\u{e9} \0\r\n and the same words again and again, 0123. ".repeat(25);
        let causal = |lanes, context, window| RevealPlan {
            window,
            context,
            rounds: 1,
            shape: Shape::Causal,
            lanes: Lanes::AtMost(lanes),
            settle: None,
        };
        let masked = RevealPlan {
            window: 16,
            context: 8,
            rounds: 3,
            shape: Shape::Uniform,
            lanes: Lanes::from_count(4),
            settle: None,
        };
        for (is_causal, plan) in [(true, causal(8, 16, 48)), (true, causal(1, 32, 96)), (false, masked)] {
            let (plain, ranked) = (mock_model(is_causal, false), ranked_model(is_causal));
            for mix in [2, 3, 4, crate::coding::MIX_VERSION] {
                let o = Options { plan, block_size: 900, batch: 3, mix_version: mix, jobs: 2, ..Options::default() };
                let (mut a, mut b) = (Vec::new(), Vec::new());
                Compressor::new(&plain, o.clone())
                    .unwrap()
                    .compress(text.as_bytes(), &mut a, &Hooks::default())
                    .unwrap();
                Compressor::new(&ranked, o).unwrap().compress(text.as_bytes(), &mut b, &Hooks::default()).unwrap();
                assert!(a == b, "mix {mix}, {plan:?}");
                let mut out = Vec::new();
                Decompressor::new(&ranked, 2).decompress(&b[..], &mut out, &Hooks::default()).unwrap();
                assert_eq!(out, text.as_bytes());
            }
        }
    }

    #[test]
    fn probabilities_depend_on_what_the_call_shows() {
        let lm = MockLm { vocab: VOCAB, max_sequence: 64, causal: false, ranked: false };
        let a = lm.log_probs(&[vec![0, 10, 11, 4, 2]], &[(0, 3)]).unwrap();
        let b = lm.log_probs(&[vec![0, 10, 12, 4, 2]], &[(0, 3)]).unwrap();
        assert_eq!(a, lm.log_probs(&[vec![0, 10, 11, 4, 2]], &[(0, 3)]).unwrap());
        assert_eq!(a.len(), VOCAB);
        assert_ne!(a, b);
        let total: f64 = a.iter().map(|&x| (x as f64).exp()).sum();
        assert!((total - 1.0).abs() < 1e-4, "{total}");
    }
}
