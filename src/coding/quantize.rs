//! Model log-probabilities → integer frequencies for the range coder. Part of the format:
//! every symbol gets at least 1/2^PRECISION, the rest is shared by floor(p * budget), and the
//! rounding remainder goes to the symbol with the largest frequency (lowest id on ties).

use constriction::stream::model::DefaultContiguousCategoricalEntropyModel;

use crate::error::{Error, Result};

pub const PRECISION: u32 = 24;
/// Largest vocabulary the quantiser accepts (each symbol needs a nonzero share).
pub const MAX_VOCAB: usize = 1 << 20;

pub type Categorical = DefaultContiguousCategoricalEntropyModel;

/// Integer frequencies summing to exactly 2^PRECISION, from natural-log probabilities.
pub fn frequencies(log_probs: &[f32], out: &mut Vec<u32>) -> Result<()> {
    quantise(log_probs.iter().map(|&lp| lp.exp()), log_probs.len(), out)
}

/// The same from probabilities (mixed distributions).
pub fn frequencies_from_probs(probs: &[f32], out: &mut Vec<u32>) -> Result<()> {
    quantise(probs.iter().copied(), probs.len(), out)
}

fn quantise(probs: impl Iterator<Item = f32>, v: usize, out: &mut Vec<u32>) -> Result<()> {
    if !(2..=MAX_VOCAB).contains(&v) {
        return Err(Error::Invalid(format!("vocabulary of {v} symbols cannot be coded")));
    }
    let total = 1u64 << PRECISION;
    let budget = (total as u32 - v as u32) as f32;
    out.clear();
    out.reserve(v);
    let mut sum: u64 = 0;
    let mut best = 0usize;
    for (i, p) in probs.enumerate() {
        // NaN or infinities from a broken model would make the table invalid: treat as p = 0.
        let p = if p.is_finite() { p.clamp(0.0, 1.0) } else { 0.0 };
        let f = 1 + (p * budget) as u32;
        sum += f as u64;
        out.push(f);
        if f > out[best] {
            best = i;
        }
    }
    if sum <= total {
        out[best] += (total - sum) as u32;
    } else {
        // float sums slightly above 1: take the excess from the largest entry, then the rest
        let mut excess = sum - total;
        let take = excess.min(out[best] as u64 - 1);
        out[best] -= take as u32;
        excess -= take;
        for f in out.iter_mut() {
            if excess == 0 {
                break;
            }
            let can = (*f as u64 - 1).min(excess);
            *f -= can as u32;
            excess -= can;
        }
    }
    Ok(())
}

pub fn model(freqs: &[u32]) -> Result<Categorical> {
    Categorical::from_nonzero_fixed_point_probabilities(freqs, false)
        .map_err(|_| Error::Invalid("internal: frequencies do not sum to 2^24".into()))
}

/// Index of the largest log-probability (lowest id on ties): the mask method's infill.
pub fn argmax(log_probs: &[f32]) -> u32 {
    let mut best = 0usize;
    for (i, &x) in log_probs.iter().enumerate() {
        if x > log_probs[best] {
            best = i;
        }
    }
    best as u32
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sums_to_total_and_all_nonzero() {
        let mut f = Vec::new();
        for lps in
            [vec![0.0f32, f32::NEG_INFINITY, -50.0], vec![(0.5f32).ln(); 2], vec![-1e-9; 7], vec![f32::NAN, 0.0, -1.0]]
        {
            frequencies(&lps, &mut f).unwrap();
            assert_eq!(f.iter().map(|&x| x as u64).sum::<u64>(), 1 << PRECISION);
            assert!(f.iter().all(|&x| x > 0));
            model(&f).unwrap();
        }
    }
}
