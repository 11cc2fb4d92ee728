//! Pointers into the line above (version 7): each names one token of the previous line as
//! the token expected here, and speaks like the match model (towards the expected token's
//! bits while the path leads to it) with a confidence learned by the pointer, the previous
//! token and the run of right guesses, not by the expected token itself. A hashed context
//! that includes the token above has to learn each value anew (a package name seen for the
//! first time); a pointer is trusted from the first line where its kind of place was right.
//!
//! The pointers: the start of the next field of the line above and the start of the same
//! field (a line whose fields shift by one against the line above, as log lines of another
//! action do), and the token after the one a pointer got right (the rest of that value).

use super::contexts::{Layout, Texts};
use super::counters::{Counters, Read};
use super::fields::is_separator;
use super::UNKNOWN;

/// Pointers: 0 the continuation, 1 the next field's start above, 2 this field's start above.
pub const N: usize = 3;

/// Longest run of right guesses the confidence tells apart.
const RUNS: u32 = 15;

#[derive(Clone, Copy)]
struct Expect {
    /// the expected token's rank
    rank: u32,
    /// where it is
    at: usize,
    /// right guesses in a row that led here
    run: u32,
}

pub struct Pointers {
    confidence: Counters,
    bits: u32,
    expect: [Option<Expect>; N],
    /// per position: the continuation there (token index + 1, run; 0 for none). Lanes of a
    /// plan interleave, so it is kept by position rather than for the next token coded.
    next: Vec<(u32, u32)>,
    /// per pointer: the hash of its confidence context (without the depth)
    ctx: [u64; N],
    reads: [Read; N],
    expect_bit: [Option<bool>; N],
    /// bit k: pointer k still leads to its token at this decision
    pub on: usize,
}

/// Mixer weight sets [`Pointers::on`] selects per depth.
pub const STATES: usize = 1 << N;

#[inline]
fn fold(h: u64, x: u64) -> u64 {
    (h ^ x).wrapping_mul(0x9E37_79B9_7F4A_7C15).rotate_left(23)
}

impl Pointers {
    /// For a block of `n` tokens and a tree of `bits` levels.
    pub fn new(n: usize, bits: u32) -> Self {
        Pointers {
            confidence: Counters::new(16),
            bits,
            expect: [None; N],
            next: vec![(0, 0); n],
            ctx: [0; N],
            reads: [Read::default(); N],
            expect_bit: [None; N],
            on: 0,
        }
    }

    /// Before coding position `i`, whose layout is `lay`: the expected tokens; `rank` maps a
    /// token to its rank.
    pub fn begin(&mut self, i: usize, known: &[u32], texts: &Texts, lay: &Layout, rank: impl Fn(u32) -> u32) {
        let prev = i.checked_sub(1).map_or(UNKNOWN - 1, |j| known[j]) as u64;
        let at = |j: usize, run: u32| (known[j] != UNKNOWN).then(|| Expect { rank: rank(known[j]), at: j, run });
        self.expect = [None; N];
        let (j, run) = self.next[i];
        if j > 0 && (j as usize) <= i {
            self.expect[0] = at(j as usize - 1, run);
        }
        if let (Some((f, _)), Some((start, end))) = (lay.field, lay.above_line) {
            for (k, df) in [(1, 1), (2, 0)] {
                if let Some(j) = field_start(f + df, start, end, known, texts) {
                    self.expect[k] = at(j, 0);
                }
            }
        }
        let f = lay.field.map_or(31, |(f, _)| f.min(30)) as u64;
        for (k, e) in self.expect.iter().enumerate() {
            let run = e.map_or(0, |e| e.run.min(RUNS)) as u64;
            self.ctx[k] = fold(fold(fold((k as u64 + 1) << 40, prev), run), if k == 0 { 0 } else { f });
        }
    }

    /// The input of pointer `k` for the decision at `node`, `depth`: the stretched confidence
    /// towards its expected bit while the path still leads to its token, else 0.
    #[inline]
    pub fn input(&mut self, k: usize, node: u32, depth: u32) -> f32 {
        self.expect_bit[k] = None;
        if k == 0 {
            self.on = 0;
        }
        let Some(e) = self.expect[k] else { return 0.0 };
        if (e.rank | (1 << self.bits)) >> (self.bits - depth) != node {
            return 0.0;
        }
        self.on |= 1 << k;
        let eb = (e.rank >> (self.bits - 1 - depth)) & 1 == 1;
        self.expect_bit[k] = Some(eb);
        self.reads[k] = self.confidence.read(self.ctx[k], depth);
        let s = self.reads[k].stretch();
        if eb {
            s
        } else {
            -s
        }
    }

    pub fn update(&mut self, bit: bool) {
        for k in 0..N {
            if let Some(eb) = self.expect_bit[k] {
                self.confidence.update(&self.reads[k], bit == eb);
            }
        }
    }

    /// After coding position `i`, a token of rank `rank`: the first pointer that expected it
    /// continues at position `i + 1` with the token after its own.
    pub fn learn(&mut self, i: usize, rank: u32) {
        if let (Some(e), Some(next)) = (self.expect.iter().flatten().find(|e| e.rank == rank), self.next.get_mut(i + 1)) {
            *next = (e.at as u32 + 2, e.run + 1);
        }
    }
}

/// The token holding the first byte of field `field` (fields counted from 0 by separators)
/// of the line from `start` (token, byte offset) to `end` (token, byte offset of its
/// newline); `None` where the line has no such byte.
pub fn field_start(field: u32, start: (usize, usize), end: (usize, usize), known: &[u32], texts: &Texts) -> Option<usize> {
    let mut seps = 0u32;
    for (k, &tok) in known.iter().enumerate().take(end.0 + 1).skip(start.0) {
        let t = texts.of(tok);
        let from = if k == start.0 { start.1 } else { 0 };
        let to = if k == end.0 { end.1 } else { t.len() };
        for &b in &t[from..to.max(from)] {
            if is_separator(b) {
                seps += 1;
                if seps > field {
                    return None;
                }
            } else if seps == field {
                return Some(k);
            }
        }
    }
    None
}

/// The hash of the tokens starting the next two fields in the line above
/// ([`Layout::next_fields`]): the two after the current one, or where the current one has
/// not begun yet (a separator just passed), it and the one after.
pub fn next_fields(lay: &Layout, known: &[u32], texts: &Texts) -> Option<u64> {
    let ((mut f, _), (start, end)) = (lay.field?, lay.above_line?);
    if lay.inside_len == 0 {
        f = f.wrapping_sub(1);
    }
    let tok = |g| field_start(g, start, end, known, texts).map_or(UNKNOWN as u64 + 1, |j| known[j] as u64);
    Some(fold(fold(0x5A5A, tok(f.wrapping_add(1))), tok(f.wrapping_add(2))))
}
