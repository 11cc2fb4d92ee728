//! `--method mask --select`: every selection strategy is lossless, the decoder does not need
//! to know which one chose, and the strategies mask what they say.

mod common;

use common::{llmzip, model, setup, TEXT};
use llmzip::coding::select::Select;
use llmzip::coding::Method;
use llmzip::model::mock;
use llmzip::schedule::{Lanes, RevealPlan, Shape};
use llmzip::{Compressor, Decompressor, Hooks, Options, Stats};
use predicates::prelude::*;

/// Sixteen rounds of a 16-token window: the mock's copy rule sees the left neighbour of most
/// tokens, so repeated text has many verifiable ones.
fn mask_opts(select: Select, rate: f32) -> Options {
    let plan =
        RevealPlan { window: 16, context: 8, rounds: 16, shape: Shape::Uniform, lanes: Lanes::AtMost(4), settle: None };
    Options { method: Method::Mask, mask_rate: rate, select, plan, block_size: 700, ..Options::default() }
}

fn compress(m: &llmzip::Model, o: &Options, data: &[u8]) -> (Vec<u8>, Stats) {
    let mut z = Vec::new();
    let s = Compressor::new(m, o.clone()).unwrap().compress(data, &mut z, &Hooks::default()).unwrap();
    (z, s)
}

#[test]
fn every_strategy_round_trips_with_one_decoder() {
    let m = mock::model();
    let prose = TEXT.repeat(6);
    let inputs: [&[u8]; 4] =
        [prose.as_bytes(), b"", b"\xff\xfe invalid \xc3 utf-8 the cat sat", "caf\u{e9} \u{1F600}".as_bytes()];
    let dec = Decompressor::new(&m, 1);
    for data in inputs {
        let mut headers = Vec::new();
        for select in Select::ALL {
            let o = mask_opts(select, 0.5);
            let (z, _) = compress(&m, &o, data);
            let mut out = Vec::new();
            dec.decompress(&z[..], &mut out, &Hooks::default()).unwrap();
            assert_eq!(out, data, "{select:?} round trip");
            headers.push(Compressor::new(&m, o).unwrap().header().to_bytes());
        }
        // the strategy is not part of the format
        assert!(headers.windows(2).all(|w| w[0] == w[1]));
    }
}

#[test]
fn confidence_masks_most_and_pos_masks_only_tagged_words() {
    let m = mock::model();
    let prose = TEXT.repeat(6);
    let masked = |select, rate| compress(&m, &mask_opts(select, rate), prose.as_bytes()).1.masked;
    let (c, r, p) = (masked(Select::Confidence, 0.5), masked(Select::Random, 0.5), masked(Select::Pos, 0.5));
    assert!(r > 0 && p > 0, "random {r}, pos {p}");
    assert!(c > r && c > p, "confidence {c} should mask more than random {r} and pos {p}");
    // a lower cap masks fewer
    assert!(masked(Select::Confidence, 0.15) < c);
    // pos with a class the text lacks masks nothing
    let o = Options { pos_classes: vec![llmzip::text::pos::UPOS::NUM], ..mask_opts(Select::Pos, 0.5) };
    assert_eq!(compress(&m, &o, prose.as_bytes()).1.masked, 0);
}

#[test]
fn cli_select_and_pos_classes() {
    let d = setup();
    let p = d.path();
    let m = model("tiny-roberta");
    for select in ["confidence", "random", "pos"] {
        let z = llmzip(p)
            .args(["compress", "-c", "notes.txt", "--method", "mask", "--select", select, "--model", &m])
            .args(["--pos-classes", "NOUN,PROPN"])
            .assert()
            .success()
            .get_output()
            .stdout
            .clone();
        llmzip(p).args(["decompress", "-c", "-"]).write_stdin(z).assert().success().stdout(TEXT);
    }
    llmzip(p)
        .args(["compress", "-c", "notes.txt", "--select", "pos", "--pos-classes", "NOUN,THING"])
        .assert()
        .failure()
        .stderr(predicate::str::contains("not a universal part-of-speech tag"));
}
