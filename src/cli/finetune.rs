//! `llmzip finetune`: train a model on the corpus you will compress, or from scratch.

use super::args::{ArchArg, FinetuneArgs, Global, ObjectiveArg};
use super::{progress, require_model};
use llmzip::schedule::{RevealPlan, Shape};
use llmzip::Error;

pub fn run(g: &Global, a: FinetuneArgs) -> anyhow::Result<()> {
    use llmzip::train::{self, scratch::Size, Objective, TrainOptions};
    let device = llmzip::model::parse_device(&g.device)?;
    let o = TrainOptions {
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
        objective: a.objective.map(|o| match o {
            ObjectiveArg::Random => Objective::Random,
            ObjectiveArg::Schedule => Objective::Schedule,
            ObjectiveArg::AnyOrder => Objective::AnyOrder,
        }),
        plan: RevealPlan { window: a.window, context: a.context, rounds: a.rounds, shape: Shape::Geometric, lanes: 1 },
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
    };
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
