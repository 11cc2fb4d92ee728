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
    use crate::coding::cm::testing::cost;
    use crate::coding::cm::Params;
    use rand::{Rng, SeedableRng};

    /// A table whose first two fields are random and vary in length and whose third follows
    /// from the third field of the row above: the byte column misaligns, the field above
    /// does not, so version 6 codes it in clearly fewer bits than version 5.
    #[test]
    fn the_field_above_predicts_a_table() {
        let mut text: Vec<Vec<u8>> = vec![b"\n".to_vec(), b",".to_vec()];
        text.extend((1..=8).map(|n| vec![b'k'; n]));
        text.extend((0..8).map(|v| format!("v{v}").into_bytes()));
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(7);
        let mut tokens = Vec::new();
        // each value follows from the one above (a fixed permutation), the key is random
        let next = [13, 17, 10, 15, 11, 16, 12, 14];
        let mut value = 10;
        for _ in 0..600 {
            value = next[value as usize - 10];
            tokens.extend([rng.random_range(2..10), 1, rng.random_range(2..10), 1, value, 0]);
        }
        let (v5, v6) = (cost(Params::v5(1), &text, &tokens), cost(Params::v6(1), &text, &tokens));
        assert!(v6 < 0.9 * v5, "v5 {v5:.0} bits, v6 {v6:.0} bits");
    }

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
