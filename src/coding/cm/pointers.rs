//! Pointers into the line above (version 7): each names one token of the previous line as
//! the token expected here, and speaks like the match model (towards the expected token's
//! bits while the path leads to it) with a confidence learned by the pointer, the previous
//! token and the run of right guesses, not by the expected token itself. A hashed context
//! that includes the token above has to learn each value anew (a package name seen for the
//! first time); a pointer is trusted from the first line where its kind of place was right.
//!
//! The pointers: the start of the next field of the line above and the start of the same
//! field (a line whose fields shift by one against the line above, as log lines of another
//! action do), the same two of the line before that (lines of two kinds taking turns), and
//! the token after the one a pointer got right (the rest of that value).

use super::contexts::{line_start, Layout, Texts};
use super::counters::{Counters, Read};
use super::fields::is_separator;
use super::UNKNOWN;

/// Pointers: 0 the continuation, 1 the next field's start above, 2 this field's start above,
/// 3 and 4 the same two in the line before the line above.
pub const N: usize = 5;

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
    /// tuning only ([`Pointers::with_keyed`]): (field, value) -> the last line with that
    /// value in that field
    keyed: Option<std::collections::HashMap<u64, Span>>,
    /// the most entries `keyed` takes (allocated up front), if bounded
    keyed_cap: Option<usize>,
    /// the field whose value found the keyed line, + 1 (0: none)
    key_field: u64,
}

/// A line: its start (token, byte offset) and its newline (token, byte offset).
type Span = ((usize, usize), (usize, usize));

/// Bytes per bucket of the keyed lines' map: an entry and its control byte.
pub const KEYED_ENTRY_BYTES: usize = std::mem::size_of::<(u64, Span)>() + 1;

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
            keyed: None,
            keyed_cap: None,
            key_field: 0,
        }
    }

    /// Tuning only (no version uses it yet; docs/RESULTS.md, "Session 11"): pointers 3 and 4
    /// look into the *keyed line* where there is one instead of the line before the line
    /// above: the last line whose value in the nearest field that differs from the line
    /// above's is this line's (a package's earlier line, which wrote the version its
    /// `configure` line repeats). One entry per distinct (field, value), or with `cap` at most
    /// `cap` entries, allocated up front: once full, only values already entered move on to
    /// later lines.
    pub fn with_keyed(mut self, on: bool, cap: Option<usize>) -> Self {
        self.keyed =
            on.then(|| cap.map_or_else(std::collections::HashMap::new, std::collections::HashMap::with_capacity));
        self.keyed_cap = cap;
        self
    }

    /// The keyed line for position `i` at the start of a field (and, at a line's start, the
    /// line above entered under each of its fields' values).
    fn keyed_line(&mut self, i: usize, known: &[u32], texts: &Texts, lay: &Layout) -> Option<Span> {
        let (Some((f, _)), Some((start, end)), 0) = (lay.field, lay.above_line, lay.inside_len) else { return None };
        let table = self.keyed.as_mut()?;
        if f == 0 {
            for g in 0..64u32 {
                let Some((v, _)) = field_value(g, start, end, known, texts) else { break };
                let key = fold(v, g as u64);
                if self.keyed_cap.is_none_or(|cap| table.len() < cap) || table.contains_key(&key) {
                    table.insert(key, (start, end));
                }
            }
            return None;
        }
        let cur = ((end.0, end.1 + 1), (i - 1, texts.of(known[i - 1]).len()));
        // at most 8 fields back: each look is a walk over two lines
        for g in (f.saturating_sub(8)..f).rev() {
            let (Some((v, _)), above) =
                (field_value(g, cur.0, cur.1, known, texts), field_value(g, start, end, known, texts))
            else {
                continue;
            };
            if above.map(|a| a.0) != Some(v) {
                self.key_field = g as u64 + 1;
                return table.get(&fold(v, g as u64)).copied();
            }
        }
        None
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
        // tuning only (no version uses it): pointers 3 and 4 into the keyed line where there is one
        if self.keyed.is_some() {
            self.key_field = 0;
            if let (Some((f, _)), Some(span)) = (lay.field, self.keyed_line(i, known, texts, lay)) {
                for (k, df) in [(3, 1), (4, 0)] {
                    if let Some(j) = field_start(f + df, span.0, span.1, known, texts) {
                        self.expect[k] = at(j, 0);
                    }
                }
            }
        }
        // the line before the line above: its newline is the byte before the line above
        if let (Some((f, _)), Some((start, _)), true) =
            (lay.field, lay.above_line, self.expect[3].is_none() && self.expect[4].is_none())
        {
            let end = (start.0, start.1.wrapping_sub(1));
            if let Some((a, b, _)) = (start.1 > 0).then(|| line_start(end.0, end.1, known, texts)).flatten() {
                for (k, df) in [(3, 1), (4, 0)] {
                    if let Some(j) = field_start(f + df, (a, b), end, known, texts) {
                        self.expect[k] = at(j, 0);
                    }
                }
            }
        }
        let f = lay.field.map_or(31, |(f, _)| f.min(30)) as u64;
        for (k, e) in self.expect.iter().enumerate() {
            let run = e.map_or(0, |e| e.run.min(RUNS)) as u64;
            self.ctx[k] = fold(fold(fold((k as u64 + 1) << 40, prev), run), if k == 0 { 0 } else { f });
            if k >= 3 && self.key_field > 0 {
                self.ctx[k] = fold(self.ctx[k], self.key_field << 8);
            }
        }
    }

    /// Each pointer's input for the decision at `node`, `depth`, into `m`.
    #[inline]
    pub fn inputs(&mut self, m: &mut super::mixer::Mixer, node: u32, depth: u32) {
        for k in 0..N {
            m.add(self.input(k, node, depth));
        }
    }

    /// The input of pointer `k` for the decision at `node`, `depth`: the stretched confidence
    /// towards its expected bit while the path still leads to its token, else 0.
    #[inline]
    fn input(&mut self, k: usize, node: u32, depth: u32) -> f32 {
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

    /// Starts loading the confidence of each pointer that still leads to its token at the
    /// decision at `node`, `depth` (the next one, asked for while this one is learned); no
    /// effect on any value.
    #[inline]
    pub fn prefetch(&self, node: u32, depth: u32) {
        for (k, e) in self.expect.iter().enumerate() {
            if let Some(e) = e {
                if (e.rank | (1 << self.bits)) >> (self.bits - depth) == node {
                    self.confidence.prefetch(self.ctx[k], depth);
                }
            }
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
        if let (Some(e), Some(next)) = (self.expect.iter().flatten().find(|e| e.rank == rank), self.next.get_mut(i + 1))
        {
            *next = (e.at as u32 + 2, e.run + 1);
        }
    }
}

/// The token holding the first byte of field `field` (fields counted from 0 by separators)
/// of the line from `start` (token, byte offset) to `end` (token, byte offset of its
/// newline); `None` where the line has no such byte.
pub fn field_start(
    field: u32,
    start: (usize, usize),
    end: (usize, usize),
    known: &[u32],
    texts: &Texts,
) -> Option<usize> {
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

/// The hash of field `field`'s bytes in the line from `start` to `end` (as [`field_start`])
/// and the token holding its first byte; `None` for an empty or missing field.
fn field_value(
    field: u32,
    start: (usize, usize),
    end: (usize, usize),
    known: &[u32],
    texts: &Texts,
) -> Option<(u64, usize)> {
    let (mut seps, mut h, mut first) = (0u32, 0x3C3Cu64, None);
    for (k, &tok) in known.iter().enumerate().take(end.0 + 1).skip(start.0) {
        let t = texts.of(tok);
        let from = if k == start.0 { start.1 } else { 0 };
        let to = if k == end.0 { end.1 } else { t.len() };
        for &b in &t[from.min(to)..to] {
            if is_separator(b) {
                seps += 1;
                if seps > field {
                    return first.map(|f| (h, f));
                }
            } else if seps == field {
                first.get_or_insert(k);
                h = fold(h, b as u64);
            }
        }
    }
    first.map(|f| (h, f))
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::coding::cm::testing::cost;
    use crate::coding::cm::Params;
    use rand::{Rng, SeedableRng};

    /// Log lines in pairs: "act <value>" then "act state <value>": the value is new each pair
    /// (one of 2000, so no context has seen it), and the second line has it one field further
    /// than the first. A pointer to the next field of the line above is right from the first
    /// pairs on; contexts that hash the token above must learn each value anew.
    #[test]
    fn a_pointer_follows_a_new_value_into_the_next_line() {
        // ids: 0 "\n", 1 " act", 2 " state", 3.. " v<k>"
        let mut text: Vec<Vec<u8>> = vec![b"\n".to_vec(), b" act".to_vec(), b" state".to_vec()];
        text.extend((0..2000).map(|k| format!(" v{k}").into_bytes()));
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(3);
        let mut tokens = Vec::new();
        for _ in 0..500 {
            let value = rng.random_range(3..2003);
            tokens.extend([1, value, 0, 1, 2, value, 0]);
        }
        let (v6, v7) = (cost(Params::v6(1), &text, &tokens), cost(Params::v7(1), &text, &tokens));
        assert!(v7 < 0.8 * v6, "v6 {v6:.0} bits, v7 {v7:.0} bits");
    }

    /// A package log as a table: each package is installed with a version no context has
    /// seen (two lines), and later, in another order, configured with that version. Version
    /// 8's keyed line is the package's earlier line, whose next field is the version.
    #[test]
    fn the_keyed_line_brings_back_a_package_s_version() {
        // ids: 0 "\n", 1 ",", 2 "install", 3 "unpacked", 4 "configure", 5.. names, 405.. versions
        let mut text: Vec<Vec<u8>> = ["\n", ",", "install", "unpacked", "configure"].map(|s| s.into()).to_vec();
        text.extend((0..400).map(|k| format!("pkg{k}").into_bytes()));
        text.extend((0..2000).map(|k| format!("1.{k}").into_bytes()));
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(8);
        let packages: Vec<(u32, u32)> = (0..300).map(|k| (5 + k, rng.random_range(405..2405))).collect();
        let mut tokens = Vec::new();
        for &(name, version) in &packages {
            tokens.extend([2, 1, name, 1, 1, version, 0, 3, 1, name, 1, 1, version, 0]);
        }
        let mut order: Vec<usize> = (0..packages.len()).collect();
        for k in (1..order.len()).rev() {
            order.swap(k, rng.random_range(0..=k));
        }
        for &k in &order {
            tokens.extend([4, 1, packages[k].0, 1, packages[k].1, 1, 0]);
        }
        let (v7, v8) = (cost(Params::v7(1), &text, &tokens), cost(Params::v8(1), &text, &tokens));
        assert!(v8 < 0.9 * v7, "v7 {v7:.0} bits, v8 {v8:.0} bits");
    }

    #[test]
    fn the_token_starting_a_field() {
        // ids: 0 "ab", 1 ",", 2 ",c", 3 "d\n"; the line "ab,,cd"
        let text: Vec<Vec<u8>> = ["ab", ",", ",c", "d\n"].iter().map(|s| s.as_bytes().to_vec()).collect();
        let texts = Texts::new(4, &text);
        let known = [0, 1, 2, 3];
        let at = |g| field_start(g, (0, 0), (3, 1), &known, &texts);
        assert_eq!(at(0), Some(0));
        assert_eq!(at(1), None, "field 1 is empty");
        assert_eq!(at(2), Some(2), "the c of \",c\" begins field 2");
        assert_eq!(at(3), None, "three fields");
        assert_eq!(
            field_start(1, (2, 1), (3, 1), &known, &texts),
            None,
            "a line starting inside a token: \"cd\" has one field"
        );
        assert_eq!(field_start(0, (2, 1), (3, 1), &known, &texts), Some(2));
    }
}
