//! `llmzip finetune`: masked-LM training on candle (our AdamW, seeded dropout), from a
//! checkpoint or from scratch, with validation in real compressed bits per byte, checkpoints
//! and `--resume`.

pub mod corpus;
pub mod optim;
pub mod scratch;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use candle_core::{DType, Device, Tensor, Var};
use candle_nn::{VarBuilder, VarMap};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde_json::json;

use crate::compressor::{Compressor, Hooks, Options};
use crate::error::{Error, Result};
use crate::model::config::ModelConfig;
use crate::model::transformer::{Dropout, Encoder};
use crate::model::{names_for, read_weights, CandleLm, Model};
use crate::schedule::RevealPlan;
use crate::text::LosslessTokenizer;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Objective {
    /// BERT's 15% random masking (80% mask, 10% random, 10% kept)
    Random,
    /// a sampled round of the reveal plan: earlier groups visible, loss on the round's group
    Schedule,
}

#[derive(Debug, Clone)]
pub struct TrainOptions {
    pub corpus: PathBuf,
    pub model: Option<String>,
    pub scratch: Option<scratch::Size>,
    pub out: PathBuf,
    pub epochs: Option<usize>,
    pub steps: Option<usize>,
    pub lr: f64,
    pub batch: usize,
    pub seq_len: usize,
    pub mask_prob: f32,
    pub objective: Objective,
    pub plan: RevealPlan,
    pub seed: u64,
    pub resume: bool,
    pub dropout: f32,
    pub weight_decay: f64,
    pub warmup: usize,
    pub eval_every: usize,
    pub checkpoint_every: usize,
    pub valid: Option<PathBuf>,
    pub valid_bytes: usize,
    pub tokenizer_bytes: usize,
    pub max_seconds: Option<f64>,
}

/// What a run reports (also written to OUT/training.json).
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct TrainReport {
    pub steps: usize,
    pub tokens_seen: u64,
    pub seconds: f64,
    pub final_loss: f32,
    pub evals: Vec<serde_json::Value>,
    pub skipped_files: Vec<String>,
}

pub struct Callbacks<'a> {
    /// (step, loss, tokens/s)
    pub on_step: &'a dyn Fn(usize, f32, f64),
    pub on_eval: &'a dyn Fn(&serde_json::Value),
    pub cancel: &'a dyn Fn() -> bool,
    pub warn: &'a dyn Fn(&str),
}

fn normal(rng: &mut ChaCha8Rng, n: usize, std: f32) -> Vec<f32> {
    (0..n)
        .map(|_| {
            let u1: f32 = rng.random::<f32>().max(1e-12);
            let u2: f32 = rng.random::<f32>();
            (-2.0 * u1.ln()).sqrt() * (std::f32::consts::TAU * u2).cos() * std
        })
        .collect()
}

struct Setup {
    cfg_json: String,
    tokenizer_json: String,
    cfg: ModelConfig,
    tok: LosslessTokenizer,
    varmap: VarMap,
    encoder: Arc<Encoder>,
}

fn checkpoint_dir(out: &Path) -> PathBuf {
    out.join("checkpoint")
}

fn build(
    cfg_json: String,
    tokenizer_json: String,
    weights: Option<HashMap<String, Tensor>>,
    seed: u64,
    dev: &Device,
) -> Result<Setup> {
    let cfg = ModelConfig::from_json(&cfg_json, "finetune")?;
    let tok = LosslessTokenizer::from_bytes(tokenizer_json.as_bytes(), "finetune")?;
    let varmap = VarMap::new();
    let fresh = weights.is_none();
    if let Some(w) = weights {
        let mut data = varmap.data().lock().unwrap();
        for (k, t) in w {
            data.insert(k, Var::from_tensor(&t)?);
        }
    }
    let vb = VarBuilder::from_varmap(&varmap, DType::F32, dev);
    let encoder = Encoder::load(cfg.clone(), vb, &names_for(cfg.arch))?;
    if fresh {
        // BERT-style initialisation from our seeded RNG: N(0, 0.02) matrices, LayerNorm 1/0.
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let mut vars: Vec<(String, Var)> =
            varmap.data().lock().unwrap().iter().map(|(k, v)| (k.clone(), v.clone())).collect();
        vars.sort_by(|a, b| a.0.cmp(&b.0));
        for (name, v) in vars {
            if v.rank() >= 2 {
                let t = Tensor::from_vec(normal(&mut rng, v.elem_count(), 0.02), v.shape(), dev)?;
                v.set(&t)?;
            } else if name.ends_with("bias") {
                v.set(&v.zeros_like()?)?;
            }
        }
    }
    Ok(Setup { cfg_json, tokenizer_json, cfg, tok, varmap, encoder: Arc::new(encoder) })
}

fn save_model(dir: &Path, s: &Setup) -> Result<()> {
    std::fs::create_dir_all(dir).map_err(|e| Error::io(format!("creating {}", dir.display()), e))?;
    let w = |name: &str, text: &str| {
        std::fs::write(dir.join(name), text).map_err(|e| Error::io(format!("writing {}", dir.join(name).display()), e))
    };
    w("config.json", &s.cfg_json)?;
    w("tokenizer.json", &s.tokenizer_json)?;
    // write then rename, so an interrupted save never leaves a torn checkpoint
    let tmp = dir.join("model.safetensors.tmp");
    s.varmap.save(&tmp)?;
    std::fs::rename(&tmp, dir.join("model.safetensors")).map_err(|e| Error::io("saving model", e))
}

/// Text of the validation sample.
fn valid_text(o: &TrainOptions, files: &mut Vec<PathBuf>) -> Result<Option<Vec<u8>>> {
    let path = match &o.valid {
        Some(p) => Some(p.clone()),
        None => {
            // a file named valid* in the corpus is held out
            let pos = files
                .iter()
                .position(|f| f.file_name().and_then(|n| n.to_str()).is_some_and(|n| n.starts_with("valid")));
            pos.map(|i| files.remove(i))
        }
    };
    let Some(p) = path else { return Ok(None) };
    files.retain(|f| f != &p);
    let mut buf = Vec::new();
    use std::io::Read;
    corpus::open(&p)?
        .take(o.valid_bytes as u64)
        .read_to_end(&mut buf)
        .map_err(|e| Error::io("reading validation text", e))?;
    Ok(Some(buf))
}

/// Compresses the validation sample with the model as it is now: real bits per byte.
fn evaluate(s: &Setup, text: &[u8], plan: RevealPlan) -> Result<serde_json::Value> {
    let model = Model {
        name: "training".into(),
        fingerprint: [0; 32],
        config: s.cfg.clone(),
        tokenizer: LosslessTokenizer::from_bytes(s.tokenizer_json.as_bytes(), "training")?,
        lm: Box::new(CandleLm { encoder: s.encoder.clone() }),
        numerics: String::new(),
        weight_bytes: 0,
    };
    // the plan's window/context/rounds, batched in lanes as compression does
    let plan = RevealPlan { lanes: Options::default().plan.lanes, ..plan };
    let opts = Options { plan, block_size: 1 << 20, ..Options::default() };
    let c = Compressor::new(&model, opts)?;
    let mut out = Vec::new();
    let st = c.compress(text, &mut out, &Hooks::default())?;
    // the header names the model, so it is left out: these figures compare models
    let coded = out.len() - c.header().to_bytes().len();
    Ok(json!({
        "bits_per_byte": coded as f64 * 8.0 / text.len().max(1) as f64,
        "bits_per_token": coded as f64 * 8.0 / st.tokens.max(1) as f64,
        "bytes": text.len(),
        "coded_bytes": coded,
    }))
}

/// Sequences of content tokens (without CLS/SEP) from the corpus, shuffled in a pool.
struct Batches {
    chunks: corpus::Chunks,
    pending: Vec<u32>,
    pool: Vec<Vec<u32>>,
    len: usize,
    pool_size: usize,
    /// the epoch the pooled sequences belong to: the pool never mixes two passes, so a small
    /// corpus is not read many times over to fill it and `--epochs` counts real passes
    epoch: usize,
    /// text read from the next pass while sequences of this one were still pooled
    next_pass: Option<String>,
}

impl Batches {
    /// Passes over the corpus whose sequences have all been handed out.
    fn passes_done(&self) -> usize {
        if self.pool.is_empty() && self.pending.is_empty() {
            self.chunks.epoch
        } else {
            self.epoch
        }
    }

    fn next_seq(&mut self, tok: &LosslessTokenizer, rng: &mut ChaCha8Rng) -> Result<Option<Vec<u32>>> {
        if self.pool.is_empty() && self.pending.is_empty() {
            self.epoch = self.chunks.epoch;
        }
        while self.pool.len() < self.pool_size {
            while self.pending.len() < self.len {
                let text = match self.next_pass.take() {
                    Some(t) if self.chunks.epoch == self.epoch => Some(t),
                    Some(t) => {
                        self.next_pass = Some(t);
                        None
                    }
                    None => {
                        let t = self.chunks.next_chunk()?;
                        if t.is_some() && self.chunks.epoch != self.epoch {
                            // the reader wrapped: finish this pass first
                            self.next_pass = t;
                            None
                        } else {
                            t
                        }
                    }
                };
                match text {
                    Some(text) => {
                        let enc =
                            tok.inner().encode(text.as_str(), false).map_err(|e| Error::Tokenizer(e.to_string()))?;
                        let ph = tok.ids.placeholder;
                        self.pending.extend(enc.get_ids().iter().map(|&i| if tok.is_special(i) { ph } else { i }));
                    }
                    None => break,
                }
            }
            if self.pending.is_empty() {
                break;
            }
            let take = self.len.min(self.pending.len());
            let seq: Vec<u32> = self.pending.drain(..take).collect();
            self.pool.push(seq);
        }
        if self.pool.is_empty() {
            return Ok(None);
        }
        let i = rng.random_range(0..self.pool.len());
        Ok(Some(self.pool.swap_remove(i)))
    }
}

pub fn run(o: &TrainOptions, dev: &Device, cb: &Callbacks) -> Result<TrainReport> {
    let t0 = Instant::now();
    let (mut files, skipped) = corpus::text_files(&o.corpus)?;
    let mut report =
        TrainReport { skipped_files: skipped.iter().map(|p| p.display().to_string()).collect(), ..Default::default() };
    if !skipped.is_empty() {
        (cb.warn)(&format!(
            "skipping {} file(s) that are not text: {}",
            skipped.len(),
            report.skipped_files.join(", ")
        ));
    }
    let valid = valid_text(o, &mut files)?;
    if files.is_empty() {
        return Err(Error::Invalid(format!("no text files in {}", o.corpus.display())));
    }
    let ck = checkpoint_dir(&o.out);
    let mut state: Option<serde_json::Value> = None;
    let setup = if o.resume {
        let st: serde_json::Value = serde_json::from_str(
            &std::fs::read_to_string(ck.join("state.json"))
                .map_err(|e| Error::io(format!("--resume: no checkpoint in {}", ck.display()), e))?,
        )
        .map_err(|e| Error::Invalid(format!("bad state.json: {e}")))?;
        let w = std::fs::read(ck.join("model.safetensors")).map_err(|e| Error::io("reading checkpoint", e))?;
        let weights = read_weights(&[&w], dev)?;
        let cfg = std::fs::read_to_string(ck.join("config.json")).map_err(|e| Error::io("reading checkpoint", e))?;
        let tj = std::fs::read_to_string(ck.join("tokenizer.json")).map_err(|e| Error::io("reading checkpoint", e))?;
        state = Some(st);
        build(cfg, tj, Some(weights), o.seed, dev)?
    } else if let Some(size) = &o.scratch {
        // tokenizer from the first bytes of the corpus
        let mut texts = Vec::new();
        let mut got = 0usize;
        let mut ch = corpus::Chunks::new(files.clone(), 1 << 16);
        while got < o.tokenizer_bytes {
            match ch.next_chunk()? {
                Some(t) => {
                    got += t.len();
                    texts.push(t);
                }
                None => break,
            }
        }
        let tok = scratch::train_tokenizer(&texts, size.vocab)?;
        let mut size = size.clone();
        size.vocab = tok.get_vocab_size(true);
        let tj = tok.to_string(false).map_err(|e| Error::Tokenizer(e.to_string()))?;
        build(scratch::roberta_config(&size).to_string(), tj, None, o.seed, dev)?
    } else {
        let name = o.model.as_deref().ok_or_else(|| Error::Invalid("give --model M or --from-scratch".into()))?;
        let (cfg, tj, blobs) = if name == crate::model::DEFAULT_MODEL {
            use crate::model::embedded as e;
            (e::CONFIG.to_vec(), e::TOKENIZER.to_vec(), vec![e::WEIGHTS.to_vec()])
        } else {
            let files_ = match crate::model::ModelSource::parse(name)? {
                crate::model::ModelSource::Dir(d) => crate::model::hub::from_dir(&d, name)?,
                crate::model::ModelSource::Hub(id) => crate::model::hub::from_hub(&id)?,
            };
            let rd = |p: &Path| std::fs::read(p).map_err(|e| Error::io(format!("reading {}", p.display()), e));
            let mut blobs = Vec::new();
            for w in &files_.weights {
                blobs.push(rd(w)?);
            }
            (rd(&files_.config)?, rd(&files_.tokenizer)?, blobs)
        };
        let refs: Vec<&[u8]> = blobs.iter().map(|b| b.as_slice()).collect();
        let weights = read_weights(&refs, dev)?;
        let cfg = String::from_utf8_lossy(&cfg).into_owned();
        let tj = String::from_utf8_lossy(&tj).into_owned();
        build(cfg, tj, Some(weights), o.seed, dev)?
    };
    let max_seq = setup.cfg.max_sequence();
    let seq_len = o.seq_len.min(max_seq);
    if seq_len < 8 {
        return Err(Error::Invalid("--seq-len must be at least 8".into()));
    }
    let content = seq_len - 2;
    let vars: Vec<(String, Var)> =
        setup.varmap.data().lock().unwrap().iter().map(|(k, v)| (k.clone(), v.clone())).collect();
    let mut opt = optim::AdamW::new(vars, o.weight_decay)?;
    let mut rng = ChaCha8Rng::seed_from_u64(o.seed);
    let mut drop_rng = ChaCha8Rng::seed_from_u64(o.seed.wrapping_add(1));
    let mut step = 0usize;
    let mut tokens_seen = 0u64;
    let mut chunks = corpus::Chunks::new(files, 1 << 16);
    chunks.cycle = true;
    if let Some(st) = &state {
        step = st["step"].as_u64().unwrap_or(0) as usize;
        tokens_seen = st["tokens_seen"].as_u64().unwrap_or(0);
        let ost = candle_core::safetensors::load(ck.join("optimizer.safetensors"), dev)?;
        opt.load_state(&ost, step);
        rng.set_word_pos(st["rng"].as_str().and_then(|s| s.parse().ok()).unwrap_or(0));
        drop_rng.set_word_pos(st["drop_rng"].as_str().and_then(|s| s.parse().ok()).unwrap_or(0));
        let p = &st["data"];
        chunks.seek(
            p[0].as_u64().unwrap_or(0) as usize,
            p[1].as_u64().unwrap_or(0) as usize,
            p[2].as_u64().unwrap_or(0),
        )?;
        report.evals = st["evals"].as_array().cloned().unwrap_or_default();
    }
    let epoch = chunks.epoch;
    let mut batches = Batches {
        chunks,
        pending: Vec::new(),
        pool: Vec::new(),
        len: content,
        pool_size: o.batch * 16,
        epoch,
        next_pass: None,
    };
    let groups = o.plan.groups();
    let ids = setup.tok.ids;
    let vocab = setup.cfg.vocab_size as u32;
    let total_steps = o.steps;
    let warmup = o.warmup;
    let lr_at = |s: usize| -> f64 {
        let w = if warmup > 0 && s < warmup { (s + 1) as f64 / warmup as f64 } else { 1.0 };
        let d = match total_steps {
            Some(t) if t > warmup => 1.0 - 0.9 * ((s.saturating_sub(warmup)) as f64 / (t - warmup) as f64).min(1.0),
            _ => 1.0,
        };
        o.lr * w * d
    };
    let save_checkpoint = |step: usize,
                           tokens: u64,
                           opt: &optim::AdamW,
                           rng: &ChaCha8Rng,
                           drop_rng: &ChaCha8Rng,
                           b: &Batches,
                           evals: &Vec<serde_json::Value>|
     -> Result<()> {
        save_model(&ck, &setup)?;
        let tmp = ck.join("optimizer.safetensors.tmp");
        candle_core::safetensors::save(&opt.state(), &tmp)?;
        std::fs::rename(&tmp, ck.join("optimizer.safetensors")).map_err(|e| Error::io("saving optimizer", e))?;
        let (e, f, c) = b.chunks.position();
        let st = json!({"step": step, "tokens_seen": tokens, "rng": rng.get_word_pos().to_string(), "drop_rng": drop_rng.get_word_pos().to_string(), "data": [e, f, c], "evals": evals});
        std::fs::write(ck.join("state.json"), st.to_string()).map_err(|e| Error::io("saving state", e))
    };
    let eval_now = |step: usize, tokens_seen: u64, report: &mut TrainReport| -> Result<()> {
        if let Some(v) = &valid {
            let mut e = evaluate(&setup, v, o.plan)?;
            e["step"] = json!(step);
            e["tokens_seen"] = json!(tokens_seen);
            (cb.on_eval)(&e);
            report.evals.push(e);
        }
        Ok(())
    };
    let t_train = Instant::now();
    let tokens_at_start = tokens_seen;
    let mut last_loss = f32::NAN;
    let mut interrupted = false;
    loop {
        if total_steps.is_some_and(|t| step >= t) {
            break;
        }
        if o.epochs.is_some_and(|e| batches.passes_done() >= e) {
            break;
        }
        if o.max_seconds.is_some_and(|m| t0.elapsed().as_secs_f64() >= m) {
            break;
        }
        if (cb.cancel)() {
            interrupted = true;
            break;
        }
        // assemble a batch
        let mut seqs = Vec::with_capacity(o.batch);
        for _ in 0..o.batch {
            // a batch ends with its pass, so that --epochs counts whole passes
            if !seqs.is_empty() && batches.pool.is_empty() && batches.pending.is_empty() {
                break;
            }
            match batches.next_seq(&setup.tok, &mut rng)? {
                Some(s) => seqs.push(s),
                None => break,
            }
        }
        if seqs.is_empty() {
            break;
        }
        let t = seqs.iter().map(|s| s.len()).max().unwrap() + 2;
        let mut input = Vec::with_capacity(seqs.len() * t);
        let mut mask = Vec::with_capacity(seqs.len() * t);
        let mut sel = Vec::new();
        let mut targets = Vec::new();
        for (b, s) in seqs.iter().enumerate() {
            let base = input.len();
            input.push(ids.cls);
            let round = rng.random_range(0..o.plan.rounds);
            for (i, &tk) in s.iter().enumerate() {
                let shown = match o.objective {
                    Objective::Random => {
                        if rng.random::<f32>() < o.mask_prob {
                            sel.push((b * t + 1 + i) as u32);
                            targets.push(tk);
                            let r: f32 = rng.random();
                            if r < 0.8 {
                                ids.mask
                            } else if r < 0.9 {
                                rng.random_range(0..vocab)
                            } else {
                                tk
                            }
                        } else {
                            tk
                        }
                    }
                    Objective::Schedule => {
                        // as in lanes mode: `context` known tokens, then a window in rounds
                        let g = if i < o.plan.context {
                            0
                        } else {
                            groups[(i - o.plan.context) % o.plan.window] as usize + 1
                        };
                        let round = round + 1;
                        if g == round {
                            sel.push((b * t + 1 + i) as u32);
                            targets.push(tk);
                        }
                        if g < round {
                            tk
                        } else {
                            ids.mask
                        }
                    }
                };
                input.push(shown);
            }
            input.push(ids.sep);
            let used = input.len() - base;
            mask.extend(std::iter::repeat_n(1u8, used));
            input.extend(std::iter::repeat_n(setup.cfg.pad_token_id, t - used));
            mask.extend(std::iter::repeat_n(0u8, t - used));
        }
        if sel.is_empty() {
            continue;
        }
        let bsz = seqs.len();
        let input_t = Tensor::from_vec(input, (bsz, t), dev)?;
        let mask_t = Tensor::from_vec(mask, (bsz, t), dev)?;
        let n_sel = sel.len();
        let sel_t = Tensor::from_vec(sel, n_sel, dev)?;
        let tgt_t = Tensor::from_vec(targets, n_sel, dev)?;
        let mut dropout = Dropout { p: o.dropout, rng: drop_rng.clone() };
        let h = setup.encoder.hidden(&input_t, &mask_t, Some(&mut dropout))?;
        drop_rng = dropout.rng;
        let logits = setup.encoder.logits_at_for_training(&h, &sel_t)?;
        let loss = candle_nn::loss::cross_entropy(&logits, &tgt_t)?;
        let grads = loss.backward()?;
        opt.step(&grads, lr_at(step))?;
        last_loss = loss.to_scalar::<f32>()?;
        step += 1;
        tokens_seen += seqs.iter().map(|s| s.len() as u64).sum::<u64>();
        let tps = (tokens_seen - tokens_at_start) as f64 / t_train.elapsed().as_secs_f64().max(1e-9);
        (cb.on_step)(step, last_loss, tps);
        if o.eval_every > 0 && step % o.eval_every == 0 {
            eval_now(step, tokens_seen, &mut report)?;
        }
        if o.checkpoint_every > 0 && step % o.checkpoint_every == 0 {
            save_checkpoint(step, tokens_seen, &opt, &rng, &drop_rng, &batches, &report.evals)?;
        }
    }
    save_checkpoint(step, tokens_seen, &opt, &rng, &drop_rng, &batches, &report.evals)?;
    if interrupted {
        return Err(Error::Interrupted);
    }
    if report.evals.last().and_then(|e| e["step"].as_u64()) != Some(step as u64) {
        eval_now(step, tokens_seen, &mut report)?;
    }
    save_model(&o.out, &setup)?;
    report.steps = step;
    report.tokens_seen = tokens_seen;
    report.seconds = t0.elapsed().as_secs_f64();
    report.final_loss = last_loss;
    std::fs::write(o.out.join("training.json"), serde_json::to_string_pretty(&report).unwrap())
        .map_err(|e| Error::io("writing training.json", e))?;
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Regression: candle's fused LayerNorm and softmax have no backward pass; using them in
    /// training cut the gradient everywhere but the output embeddings and bias (and never
    /// reached queries and keys), so trained models only learned word frequencies. Every
    /// parameter must receive a gradient.
    #[test]
    fn every_parameter_gets_a_gradient() {
        for fixture in ["tiny-roberta", "tiny-roberta-prelayernorm"] {
            gradients_reach_every_parameter(fixture);
        }
    }

    fn gradients_reach_every_parameter(fixture: &str) {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures").join(fixture);
        let read = |f: &str| std::fs::read_to_string(dir.join(f)).unwrap();
        let dev = Device::Cpu;
        let s = build(read("config.json"), read("tokenizer.json"), None, 7, &dev).unwrap();
        let ids = Tensor::new(&[[0u32, 10, 11, 4, 12, 2], [0, 13, 4, 14, 15, 2]], &dev).unwrap();
        let mask = Tensor::ones((2, 6), DType::U8, &dev).unwrap();
        let mut dropout = Dropout { p: 0.0, rng: ChaCha8Rng::seed_from_u64(1) };
        let h = s.encoder.hidden(&ids, &mask, Some(&mut dropout)).unwrap();
        let sel = Tensor::new(&[3u32, 9], &dev).unwrap();
        let logits = s.encoder.logits_at_for_training(&h, &sel).unwrap();
        let loss = candle_nn::loss::cross_entropy(&logits, &Tensor::new(&[4u32, 4], &dev).unwrap()).unwrap();
        let grads = loss.backward().unwrap();
        let vars = s.varmap.data().lock().unwrap();
        assert!(vars.len() > 20);
        let mut missing: Vec<&String> = vars
            .iter()
            .filter(|(_, v)| {
                grads
                    .get(v.as_tensor())
                    .is_none_or(|g| g.sqr().unwrap().sum_all().unwrap().to_scalar::<f32>().unwrap() == 0.0)
            })
            .map(|(n, _)| n)
            .collect();
        missing.sort();
        assert!(missing.is_empty(), "{fixture}: no gradient reaches {missing:?}");
        // the training forward computes the same numbers as inference (up to rounding)
        let inf = s.encoder.logits_at(&s.encoder.hidden(&ids, &mask, None).unwrap(), &sel).unwrap();
        let diff = (inf - logits).unwrap().abs().unwrap().max_all().unwrap().to_scalar::<f32>().unwrap();
        assert!(diff < 1e-4, "{fixture}: train/inference forward differ by {diff}");
    }
}
