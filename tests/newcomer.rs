//! The newcomer's path: the README's set-up commands, levels, `llmzip models`, and the
//! recipe for many processes or machines.

mod common;

use common::{llmzip, model, setup, TEXT};
use predicates::prelude::*;
use std::fs;
use std::path::Path;

/// The `sh` blocks of the README's "Set up" section: the main job, then the test command.
fn readme_setup_commands() -> Vec<String> {
    let readme = fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("README.md")).unwrap();
    let setup = readme.split("## Set up").nth(1).expect("README has a Set up section");
    let setup = setup.split("\n## ").next().unwrap();
    setup.split("```sh\n").skip(1).map(|b| b.split("```").next().unwrap().trim().to_string()).collect()
}

/// The README's main-job command works with what a fresh clone has (the binary under test
/// stands in for `cargo install`), and CI runs the README's test command.
#[test]
fn readme_set_up_commands_work_from_the_repository() {
    let cmds = readme_setup_commands();
    assert_eq!(cmds.len(), 2, "{cmds:?}");
    let main_job = cmds[0].strip_prefix("cargo install --locked --path . && ").expect("install first");
    let d = tempfile::tempdir().unwrap();
    // what the command reads from the repository, nothing else (no ../shared)
    std::os::unix::fs::symlink(Path::new(env!("CARGO_MANIFEST_DIR")).join("data"), d.path().join("data")).unwrap();
    let bin = assert_cmd::cargo::cargo_bin("llmzip");
    let path = format!("{}:{}", bin.parent().unwrap().display(), std::env::var("PATH").unwrap_or_default());
    let out = std::process::Command::new("sh")
        .current_dir(d.path())
        .env("PATH", path)
        .env("HF_HUB_OFFLINE", "1")
        .args(["-c", main_job])
        .output()
        .unwrap();
    assert!(out.status.success(), "{main_job}: {}", String::from_utf8_lossy(&out.stderr));
    let ci = fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join(".ci/run")).unwrap();
    assert!(ci.lines().any(|l| l.trim() == cmds[1]), ".ci/run must run the README's test command: {}", cmds[1]);
}

/// `-1` … `-9`, `--fast`, `--best` and `--level N` choose settings that round-trip and are
/// recorded in the file; the default is level 5, explicit options override the level's.
#[test]
fn levels_choose_settings_and_round_trip() {
    let d = setup();
    let p = d.path();
    let m = model("tiny-roberta");
    let compress = |args: &[&str]| -> Vec<u8> {
        let z = llmzip(p).args(["compress", "-c", "notes.txt", "--model", &m]).args(args).assert().success();
        z.get_output().stdout.clone()
    };
    let mut plans = Vec::new();
    for n in 1..=9 {
        let flag = format!("-{n}");
        let z = compress(&[&flag]);
        assert_eq!(z, compress(&["--level", &n.to_string()]), "-{n} and --level {n}");
        fs::write(p.join("l.llmz"), &z).unwrap();
        let v: serde_json::Value = serde_json::from_slice(
            &llmzip(p).args(["info", "--json", "l.llmz"]).assert().success().get_output().stdout,
        )
        .unwrap();
        let mem = &v["members"][0];
        plans.push((mem["window"].as_u64().unwrap(), mem["context"].as_u64().unwrap(), mem["mix"].as_u64().unwrap()));
        llmzip(p).args(["decompress", "-c", "l.llmz"]).assert().success().stdout(TEXT);
    }
    plans.dedup();
    assert!(plans.len() > 1, "levels differ: {plans:?}");
    assert_eq!(compress(&["--fast"]), compress(&["-1"]));
    assert_eq!(compress(&["--best"]), compress(&["-9"]));
    assert_eq!(compress(&[]), compress(&["-5"]), "the default level is 5");
    // an explicit option wins over the level's choice
    assert_eq!(compress(&["-1", "--window", "16"]), compress(&["-1", "--window", "16", "--context", "0"]));
    assert_ne!(compress(&["-1", "--window", "16"]), compress(&["-1"]));
    // a window narrower than the default level's settled sub-windows (8) drops that part
    // instead of refusing the plan (regression: "settling needs … a sub-window of 1..=window")
    fs::write(p.join("w.llmz"), compress(&["--window", "4"])).unwrap();
    llmzip(p).args(["decompress", "-c", "w.llmz"]).assert().success().stdout(TEXT);
    llmzip(p)
        .args(["compress", "-c", "notes.txt", "-1", "--best"])
        .assert()
        .failure()
        .stderr(predicate::str::contains("cannot be used"));
}

/// The plan `info` reads from a file's first member: (window, context, rounds, settle).
fn plan_of(dir: &Path, file: &str) -> (u64, u64, u64, serde_json::Value) {
    let out = llmzip(dir).args(["info", "--json", file]).assert().success().get_output().stdout.clone();
    let v: serde_json::Value = serde_json::from_slice(&out).unwrap();
    let m = &v["members"][0];
    let n = |k: &str| m[k].as_u64().unwrap_or_else(|| panic!("{k} in {m}"));
    (n("window"), n("context"), n("rounds"), m["settle"].clone())
}

/// Regression: only the default settled long inputs, so on long texts `-6` … `-9` wrote larger
/// files than `-5`. Now every level from the default up codes any input one token at a time:
/// a causal model by the causal plan (the levels' own models), a masked model given with
/// `--model` one token at a time with `--settle 0,1`. The sizes are measured with the real
/// models (README, "Levels"); here tiny models, without mixing, check what each level writes
/// and that it decodes.
#[test]
fn every_level_from_the_default_up_codes_one_token_at_a_time() {
    let d = setup();
    let p = d.path();
    let notes = std::fs::read(p.join("notes.txt")).unwrap();
    let causal = model("tiny-roberta-prelayernorm-causal");
    for n in 5..=9 {
        let (level, z) = (format!("-{n}"), format!("notes{n}.llmz"));
        llmzip(p)
            .args(["compress", "-q", &level, "--no-mix", "--model", &causal, "-o", &z, "notes.txt"])
            .assert()
            .success();
        let out = llmzip(p).args(["info", "--json", &z]).assert().success().get_output().stdout.clone();
        let v: serde_json::Value = serde_json::from_slice(&out).unwrap();
        assert_eq!(v["members"][0]["shape"], "causal", "{level}: {v}");
        assert_eq!(v["members"][0]["version"], 3, "{level}");
        llmzip(p).args(["decompress", "-c", &z]).assert().success().stdout(notes.clone());
    }
    let masked = model("tiny-bert");
    llmzip(p)
        .args(["compress", "-q", "-5", "--no-mix", "--model", &masked, "-o", "m5.llmz", "notes.txt"])
        .assert()
        .success();
    let (_, context, _, settle) = plan_of(p, "m5.llmz");
    assert_eq!((context, settle), (1, serde_json::json!([0, 1])), "a masked model at -5");
    llmzip(p).args(["decompress", "-c", "m5.llmz"]).assert().success().stdout(notes);
}

/// `llmzip models` lists the built-in model and models in the hf-hub cache, with parameters,
/// size, the fingerprint `info` shows and the levels that use each.
#[test]
fn models_lists_built_in_and_cached_models() {
    let d = setup();
    let p = d.path();
    // a model in the hf-hub cache layout: refs/main names the snapshot holding the files
    let repo = p.join("hf/hub/models--test--tiny-bert");
    fs::create_dir_all(repo.join("refs")).unwrap();
    fs::write(repo.join("refs/main"), "abc123").unwrap();
    let snap = repo.join("snapshots/abc123");
    fs::create_dir_all(&snap).unwrap();
    for f in ["config.json", "tokenizer.json", "model.safetensors"] {
        fs::copy(common::fixture("tiny-bert").join(f), snap.join(f)).unwrap();
    }
    let out = llmzip(p).args(["models", "--json"]).assert().success().get_output().stdout.clone();
    let rows: serde_json::Value = serde_json::from_slice(&out).unwrap();
    let rows = rows.as_array().unwrap();
    let named = |n: &str| rows.iter().find(|r| r["name"] == n).unwrap_or_else(|| panic!("{n} not listed: {rows:?}"));
    let (builtin, cached) = (named("llmzip-default"), named("test/tiny-bert"));
    assert!(rows.iter().all(|r| r["source"] == "built-in" || r["name"] == "test/tiny-bert"), "{rows:?}");
    assert_eq!(builtin["source"], "built-in");
    assert_eq!(builtin["levels"], "", "no level writes with the first built-in model any more");
    assert_eq!(named("llmzip-small-1")["levels"], "1-4");
    assert_eq!(named("llmzip-causal-1")["levels"], "5");
    assert_eq!(named("llmzip-causal-large-1")["levels"], "6-9");
    assert_eq!(named("llmzip-medium-1")["levels"], "");
    assert_eq!(named("llmzip-large-1")["levels"], "");
    assert_eq!(builtin["weight_bytes"].as_u64().unwrap(), 7_428_568);
    assert!((1_800_000..1_900_000).contains(&builtin["parameters"].as_u64().unwrap()), "{builtin}");
    assert_eq!(cached["source"], "hf-hub cache");
    assert_eq!((cached["name"].as_str(), cached["levels"].as_str()), (Some("test/tiny-bert"), Some("")));
    let weights = fs::metadata(snap.join("model.safetensors")).unwrap().len();
    assert_eq!(cached["weight_bytes"].as_u64().unwrap(), weights);
    assert!(cached["parameters"].as_u64().unwrap() * 4 <= weights, "{cached}");
    // the fingerprint is the one files made with the model carry
    llmzip(p).args(["compress", "notes.txt", "--model", "test/tiny-bert"]).assert().success();
    let info: serde_json::Value = serde_json::from_slice(
        &llmzip(p).args(["info", "--json", "notes.txt.llmz"]).assert().success().get_output().stdout,
    )
    .unwrap();
    let stored = info["members"][0]["fingerprint"].as_str().unwrap();
    assert!(cached["fingerprint"].as_str().unwrap().starts_with(stored));
    llmzip(p)
        .arg("models")
        .assert()
        .success()
        .stdout(predicate::str::contains("test/tiny-bert").and(predicate::str::contains("6-9")));
}

/// Whether GNU parallel is installed (`.ci/run` installs it).
fn have_parallel() -> bool {
    let found = std::process::Command::new("parallel").arg("--version").output().is_ok_and(|o| o.status.success());
    if !found {
        eprintln!("skipped: GNU parallel is not installed (apt-get install parallel)");
    }
    found
}

/// The README's recipe for many processes or machines: GNU parallel cuts a file into parts,
/// each part becomes an independent member, and the concatenation decompresses to the file
/// exactly; the `--sshlogin` form (here `:`, this machine) gives the same bytes, and so do
/// parts kept as separate files; a stream cut by `--pipe` restores too.
#[test]
fn gnu_parallel_shards_restore_exactly() {
    if !have_parallel() {
        return;
    }
    let d = tempfile::tempdir().unwrap();
    let p = d.path();
    let mut big = TEXT.repeat(40).into_bytes();
    big.extend_from_slice(b"\xff\xfe and no newline at the end");
    fs::write(p.join("big.txt"), &big).unwrap();
    let bin = assert_cmd::cargo::cargo_bin("llmzip");
    let path = format!("{}:{}", bin.parent().unwrap().display(), std::env::var("PATH").unwrap_or_default());
    let sh = |script: &str| {
        let out = std::process::Command::new("sh")
            .current_dir(p)
            .env("PATH", &path)
            .env("HF_HUB_OFFLINE", "1")
            .env("LLMZIP_MODEL", model("tiny-roberta"))
            .args(["-c", script])
            .output()
            .unwrap();
        assert!(out.status.success(), "{script}: {}", String::from_utf8_lossy(&out.stderr));
    };
    sh("parallel --will-cite --pipepart -a big.txt --block 1k -k llmzip compress > big.txt.llmz");
    sh("parallel --will-cite --pipepart -a big.txt --block 1k -k -S 2/: llmzip compress > ssh.llmz");
    sh("parallel --will-cite --pipepart -a big.txt --block 1k 'llmzip compress > part.{#}.llmz'");
    sh("cat $(ls part.*.llmz | sort -V) > parts.llmz");
    sh("parallel --will-cite -k llmzip decompress -c ::: $(ls part.*.llmz | sort -V) > parts.txt");
    sh("cat big.txt | parallel --will-cite --pipe --block 1k -k llmzip compress > piped.llmz");
    let z = fs::read(p.join("big.txt.llmz")).unwrap();
    for other in ["ssh.llmz", "parts.llmz"] {
        assert_eq!(fs::read(p.join(other)).unwrap(), z, "{other}");
    }
    // from a stream, parts are cut elsewhere: other bytes, the same text
    llmzip(p).args(["decompress", "-c", "piped.llmz"]).assert().success().stdout(big.clone());
    let info: serde_json::Value = serde_json::from_slice(
        &llmzip(p).args(["info", "--json", "big.txt.llmz"]).assert().success().get_output().stdout,
    )
    .unwrap();
    assert!(info["members"].as_array().unwrap().len() >= 4, "{info}");
    fs::rename(p.join("big.txt"), p.join("original.txt")).unwrap();
    llmzip(p).args(["decompress", "big.txt.llmz"]).assert().success();
    assert_eq!(fs::read(p.join("big.txt")).unwrap(), big);
    assert_eq!(fs::read(p.join("parts.txt")).unwrap(), big);
}
