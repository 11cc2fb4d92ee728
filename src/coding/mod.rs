//! Turning model predictions into bytes. Both methods run the same reveal plan through
//! [`drive`]; they differ only in what they store per predicted token:
//! - [`arith`]: range-codes every token with the model's distribution (constriction);
//! - [`mask`]: the paper's method, a gzip-wrapped token stream in which tokens the model's
//!   infill is verified to reproduce are replaced by the mask token.

pub mod adaptive;
pub mod arith;
pub mod cache;
pub mod cm;
pub mod mask;
pub mod merge;
pub mod ngram;
pub mod overlap;
pub mod profile;
pub mod quantize;
pub mod select;
pub mod token_model;

/// The adaptive token model new files use (header field `mix`).
pub const MIX_VERSION: u8 = adaptive::Version::CURRENT as u8;
/// The newest adaptive-model version this build reads (it reads every older one too).
pub const MAX_MIX_VERSION: u8 = adaptive::Version::ContextMixV8 as u8;

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

use crate::error::{Error, Result};
use crate::model::MaskedLm;
use crate::schedule::{RevealPlan, Walker};
use crate::text::{LosslessTokenizer, SpecialIds};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    Arith = 0,
    Mask = 1,
}

impl Method {
    pub fn from_u8(v: u8) -> Option<Self> {
        match v {
            0 => Some(Method::Arith),
            1 => Some(Method::Mask),
            _ => None,
        }
    }
    pub fn name(self) -> &'static str {
        match self {
            Method::Arith => "arith",
            Method::Mask => "mask",
        }
    }
}

/// What the methods need besides the plan.
pub struct Ctx<'a> {
    pub lm: &'a dyn MaskedLm,
    pub plan: &'a RevealPlan,
    pub ids: SpecialIds,
    /// the block's tokenizer (adaptive models that look at tokens' text)
    pub tokenizer: &'a LosslessTokenizer,
    /// windows per model call; part of the format (batch shapes must repeat exactly)
    pub batch: usize,
    /// arith: version of the adaptive token model mixed in ([`adaptive::Version`])
    pub mix: u8,
    pub cancel: &'a (dyn Fn() -> bool + Sync),
    pub progress: &'a (dyn Fn(usize) + Sync),
    /// nanoseconds spent in model calls are added here (the caller's statistics)
    pub model_nanos: &'a AtomicU64,
}

/// Runs the reveal plan over `n` tokens. For each predicted token, in plan order, calls
/// `f(index, log_probs)`, which returns the token's true value; it is then revealed for
/// later rounds. Encoder and decoder both go through here, so they make identical model
/// calls by construction.
pub fn drive(ctx: &Ctx, n: usize, mut f: impl FnMut(usize, &[f32]) -> Result<u32>) -> Result<Vec<u32>> {
    let mut known = vec![ctx.ids.mask; n];
    let walker = Walker::new(ctx.plan, n, ctx.batch);
    let v = ctx.lm.vocab_size();
    let row = ctx.lm.rows().len(v);
    for ph in 0..walker.phases() {
        for step in walker.phase(ph, &known, ctx.ids.cls, ctx.ids.sep, ctx.ids.mask) {
            if (ctx.cancel)() {
                return Err(Error::Interrupted);
            }
            let t = std::time::Instant::now();
            let lp = ctx.lm.log_probs(&step.seqs, &step.sel)?;
            ctx.model_nanos.fetch_add(t.elapsed().as_nanos() as u64, Relaxed);
            for (k, &t) in step.targets.iter().enumerate() {
                let tok = f(t, &lp[k * row..(k + 1) * row])?;
                if tok as usize >= v {
                    return Err(Error::corrupt("decoded token outside the vocabulary"));
                }
                known[t] = tok;
            }
            (ctx.progress)(step.targets.len());
        }
    }
    Ok(known)
}

/// The encoder's [`drive`]: every token is known in advance, so the model calls of the next
/// steps do not wait for the coding of this one. A second thread makes the calls (the same
/// calls, in the same order, on the same inputs as [`drive`]: it reveals each step's tokens
/// after the step, as the decoder will) while this thread codes; they overlap, which the
/// decoder cannot do because it learns each token only by decoding it: on 2 cores coding and
/// model calls then share the time. `f(index, log_probs)` is called in [`drive`]'s order.
pub fn drive_known(ctx: &Ctx, tokens: &[u32], mut f: impl FnMut(usize, &[f32]) -> Result<()>) -> Result<()> {
    let n = tokens.len();
    let v = ctx.lm.rows().len(ctx.lm.vocab_size());
    let (lm, plan, ids, batch, nanos) = (ctx.lm, ctx.plan, ctx.ids, ctx.batch, ctx.model_nanos);
    std::thread::scope(|s| {
        let walker = Walker::new(plan, n, batch);
        // a step of few lanes is a call of few rows, which on the CPU costs nearly what a
        // call of many does (the weights are read once per call): merged, its calls cost
        // about what 32 lanes' do (csv-dpkg-events.csv at one lane: 22.7 -> 14.1 CPU-s)
        let merges = lm.merges_calls() || walker.lane_count() <= merge::FEW_LANES;
        let group = if merges && lm.causal() && lm.batch_invariant() { merge::STEPS } else { 1 };
        // one step in flight beside the one being coded (or one merged call's steps): a
        // step's log-probabilities are batch × window × vocabulary floats (32 MB at the
        // defaults of masked plans)
        let (tx, rx) = std::sync::mpsc::sync_channel::<Result<(Vec<usize>, Vec<f32>)>>(group);
        s.spawn(move || {
            let mut known = vec![ids.mask; n];
            // a causal model's calls of several steps as one (merge.rs)
            let mut pending = Vec::new();
            for ph in 0..walker.phases() {
                // a phase's steps are all built before any is revealed: revealing them now
                // is as late as `drive` reveals
                let steps = walker.phase(ph, &known, ids.cls, ids.sep, ids.mask);
                for step in &steps {
                    for &t in &step.targets {
                        known[t] = tokens[t];
                    }
                }
                pending.extend(steps);
                if pending.len() < group && ph + 1 < walker.phases() {
                    continue;
                }
                let t = std::time::Instant::now();
                // each selection's token, for rows that depend on it (`RowForm::Path`)
                let known_of = |st: &crate::schedule::Step| st.targets.iter().map(|&t| tokens[t]).collect::<Vec<_>>();
                let lps = if group > 1 && pending.len() > 1 {
                    let m = merge::merge(&pending);
                    let known: Vec<u32> = pending.iter().flat_map(known_of).collect();
                    lm.log_probs_parts_known(&m.seqs, &m.sel, &m.parts, &known)
                } else {
                    pending.iter().map(|st| lm.log_probs_known(&st.seqs, &st.sel, &known_of(st))).collect()
                };
                nanos.fetch_add(t.elapsed().as_nanos() as u64, Relaxed);
                let lps = match lps {
                    Ok(lps) => lps,
                    Err(e) => {
                        let _ = tx.send(Err(e));
                        return;
                    }
                };
                for (step, lp) in pending.drain(..).zip(lps) {
                    // the receiver hangs up when coding stopped (error or Ctrl-C): stop too
                    if tx.send(Ok((step.targets, lp))).is_err() {
                        return;
                    }
                }
            }
        });
        let mut coded = 0usize;
        for msg in rx {
            if (ctx.cancel)() {
                return Err(Error::Interrupted);
            }
            let (targets, lp) = msg?;
            for (k, &t) in targets.iter().enumerate() {
                f(t, &lp[k * v..(k + 1) * v])?;
            }
            coded += targets.len();
            (ctx.progress)(targets.len());
        }
        // every token is predicted exactly once by a complete plan
        if coded != n {
            return Err(Error::Internal(format!("reveal plan predicted {coded} of {n} tokens")));
        }
        Ok(())
    })
}
