//! English part-of-speech tags for the `pos` selection strategy (the seed paper chose nouns,
//! verbs and adjectives with spaCy). Tags come from harper's Brill tagger (universal
//! dependencies tags); only the encoder uses them, never the decoder.

use std::ops::Range;

pub use harper_brill::UPOS;
use harper_brill::{brill_tagger, Tagger};

/// The seed paper's classes: spaCy's NOUN, VERB and ADJ.
pub const PAPER_CLASSES: &[UPOS] = &[UPOS::NOUN, UPOS::VERB, UPOS::ADJ];

/// Parses a comma-separated list of universal tags ("NOUN,VERB,ADJ").
pub fn parse_classes(s: &str) -> Option<Vec<UPOS>> {
    use UPOS::*;
    const ALL: [UPOS; 16] =
        [ADJ, ADP, ADV, AUX, CCONJ, DET, INTJ, NOUN, NUM, PART, PRON, PROPN, PUNCT, SCONJ, SYM, VERB];
    s.split(',').map(|name| ALL.into_iter().find(|u| u.as_ref().eq_ignore_ascii_case(name.trim()))).collect()
}

/// Splits `text` into the words and punctuation marks the tagger was trained on (universal
/// dependencies' English tokenisation, approximately: "don't" is "do" + "n't", "cat's" is
/// "cat" + "'s"), grouped in sentences.
fn sentences(text: &str) -> Vec<Vec<Range<usize>>> {
    let mut out = vec![Vec::new()];
    let mut chars = text.char_indices().peekable();
    while let Some((at, c)) = chars.next() {
        if c.is_alphanumeric() {
            let mut end = at + c.len_utf8();
            while let Some(&(j, d)) = chars.peek() {
                if !d.is_alphanumeric() {
                    break;
                }
                end = j + d.len_utf8();
                chars.next();
            }
            let word = &text[at..end];
            // "don't": the clitic takes the "n" with it
            if word.len() > 1 && word.ends_with('n') && text[end..].starts_with("'t") {
                out.last_mut().unwrap().push(at..end - 1);
                out.last_mut().unwrap().push(end - 1..end);
            } else {
                out.last_mut().unwrap().push(at..end);
            }
        } else if c == '\'' && chars.peek().is_some_and(|&(_, d)| d.is_alphabetic()) {
            // a clitic: "'s", "'ll", "n't" (its "n" was split off above)
            let mut end = at + 1;
            while let Some(&(j, d)) = chars.peek() {
                if !d.is_alphabetic() {
                    break;
                }
                end = j + d.len_utf8();
                chars.next();
            }
            let s = out.last_mut().unwrap();
            match s.last_mut() {
                Some(prev) if prev.end == at && &text[prev.clone()] == "n" => prev.end = end,
                _ => s.push(at..end),
            }
        } else if !c.is_whitespace() {
            out.last_mut().unwrap().push(at..at + c.len_utf8());
            if matches!(c, '.' | '!' | '?') {
                out.push(Vec::new());
            }
        } else if c == '\n' && text[at + 1..].starts_with('\n') {
            out.push(Vec::new());
        }
    }
    out.retain(|s| !s.is_empty());
    out
}

/// Every word of `text` with its byte span and tag (`None`: the tagger does not know it).
pub fn tag(text: &str) -> Vec<(Range<usize>, Option<UPOS>)> {
    let tagger = brill_tagger();
    let mut out = Vec::new();
    for s in sentences(text) {
        let words: Vec<String> = s.iter().map(|r| text[r.clone()].to_string()).collect();
        let tags = tagger.tag_sentence(&words);
        out.extend(s.into_iter().zip(tags));
    }
    out
}

/// For tokens with byte spans `offsets` in `text`: whether the token overlaps a word tagged
/// with one of `classes`.
pub fn token_flags(text: &str, offsets: &[(usize, usize)], classes: &[UPOS]) -> Vec<bool> {
    let words: Vec<Range<usize>> =
        tag(text).into_iter().filter(|(_, t)| t.is_some_and(|t| classes.contains(&t))).map(|(r, _)| r).collect();
    offsets
        .iter()
        .map(|&(a, b)| {
            // the first tagged word that ends after the token starts
            let k = words.partition_point(|w| w.end <= a);
            words.get(k).is_some_and(|w| w.start < b.max(a + 1))
        })
        .collect()
}

/// [`token_flags`] for the tokens `tok` makes of `data` (invalid UTF-8 read as U+FFFD).
pub fn tagged_tokens(tok: &super::LosslessTokenizer, data: &[u8], classes: &[UPOS]) -> crate::Result<Vec<bool>> {
    let text = String::from_utf8_lossy(data);
    let enc = tok.inner().encode(text.as_ref(), false).map_err(|e| crate::Error::Tokenizer(e.to_string()))?;
    Ok(token_flags(&text, enc.get_offsets(), classes))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tags_of(text: &str) -> Vec<(String, Option<UPOS>)> {
        tag(text).into_iter().map(|(r, t)| (text[r].to_string(), t)).collect()
    }

    #[test]
    fn splits_words_clitics_and_sentences() {
        let t = "I don't know. The cat's mat!\n\nNew";
        let s: Vec<Vec<&str>> = sentences(t).iter().map(|s| s.iter().map(|r| &t[r.clone()]).collect()).collect();
        assert_eq!(s, vec![vec!["I", "do", "n't", "know", "."], vec!["The", "cat", "'s", "mat", "!"], vec!["New"]]);
    }

    #[test]
    fn tags_nouns_verbs_adjectives() {
        let t = tags_of("The old man walked slowly to the red house.");
        let get = |w: &str| t.iter().find(|(x, _)| x == w).unwrap().1;
        assert_eq!(get("man"), Some(UPOS::NOUN));
        assert_eq!(get("house"), Some(UPOS::NOUN));
        assert_eq!(get("walked"), Some(UPOS::VERB));
        assert_eq!(get("red"), Some(UPOS::ADJ));
        assert_eq!(get("the"), Some(UPOS::DET));
    }

    #[test]
    fn flags_tokens_overlapping_chosen_words() {
        let text = "the red house";
        // "the", " red", " ho", "use"
        let offsets = [(0, 3), (3, 7), (7, 10), (10, 13)];
        assert_eq!(token_flags(text, &offsets, &[UPOS::NOUN]), vec![false, false, true, true]);
        assert_eq!(token_flags(text, &offsets, &[UPOS::ADJ]), vec![false, true, false, false]);
    }

    #[test]
    fn parses_class_lists() {
        assert_eq!(parse_classes("noun, VERB,Adj"), Some(vec![UPOS::NOUN, UPOS::VERB, UPOS::ADJ]));
        assert_eq!(parse_classes("NOUN,XYZ"), None);
    }
}
