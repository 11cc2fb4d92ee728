//! `llmzip models`: the built-in models and the models in the hf-hub cache, with their size,
//! fingerprint and the compression levels that use them. Lists only: never downloads.

use clap::Args;
use serde::Serialize;

use super::levels;
use llmzip::model::{self, Model};
use llmzip::{Error, Result};

#[derive(Args, Debug, Clone)]
pub struct ModelsArgs {
    /// Machine-readable output
    #[arg(long)]
    pub json: bool,
}

/// One model.
#[derive(Debug, Serialize)]
struct Row {
    name: String,
    /// "built-in" or "hf-hub cache"
    source: &'static str,
    /// architecture, layers, hidden size, vocabulary
    shape: String,
    parameters: u64,
    weight_bytes: u64,
    /// what `llmzip info` shows of the files made with it
    fingerprint: String,
    /// levels that use it, as "1-9"
    levels: String,
}

pub fn run(a: ModelsArgs) -> anyhow::Result<()> {
    // a listing must not reach the network for a half-cached model
    std::env::set_var("HF_HUB_OFFLINE", "1");
    let mut rows = Vec::new();
    for b in model::builtin::ALL {
        // an integer-only model counts the entries of its int8 matrices
        let w = if b.weights.is_empty() { b.int8.unwrap_or_default() } else { b.weights };
        rows.push(describe(b.name, "built-in", &[w])?);
    }
    for id in cached() {
        match cached_weights(&id)
            .and_then(|w| describe(&id, "hf-hub cache", &w.iter().map(Vec::as_slice).collect::<Vec<_>>()))
        {
            Ok(r) => rows.push(r),
            Err(e) => eprintln!("llmzip: {id} (hf-hub cache) skipped: {e}"),
        }
    }
    if a.json {
        println!("{}", serde_json::to_string_pretty(&rows)?);
        return Ok(());
    }
    println!(
        "{:<28} {:<13} {:<28} {:>10} {:>9}  {:<16}  levels",
        "model", "source", "shape", "parameters", "weights", "fingerprint"
    );
    for r in &rows {
        let levels = if r.levels.is_empty() { "-".to_string() } else { r.levels.clone() };
        println!(
            "{:<28} {:<13} {:<28} {:>8.1} M {:>6.1} MB  {:<16}  {}",
            r.name,
            r.source,
            r.shape,
            r.parameters as f64 / 1e6,
            r.weight_bytes as f64 / 1e6,
            &r.fingerprint[..16],
            levels
        );
    }
    println!("default level: {}; a model directory works anywhere with --model DIR", levels::DEFAULT);
    Ok(())
}

/// Hub ids with a folder in the hf-hub cache (`models--org--name`).
fn cached() -> Vec<String> {
    let root = hf_hub::Cache::from_env().path().clone();
    let Ok(dir) = std::fs::read_dir(&root) else { return Vec::new() };
    let mut ids: Vec<String> = dir
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .filter_map(|n| n.strip_prefix("models--").map(|id| id.replace("--", "/")))
        .collect();
    ids.sort();
    ids
}

fn cached_weights(id: &str) -> Result<Vec<Vec<u8>>> {
    Ok(model::resolve(id)?.weights.into_iter().map(|w| w.into_owned()).collect())
}

fn describe(name: &str, source: &'static str, weights: &[&[u8]]) -> Result<Row> {
    let m = Model::load(name, &model::DeviceSpec::Cpu)?;
    let c = m.lm.architecture();
    Ok(Row {
        name: name.to_string(),
        source,
        shape: format!("{} {}L/{}H, vocab {}", c.model_type, c.layers, c.hidden, m.lm.vocab_size()),
        parameters: weights.iter().map(|w| parameters(w)).sum::<Result<u64>>()?,
        weight_bytes: m.weight_bytes,
        fingerprint: model::hex(&m.fingerprint),
        levels: levels::using(name),
    })
}

/// Floating-point parameters stored in a safetensors file (integer buffers are not
/// parameters), or in an integer checkpoint its int8 matrix entries, from the header alone.
fn parameters(safetensors: &[u8]) -> Result<u64> {
    use safetensors::Dtype::{BF16, F16, F32, F64, I8};
    let (_, meta) = safetensors::SafeTensors::read_metadata(safetensors).map_err(|e| Error::model("weights", e))?;
    Ok(meta
        .tensors()
        .values()
        .filter(|t| matches!(t.dtype, F16 | BF16 | F32 | F64 | I8))
        .map(|t| t.shape.iter().product::<usize>() as u64)
        .sum())
}
