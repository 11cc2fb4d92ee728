//! `llmzip finetune` on tiny models and a synthetic corpus.

mod common;

use std::cell::RefCell;
use std::path::Path;

use llmzip::model::DeviceSpec as Device;
use llmzip::schedule::{Lanes, RevealPlan, Shape};
use llmzip::train::{self, scratch, Callbacks, Objective, TrainOptions};
use llmzip::{Compressor, Hooks, Model, Options};

const CORPUS: &str = "the cat sat on the mat. the dog sat on the log. the cat saw the dog.\n";

fn corpus(dir: &Path) {
    std::fs::create_dir_all(dir).unwrap();
    std::fs::write(dir.join("a.txt"), CORPUS.repeat(40)).unwrap();
    // compressed shards are read transparently
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    std::io::Write::write_all(&mut gz, CORPUS.repeat(40).as_bytes()).unwrap();
    std::fs::write(dir.join("b.txt.gz"), gz.finish().unwrap()).unwrap();
    // not text: skipped with a warning
    std::fs::write(dir.join("image.bin"), [0u8, 159, 146, 150, 0, 1]).unwrap();
    std::fs::write(dir.join("valid.txt"), CORPUS.repeat(4)).unwrap();
}

fn opts(dir: &Path, out: &Path, model: Option<&str>, steps: usize) -> TrainOptions {
    TrainOptions {
        corpus: dir.to_path_buf(),
        model: model.map(String::from),
        scratch: None,
        out: out.to_path_buf(),
        epochs: None,
        steps: Some(steps),
        lr: 3e-3,
        batch: 8,
        seq_len: 34,
        mask_prob: 0.15,
        objective: Some(Objective::Random),
        plan: RevealPlan {
            window: 16,
            context: 8,
            rounds: 2,
            shape: Shape::Geometric,
            lanes: Lanes::AtMost(1),
            settle: None,
        },
        seed: 3,
        resume: false,
        dropout: 0.1,
        weight_decay: 0.01,
        warmup: 2,
        eval_every: 0,
        checkpoint_every: 5,
        valid: None,
        valid_bytes: 4096,
        tokenizer_bytes: 100_000,
        max_seconds: None,
    }
}

fn run(o: &TrainOptions) -> (train::TrainReport, Vec<f32>, Vec<String>) {
    let losses = RefCell::new(Vec::new());
    let warnings = RefCell::new(Vec::new());
    let on_step = |_s: usize, l: f32, _t: f64| losses.borrow_mut().push(l);
    let warn = |m: &str| warnings.borrow_mut().push(m.to_string());
    let cb = Callbacks { on_step: &on_step, on_eval: &|_| {}, cancel: &|| false, warn: &warn };
    let r = train::run(o, &Device::Cpu, &cb).unwrap();
    (r, losses.into_inner(), warnings.into_inner())
}

/// Coded bytes (header excluded) with the plan of `opts`, batched in lanes as training's
/// validation does.
fn compressed_size(model: &Model, text: &[u8]) -> usize {
    let plan = RevealPlan {
        window: 16,
        context: 8,
        rounds: 2,
        shape: Shape::Geometric,
        lanes: Options::default().plan.lanes,
        settle: None,
    };
    let c = Compressor::new(model, Options { plan, block_size: 1 << 20, ..Options::default() }).unwrap();
    let mut z = Vec::new();
    c.compress(text, &mut z, &Hooks::default()).unwrap();
    z.len() - c.header().to_bytes().len()
}

#[test]
fn finetuning_lowers_loss_and_compresses_training_text_smaller() {
    let d = tempfile::tempdir().unwrap();
    let corpus_dir = d.path().join("corpus");
    corpus(&corpus_dir);
    let base = common::fixture("tiny-roberta");
    let out = d.path().join("out");
    let (report, losses, warnings) = run(&opts(&corpus_dir, &out, Some(base.to_str().unwrap()), 40));
    assert_eq!(report.steps, 40);
    assert!(warnings.iter().any(|w| w.contains("image.bin")), "{warnings:?}");
    let first: f32 = losses[..5].iter().sum::<f32>() / 5.0;
    let last: f32 = losses[losses.len() - 5..].iter().sum::<f32>() / 5.0;
    assert!(last < first * 0.8, "loss did not fall: {first} -> {last}");

    let text = CORPUS.repeat(10);
    let before = compressed_size(&common::load("tiny-roberta"), text.as_bytes());
    let tuned = Model::load(out.to_str().unwrap(), &Device::Cpu).unwrap();
    let after = compressed_size(&tuned, text.as_bytes());
    assert!(after < before, "fine-tuned {after} bytes, base {before} bytes");

    // the reloaded model predicts exactly as the in-memory one did at the final validation
    let last_eval = report.evals.last().unwrap();
    let valid = CORPUS.repeat(4);
    assert_eq!(compressed_size(&tuned, valid.as_bytes()), last_eval.coded_bytes);
}

#[test]
fn resume_continues_from_the_saved_step() {
    let d = tempfile::tempdir().unwrap();
    let corpus_dir = d.path().join("corpus");
    corpus(&corpus_dir);
    let base = common::fixture("tiny-bert");
    let out = d.path().join("out");
    let (r1, _, _) = run(&opts(&corpus_dir, &out, Some(base.to_str().unwrap()), 10));
    assert_eq!(r1.steps, 10);
    let state: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("checkpoint/state.json")).unwrap()).unwrap();
    assert_eq!(state["step"], 10);
    let mut o = opts(&corpus_dir, &out, Some(base.to_str().unwrap()), 16);
    o.resume = true;
    let (r2, losses, _) = run(&o);
    assert_eq!(r2.steps, 16);
    assert_eq!(losses.len(), 6, "resumed run must do only the remaining steps");
    assert!(r2.tokens_seen > r1.tokens_seen);
}

#[test]
fn from_scratch_trains_a_byte_lossless_tokenizer_and_model() {
    let d = tempfile::tempdir().unwrap();
    let corpus_dir = d.path().join("corpus");
    corpus(&corpus_dir);
    let out = d.path().join("out");
    let mut o = opts(&corpus_dir, &out, None, 6);
    o.scratch = Some(scratch::Size {
        vocab: 400,
        layers: 1,
        hidden: 16,
        heads: 2,
        intermediate: 32,
        seq_len: 34,
        pre_layer_norm: false,
    });
    o.objective = Some(Objective::Schedule);
    let (r, _, _) = run(&o);
    assert_eq!(r.steps, 6);
    let m = Model::load(out.to_str().unwrap(), &Device::Cpu).unwrap();
    // byte-level BPE reproduces any valid UTF-8 without literal exceptions
    for s in ["hello world", "  spaces\tand\nnewlines\r\n", "émoji 😀 漢字", "the cat sat"] {
        let t = m.tokenizer.encode(s.as_bytes()).unwrap();
        assert_eq!(t.exceptions, 0, "{s:?}");
        assert_eq!(m.tokenizer.decode(&t.ids, &t.residual).unwrap(), s.as_bytes());
    }
    // and round-trips arbitrary bytes
    use rand::{RngCore, SeedableRng};
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(1);
    for n in [0, 1, 17, 500] {
        let mut b = vec![0u8; n];
        rng.fill_bytes(&mut b);
        let t = m.tokenizer.encode(&b).unwrap();
        assert_eq!(m.tokenizer.decode(&t.ids, &t.residual).unwrap(), b);
    }
}

#[test]
fn same_seed_same_weights() {
    let d = tempfile::tempdir().unwrap();
    let corpus_dir = d.path().join("corpus");
    corpus(&corpus_dir);
    let base = common::fixture("tiny-distilbert");
    let a = d.path().join("a");
    let b = d.path().join("b");
    run(&opts(&corpus_dir, &a, Some(base.to_str().unwrap()), 5));
    run(&opts(&corpus_dir, &b, Some(base.to_str().unwrap()), 5));
    assert_eq!(
        std::fs::read(a.join("model.safetensors")).unwrap(),
        std::fs::read(b.join("model.safetensors")).unwrap()
    );
}

/// Regression: the shuffle pool was filled across passes, so on a small corpus the first
/// batch read the file dozens of times and `--epochs N` trained a single step. An epoch is one
/// pass: N epochs see N times the tokens of one.
#[test]
fn epochs_count_whole_passes_over_a_small_corpus() {
    let d = tempfile::tempdir().unwrap();
    let text = d.path().join("small.txt");
    std::fs::write(&text, CORPUS.repeat(3)).unwrap();
    let base = common::fixture("tiny-roberta");
    let mut seen = Vec::new();
    for epochs in [1, 4] {
        let mut o = opts(&text, &d.path().join(format!("e{epochs}")), Some(base.to_str().unwrap()), 0);
        o.steps = None;
        o.epochs = Some(epochs);
        o.checkpoint_every = 0;
        let (r, losses, _) = run(&o);
        assert_eq!(losses.len(), r.steps);
        seen.push(r.tokens_seen);
    }
    assert!(seen[0] > 0);
    assert_eq!(seen[1], 4 * seen[0], "4 epochs must see 4 passes of tokens");
}

/// Regression: a checkpoint taken after the reader had consumed the whole (small) corpus
/// resumed at the end of a pass, and the resumed run trained no step at all.
#[test]
fn resume_at_the_end_of_a_pass_keeps_training() {
    let d = tempfile::tempdir().unwrap();
    let text = d.path().join("small.txt");
    std::fs::write(&text, CORPUS.repeat(10)).unwrap();
    let base = common::fixture("tiny-roberta");
    let out = d.path().join("out");
    let (r1, _, _) = run(&opts(&text, &out, Some(base.to_str().unwrap()), 2));
    assert_eq!(r1.steps, 2);
    let mut o = opts(&text, &out, Some(base.to_str().unwrap()), 5);
    o.resume = true;
    let (r2, losses, _) = run(&o);
    assert_eq!((r2.steps, losses.len()), (5, 3));
}

/// A Hugging Face pre-LayerNorm checkpoint trains with the any-order objective by default
/// and comes out as a checkpoint llmzip loads, predicting its training text better.
#[test]
fn pre_layer_norm_checkpoint_continues_with_the_any_order_objective() {
    let d = tempfile::tempdir().unwrap();
    let corpus_dir = d.path().join("corpus");
    corpus(&corpus_dir);
    let base = common::fixture("tiny-roberta-prelayernorm");
    let out = d.path().join("out");
    let mut o = opts(&corpus_dir, &out, Some(base.to_str().unwrap()), 40);
    o.objective = None;
    let (report, losses, _) = run(&o);
    assert_eq!(report.objective, "any-order");
    let training: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("training.json")).unwrap()).unwrap();
    assert_eq!(training["objective"], "any-order");
    // context 8 + window 16 tokens per sequence (the last of a pass may be shorter)
    assert!((40 * 8 * 22..=40 * 8 * 24).contains(&report.tokens_seen), "{}", report.tokens_seen);
    let first: f32 = losses[..5].iter().sum::<f32>() / 5.0;
    let last: f32 = losses[losses.len() - 5..].iter().sum::<f32>() / 5.0;
    assert!(last < first * 0.8, "loss did not fall: {first} -> {last}");
    let cfg = std::fs::read_to_string(out.join("config.json")).unwrap();
    assert!(cfg.contains("roberta-prelayernorm"));
    let text = CORPUS.repeat(10);
    let before = compressed_size(&common::load("tiny-roberta-prelayernorm"), text.as_bytes());
    let after = compressed_size(&Model::load(out.to_str().unwrap(), &Device::Cpu).unwrap(), text.as_bytes());
    assert!(after < before, "fine-tuned {after} bytes, base {before} bytes");
}

/// A corpus whose only file is also the validation text cannot train (the held-out text never
/// trains); the error says that instead of calling the corpus empty.
#[test]
fn a_corpus_that_is_only_the_validation_text_says_so() {
    let tmp = tempfile::tempdir().unwrap();
    let file = tmp.path().join("notes.txt");
    std::fs::write(&file, CORPUS.repeat(10)).unwrap();
    let base = common::fixture("tiny-roberta");
    let mut o = opts(&file, &tmp.path().join("out"), Some(base.to_str().unwrap()), 2);
    o.valid = Some(file.clone());
    let cb = Callbacks { on_step: &|_, _, _| {}, on_eval: &|_| {}, cancel: &|| false, warn: &|_| {} };
    let e = train::run(&o, &Device::Cpu, &cb).unwrap_err().to_string();
    assert!(e.contains("only file is the validation text"), "{e}");
    o.valid = None;
    let (r, losses, _) = run(&o);
    assert_eq!((r.steps, losses.len()), (2, 2), "the same file trains without --valid");
}

/// Mean next-token cost (nats) of `text`'s first 100 tokens, each predicted from the tokens
/// before it by a causal model.
fn next_token_nats(m: &Model, text: &str) -> f32 {
    let ids = m.tokenizer.encode(text.as_bytes()).unwrap().ids;
    let ids = &ids[..100];
    let seq = [&[m.tokenizer.ids.cls], ids].concat();
    let sel: Vec<(usize, usize)> = (0..ids.len()).map(|p| (0, p)).collect();
    let lp = m.lm.log_probs(&[seq], &sel).unwrap();
    let v = m.lm.vocab_size();
    -ids.iter().enumerate().map(|(p, &t)| lp[p * v + t as usize]).sum::<f32>() / ids.len() as f32
}

/// A causal checkpoint (`is_decoder`) trains on next-token prediction, chosen by its config (a
/// masked objective is refused), and comes out causal, predicting its training text better.
#[test]
fn causal_checkpoint_trains_on_next_tokens() {
    let d = tempfile::tempdir().unwrap();
    let corpus_dir = d.path().join("corpus");
    std::fs::create_dir_all(&corpus_dir).unwrap();
    std::fs::write(corpus_dir.join("a.txt"), CORPUS.repeat(40)).unwrap();
    let base = common::fixture("tiny-roberta-prelayernorm-causal");
    let out = d.path().join("out");
    let mut o = opts(&corpus_dir, &out, Some(base.to_str().unwrap()), 40);
    let cb = Callbacks { on_step: &|_, _, _| {}, on_eval: &|_| {}, cancel: &|| false, warn: &|_| {} };
    let e = train::run(&o, &Device::Cpu, &cb).unwrap_err().to_string();
    assert!(e.contains("next-token") && e.contains("random"), "{e}");
    o.objective = None;
    let (report, losses, _) = run(&o);
    assert_eq!(report.objective, "next-token");
    // [CLS] and 33 content tokens per sequence (the last of a pass may be shorter)
    assert!((40 * 8 * 31..=40 * 8 * 33).contains(&report.tokens_seen), "{}", report.tokens_seen);
    let first: f32 = losses[..5].iter().sum::<f32>() / 5.0;
    let last: f32 = losses[losses.len() - 5..].iter().sum::<f32>() / 5.0;
    assert!(last < first * 0.8, "loss did not fall: {first} -> {last}");
    let tuned = Model::load(out.to_str().unwrap(), &Device::Cpu).unwrap();
    assert!(tuned.lm.causal());
    let text = CORPUS.repeat(10);
    let (before, after) =
        (next_token_nats(&common::load("tiny-roberta-prelayernorm-causal"), &text), next_token_nats(&tuned, &text));
    eprintln!("next-token cost of the training text: {before} -> {after} nats; training loss {first} -> {last}");
    assert!(after < before * 0.8, "next-token cost {before} -> {after} nats");
}
