//! Which tokens `--method mask` masks: the strategies of the seed paper. A strategy only
//! proposes candidates on the encoder's side; a candidate is masked only if the decoder's
//! infill reproduces it, so every strategy is lossless and the decoder never needs to know
//! which one chose (the stored stream marks the masked positions).

use rand::seq::SliceRandom;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Select {
    /// the tokens the model is surest of (highest probability of the true token)
    #[default]
    Confidence,
    /// tokens drawn uniformly (seeded)
    Random,
    /// tokens of chosen parts of speech, drawn uniformly among them (seeded)
    Pos,
}

impl Select {
    pub const ALL: [Select; 3] = [Select::Random, Select::Pos, Select::Confidence];

    pub fn name(self) -> &'static str {
        match self {
            Select::Confidence => "confidence",
            Select::Random => "random",
            Select::Pos => "pos",
        }
    }
}

/// A strategy with what it needs besides the model's predictions.
#[derive(Debug, Clone, Copy)]
pub struct Pick<'a> {
    pub select: Select,
    /// seeds the draws of `Random` and `Pos`
    pub seed: u64,
    /// `Pos`: per token, whether it belongs to a chosen part of speech
    pub tagged: Option<&'a [bool]>,
}

impl Default for Pick<'_> {
    fn default() -> Self {
        Pick { select: Select::Confidence, seed: 0, tagged: None }
    }
}

/// The positions to mask. `score[i]` is the log-probability of token `i` where the decoder's
/// infill reproduces it and `None` where it does not. Each window of `window` tokens gets at
/// most `floor(rate * its length)` candidates; candidates that do not verify are not masked.
pub fn choose(pick: &Pick, score: &[Option<f32>], window: usize, rate: f32) -> Vec<bool> {
    let n = score.len();
    let mut masked = vec![false; n];
    let mut rng = ChaCha8Rng::seed_from_u64(pick.seed);
    for start in (0..n).step_by(window.max(1)) {
        let end = (start + window).min(n);
        let cap = (rate as f64 * (end - start) as f64).floor() as usize;
        let mut cand: Vec<usize> = match pick.select {
            Select::Confidence => {
                let mut v: Vec<usize> = (start..end).filter(|&i| score[i].is_some()).collect();
                // surest first; ties by position, so the choice is deterministic
                v.sort_by(|&a, &b| score[b].unwrap().total_cmp(&score[a].unwrap()).then(a.cmp(&b)));
                v
            }
            Select::Random => (start..end).collect(),
            Select::Pos => (start..end).filter(|&i| pick.tagged.is_some_and(|t| t.get(i) == Some(&true))).collect(),
        };
        if pick.select != Select::Confidence {
            cand.shuffle(&mut rng);
        }
        for &i in cand.iter().take(cap) {
            masked[i] = score[i].is_some();
        }
    }
    masked
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn confidence_masks_the_surest_verified_tokens_up_to_the_cap() {
        let s = [Some(-0.1), None, Some(-2.0), Some(-0.01), Some(-0.5), None];
        let m = choose(&Pick::default(), &s, 6, 0.5);
        assert_eq!(m, vec![true, false, false, true, true, false]);
        // a window of 3: one per window
        let m = choose(&Pick::default(), &s, 3, 0.5);
        assert_eq!(m, vec![true, false, false, true, false, false]);
    }

    #[test]
    fn random_and_pos_never_mask_an_unverified_token() {
        let s: Vec<Option<f32>> = (0..200).map(|i| (i % 3 != 0).then_some(-1.0)).collect();
        let tagged: Vec<bool> = (0..200).map(|i| i % 2 == 0).collect();
        for select in [Select::Random, Select::Pos] {
            let p = Pick { select, seed: 7, tagged: Some(&tagged) };
            let m = choose(&p, &s, 32, 0.5);
            assert!(m.iter().zip(&s).all(|(&m, s)| !m || s.is_some()));
            assert!(m.iter().filter(|&&x| x).count() > 10, "{select:?} masked too little");
            assert!(m.iter().filter(|&&x| x).count() <= 100);
            if select == Select::Pos {
                assert!(m.iter().zip(&tagged).all(|(&m, &t)| !m || t));
            }
            assert_eq!(m, choose(&p, &s, 32, 0.5), "the draw is seeded");
        }
        // random candidates ignore verification, so they mask fewer than confidence does
        let r = choose(&Pick { select: Select::Random, seed: 7, tagged: None }, &s, 32, 0.5);
        let c = choose(&Pick::default(), &s, 32, 0.5);
        assert!(r.iter().filter(|&&x| x).count() < c.iter().filter(|&&x| x).count());
    }
}
