//! The real binary, in isolated temp dirs: the commands, their refusals, old files.

mod common;

use common::{llmzip, model, setup, TEXT};
use predicates::prelude::*;
use std::fs;

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
    // a masked plan is still written as version 2 (version 3 is for causal plans)
    assert_eq!(v["members"][0]["version"], 2);
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
    // the default level's model, built into the binary
    assert_eq!(v["members"][0]["model"], "llmzip-causal-1");
    fs::remove_file(p.join("notes.txt")).unwrap();
    llmzip(p).args(["decompress", "notes.txt.llmz"]).assert().success();
    assert_eq!(fs::read_to_string(p.join("notes.txt")).unwrap(), TEXT);
}

/// The built-in model shipped as an integer version only compresses and decodes, is listed,
/// and fine-tuning it says why it cannot (no float weights) instead of failing to read them.
#[test]
fn an_integer_only_built_in_model_works_and_refuses_fine_tuning() {
    let d = setup();
    let p = d.path();
    llmzip(p).args(["compress", "--model", "llmzip-large-1", "-o", "n.llmz", "notes.txt"]).assert().success();
    llmzip(p).args(["decompress", "-c", "n.llmz"]).assert().success().stdout(TEXT);
    llmzip(p).args(["info", "n.llmz"]).assert().success().stdout(predicates::str::contains("llmzip-int8/1"));
    llmzip(p).args(["models"]).assert().success().stdout(predicates::str::contains("llmzip-large-1"));
    fs::create_dir(p.join("corpus")).unwrap();
    fs::write(p.join("corpus/a.txt"), TEXT.repeat(20)).unwrap();
    llmzip(p)
        .args(["finetune", "corpus", "--model", "llmzip-large-1", "--steps", "1", "--out", "ft"])
        .assert()
        .failure()
        .stderr(predicates::str::contains("integer version").and(predicates::str::contains("panicked").not()));
    assert!(!p.join("ft").join("model.safetensors").exists());
}

/// Files written by container version 1 (fixtures in tests/fixtures/v1) still decode byte
/// for byte, with the built-in model and with a model given by path.
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

/// Framing must stay small beside the paper's 162-byte sample text (148 bytes of it, as
/// version 1 spent, is more than bzip2's whole output): header, block framing and end record
/// of version 2 stay small, for the built-in model and for a model named by a long path.
#[test]
fn framing_costs_few_bytes() {
    let d = tempfile::tempdir().unwrap();
    let p = d.path();
    fs::write(p.join("empty"), b"").unwrap();
    fs::write(p.join("one"), b"a").unwrap();
    // the first built-in model goes unnamed in the header: the bare framing
    llmzip(p).args(["compress", "--model", "llmzip-default", "empty", "one"]).assert().success();
    let empty = fs::metadata(p.join("empty.llmz")).unwrap().len();
    let one = fs::metadata(p.join("one.llmz")).unwrap().len();
    // header + end record; header + one block of one token + end record (the header holds
    // the default level's settled part: 3 bytes)
    assert!(empty <= 53, "empty input: {empty} bytes");
    assert!(one <= empty + 20, "one byte: {one} bytes");
    // the default level names its model: the name and its length byte on top
    llmzip(p)
        .args(["compress", "-c", "empty"])
        .assert()
        .success()
        .stdout(predicate::function(|z: &[u8]| z.len() as u64 <= empty + "llmzip-medium-1".len() as u64 + 2));
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

/// Files of every older adaptive-model version (header field `mix`) still decode byte for
/// byte: fixtures written by the binary of the time (v0 `--no-mix`, v1 caches, v2 n-grams at
/// one and two rounds; v3 context mixing by commit 144b581 at levels 5, 6 and 8, the plans of
/// one, two and three rounds; v4, v5 and v6 each with llmzip-default W32 C8 R1 and
/// llmzip-small-1 W32 C32 R2; v4, v5 and v6 with llmzip-medium-1 W32 C32 R2 settling into
/// windows of 8 after 300 tokens; v7 at level 5, the causal plan, and with llmzip-small-1
/// W32 C32 R2; v8 and v9 at level 5), and `info` names the version each was made with.
#[test]
fn older_adaptive_model_versions_still_decode() {
    let d = tempfile::tempdir().unwrap();
    let dir = common::fixture("mix");
    let text = fs::read(dir.join("text.txt")).unwrap();
    for (name, version) in [
        ("v0", 0),
        ("v1", 1),
        ("v2", 2),
        ("v2-rounds2", 2),
        ("v3", 3),
        ("v3-rounds2", 3),
        ("v3-rounds3", 3),
        ("v4", 4),
        ("v4-rounds2", 4),
        ("v4-settle", 4),
        ("v5", 5),
        ("v5-rounds2", 5),
        ("v5-settle", 5),
        ("v6", 6),
        ("v6-rounds2", 6),
        ("v6-settle", 6),
        ("v7", 7),
        ("v7-rounds2", 7),
        ("v8", 8),
        ("v9", 9),
    ] {
        let f = dir.join(format!("{name}.llmz"));
        let out = llmzip(d.path()).arg("decompress").arg("-c").arg(&f).assert().success().get_output().stdout.clone();
        assert_eq!(out, text, "{name}");
        let info = llmzip(d.path()).args(["info", "--json"]).arg(&f).assert().success().get_output().stdout.clone();
        let v: serde_json::Value = serde_json::from_slice(&info).unwrap();
        assert_eq!(v["members"][0]["mix"], version, "{name}: {v}");
        let settle = if name.ends_with("-settle") { serde_json::json!([300, 8]) } else { serde_json::Value::Null };
        assert_eq!(v["members"][0]["settle"], settle, "{name}: {v}");
    }
}
