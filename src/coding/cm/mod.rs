//! Adaptive token model, version 3: context mixing around the LM. Each token is coded as a
//! path of binary decisions ([`tree`]); at each decision a logistic mixer ([`mixer`]) weighs
//! the LM's odds for the decision against adaptive models of the block so far: hashed token
//! contexts of several orders ([`counters`]) and a match model ([`matcher`]). The mixer's
//! weights are learned online, so it trusts the LM exactly as much as the LM earns on this
//! text. A binary arithmetic coder ([`coder`]) writes the decisions.
//!
//! Encoder and decoder run the same [`ContextMix::code`]; only the closure that turns a
//! probability into a bit differs. Memory is bounded by the block's token count and capped
//! (see [`table_bits`]).

pub mod coder;
pub mod contexts;
pub mod counters;
mod dots;
pub mod fields;
pub mod huge;
mod learn;
pub mod longmatch;
pub mod matcher;
pub mod math;
pub mod mixer;
pub mod params;
pub mod pointers;
pub mod ranked;
pub mod sse;
#[cfg(test)]
mod testing;
pub mod tree;

use coder::P16;
use contexts::{Kind, Texts};
use counters::{Counters, Read, Slot, StateMap};
use longmatch::LongMatch;
use matcher::Matcher;
use mixer::Mixer;
pub use params::Params;
use sse::Sse;
use tree::{LmBits, Tree};

use super::token_model::{AdaptiveModel, TokenIo};
use crate::error::Result;

/// A position not revealed yet (no vocabulary reaches this id).
pub const UNKNOWN: u32 = u32::MAX;
/// No tree node (nodes are below 2^21).
const NO_NODE: u32 = u32::MAX;

/// Most hashed context orders.
const MAX_ORDERS: usize = 23;
/// Deepest tree the selectors distinguish (vocabularies up to 2^20).
const MAX_DEPTH: usize = 20;
/// LM odds buckets for a selector.
const LM_BUCKETS: usize = 12;
/// Kinds of previous token for a selector ([`class_of`]).
const CLASSES: usize = 7;
/// Patterns of token orders (n ≥ 1) a selector tells apart: the first six such contexts.
const MASK_SETS: usize = 64;
/// Match states: 0 none, 1 the path left the expected token, 2 length < 8, 3 longer,
/// 4 carried across a gap.
const MATCH_STATES: usize = 5;

/// 0 none, 1 a newline in it, 2 starts with a space, 3 letter, 4 digit, 5 other ASCII,
/// 6 other.
fn class_of(text: &[u8]) -> usize {
    match text.first() {
        None => 0,
        _ if text.contains(&b'\n') => 1,
        Some(b' ') => 2,
        Some(c) if c.is_ascii_alphabetic() => 3,
        Some(c) if c.is_ascii_digit() => 4,
        Some(c) if c.is_ascii() => 5,
        _ => 6,
    }
}

/// Where the LM's odds for a decision come from: the block's log-probabilities when coding,
/// recorded odds when replaying a coding (tuning).
pub trait LmOdds {
    /// ln(P(1-side) / P(0-side)) of the decision at `depth` that splits `[lo, mid) | [mid, hi)`.
    fn odds(&self, depth: u32, lo: usize, mid: usize, hi: usize) -> f32;

    /// Starts loading what the decisions below the one at `depth` over `[lo, hi)` will read
    /// (no effect on any value): asked before that decision is coded.
    #[inline]
    fn prefetch_below(&self, _depth: u32, _lo: usize, _hi: usize) {}
}

impl LmOdds for LmBits {
    #[inline]
    fn odds(&self, _depth: u32, lo: usize, mid: usize, hi: usize) -> f32 {
        self.stretch(lo, mid, hi)
    }
}

/// A table size as a power of two: `per_token` entries per token of the block, within
/// [2^min, 2^max]. The caps bound a block's memory whatever its length.
pub fn table_bits(n: usize, per_token: usize, min: u32, max: u32) -> u32 {
    let want = (n.max(1) * per_token).next_power_of_two().trailing_zeros();
    want.clamp(min, max)
}

/// Bytes a [`ContextMix`] of `n` tokens over `vocab` ids with settings `p` holds, counted from
/// the sizes [`ContextMix::new`] gives its parts: the context slots, the APMs, the match
/// tables, the per-position vectors, the mixer's weights and the history maps. What one block
/// in flight costs; the tables dominate.
pub fn model_bytes(vocab: usize, n: usize, p: &Params) -> usize {
    let bits = Tree::new(vocab, &[]).bits;
    let tables: Vec<usize> = (0..p.contexts.len()).map(|k| 4 << p.ctx_bits(k, n, bits)).collect();
    let counters = huge::footprint_together(&tables) + (4 << 12);
    let matcher = (4usize << table_bits(n, p.match_slots, 10, 22)) + n * 6;
    let long = if p.match_long > 0 { matcher + (4 << 12) } else { 0 };
    let keyed = match keyed_capacity(n, p.keyed_every) {
        // a bounded table is allocated up front: a map of that many entries (44 bytes each,
        // eight in seven buckets used at most)
        Some(cap) => (cap * 8 / 7).next_power_of_two() * pointers::KEYED_ENTRY_BYTES,
        // else about one entry (48 bytes with the map's slack) per token
        None => n * 48,
    };
    let pointers = if p.pointers { (4 << 16) + n * 8 + if p.keyed { keyed } else { 0 } } else { 0 };
    let small = 1usize << table_bits(n, 16, 8, p.apm_bits);
    let apm = |rows: usize| huge::footprint(rows * mixer::APM_ROW_BYTES);
    let states = MATCH_STATES * if p.pointers { pointers::STATES } else { 1 };
    let apms = apm(MAX_DEPTH * states)
        + apm(1 << bits.min(16))
        + if p.apm_prev { apm(small) } else { 0 }
        + if p.apm_mix { apm(small) + apm(MAX_DEPTH * sse::LM_STEPS) } else { 0 };
    // the mixer's weights and update counts, the history maps, the token tree and texts
    let (inputs, sets) = mixer_shape(p);
    let sets: usize = sets.iter().sum();
    let weights = sets * (inputs + 1) * 4 + MAX_DEPTH * (6 + 1) * 4;
    let maps = p.contexts.len() * MAX_DEPTH * 256 * 8;
    counters + matcher + long + pointers + apms + n * 4 + weights + maps + vocab * 16
}

/// The mixer's inputs and the sizes of its selectors' weight sets.
fn mixer_shape(p: &Params) -> (usize, Vec<usize>) {
    let inputs = 3 + 2 * p.contexts.len() + (p.match_long > 0) as usize + if p.pointers { pointers::N } else { 0 };
    let mut sets = vec![MAX_DEPTH * MATCH_STATES, MAX_DEPTH * (MAX_ORDERS + 1), LM_BUCKETS * 3, MAX_DEPTH * CLASSES];
    if p.sel_mask {
        sets.push(MASK_SETS * MATCH_STATES);
    }
    if p.pointers {
        sets.push(MAX_DEPTH * pointers::STATES);
    }
    (inputs, sets)
}

/// The keyed lines' table's entries for a block of `n` tokens with one per `every` tokens (0:
/// unbounded).
fn keyed_capacity(n: usize, every: usize) -> Option<usize> {
    (every > 0).then(|| (n / every).max(64))
}

pub struct ContextMix {
    p: Params,
    tree: Tree,
    texts: Texts,
    known: Vec<u32>,
    ctx: Vec<Counters>,
    /// bit k: context k is a token n-gram with n ≥ 1 (the selectors count those)
    ngram: u32,
    histories: Vec<StateMap>,
    matcher: Matcher,
    long: Option<LongMatch>,
    ptr: Option<pointers::Pointers>,
    confidence: Counters,
    mixer: Mixer,
    sse: Sse,
    prev_hash: u64,
    prev2_hash: u64,
    // per token
    hashes: [u64; MAX_ORDERS],
    active: [bool; MAX_ORDERS],
    expect: Option<(u32, u32, bool)>,
    class: usize,
    // per decision
    reads: [Read; MAX_ORDERS],
    /// the slots of node `next_node`, located and asked for when the decision before it was
    /// learned
    next_slots: [Slot; MAX_ORDERS],
    next_node: u32,
    /// the node of the decision being coded, its depth and whether the next one is in this
    /// token
    node: u32,
    depth: u32,
    more: bool,
    conf_read: Read,
    expect_bit: Option<bool>,
    /// token context instances to learn before the next token is coded
    pending: Vec<learn::Learn>,
    /// the position [`ContextMix::prepare`] began
    prepared: Option<usize>,
}

/// [`ContextMix`] fed with the LM's log-probabilities: adaptive model version 3, 4, 5 or 6, as
/// its [`Params`] say.
pub struct ContextMixModel {
    lm: LmBits,
    cm: ContextMix,
    /// the form of the LM's rows ([`ranked`])
    rows: crate::model::RowForm,
}

impl ContextMixModel {
    pub fn new(vocab: usize, n: usize, text: &[Vec<u8>], p: Params) -> Self {
        let rows = crate::model::RowForm::LogProbs;
        ContextMixModel { lm: LmBits::default(), cm: ContextMix::new(vocab, n, text, p), rows }
    }

    /// The same model fed rows of `form`.
    pub fn with_rows(self, rows: crate::model::RowForm) -> Self {
        ContextMixModel { rows, ..self }
    }
}

impl AdaptiveModel for ContextMixModel {
    fn code(&mut self, i: usize, lp: &[f32], io: &mut dyn TokenIo) -> Result<u32> {
        self.cm.prepare(i);
        let want = io.known();
        match self.rows {
            crate::model::RowForm::Ranked { depth } => {
                let odds = ranked::RankedOdds::new(lp, &self.cm.tree, depth)?;
                return self.cm.code(i, &odds, want, |bit, p| io.bit(bit, p));
            }
            crate::model::RowForm::Path => {
                let odds = ranked::PathOdds::new(lp, &self.cm.tree, want)?;
                return self.cm.code(i, &odds, want, |bit, p| io.bit(bit, p));
            }
            crate::model::RowForm::LogProbs => {}
        }
        let t = crate::coding::profile::start();
        self.lm.load(lp, &self.cm.tree, self.cm.p.v3);
        crate::coding::profile::stop(crate::coding::profile::Stage::Quantize, t);
        self.cm.code(i, &self.lm, want, |bit, p| io.bit(bit, p))
    }
}

impl ContextMix {
    /// The model of a block of `n` tokens over `vocab` ids whose texts are `text`.
    pub fn new(vocab: usize, n: usize, text: &[Vec<u8>], p: Params) -> Self {
        assert!(p.contexts.len() <= MAX_ORDERS);
        let tree_bits = Tree::new(vocab, &[]).bits;
        let k = p.contexts.len();
        let (inputs, sets) = mixer_shape(&p);
        // version 7: the first APM tells the pointers' states apart too
        let sse_states = MATCH_STATES * if p.pointers { pointers::STATES } else { 1 };
        ContextMix {
            tree: Tree::new(vocab, text),
            texts: Texts::new(vocab, text),
            known: vec![UNKNOWN; n],
            ctx: huge::Table::zeroed_together(&(0..k).map(|c| 1 << p.ctx_bits(c, n, tree_bits)).collect::<Vec<_>>())
                .into_iter()
                .map(|t| Counters::in_table(t, p.ways))
                .collect(),
            ngram: p
                .contexts
                .iter()
                .enumerate()
                .map(|(k, c)| (matches!(c, Kind::Tokens(n) if *n > 0) as u32) << k)
                .sum(),
            histories: p.contexts.iter().map(|_| StateMap::new(MAX_DEPTH)).collect(),
            matcher: Matcher::new(n, table_bits(n, p.match_slots, 10, 22)).with_gaps(p.match_gap),
            long: (p.match_long > 0).then(|| LongMatch::new(n, tree_bits, p.match_long, p.match_slots)),
            ptr: p
                .pointers
                .then(|| pointers::Pointers::new(n, tree_bits).with_keyed(p.keyed, keyed_capacity(n, p.keyed_every))),
            confidence: Counters::new(12),
            mixer: Mixer::new(inputs, &sets, MAX_DEPTH, p.mixer_rate, p.mixer_boost, &[1.0]),
            sse: Sse::new(&p, 1 << table_bits(n, 16, 8, p.apm_bits), tree_bits, MAX_DEPTH, sse_states),
            prev2_hash: 0,
            prev_hash: 0,

            hashes: [0; MAX_ORDERS],
            active: [false; MAX_ORDERS],
            expect: None,
            class: 0,
            reads: [Read::default(); MAX_ORDERS],
            next_slots: [Slot::default(); MAX_ORDERS],
            next_node: NO_NODE,
            node: 1,
            depth: 0,
            more: false,
            conf_read: Read::default(),
            expect_bit: None,
            pending: Vec::new(),
            prepared: None,
            p,
        }
    }

    /// Codes the token at position `i`, which is `want` when encoding: `io(bit, P(1))` codes
    /// one decision (writing the given bit, or reading it) and returns its bit. Returns the
    /// token.
    pub fn code(
        &mut self,
        i: usize,
        lm: &impl LmOdds,
        want: Option<u32>,
        mut io: impl FnMut(Option<bool>, P16) -> Result<bool>,
    ) -> Result<u32> {
        let want = want.map(|t| self.tree.rank(t));
        if self.prepared.take() != Some(i) {
            self.begin(i);
        }
        self.flush();
        let mut node = 1u32;
        for d in 0..self.tree.bits {
            let (lo, mid, hi) = self.tree.split(node, d);
            if mid >= hi {
                node *= 2;
                continue;
            }
            lm.prefetch_below(d, lo, hi);
            let p = self.predict(node, d, lm.odds(d, lo, mid, hi));
            let bit = io(want.map(|r| (r >> (self.tree.bits - 1 - d)) & 1 == 1), p)?;
            node = 2 * node + bit as u32;
            self.update(bit);
        }
        let tok = self.tree.id(node ^ (1 << self.tree.bits));
        self.end(i, tok);
        Ok(tok)
    }

    /// Starts coding position `i` (what [`ContextMix::code`] does first): its contexts and
    /// matches, and loading the first decision's slots. Work done between this and `code`
    /// hides the wait for memory. `code(i, …)` must come next: the match models have looked
    /// `i` up already.
    pub fn prepare(&mut self, i: usize) {
        self.begin(i);
        self.prepared = Some(i);
    }

    pub fn tree(&self) -> &Tree {
        &self.tree
    }

    fn begin(&mut self, i: usize) {
        let structured = self.p.contexts.iter().any(|k| k.structured());
        let mut lay = if structured { contexts::layout(i, &self.known, &self.texts) } else { contexts::Layout::none() };
        if self.p.contexts.contains(&Kind::NextFields) {
            lay.next_fields = pointers::next_fields(&lay, &self.known, &self.texts);
        }
        if let Some(ptr) = &mut self.ptr {
            ptr.begin(i, &self.known, &self.texts, &lay, |t| self.tree.rank(t));
        }
        for (k, &kind) in self.p.contexts.iter().enumerate() {
            self.active[k] = kind.active(i, &self.known);
            self.hashes[k] = contexts::hash(kind, i, &self.known, &self.texts, &lay);
        }
        self.prev_hash = i.checked_sub(1).map_or(UNKNOWN - 1, |j| self.known[j]) as u64;
        let t2 = i.checked_sub(2).map_or(UNKNOWN - 1, |j| self.known[j]) as u64;
        self.prev2_hash = (self.prev_hash ^ t2.wrapping_mul(0x9E37_79B9_7F4A_7C15)).rotate_left(29);
        // the first decision's slots and maps, loading while the match models search
        self.next_node = NO_NODE;
        for (k, c) in self.ctx.iter().enumerate() {
            if self.active[k] {
                c.prefetch(self.hashes[k], 1);
            }
        }
        self.sse.prefetch(1, self.prev_hash, self.prev2_hash);
        self.class = match i.checked_sub(1).map(|j| self.known[j]) {
            Some(t) if t != UNKNOWN => class_of(self.texts.of(t)),
            _ => 0,
        };
        // the match model's token, as a rank
        self.expect = self.matcher.find(i, &self.known).map(|(t, len, gap)| (self.tree.rank(t), len, gap));
        if !self.p.match_model {
            self.expect = None;
        }
        if let Some(long) = &mut self.long {
            long.begin(i, &self.known, |t| self.tree.rank(t));
        }
    }

    fn predict(&mut self, node: u32, depth: u32, lm: f32) -> P16 {
        // the slots first, in a loop of their own so that their cache misses overlap
        let located = node == self.next_node;
        for (k, c) in self.ctx.iter().enumerate() {
            if self.active[k] {
                let at = if located { self.next_slots[k] } else { c.locate(self.hashes[k], node) };
                self.reads[k] = c.read_at(at);
            }
        }
        (self.node, self.depth, self.more) = (node, depth, depth + 1 < self.tree.bits);
        // how many token n-gram contexts (n ≥ 1) have seen this decision
        let mut hit = 0;
        let mut mask = 0usize;
        let mut order = 0;
        let d = (depth as usize).min(MAX_DEPTH - 1);
        // what each history predicts, stretched all at once
        let mut hist = [0.5f32; MAX_ORDERS.next_multiple_of(8)];
        for (k, h) in self.histories.iter_mut().enumerate() {
            if self.active[k] {
                hist[k] = h.prob(d, self.reads[k].state);
            }
        }
        // (only the vectors that hold contexts: two for up to 16 of them)
        match <&mut [f32; 16]>::try_from(&mut hist[..16]) {
            Ok(first) if self.ctx.len() <= 16 => math::stretch_all(first),
            _ => math::stretch_all(&mut hist),
        }
        // the LM, the bias and two inputs per context, gathered here and handed over at once
        let mut xs = [0.0f32; 2 + 2 * MAX_ORDERS];
        (xs[0], xs[1]) = (lm, 0.5);
        let n = self.ctx.len();
        for (k, &hk) in hist.iter().enumerate().take(n) {
            if !self.active[k] {
                continue;
            }
            let r = self.reads[k];
            if self.ngram >> k & 1 == 1 {
                if r.state != 0 {
                    hit += 1;
                    mask |= 1 << order;
                }
                order += 1;
            }
            (xs[2 + 2 * k], xs[3 + 2 * k]) = (r.stretch(), hk);
        }
        let m = &mut self.mixer;
        m.clear();
        m.add_all(&xs[..2 + 2 * n]);
        // the match model speaks while the path still leads to its token
        self.expect_bit = None;
        let mut mstate = 0;
        if let Some((tok, len, gap)) = self.expect {
            let full = tok | (1 << self.tree.bits);
            if full >> (self.tree.bits - depth) == node {
                let eb = (tok >> (self.tree.bits - 1 - depth)) & 1 == 1;
                self.expect_bit = Some(eb);
                let bucket = len.min(15) as u64 + 16 * gap as u64;
                self.conf_read = self.confidence.read(bucket * 32 + depth as u64, 0);
                let s = self.conf_read.stretch();
                m.add(if eb { s } else { -s });
                mstate = if gap {
                    4
                } else if len < 8 {
                    2
                } else {
                    3
                };
            } else {
                m.add(0.0);
                mstate = 1;
            }
        } else {
            m.add(0.0);
        }
        if let Some(long) = &mut self.long {
            m.add(long.input(node, depth));
        }
        if let Some(ptr) = &mut self.ptr {
            ptr.inputs(m, node, depth);
        }
        self.mix_and_refine(node, d, lm, mstate, (hit, mask))
    }

    /// The decision's P(1) from the inputs added: the weight sets the selectors choose for
    /// (depth `d`, match state, the orders seen as a count and a mask), mixed, then the APMs.
    fn mix_and_refine(&mut self, node: u32, d: usize, lm: f32, mstate: usize, (hit, mask): (usize, usize)) -> P16 {
        let lmb = (((lm + tree::CLIP) / (2.0 * tree::CLIP) * (LM_BUCKETS as f32 - 0.01)) as usize).min(LM_BUCKETS - 1);
        let mut sel = [
            d * MATCH_STATES + mstate,
            d * (MAX_ORDERS + 1) + hit,
            lmb * 3 + hit.min(2),
            d * CLASSES + self.class,
            (mask & (MASK_SETS - 1)) * MATCH_STATES + mstate,
            0,
        ];
        let mut sets = 4 + self.p.sel_mask as usize;
        if let Some(ptr) = &self.ptr {
            sel[sets] = d * pointers::STATES + ptr.on;
            sets += 1;
        }
        let sstate = self.ptr.as_ref().map_or(mstate, |ptr| mstate * pointers::STATES + ptr.on);
        let decision =
            sse::Decision { depth: d, mstate: sstate, node, prev: self.prev_hash, prev2: self.prev2_hash, lm };
        self.sse.prefetch_rows(&decision);
        let pm = self.mixer.mix(&sel[..sets], d);
        let p = self.sse.refine(pm, &decision);
        ((p * 65536.0) as u32).clamp(1, 65535)
    }

    /// Locates the slots of the decision at `next` (at `depth`) and asks for them, its APM
    /// curves and its pointers' confidences (no effect on any value).
    fn ask(&mut self, next: u32, depth: u32) {
        self.next_node = next;
        for (k, c) in self.ctx.iter().enumerate() {
            if self.active[k] {
                self.next_slots[k] = c.locate(self.hashes[k], next);
                c.prefetch_at(self.next_slots[k]);
            }
        }
        self.sse.prefetch(next, self.prev_hash, self.prev2_hash);
        if let Some(ptr) = &self.ptr {
            ptr.prefetch(next, depth);
        }
    }

    /// Learns the decision's `bit`.
    fn update(&mut self, bit: bool) {
        // the next decision's slots and maps first: they load while this one is learned
        self.next_node = NO_NODE;
        if self.more {
            self.ask(2 * self.node + bit as u32, self.depth + 1);
        }
        for (k, c) in self.ctx.iter_mut().enumerate() {
            if self.active[k] {
                c.update(&self.reads[k], bit);
                self.histories[k].update(bit);
            }
        }
        if let Some(eb) = self.expect_bit {
            self.confidence.update(&self.conf_read, bit == eb);
        }
        if let Some(long) = &mut self.long {
            long.update(bit);
        }
        if let Some(ptr) = &mut self.ptr {
            ptr.update(bit);
        }
        self.mixer.update(bit);
        self.sse.update(bit);
    }

    fn end(&mut self, i: usize, tok: u32) {
        self.known[i] = tok;
        if let Some(ptr) = &mut self.ptr {
            ptr.learn(i, self.tree.rank(tok));
        }
        self.matcher.learn(i, &self.known);
        if let Some(long) = &mut self.long {
            long.learn(i, &self.known);
        }
        if !self.p.v3 {
            self.complete(i);
        }
    }
}
