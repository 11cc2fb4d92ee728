//! Lossless for every input, both methods, all three architectures (library level).

mod common;

use llmzip::coding::Method;
use llmzip::container::Header;
use llmzip::schedule::{RevealPlan, Shape};
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
        plan: RevealPlan { window: 16, context: 4, rounds: 3, shape: Shape::Uniform, lanes: 4 },
        batch: 4,
        mask_rate: 0.5,
        block_size: 300,
        mix: true,
        mix_version: llmzip::coding::MIX_VERSION,
        jobs: 1,
    }
}

pub fn roundtrip(m: &Model, o: &Options, data: &[u8]) -> Vec<u8> {
    let c = Compressor::new(m, o.clone()).unwrap();
    let mut z = Vec::new();
    c.compress(data, &mut z, &Hooks::default()).unwrap();
    let mut r = &z[..];
    let h = Header::read(&mut r).unwrap().unwrap();
    let d = Decompressor::new(m, h).unwrap();
    let mut out = Vec::new();
    d.decompress_member(&mut r, &mut out, &Hooks::default()).unwrap();
    assert!(r.is_empty(), "member must be consumed exactly");
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
            o.plan = RevealPlan { window: w, context: c, rounds: r, shape: s, lanes: l };
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

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, .. ProptestConfig::default() })]
    #[test]
    fn arbitrary_bytes_round_trip(data in proptest::collection::vec(any::<u8>(), 0..400), arch in 0usize..3, mask in any::<bool>()) {
        let method = if mask { Method::Mask } else { Method::Arith };
        roundtrip(&models()[arch], &opts(method), &data);
    }

    #[test]
    fn arbitrary_text_round_trips(s in "(?s).{0,300}", arch in 0usize..3) {
        roundtrip(&models()[arch], &opts(Method::Arith), s.as_bytes());
    }
}
