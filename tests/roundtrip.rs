//! Lossless for every input, both methods, every architecture (library level).

mod common;

use llmzip::coding::Method;
use llmzip::schedule::{Lanes, RevealPlan, Settle, Shape};
use llmzip::{Compressor, Decompressor, Hooks, Model, Options};
use proptest::prelude::*;
use std::sync::OnceLock;

fn models() -> &'static Vec<Model> {
    static M: OnceLock<Vec<Model>> = OnceLock::new();
    M.get_or_init(|| common::ARCHS.iter().map(|a| common::load(a)).collect())
}

fn opts(method: Method) -> Options {
    Options {
        method,
        plan: RevealPlan {
            window: 16,
            context: 4,
            rounds: 3,
            shape: Shape::Uniform,
            lanes: Lanes::AtMost(4),
            settle: None,
        },
        batch: 4,
        mask_rate: 0.5,
        select: Default::default(),
        pos_classes: llmzip::text::pos::PAPER_CLASSES.to_vec(),
        block_size: 300,
        mix: true,
        mix_version: llmzip::coding::MIX_VERSION,
        jobs: 1,
        memory: None,
        structured_plan: None,
    }
}

pub fn roundtrip(m: &Model, o: &Options, data: &[u8]) -> Vec<u8> {
    let c = Compressor::new(m, o.clone()).unwrap();
    let mut z = Vec::new();
    c.compress(data, &mut z, &Hooks::default()).unwrap();
    let mut out = Vec::new();
    let n = Decompressor::new(m, 1).decompress(&z[..], &mut out, &Hooks::default()).unwrap();
    assert_eq!(n, data.len() as u64);
    assert_eq!(out, data, "round trip differs");
    z
}

fn edge_cases() -> Vec<Vec<u8>> {
    let mut v: Vec<Vec<u8>> = vec![
        b"".to_vec(),
        b"a".to_vec(),
        b"\0\0\0 nul \0 bytes".to_vec(),
        b"windows\r\nline\r\nendings\r\n".to_vec(),
        b"tabs\tand   runs    of     spaces \n\n\n  trailing   ".to_vec(),
        "emoji 😀🎉 CJK 漢字かな 한국어 combining e\u{301} a\u{308} Ω ﬁ ligature".as_bytes().to_vec(),
        "ALL CAPS Mixed Case café naïve Ærøskøbing".as_bytes().to_vec(),
        b"[MASK] <mask> [CLS] </s> <s> [SEP] [PAD] <pad> [UNK] <unk> literal special tokens[MASK]x".to_vec(),
        vec![0xff, 0xfe, b'a', 0xc3, b' ', 0xe2, 0x82, b'b', 0x80, 0xf0, 0x9f, 0x98],
        "a".repeat(3000).into_bytes(),
        "\u{FFFD} real replacement char and \u{FFFD}".as_bytes().to_vec(),
        std::fs::read(common::fixture("tiny-bert/config.json")).unwrap(),
    ];
    // random binary, seeded (ChaCha: portable)
    use rand::{RngCore, SeedableRng};
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(7);
    let mut b = vec![0u8; 2000];
    rng.fill_bytes(&mut b);
    v.push(b);
    // multi-byte characters straddling block boundaries (block_size 300)
    v.push("é漢😀".repeat(200).into_bytes());
    v
}

#[test]
fn edge_cases_round_trip_every_arch_and_method() {
    for m in models() {
        for method in [Method::Arith, Method::Mask] {
            for data in edge_cases() {
                roundtrip(m, &opts(method), &data);
            }
        }
    }
}

#[test]
fn english_text_round_trips_with_several_plans() {
    let text = b"It was the best of times, it was the worst of times, it was the age of wisdom,\nit was the age of foolishness, it was the epoch of belief, it was the epoch of incredulity.\n".repeat(8);
    for m in models() {
        for (w, c, r, s, l) in [
            (8, 0, 1, Shape::Uniform, 0),
            (32, 8, 4, Shape::Geometric, 0),
            (64, 16, 8, Shape::Uniform, 0),
            (16, 16, 2, Shape::Geometric, 3),
            (32, 64, 4, Shape::Geometric, 32),
        ] {
            let mut o = opts(Method::Arith);
            o.plan =
                RevealPlan { window: w, context: c, rounds: r, shape: s, lanes: Lanes::from_count(l), settle: None };
            o.block_size = 1 << 20;
            o.mix = l != 3;
            roundtrip(m, &o, &text);
        }
    }
}

#[test]
fn mask_method_masks_and_respects_the_cap() {
    let m = &models()[0];
    let text = b"the the the the the the the the the the the the the the the the the the".repeat(4);
    let mut stats = llmzip::Stats::default();
    for rate in [0.0f32, 0.15, 0.5] {
        let mut o = opts(Method::Mask);
        o.mask_rate = rate;
        o.block_size = 1 << 20;
        let c = Compressor::new(m, o.clone()).unwrap();
        let mut z = Vec::new();
        stats = c.compress(&text[..], &mut z, &Hooks::default()).unwrap();
        assert!(stats.masked as f64 <= rate as f64 * stats.tokens as f64 + 1e-9, "rate {rate}: {stats:?}");
        roundtrip(m, &o, &text);
    }
    let _ = stats;
}

/// A run of invalid UTF-8 that a WordPiece tokenizer reads as one unknown word makes the
/// residual hold the text twice (patches, then the replaced text as one literal unit): more
/// than four bytes per original byte, which the decoder once refused as corrupt.
#[test]
fn invalid_utf8_runs_round_trip_with_wordpiece() {
    let data = vec![0x80u8; 70];
    for m in models() {
        for method in [Method::Arith, Method::Mask] {
            let o = Options { block_size: 71, ..opts(method) };
            roundtrip(m, &o, &data);
            roundtrip(m, &o, &[&b"word "[..], &[0xff; 300], b" end"].concat());
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, .. ProptestConfig::default() })]
    #[test]
    fn arbitrary_bytes_round_trip(data in proptest::collection::vec(any::<u8>(), 0..400), arch in 0..common::ARCHS.len(), mask in any::<bool>()) {
        let method = if mask { Method::Mask } else { Method::Arith };
        roundtrip(&models()[arch], &opts(method), &data);
    }

    #[test]
    fn arbitrary_text_round_trips(s in "(?s).{0,300}", arch in 0..common::ARCHS.len()) {
        roundtrip(&models()[arch], &opts(Method::Arith), s.as_bytes());
    }
}

/// Every tokenizer family of the fixtures (WordPiece: BERT, DistilBERT; byte-level BPE:
/// RoBERTa) and the built-in model's tokenizer, each with the mock LM in place of its network.
fn mocked() -> &'static Vec<Model> {
    static M: OnceLock<Vec<Model>> = OnceLock::new();
    M.get_or_init(|| {
        let mut v: Vec<Model> = common::ARCHS.iter().map(|a| common::mock::with_mock(common::load(a))).collect();
        let builtin = Model::load(llmzip::model::DEFAULT_MODEL, &llmzip::model::DeviceSpec::Cpu).unwrap();
        v.push(common::mock::with_mock(builtin));
        v
    })
}

/// Inputs of every kind: raw bytes, any Unicode, text-like runs of words with special-token
/// strings, odd whitespace and broken UTF-8, and repeats (which the mock LM predicts, so the
/// mask method masks).
fn any_input() -> impl Strategy<Value = Vec<u8>> {
    let word = prop_oneof![
        Just("the".to_string()),
        Just("The".to_string()),
        Just("café".to_string()),
        Just("[MASK]".to_string()),
        Just("<mask>".to_string()),
        Just("</s>".to_string()),
        Just("[UNK]".to_string()),
        Just("\r\n".to_string()),
        Just("\t  ".to_string()),
        Just("😀".to_string()),
        Just("e\u{301}".to_string()),
        "[a-zA-Z]{1,9}",
        "[0-9.,;:!?'\"()-]{1,3}",
    ];
    let text = proptest::collection::vec((word, prop_oneof![Just(" "), Just(""), Just("\n")]), 0..300)
        .prop_map(|ws| ws.into_iter().flat_map(|(w, s)| [w, s.to_string()]).collect::<String>().into_bytes());
    let broken =
        (text.clone(), proptest::collection::vec((any::<usize>(), 0x80u8..=0xff), 0..8)).prop_map(|(mut t, bad)| {
            for (at, b) in bad {
                let at = if t.is_empty() { 0 } else { at % t.len() };
                t.insert(at, b);
            }
            t
        });
    let repeated = (proptest::collection::vec(any::<u8>(), 1..40), 1usize..60).prop_map(|(c, n)| c.repeat(n));
    prop_oneof![
        proptest::collection::vec(any::<u8>(), 0..1500),
        "(?s).{0,500}".prop_map(String::into_bytes),
        text,
        broken,
        repeated,
    ]
}

/// Settings of every kind: both methods, with and without the adaptive model, any plan that
/// fits the model (settled parts included, fewer lanes for structured inputs), 1 to 8 windows
/// per call, blocks small enough that inputs span several.
fn any_options(max_sequence: usize) -> impl Strategy<Value = Options> {
    (
        any::<bool>(),
        any::<bool>(),
        1usize..=64,
        0usize..=32,
        1usize..=6,
        any::<bool>(),
        prop_oneof![Just(0usize), Just(1), Just(3), Just(32)],
        1usize..=8,
        16usize..=700,
        0.0f32..=1.0,
        0usize..3,
        ((any::<bool>(), 0usize..300, 1usize..=64), proptest::option::of(1usize..=4)),
    )
        .prop_map(
            move |(
                mask,
                mix,
                window,
                context,
                rounds,
                uniform,
                lanes,
                batch,
                block_size,
                mask_rate,
                select,
                (settle, structured),
            )| {
                let sides = if lanes == 0 { 2 } else { 1 };
                let window = window.min(max_sequence - 2);
                let context = context.min((max_sequence - 2 - window) / sides);
                Options {
                    method: if mask { Method::Mask } else { Method::Arith },
                    plan: RevealPlan {
                        window,
                        context,
                        rounds: rounds.min(window),
                        shape: if uniform { Shape::Uniform } else { Shape::Geometric },
                        lanes: Lanes::from_count(lanes),
                        // lanes may settle into sub-windows after some tokens
                        settle: (settle.0 && lanes > 0)
                            .then_some(Settle { after: settle.1, window: settle.2.min(window) }),
                    },
                    batch,
                    mask_rate,
                    // every selection strategy decodes with the one decoder
                    select: llmzip::coding::select::Select::ALL[select],
                    pos_classes: llmzip::text::pos::PAPER_CLASSES.to_vec(),
                    block_size,
                    mix,
                    mix_version: llmzip::coding::MIX_VERSION,
                    jobs: 1,
                    memory: None,
                    // structured inputs (runs, repeats) may get fewer lanes
                    structured_plan: structured.map(|l| RevealPlan {
                        window,
                        context,
                        rounds: rounds.min(window),
                        shape: if uniform { Shape::Uniform } else { Shape::Geometric },
                        lanes: Lanes::AtMost(l),
                        settle: None,
                    }),
                }
            },
        )
}

proptest! {
    // The bulk of CI's round trips: with the mock LM one costs about a millisecond, so the
    // properties are checked on thousands of inputs and settings, not dozens.
    #![proptest_config(ProptestConfig { cases: 10_000, .. ProptestConfig::default() })]
    #[test]
    fn any_input_round_trips_under_any_settings(data in any_input(), arch in any_arch(), o in any_options(shortest())) {
        roundtrip(&mocked()[arch], &o, &data);
    }
}

/// An index into [`mocked`]: each fixture three times as often as the built-in tokenizer
/// (8,000 tokens, so every predicted token costs 13 times as much as with the fixtures' 600).
fn any_arch() -> impl Strategy<Value = usize> {
    let n = common::ARCHS.len();
    (0..3 * n + 1).prop_map(move |k| (k / 3).min(n))
}

/// The fewest positions any of the mocked models takes: plans are drawn to fit them all.
fn shortest() -> usize {
    mocked().iter().map(|m| m.lm.max_sequence()).min().unwrap()
}
