//! Fields of a line for the structured contexts: log lines and table rows are fields split
//! by a separator, and the same field of the line above predicts this one even where the
//! fields before it differ in length (which misaligns the byte column).

use super::contexts::Texts;

/// Bytes that split a line into fields.
pub fn is_separator(b: u8) -> bool {
    matches!(b, b',' | b'\t' | b';' | b'|' | b' ')
}

/// The token of the line that starts at `start` (token, byte offset) and ends at `end` (token,
/// byte offset of its newline) covering byte `offset` of field `field` (fields counted from 0
/// by separators); UNKNOWN where the line has no such byte.
pub fn token_at_field(
    field: u32,
    offset: u32,
    start: (usize, usize),
    end: (usize, usize),
    known: &[u32],
    texts: &Texts,
) -> u32 {
    let (mut seps, mut at) = (0u32, 0u32);
    for (k, &tok) in known.iter().enumerate().take(end.0 + 1).skip(start.0) {
        let t = texts.of(tok);
        let from = if k == start.0 { start.1 } else { 0 };
        let to = if k == end.0 { end.1 } else { t.len() };
        for &b in &t[from..to.max(from)] {
            if seps == field && !is_separator(b) {
                if at == offset {
                    return tok;
                }
                at += 1;
            } else if is_separator(b) {
                seps += 1;
                if seps > field {
                    return super::UNKNOWN;
                }
            }
        }
    }
    super::UNKNOWN
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_place_of_the_same_field() {
        // ids: 0 "ab,", 1 "cde", 2 ",f", 3 "\n"; the line "ab,cde,f\n"
        let text: Vec<Vec<u8>> = ["ab,", "cde", ",f", "\n"].iter().map(|s| s.as_bytes().to_vec()).collect();
        let texts = Texts::new(4, &text);
        let known = [0, 1, 2, 3];
        let at = |f, o| token_at_field(f, o, (0, 0), (3, 0), &known, &texts);
        assert_eq!(at(0, 1), 0, "field 0 byte 1 is the b of \"ab,\"");
        assert_eq!(at(1, 0), 1);
        assert_eq!(at(1, 2), 1);
        assert_eq!(at(1, 3), crate::coding::cm::UNKNOWN, "field 1 has three bytes");
        assert_eq!(at(2, 0), 2);
        assert_eq!(at(3, 0), crate::coding::cm::UNKNOWN, "three fields");
    }
}
