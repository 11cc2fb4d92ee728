#![allow(dead_code)]
use std::path::{Path, PathBuf};

pub fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures").join(name)
}

pub fn shared(rel: &str) -> Option<PathBuf> {
    let p = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../shared").join(rel);
    p.exists().then_some(p)
}

pub fn load(name: &str) -> llmzip::Model {
    let p = fixture(name);
    llmzip::Model::load(p.to_str().unwrap(), &llmzip::model::DeviceSpec::Cpu).unwrap()
}

pub const ARCHS: [&str; 4] = ["tiny-bert", "tiny-roberta", "tiny-distilbert", "tiny-roberta-prelayernorm"];

pub mod mock;

// The binary, run in isolated temporary directories.

pub fn llmzip(dir: &Path) -> assert_cmd::Command {
    let mut c = assert_cmd::Command::cargo_bin("llmzip").unwrap();
    c.current_dir(dir).env_remove("LLMZIP_MODEL").env("HF_HUB_OFFLINE", "1").env("HF_HOME", dir.join("hf"));
    c
}

pub fn model(arch: &str) -> String {
    fixture(arch).to_str().unwrap().to_string()
}

pub const TEXT: &str = "Alice was beginning to get very tired of sitting by her sister on the bank,\nand of having nothing to do: once or twice she had peeped into the book her sister was reading.\n";

pub fn setup() -> tempfile::TempDir {
    let d = tempfile::tempdir().unwrap();
    std::fs::write(d.path().join("notes.txt"), TEXT).unwrap();
    d
}

/// Deterministic bytes that no model predicts, so the output is at least as large as the input.
pub fn noise(n: usize) -> Vec<u8> {
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

pub fn names_in(p: &Path) -> Vec<String> {
    let mut v: Vec<String> =
        std::fs::read_dir(p).unwrap().map(|e| e.unwrap().file_name().into_string().unwrap()).collect();
    v.sort();
    v
}
