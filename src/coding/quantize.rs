//! Model log-probabilities → integer frequencies for the range coder. Part of the format:
//! every symbol gets at least 1/2^PRECISION, the rest is shared by floor(p * budget), and the
//! rounding remainder goes to the most probable symbol (lowest id on ties).

use constriction::stream::model::DefaultContiguousCategoricalEntropyModel;

use crate::error::{Error, Result};

pub const PRECISION: u32 = 24;
/// Largest vocabulary the quantiser accepts (each symbol needs a nonzero share).
pub const MAX_VOCAB: usize = 1 << 20;

pub type Categorical = DefaultContiguousCategoricalEntropyModel;

/// Integer frequencies from probabilities (as [`frequencies`], for mixed distributions).
pub fn frequencies_from_probs(probs: &[f32], out: &mut Vec<u32>) -> Result<()> {
    let v = probs.len();
    if v < 2 || v > MAX_VOCAB {
        return Err(Error::Invalid(format!("vocabulary of {v} symbols cannot be coded")));
    }
    let total: u32 = 1 << PRECISION;
    let budget = (total - v as u32) as f32;
    out.clear();
    let mut sum: u64 = 0;
    let mut best = 0usize;
    for (i, &p) in probs.iter().enumerate() {
        let p = if p.is_finite() { p.clamp(0.0, 1.0) } else { 0.0 };
        let f = 1 + (p * budget) as u32;
        sum += f as u64;
        out.push(f);
        if f > out[best] {
            best = i;
        }
    }
    settle(out, sum, best);
    Ok(())
}

fn settle(out: &mut [u32], sum: u64, best: usize) {
    let total = 1u64 << PRECISION;
    if sum <= total {
        out[best] += (total - sum) as u32;
    } else {
        let mut excess = sum - total;
        let take = excess.min(out[best] as u64 - 1);
        out[best] -= take as u32;
        excess -= take;
        let mut i = 0;
        while excess > 0 && i < out.len() {
            let can = (out[i] as u64 - 1).min(excess);
            out[i] -= can as u32;
            excess -= can;
            i += 1;
        }
    }
}

/// Integer frequencies summing to exactly 2^PRECISION.
pub fn frequencies(log_probs: &[f32], out: &mut Vec<u32>) -> Result<()> {
    let v = log_probs.len();
    if v < 2 || v > MAX_VOCAB {
        return Err(Error::Invalid(format!("vocabulary of {v} symbols cannot be coded")));
    }
    let total: u32 = 1 << PRECISION;
    let budget = (total - v as u32) as f32;
    out.clear();
    out.reserve(v);
    let mut sum: u64 = 0;
    let mut best = 0usize;
    let mut best_lp = f32::NEG_INFINITY;
    for (i, &lp) in log_probs.iter().enumerate() {
        // NaN or +inf from a broken model would make the table invalid: treat as p = 0.
        let p = if lp.is_finite() { lp.exp().min(1.0) } else { 0.0 };
        let f = 1 + (p * budget) as u32;
        sum += f as u64;
        out.push(f);
        if lp > best_lp {
            best_lp = lp;
            best = i;
        }
    }
    let _ = total;
    settle(out, sum, best);
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
