//! `llmzip finetune`: masked-LM training on candle (our AdamW, seeded dropout), from a
//! checkpoint or from scratch, with validation in real compressed bits per byte, checkpoints
//! and `--resume`.
//!
//! [`setup`] decides where a run starts, [`objective`] masks each batch, [`checkpoint`] saves
//! and restores, and [`run`] is the loop.

pub mod batches;
pub mod checkpoint;
pub mod corpus;
pub mod eval;
pub mod objective;
pub mod optim;
pub mod scratch;
pub mod setup;

use std::path::PathBuf;
use std::time::Instant;

use candle_core::{Device, Tensor, Var};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

use crate::error::{Error, Result};
use crate::model::transformer::Dropout;
use crate::model::DeviceSpec;
use crate::schedule::RevealPlan;
use batches::Batches;
use checkpoint::State;
pub use eval::Eval;
pub use objective::Objective;
use setup::Setup;

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
    /// `None`: [`Objective::default_for`] the model's architecture
    pub objective: Option<Objective>,
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
    /// the objective trained with (`random`, `schedule`, `any-order`)
    pub objective: String,
    pub steps: usize,
    pub tokens_seen: u64,
    pub seconds: f64,
    pub final_loss: f32,
    pub evals: Vec<Eval>,
    pub skipped_files: Vec<String>,
}

pub struct Callbacks<'a> {
    /// (step, loss, tokens/s)
    pub on_step: &'a dyn Fn(usize, f32, f64),
    pub on_eval: &'a dyn Fn(&Eval),
    pub cancel: &'a dyn Fn() -> bool,
    pub warn: &'a dyn Fn(&str),
}

/// A run in progress: the model, optimizer, random streams and corpus position.
struct Trainer<'a> {
    o: &'a TrainOptions,
    dev: &'a Device,
    setup: Setup,
    opt: optim::AdamW,
    /// batches and masking
    rng: ChaCha8Rng,
    dropout_rng: ChaCha8Rng,
    batches: Batches,
    objective: Objective,
    groups: Vec<u8>,
    step: usize,
    tokens_seen: u64,
}

impl<'a> Trainer<'a> {
    fn new(
        o: &'a TrainOptions,
        dev: &'a Device,
        setup: Setup,
        files: Vec<PathBuf>,
        state: Option<&State>,
    ) -> Result<Self> {
        let seq_len = o.seq_len.min(setup.cfg.max_sequence());
        if seq_len < 8 {
            return Err(Error::Invalid("--seq-len must be at least 8".into()));
        }
        let vars: Vec<(String, Var)> =
            setup.varmap.data().lock().unwrap().iter().map(|(k, v)| (k.clone(), v.clone())).collect();
        let opt = optim::AdamW::new(vars, o.weight_decay)?;
        let mut chunks = corpus::Chunks::new(files, 1 << 16);
        chunks.cycle = true;
        let objective = objective_for(o.objective, &setup.cfg)?;
        let mut t = Trainer {
            o,
            dev,
            opt,
            rng: ChaCha8Rng::seed_from_u64(o.seed),
            dropout_rng: ChaCha8Rng::seed_from_u64(o.seed.wrapping_add(1)),
            batches: Batches::new(corpus::Chunks::new(Vec::new(), 1), 0, 0),
            objective,
            groups: o.plan.groups(),
            step: 0,
            tokens_seen: 0,
            setup,
        };
        if let Some(st) = state {
            t.step = st.step;
            t.tokens_seen = st.tokens_seen;
            checkpoint::load_optimizer(&o.out, &mut t.opt, st.step, dev)?;
            t.rng.set_word_pos(State::rng_pos(&st.rng));
            t.dropout_rng.set_word_pos(State::rng_pos(&st.drop_rng));
            let (e, f, c) = st.data;
            chunks.seek(e, f, c)?;
        }
        t.batches = Batches::new(chunks, objective.content_len(&o.plan, seq_len), o.batch * 16);
        Ok(t)
    }

    /// Warm-up, then a linear decay to a tenth over `--steps`.
    fn lr_at(&self, s: usize) -> f64 {
        let (o, warmup) = (self.o, self.o.warmup);
        let w = if warmup > 0 && s < warmup { (s + 1) as f64 / warmup as f64 } else { 1.0 };
        let d = match o.steps {
            Some(t) if t > warmup => 1.0 - 0.9 * ((s.saturating_sub(warmup)) as f64 / (t - warmup) as f64).min(1.0),
            _ => 1.0,
        };
        o.lr * w * d
    }

    /// Up to `--batch` sequences; a batch ends with its pass, so that `--epochs` counts whole
    /// passes. Empty at the end of the corpus.
    fn next_sequences(&mut self) -> Result<Vec<Vec<u32>>> {
        let mut seqs = Vec::with_capacity(self.o.batch);
        for _ in 0..self.o.batch {
            if !seqs.is_empty() && self.batches.drained() {
                break;
            }
            match self.batches.next_seq(&self.setup.tok, &mut self.rng)? {
                Some(s) => seqs.push(s),
                None => break,
            }
        }
        Ok(seqs)
    }

    /// One optimizer step on `seqs`; `None` when the objective scored no position.
    fn train_step(&mut self, seqs: &[Vec<u32>]) -> Result<Option<f32>> {
        let spec = objective::Spec {
            objective: self.objective,
            plan: &self.o.plan,
            groups: &self.groups,
            mask_prob: self.o.mask_prob,
            ids: self.setup.tok.ids,
            vocab: self.setup.cfg.vocab_size as u32,
            pad: self.setup.cfg.pad_token_id,
        };
        let b = objective::make_batch(&spec, seqs, &mut self.rng);
        if b.sel.is_empty() {
            return Ok(None);
        }
        let dev = self.dev;
        let input = Tensor::from_vec(b.input, (seqs.len(), b.width), dev)?;
        let mask = Tensor::from_vec(b.mask, (seqs.len(), b.width), dev)?;
        let n = b.sel.len();
        let sel = Tensor::from_vec(b.sel, n, dev)?;
        let targets = Tensor::from_vec(b.targets, n, dev)?;
        let weights = b.weights.map(|w| Tensor::from_vec(w, n, dev)).transpose()?;
        let mut dropout = Dropout { p: self.o.dropout, rng: self.dropout_rng.clone() };
        let h = self.setup.encoder.hidden(&input, &mask, Some(&mut dropout))?;
        self.dropout_rng = dropout.rng;
        let logits = self.setup.encoder.logits_at_for_training(&h, &sel)?;
        let loss = match &weights {
            None => candle_nn::loss::cross_entropy(&logits, &targets)?,
            Some(w) => {
                let lp = candle_nn::ops::log_softmax(&logits, 1)?.gather(&targets.unsqueeze(1)?, 1)?.squeeze(1)?;
                (lp * w)?.sum_all()?.neg()?
            }
        };
        let grads = loss.backward()?;
        self.opt.step(&grads, self.lr_at(self.step))?;
        self.step += 1;
        self.tokens_seen += seqs.iter().map(|s| s.len() as u64).sum::<u64>();
        Ok(Some(loss.to_scalar::<f32>()?))
    }

    fn save_checkpoint(&self, evals: &[Eval]) -> Result<()> {
        let state = State {
            data: self.batches.chunks.position(),
            drop_rng: State::rng_text(&self.dropout_rng),
            evals: evals.to_vec(),
            rng: State::rng_text(&self.rng),
            step: self.step,
            tokens_seen: self.tokens_seen,
        };
        // the model first: a checkpoint with state.json always has its weights
        self.setup.save(&checkpoint::dir(&self.o.out))?;
        checkpoint::save(&self.o.out, &self.opt, &state)
    }

    fn evaluate(&self, valid: &Option<Vec<u8>>, cb: &Callbacks, report: &mut TrainReport) -> Result<()> {
        if let Some(v) = valid {
            let e = eval::evaluate(&self.setup, v, self.o.plan, self.step, self.tokens_seen)?;
            (cb.on_eval)(&e);
            report.evals.push(e);
        }
        Ok(())
    }

    /// Steps until `--steps`, `--epochs`, `--max-seconds` or the corpus ends; `Ok(false)` when
    /// cancelled.
    fn train(
        &mut self,
        t0: Instant,
        valid: &Option<Vec<u8>>,
        cb: &Callbacks,
        report: &mut TrainReport,
    ) -> Result<bool> {
        let o = self.o;
        let t_train = Instant::now();
        let tokens_at_start = self.tokens_seen;
        loop {
            if o.steps.is_some_and(|t| self.step >= t)
                || o.epochs.is_some_and(|e| self.batches.passes_done() >= e)
                || o.max_seconds.is_some_and(|m| t0.elapsed().as_secs_f64() >= m)
            {
                return Ok(true);
            }
            if (cb.cancel)() {
                return Ok(false);
            }
            let seqs = self.next_sequences()?;
            if seqs.is_empty() {
                return Ok(true);
            }
            let Some(loss) = self.train_step(&seqs)? else { continue };
            report.final_loss = loss;
            let tps = (self.tokens_seen - tokens_at_start) as f64 / t_train.elapsed().as_secs_f64().max(1e-9);
            (cb.on_step)(self.step, loss, tps);
            if o.eval_every > 0 && self.step % o.eval_every == 0 {
                self.evaluate(valid, cb, report)?;
            }
            if o.checkpoint_every > 0 && self.step % o.checkpoint_every == 0 {
                self.save_checkpoint(&report.evals)?;
            }
        }
    }
}

/// The objective a model trains with: next-token prediction for a causal model, whose rows see
/// only the tokens before them; else `asked`, or the architecture's default.
fn objective_for(asked: Option<Objective>, cfg: &crate::model::config::ModelConfig) -> Result<Objective> {
    match (asked, cfg.causal) {
        (None | Some(Objective::NextToken), true) => Ok(Objective::NextToken),
        (Some(o), true) => Err(Error::Invalid(format!(
            "a causal model (is_decoder) trains on next-token prediction; --objective {} is for masked models",
            o.name()
        ))),
        (Some(Objective::NextToken), false) => {
            Err(Error::Invalid("next-token training needs a causal model (is_decoder in config.json)".into()))
        }
        (Some(o), false) => Ok(o),
        (None, false) => Ok(Objective::default_for(cfg.arch.pre_layer_norm())),
    }
}

pub fn run(o: &TrainOptions, device: &DeviceSpec, cb: &Callbacks) -> Result<TrainReport> {
    let t0 = Instant::now();
    let dev = &crate::model::candle::device(*device)?;
    let (mut files, skipped) = corpus::text_files(&o.corpus)?;
    let mut report = TrainReport {
        skipped_files: skipped.iter().map(|p| p.display().to_string()).collect(),
        final_loss: f32::NAN,
        ..Default::default()
    };
    if !skipped.is_empty() {
        (cb.warn)(&format!(
            "skipping {} file(s) that are not text: {}",
            skipped.len(),
            report.skipped_files.join(", ")
        ));
    }
    let found = files.len();
    let valid = eval::valid_text(o, &mut files)?;
    if files.is_empty() {
        // Training on the held-out text would make its validation figures meaningless, so
        // the validation file never trains; say so rather than claim the corpus is empty.
        return Err(Error::Invalid(match found {
            0 => format!("no text files in {}", o.corpus.display()),
            _ => format!(
                "no text left to train on in {}: its only file is the validation text (give --valid another file)",
                o.corpus.display()
            ),
        }));
    }
    let (setup, state) = setup::start(o, &files, dev)?;
    if let Some(st) = &state {
        report.evals = st.evals.clone();
    }
    let mut t = Trainer::new(o, dev, setup, files, state.as_ref())?;
    report.objective = t.objective.name().into();
    let finished = t.train(t0, &valid, cb, &mut report)?;
    t.save_checkpoint(&report.evals)?;
    if !finished {
        return Err(Error::Interrupted);
    }
    if report.evals.last().map(|e| e.step) != Some(t.step) {
        t.evaluate(&valid, cb, &mut report)?;
    }
    t.setup.save(&o.out)?;
    report.steps = t.step;
    report.tokens_seen = t.tokens_seen;
    report.seconds = t0.elapsed().as_secs_f64();
    std::fs::write(o.out.join("training.json"), serde_json::to_string_pretty(&report).unwrap())
        .map_err(|e| Error::io("writing training.json", e))?;
    Ok(report)
}
#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::DType;
    use std::path::Path;

    /// candle's fused LayerNorm and softmax have no backward pass; used in training they cut
    /// the gradient everywhere but the output embeddings and bias (queries and keys never
    /// learn), and a model so trained learns only word frequencies. Every parameter must
    /// receive a gradient.
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
        let s = setup::build(read("config.json"), read("tokenizer.json"), None, 7, &dev).unwrap();
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
