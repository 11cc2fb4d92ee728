//! A deterministic stand-in for a masked LM, for tests where the model is not the point:
//! cheap enough for tens of thousands of round trips, yet its predictions depend on what each
//! position sees, so an encoder and decoder that disagree about visibility fail to decode.

use llmzip::MaskedLm;

/// Log-probability (before normalising) of every token the rule does not raise.
const FLOOR: f32 = -9.0;

pub struct MockLm {
    pub vocab: usize,
    pub max_sequence: usize,
}

impl MockLm {
    /// Peaked log-probabilities for position `p` of `s`: most mass on the token that followed
    /// the last earlier occurrence of the left neighbour (a copy rule that learns repeated
    /// text, so the mask method has tokens to mask), some on a hash of both neighbours.
    fn row(&self, s: &[u32], p: usize, out: &mut Vec<f32>) {
        let v = self.vocab;
        let left = if p > 0 { s[p - 1] } else { u32::MAX };
        let right = s.get(p + 1).copied().unwrap_or(u32::MAX);
        let copied = (1..p).rev().find(|&j| s[j - 1] == left).map(|j| s[j] as usize % v);
        let hashed = (left as u64).wrapping_mul(0x9e37_79b9).wrapping_add(right as u64 * 31) as usize % v;
        // the few raised entries, later ones overriding earlier ones at the same index
        let mut peaks: Vec<(usize, f32)> = vec![(hashed, -1.5), ((left as usize).wrapping_add(1) % v, -3.0)];
        if let Some(c) = copied {
            peaks.push((c, 0.0));
        }
        let mut distinct: Vec<(usize, f32)> = Vec::new();
        for (i, x) in peaks.into_iter().rev() {
            if !distinct.iter().any(|&(j, _)| j == i) {
                distinct.push((i, x));
            }
        }
        // log-normalise in closed form: every other entry is the floor
        let sum = (v - distinct.len()) as f32 * FLOOR.exp() + distinct.iter().map(|&(_, x)| x.exp()).sum::<f32>();
        let lse = sum.ln();
        let start = out.len();
        out.extend(std::iter::repeat_n(FLOOR - lse, v));
        for (i, x) in distinct {
            out[start + i] = x - lse;
        }
    }
}

impl MaskedLm for MockLm {
    fn vocab_size(&self) -> usize {
        self.vocab
    }
    fn max_sequence(&self) -> usize {
        self.max_sequence
    }
    fn log_probs(&self, seqs: &[Vec<u32>], sel: &[(usize, usize)]) -> llmzip::Result<Vec<f32>> {
        let mut out = Vec::with_capacity(sel.len() * self.vocab);
        for &(i, p) in sel {
            self.row(&seqs[i], p, &mut out);
        }
        Ok(out)
    }
}

/// A fixture's tokenizer and identity with [`MockLm`] in place of its network.
pub fn with_mock(mut m: llmzip::Model) -> llmzip::Model {
    m.lm = Box::new(MockLm { vocab: m.lm.vocab_size(), max_sequence: m.lm.max_sequence() });
    m
}
