//! The seed paper's experiments ("LLMs as Compression Models"): masking at a fixed rate, the
//! tokens chosen at random, by part of speech or by the model's confidence; the masked text
//! stored gzip-wrapped, and reconstruction by letting the model infill every mask (lossy);
//! reported as the paper's notebook does, per line. Beside it llmzip's lossless methods at the
//! same caps, and accuracy against fine-tuning epochs.

use std::io::Write;
use std::path::Path;

use flate2::{write::GzEncoder, Compression};
use rand::seq::SliceRandom;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use serde::Serialize;

use crate::coding::drive_known;
use crate::coding::select::Select;
use crate::error::{Error, Result};
use crate::model::DeviceSpec;
use crate::schedule::{Lanes, RevealPlan};
use crate::text::pos::{self, UPOS};
use crate::train::{self, Objective, TrainOptions};
use crate::{Model, Options};

/// One lossy run: what was stored and how much of the text came back.
#[derive(Debug, Clone, Serialize)]
pub struct Lossy {
    pub file: String,
    /// how the masked tokens were chosen: random, pos or confidence
    pub select: String,
    pub mask_rate: f64,
    pub epochs: usize,
    /// wall seconds the fine-tuning to `epochs` took (0 for the model as it is)
    pub finetune_seconds: f64,
    pub bytes_in: usize,
    /// gzip -9 of the original text (flate2)
    pub gzip_bytes: usize,
    /// gzip -9 of the text with the chosen tokens replaced by the mask token
    pub stored_bytes: usize,
    /// the model's weights as stored (what a receiver without it must get)
    pub model_bytes: u64,
    pub tokens: usize,
    pub masked: usize,
    /// masked tokens the model restored exactly, in %
    pub token_accuracy: f64,
    pub lines: usize,
    /// lines restored byte for byte, in %
    pub lines_exact: f64,
}

fn gzip(data: &[u8]) -> Result<usize> {
    let mut e = GzEncoder::new(Vec::new(), Compression::best());
    e.write_all(data).map_err(|e| Error::io("gzip", e))?;
    Ok(e.finish().map_err(|e| Error::io("gzip", e))?.len())
}

fn tokenizer_err(e: impl std::fmt::Display) -> Error {
    Error::Tokenizer(e.to_string())
}

/// The `k` positions the paper's lossy scheme masks. `Random`: uniform with `seed`. `Pos`:
/// uniform among tokens of the `classes` parts of speech (all of them when fewer than `k`).
/// `Confidence`: the tokens whose true value the model finds likeliest under a plan that
/// reveals every window in two rounds with 32 tokens of context.
fn chosen(
    model: &Model,
    text: &str,
    ids: &[u32],
    offsets: &[(usize, usize)],
    k: usize,
    how: &How,
) -> Result<Vec<usize>> {
    let mut rng = ChaCha8Rng::seed_from_u64(how.seed);
    let mut order: Vec<usize> = match how.select {
        Select::Random => (0..ids.len()).collect(),
        Select::Pos => {
            let flags = pos::token_flags(text, offsets, &how.classes);
            (0..ids.len()).filter(|&i| flags[i]).collect()
        }
        Select::Confidence => {
            let score = likelihoods(model, ids)?;
            let mut v: Vec<usize> = (0..ids.len()).collect();
            v.sort_by(|&a, &b| score[b].total_cmp(&score[a]).then(a.cmp(&b)));
            v
        }
    };
    if how.select != Select::Confidence {
        order.shuffle(&mut rng);
    }
    order.truncate(k);
    Ok(order)
}

/// Each token's log-probability under a two-round plan (what `--method mask` sees).
fn likelihoods(model: &Model, ids: &[u32]) -> Result<Vec<f32>> {
    let plan = RevealPlan { window: 32, context: 32, rounds: 2, ..Options::default().plan };
    plan.validate(model.lm.max_sequence())?;
    let nanos = std::sync::atomic::AtomicU64::new(0);
    let hooks = crate::Hooks::default();
    let ctx = crate::compressor::ctx(model, &plan, 32, 0, &hooks, &nanos);
    let mut score = vec![f32::NEG_INFINITY; ids.len()];
    let v = model.lm.vocab_size();
    // ids the vocabulary lacks (added tokens) are revealed as the mask token and never chosen
    let known: Vec<u32> = ids.iter().map(|&t| if (t as usize) < v { t } else { model.tokenizer.ids.mask }).collect();
    drive_known(&ctx, &known, |i, lp| {
        if (ids[i] as usize) < v {
            score[i] = lp[ids[i] as usize];
        }
        Ok(())
    })?;
    Ok(score)
}

/// How a lossy run chooses its masks.
#[derive(Debug, Clone)]
pub struct How {
    pub select: Select,
    pub classes: Vec<UPOS>,
    pub seed: u64,
}

/// The paper's lossy scheme on `data`: `rate` of the tokens, chosen as `how` says, are
/// masked; the model then fills all masks of each window at once with its top choice.
pub fn lossy(model: &Model, file: &str, data: &[u8], rate: f64, how: &How, epochs: usize) -> Result<Lossy> {
    let tok = model.tokenizer.inner();
    let sp = model.tokenizer.ids;
    let text = String::from_utf8_lossy(data);
    let enc = tok.encode(text.as_ref(), false).map_err(tokenizer_err)?;
    let ids: Vec<u32> = enc.get_ids().to_vec();
    let offsets: Vec<(usize, usize)> = enc.get_offsets().to_vec();
    let k = ((rate * ids.len() as f64).round() as usize).min(ids.len());
    let picked = chosen(model, &text, &ids, &offsets, k, how)?;
    let mut masked = ids.clone();
    for &p in &picked {
        masked[p] = sp.mask;
    }
    let stored_text = tok.decode(&masked, false).map_err(tokenizer_err)?;
    // infill: windows as long as the model takes, 16 windows per call
    let w = model.lm.max_sequence() - 2;
    let mut restored = masked.clone();
    let starts: Vec<usize> = (0..masked.len()).step_by(w.max(1)).collect();
    for group in starts.chunks(16) {
        let seqs: Vec<Vec<u32>> = group
            .iter()
            .map(|&s| {
                let mut q = vec![sp.cls];
                q.extend_from_slice(&masked[s..(s + w).min(masked.len())]);
                q.push(sp.sep);
                q
            })
            .collect();
        let mut sel = Vec::new();
        let mut at = Vec::new();
        for (j, &s) in group.iter().enumerate() {
            let end = (s + w).min(masked.len());
            for (i, _) in masked[s..end].iter().enumerate().filter(|(_, &t)| t == sp.mask) {
                sel.push((j, i + 1));
                at.push(s + i);
            }
        }
        if sel.is_empty() {
            continue;
        }
        let lp = model.lm.log_probs(&seqs, &sel)?;
        let v = model.lm.vocab_size();
        for (row, &i) in at.iter().enumerate() {
            let r = &lp[row * v..(row + 1) * v];
            let best = r.iter().enumerate().fold((0, f32::NEG_INFINITY), |b, (t, &x)| if x > b.1 { (t, x) } else { b });
            restored[i] = best.0 as u32;
        }
    }
    let right = picked.iter().filter(|&&p| restored[p] == ids[p]).count();
    // A line is restored when every token overlapping it is. Judged on the original's token
    // spans, so a wrongly infilled newline does not shift the comparison of later lines.
    let breaks: Vec<usize> = text.bytes().enumerate().filter(|&(_, b)| b == b'\n').map(|(i, _)| i).collect();
    let line_of = |byte: usize| breaks.partition_point(|&nl| nl < byte);
    let lines = breaks.len() + 1;
    let mut line_ok = vec![true; lines];
    for &p in &picked {
        if restored[p] != ids[p] {
            let (a, b) = offsets[p];
            line_ok[line_of(a)..=line_of(b.saturating_sub(1).max(a))].fill(false);
        }
    }
    let exact = line_ok.iter().filter(|&&ok| ok).count();
    Ok(Lossy {
        file: file.to_string(),
        select: how.select.name().to_string(),
        mask_rate: rate,
        epochs,
        finetune_seconds: 0.0,
        bytes_in: data.len(),
        gzip_bytes: gzip(data)?,
        stored_bytes: gzip(stored_text.as_bytes())?,
        model_bytes: model.weight_bytes,
        tokens: ids.len(),
        masked: picked.len(),
        token_accuracy: 100.0 * right as f64 / picked.len().max(1) as f64,
        lines,
        lines_exact: 100.0 * exact as f64 / lines as f64,
    })
}

/// Fine-tunes `base` (loaded from `base.name`) on `file` for `epochs` epochs (the paper's
/// setting: standard 15% MLM, seed 0) into `out`, and loads the result.
pub fn finetuned(base: &Model, file: &Path, epochs: usize, out: &Path, dev: &DeviceSpec) -> Result<Model> {
    let seq_len = base.lm.max_sequence();
    let o = TrainOptions {
        corpus: file.to_path_buf(),
        model: Some(base.name.clone()),
        scratch: None,
        out: out.to_path_buf(),
        epochs: Some(epochs),
        steps: None,
        lr: 5e-4,
        batch: 32,
        seq_len,
        mask_prob: 0.15,
        objective: Some(Objective::Random),
        plan: RevealPlan { lanes: Lanes::AtMost(1), ..Options::default().plan },
        seed: 0,
        resume: false,
        dropout: 0.1,
        weight_decay: 0.01,
        warmup: 0,
        eval_every: 0,
        checkpoint_every: 0,
        valid: None,
        valid_bytes: 0,
        tokenizer_bytes: 0,
        max_seconds: None,
    };
    let quiet = train::Callbacks { on_step: &|_, _, _| {}, on_eval: &|_| {}, cancel: &|| false, warn: &|_| {} };
    train::run(&o, dev, &quiet)?;
    Model::load(out.to_str().ok_or_else(|| Error::Invalid("non-UTF-8 temp path".into()))?, dev)
}

/// One row of the sizes table: the lossy run and llmzip's lossless sizes of the same text.
pub struct SizeRow {
    pub lossy: Lossy,
    /// `--method mask` with the same strategy and the rate as its cap
    pub mask_bytes: usize,
    /// `--method arith` at the mask column's plan
    pub arith_bytes: usize,
    /// `--method arith` at the default level's plan and adaptive model (what `compress` writes)
    pub arith_level_bytes: usize,
}

/// The sizes table; "adjusted" ratios count the model's bytes as output (Delétang et al.,
/// "Language Modeling Is Compression": what a receiver without the model must be sent).
pub fn markdown_sizes(rows: &[SizeRow]) -> String {
    let mut s = String::from(concat!(
        "| file | bytes | gzip -9 | select | mask rate | paper lossy: stored bytes | masked | tokens restored ",
        "| lines restored | llmzip mask (lossless, cap) | llmzip arith (mask's plan) | llmzip arith (default level) ",
        "| model bytes | adjusted ratio: lossy | mask | arith (default level) |\n",
        "|---|---:|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n",
    ));
    for r in rows {
        let l = &r.lossy;
        let adj = |out: usize| l.bytes_in as f64 / (out as u64 + l.model_bytes) as f64;
        s.push_str(&format!(
            "| {} | {} | {} | {} | {:.0}% | {} | {} | {:.1}% | {:.1}% of {} | {} | {} | {} | {} | {:.3e} | {:.3e} | {:.3e} |\n",
            l.file,
            l.bytes_in,
            l.gzip_bytes,
            l.select,
            l.mask_rate * 100.0,
            l.stored_bytes,
            l.masked,
            l.token_accuracy,
            l.lines_exact,
            l.lines,
            r.mask_bytes,
            r.arith_bytes,
            r.arith_level_bytes,
            l.model_bytes,
            adj(l.stored_bytes),
            adj(r.mask_bytes),
            adj(r.arith_level_bytes),
        ));
    }
    s
}

pub fn markdown_epochs(rows: &[Lossy]) -> String {
    let mut s = String::from(
        "| file | select | mask rate | epochs | fine-tuning s | tokens restored | lines restored |\n|---|---|---:|---:|---:|---:|---:|\n",
    );
    for l in rows {
        s.push_str(&format!(
            "| {} | {} | {:.0}% | {} | {:.1} | {:.1}% | {:.1}% |\n",
            l.file,
            l.select,
            l.mask_rate * 100.0,
            l.epochs,
            l.finetune_seconds,
            l.token_accuracy,
            l.lines_exact
        ));
    }
    s
}
