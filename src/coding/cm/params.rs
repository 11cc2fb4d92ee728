//! The adaptive model's settings: which contexts, how large its tables, how fast it learns.
//! The values [`Params::for_plan`] and [`Params::v3`] give are part of the format.

use super::contexts::Kind;

/// The settings of the model. [`Params::default`] is part of the format (version 3); other
/// values exist for tuning (`examples/cm_tune.rs`).
#[derive(Debug, Clone)]
pub struct Params {
    /// the hashed contexts
    pub contexts: Vec<Kind>,
    /// context slots per token of the block, before rounding to a power of two and capping
    pub slots_per_token: usize,
    pub mixer_rate: f32,
    /// how much faster a young weight set learns
    pub mixer_boost: f32,
    pub apm_rate: f32,
    /// the APM's share of the final probability
    pub apm_share: f32,
    /// adaptive model version 3 as first released: the same contexts at every plan, token
    /// contexts learned only when coded with, LM probabilities below e^−87 read as 0
    pub v3: bool,
    /// the match model's input (off only to measure its share)
    pub match_model: bool,
    /// a third APM by the previous token and the decision's node
    pub apm_prev: bool,
    /// a fourth APM by the two previous tokens and the node
    pub apm_o2: bool,
    /// a weight-set selector by which token orders have seen the decision (a bit mask)
    pub sel_mask: bool,
    /// a fifth APM (with `apm_o2`) by the LM's odds and the depth
    pub lm_apm: bool,
    /// the match model carries matches across unrevealed tokens
    pub match_gap: bool,
    /// a carried match that missed moves to where the missed token is
    pub match_resync: bool,
    /// the final mixer's weights chosen by the match state too, not by depth alone
    pub final_ms: bool,
    /// (with `apm_o2` and `lm_apm`) 1: a learned mix of the APMs' outputs instead of their
    /// average, 2: the mean of both
    pub apm_mix: u8,
    pub apm_mix_rate: f32,
    /// a third input per context: its direct estimate in the probability domain, (p − ½)·4
    pub linear_in: bool,
    /// highest count of a counter's learning rate 1/(count + 1.5) (≤ 30)
    pub rate_cap: u32,
}

impl Params {
    /// The settings for a reveal plan of `rounds` rounds: later rounds code tokens whose left
    /// neighbour is not revealed yet and whose right one may be, so they get the contexts for
    /// that (which a one-round plan would only pay for).
    pub fn for_plan(rounds: usize) -> Self {
        use Kind::*;
        let mut contexts = vec![
            Tokens(0),
            Tokens(1),
            Tokens(2),
            Tokens(3),
            Tokens(4),
            Tokens(6),
            Tokens(8),
            Column,
            Above,
            AboveLeft,
            Word,
            Bytes(3),
            Bytes(5),
        ];
        if rounds > 1 {
            contexts.extend([Between, Skip(2), Skip(3), Skip(5)]);
        }
        Params {
            contexts,
            slots_per_token: 16,
            mixer_rate: 0.0035,
            mixer_boost: 10.0,
            apm_rate: 0.02,
            apm_share: 0.75,
            v3: false,
            match_model: true,
            apm_prev: true,
            apm_o2: false,
            sel_mask: false,
            lm_apm: false,
            rate_cap: 30,
            match_gap: false,
            linear_in: false,
            apm_mix: 0,
            apm_mix_rate: 0.002,
            final_ms: false,
            match_resync: false,
        }
    }

    /// The settings of version 3 files (whatever their plan).
    pub fn v3() -> Self {
        let mut p = Params { v3: true, apm_prev: false, mixer_rate: 0.005, ..Params::for_plan(1) };
        p.contexts.retain(|&k| k != Kind::Tokens(8));
        p
    }
}

impl Default for Params {
    fn default() -> Self {
        Params::for_plan(1)
    }
}
