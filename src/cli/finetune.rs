//! `llmzip finetune`: train a model on the corpus you will compress, or from scratch.

use std::path::PathBuf;

use clap::{Args, ValueEnum};

use super::args::Global;
use super::{progress, require_model};
use llmzip::schedule::{Lanes, RevealPlan, Shape};
use llmzip::train::{self, scratch::Size, Objective, TrainOptions};
use llmzip::Error;

#[derive(ValueEnum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum ObjectiveArg {
    /// BERT's random masking at --mask-prob
    Random,
    /// a sampled round of the reveal plan, as compression sees it
    Schedule,
    /// the plan's context visible, then each window position masked with probability
    /// t ~ U(0, 1] drawn per sequence; loss averaged per sequence (for plans of any rounds)
    AnyOrder,
}

#[derive(ValueEnum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum ArchArg {
    /// post-LayerNorm RoBERTa
    Roberta,
    /// pre-LayerNorm RoBERTa (transformers' RobertaPreLayerNormForMaskedLM)
    RobertaPrelayernorm,
}

#[derive(Args, Debug, Clone)]
pub struct FinetuneArgs {
    /// Corpus: a file, a directory (recursive; *.xz and *.gz read transparently) or "-"
    pub corpus: PathBuf,
    /// Checkpoint to start from (directory or hub id)
    #[arg(short, long, env = "LLMZIP_MODEL", conflicts_with = "from_scratch")]
    pub model: Option<String>,
    /// Output directory (Hugging Face layout)
    #[arg(long)]
    pub out: PathBuf,
    /// Passes over the corpus
    #[arg(long, conflicts_with = "steps")]
    pub epochs: Option<usize>,
    /// Optimizer steps
    #[arg(long)]
    pub steps: Option<usize>,
    /// Stop after this many seconds (checkpoint and output are still written)
    #[arg(long)]
    pub max_seconds: Option<f64>,
    #[arg(long, default_value_t = 5e-4)]
    pub lr: f64,
    /// Sequences per step
    #[arg(long, default_value_t = 32)]
    pub batch: usize,
    /// Tokens per sequence, special tokens included
    #[arg(long, default_value_t = 130)]
    pub seq_len: usize,
    #[arg(long, default_value_t = 0.15)]
    pub mask_prob: f32,
    /// Training objective [default: any-order for pre-LayerNorm models, random otherwise]; a
    /// causal model (is_decoder) always trains on next-token prediction
    #[arg(long, value_enum)]
    pub objective: Option<ObjectiveArg>,
    /// Reveal plan used by --objective schedule and by validation
    #[arg(long, default_value_t = 64)]
    pub window: usize,
    #[arg(long, default_value_t = 32)]
    pub context: usize,
    #[arg(long, default_value_t = 4)]
    pub rounds: usize,
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Continue from OUT/checkpoint with its optimizer state
    #[arg(long)]
    pub resume: bool,
    #[arg(long, default_value_t = 0.1)]
    pub dropout: f32,
    #[arg(long, default_value_t = 0.01)]
    pub weight_decay: f64,
    /// Learning-rate warm-up steps
    #[arg(long, default_value_t = 100)]
    pub warmup: usize,
    /// Validate every N steps (0: only at the end)
    #[arg(long, default_value_t = 0)]
    pub eval_every: usize,
    /// Checkpoint every N steps (0: only at the end and on Ctrl-C)
    #[arg(long, default_value_t = 200)]
    pub checkpoint_every: usize,
    /// Held-out text (default: a file named valid* in the corpus directory)
    #[arg(long)]
    pub valid: Option<PathBuf>,
    /// Bytes of the held-out text compressed for validation
    #[arg(long, default_value_t = 32 * 1024)]
    pub valid_bytes: usize,
    /// Train a new byte-level BPE tokenizer and RoBERTa-style model
    #[arg(long)]
    pub from_scratch: bool,
    /// --from-scratch: the architecture
    #[arg(long, value_enum, default_value = "roberta")]
    pub arch: ArchArg,
    #[arg(long, default_value_t = 8000)]
    pub vocab: usize,
    #[arg(long, default_value_t = 4)]
    pub layers: usize,
    #[arg(long, default_value_t = 256)]
    pub hidden: usize,
    #[arg(long, default_value_t = 4)]
    pub heads: usize,
    /// Feed-forward width (default 4 x hidden)
    #[arg(long)]
    pub intermediate: Option<usize>,
    /// Corpus bytes used to train the tokenizer
    #[arg(long, default_value_t = 20_000_000)]
    pub tokenizer_bytes: usize,
}

impl From<ObjectiveArg> for Objective {
    fn from(o: ObjectiveArg) -> Objective {
        match o {
            ObjectiveArg::Random => Objective::Random,
            ObjectiveArg::Schedule => Objective::Schedule,
            ObjectiveArg::AnyOrder => Objective::AnyOrder,
        }
    }
}

impl FinetuneArgs {
    /// The training run these flags ask for.
    fn options(&self) -> TrainOptions {
        let a = self;
        TrainOptions {
            corpus: a.corpus.clone(),
            model: Some(require_model(&a.model)),
            scratch: a.from_scratch.then(|| Size {
                vocab: a.vocab,
                layers: a.layers,
                hidden: a.hidden,
                heads: a.heads,
                intermediate: a.intermediate.unwrap_or(4 * a.hidden),
                seq_len: a.seq_len,
                pre_layer_norm: a.arch == ArchArg::RobertaPrelayernorm,
            }),
            out: a.out.clone(),
            epochs: a.epochs.or(if a.steps.is_none() && a.max_seconds.is_none() { Some(1) } else { None }),
            steps: a.steps,
            lr: a.lr,
            batch: a.batch,
            seq_len: a.seq_len,
            mask_prob: a.mask_prob,
            objective: a.objective.map(Objective::from),
            plan: RevealPlan {
                window: a.window,
                context: a.context,
                rounds: a.rounds,
                shape: Shape::Geometric,
                lanes: Lanes::AtMost(1),
                settle: None,
            },
            seed: a.seed,
            resume: a.resume,
            dropout: a.dropout,
            weight_decay: a.weight_decay,
            warmup: a.warmup,
            eval_every: a.eval_every,
            checkpoint_every: a.checkpoint_every,
            valid: a.valid.clone(),
            valid_bytes: a.valid_bytes,
            tokenizer_bytes: a.tokenizer_bytes,
            max_seconds: a.max_seconds,
        }
    }
}

pub fn run(g: &Global, a: FinetuneArgs) -> anyhow::Result<()> {
    let device: llmzip::model::DeviceSpec = g.device.parse()?;
    let o = a.options();
    let pb = if g.quiet { indicatif::ProgressBar::hidden() } else { progress::training_bar(a.steps) };
    let on_step = |step: usize, loss: f32, tps: f64| {
        pb.set_position(step as u64);
        pb.set_message(format!("loss {loss:.3}, {tps:.0} tok/s"));
    };
    let on_eval = |e: &train::Eval| {
        if !g.quiet {
            let line = format!(
                "step {}: validation {:.4} bits/byte, {:.3} bits/token",
                e.step, e.bits_per_byte, e.bits_per_token
            );
            if pb.is_hidden() {
                eprintln!("{line}");
            } else {
                pb.println(line);
            }
        }
    };
    let warn = |m: &str| eprintln!("llmzip: warning: {m}");
    let cb = train::Callbacks { on_step: &on_step, on_eval: &on_eval, cancel: &super::cancelled, warn: &warn };
    let r = train::run(&o, &device, &cb);
    pb.finish_and_clear();
    if matches!(r, Err(Error::Interrupted)) {
        eprintln!("llmzip: interrupted; checkpoint saved in {}/checkpoint (continue with --resume)", a.out.display());
    }
    let r = r?;
    if !g.quiet {
        eprintln!(
            "trained {} steps, {} tokens in {:.1} s; final loss {:.4}; model in {}",
            r.steps,
            r.tokens_seen,
            r.seconds,
            r.final_loss,
            a.out.display()
        );
    }
    Ok(())
}
