//! `llmzip bench`: its sizes are what `compress` writes, its charts, the paper's experiments.

mod common;

use common::{llmzip, model, setup, TEXT};
use predicates::prelude::*;
use std::fs;
use std::path::Path;

#[test]
fn bench_sizes_equal_what_compress_writes() {
    let d = setup();
    let p = d.path();
    let out = llmzip(p)
        .args([
            "bench",
            "notes.txt",
            "--model",
            &model("tiny-bert"),
            "--method",
            "arith",
            "--method",
            "mask",
            "--json",
            "--no-baselines",
        ])
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    let rows: serde_json::Value = serde_json::from_slice(&out).unwrap();
    let rows = rows.as_array().unwrap();
    assert_eq!(rows.len(), 2);
    for (row, method) in rows.iter().zip(["arith", "mask"]) {
        let z = llmzip(p)
            .args(["compress", "-c", "notes.txt", "--method", method, "--model", &model("tiny-bert")])
            .assert()
            .success()
            .get_output()
            .stdout
            .clone();
        assert_eq!(row["bytes_out"].as_u64().unwrap(), z.len() as u64, "{method}");
        assert_eq!(row["bytes_in"].as_u64().unwrap(), TEXT.len() as u64);
    }
}

/// Whether `--plot` can find a TrueType font here (`.ci/run` installs one).
fn have_font() -> bool {
    let found = std::env::var_os("LLMZIP_FONT").is_some()
        || ["/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf", "/usr/share/fonts/TTF/DejaVuSans.ttf"]
            .iter()
            .any(|p| Path::new(p).exists());
    if !found {
        eprintln!("skipped: no TrueType font for --plot");
    }
    found
}

/// `bench --plot` writes a PNG chart with one group per file.
#[test]
fn bench_plot_writes_a_png() {
    if !have_font() {
        return;
    }
    let d = setup();
    let p = d.path();
    llmzip(p)
        .args(["bench", "notes.txt", "--model", &model("tiny-bert"), "--no-baselines", "--plot", "chart.png"])
        .assert()
        .success();
    let png = fs::read(p.join("chart.png")).unwrap();
    assert_eq!(&png[..8], b"\x89PNG\r\n\x1a\n");
    let width = u32::from_be_bytes(png[16..20].try_into().unwrap());
    let height = u32::from_be_bytes(png[20..24].try_into().unwrap());
    assert_eq!((width, height), (380, 560), "one file: 240 + 140 pixels wide");
    // an unusable font is one clear line, and no chart
    llmzip(p)
        .env("LLMZIP_FONT", p.join("missing.ttf"))
        .args(["bench", "notes.txt", "--model", &model("tiny-bert"), "--no-baselines", "--plot", "c2.png"])
        .assert()
        .code(1)
        .stderr(predicate::str::contains("reading font"));
    assert!(!p.join("c2.png").exists());
}

/// `bench --paper`: the lossy rows of each strategy are coherent with the text, and the
/// lossless rows beside them are the sizes `compress` writes at the same cap and strategy.
#[test]
fn bench_paper_reports_lossy_and_lossless_rows() {
    let d = setup();
    let p = d.path();
    let m = model("tiny-roberta");
    let plot: &[&str] = if have_font() { &["--plot", "acc.png"] } else { &[] };
    let out = llmzip(p)
        .args(["bench", "--paper", "notes.txt", "--model", &m, "--epochs", "0,1", "--json"])
        .args(plot)
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    let v: serde_json::Value = serde_json::from_slice(&out).unwrap();
    let sizes = v["sizes"].as_array().unwrap();
    assert_eq!(sizes.len(), 6, "15% and 50%, three strategies each");
    let order = ["random", "pos", "confidence"];
    for (i, row) in sizes.iter().enumerate() {
        let (rate, select) = (["0.15", "0.5"][i / 3], order[i % 3]);
        let l = &row["lossy"];
        assert_eq!(l["select"], select);
        assert_eq!(l["lines"].as_u64().unwrap() as usize, TEXT.split('\n').count());
        let tokens = l["tokens"].as_f64().unwrap();
        let want: f64 = rate.parse().unwrap();
        let masked = l["masked"].as_f64().unwrap();
        if select == "pos" {
            assert!(masked > 0.0 && masked <= (want * tokens).round(), "pos masked {masked}");
        } else {
            assert_eq!(masked, (want * tokens).round());
        }
        let z = llmzip(p)
            .args(["compress", "-c", "notes.txt", "--method", "mask", "--mask-rate", rate, "--model", &m])
            // the mask column's plan: the library's default, not the default level's
            .args(["--select", select, "--window", "32", "--context", "8", "--rounds", "1", "--settle", "none"])
            .assert()
            .success()
            .get_output()
            .stdout
            .clone();
        assert_eq!(row["llmzip_mask_bytes"].as_u64().unwrap(), z.len() as u64);
    }
    // arith as `compress` writes it (default level), and at the mask column's plan
    let size = |args: &[&str]| {
        let out = llmzip(p).args(["compress", "-c", "notes.txt", "--model", &m]).args(args).assert().success();
        out.get_output().stdout.len() as u64
    };
    let level = size(&[]);
    let mask_plan = size(&["--window", "32", "--context", "8", "--rounds", "1", "--settle", "none"]);
    for row in sizes {
        assert_eq!(row["llmzip_arith_level_bytes"].as_u64().unwrap(), level);
        assert_eq!(row["llmzip_arith_bytes"].as_u64().unwrap(), mask_plan);
    }
    let epochs: Vec<u64> = v["epochs"].as_array().unwrap().iter().map(|l| l["epochs"].as_u64().unwrap()).collect();
    assert_eq!(epochs, [[0; 6], [1; 6]].concat());
    if have_font() {
        assert!(fs::read(p.join("acc.png")).unwrap().starts_with(b"\x89PNG"));
    }
}

/// Regression: `bench --paper` with an integer-only model and epochs above 0 used to measure
/// the first text and then stop on fine-tuning; it now refuses before measuring anything.
#[test]
fn bench_paper_refuses_fine_tuning_an_integer_only_model_up_front() {
    let d = tempfile::tempdir().unwrap();
    fs::write(d.path().join("t.txt"), "a short text to measure").unwrap();
    llmzip(d.path())
        .args(["bench", "--paper", "--model", "llmzip-large-1", "--epochs", "0,1", "t.txt"])
        .assert()
        .failure()
        .stdout("")
        .stderr(predicates::str::contains("--epochs 0").and(predicates::str::contains("panicked").not()));
}
