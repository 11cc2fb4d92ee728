//! Tokenizing a block in pieces: the tokenizers crate holds ~90 bytes per input byte while it
//! encodes a text (normalized strings with per-byte alignments, pre-token splits, the
//! encoding's per-token strings and offsets), ~90 MB for a 1 MiB block, freed again at once
//! but the largest thing a compressing block ever holds. Cut where the tokenizer provably
//! splits anyway, the ids and offsets of the pieces are those of the whole text, so a block
//! holds the tokenizer's working memory of one piece only.
//!
//! Where the cuts are exact: for a tokenizer with no normalizer and GPT-2's byte-level
//! pre-tokenizer (its regex `'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+`,
//! matches taken left to right), the model tokenizes each regex match on its own. A cut at
//! `p` is exact when the match holding byte `p - 1` ends at `p` and no match before it looks
//! at byte `p` (so the text before `p` alone gives the same matches), and the match after it
//! starts at `p` whatever precedes it. [`is_cut`] allows three kinds, with ASCII bytes only:
//!
//! - `X\n|Y` (X, Y printable, not space): only the whitespace alternatives take `\n`, X ends
//!   the match before it, Y is not whitespace, so `\n` is a match of its own both ways (a
//!   whitespace run *before* `\n` would not be: `  \n` at the end of a text is one match,
//!   `  ` and `\n` in the middle of one);
//! - `a| b` (letters): the letters' match ends at the space (a letter run or a contraction,
//!   whose letters end it too), and ` b…` is one match of ` ?\p{L}+` both ways;
//! - `a|1` and `1|a`: a letter run (or contraction) ends at a digit, a digit run at a letter.
//!
//! Added tokens (`<mask>`, `<s>`, …) are matched in the text before the regex: a cut is exact
//! when no added token can span it or strip whitespace beyond its match ([`splits_cleanly`]).

use std::sync::Mutex;

use tokenizers::{PostProcessorWrapper, PreTokenizerWrapper, Tokenizer};

/// Bytes of text tokenized at once where the text allows it: the tokenizer's working memory
/// for a piece is ~90 times this (6 MB).
pub const PIECE: usize = 64 << 10;

/// Pieces longer than this (text with no cut for that long: a line of 200 KB with no space
/// between letters, whitespace art) are tokenized one at a time in the whole process, so that
/// only one of them holds the tokenizer's memory at any moment ([`long_piece_guard`]).
pub const LONG_PIECE: usize = 2 * PIECE;

/// Working memory of the tokenizers crate per byte of text encoded at once, an upper bound:
/// measured ~90 (heaptrack, 1 MiB of English, docs/RESULTS.md "Session 13"); the encoding's
/// per-token parts grow with the tokens, at most one per byte.
pub const WORK_PER_BYTE: usize = 120;

/// Whether `tok` may be given a text in pieces cut by [`is_cut`] with the very ids and
/// offsets (shifted) of the whole text: no normalizer, the byte-level pre-tokenizer with
/// GPT-2's regex and no prefix space, offsets not trimmed in a way that depends on the
/// first token, and added tokens that cannot span a cut (no whitespace in them, no letter
/// next to a digit) and match only their own text (no stripping, no word-boundary check,
/// which would look across the cut).
pub fn splits_cleanly(tok: &Tokenizer) -> bool {
    let pre = matches!(tok.get_pre_tokenizer(),
        Some(PreTokenizerWrapper::ByteLevel(b)) if b.use_regex && !b.add_prefix_space);
    let post = match tok.get_post_processor() {
        None => true,
        Some(PostProcessorWrapper::Roberta(r)) => !(r.trim_offsets && r.add_prefix_space),
        Some(PostProcessorWrapper::ByteLevel(b)) => !(b.trim_offsets && b.add_prefix_space),
        Some(_) => false,
    };
    let added = tok.get_added_tokens_decoder().values().all(|t| {
        let c = t.content.as_bytes();
        !t.lstrip
            && !t.rstrip
            && !t.single_word
            && !t.content.chars().any(char::is_whitespace)
            && !c.windows(2).any(|w| is_cut_pair(w[0], w[1]))
    });
    tok.get_normalizer().is_none() && pre && post && added
}

/// A letter next to a digit, either way round.
fn is_cut_pair(a: u8, b: u8) -> bool {
    (a.is_ascii_alphabetic() && b.is_ascii_digit()) || (a.is_ascii_digit() && b.is_ascii_alphabetic())
}

/// Whether the text may be cut before byte `p` (module docs).
pub fn is_cut(t: &[u8], p: usize) -> bool {
    if p < 2 || p + 1 >= t.len() {
        return false;
    }
    let graphic = |b: u8| b.is_ascii_graphic();
    let (x, a, b, y) = (t[p - 2], t[p - 1], t[p], t[p + 1]);
    (a == b'\n' && graphic(x) && graphic(b))
        || (b == b' ' && a.is_ascii_alphabetic() && y.is_ascii_alphabetic())
        || is_cut_pair(a, b)
}

/// The end of the piece of `t` that starts at `from`: the last cut at most [`PIECE`] bytes
/// on, else the first cut after that, else the end of the text.
pub fn piece_end(t: &[u8], from: usize, piece: usize) -> usize {
    let want = from.saturating_add(piece.max(1));
    if want >= t.len() {
        return t.len();
    }
    (from + 1..=want)
        .rev()
        .find(|&p| is_cut(t, p))
        .or_else(|| (want + 1..t.len()).find(|&p| is_cut(t, p)))
        .unwrap_or(t.len())
}

static LONG: Mutex<()> = Mutex::new(());

/// Held while a piece longer than [`LONG_PIECE`] is tokenized: such pieces are tokenized one
/// at a time in the process.
pub fn long_piece_guard(len: usize) -> Option<std::sync::MutexGuard<'static, ()>> {
    (len > LONG_PIECE).then(|| LONG.lock().unwrap_or_else(|p| p.into_inner()))
}
