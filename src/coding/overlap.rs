//! The decoder's [`drive`](super::drive) with model calls overlapping the coding.
//!
//! The decoder learns each token only by decoding it, so a phase's model call cannot start
//! before the previous phase is decoded. But in lanes mode a lane's sequences read only that
//! lane's tokens: once the first half of the lanes is decoded, the next phase's call for that
//! half can run while the second half is decoded. For a model whose rows do not depend on
//! their batch ([`MaskedLm::batch_invariant`](crate::model::MaskedLm::batch_invariant)) the
//! split calls give the very log-probabilities of the whole calls, and the tokens are coded
//! in [`drive`](super::drive)'s order, so the output is the same bit for bit.

use std::collections::VecDeque;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::mpsc;

use super::Ctx;
use crate::error::{Error, Result};
use crate::schedule::{Lanes, Walker};

/// Lane groups whose calls and coding alternate: two keep one call running while the other
/// group is coded.
const PARTS: usize = 2;

/// Lane groups on a model that merges blocks' calls (the GPU engine): with four, three calls
/// of a block are in flight while one group is coded (16 MB at `-5 -j16` on one H100: 38.2 s
/// against 41.6 s with two, 41.7 s with eight; docs/RESULTS.md, "Session 12").
const MERGED_PARTS: usize = 4;

/// Lane groups for a plan of `lanes` lanes on `lm`: [`PARTS`] ([`MERGED_PARTS`] where the
/// model merges calls), or `LLMZIP_LANE_GROUPS` (2 to 16); the same tokens and rows either way.
fn groups(lanes: usize, lm: &dyn crate::model::MaskedLm) -> usize {
    static ASKED: std::sync::OnceLock<Option<usize>> = std::sync::OnceLock::new();
    let asked = *ASKED.get_or_init(|| {
        std::env::var("LLMZIP_LANE_GROUPS").ok().and_then(|v| v.parse().ok()).map(|n: usize| n.clamp(PARTS, 16))
    });
    let default = if lm.merges_calls() { MERGED_PARTS } else { PARTS };
    asked.unwrap_or(default).min(lanes)
}

/// Whether [`drive`] overlaps anything for this plan and model (`LLMZIP_OVERLAP=0`: never,
/// for comparing; the same tokens and calls either way).
fn applies(ctx: &Ctx, n: usize) -> bool {
    static ON: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *ON.get_or_init(|| std::env::var_os("LLMZIP_OVERLAP").is_none_or(|v| v != "0"))
        && ctx.plan.lanes != Lanes::Lockstep
        && ctx.lm.batch_invariant()
        && Walker::new(ctx.plan, n, ctx.batch).lane_count() >= PARTS
}

/// A model call for a model thread: sequences, selections, where its rows go.
type Call = (Vec<Vec<u32>>, Vec<(usize, usize)>, mpsc::Sender<Result<Vec<f32>>>);

/// A queued piece of work, in coding order: one model call of a lane group's phase, or a
/// phase in which the group has nothing to predict.
struct Pending {
    part: usize,
    /// the call's targets and where its rows arrive (`None`: no call)
    targets: Option<(Vec<usize>, mpsc::Receiver<Result<Vec<f32>>>)>,
    /// the group's last call of this phase: its next phase may be scheduled after it
    last: bool,
}

/// [`super::drive`]'s contract and order; model calls on a second thread where that
/// overlaps them with coding (lanes mode, a batch-invariant model, two lanes or more).
pub fn drive(ctx: &Ctx, n: usize, mut f: impl FnMut(usize, &[f32]) -> Result<u32>) -> Result<Vec<u32>> {
    if !applies(ctx, n) {
        return super::drive(ctx, n, f);
    }
    let walker = Walker::new(ctx.plan, n, ctx.batch);
    let lanes = walker.lane_count();
    let parts = groups(lanes, ctx.lm);
    let bounds: Vec<usize> = (0..=parts).map(|g| g * lanes / parts).collect();
    let phases = walker.phases();
    let v = ctx.lm.vocab_size();
    let row = ctx.lm.rows().len(v);
    let (lm, nanos) = (ctx.lm, ctx.model_nanos);
    let mut known = vec![ctx.ids.mask; n];
    // calls go in coding order, each with the channel its rows come back on; the groups not
    // being coded have their calls in flight, on `parts − 1` model threads
    let (call_tx, call_rx) = mpsc::channel::<Call>();
    let call_rx = std::sync::Mutex::new(call_rx);
    std::thread::scope(|s| {
        // dropped when decoding ends or stops, which ends the model threads
        let call_tx = call_tx;
        for _ in 0..parts - 1 {
            let call_rx = &call_rx;
            s.spawn(move || loop {
                // the lock is held only while waiting for the next call
                let next = call_rx.lock().map_err(|_| ()).and_then(|rx| rx.recv().map_err(|_| ()));
                // no more calls: decoding ended (or stopped)
                let Ok((seqs, sel, reply)) = next else { return };
                let t = std::time::Instant::now();
                let lp = lm.log_probs(&seqs, &sel);
                nanos.fetch_add(t.elapsed().as_nanos() as u64, Relaxed);
                // the receiver is gone when decoding stopped: the next recv ends this thread
                let _ = reply.send(lp);
            });
        }
        let mut next_phase = vec![0usize; parts];
        let mut queue = VecDeque::new();
        // queues the calls of group `g`'s next phase (its lanes' tokens so far are known)
        let mut schedule = |g: usize, known: &[u32], queue: &mut VecDeque<Pending>| -> Result<()> {
            let ph = next_phase[g];
            if ph >= phases {
                return Ok(());
            }
            next_phase[g] += 1;
            let ids = ctx.ids;
            let steps = walker.phase_lanes(ph, bounds[g]..bounds[g + 1], known, ids.cls, ids.sep, ids.mask);
            if steps.is_empty() {
                queue.push_back(Pending { part: g, targets: None, last: true });
            }
            let count = steps.len();
            for (k, st) in steps.into_iter().enumerate() {
                let (reply, rows) = mpsc::channel();
                call_tx.send((st.seqs, st.sel, reply)).map_err(|_| Error::Internal("model thread stopped".into()))?;
                queue.push_back(Pending { part: g, targets: Some((st.targets, rows)), last: k + 1 == count });
            }
            Ok(())
        };
        for g in 0..parts {
            schedule(g, &known, &mut queue)?;
        }
        while let Some(p) = queue.pop_front() {
            if let Some((targets, rows)) = p.targets {
                if (ctx.cancel)() {
                    return Err(Error::Interrupted);
                }
                let lp = rows.recv().map_err(|_| Error::Internal("model thread stopped".into()))??;
                for (k, &t) in targets.iter().enumerate() {
                    let tok = f(t, &lp[k * row..(k + 1) * row])?;
                    if tok as usize >= v {
                        return Err(Error::corrupt("decoded token outside the vocabulary"));
                    }
                    known[t] = tok;
                }
                (ctx.progress)(targets.len());
            }
            if p.last {
                schedule(p.part, &known, &mut queue)?;
            }
        }
        Ok(known)
    })
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::AtomicU64;

    use super::*;
    use crate::model::mock;
    use crate::schedule::{RevealPlan, Shape};

    /// The overlapped driver makes the calls of [`super::super::drive`]: the same tokens in
    /// the same order with the same log-probabilities, for plans whose lanes end in partial
    /// windows (phases in which one lane group has nothing to predict).
    #[test]
    fn same_order_and_probabilities_as_drive() {
        let m = mock::model();
        let v = m.lm.vocab_size();
        let nanos = AtomicU64::new(0);
        for (w, c, r, shape, lanes, batch) in [
            (8, 4, 2, Shape::Geometric, 32, 32),
            (5, 3, 3, Shape::Uniform, 3, 2),
            (16, 16, 4, Shape::Geometric, 7, 1),
            (4, 0, 1, Shape::Uniform, 2, 5),
            (7, 2, 7, Shape::Geometric, 64, 4),
            (6, 3, 2, Shape::Uniform, 0, 3),
            (8, 4, 2, Shape::Geometric, 5, 2),
        ] {
            // the last plan settles into sub-windows of 3 tokens after 40
            let settle = (lanes == 5).then_some(crate::schedule::Settle { after: 40, window: 3 });
            let plan = RevealPlan { window: w, context: c, rounds: r, shape, lanes: Lanes::from_count(lanes), settle };
            for n in [0usize, 1, 9, 37, 200, 333] {
                let tokens: Vec<u32> = (0..n).map(|i| 5 + ((i * 7919) % 13) as u32).collect();
                let ctx = Ctx {
                    lm: m.lm.as_ref(),
                    plan: &plan,
                    ids: m.tokenizer.ids,
                    tokenizer: &m.tokenizer,
                    batch,
                    mix: 0,
                    cancel: &|| false,
                    progress: &|_| {},
                    model_nanos: &nanos,
                };
                let mut want = Vec::new();
                let plain = crate::coding::drive(&ctx, n, |i, lp| {
                    want.push((i, lp.iter().map(|x| x.to_bits() as u64).sum::<u64>()));
                    Ok(tokens[i])
                })
                .unwrap();
                let mut got = Vec::new();
                let overlapped = drive(&ctx, n, |i, lp| {
                    assert_eq!(lp.len(), v);
                    got.push((i, lp.iter().map(|x| x.to_bits() as u64).sum::<u64>()));
                    Ok(tokens[i])
                })
                .unwrap();
                assert_eq!(plain, tokens);
                assert_eq!(overlapped, tokens);
                assert_eq!(got, want, "{plan:?} n={n}");
            }
        }
    }
}
