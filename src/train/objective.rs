//! Training objectives: which positions of a batch's sequences are masked, shown and scored.

use rand::Rng;
use rand_chacha::ChaCha8Rng;

use crate::schedule::{lane_role, RevealPlan, Role};
use crate::text::SpecialIds;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Objective {
    /// BERT's 15% random masking (80% mask, 10% random, 10% kept)
    Random,
    /// a sampled round of the reveal plan: earlier groups visible, loss on the round's group
    Schedule,
}

/// A batch ready for the model: `[CLS] tokens [SEP]` rows padded to `width`, and the scored
/// positions (flat indices into `rows × width`) with their targets.
pub struct Batch {
    pub input: Vec<u32>,
    pub mask: Vec<u8>,
    pub width: usize,
    pub sel: Vec<u32>,
    pub targets: Vec<u32>,
}

/// What the objective needs besides the sequences.
pub struct Spec<'a> {
    pub objective: Objective,
    pub plan: &'a RevealPlan,
    /// the plan's groups of window offsets
    pub groups: &'a [u8],
    pub mask_prob: f32,
    pub ids: SpecialIds,
    pub vocab: u32,
    pub pad: u32,
}

/// Masks `seqs` by the objective, drawing from `rng`.
pub fn make_batch(spec: &Spec, seqs: &[Vec<u32>], rng: &mut ChaCha8Rng) -> Batch {
    let width = seqs.iter().map(|s| s.len()).max().unwrap_or(0) + 2;
    let mut b = Batch {
        input: Vec::with_capacity(seqs.len() * width),
        mask: Vec::with_capacity(seqs.len() * width),
        width,
        sel: Vec::new(),
        targets: Vec::new(),
    };
    for (row, s) in seqs.iter().enumerate() {
        let base = b.input.len();
        b.input.push(spec.ids.cls);
        // drawn for every objective, so that the random stream does not depend on it
        let round = rng.random_range(0..spec.plan.rounds);
        for (i, &tk) in s.iter().enumerate() {
            let at = (row * width + 1 + i) as u32;
            let shown = match spec.objective {
                Objective::Random => random_masking(spec, tk, at, &mut b, rng),
                Objective::Schedule => {
                    // as in lanes mode: `context` known tokens, then windows revealed in rounds
                    let p = spec.plan;
                    let group = (i >= p.context).then(|| spec.groups[(i - p.context) % p.window] as usize);
                    match lane_role(group, round) {
                        Role::Visible => tk,
                        Role::Predicted => {
                            b.sel.push(at);
                            b.targets.push(tk);
                            spec.ids.mask
                        }
                        Role::Masked => spec.ids.mask,
                    }
                }
            };
            b.input.push(shown);
        }
        b.input.push(spec.ids.sep);
        let used = b.input.len() - base;
        b.mask.extend(std::iter::repeat_n(1u8, used));
        b.input.extend(std::iter::repeat_n(spec.pad, width - used));
        b.mask.extend(std::iter::repeat_n(0u8, width - used));
    }
    b
}

/// BERT's rule for one token: scored with probability `mask_prob`, and then shown as the
/// mask (80%), a random token (10%) or itself (10%).
fn random_masking(spec: &Spec, tk: u32, at: u32, b: &mut Batch, rng: &mut ChaCha8Rng) -> u32 {
    if rng.random::<f32>() >= spec.mask_prob {
        return tk;
    }
    b.sel.push(at);
    b.targets.push(tk);
    let r: f32 = rng.random();
    if r < 0.8 {
        spec.ids.mask
    } else if r < 0.9 {
        rng.random_range(0..spec.vocab)
    } else {
        tk
    }
}
