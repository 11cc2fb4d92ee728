//! The contexts of the hashed models, each a 64-bit hash computed once per token from the
//! tokens known so far (and their text): token n-grams, the last bytes, and for structured
//! text the column, the token above in the previous line and the word being spelt. Unknown
//! tokens (not revealed yet by the plan) enter the hash as a marker, so every context is a
//! function of what the decoder knows too.

use super::fields::{is_separator, token_at_field};
use super::UNKNOWN;

/// What a hashed context looks at.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// the previous n tokens (0: none, the tree node alone)
    Tokens(usize),
    /// the previous n bytes of text
    Bytes(usize),
    /// the column (bytes since the line began) and the previous token
    Column,
    /// the token of the previous line at this column, and the column
    Above,
    /// the token above and the previous token
    AboveLeft,
    /// the letters and digits since the last other byte, and the previous token
    Word,
    /// the field of the line (separators since the line began: comma, tab, semicolon, bar,
    /// space) and the bytes since the field began
    Field,
    /// the token of the line above at the same place of the same field, and the field
    FieldAbove,
    /// the starts of the next two fields of the line above, the field and the bytes since
    /// it began (what the next field will be, from the line above)
    NextFields,
    /// the tokens on both sides (only where the plan revealed the next token already)
    Between,
    /// tokens i−2 … i−n, where the previous token is not revealed yet (later rounds' gaps)
    Skip(usize),
    /// where the previous token is not revealed yet: the n nearest revealed tokens on the
    /// left and their distances
    Near(usize),
    /// the l tokens on the left and the r on the right (only where those on the right are
    /// revealed already)
    Sides(usize, usize),
}

impl Kind {
    /// Whether the context exists at `i`: the two-sided one needs the next token.
    pub fn active(self, i: usize, known: &[u32]) -> bool {
        match self {
            Kind::Between => known.get(i + 1).is_some_and(|&t| t != UNKNOWN),
            Kind::Sides(_, r) => (1..=r).all(|k| known.get(i + k).is_some_and(|&t| t != UNKNOWN)),
            Kind::Skip(_) | Kind::Near(_) => i > 0 && known[i - 1] == UNKNOWN,
            _ => true,
        }
    }

    /// Whether the context needs the line's layout ([`layout`]).
    pub fn structured(self) -> bool {
        matches!(
            self,
            Kind::Column
                | Kind::Above
                | Kind::AboveLeft
                | Kind::Word
                | Kind::Field
                | Kind::FieldAbove
                | Kind::NextFields
        )
    }

    /// How far before and after `i` a context made only of tokens looks; `None` for
    /// contexts that look at text (they are learned only when coding).
    pub fn token_span(self) -> Option<(usize, usize)> {
        match self {
            Kind::Tokens(n) | Kind::Skip(n) => Some((n, 0)),
            Kind::Between => Some((1, 1)),
            Kind::Sides(l, r) => Some((l, r)),
            _ => None,
        }
    }

    /// Whether the token context at `i` looks at position `j`.
    pub fn uses(self, i: usize, j: usize) -> bool {
        match self {
            Kind::Tokens(n) => j < i && i - j <= n,
            Kind::Skip(n) => j + 1 < i && i - j <= n,
            Kind::Between => j + 1 == i || j == i + 1,
            Kind::Sides(l, r) => (j < i && i - j <= l) || (j > i && j - i <= r),
            _ => false,
        }
    }
}

/// Each token's text, packed.
pub struct Texts {
    start: Vec<u32>,
    bytes: Vec<u8>,
}

impl Texts {
    pub fn new(vocab: usize, text: &[Vec<u8>]) -> Self {
        let mut t = Texts { start: Vec::with_capacity(vocab + 1), bytes: Vec::new() };
        for id in 0..vocab {
            t.start.push(t.bytes.len() as u32);
            t.bytes.extend_from_slice(text.get(id).map_or(&[][..], |x| &x[..]));
        }
        t.start.push(t.bytes.len() as u32);
        t
    }

    #[inline]
    pub fn of(&self, id: u32) -> &[u8] {
        let id = id as usize;
        &self.bytes[self.start[id] as usize..self.start[id + 1] as usize]
    }
}

#[inline]
fn fold(h: u64, x: u64) -> u64 {
    (h ^ x).wrapping_mul(0x9E37_79B9_7F4A_7C15).rotate_left(23)
}

/// How far back [`Kind::Near`] looks for a revealed token.
const NEAR_MAX: usize = 16;

/// Tokens looked at backwards at most (long lines get no column or above context).
const MAX_WALK: usize = 400;

/// What the structured contexts need at one position, from one walk backwards.
pub struct Layout {
    /// bytes since the line began (None: an unknown token or the walk limit came first)
    pub column: Option<u32>,
    /// the token of the previous line covering this column (UNKNOWN past its end)
    pub above: Option<u32>,
    /// hash of the letters and digits just before the position
    pub word: u64,
    /// separators since the line began and the hash of the bytes since the last one (None
    /// where the column is)
    pub field: Option<(u32, u64)>,
    /// the token of the previous line at the same place of the same field (UNKNOWN where
    /// that line has fewer fields or a shorter one)
    pub field_above: Option<u32>,
    /// bytes since the field began (with `field`)
    pub inside_len: u32,
    /// the hash of the tokens starting the next two fields of the line above (filled in by the
    /// caller where a context needs it)
    pub next_fields: Option<u64>,
    /// the previous line: its start (token, byte offset) and its newline (token, byte offset)
    pub above_line: Option<((usize, usize), (usize, usize))>,
}

impl Layout {
    /// Nothing known (contexts that need no layout).
    pub fn none() -> Self {
        Layout {
            column: None,
            above: None,
            word: 0,
            field: None,
            field_above: None,
            inside_len: 0,
            next_fields: None,
            above_line: None,
        }
    }
}

pub fn layout(i: usize, known: &[u32], texts: &Texts) -> Layout {
    let mut out = Layout { word: word_before(i, known, texts), ..Layout::none() };
    // separators seen walking back, and the field's bytes until the first of them
    let (mut seps, mut inside, mut inside_len, mut open) = (0u32, 0u64, 0u32, true);
    let mut scan = |bytes: &[u8]| {
        for &b in bytes.iter().rev() {
            if is_separator(b) {
                seps += 1;
                open = false;
            } else if open {
                inside = fold(inside, b as u64);
                inside_len += 1;
            }
        }
    };
    // back to the end of the previous line: `col` bytes after it
    let mut col = 0u32;
    let mut j = i;
    let mut nl: Option<(usize, usize)> = None; // (token, byte offset of the newline in it)
    while j > 0 && i - j < MAX_WALK {
        j -= 1;
        if known[j] == UNKNOWN {
            return out;
        }
        let t = texts.of(known[j]);
        if let Some(k) = t.iter().rposition(|&b| b == b'\n') {
            col += (t.len() - 1 - k) as u32;
            scan(&t[k + 1..]);
            nl = Some((j, k));
            break;
        }
        scan(t);
        col += t.len() as u32;
    }
    let field = (seps, inside);
    let Some((nj, nk)) = nl else {
        if j == 0 && i - j < MAX_WALK {
            out.column = Some(col); // the block's first line
            out.field = Some(field);
        }
        return out;
    };
    out.column = Some(col);
    out.field = Some(field);
    out.inside_len = inside_len;
    let Some((start_tok, start_off, len)) = line_start(nj, nk, known, texts) else {
        return out;
    };
    out.above_line = Some(((start_tok, start_off), (nj, nk)));
    out.field_above = Some(token_at_field(field.0, inside_len, (start_tok, start_off), (nj, nk), known, texts));
    if col >= len {
        out.above = Some(UNKNOWN);
        return out;
    }
    out.above = token_at_column(col, (start_tok, start_off), nj, known, texts);
    out
}

/// The hash of the letters and digits just before `i`: bytes back to the first
/// non-alphanumeric.
fn word_before(i: usize, known: &[u32], texts: &Texts) -> u64 {
    let mut word = 0u64;
    'w: for j in (i.saturating_sub(16)..i).rev() {
        if known[j] == UNKNOWN {
            break;
        }
        for &b in texts.of(known[j]).iter().rev() {
            if !b.is_ascii_alphanumeric() && b < 0x80 {
                break 'w;
            }
            word = fold(word, b as u64);
        }
    }
    word
}

/// Where the line that ends at byte `nk` of token `nj` starts: (token, byte offset in it,
/// the line's length in bytes). `None` where an unknown token or the walk limit comes first.
pub fn line_start(nj: usize, nk: usize, known: &[u32], texts: &Texts) -> Option<(usize, usize, u32)> {
    let mut len = nk as u32; // bytes of the previous line inside token nj, before the newline
    let prev_nl = texts.of(known[nj])[..nk].iter().rposition(|&b| b == b'\n');
    let (mut start_tok, mut start_off) = (nj, prev_nl.map_or(0, |k| k + 1));
    if prev_nl.is_some() {
        len -= start_off as u32;
    } else {
        let mut k = nj;
        loop {
            if k == 0 {
                start_tok = 0;
                start_off = 0;
                break;
            }
            k -= 1;
            if known[k] == UNKNOWN || nj - k > MAX_WALK {
                return None;
            }
            let t = texts.of(known[k]);
            if let Some(p) = t.iter().rposition(|&b| b == b'\n') {
                start_tok = k;
                start_off = p + 1;
                len += (t.len() - p - 1) as u32;
                break;
            }
            len += t.len() as u32;
        }
    }
    Some((start_tok, start_off, len))
}

/// The token covering column `col` of the line starting at `start` (token, byte offset),
/// walking forward no further than token `last`.
fn token_at_column(col: u32, start: (usize, usize), last: usize, known: &[u32], texts: &Texts) -> Option<u32> {
    let (start_tok, start_off) = start;
    let mut at = 0u32;
    for (k, &tok) in known.iter().enumerate().take(last + 1).skip(start_tok) {
        let t = texts.of(tok);
        let from = if k == start_tok { start_off } else { 0 };
        let n = (t.len() - from) as u32;
        if at + n > col {
            return Some(tok);
        }
        at += n;
    }
    None
}

/// The hash of context `kind` at position `i`.
pub fn hash(kind: Kind, i: usize, known: &[u32], texts: &Texts, lay: &Layout) -> u64 {
    let tok = |n: usize| if i >= n { known[i - n] } else { UNKNOWN - 1 };
    let base = match kind {
        Kind::Tokens(n) => n as u64,
        Kind::Bytes(n) => 0x100 + n as u64,
        Kind::Column => 0x200,
        Kind::Above => 0x300,
        Kind::AboveLeft => 0x400,
        Kind::Word => 0x500,
        Kind::Field => 0xB00,
        Kind::FieldAbove => 0xC00,
        Kind::NextFields => 0xD00,
        Kind::Between => 0x600,
        Kind::Skip(n) => 0x700 + n as u64,
        Kind::Near(n) => 0x800 + n as u64,
        Kind::Sides(l, r) => 0xA00 + 16 * l as u64 + r as u64,
    };
    let mut h = (base + 1).wrapping_mul(0xD6E8_FEB8_6659_FD93);
    match kind {
        Kind::Tokens(n) => {
            for j in 1..=n {
                h = fold(h, tok(j) as u64);
            }
        }
        Kind::Bytes(n) => {
            let mut left = n;
            'b: for j in (i.saturating_sub(n)..i).rev() {
                if known[j] == UNKNOWN {
                    h = fold(h, 0x1_0000);
                    break;
                }
                for &b in texts.of(known[j]).iter().rev() {
                    if left == 0 {
                        break 'b;
                    }
                    h = fold(h, b as u64);
                    left -= 1;
                }
            }
        }
        Kind::Column => {
            h = fold(h, lay.column.map_or(0xFFFF, |c| c.min(1000)) as u64);
            h = fold(h, tok(1) as u64);
        }
        Kind::Above => {
            h = fold(h, lay.above.map_or(0x1_0000_0000, |t| t as u64));
            h = fold(h, lay.column.map_or(0xFFFF, |c| c.min(1000)) as u64);
        }
        Kind::AboveLeft => {
            h = fold(h, lay.above.map_or(0x1_0000_0000, |t| t as u64));
            h = fold(h, tok(1) as u64);
        }
        Kind::Word => {
            h = fold(h, lay.word);
            h = fold(h, tok(1) as u64);
        }
        Kind::Field => {
            let (seps, inside) = lay.field.map_or((0xFFFF, 0), |(f, x)| (f.min(1000), x));
            h = fold(fold(h, seps as u64), inside);
        }
        Kind::FieldAbove => {
            h = fold(h, lay.field_above.map_or(0x1_0000_0000, |t| t as u64));
            h = fold(h, lay.field.map_or(u32::MAX, |f| f.0.min(1000)) as u64);
        }
        Kind::NextFields => {
            h = fold(h, lay.next_fields.unwrap_or(1));
            h = fold(h, lay.field.map_or(u32::MAX, |f| f.0.min(1000)) as u64);
            h = fold(h, lay.inside_len.min(64) as u64);
        }
        Kind::Skip(n) => {
            for j in 2..=n {
                h = fold(h, tok(j) as u64);
            }
        }
        Kind::Near(n) => {
            let mut left = n;
            for d in 2..=NEAR_MAX.min(i) {
                if left == 0 {
                    break;
                }
                if known[i - d] != UNKNOWN {
                    h = fold(fold(h, d as u64), known[i - d] as u64);
                    left -= 1;
                }
            }
        }
        Kind::Sides(l, r) => {
            for j in 1..=l {
                h = fold(h, tok(j) as u64);
            }
            for k in 1..=r {
                h = fold(h, known.get(i + k).map_or(UNKNOWN - 1, |&t| t) as u64);
            }
        }
        Kind::Between => {
            h = fold(h, tok(1) as u64);
            h = fold(h, known.get(i + 1).map_or(UNKNOWN - 1, |&t| t) as u64);
        }
    }
    h
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn column_and_token_above() {
        // ids: 0 "ab", 1 "c\n", 2 "x", 3 "yz", 4 "\n"
        let text: Vec<Vec<u8>> = ["ab", "c\n", "x", "yz", "\n"].iter().map(|s| s.as_bytes().to_vec()).collect();
        let texts = Texts::new(5, &text);
        // "ab" "c\n" | "x" "yz" "\n" | "x" ? : line 2 is "xyz", line 3 so far "x"
        let known = [0, 1, 2, 3, 4, 2, UNKNOWN];
        let l = layout(6, &known, &texts);
        assert_eq!(l.column, Some(1));
        assert_eq!(l.above, Some(3), "column 1 of \"xyz\" is in \"yz\"");
        let l = layout(2, &known, &texts);
        assert_eq!((l.column, l.above), (Some(0), Some(0)));
        let l = layout(4, &known, &texts);
        assert_eq!((l.column, l.above), (Some(3), Some(UNKNOWN)), "\"abc\" has no column 3");
        let mut gap = known;
        gap[3] = UNKNOWN;
        let l = layout(6, &gap, &texts);
        assert_eq!((l.column, l.above), (Some(1), None), "the line above is not all known");
        gap[4] = UNKNOWN;
        assert_eq!(layout(6, &gap, &texts).column, None);
    }
}
