//! The integer engine: the same bits on every instruction set and thread count, close to the
//! float model it was quantised from, and files that decode through the real binary.
//! Fixture: tests/fixtures/tiny-roberta-prelayernorm-int8, made by
//! `llmzip quantize tests/fixtures/tiny-roberta-prelayernorm --calibrate data/sample/pellucidar.txt
//!  --out tests/fixtures/tiny-roberta-prelayernorm-int8`.
//! `LLMZIP_INT_MODEL=DIR` runs the exactness test on another integer model as well (a real one).

mod common;

use assert_cmd::Command;
use llmzip::model::config::ModelConfig;
use llmzip::model::int8::{gemm::Isa, make, IntLm, FILE};
use llmzip::schedule::{RevealPlan, Shape, Walker};
use llmzip::{MaskedLm, Model};
use predicates::prelude::*;
use std::fs;
use std::path::{Path, PathBuf};

const INT: &str = "tiny-roberta-prelayernorm-int8";
const FLOAT: &str = "tiny-roberta-prelayernorm";

fn sample() -> Vec<u8> {
    fs::read(PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("data/sample/pellucidar.txt")).unwrap()
}

/// The model calls two plans make on the start of the sample text: (sequences, selections).
fn calls(m: &Model, bytes: usize) -> Vec<(Vec<Vec<u32>>, Vec<(usize, usize)>)> {
    let text = sample();
    let ids = m.tokenizer.encode(&text[..bytes]).unwrap().ids;
    let s = m.tokenizer.ids;
    let mut out = Vec::new();
    for plan in [
        RevealPlan {
            window: 32,
            context: 8,
            rounds: 1,
            shape: Shape::Geometric,
            lanes: llmzip::schedule::Lanes::AtMost(32),
            settle: None,
        },
        RevealPlan {
            window: 16,
            context: 24,
            rounds: 3,
            shape: Shape::Uniform,
            lanes: llmzip::schedule::Lanes::AtMost(5),
            settle: None,
        },
    ] {
        let w = Walker::new(&plan, ids.len(), 7);
        for ph in 0..w.phases() {
            out.extend(w.phase(ph, &ids, s.cls, s.sep, s.mask).into_iter().map(|st| (st.seqs, st.sel)));
        }
    }
    out
}

fn engine(dir: &Path, isa: Isa) -> IntLm {
    let cfg = ModelConfig::from_json(&fs::read_to_string(dir.join("config.json")).unwrap(), "test").unwrap();
    IntLm::with_isa(&fs::read(dir.join(FILE)).unwrap(), &cfg, isa).unwrap()
}

fn bits(v: &[f32]) -> Vec<u32> {
    v.iter().map(|x| x.to_bits()).collect()
}

/// Scalar, AVX2 and AVX-512 VNNI kernels on 1, 2, 3 and 5 threads: identical log-probabilities.
fn exact_everywhere(dir: &Path, bytes: usize) {
    let m = Model::load(dir.to_str().unwrap(), &llmzip::model::DeviceSpec::Cpu).unwrap();
    let calls = calls(&m, bytes);
    let reference = engine(dir, Isa::Scalar);
    let want: Vec<Vec<u32>> = rayon::ThreadPoolBuilder::new()
        .num_threads(1)
        .build()
        .unwrap()
        .install(|| calls.iter().map(|(q, s)| bits(&reference.log_probs(q, s).unwrap())).collect());
    let mut compared = Vec::new();
    for isa in Isa::ALL.into_iter().filter(|i| i.available()) {
        let lm = engine(dir, isa);
        for threads in [1, 2, 3, 5] {
            let pool = rayon::ThreadPoolBuilder::new().num_threads(threads).build().unwrap();
            for (k, (q, s)) in calls.iter().enumerate() {
                let got = pool.install(|| lm.log_probs(q, s).unwrap());
                assert!(bits(&got) == want[k], "{} differs from scalar on {threads} threads, call {k}", isa.name());
            }
            compared.push(format!("{}x{threads}", isa.name()));
        }
    }
    eprintln!("{}: {} calls bit-identical on {}", dir.display(), calls.len(), compared.join(" "));
    assert!(compared.len() >= 4);
}

#[test]
fn the_same_bits_on_every_kernel_and_thread_count() {
    exact_everywhere(&common::fixture(INT), 3000);
    if let Ok(dir) = std::env::var("LLMZIP_INT_MODEL") {
        exact_everywhere(Path::new(&dir), 6000);
    }
}

/// Integer and float log-probabilities of the same model, at masked positions of text the
/// calibration did not see: the integer engine may cost at most 1% more bits per token and
/// its distribution may diverge by at most 0.02 bits (KL).
#[test]
fn integer_log_probs_track_the_float_model() {
    let int = Model::load(common::fixture(INT).to_str().unwrap(), &llmzip::model::DeviceSpec::Cpu).unwrap();
    let _ = int;
    let cfg =
        ModelConfig::from_json(&fs::read_to_string(common::fixture(INT).join("config.json")).unwrap(), "t").unwrap();
    let p = llmzip::model::int8::IntParams::read(&fs::read(common::fixture(INT).join(FILE)).unwrap(), &cfg).unwrap();
    let held_out = fs::read(common::fixture("tiny-bert/config.json")).unwrap().repeat(8);
    let text = [&sample()[20000..], &held_out[..]].concat();
    let c = make::check(common::fixture(FLOAT).to_str().unwrap(), &p, &text, 8000).unwrap();
    eprintln!("{c:?}");
    assert!(c.positions > 500);
    assert!(c.int_bits < c.float_bits * 1.01, "{} vs {}", c.int_bits, c.float_bits);
    assert!(c.kl_bits < 0.02, "KL {}", c.kl_bits);
    assert!(c.max_abs_diff < 2.0, "max |Δ| {}", c.max_abs_diff);
}

fn llmzip(dir: &Path) -> Command {
    let mut c = Command::cargo_bin("llmzip").unwrap();
    c.current_dir(dir).env_remove("LLMZIP_MODEL").env_remove("LLMZIP_ISA").env("HF_HUB_OFFLINE", "1");
    c
}

/// Through the binary: thread counts and kernels give the same file, which decodes exactly,
/// names the one integer numerics id, and a committed file made by this engine still decodes.
#[test]
fn files_are_identical_on_every_kernel_and_decode() {
    let d = tempfile::tempdir().unwrap();
    let text = &sample()[..12000];
    fs::write(d.path().join("t.txt"), text).unwrap();
    let model = common::fixture(INT);
    let mut files = Vec::new();
    for (threads, isa) in [("1", "scalar"), ("2", "avx2"), ("3", "avx512vnni"), ("2", "")] {
        let out = format!("t.{threads}.{isa}.llmz");
        let mut c = llmzip(d.path());
        c.args(["--threads", threads, "compress", "--window", "16", "--context", "16", "--rounds", "2", "-o", &out]);
        c.arg("--model").arg(&model).arg("t.txt").env("LLMZIP_ISA", isa).assert().success();
        files.push(fs::read(d.path().join(&out)).unwrap());
    }
    assert!(files.iter().all(|f| *f == files[0]), "kernels or threads changed the file");
    llmzip(d.path()).args(["decompress", "-c", "t.1.scalar.llmz"]).assert().success().stdout(text.to_vec());
    llmzip(d.path())
        .args(["info", "t.1.scalar.llmz"])
        .assert()
        .success()
        .stdout(predicate::str::contains("llmzip-int8/1"));
    // a file made with this engine when it was written: its numerics must not drift
    let fixture = common::fixture("int8/pellucidar-2k.llmz");
    let want = &sample()[..2000];
    llmzip(d.path())
        .arg("decompress")
        .arg("-c")
        .arg(&fixture)
        .arg("--model")
        .arg(&model)
        .assert()
        .success()
        .stdout(want.to_vec());
}

/// A float model's directory that gains an integer version: new files use the integer engine,
/// files made before still decode on the float one.
#[test]
fn quantize_writes_an_integer_version_beside_the_float_model() {
    let d = tempfile::tempdir().unwrap();
    let dir = d.path().join("m");
    fs::create_dir(&dir).unwrap();
    for f in ["config.json", "tokenizer.json", "model.safetensors"] {
        fs::copy(common::fixture(FLOAT).join(f), dir.join(f)).unwrap();
    }
    fs::write(d.path().join("t.txt"), &sample()[..3000]).unwrap();
    fs::write(d.path().join("cal.txt"), &sample()[3000..20000]).unwrap();
    llmzip(d.path()).args(["compress", "--model", "m", "t.txt", "-o", "float.llmz"]).assert().success();
    llmzip(d.path()).args(["quantize", "m", "--calibrate", "cal.txt"]).assert().success();
    assert!(dir.join(FILE).is_file());
    llmzip(d.path()).args(["compress", "--model", "m", "t.txt", "-o", "int.llmz"]).assert().success();
    llmzip(d.path()).args(["info", "int.llmz"]).assert().stdout(predicate::str::contains("llmzip-int8/1"));
    llmzip(d.path()).args(["info", "float.llmz"]).assert().stdout(predicate::str::contains("candle"));
    for f in ["float.llmz", "int.llmz"] {
        llmzip(d.path()).args(["decompress", "-c", f]).assert().success().stdout(sample()[..3000].to_vec());
        llmzip(d.path())
            .args(["decompress", "-c", "--model", "m", f])
            .assert()
            .success()
            .stdout(sample()[..3000].to_vec());
    }
    // without the integer file the integer-made file is refused by fingerprint, not by device
    fs::remove_file(dir.join(FILE)).unwrap();
    llmzip(d.path())
        .args(["decompress", "-c", "int.llmz"])
        .assert()
        .failure()
        .stdout("")
        .stderr(predicate::str::contains("model mismatch").and(predicate::str::contains("--device").not()));
}

/// Damaged integer checkpoints are refused with one line, never a panic.
#[test]
fn damaged_integer_checkpoints_are_refused() {
    let d = tempfile::tempdir().unwrap();
    let dir = d.path().join("m");
    fs::create_dir(&dir).unwrap();
    for f in ["config.json", "tokenizer.json"] {
        fs::copy(common::fixture(INT).join(f), dir.join(f)).unwrap();
    }
    fs::write(d.path().join("t.txt"), "some text").unwrap();
    let good = fs::read(common::fixture(INT).join(FILE)).unwrap();
    let mut cases: Vec<Vec<u8>> = vec![good[..good.len() / 2].to_vec(), b"not safetensors".to_vec()];
    // every byte of the header region flipped in turn would be slow; a spread of positions
    for pos in (0..good.len()).step_by(good.len() / 40) {
        let mut b = good.clone();
        b[pos] ^= 0x5a;
        cases.push(b);
    }
    for bytes in cases {
        fs::write(dir.join(FILE), &bytes).unwrap();
        let out = llmzip(d.path()).args(["compress", "--model", "m", "-c", "t.txt"]).output().unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!err.contains("panicked"), "{err}");
        if !out.status.success() {
            assert!(err.contains("error"), "{err}");
        }
    }
}

/// A file compressed on an NVIDIA H100 by the GPU kernels (examples/int8_gpu `write`, model
/// directory named carry/int8/tiny there): the CPU decodes it, and the CPU engine compressing
/// the same text under the same name writes the same bytes.
#[test]
fn a_file_made_on_the_gpu_is_the_cpu_s_file() {
    let gpu = fs::read(common::fixture("int8/pellucidar-4k-h100.llmz")).unwrap();
    let text = &sample()[..4000];
    let dir = common::fixture(INT);
    let f = |n: &str| fs::read(dir.join(n)).unwrap();
    let m = Model::from_int8(
        "carry/int8/tiny",
        &f("config.json"),
        &f("tokenizer.json"),
        &f(FILE),
        &llmzip::model::DeviceSpec::Cpu,
    )
    .unwrap();
    let mut back = Vec::new();
    llmzip::Decompressor::new(&m, 1).decompress(&gpu[..], &mut back, &llmzip::Hooks::default()).unwrap();
    assert_eq!(back, text);
    let o = llmzip::Options {
        plan: RevealPlan {
            window: 16,
            context: 8,
            rounds: 2,
            shape: Shape::Geometric,
            lanes: llmzip::schedule::Lanes::AtMost(32),
            settle: None,
        },
        // the adaptive model the fixture was written with (new files default to a later one)
        mix_version: 2,
        ..llmzip::Options::default()
    };
    let mut cpu = Vec::new();
    llmzip::Compressor::new(&m, o).unwrap().compress(text, &mut cpu, &llmzip::Hooks::default()).unwrap();
    assert!(cpu == gpu, "the CPU engine's file differs from the GPU's");
}

/// The tiny float model with every feed-forward widened to `inter` (rows tiled, the output
/// projection scaled to keep the sum's size): a model wider inside than the integer engine's
/// stack rows.
fn widened_model(dir: &Path, inter: usize) {
    use candle_core::{Device, Tensor};
    fs::create_dir_all(dir).unwrap();
    let src = common::fixture(FLOAT);
    fs::copy(src.join("tokenizer.json"), dir.join("tokenizer.json")).unwrap();
    let mut cfg: serde_json::Value = serde_json::from_slice(&fs::read(src.join("config.json")).unwrap()).unwrap();
    let old = cfg["intermediate_size"].as_u64().unwrap() as usize;
    cfg["intermediate_size"] = inter.into();
    fs::write(dir.join("config.json"), serde_json::to_vec_pretty(&cfg).unwrap()).unwrap();
    let mut t = candle_core::safetensors::load(src.join("model.safetensors"), &Device::Cpu).unwrap();
    let rows: Vec<u32> = (0..inter).map(|j| (j % old) as u32).collect();
    let rows = Tensor::new(rows.as_slice(), &Device::Cpu).unwrap();
    for (name, v) in t.iter_mut() {
        if name.contains("intermediate.dense") {
            *v = v.index_select(&rows, 0).unwrap();
        } else if name.ends_with("output.dense.weight") && !name.contains("attention") {
            *v = (v.index_select(&rows, 1).unwrap() * (old as f64 / inter as f64)).unwrap();
        }
    }
    candle_core::safetensors::save(&t, dir.join("model.safetensors")).unwrap();
}

/// Regression: a model whose feed-forward is wider than 1024 (8L×320 with 1280 was the first)
/// quantises, gives the same file on every kernel and thread count, and decodes; with 16-bit
/// GELU outputs, whose sums such a width could overflow, `quantize` refuses and writes nothing.
#[test]
fn a_feed_forward_wider_than_1024_runs_on_the_integer_engine() {
    let d = tempfile::tempdir().unwrap();
    widened_model(&d.path().join("m"), 1100);
    let text = &sample()[..6000];
    fs::write(d.path().join("t.txt"), text).unwrap();
    fs::write(d.path().join("cal.txt"), &sample()[6000..20000]).unwrap();
    llmzip(d.path())
        .args(["quantize", "m", "--calibrate", "cal.txt", "--gelu-bits", "16", "--out", "m16"])
        .assert()
        .failure()
        .stderr(predicate::str::contains("8-bit GELU").and(predicate::str::contains("panicked").not()));
    assert!(!d.path().join("m16").join(FILE).exists());
    llmzip(d.path())
        .args(["quantize", "m", "--calibrate", "cal.txt", "--check", "t.txt"])
        .assert()
        .success()
        .stdout(predicate::str::contains("bits/token"));
    let mut files = Vec::new();
    for (threads, isa) in [("1", "scalar"), ("2", "avx2"), ("3", "")] {
        let out = format!("t.{threads}.{isa}.llmz");
        let mut c = llmzip(d.path());
        c.args(["--threads", threads, "compress", "--window", "16", "--context", "16", "--rounds", "2"]);
        c.args(["--model", "m", "-o", &out, "t.txt"]).env("LLMZIP_ISA", isa).assert().success();
        files.push(fs::read(d.path().join(&out)).unwrap());
    }
    assert!(files.iter().all(|f| *f == files[0]), "kernels or threads changed the file");
    llmzip(d.path()).args(["decompress", "-c", "t.1.scalar.llmz"]).assert().success().stdout(text.to_vec());
}

/// `(engine calls, block calls)` summed over the batcher's profile lines in `stderr`.
fn merged_calls(stderr: &[u8]) -> (u64, u64) {
    let mut sum = (0, 0);
    for line in String::from_utf8_lossy(stderr).lines().filter(|l| l.contains("engine calls")) {
        let words: Vec<&str> = line.split_whitespace().collect();
        let at = |w: &str| words.iter().position(|x| *x == w).and_then(|i| words[i - 1].parse::<u64>().ok()).unwrap();
        sum.0 += at("engine");
        sum.1 += at("model");
    }
    sum
}

/// Blocks coded at once share the integer engine's calls (a batcher merges them, with one or
/// several engine threads), and the files are those of one block at a time and of unmerged
/// calls; every file decodes, with merged calls too.
#[test]
fn blocks_share_model_calls_and_the_bytes_stay() {
    let d = tempfile::tempdir().unwrap();
    let text = &sample()[..12000];
    fs::write(d.path().join("t.txt"), text).unwrap();
    let model = common::fixture(INT);
    let mut files = Vec::new();
    // "": the variable unset, where blocks make their own calls (merging is asked for)
    for (jobs, batch, threads) in [
        ("1", "1", "2"),
        ("4", "1", "2"),
        ("4", "0", "2"),
        ("4", "", "2"),
        ("3", "1", "2"),
        ("4", "1", "1"),
        ("4", "1", "3"),
    ] {
        let out = format!("t.{jobs}.{batch}.{threads}.llmz");
        let mut c = llmzip(d.path());
        c.env("LLMZIP_BATCH_THREADS", threads);
        c.args(["--jobs", jobs, "compress", "--block-size", "2000", "--window", "16", "--context", "8", "-o", &out]);
        c.arg("--model").arg(&model).arg("t.txt").env_remove("LLMZIP_BATCH_BLOCKS").env("LLMZIP_PROFILE", "1");
        if !batch.is_empty() {
            c.env("LLMZIP_BATCH_BLOCKS", batch);
        }
        let stderr = c.assert().success().get_output().stderr.clone();
        let (engine, block) = merged_calls(&stderr);
        if jobs != "1" && batch == "1" {
            assert!(engine > 0 && engine < block, "-j{jobs}: {block} calls made as {engine}");
        } else {
            assert_eq!(engine, 0, "no batcher expected at -j{jobs} LLMZIP_BATCH_BLOCKS={batch}");
        }
        files.push(fs::read(d.path().join(&out)).unwrap());
    }
    assert!(files.iter().all(|f| *f == files[0]), "merged model calls changed the file");
    for jobs in ["1", "4"] {
        let mut c = llmzip(d.path());
        c.args(["--jobs", jobs, "decompress", "-c", "t.1.1.2.llmz"])
            .env("LLMZIP_PROFILE", "1")
            .env("LLMZIP_BATCH_BLOCKS", "1");
        let out = c.assert().success().stdout(text.to_vec()).get_output().stderr.clone();
        let (engine, block) = merged_calls(&out);
        assert!(jobs == "1" || (engine > 0 && engine < block), "decoding -j{jobs}: {block} calls made as {engine}");
    }
}
