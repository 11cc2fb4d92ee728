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
//! - `X|Y`, printable bytes of two classes (letter, digit, other): a letter run (or a
//!   contraction, which ends in letters) ends at a non-letter, a digit run at a non-digit, a
//!   run of others at a letter or digit, and the match at Y starts there; except after an
//!   apostrophe, which may start a contraction (`'s`) reaching across.
//!
//! Added tokens (`<mask>`, `<s>`, …) are matched in the text before the regex: a cut is exact
//! when no occurrence of one spans it (checked at each cut, [`is_cut`]) and none strips
//! whitespace beyond its match or looks at the text around it ([`splits_cleanly`]).

use std::sync::Mutex;

use tokenizers::{PostProcessorWrapper, PreTokenizerWrapper, Tokenizer};

/// Bytes of text tokenized at once where the text allows it. Longer pieces (text with no cut
/// for that long: non-Latin script with no line break, whitespace art) are tokenized one at
/// a time in the whole process, so that only one of them holds the tokenizer's memory at any
/// moment ([`long_piece_guard`]).
pub const PIECE: usize = 64 << 10;

/// Working memory of the tokenizers crate per byte of text encoded at once, an upper bound:
/// measured ~75 on English and ~430 on `a.a.a.…` (one pre-token and one token per byte, each
/// with its own strings and alignments; peak RSS, docs/RESULTS.md "Session 13").
pub const WORK_PER_BYTE: usize = 512;

/// Whether `tok` may be given a text in pieces cut by [`is_cut`] with the very ids and
/// offsets (shifted) of the whole text: no normalizer, the byte-level pre-tokenizer with
/// GPT-2's regex and no prefix space, offsets not trimmed in a way that depends on the
/// first token, and added tokens with no whitespace in them (so none spans a cut at a
/// newline or space) that match only their own text (no stripping, no word-boundary check,
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
    let added = tok
        .get_added_tokens_decoder()
        .values()
        .all(|t| !t.lstrip && !t.rstrip && !t.single_word && !t.content.chars().any(char::is_whitespace));
    tok.get_normalizer().is_none() && pre && post && added
}

/// Printable ASCII bytes of two classes (letter, digit, other), the first no apostrophe.
fn is_cut_pair(a: u8, b: u8) -> bool {
    let class = |c: u8| (c.is_ascii_alphabetic(), c.is_ascii_digit());
    a.is_ascii_graphic() && b.is_ascii_graphic() && a != b'\'' && class(a) != class(b)
}

/// Whether the text may be cut before byte `p` (module docs), where the added tokens' texts
/// are `added`.
pub fn is_cut(t: &[u8], p: usize, added: &[Vec<u8>]) -> bool {
    if p < 2 || p + 1 >= t.len() {
        return false;
    }
    let graphic = |b: u8| b.is_ascii_graphic();
    let (x, a, b, y) = (t[p - 2], t[p - 1], t[p], t[p + 1]);
    let at_space =
        (a == b'\n' && graphic(x) && graphic(b)) || (b == b' ' && a.is_ascii_alphabetic() && y.is_ascii_alphabetic());
    // an added token has no whitespace, so only a cut between printable bytes may split one
    at_space || (is_cut_pair(a, b) && !added.iter().any(|c| spans(t, p, c)))
}

/// Whether `c` occurs in `t` across `p` (starting before it, ending after it).
fn spans(t: &[u8], p: usize, c: &[u8]) -> bool {
    (1..c.len()).any(|i| p >= i && t.get(p - i..p - i + c.len()) == Some(c))
}

/// The end of the piece of `t` that starts at `from`: the last cut at most `piece` bytes on,
/// else the first cut after that, else the end of the text.
pub fn piece_end(t: &[u8], from: usize, piece: usize, added: &[Vec<u8>]) -> usize {
    let want = from.saturating_add(piece.max(1));
    if want >= t.len() {
        return t.len();
    }
    let cut = |p: &usize| is_cut(t, *p, added);
    (from + 1..=want).rev().find(cut).or_else(|| (want + 1..t.len()).find(cut)).unwrap_or(t.len())
}

static LONG: Mutex<()> = Mutex::new(());

/// Held while a piece longer than [`PIECE`] is tokenized: such pieces are tokenized one at a
/// time in the process.
pub fn long_piece_guard(len: usize) -> Option<std::sync::MutexGuard<'static, ()>> {
    (len > PIECE).then(|| LONG.lock().unwrap_or_else(|p| p.into_inner()))
}

/// The longest piece of `t` cut at most every `piece` bytes ([`piece_end`]).
pub fn longest(t: &[u8], piece: usize, added: &[Vec<u8>]) -> usize {
    let (mut from, mut most) = (0, 0);
    while from < t.len() {
        let to = piece_end(t, from, piece, added);
        most = most.max(to - from);
        from = to;
    }
    most
}
