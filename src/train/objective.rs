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
    /// order-agnostic, for plans of any rounds and shape (after Hoogeboom et al., Autoregressive
    /// Diffusion Models, 2022): the plan's context visible, then each window position masked
    /// with probability t ~ U(0, 1] drawn per sequence (at least one), the loss averaged over
    /// a sequence's masked positions, then over the batch
    AnyOrder,
    /// causal models (`is_decoder`): `[CLS] tokens`, nothing masked, every row scored on the
    /// token after it
    NextToken,
}

impl Objective {
    pub fn name(self) -> &'static str {
        match self {
            Objective::Random => "random",
            Objective::Schedule => "schedule",
            Objective::AnyOrder => "any-order",
            Objective::NextToken => "next-token",
        }
    }

    /// The default for an architecture: any-order for pre-LayerNorm models (the ones trained
    /// for the plans), BERT's random masking otherwise.
    pub fn default_for(pre_layer_norm: bool) -> Self {
        if pre_layer_norm {
            Objective::AnyOrder
        } else {
            Objective::Random
        }
    }

    /// Content tokens per training sequence: any-order trains on the plan's shape (context,
    /// then one window), next-token on `--seq-len` minus `[CLS]`, the others on `--seq-len`
    /// minus the two special tokens.
    pub fn content_len(self, plan: &RevealPlan, seq_len: usize) -> usize {
        let most = seq_len - 2;
        match self {
            Objective::AnyOrder => (plan.context + plan.window).min(most),
            Objective::NextToken => seq_len - 1,
            _ => most,
        }
    }
}

/// A batch ready for the model: `[CLS] tokens [SEP]` rows (next-token: `[CLS] tokens`) padded
/// to `width`, and the scored positions (flat indices into `rows × width`) with their targets.
pub struct Batch {
    pub input: Vec<u32>,
    pub mask: Vec<u8>,
    pub width: usize,
    pub sel: Vec<u32>,
    pub targets: Vec<u32>,
    /// weight of each scored position in the loss (which is then `-Σ weight × log p`);
    /// `None`: the mean over all scored positions
    pub weights: Option<Vec<f32>>,
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
    let causal = spec.objective == Objective::NextToken;
    let width = seqs.iter().map(|s| s.len()).max().unwrap_or(0) + if causal { 1 } else { 2 };
    let mut b = Batch {
        input: Vec::with_capacity(seqs.len() * width),
        mask: Vec::with_capacity(seqs.len() * width),
        width,
        sel: Vec::new(),
        targets: Vec::new(),
        weights: (spec.objective == Objective::AnyOrder).then(Vec::new),
    };
    for (row, s) in seqs.iter().enumerate() {
        let base = b.input.len();
        b.input.push(spec.ids.cls);
        match spec.objective {
            Objective::AnyOrder => any_order(spec, s, row, &mut b, rng),
            Objective::Random | Objective::Schedule => round_or_random(spec, s, row, &mut b, rng),
            Objective::NextToken => next_token(s, row, &mut b),
        }
        if !causal {
            b.input.push(spec.ids.sep);
        }
        pad_row(spec, &mut b, base);
    }
    if let Some(w) = &mut b.weights {
        let rows = seqs.len() as f32;
        w.iter_mut().for_each(|x| *x /= rows);
    }
    b
}

/// One sequence of the random or schedule objective.
fn round_or_random(spec: &Spec, s: &[u32], row: usize, b: &mut Batch, rng: &mut ChaCha8Rng) {
    // drawn for both objectives, so that the random stream does not depend on which
    let round = rng.random_range(0..spec.plan.rounds);
    for (i, &tk) in s.iter().enumerate() {
        let at = (row * b.width + 1 + i) as u32;
        let shown = if spec.objective == Objective::Random {
            random_masking(spec, tk, at, b, rng)
        } else {
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
        };
        b.input.push(shown);
    }
}

/// One sequence of the next-token objective: row p (`[CLS]` at 0) is scored on token p + 1,
/// the sequence's p-th content token; the last token's row predicts nothing the row holds.
fn next_token(s: &[u32], row: usize, b: &mut Batch) {
    for (p, &tk) in s.iter().enumerate() {
        b.sel.push((row * b.width + p) as u32);
        b.targets.push(tk);
        b.input.push(tk);
    }
}

/// Pads the row that starts at `base` to the batch width, and marks its real tokens.
fn pad_row(spec: &Spec, b: &mut Batch, base: usize) {
    let used = b.input.len() - base;
    b.mask.extend(std::iter::repeat_n(1u8, used));
    b.input.extend(std::iter::repeat_n(spec.pad, b.width - used));
    b.mask.extend(std::iter::repeat_n(0u8, b.width - used));
}

/// One sequence of the any-order objective: the first `context` tokens (all but the last, in
/// a short sequence) visible, then each token masked with probability t ~ U(0, 1]; a
/// sequence with none masked gets one masked at random. Weights 1/masked per position.
fn any_order(spec: &Spec, s: &[u32], row: usize, b: &mut Batch, rng: &mut ChaCha8Rng) {
    let prefix = spec.plan.context.min(s.len().saturating_sub(1));
    let t = 1.0 - rng.random::<f32>();
    let mut masked: Vec<bool> = (prefix..s.len()).map(|_| rng.random::<f32>() < t).collect();
    if !masked.is_empty() && !masked.contains(&true) {
        let j = rng.random_range(0..masked.len());
        masked[j] = true;
    }
    let count = masked.iter().filter(|&&m| m).count();
    for (i, &tk) in s.iter().enumerate() {
        if i >= prefix && masked[i - prefix] {
            b.sel.push((row * b.width + 1 + i) as u32);
            b.targets.push(tk);
            if let Some(w) = &mut b.weights {
                w.push(1.0 / count as f32);
            }
            b.input.push(spec.ids.mask);
        } else {
            b.input.push(tk);
        }
    }
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::schedule::{Lanes, Shape};
    use rand::SeedableRng;

    #[test]
    fn next_token_scores_every_row_on_the_token_after_it() {
        let plan = RevealPlan {
            window: 8,
            context: 0,
            rounds: 1,
            shape: Shape::Geometric,
            lanes: Lanes::AtMost(1),
            settle: None,
        };
        let ids = SpecialIds { cls: 0, sep: 2, mask: 4, placeholder: 3 };
        let groups = plan.groups();
        let spec = Spec {
            objective: Objective::NextToken,
            plan: &plan,
            groups: &groups,
            mask_prob: 0.15,
            ids,
            vocab: 100,
            pad: 1,
        };
        let seqs = vec![vec![10, 11, 12, 13], vec![20, 21]];
        let b = make_batch(&spec, &seqs, &mut ChaCha8Rng::seed_from_u64(1));
        assert_eq!(b.width, 5);
        assert_eq!(b.input, [0, 10, 11, 12, 13, 0, 20, 21, 1, 1]);
        assert_eq!(b.mask, [1, 1, 1, 1, 1, 1, 1, 1, 0, 0]);
        assert_eq!(b.sel, [0, 1, 2, 3, 5, 6]);
        assert_eq!(b.targets, [10, 11, 12, 13, 20, 21]);
        assert!(b.weights.is_none());
        assert_eq!(Objective::NextToken.content_len(&plan, 34), 33);
    }

    #[test]
    fn any_order_masks_after_the_context_at_rates_spread_over_0_to_1() {
        let plan = RevealPlan {
            window: 32,
            context: 8,
            rounds: 1,
            shape: Shape::Geometric,
            lanes: Lanes::AtMost(1),
            settle: None,
        };
        let ids = SpecialIds { cls: 0, sep: 2, mask: 4, placeholder: 3 };
        let groups = plan.groups();
        let spec = Spec {
            objective: Objective::AnyOrder,
            plan: &plan,
            groups: &groups,
            mask_prob: 0.15,
            ids,
            vocab: 100,
            pad: 1,
        };
        let mut rng = ChaCha8Rng::seed_from_u64(5);
        let seqs: Vec<Vec<u32>> = (0..400).map(|k| (0..40).map(|i| 10 + (i + k) % 50).collect()).collect();
        let b = make_batch(&spec, &seqs, &mut rng);
        assert_eq!(b.width, 42);
        let w = b.weights.as_ref().unwrap();
        assert!((w.iter().sum::<f32>() - 1.0).abs() < 1e-4, "weights average over sequences, then the batch");
        let mut rates = Vec::new();
        for (row, s) in seqs.iter().enumerate() {
            let line = &b.input[row * 42..(row + 1) * 42];
            assert_eq!((line[0], line[41]), (0, 2));
            assert_eq!(&line[1..9], &s[..8], "the context is visible");
            let masked: Vec<usize> = (9..41).filter(|&p| line[p] == 4).collect();
            assert!(!masked.is_empty(), "every sequence is scored");
            for &p in &masked {
                let k = b.sel.iter().position(|&x| x as usize == row * 42 + p).unwrap();
                assert_eq!(b.targets[k], s[p - 1]);
                assert!((w[k] * 400.0 * masked.len() as f32 - 1.0).abs() < 1e-4);
            }
            rates.push(masked.len() as f64 / 32.0);
        }
        assert_eq!(b.sel.len(), rates.iter().map(|r| (r * 32.0).round() as usize).sum::<usize>());
        let mean = rates.iter().sum::<f64>() / rates.len() as f64;
        assert!((0.45..0.55).contains(&mean), "mean masked fraction {mean}");
        assert!(rates.iter().filter(|&&r| r < 0.2).count() > 40 && rates.iter().filter(|&&r| r > 0.8).count() > 40);
    }
}
