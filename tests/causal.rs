//! Causal (`is_decoder`) pre-LN models on the integer engine: quantised with causal
//! calibration they track the float model, and the K/V prefix cache gives the bits of a fresh
//! engine whatever the calls (extensions, hops, unrelated sequences, selections anywhere).

mod common;

use std::collections::HashMap;
use std::fs;
use std::path::PathBuf;

use candle_core::{Device, Tensor};
use llmzip::model::candle::names_for;
use llmzip::model::config::ModelConfig;
use llmzip::model::int8::calibrate::{FloatModel, Stats};
use llmzip::model::int8::{make, quantize, IntLm};
use llmzip::MaskedLm;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

const FLOAT: &str = "tiny-roberta-prelayernorm-causal";

fn sample() -> Vec<u8> {
    fs::read(PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("data/sample/pellucidar.txt")).unwrap()
}

fn bits(v: &[f32]) -> Vec<u32> {
    v.iter().map(|x| x.to_bits()).collect()
}

/// Next-token log-probabilities of the integer engine against the float model's on text the
/// calibration did not see: at most 1% more bits per token, KL below 0.02 bits.
#[test]
fn integer_causal_log_probs_track_the_float_model() {
    let dir = common::fixture(FLOAT);
    let name = dir.to_str().unwrap();
    let (p, _) = make::quantize(name, &sample()[..20000], 8000, &quantize::Options::default()).unwrap();
    let held_out = fs::read(common::fixture("tiny-bert/config.json")).unwrap().repeat(8);
    let text = [&sample()[20000..], &held_out[..]].concat();
    let c = make::check(name, &p, &text, 8000).unwrap();
    eprintln!("{c:?}");
    assert!(c.positions > 5000);
    assert!(c.int_bits < c.float_bits * 1.01, "{} vs {}", c.int_bits, c.float_bits);
    assert!(c.kl_bits < 0.02, "KL {}", c.kl_bits);
    assert!(c.max_abs_diff < 2.0, "max |Δ| {}", c.max_abs_diff);
}

/// The float forward pass that calibration runs is causal as the model is: its rows equal
/// the candle backend's (which tests/golden.rs pins to transformers).
#[test]
fn calibration_runs_the_model_causally() {
    let m = common::load(FLOAT);
    let dir = common::fixture(FLOAT);
    let cfg = ModelConfig::from_json(&fs::read_to_string(dir.join("config.json")).unwrap(), "t").unwrap();
    assert!(cfg.causal && m.lm.causal());
    let t = llmzip::model::candle::read_weights(&[&fs::read(dir.join("model.safetensors")).unwrap()], &Device::Cpu)
        .unwrap();
    let names = names_for(cfg.arch);
    let f = FloatModel { cfg: &cfg, t: &t, names: &names };
    let seq: Vec<u32> = (0..40).map(|i| if i == 0 { 0 } else { 5 + (i * 37) % 590 }).collect();
    let lp = f.run(&Tensor::from_vec(seq.clone(), (1, 40), &Device::Cpu).unwrap(), &mut Stats::default()).unwrap();
    let lp = lp.flatten_all().unwrap().to_vec1::<f32>().unwrap();
    let sel: Vec<(usize, usize)> = (0..40).map(|p| (0, p)).collect();
    let want = m.lm.log_probs(&[seq], &sel).unwrap();
    let worst = lp.iter().zip(&want).map(|(a, b)| (a - b).abs()).fold(0f32, f32::max);
    assert!(worst <= 1e-4, "max |Δ| {worst}");
}

/// A random causal pre-LN model (shape from `rng`), quantised after calibration on random
/// tokens: the engine's arithmetic on weights no training shaped.
fn random_model(rng: &mut ChaCha8Rng) -> (IntLm, IntLm) {
    let heads = [1usize, 2, 4][rng.random_range(0..3)];
    let hidden = heads * [8usize, 16][rng.random_range(0..2)];
    let layers = rng.random_range(1..=3usize);
    let cfg_json = serde_json::json!({
        "model_type": "roberta-prelayernorm", "vocab_size": 600, "hidden_size": hidden,
        "num_hidden_layers": layers, "num_attention_heads": heads, "intermediate_size": 2 * hidden,
        "max_position_embeddings": 130, "type_vocab_size": 1, "hidden_act": "gelu", "layer_norm_eps": 1e-5,
        "pad_token_id": 1, "is_decoder": true, "tie_word_embeddings": true
    })
    .to_string();
    let tok = fs::read_to_string(common::fixture(FLOAT).join("tokenizer.json")).unwrap();
    let s = llmzip::train::setup::build(cfg_json, tok, None, rng.random(), &Device::Cpu).unwrap();
    let mut t = HashMap::new();
    for (name, var) in s.varmap.data().lock().unwrap().iter() {
        let n = var.elem_count();
        let noise: Vec<f32> = (0..n).map(|_| rng.random_range(-1.0f32..1.0)).collect();
        let norm = name.ends_with("LayerNorm.weight") || name.ends_with("layer_norm.weight");
        let base = if norm { 1.0 } else { 0.0 };
        let scale = if var.rank() >= 2 { 0.5 } else { 0.2 };
        let v: Vec<f32> = noise.iter().map(|x| base + scale * x).collect();
        t.insert(name.clone(), Tensor::from_vec(v, var.shape(), &Device::Cpu).unwrap());
    }
    let names = names_for(s.cfg.arch);
    let f = FloatModel { cfg: &s.cfg, t: &t, names: &names };
    let mut st = Stats::default();
    for _ in 0..4 {
        let ids: Vec<u32> = (0..8 * 64).map(|_| rng.random_range(3..600)).collect();
        f.run(&Tensor::from_vec(ids, (8, 64), &Device::Cpu).unwrap(), &mut st).unwrap();
    }
    let p = quantize::build(&f, &st, &quantize::Options::default()).unwrap();
    let max = s.cfg.max_sequence();
    (IntLm::from_params(p.clone(), max, true), IntLm::from_params(p, max, true))
}

/// One call of the random workload: the next sequence of some lanes (mostly their last one
/// extended by 1-3 tokens; else a hop to a shorter sequence, a cut of the last one, the same
/// again, or an unrelated one) and selections (mostly each sequence's last row; also rows
/// inside what the cache holds, several rows, or none).
fn next_call(rng: &mut ChaCha8Rng, lanes: &mut [Vec<u32>], max: usize) -> (Vec<Vec<u32>>, Vec<(usize, usize)>) {
    let fresh = |rng: &mut ChaCha8Rng, n: usize| -> Vec<u32> {
        std::iter::once(0).chain((1..n).map(|_| rng.random_range(3..600))).collect()
    };
    let b = rng.random_range(1..=lanes.len().min(40));
    let first = rng.random_range(0..lanes.len());
    let (mut seqs, mut sel) = (Vec::new(), Vec::new());
    for i in 0..b {
        let lane = &mut lanes[(first + i) % lanes.len()];
        let n = lane.len();
        *lane = match rng.random_range(0..20) {
            0..=13 if n + 3 <= max => {
                let mut s = lane.clone();
                s.extend((0..rng.random_range(1..=3)).map(|_| rng.random_range(3..600)));
                s
            }
            14 => [&lane[..1], &lane[n - n / 2..]].concat(),
            15 => lane[..rng.random_range(1..=n)].to_vec(),
            16 => lane.clone(),
            _ => {
                let n = rng.random_range(1..max / 2);
                fresh(rng, n)
            }
        };
        let n = lane.len();
        match rng.random_range(0..10) {
            0 => {}
            1 => sel.push((i, rng.random_range(0..n))),
            2 => sel.extend((0..n).filter(|_| rng.random_bool(0.3)).map(|p| (i, p))),
            _ => sel.push((i, n - 1)),
        }
        seqs.push(lane.clone());
    }
    (seqs, sel)
}

/// Random models, random calls: the engine with its cache returns the bits of the engine's
/// uncached computation and of a fresh engine, call after call; and each row is the same
/// computed alone or in its call (causal and bidirectional).
#[test]
fn the_cache_gives_the_bits_of_a_fresh_engine() {
    let mut rng = ChaCha8Rng::seed_from_u64(0xcafe);
    let (mut differ, mut packed) = (0usize, 0usize);
    for model in 0..4 {
        let (cached, fresh) = random_model(&mut rng);
        let (max, v) = (cached.max_sequence(), cached.vocab_size());
        let mut lanes: Vec<Vec<u32>> = (0..rng.random_range(1..=48)).map(|_| vec![0]).collect();
        for call in 0..60 {
            let (seqs, sel) = next_call(&mut rng, &mut lanes, max);
            let got = cached.log_probs(&seqs, &sel).unwrap();
            let want = fresh.engine.forward(&seqs, &sel).unwrap();
            assert!(bits(&got) == bits(&want), "model {model}, call {call}: cached and uncached rows differ");
            let mut new = IntLm::from_params(fresh.engine.p.clone(), max, true);
            assert!(bits(&new.log_probs(&seqs, &sel).unwrap()) == bits(&want), "model {model}, call {call}");
            new = IntLm::from_params(fresh.engine.p.clone(), max, false);
            let bidirectional = new.log_probs(&seqs, &sel).unwrap();
            // a row selected alone takes the attention of few queries, one of more than four
            // selected in its sequence the packed products: the same integers
            for (lm, all) in [(&fresh, &want), (&new, &bidirectional)] {
                for (k, &(s, p)) in sel.iter().enumerate() {
                    let one = lm.engine.forward(&seqs[s..=s], &[(0, p)]).unwrap();
                    assert!(bits(&one) == bits(&all[k * v..(k + 1) * v]), "model {model}, call {call}, row {k}");
                }
            }
            packed += usize::from((0..seqs.len()).any(|s| sel.iter().filter(|q| q.0 == s).count() > 4));
            // with one row per sequence the two attentions coincide; a longer one tells them apart
            if seqs.iter().any(|s| s.len() > 2) && sel.iter().any(|&(s, p)| p + 1 < seqs[s].len()) {
                differ += usize::from(bits(&bidirectional) != bits(&want));
            }
        }
        let (computed, reused) = cached.cache_rows();
        eprintln!("model {model}: {computed} rows computed, {reused} from the cache");
        assert!(reused > computed, "model {model}: {reused} rows reused, {computed} computed");
    }
    assert!(differ > 100, "causal and bidirectional attention differ in only {differ} calls");
    assert!(packed > 10, "{packed} calls select more than four rows of a sequence");
}

/// One thread per seed at once, each making `calls` calls of the random workload on up to
/// `lanes` lanes through `lm`: every call gets the rows of `reference`'s uncached engine.
fn calls_match(
    lm: &dyn MaskedLm,
    reference: &IntLm,
    max: usize,
    seeds: &[u64],
    lanes: usize,
    calls: usize,
    what: &str,
) {
    std::thread::scope(|s| {
        for &seed in seeds {
            s.spawn(move || {
                let mut rng = ChaCha8Rng::seed_from_u64(seed);
                let mut open: Vec<Vec<u32>> = (0..rng.random_range(1..=lanes)).map(|_| vec![0]).collect();
                for call in 0..calls {
                    let (seqs, sel) = next_call(&mut rng, &mut open, max);
                    let got = lm.log_probs(&seqs, &sel).unwrap();
                    let want = reference.engine.forward(&seqs, &sel).unwrap();
                    assert!(bits(&got) == bits(&want), "{what}, thread seeded {seed}, call {call}");
                }
            });
        }
    });
}

/// Calls from several threads at once share one cache (the decoder's overlapped calls, blocks
/// on their own threads): every call still gets the uncached bits.
#[test]
fn concurrent_calls_share_the_cache_exactly() {
    let mut rng = ChaCha8Rng::seed_from_u64(0xbeef);
    let (cached, fresh) = random_model(&mut rng);
    let max = cached.max_sequence();
    let seeds: Vec<u64> = (0..4).map(|_| rng.random()).collect();
    calls_match(&cached, &fresh, max, &seeds, 20, 40, "CPU");
    let (computed, reused) = cached.cache_rows();
    eprintln!("{computed} rows computed, {reused} from the cache");
    // the threads' calls do use the cache (lanes left alone for a while age out of it)
    assert!(2 * reused > computed, "{reused} rows reused, {computed} computed");
}

/// Ten lanes coded in two alternating calls of five (the decoder's overlapped parts), lane 0
/// hopping to an unrelated sequence every step: each other lane computes exactly its one new
/// row per call once under way, the hopping one all but the `[CLS]` row it shares.
#[test]
fn alternating_parts_compute_one_new_row_per_lane() {
    let mut rng = ChaCha8Rng::seed_from_u64(7);
    let (lm, fresh) = random_model(&mut rng);
    // lanes draw on tokens 3..300, the hopping lane on 300..600: no prefix but [CLS] is shared
    let lane = |j: usize, n: usize| -> Vec<u32> {
        std::iter::once(0).chain((0..n).map(|i| 3 + ((j * 300 + i) * 7919 % 297) as u32)).collect()
    };
    let hop = |step: usize| -> Vec<u32> {
        std::iter::once(0).chain((0..8).map(|k| 300 + ((step * 8 + k) * 31 % 300) as u32)).collect()
    };
    for step in 0..30 {
        for part in 0..2 {
            let seqs: Vec<Vec<u32>> =
                (part * 5..part * 5 + 5).map(|j| if j == 0 { hop(step) } else { lane(j, 8 + step) }).collect();
            let sel: Vec<(usize, usize)> = seqs.iter().enumerate().map(|(i, s)| (i, s.len() - 1)).collect();
            let got = lm.log_probs(&seqs, &sel).unwrap();
            assert!(bits(&got) == bits(&fresh.engine.forward(&seqs, &sel).unwrap()), "step {step} part {part}");
        }
    }
    // step 0: 5 x 9 rows, then 5 x 8 (the [CLS] row found); later steps: 8 + 4 + 5
    assert_eq!(lm.cache_rows().0, 45 + 40 + 29 * (8 + 4 + 5));
}

/// The engine computing every row of every call: what the cache must not change.
struct Uncached(IntLm);

impl MaskedLm for Uncached {
    fn vocab_size(&self) -> usize {
        self.0.vocab_size()
    }
    fn max_sequence(&self) -> usize {
        self.0.max_sequence()
    }
    fn numerics(&self) -> &str {
        self.0.numerics()
    }
    fn architecture(&self) -> llmzip::model::Architecture {
        self.0.architecture()
    }
    fn log_probs(&self, seqs: &[Vec<u32>], sel: &[(usize, usize)]) -> llmzip::Result<Vec<f32>> {
        self.0.engine.forward(seqs, sel)
    }
    fn batch_invariant(&self) -> bool {
        true
    }
    fn causal(&self) -> bool {
        true
    }
}

/// The CPU engine (with its cache) asking for merged calls (field 2), as the GPU engine does:
/// the encoder then makes several steps' calls as one; field 3 false: not batch invariant, so
/// never merged.
struct Merging(IntLm, std::sync::Arc<std::sync::atomic::AtomicUsize>, bool, bool);

impl MaskedLm for Merging {
    fn vocab_size(&self) -> usize {
        self.0.vocab_size()
    }
    fn max_sequence(&self) -> usize {
        self.0.max_sequence()
    }
    fn numerics(&self) -> &str {
        self.0.numerics()
    }
    fn architecture(&self) -> llmzip::model::Architecture {
        self.0.architecture()
    }
    fn log_probs(&self, seqs: &[Vec<u32>], sel: &[(usize, usize)]) -> llmzip::Result<Vec<f32>> {
        self.1.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        self.0.log_probs(seqs, sel)
    }
    fn batch_invariant(&self) -> bool {
        self.3
    }
    fn causal(&self) -> bool {
        true
    }
    fn merges_calls(&self) -> bool {
        self.2
    }
}

/// Through the coder: the causal plan on the quantised tiny causal model writes the same file
/// with the cache as without, and with the encoder's steps merged into fewer calls (asked for
/// by the model, or at one lane by any batch invariant one); the files decode (lanes
/// overlapped with coding) to the text.
#[test]
fn causal_files_are_the_same_with_the_cache_and_decode() {
    use llmzip::schedule::{Lanes, RevealPlan, Shape};
    use llmzip::{Compressor, Decompressor, Hooks, Model, Options};
    let d = tempfile::tempdir().unwrap();
    let float = common::fixture(FLOAT);
    let float = float.to_str().unwrap();
    let (p, _) = make::quantize(float, &sample()[..20000], 8000, &quantize::Options::default()).unwrap();
    let dir = d.path().join("int");
    make::write(float, &p, &dir).unwrap();
    let load = || Model::load(dir.to_str().unwrap(), &llmzip::model::DeviceSpec::Cpu).unwrap();
    let cached = load();
    assert!(cached.lm.causal());
    let mut uncached = load();
    let max = cached.lm.max_sequence();
    uncached.lm = Box::new(Uncached(IntLm::from_params(p.clone(), max, true)));
    let plan =
        RevealPlan { window: 16, context: 8, rounds: 1, shape: Shape::Causal, lanes: Lanes::AtMost(8), settle: None };
    let text = &sample()[..6000];
    let compress_with = |m: &Model, plan: RevealPlan| {
        let c = Compressor::new(m, Options { plan, ..Options::default() }).unwrap();
        let mut z = Vec::new();
        c.compress(text, &mut z, &Hooks::default()).unwrap();
        z
    };
    let compress = |m: &Model| compress_with(m, plan);
    let z = compress(&cached);
    assert!(z == compress(&uncached), "the cache changed the file");
    let counted = |merges: bool, invariant: bool| {
        let mut m = load();
        let count = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
        m.lm = Box::new(Merging(IntLm::from_params(p.clone(), max, true), count.clone(), merges, invariant));
        (m, count)
    };
    let calls_of = |c: &std::sync::Arc<std::sync::atomic::AtomicUsize>| c.load(std::sync::atomic::Ordering::Relaxed);
    let mut calls = Vec::new();
    for merge in [false, true] {
        let (m, count) = counted(merge, true);
        assert!(z == compress(&m), "merging the encoder's calls ({merge}) changed the file");
        calls.push(calls_of(&count));
    }
    eprintln!("model calls: {} one step each, {} merged", calls[0], calls[1]);
    assert!(calls[1] * 4 < calls[0], "calls not merged: {calls:?}");
    let one_lane = RevealPlan { lanes: Lanes::AtMost(1), ..plan };
    let ((stepwise, step_calls), (merged, merged_calls)) = (counted(false, false), counted(false, true));
    let z1 = compress_with(&stepwise, one_lane);
    assert!(z1 == compress_with(&merged, one_lane), "merging one lane's steps changed the file");
    let one = (calls_of(&step_calls), calls_of(&merged_calls));
    eprintln!("one lane: {} calls one step each, {} merged", one.0, one.1);
    assert!(one.1 * 4 < one.0, "one lane's calls not merged: {one:?}");
    eprintln!("{} bytes -> {} bytes (8 lanes), {} bytes (one lane)", text.len(), z.len(), z1.len());
    for z in [z, z1] {
        let mut out = Vec::new();
        Decompressor::new(&load(), 1).decompress(&z[..], &mut out, &Hooks::default()).unwrap();
        assert!(out == text, "decoded text differs");
    }
}

/// The GPU engine's K/V cache (feature `int8-cuda`, a GPU present; skipped otherwise): the
/// random workload's calls, from one thread and from four at once, give the CPU engine's bits.
#[cfg(feature = "int8-cuda")]
#[test]
fn the_gpu_cache_gives_the_cpu_bits() {
    use llmzip::model::int8::cuda::{gpu_count, CudaLm};
    if gpu_count().unwrap_or(0) == 0 {
        eprintln!("no GPU: skipped");
        return;
    }
    let mut rng = ChaCha8Rng::seed_from_u64(0x9e7);
    for model in 0..4 {
        let (_, cpu) = random_model(&mut rng);
        let max = cpu.max_sequence();
        let gpu = CudaLm::new(&cpu.engine.p, 0, max, true).unwrap();
        let seeds: Vec<u64> = (0..if model == 3 { 4 } else { 1 }).map(|_| rng.random()).collect();
        calls_match(&gpu, &cpu, max, &seeds, 48, 60, &format!("GPU model {model}"));
        let (computed, reused) = gpu.cache_rows();
        eprintln!("GPU model {model}: {computed} rows computed, {reused} from the cache");
        assert!(reused > computed, "model {model}: {reused} rows reused, {computed} computed");
    }
}

/// Ranked and path rows made on the GPU (feature `int8-cuda`, a GPU present; skipped
/// otherwise) are the host's (`HostRanked`) from the CPU engine's log-probabilities, bit for
/// bit: the random workload on the cached (causal) and uncached (bidirectional) paths, merged
/// calls brought back in parts, version 3's reading of tiny probabilities too.
#[cfg(feature = "int8-cuda")]
#[test]
fn the_gpu_ranks_rows_as_the_host_does() {
    use llmzip::coding::cm::ranked::{HostRanked, DEPTH};
    use llmzip::model::int8::cuda::{gpu_count, CudaLm};
    use llmzip::model::RowForm;
    use rand::seq::SliceRandom;
    if gpu_count().unwrap_or(0) == 0 {
        eprintln!("no GPU: skipped");
        return;
    }
    let mut rng = ChaCha8Rng::seed_from_u64(0x7a4);
    for (model, causal) in [(0, true), (1, false), (2, true)] {
        let (_, cpu) = random_model(&mut rng);
        let max = cpu.max_sequence();
        let gpu = CudaLm::new(&cpu.engine.p, 0, max, causal).unwrap();
        let reference = IntLm::from_params(cpu.engine.p.clone(), max, causal);
        let v = reference.vocab_size();
        let mut rank: Vec<u32> = (0..v as u32).collect();
        rank.shuffle(&mut rng);
        let v3 = model == 2;
        for form in [RowForm::Ranked { depth: DEPTH }, RowForm::Path] {
            let on_gpu = gpu.ranked(&rank, form, v3).expect("the GPU engine offers the form");
            let host = HostRanked::new(&reference, &rank, form, v3).unwrap();
            assert_eq!(on_gpu.rows(), form);
            let mut open: Vec<Vec<u32>> = (0..rng.random_range(8..=40)).map(|_| vec![0]).collect();
            for call in 0..30 {
                let (seqs, sel) = next_call(&mut rng, &mut open, max);
                let known: Vec<u32> = sel.iter().map(|_| rng.random_range(0..v as u32)).collect();
                let want = host.log_probs_known(&seqs, &sel, &known).unwrap();
                let got = if call % 2 == 0 {
                    on_gpu.log_probs_known(&seqs, &sel, &known).unwrap()
                } else {
                    let cut = sel.len() / 2;
                    on_gpu.log_probs_parts_known(&seqs, &sel, &[cut, sel.len() - cut], &known).unwrap().concat()
                };
                assert_eq!(got.len(), sel.len() * form.len(v));
                assert!(bits(&got) == bits(&want), "model {model} (causal {causal}), {form:?}, call {call}");
            }
        }
    }
}

/// The kernels compile for an H100 (compute_90) wherever NVRTC can be loaded, GPU or not:
/// the source is compiled only at run time, so this is its check before a device trip
/// (skipped where no libnvrtc is on the library path).
#[cfg(feature = "int8-cuda")]
#[test]
fn the_kernels_compile_for_compute_90() {
    match llmzip::model::int8::cuda::compile("compute_90") {
        Ok(n) => assert!(n > 1000, "PTX of {n} characters"),
        Err(e) if e.to_string().contains("libraries not found") => eprintln!("no NVRTC: skipped"),
        Err(e) => panic!("{e}"),
    }
}
