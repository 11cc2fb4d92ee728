//! Lossless tokenization: any bytes → (token ids, residual), and back, with any tokenizer,
//! lossy ones included (BERT WordPiece lowercases, strips accents, drops whitespace, emits
//! [UNK]).
//!
//! How: the tokenizer's byte offsets split the text into one *unit* per token (the bytes from
//! the previous token's end to this token's end) plus a trailer. The decoder *predicts* each
//! unit from the ids alone: `decode(ids[i-K..=i]) - decode(ids[i-K..i])`. Units that differ
//! from the prediction are *exceptions* and travel literally in the residual, as do
//! the trailer and invalid UTF-8 sequences. Special tokens produced from literal text
//! ("[MASK]", "</s>", ...) are always exceptions and their ids are replaced by a placeholder,
//! so the model never sees a special token the text did not ask for.

mod pieces;
pub mod pos;

pub use pieces::{PIECE, WORK_PER_BYTE};

use std::collections::HashSet;

use tokenizers::Tokenizer;

use crate::error::{Error, Result};
use crate::varint;

/// Tokens of left context used to predict a unit's text.
const K: usize = 2;

/// Ids the schedule needs.
#[derive(Debug, Clone, Copy)]
pub struct SpecialIds {
    pub cls: u32,
    pub sep: u32,
    pub mask: u32,
    /// stands in for exceptions whose token was special (or [UNK])
    pub placeholder: u32,
}

pub struct LosslessTokenizer {
    tok: Tokenizer,
    special: HashSet<u32>,
    pub ids: SpecialIds,
    vocab: usize,
    /// for byte-level BPE without a normaliser: each id's exact bytes (None for added tokens)
    byte_level: Option<Vec<Option<Vec<u8>>>>,
    /// whether texts may be tokenized in pieces ([`pieces`])
    in_pieces: bool,
    /// the added tokens' texts, which no cut may split
    added: Vec<Vec<u8>>,
}

/// GPT-2's byte-level alphabet: the printable character that stands for each byte, as
/// (byte, char) pairs.
pub fn byte_level_chars() -> Vec<(u8, char)> {
    let mut keep: Vec<u32> = (b'!' as u32..=b'~' as u32).chain(0xA1..=0xAC).chain(0xAE..=0xFF).collect();
    let mut chars: Vec<u32> = keep.clone();
    let mut n = 0;
    for b in 0..256u32 {
        if !keep.contains(&b) {
            keep.push(b);
            chars.push(256 + n);
            n += 1;
        }
    }
    keep.iter().zip(&chars).map(|(&b, &c)| (b as u8, char::from_u32(c).unwrap_or('?'))).collect()
}

/// [`byte_level_chars`] inverted: char → byte.
fn byte_level_inverse() -> std::collections::HashMap<char, u8> {
    byte_level_chars().into_iter().map(|(b, c)| (c, b)).collect()
}

/// `bytes` as text: each invalid UTF-8 sequence becomes U+FFFD, and a patch records its
/// position and original bytes.
fn text_of(bytes: &[u8]) -> (String, Vec<u8>) {
    let mut text = String::with_capacity(bytes.len());
    let mut patches = Vec::new();
    let mut last_patch = 0usize;
    for chunk in bytes.utf8_chunks() {
        text.push_str(chunk.valid());
        if !chunk.invalid().is_empty() {
            let pos = text.len();
            varint::put(&mut patches, (pos - last_patch) as u64);
            patches.push(chunk.invalid().len() as u8);
            patches.extend_from_slice(chunk.invalid());
            last_patch = pos;
            text.push('\u{FFFD}');
        }
    }
    (text, patches)
}

/// Result of [`LosslessTokenizer::encode`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tokenized {
    pub ids: Vec<u32>,
    /// serialized residual (uncompressed)
    pub residual: Vec<u8>,
    /// how many units travel literally (for statistics)
    pub exceptions: usize,
}

fn first_id(tok: &Tokenizer, names: &[&str]) -> Option<u32> {
    names.iter().find_map(|n| tok.token_to_id(n))
}

impl LosslessTokenizer {
    pub fn from_bytes(bytes: &[u8], name: &str) -> Result<Self> {
        let mut tok = Tokenizer::from_bytes(bytes).map_err(|e| Error::model(name, format!("tokenizer.json: {e}")))?;
        tok.with_truncation(None).map_err(|e| Error::Tokenizer(e.to_string()))?;
        tok.with_padding(None);
        Self::new(tok, name)
    }

    pub fn new(tok: Tokenizer, name: &str) -> Result<Self> {
        let special: HashSet<u32> =
            tok.get_added_tokens_decoder().iter().filter(|(_, t)| t.special).map(|(&i, _)| i).collect();
        let need = |names: &[&str]| {
            first_id(&tok, names).ok_or_else(|| Error::model(name, format!("tokenizer has no {} token", names[0])))
        };
        let mask = need(&["[MASK]", "<mask>"])?;
        let cls = need(&["[CLS]", "<s>"])?;
        let sep = need(&["[SEP]", "</s>"])?;
        let pad = first_id(&tok, &["[PAD]", "<pad>"]).unwrap_or(0);
        let placeholder = first_id(&tok, &["[UNK]", "<unk>"]).unwrap_or(pad);
        let mut special = special;
        special.extend([mask, cls, sep, pad, placeholder]);
        let vocab = tok.get_vocab_size(true);
        let byte_level = match (tok.get_decoder(), tok.get_normalizer()) {
            (Some(tokenizers::DecoderWrapper::ByteLevel(_)), None) => {
                let inv = byte_level_inverse();
                let added = tok.get_added_tokens_decoder();
                Some(
                    (0..vocab as u32)
                        .map(|id| {
                            if added.contains_key(&id) {
                                return None;
                            }
                            tok.id_to_token(id)
                                .and_then(|t| t.chars().map(|c| inv.get(&c).copied()).collect::<Option<Vec<u8>>>())
                        })
                        .collect(),
                )
            }
            _ => None,
        };
        let in_pieces = pieces::splits_cleanly(&tok);
        let added = tok.get_added_tokens_decoder().values().map(|t| t.content.clone().into_bytes()).collect();
        Ok(LosslessTokenizer {
            tok,
            special,
            ids: SpecialIds { cls, sep, mask, placeholder },
            vocab,
            byte_level,
            in_pieces,
            added,
        })
    }

    pub fn inner(&self) -> &Tokenizer {
        &self.tok
    }

    pub fn vocab_size(&self) -> usize {
        self.vocab
    }

    /// Each id's text as the vocabulary spells it: exact bytes for byte-level BPE, the
    /// vocabulary string otherwise (WordPiece's `##` included); empty for special and added
    /// tokens. Adaptive models order and group tokens by it.
    pub fn token_bytes(&self) -> Vec<Vec<u8>> {
        (0..self.vocab as u32)
            .map(|id| match &self.byte_level {
                Some(bl) => bl.get(id as usize).cloned().flatten().unwrap_or_default(),
                None if self.special.contains(&id) => Vec::new(),
                None => self.tok.id_to_token(id).map(String::into_bytes).unwrap_or_default(),
            })
            .collect()
    }

    pub fn is_special(&self, id: u32) -> bool {
        self.special.contains(&id)
    }

    /// The bytes the decoder predicts for token `i` from the ids alone.
    fn predict(&self, ids: &[u32], i: usize) -> Result<Option<Vec<u8>>> {
        if let Some(bl) = &self.byte_level {
            // Byte-level BPE: each token is exactly its bytes, partial UTF-8 included.
            return Ok(bl.get(ids[i] as usize).cloned().flatten());
        }
        let lo = i.saturating_sub(K);
        let full = self.tok.decode(&ids[lo..=i], false).map_err(|e| Error::Tokenizer(e.to_string()))?;
        let prev = if lo == i {
            String::new()
        } else {
            self.tok.decode(&ids[lo..i], false).map_err(|e| Error::Tokenizer(e.to_string()))?
        };
        Ok(full.strip_prefix(prev.as_str()).map(|x| x.as_bytes().to_vec()))
    }

    /// Tokenizes arbitrary bytes losslessly.
    pub fn encode(&self, bytes: &[u8]) -> Result<Tokenized> {
        self.encode_in(bytes, if self.in_pieces { PIECE } else { usize::MAX })
    }

    /// The most bytes of text [`Self::encode`] gives the tokenizer at once for a block of
    /// `len` bytes with no long piece ([`Self::longest_piece`]): [`PIECE`] where the tokenizer
    /// allows cutting, else the whole text (an invalid byte becomes three, U+FFFD).
    pub fn piece_bytes(&self, len: usize) -> usize {
        let text = len.saturating_mul(3);
        if self.in_pieces {
            text.min(PIECE)
        } else {
            text
        }
    }

    /// Bytes of text in the longest piece longer than [`PIECE`] that [`Self::encode`] gives
    /// the tokenizer for `bytes` (0: none); such pieces are tokenized one at a time in the
    /// process. The whole text for a tokenizer that is not cut.
    pub fn longest_piece(&self, bytes: &[u8]) -> usize {
        let text = text_of(bytes).0;
        if !self.in_pieces {
            return text.len();
        }
        let most = pieces::longest(text.as_bytes(), PIECE, &self.added);
        if most > PIECE {
            most
        } else {
            0
        }
    }

    /// [`Self::encode`] with the text given to the tokenizer in pieces of about `piece` bytes
    /// (cut only where the result is the whole text's, [`pieces`]).
    fn encode_in(&self, bytes: &[u8], piece: usize) -> Result<Tokenized> {
        let (text, n_patches_bytes) = text_of(bytes);
        let tb = text.as_bytes();
        let mut ids: Vec<u32> = Vec::new();
        let mut exc = Vec::new();
        let mut n_exc = 0usize;
        let mut last_exc = 0usize;
        let mut prev_end = 0usize;
        let mut from = 0;
        while from < tb.len() {
            let to = if piece == usize::MAX { tb.len() } else { pieces::piece_end(tb, from, piece, &self.added) };
            let enc = {
                let _one_at_a_time = (piece != usize::MAX).then(|| pieces::long_piece_guard(to - from));
                // cuts are between ASCII bytes, so on character boundaries
                self.tok.encode(&text[from..to], false).map_err(|e| Error::Tokenizer(e.to_string()))?
            };
            let first = ids.len();
            ids.extend_from_slice(enc.get_ids());
            let offsets = enc.get_offsets();
            // Record exceptions first (predictions need the final ids, so ids are fixed up
            // first; a prediction reads only the ids before it, all of them fixed up by now).
            let mut is_exc = vec![false; ids.len() - first];
            for (i, id) in ids[first..].iter_mut().enumerate() {
                if self.special.contains(id) || *id as usize >= self.vocab {
                    *id = self.ids.placeholder;
                    is_exc[i] = true;
                }
            }
            for i in first..ids.len() {
                let predicted = if is_exc[i - first] { None } else { self.predict(&ids, i)? };
                // Byte-level tokens of one character share its offsets: trust the bytes instead.
                let end = match (&self.byte_level, &predicted) {
                    (Some(_), Some(p)) if tb[prev_end..].starts_with(p) => prev_end + p.len(),
                    _ => (from + offsets[i - first].1).clamp(prev_end, tb.len()),
                };
                let unit = &tb[prev_end..end];
                let literal = predicted.as_deref() != Some(unit);
                if literal {
                    varint::put(&mut exc, (i - last_exc) as u64);
                    varint::put(&mut exc, unit.len() as u64);
                    exc.extend_from_slice(unit);
                    last_exc = i;
                    n_exc += 1;
                }
                prev_end = end;
            }
            // the tokenizer's working memory of this piece goes back before the next one
            drop(enc);
            from = to;
        }
        let mut residual = Vec::new();
        varint::put(&mut residual, n_patches_bytes.len() as u64);
        residual.extend_from_slice(&n_patches_bytes);
        varint::put(&mut residual, n_exc as u64);
        residual.extend_from_slice(&exc);
        let trailer = &tb[prev_end..];
        varint::put(&mut residual, trailer.len() as u64);
        residual.extend_from_slice(trailer);
        Ok(Tokenized { ids, residual, exceptions: n_exc })
    }

    /// Inverse of [`encode`](Self::encode). Corrupt residuals give `Error::Corrupt`.
    pub fn decode(&self, ids: &[u32], residual: &[u8]) -> Result<Vec<u8>> {
        let mut r = varint::Reader::new(residual);
        let np = r.len()?;
        let patches = r.bytes(np)?;
        let n_exc = r.get()?;
        if n_exc > ids.len() as u64 {
            return Err(Error::corrupt("more exceptions than tokens"));
        }
        let mut excs: Vec<(usize, &[u8])> = Vec::with_capacity(n_exc as usize);
        let mut last = 0usize;
        for k in 0..n_exc {
            let idx = last.checked_add(r.get()? as usize).ok_or_else(|| Error::corrupt("bad exception index"))?;
            if idx >= ids.len() || (k > 0 && idx <= last) {
                return Err(Error::corrupt("exception indices out of order"));
            }
            last = idx;
            let len = r.len()?;
            excs.push((idx, r.bytes(len)?));
        }
        let mut text: Vec<u8> = Vec::new();
        let mut next = excs.iter().peekable();
        for i in 0..ids.len() {
            if ids[i] as usize >= self.vocab {
                return Err(Error::corrupt("token id outside the vocabulary"));
            }
            if let Some((_, lit)) = next.next_if(|(idx, _)| *idx == i) {
                text.extend_from_slice(lit);
                continue;
            }
            match self.predict(ids, i)? {
                Some(s) => text.extend_from_slice(&s),
                None => return Err(Error::corrupt("token without a literal where one is needed")),
            }
        }
        let tl = r.len()?;
        text.extend_from_slice(r.bytes(tl)?);
        if !r.is_empty() {
            return Err(Error::corrupt("trailing bytes in residual"));
        }
        // Undo the U+FFFD substitutions.
        let mut out = Vec::with_capacity(text.len());
        let mut pr = varint::Reader::new(patches);
        let mut from = 0usize;
        let mut pos = 0usize;
        while !pr.is_empty() {
            pos = pos.checked_add(pr.get()? as usize).ok_or_else(|| Error::corrupt("bad patch"))?;
            let n = pr.bytes(1)?[0] as usize;
            let orig = pr.bytes(n)?;
            if n == 0 || n > 3 || pos < from || text.get(pos..pos + 3) != Some("\u{FFFD}".as_bytes()) {
                return Err(Error::corrupt("bad invalid-UTF-8 patch"));
            }
            out.extend_from_slice(&text[from..pos]);
            out.extend_from_slice(orig);
            from = pos + 3;
        }
        out.extend_from_slice(&text[from..]);
        Ok(out)
    }
}

#[cfg(test)]
mod tests;
