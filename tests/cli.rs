//! The real binary, in isolated temp dirs.

mod common;

use assert_cmd::Command;
use predicates::prelude::*;
use std::fs;
use std::path::Path;

fn llmzip(dir: &Path) -> Command {
    let mut c = Command::cargo_bin("llmzip").unwrap();
    c.current_dir(dir).env_remove("LLMZIP_MODEL").env("HF_HUB_OFFLINE", "1").env("HF_HOME", dir.join("hf"));
    c
}

fn model(arch: &str) -> String {
    common::fixture(arch).to_str().unwrap().to_string()
}

const TEXT: &str = "Alice was beginning to get very tired of sitting by her sister on the bank,\nand of having nothing to do: once or twice she had peeped into the book her sister was reading.\n";

fn setup() -> tempfile::TempDir {
    let d = tempfile::tempdir().unwrap();
    fs::write(d.path().join("notes.txt"), TEXT).unwrap();
    d
}

#[test]
fn compress_keeps_input_and_decompress_restores_it() {
    let d = setup();
    let p = d.path();
    llmzip(p).args(["compress", "notes.txt", "--model", &model("tiny-bert")]).assert().success();
    assert!(p.join("notes.txt").exists(), "input must be kept");
    assert!(p.join("notes.txt.llmz").exists());
    // refuses to overwrite the original without -f
    llmzip(p)
        .args(["decompress", "notes.txt.llmz"])
        .assert()
        .failure()
        .stderr(predicate::str::contains("exists already").and(predicate::str::contains("hint:")));
    fs::remove_file(p.join("notes.txt")).unwrap();
    // the model recorded in the header is used when --model is absent
    llmzip(p).args(["d", "notes.txt.llmz"]).assert().success();
    assert_eq!(fs::read_to_string(p.join("notes.txt")).unwrap(), TEXT);
    llmzip(p).args(["decompress", "-f", "notes.txt.llmz"]).assert().success();
}

#[test]
fn stdin_stdout_pipeline_and_dash() {
    let d = setup();
    let p = d.path();
    for arch in common::ARCHS {
        for method in ["arith", "mask"] {
            let z = llmzip(p)
                .args(["compress", "--method", method, "--model", &model(arch)])
                .write_stdin(TEXT)
                .assert()
                .success()
                .get_output()
                .stdout
                .clone();
            assert_eq!(&z[..4], b"LLMZ");
            llmzip(p).args(["decompress", "-"]).write_stdin(z).assert().success().stdout(TEXT);
        }
    }
}

#[test]
fn stdout_flag_writes_nothing_to_disk() {
    let d = setup();
    let p = d.path();
    let out = llmzip(p)
        .args(["c", "-c", "notes.txt", "--model", &model("tiny-roberta")])
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    assert!(!p.join("notes.txt.llmz").exists());
    fs::write(p.join("x.llmz"), &out).unwrap();
    llmzip(p).args(["x", "-c", "x.llmz"]).assert().success().stdout(TEXT);
}

#[test]
fn several_files_and_rm() {
    let d = setup();
    let p = d.path();
    fs::write(p.join("b.txt"), "second file\n").unwrap();
    llmzip(p).args(["compress", "--rm", "notes.txt", "b.txt", "--model", &model("tiny-distilbert")]).assert().success();
    assert!(!p.join("notes.txt").exists() && !p.join("b.txt").exists());
    llmzip(p).args(["decompress", "notes.txt.llmz", "b.txt.llmz"]).assert().success();
    assert_eq!(fs::read_to_string(p.join("b.txt")).unwrap(), "second file\n");
    assert_eq!(fs::read_to_string(p.join("notes.txt")).unwrap(), TEXT);
}

#[test]
fn concatenated_members_decode_to_concatenation() {
    let d = setup();
    let p = d.path();
    let a = llmzip(p)
        .args(["c", "--model", &model("tiny-bert")])
        .write_stdin("first part\n")
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    let b = llmzip(p)
        .args(["c", "--model", &model("tiny-bert"), "--method", "mask"])
        .write_stdin("second part\n")
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    llmzip(p).arg("d").write_stdin([a, b].concat()).assert().success().stdout("first part\nsecond part\n");
}

#[test]
fn wrong_model_is_refused_before_any_output() {
    let d = setup();
    let p = d.path();
    llmzip(p).args(["compress", "notes.txt", "--model", &model("tiny-bert")]).assert().success();
    fs::remove_file(p.join("notes.txt")).unwrap();
    llmzip(p).args(["decompress", "notes.txt.llmz", "--model", &model("tiny-distilbert")]).assert().failure().stderr(
        predicate::str::contains("model mismatch")
            .and(predicate::str::contains("tiny-bert"))
            .and(predicate::str::contains("tiny-distilbert")),
    );
    assert!(!p.join("notes.txt").exists(), "no output on failure");
}

#[test]
fn corrupted_file_fails_cleanly_and_leaves_nothing() {
    let d = setup();
    let p = d.path();
    llmzip(p).args(["compress", "notes.txt", "--model", &model("tiny-bert")]).assert().success();
    let mut z = fs::read(p.join("notes.txt.llmz")).unwrap();
    let n = z.len();
    z[n - 30] ^= 0x40;
    fs::write(p.join("bad.llmz"), &z).unwrap();
    let before: Vec<_> = fs::read_dir(p).unwrap().map(|e| e.unwrap().file_name()).collect();
    llmzip(p)
        .args(["decompress", "bad.llmz"])
        .assert()
        .failure()
        .code(1)
        .stderr(predicate::str::contains("corrupt").and(predicate::str::contains("hint:")));
    let after: Vec<_> = fs::read_dir(p).unwrap().map(|e| e.unwrap().file_name()).collect();
    assert_eq!(before.len(), after.len(), "no output or temp file left behind");
    llmzip(p).args(["test", "bad.llmz"]).assert().failure();
    llmzip(p).args(["test", "notes.txt.llmz"]).assert().success().stdout(predicate::str::contains("OK"));
    // not an llmzip file at all
    llmzip(p)
        .args(["decompress", "-c", "notes.txt"])
        .assert()
        .failure()
        .stderr(predicate::str::contains("not an llmzip file"));
}

#[test]
fn refusals_and_argument_errors() {
    let d = setup();
    let p = d.path();
    llmzip(p)
        .args(["compress", "-c", "notes.txt", "--model", "./nowhere"])
        .assert()
        .failure()
        .stderr(predicate::str::contains("nowhere"));
    llmzip(p)
        .args(["compress", "missing.txt", "--model", &model("tiny-bert")])
        .assert()
        .failure()
        .stderr(predicate::str::contains("missing.txt"));
    fs::write(p.join("plain"), "x").unwrap();
    llmzip(p)
        .args(["decompress", "plain"])
        .assert()
        .failure()
        .stderr(predicate::str::contains("does not end in .llmz"));
    llmzip(p)
        .args(["compress", "notes.txt", "--model", &model("tiny-bert"), "--window", "600"])
        .assert()
        .failure()
        .stderr(predicate::str::contains("exceeds"));
    llmzip(p).args(["compress", "notes.txt", "--model", &model("tiny-bert")]).assert().success();
    llmzip(p)
        .args(["compress", "notes.txt", "--model", &model("tiny-bert")])
        .assert()
        .failure()
        .stderr(predicate::str::contains("exists already"));
}

#[test]
fn offline_hub_id_fails_with_one_clear_line() {
    let d = setup();
    let out = llmzip(d.path())
        .args(["compress", "notes.txt", "--model", "distilroberta-base"])
        .assert()
        .failure()
        .get_output()
        .stderr
        .clone();
    let err = String::from_utf8(out).unwrap();
    assert!(err.contains("distilroberta-base") && err.contains("HF_HUB_OFFLINE") && err.contains("--model"), "{err}");
    assert!(err.lines().next().unwrap().starts_with("llmzip: error:"), "{err}");
    assert!(!err.contains("panicked"));
}

#[test]
fn info_reports_sizes_and_settings() {
    let d = setup();
    let p = d.path();
    llmzip(p)
        .args(["compress", "notes.txt", "--model", &model("tiny-roberta"), "--rounds", "2", "--window", "32"])
        .assert()
        .success();
    let out = llmzip(p).args(["info", "--json", "notes.txt.llmz"]).assert().success().get_output().stdout.clone();
    let v: serde_json::Value = serde_json::from_slice(&out).unwrap();
    assert_eq!(v["original_bytes"], TEXT.len());
    assert_eq!(v["compressed_bytes"].as_u64().unwrap(), fs::metadata(p.join("notes.txt.llmz")).unwrap().len());
    assert_eq!(v["members"][0]["rounds"], 2);
    assert_eq!(v["members"][0]["window"], 32);
    assert_eq!(v["members"][0]["method"], "arith");
    assert_eq!(v["members"][0]["version"], llmzip::container::VERSION);
    llmzip(p).args(["info", "notes.txt.llmz"]).assert().success().stdout(predicate::str::contains("bits/byte"));
}

#[test]
fn infill_lists_top_predictions_as_json() {
    let d = setup();
    let out = llmzip(d.path())
        .args(["infill", "the [MASK] sat on the [MASK].", "--model", &model("tiny-bert"), "--top-k", "3", "--json"])
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    let v: serde_json::Value = serde_json::from_slice(&out).unwrap();
    let masks = v["masks"].as_array().unwrap();
    assert_eq!(masks.len(), 2);
    for m in masks {
        let top = m["top"].as_array().unwrap();
        assert_eq!(top.len(), 3);
        let lps: Vec<f64> = top.iter().map(|t| t["logprob"].as_f64().unwrap()).collect();
        assert!(lps.windows(2).all(|w| w[0] >= w[1]) && lps[0] <= 0.0);
        assert!(top[0]["token"].is_string() && top[0]["id"].is_u64());
    }
    llmzip(d.path())
        .args(["infill", "no mask here", "--model", &model("tiny-bert")])
        .assert()
        .failure()
        .stderr(predicate::str::contains("[MASK]"));
}

#[test]
fn completions_and_man_page() {
    let d = setup();
    llmzip(d.path()).args(["completions", "bash"]).assert().success().stdout(predicate::str::contains("llmzip"));
    llmzip(d.path()).arg("man").assert().success().stdout(predicate::str::contains(".TH"));
}

#[test]
fn default_model_needs_no_flag_and_no_network() {
    let d = setup();
    let p = d.path();
    llmzip(p).args(["compress", "notes.txt"]).assert().success();
    let out = llmzip(p).args(["info", "--json", "notes.txt.llmz"]).assert().success().get_output().stdout.clone();
    let v: serde_json::Value = serde_json::from_slice(&out).unwrap();
    assert_eq!(v["members"][0]["model"], "llmzip-default");
    fs::remove_file(p.join("notes.txt")).unwrap();
    llmzip(p).args(["decompress", "notes.txt.llmz"]).assert().success();
    assert_eq!(fs::read_to_string(p.join("notes.txt")).unwrap(), TEXT);
}

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

/// Deterministic bytes that no model predicts, so the output is at least as large as the input.
fn noise(n: usize) -> Vec<u8> {
    let mut x = 0x2545_f491_4f6c_dd1du64;
    (0..n)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x >> 32) as u8
        })
        .collect()
}

fn names_in(p: &Path) -> Vec<String> {
    let mut v: Vec<String> = fs::read_dir(p).unwrap().map(|e| e.unwrap().file_name().into_string().unwrap()).collect();
    v.sort();
    v
}

/// A full disk (here: a file-size limit, which fails writes the same way) is one clear line
/// with a hint, and leaves no partial output behind (#6).
#[test]
fn write_errors_leave_no_partial_output() {
    let d = tempfile::tempdir().unwrap();
    let p = d.path();
    let data = noise(64 << 10);
    fs::write(p.join("noise.bin"), &data).unwrap();
    let bin = assert_cmd::cargo::cargo_bin("llmzip");
    for args in [vec!["compress", "noise.bin"], vec!["compress", "-o", "out.llmz", "noise.bin"]] {
        let out = std::process::Command::new("sh")
            .current_dir(p)
            .env("HF_HUB_OFFLINE", "1")
            .arg("-c")
            .arg("ulimit -f 16 && exec \"$@\"")
            .arg("sh")
            .arg(&bin)
            .args(&args)
            .args(["--model", &model("tiny-bert"), "--block-size", "8192"])
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{err}");
        assert!(err.contains("File too large") && err.contains("hint: free some space"), "{err}");
        assert_eq!(err.lines().filter(|l| l.starts_with("llmzip: error")).count(), 1, "{err}");
        assert_eq!(names_in(p), ["noise.bin"], "no output or temporary file may remain");
        assert_eq!(fs::read(p.join("noise.bin")).unwrap(), data, "input untouched");
    }
    // standard output on a full device
    if Path::new("/dev/full").exists() {
        let out = std::process::Command::new(&bin)
            .current_dir(p)
            .args(["compress", "-c", "noise.bin", "--model", &model("tiny-bert")])
            .stdout(fs::File::create("/dev/full").unwrap())
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{err}");
        assert!(err.contains("No space left on device") && err.contains("hint:"), "{err}");
    }
}

/// Ctrl-C during compress or decompress exits 130 and leaves no partial output (#6).
#[test]
fn interrupt_leaves_no_partial_output() {
    let d = tempfile::tempdir().unwrap();
    let p = d.path();
    // Slow on purpose (one window per model call) so that the signal lands mid-run.
    let text = TEXT.repeat(400);
    fs::write(p.join("long.txt"), &text).unwrap();
    let m = model("tiny-bert");
    let slow = ["--model", &m, "--batch", "1", "--lanes", "1", "--window", "4"];
    // the plan is recorded in the file, so decompression is as slow
    llmzip(p).args(["compress", "-o", "ready.llmz", "long.txt", "--block-size", "4096"]).args(slow).assert().success();
    let bin = assert_cmd::cargo::cargo_bin("llmzip");
    for (args, out_name) in [
        ([&["compress", "long.txt"][..], &slow[..]].concat(), "long.txt.llmz"),
        (vec!["decompress", "ready.llmz", "-o", "back.txt", "--model", &m], "back.txt"),
    ] {
        let before = names_in(p);
        let mut child = std::process::Command::new(&bin)
            .current_dir(p)
            .args(&args)
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        // wait until the temporary output exists, i.e. the work has started
        let start = std::time::Instant::now();
        while !names_in(p).iter().any(|n| n.starts_with(".llmzip-")) {
            if let Some(status) = child.try_wait().unwrap() {
                panic!("{args:?} ended ({status}) before it could be interrupted");
            }
            assert!(start.elapsed().as_secs() < 60, "no temporary file appeared");
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        std::thread::sleep(std::time::Duration::from_millis(200));
        let killed = std::process::Command::new("kill").args(["-INT", &child.id().to_string()]).status().unwrap();
        assert!(killed.success());
        let out = child.wait_with_output().unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(130), "{args:?} must be interrupted mid-run: {err}");
        assert!(err.contains("interrupted"), "{err}");
        assert_eq!(names_in(p), before, "{out_name} or a temporary file was left behind");
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

/// `bench --plot` writes a PNG chart with one group per file (#5).
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

/// `bench --paper`: the lossy random-masking rows are coherent with the text, and the
/// lossless rows beside them are the sizes `compress` writes at the same cap (#5).
#[test]
fn bench_paper_reports_lossy_and_lossless_rows() {
    if !have_font() {
        return;
    }
    let d = setup();
    let p = d.path();
    let m = model("tiny-roberta");
    let out = llmzip(p)
        .args(["bench", "--paper", "notes.txt", "--model", &m, "--epochs", "0,1", "--json", "--plot", "acc.png"])
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    let v: serde_json::Value = serde_json::from_slice(&out).unwrap();
    let sizes = v["sizes"].as_array().unwrap();
    assert_eq!(sizes.len(), 2, "15% and 50%");
    for (row, rate) in sizes.iter().zip(["0.15", "0.5"]) {
        let l = &row["lossy"];
        assert_eq!(l["lines"].as_u64().unwrap() as usize, TEXT.split('\n').count());
        let tokens = l["tokens"].as_f64().unwrap();
        let want: f64 = rate.parse().unwrap();
        assert_eq!(l["masked"].as_f64().unwrap(), (want * tokens).round());
        let z = llmzip(p)
            .args(["compress", "-c", "notes.txt", "--method", "mask", "--mask-rate", rate, "--model", &m])
            .assert()
            .success()
            .get_output()
            .stdout
            .clone();
        assert_eq!(row["llmzip_mask_bytes"].as_u64().unwrap(), z.len() as u64);
    }
    let epochs: Vec<u64> = v["epochs"].as_array().unwrap().iter().map(|l| l["epochs"].as_u64().unwrap()).collect();
    assert_eq!(epochs, [0, 0, 1, 1]);
    assert!(fs::read(p.join("acc.png")).unwrap().starts_with(b"\x89PNG"));
}

/// Files written by container version 1 (fixtures made at e638a57, before version 2) still
/// decode byte for byte, with the built-in model and with a model given by path (#4).
#[test]
fn version_1_files_still_decode() {
    let d = tempfile::tempdir().unwrap();
    let v1 = common::fixture("v1");
    for (name, model_args) in [("text.txt", vec![]), ("mask.txt", vec!["--model".to_string(), model("tiny-roberta")])] {
        let out = llmzip(d.path())
            .arg("decompress")
            .arg("-c")
            .args(&model_args)
            .arg(v1.join(format!("{name}.llmz")))
            .assert()
            .success()
            .get_output()
            .stdout
            .clone();
        assert_eq!(out, fs::read(v1.join(name)).unwrap(), "{name}");
        let info = llmzip(d.path())
            .args(["info", "--json"])
            .arg(v1.join(format!("{name}.llmz")))
            .assert()
            .success()
            .get_output()
            .stdout
            .clone();
        let v: serde_json::Value = serde_json::from_slice(&info).unwrap();
        assert_eq!(v["members"][0]["version"], 1);
        assert_eq!(
            v["compressed_bytes"].as_u64().unwrap(),
            fs::metadata(v1.join(format!("{name}.llmz"))).unwrap().len()
        );
    }
}

/// Files of every older adaptive-model version (header field `mix`) still decode byte for
/// byte: fixtures written by the binary of the time (v0 `--no-mix`, v1 caches, v2 n-grams at
/// one and two rounds), and `info` names the version each was made with.
#[test]
fn older_adaptive_model_versions_still_decode() {
    let d = tempfile::tempdir().unwrap();
    let dir = common::fixture("mix");
    let text = fs::read(dir.join("text.txt")).unwrap();
    for (name, version) in [("v0", 0), ("v1", 1), ("v2", 2), ("v2-rounds2", 2)] {
        let f = dir.join(format!("{name}.llmz"));
        let out = llmzip(d.path()).arg("decompress").arg("-c").arg(&f).assert().success().get_output().stdout.clone();
        assert_eq!(out, text, "{name}");
        let info = llmzip(d.path()).args(["info", "--json"]).arg(&f).assert().success().get_output().stdout.clone();
        let v: serde_json::Value = serde_json::from_slice(&info).unwrap();
        assert_eq!(v["members"][0]["mix"], version, "{name}: {v}");
    }
}

/// Regression (#4): version 1 spent 148 bytes on header and framing, so a 162-byte text came
/// out larger than bzip2's. Header, block framing and end record of version 2 stay small, for
/// the built-in model and for a model named by a long path.
#[test]
fn framing_costs_few_bytes() {
    let d = tempfile::tempdir().unwrap();
    let p = d.path();
    fs::write(p.join("empty"), b"").unwrap();
    fs::write(p.join("one"), b"a").unwrap();
    llmzip(p).args(["compress", "empty", "one"]).assert().success();
    let empty = fs::metadata(p.join("empty.llmz")).unwrap().len();
    let one = fs::metadata(p.join("one.llmz")).unwrap().len();
    // header + end record; header + one block of one token + end record
    assert!(empty <= 52, "empty input: {empty} bytes");
    assert!(one <= empty + 20, "one byte: {one} bytes");
    let m = model("tiny-roberta");
    llmzip(p).args(["compress", "-f", "empty", "--model", &m]).assert().success();
    let named = fs::metadata(p.join("empty.llmz")).unwrap().len();
    assert!(named <= empty + m.len() as u64 + 2, "{named} bytes with --model {m}");
    for f in ["one.llmz", "empty.llmz"] {
        llmzip(p)
            .args(["decompress", "-f", "--model", if f == "one.llmz" { "llmzip-default" } else { &m }, f])
            .assert()
            .success();
    }
    assert_eq!(fs::read(p.join("one")).unwrap(), b"a");
    assert_eq!(fs::read(p.join("empty")).unwrap(), b"");
}
