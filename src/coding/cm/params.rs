//! The adaptive model's settings: which contexts, how large its tables, how fast it learns.
//! The values [`Params::for_plan`] and [`Params::v3`] give are part of the format.

use super::contexts::Kind;

/// The settings of the model. [`Params::for_plan`] (version 4), [`Params::v5`] … [`Params::v9`]
/// and [`Params::v3`] are part of the format; other values exist for tuning
/// (`examples/cm_tune.rs`).
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
    /// a weight-set selector by which token orders have seen the decision (a bit mask)
    pub sel_mask: bool,
    /// the match model carries a match across unrevealed tokens (re-aligning it by up to
    /// three tokens where it missed)
    pub match_gap: bool,
    /// two more APMs (the two previous tokens; the LM's odds) and a learned mix of all
    /// APM outputs instead of a fixed share
    pub apm_mix: bool,
    pub apm_mix_rate: f32,
    /// the second match model's context length in tokens (0: none)
    pub match_long: usize,
    /// pointers into the line above ([`super::pointers`])
    pub pointers: bool,
    /// pointers 3 and 4 into the keyed line ([`super::pointers::Pointers::with_keyed`])
    pub keyed: bool,
    /// the largest context table, as a power of two
    pub max_bits: u32,
    /// per context (in the order of `contexts`; missing: 0): its table's size relative to
    /// the size `slots_per_token` gives, as a power of two
    pub ctx_shift: Vec<i8>,
    /// the order-0 context's table holds four slots per tree node instead
    pub small_order0: bool,
    /// slots a context may take in its table: 1 (the slot its hash names) or 2 or 4 (the
    /// aligned group around it; a new context replaces the one that has seen least)
    pub ways: u32,
    /// the APMs by the previous tokens: at most 2^apm_bits contexts
    pub apm_bits: u32,
    /// the match models' table slots per token
    pub match_slots: usize,
    /// the keyed lines' table: at most one entry per this many tokens, allocated up front
    /// (0: unbounded)
    pub keyed_every: usize,
}

impl Params {
    /// Version 4's settings for a reveal plan of `rounds` rounds: later rounds code tokens whose left
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
            sel_mask: false,
            match_gap: false,
            apm_mix: false,
            apm_mix_rate: 0.001,
            match_long: 0,
            pointers: false,
            keyed: false,
            max_bits: 22,
            ctx_shift: Vec::new(),
            small_order0: false,
            ways: 1,
            apm_bits: 16,
            match_slots: 2,
            keyed_every: 0,
        }
    }

    /// Version 5 for a plan of `rounds` rounds: version 4 with the gapped match model, the
    /// order-mask selector, the learned APM mix, and for plans of two or more rounds the
    /// contexts of tokens whose left neighbour is not revealed yet.
    pub fn v5(rounds: usize) -> Self {
        let mut p =
            Params { sel_mask: true, match_gap: true, apm_mix: true, apm_rate: 0.01, ..Params::for_plan(rounds) };
        if rounds > 1 {
            p.contexts.extend([Kind::Near(1), Kind::Near(2), Kind::Sides(2, 1)]);
        }
        p
    }

    /// Version 6: version 5 with a second match model from a context of 12 tokens and the
    /// field contexts (the field and the bytes since it began; the same place of the same
    /// field in the line above).
    pub fn v6(rounds: usize) -> Self {
        let mut p = Params { match_long: 12, ..Params::v5(rounds) };
        p.contexts.extend([Kind::Field, Kind::FieldAbove]);
        p
    }

    /// Version 7: version 6 with the pointers into the line above and the context of the
    /// next fields of the line above.
    pub fn v7(rounds: usize) -> Self {
        let mut p = Params { pointers: true, mixer_boost: 15.0, ..Params::v6(rounds) };
        p.contexts.push(Kind::NextFields);
        p
    }

    /// Version 8: version 7 with pointers 3 and 4 into the keyed line where there is one
    /// ([`super::pointers::Pointers::with_keyed`]).
    pub fn v8(rounds: usize) -> Self {
        Params { keyed: true, ..Params::v7(rounds) }
    }

    /// Version 9: version 8 in far less memory (docs/FORMAT.md, "Version 9"): smaller
    /// context tables whose contexts share 4-slot groups, the order-0 table sized by the
    /// vocabulary, fewer APM contexts, smaller match tables, a bounded keyed-lines table.
    pub fn v9(rounds: usize) -> Self {
        use Kind::*;
        let p = Params::v8(rounds);
        // by replay (docs/RESULTS.md, "Session 12"): the structured contexts cost prose
        // nothing at half size, the order-2 and word contexts gain most from twice
        let ctx_shift = p
            .contexts
            .iter()
            .map(|k| match k {
                Tokens(1) | Tokens(8) | Column | Above | AboveLeft | Field | FieldAbove | NextFields => -1,
                Tokens(2) | Word => 1,
                _ => 0,
            })
            .collect();
        Params {
            slots_per_token: 4,
            max_bits: 19,
            ctx_shift,
            small_order0: true,
            ways: 4,
            apm_bits: 12,
            match_slots: 1,
            keyed_every: 16,
            ..p
        }
    }

    /// The table size (a power of two) of context `k` in a block of `n` tokens whose tree has
    /// `tree_bits` levels.
    pub fn ctx_bits(&self, k: usize, n: usize, tree_bits: u32) -> u32 {
        if self.small_order0 && self.contexts[k] == Kind::Tokens(0) {
            return (tree_bits + 2).clamp(12, 22);
        }
        let base = super::table_bits(n, self.slots_per_token, 12, self.max_bits) as i32;
        let shift = self.ctx_shift.get(k).copied().unwrap_or(0) as i32;
        (base + shift).clamp(12, 22) as u32
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
