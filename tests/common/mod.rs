#![allow(dead_code)]
use std::path::PathBuf;

pub fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures").join(name)
}

pub fn shared(rel: &str) -> Option<PathBuf> {
    let p = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../shared").join(rel);
    p.exists().then_some(p)
}

pub fn load(name: &str) -> llmzip::Model {
    let p = fixture(name);
    llmzip::Model::load(p.to_str().unwrap(), &candle_core::Device::Cpu).unwrap()
}

pub const ARCHS: [&str; 4] = ["tiny-bert", "tiny-roberta", "tiny-distilbert", "tiny-roberta-prelayernorm"];

pub mod mock;
