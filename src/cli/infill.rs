//! `llmzip infill`: a model's top predictions for each mask in a text.

use clap::Args;
use serde_json::json;

use super::args::Global;
use super::{require_model, Models};
use llmzip::Error;

#[derive(Args, Debug, Clone)]
pub struct InfillArgs {
    /// Text with one or more mask tokens ([MASK] or <mask>, as the model spells it)
    pub text: String,
    #[arg(short, long, env = "LLMZIP_MODEL")]
    pub model: Option<String>,
    /// Predictions per mask
    #[arg(short = 'k', long, default_value_t = 5)]
    pub top_k: usize,
    #[arg(long)]
    pub json: bool,
}

pub fn run(g: &Global, a: InfillArgs) -> anyhow::Result<()> {
    let models = Models::new(g)?;
    let model = models.get(&require_model(&a.model))?;
    let tok = model.tokenizer.inner();
    let enc = tok.encode(a.text.as_str(), true).map_err(|e| Error::Tokenizer(e.to_string()))?;
    let ids: Vec<u32> = enc.get_ids().to_vec();
    let mask = model.tokenizer.ids.mask;
    let positions: Vec<usize> = ids.iter().enumerate().filter(|(_, &t)| t == mask).map(|(i, _)| i).collect();
    if positions.is_empty() {
        let m = tok.id_to_token(mask).unwrap_or_default();
        return Err(
            Error::Invalid(format!("the text has no mask token (write {m} where a word should be predicted)")).into()
        );
    }
    if ids.len() > model.lm.max_sequence() {
        return Err(Error::Invalid(format!(
            "text is {} tokens; the model takes {}",
            ids.len(),
            model.lm.max_sequence()
        ))
        .into());
    }
    let mut masks = Vec::new();
    for (&p, top) in positions.iter().zip(model.top_k(ids, &positions, a.top_k.max(1))?) {
        let top: Vec<_> = top
            .into_iter()
            .map(|(i, lp)| json!({"id": i, "token": tok.id_to_token(i).unwrap_or_default(), "logprob": lp}))
            .collect();
        masks.push(json!({"position": p, "top": top}));
    }
    if a.json {
        println!("{}", serde_json::to_string_pretty(&json!({"model": model.name, "masks": masks}))?);
    } else {
        for (k, m) in masks.iter().enumerate() {
            let line: Vec<String> = m["top"]
                .as_array()
                .unwrap()
                .iter()
                .map(|t| format!("{} ({:.3})", t["token"].as_str().unwrap(), t["logprob"].as_f64().unwrap()))
                .collect();
            println!("mask {}: {}", k + 1, line.join("  "));
        }
    }
    Ok(())
}
