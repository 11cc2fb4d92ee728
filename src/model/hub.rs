//! Resolving `--model` to local files: a directory, or a Hugging Face hub id fetched once into
//! the hf-hub cache (HF_HOME honoured; HF_HUB_OFFLINE=1 never touches the network).

use std::path::{Path, PathBuf};

use crate::error::{Error, Result};

/// The files of one checkpoint on disk.
pub struct ModelFiles {
    pub config: PathBuf,
    pub tokenizer: PathBuf,
    pub weights: Vec<PathBuf>,
}

fn offline() -> bool {
    matches!(std::env::var("HF_HUB_OFFLINE").as_deref(), Ok("1") | Ok("true") | Ok("TRUE") | Ok("yes"))
}

pub fn looks_like_hub_id(name: &str) -> bool {
    !name.is_empty()
        && !name.starts_with('.')
        && !name.starts_with('/')
        && name.split('/').count() <= 2
        && name.chars().all(|c| c.is_ascii_alphanumeric() || "-_./".contains(c))
}

/// Weight files named by a sharded index, in index order, deduplicated.
fn shards_from_index(index: &Path, name: &str) -> Result<Vec<String>> {
    let text = std::fs::read_to_string(index).map_err(|e| Error::io(format!("reading {}", index.display()), e))?;
    let v: serde_json::Value =
        serde_json::from_str(&text).map_err(|e| Error::model(name, format!("bad shard index: {e}")))?;
    let map = v
        .get("weight_map")
        .and_then(|m| m.as_object())
        .ok_or_else(|| Error::model(name, "shard index has no weight_map"))?;
    let mut files: Vec<String> = map.values().filter_map(|f| f.as_str().map(String::from)).collect();
    files.sort();
    files.dedup();
    if files.iter().any(|f| f.contains("..") || f.contains('/')) {
        return Err(Error::model(name, "shard index names a file outside the model directory"));
    }
    Ok(files)
}

pub fn from_dir(dir: &Path, name: &str) -> Result<ModelFiles> {
    let config = dir.join("config.json");
    let tokenizer = dir.join("tokenizer.json");
    for f in [&config, &tokenizer] {
        if !f.is_file() {
            return Err(Error::model(name, format!("{} is missing", f.display())));
        }
    }
    let single = dir.join("model.safetensors");
    let index = dir.join("model.safetensors.index.json");
    let weights = if single.is_file() {
        vec![single]
    } else if index.is_file() {
        shards_from_index(&index, name)?.into_iter().map(|f| dir.join(f)).collect()
    } else {
        return Err(Error::model(
            name,
            format!("no model.safetensors (or sharded index) in {}; PyTorch .bin weights are not read", dir.display()),
        ));
    };
    Ok(ModelFiles { config, tokenizer, weights })
}

pub fn from_hub(id: &str) -> Result<ModelFiles> {
    let cache = hf_hub::Cache::from_env();
    let cached = cache.model(id.to_string());
    let from_cache = |f: &str| cached.get(f);
    let fail = |why: String| {
        Error::model(
            id,
            format!(
                "{why}; to use a local copy pass its directory, e.g. --model ./{}",
                id.rsplit('/').next().unwrap_or(id)
            ),
        )
    };
    let get = |f: &str| -> Result<PathBuf> {
        if let Some(p) = from_cache(f) {
            return Ok(p);
        }
        if offline() {
            return Err(fail(format!("{f} is not in the hf-hub cache and HF_HUB_OFFLINE is set")));
        }
        let api = hf_hub::api::sync::ApiBuilder::from_env()
            .with_progress(false)
            .build()
            .map_err(|e| fail(format!("hub client: {e}")))?;
        api.model(id.to_string()).get(f).map_err(|e| fail(format!("could not download {f} ({e})")))
    };
    let config = get("config.json")?;
    let tokenizer = get("tokenizer.json")?;
    let weights = match get("model.safetensors") {
        Ok(p) => vec![p],
        Err(first) => match get("model.safetensors.index.json") {
            Ok(index) => {
                let mut v = Vec::new();
                for f in shards_from_index(&index, id)? {
                    v.push(get(&f)?);
                }
                v
            }
            Err(_) => return Err(first),
        },
    };
    Ok(ModelFiles { config, tokenizer, weights })
}
