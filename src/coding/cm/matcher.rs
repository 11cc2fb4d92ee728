//! Match model: finds the most recent earlier place where the tokens before the current
//! position occurred too, and predicts the token that followed there. A match is found by a
//! hash of the last `MIN_LEN` tokens, verified token by token backwards (its length, capped at
//! `MAX_LEN`, is what the mixer learns to trust), and followed from position to position while
//! it keeps predicting right.
//!
//! The reveal plan codes positions out of text order (lanes, rounds), so the table is fed
//! exactly like the n-gram counts: an entry "context → following position" is written when
//! the last of its tokens becomes known, whichever that is.

use super::UNKNOWN;

pub const MIN_LEN: usize = 3;
pub const MAX_LEN: u32 = 48;

/// How far back a gapped match looks for a revealed token.
const GAP_MAX: usize = 8;
/// How far a carried match is moved to find the token it missed.
const RESYNC: usize = 3;

pub struct Matcher {
    table: Vec<u32>,
    bits: u32,
    /// where the previous token is not revealed yet, carry the match of the nearest revealed
    /// one across the gap (assuming both texts advance alike)
    gap: bool,
    /// tokens a match must share before it is used (the hashed context's length)
    min: usize,
    /// per position: the position whose token it was predicted to repeat (0 = none; position
    /// 0 never follows a context) and the match length then
    ptr: Vec<u32>,
    len: Vec<u16>,
}

fn hash(toks: &[u32]) -> u64 {
    let mut h = 0x243F_6A88_85A3_08D3u64;
    for &t in toks {
        h = (h ^ t as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    }
    h ^ (h >> 31)
}

impl Matcher {
    pub fn new(n: usize, bits: u32) -> Self {
        Matcher { table: vec![0; 1 << bits], bits, gap: false, min: MIN_LEN, ptr: vec![0; n], len: vec![0; n] }
    }

    /// A matcher whose matches share at least `min` tokens (`MIN_LEN` by default).
    pub fn with_min(mut self, min: usize) -> Self {
        self.min = min.max(1);
        self
    }

    /// With matches carried across unrevealed tokens.
    pub fn with_gaps(mut self, gap: bool) -> Self {
        self.gap = gap;
        self
    }

    fn slot(&self, toks: &[u32]) -> usize {
        (hash(toks) >> (64 - self.bits)) as usize
    }

    /// The predicted token at `i`, the match length and whether it was carried across a
    /// gap, if any.
    pub fn find(&mut self, i: usize, known: &[u32]) -> Option<(u32, u32, bool)> {
        let (p, l, gapped) = match self.locate(i, known) {
            Some((p, l)) => (p, l, false),
            None if self.gap => {
                let (p, l) = self.across_gap(i, known)?;
                (p, l, true)
            }
            None => return None,
        };
        self.ptr[i] = p as u32;
        self.len[i] = l as u16;
        Some((known[p], l, gapped))
    }

    /// `i − 1` is not revealed: the match of the nearest revealed position `j = i − d`
    /// (followed if it predicted `j` right, else looked up by the three tokens ending at `j`),
    /// moved `d` on.
    fn across_gap(&self, i: usize, known: &[u32]) -> Option<(usize, u32)> {
        if i == 0 || known[i - 1] != UNKNOWN {
            return None;
        }
        let d = (2..=GAP_MAX.min(i)).find(|&d| known[i - d] != UNKNOWN)?;
        let j = i - d;
        let p = self.ptr[j] as usize;
        let (q, l) = if p != 0 && known[p] == known[j] {
            (p + d, self.len[j] as u32)
        } else if let Some(r) = self.resync(p, j, known) {
            (r + d, self.min as u32)
        } else if j + 1 >= self.min && !known[j + 1 - self.min..=j].contains(&UNKNOWN) {
            let e = self.table[self.slot(&known[j + 1 - self.min..=j])] as usize;
            if e == 0 || known[e - 1] != known[j] {
                return None;
            }
            (e + d - 1, self.min as u32)
        } else {
            return None;
        };
        (q < i && known[q] != UNKNOWN).then_some((q, l))
    }

    fn locate(&self, i: usize, known: &[u32]) -> Option<(usize, u32)> {
        // follow the match of the previous position if it predicted right
        if i > 0 && self.ptr[i - 1] != 0 {
            let p = self.ptr[i - 1] as usize;
            let next = p + 1;
            if known[i - 1] != UNKNOWN
                && known[p] == known[i - 1]
                && next < known.len()
                && next != i
                && known[next] != UNKNOWN
            {
                return Some((next, (self.len[i - 1] as u32 + 1).min(MAX_LEN)));
            }
        }
        if i < self.min || known[i - self.min..i].contains(&UNKNOWN) {
            return None;
        }
        let p = self.table[self.slot(&known[i - self.min..i])] as usize;
        if p == 0 || p == i || known[p] == UNKNOWN {
            return None;
        }
        let mut l = 0u32;
        while l < MAX_LEN && (l as usize) < p.min(i) {
            let (a, b) = (known[i - 1 - l as usize], known[p - 1 - l as usize]);
            if a != b || a == UNKNOWN {
                break;
            }
            l += 1;
        }
        (l as usize >= self.min).then_some((p, l))
    }

    /// A match that predicted `j` wrong, moved to the nearest place within `RESYNC` of `p`
    /// that has `j`'s token (texts that went apart by a token or two, as log fields do).
    fn resync(&self, p: usize, j: usize, known: &[u32]) -> Option<usize> {
        if p == 0 {
            return None;
        }
        (1..=RESYNC).flat_map(|k| [p + k, p.wrapping_sub(k)]).find(|&r| r < j && r > 0 && known[r] == known[j])
    }

    /// `known[i]` was just revealed: record every context it completes whose following token
    /// is known.
    pub fn learn(&mut self, i: usize, known: &[u32]) {
        for e in i..=(i + self.min).min(known.len() - 1) {
            if e >= self.min && known[e] != UNKNOWN && !known[e - self.min..e].contains(&UNKNOWN) {
                let s = self.slot(&known[e - self.min..e]);
                self.table[s] = e as u32;
            }
        }
    }
}
