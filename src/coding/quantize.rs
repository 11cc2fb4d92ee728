//! Model log-probabilities → integer frequencies for the range coder. Part of the format:
//! every symbol gets at least 1/2^PRECISION, the rest is shared by floor(p * budget), and the
//! rounding remainder goes to the symbol with the largest frequency (lowest id on ties).

use std::borrow::Borrow;
use std::num::NonZeroU32;

use constriction::stream::model::{DecoderModel, EncoderModel, EntropyModel};

use crate::error::{Error, Result};

pub const PRECISION: u32 = 24;
/// Largest vocabulary the quantiser accepts (each symbol needs a nonzero share).
pub const MAX_VOCAB: usize = 1 << 20;

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

/// The coder's model of one token: the cumulative table of `freqs` in a buffer reused from
/// token to token. It codes exactly as constriction's contiguous categorical model built
/// from the same frequencies (same cumulative values, same quantile search), without a fresh
/// V+1 table per token (that allocation showed in profiles).
pub struct CdfModel<'a> {
    cdf: &'a [u32],
}

/// Fills `cdf` with the running sums of `freqs` (which sum to 2^PRECISION, each ≥ 1).
pub fn cdf_model<'a>(freqs: &[u32], cdf: &'a mut Vec<u32>) -> Result<CdfModel<'a>> {
    cdf.clear();
    cdf.reserve(freqs.len() + 1);
    let mut sum = 0u32;
    cdf.push(0);
    for &f in freqs {
        if f == 0 {
            return Err(Error::Internal("zero frequency".into()));
        }
        sum = sum.checked_add(f).ok_or_else(|| Error::Internal("frequencies overflow".into()))?;
        cdf.push(sum);
    }
    if sum != 1 << PRECISION {
        return Err(Error::Internal("frequencies do not sum to 2^24".into()));
    }
    Ok(CdfModel { cdf })
}

impl EntropyModel<24> for CdfModel<'_> {
    type Symbol = usize;
    type Probability = u32;
}

impl EncoderModel<24> for CdfModel<'_> {
    fn left_cumulative_and_probability(&self, symbol: impl Borrow<usize>) -> Option<(u32, NonZeroU32)> {
        let i = *symbol.borrow();
        let (&left, &right) = (self.cdf.get(i)?, self.cdf.get(i.checked_add(1)?)?);
        NonZeroU32::new(right - left).map(|p| (left, p))
    }
}

impl DecoderModel<24> for CdfModel<'_> {
    fn quantile_function(&self, quantile: u32) -> (usize, u32, NonZeroU32) {
        // the symbol whose interval [cdf[i], cdf[i+1]) holds the quantile; cdf[0] = 0
        let n = self.cdf.len() - 1;
        let i = self.cdf[..n].partition_point(|&x| x <= quantile) - 1;
        let (left, right) = (self.cdf[i], self.cdf[i + 1]);
        // every frequency is at least 1 (checked in `cdf_model`)
        (i, left, NonZeroU32::new(right - left).expect("nonzero frequency"))
    }
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
            cdf_model(&f, &mut Vec::new()).unwrap();
        }
    }
}

#[cfg(test)]
mod cdf_tests {
    use super::*;
    use constriction::stream::model::DefaultContiguousCategoricalEntropyModel as Categorical;
    use constriction::stream::queue::{DefaultRangeDecoder, DefaultRangeEncoder};
    use constriction::stream::{Decode, Encode};
    use rand::{Rng, SeedableRng};

    /// `CdfModel` writes the same words as constriction's categorical model and reads them back.
    #[test]
    fn cdf_model_codes_like_the_categorical_model() {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(11);
        let (mut a, mut b) = (DefaultRangeEncoder::new(), DefaultRangeEncoder::new());
        let mut tables = Vec::new();
        let mut cdf = Vec::new();
        for _ in 0..300 {
            let v = rng.random_range(2..300);
            let lp: Vec<f32> = (0..v).map(|_| rng.random::<f32>() * -12.0).collect();
            let z = lp.iter().map(|x| x.exp()).sum::<f32>().ln();
            let lp: Vec<f32> = lp.iter().map(|x| x - z).collect();
            let mut f = Vec::new();
            frequencies(&lp, &mut f).unwrap();
            let s = rng.random_range(0..v);
            a.encode_symbol(s, Categorical::from_nonzero_fixed_point_probabilities(&f, false).unwrap()).unwrap();
            b.encode_symbol(s, &cdf_model(&f, &mut cdf).unwrap()).unwrap();
            tables.push((f, s));
        }
        let words = a.into_compressed().unwrap();
        assert_eq!(words, b.into_compressed().unwrap());
        let mut d = DefaultRangeDecoder::from_compressed(words).unwrap();
        for (f, s) in &tables {
            assert_eq!(d.decode_symbol(&cdf_model(f, &mut cdf).unwrap()).unwrap(), *s);
        }
        assert!(cdf_model(&[1, 2], &mut cdf).is_err(), "must sum to 2^24");
    }
}
