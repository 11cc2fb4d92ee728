//! What each (context, tree node) has seen of its bit decision, in a hash table of fixed size.
//! A slot is one u32: a direct estimate of P(1) in 16 bits, a bit history in 8 bits (how many
//! 0s and 1s, each up to 15, the older side halved when the other grows, so the history
//! favours what came last) and 8 check bits of the hash: a slot owned by another context reads
//! as fresh and is taken over on update. The direct estimate learns at 1/(count + 1.5); a
//! [`StateMap`] turns the history into a probability learned across all contexts of an order
//! (what a context that has seen "one 1, no 0" predicts on this text).

use std::sync::OnceLock;

use super::huge::Table;
use super::math;

/// 2^16 / (n + 1.5), the learning rate after n observations (n ≤ 30), for each n: a table
/// built at compile time (no check per call that it exists).
const RATE: [u32; 32] = {
    let mut t = [0u32; 32];
    let mut n = 0;
    while n < 32 {
        t[n] = 131_072 / (2 * n as u32 + 3);
        n += 1;
    }
    t
};

/// [`RATE`] of the count a bit history holds, for every history (one load per update).
const RATE_OF_STATE: [u32; 256] = {
    let mut t = [0u32; 256];
    let mut s = 0;
    while s < 256 {
        t[s] = RATE[(s >> 4) + (s & 15)];
        s += 1;
    }
    t
};

/// stretch(P(1)) for the top 12 bits of a 16-bit probability.
pub fn stretch_p16(p: u32) -> f32 {
    static T: OnceLock<Vec<f32>> = OnceLock::new();
    T.get_or_init(|| (0..4096).map(|j| math::stretch((j as f32 + 0.5) / 4096.0)).collect())[(p >> 4) as usize]
}

#[inline]
fn mix(h: u64, node: u32) -> u64 {
    let mut x = h ^ (node as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    x = (x ^ (x >> 29)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    x ^ (x >> 32)
}

/// The 64-bit mix of a context hash and a node that places a slot.
#[inline]
pub fn slot_of(h: u64, node: u32) -> u64 {
    mix(h, node)
}

/// The bit history after `bit`: its count grows (up to 15), the other one, above 2, halves.
#[inline]
pub fn next_state(s: u8, bit: bool) -> u8 {
    NEXT_STATE[(bit as usize) << 8 | s as usize]
}

/// [`next_state`] of every (bit, history), built at compile time by [`next_state_of`]: one
/// load instead of the arithmetic, in the update of every context at every decision.
const NEXT_STATE: [u8; 512] = {
    let mut t = [0u8; 512];
    let mut i = 0;
    while i < 512 {
        t[i] = next_state_of((i & 255) as u8, i >= 256);
        i += 1;
    }
    t
};

/// The bit history after `bit`, computed.
const fn next_state_of(s: u8, bit: bool) -> u8 {
    let (mut n0, mut n1) = (s >> 4, s & 15);
    if bit {
        n1 = if n1 < 15 { n1 + 1 } else { 15 };
        if n0 > 2 {
            n0 = n0 / 2 + 1;
        }
    } else {
        n0 = if n0 < 15 { n0 + 1 } else { 15 };
        if n1 > 2 {
            n1 = n1 / 2 + 1;
        }
    }
    (n0 << 4) | n1
}

/// A slot as read: its index (for the update), P(1) in 16 bits and the bit history
/// (0: never seen).
#[derive(Clone, Copy, Default)]
pub struct Read {
    pub idx: u32,
    pub chk: u8,
    pub p: u32,
    pub state: u8,
}

impl Read {
    /// The direct estimate, stretched; 0 for a fresh slot.
    #[inline]
    pub fn stretch(&self) -> f32 {
        // looked up either way, then chosen: fresh slots come and go unpredictably
        let s = stretch_p16(self.p);
        if self.state == 0 {
            0.0
        } else {
            s
        }
    }
}

/// A slot's place in its table and the check bits it must hold ([`Counters::locate`]).
#[derive(Clone, Copy, Default)]
pub struct Slot {
    idx: u32,
    chk: u8,
}

pub struct Counters {
    t: Table<u32>,
    mask: u64,
    /// slots of the group a context may take (1, 2 or 4)
    ways: u32,
}

/// How much a slot has seen: the two counts of its history (0 for an empty slot).
#[inline]
fn seen(s: u32) -> u32 {
    let state = (s >> 8) & 0xFF;
    (state >> 4) + (state & 15)
}

impl Counters {
    /// A table of 2^bits slots.
    pub fn new(bits: u32) -> Self {
        Counters::with_ways(bits, 1)
    }

    /// A table of 2^bits slots in aligned groups of `ways` (1, 2 or 4): a context's slot is
    /// the one of its group with its check bits, or, where none has them, the one that has
    /// seen least (the first such), which it takes over when updated.
    pub fn with_ways(bits: u32, ways: u32) -> Self {
        Counters::in_table(Table::zeroed(1 << bits), ways)
    }

    /// [`Counters::with_ways`] in a zeroed table of a power-of-two length.
    pub fn in_table(t: Table<u32>, ways: u32) -> Self {
        assert!(matches!(ways, 1 | 2 | 4 | 8) && t.len().is_power_of_two() && t.len() >= 8);
        Counters { mask: t.len() as u64 - 1, t, ways }
    }

    #[inline]
    pub fn read(&self, h: u64, node: u32) -> Read {
        self.read_at(self.locate(h, node))
    }

    /// Where the slot of `(h, node)` is: what [`Counters::read_at`] reads.
    #[inline]
    pub fn locate(&self, h: u64, node: u32) -> Slot {
        let x = mix(h, node);
        Slot { idx: (x & self.mask) as u32, chk: (x >> 56) as u8 }
    }

    /// [`Counters::read`] of the slot [`Counters::locate`] found: in a table of groups, the
    /// group's slot with its check bits or the one to take over.
    #[inline(always)]
    pub fn read_at(&self, at: Slot) -> Read {
        let Slot { idx, chk } = at;
        if self.ways > 1 {
            return self.read_group(idx & !(self.ways - 1), chk);
        }
        let s = self.t[idx as usize];
        if s & 0xFF == chk as u32 && s != 0 {
            Read { idx, chk, p: s >> 16, state: (s >> 8) as u8 }
        } else {
            Read { idx, chk, p: 1 << 15, state: 0 }
        }
    }

    /// [`Counters::read`] in the group of `ways` slots that begins at `base`.
    #[inline(always)]
    fn read_group(&self, base: u32, chk: u8) -> Read {
        let group = &self.t[base as usize..(base + self.ways) as usize];
        #[cfg(target_arch = "x86_64")]
        if let Ok(four) = <&[u32; 4]>::try_from(group) {
            // the four slots compared at once; the victim is looked for only on a miss
            if let Some(w) = first_owned(four, chk) {
                let s = four[w as usize];
                return Read { idx: base + w, chk, p: s >> 16, state: (s >> 8) as u8 };
            }
            // the first that has seen least: the least of (seen, place), without branches
            let key = |w: u32| seen(four[w as usize]) << 2 | w;
            let victim = key(0).min(key(1)).min(key(2).min(key(3))) & 3;
            return Read { idx: base + victim, chk, p: 1 << 15, state: 0 };
        }
        let mut victim = (0, u32::MAX);
        for (w, &s) in group.iter().enumerate() {
            if s & 0xFF == chk as u32 && s != 0 {
                return Read { idx: base + w as u32, chk, p: s >> 16, state: (s >> 8) as u8 };
            }
            if seen(s) < victim.1 {
                victim = (w as u32, seen(s));
            }
        }
        Read { idx: base + victim.0, chk, p: 1 << 15, state: 0 }
    }

    /// Asks the memory system for the slot of `(h, node)` ahead of its [`Counters::read`]:
    /// the tables outgrow the caches, and a read that waits for memory stalls the decision.
    #[inline]
    pub fn prefetch(&self, h: u64, node: u32) {
        self.prefetch_at(self.locate(h, node));
    }

    /// [`Counters::prefetch`] of the slot [`Counters::locate`] found.
    #[inline]
    pub fn prefetch_at(&self, at: Slot) {
        prefetch(&self.t[at.idx as usize]);
    }

    #[inline]
    pub fn update(&mut self, r: &Read, bit: bool) {
        let p = r.p as i64;
        let target = if bit { 65535 } else { 0 };
        let p = (p + (((target - p) * RATE_OF_STATE[r.state as usize] as i64) >> 16)) as u32;
        // a written slot's history is never 0, so 0 means empty
        self.t[r.idx as usize] = (p << 16) | ((next_state(r.state, bit) as u32) << 8) | r.chk as u32;
    }
}

/// The first of four slots that holds check bits `chk` (and is not empty), as
/// [`Counters::read_group`]'s loop finds it: the four compared in one SSE2 vector.
#[cfg(target_arch = "x86_64")]
#[inline]
fn first_owned(four: &[u32; 4], chk: u8) -> Option<u32> {
    use std::arch::x86_64::*;
    // SAFETY: SSE2 is part of x86_64; the load reads the four u32 of `four` (unaligned)
    let owned = unsafe {
        let v = _mm_loadu_si128(four.as_ptr() as *const __m128i);
        let same = _mm_cmpeq_epi32(_mm_and_si128(v, _mm_set1_epi32(0xFF)), _mm_set1_epi32(chk as i32));
        let empty = _mm_cmpeq_epi32(v, _mm_setzero_si128());
        _mm_movemask_ps(_mm_castsi128_ps(_mm_andnot_si128(empty, same))) as u32
    };
    (owned != 0).then(|| owned.trailing_zeros())
}

/// Starts loading the cache line of `x`; no effect on any value.
#[inline(always)]
pub fn prefetch<T>(x: &T) {
    #[cfg(target_arch = "x86_64")]
    // SAFETY: a prefetch is a hint that never faults, and `x` is a valid reference anyway
    #[allow(unused_unsafe)]
    unsafe {
        use std::arch::x86_64::{_mm_prefetch, _MM_HINT_T0};
        _mm_prefetch::<_MM_HINT_T0>(x as *const T as *const i8);
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = x;
}

/// Bit history → P(1), learned per (context set, history) at 1/(count + 1.5), count ≤ 1023.
pub struct StateMap {
    t: Vec<(u32, u32)>,
    idx: usize,
}

impl StateMap {
    pub fn new(sets: usize) -> Self {
        StateMap { t: vec![(1 << 31, 0); sets * 256], idx: 0 }
    }

    /// stretch(P(1)) for history `state` in set `set`; remembered for [`StateMap::update`].
    #[inline]
    pub fn p(&mut self, set: usize, state: u8) -> f32 {
        math::stretch(self.prob(set, state))
    }

    /// P(1) for history `state` in set `set`, not stretched yet; remembered for
    /// [`StateMap::update`].
    #[inline]
    pub fn prob(&mut self, set: usize, state: u8) -> f32 {
        self.idx = set * 256 + state as usize;
        (self.t[self.idx].0 >> 8) as f32 * (1.0 / 16_777_216.0) + 1.0 / 33_554_432.0
    }

    #[inline]
    pub fn update(&mut self, bit: bool) {
        let (p, n) = &mut self.t[self.idx];
        // (target − p) / (n + 2), truncated towards zero: the target is 0 or u32::MAX, so
        // the step is −p or u32::MAX − p, and its magnitude below 2^32
        let step = if bit { div_small(u32::MAX - *p, *n + 2) as i64 } else { -(div_small(*p, *n + 2) as i64) };
        *p = (*p as i64 + step) as u32;
        *n = (*n + 1).min(1023);
    }
}

/// Divisors [`div_small`] takes: 2 ..= 1025.
const DIVISORS: usize = 1026;
/// `2^SHIFT` over the divisor, rounded up.
const SHIFT: u32 = 43;

/// `a / d` (rounded down) for `d` in 2 ..= 1025, as a product by `⌈2^43 / d⌉` and a shift: a
/// division by a register costs several times a product. Exact for every `a < 2^32`: with
/// `m = ⌈2^(32 + 11) / d⌉`, `m·d − 2^43 < d ≤ 2^11`, and then `⌊a·m / 2^43⌋ = ⌊a / d⌋`
/// (Granlund and Montgomery, "Division by invariant integers using multiplication", 4.2).
#[inline]
fn div_small(a: u32, d: u32) -> u32 {
    ((a as u128 * MULTIPLIER[d as usize] as u128) >> SHIFT) as u32
}

/// `⌈2^43 / d⌉` for each divisor `d` of [`div_small`] (0 below 2), built at compile time.
const MULTIPLIER: [u64; DIVISORS] = {
    let mut m = [0u64; DIVISORS];
    let mut d = 2;
    while d < DIVISORS {
        m[d] = (1u64 << SHIFT).div_ceil(d as u64);
        d += 1;
    }
    m
};

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn learns_a_biased_bit_and_separates_contexts() {
        let mut c = Counters::new(12);
        for k in 0..200 {
            let r = c.read(7, 3);
            c.update(&r, k % 10 != 0);
            let r = c.read(8, 3);
            c.update(&r, false);
        }
        let a = c.read(7, 3);
        assert!((a.p as f32 / 65536.0 - 0.9).abs() < 0.06, "p = {}", a.p);
        assert!(c.read(8, 3).stretch() < -3.0);
        assert_eq!(c.read(9, 3).state, 0, "an unseen context reads as fresh");
        let mut m = StateMap::new(1);
        for k in 0..100 {
            m.p(0, 0x01);
            m.update(k % 4 != 0);
        }
        assert!((squash_of(m.p(0, 0x01)) - 0.75).abs() < 0.05);
    }

    /// In groups of four slots a context that has seen much keeps its slot while contexts
    /// seen once come and go in its group; with one slot per hash they take it over.
    #[test]
    fn groups_keep_the_context_that_has_seen_most() {
        for (ways, kept) in [(4, true), (2, true), (1, false)] {
            let mut c = Counters::with_ways(3, ways);
            for _ in 0..20 {
                let r = c.read(1, 1);
                c.update(&r, true);
            }
            // (8 check bits: a new context now and then reads another's slot as its own)
            let mut fresh = 0;
            for h in 100..400 {
                let r = c.read(h, 1);
                fresh += (r.state == 0) as usize;
                c.update(&r, false);
                assert_ne!(c.read(h, 1).state, 0, "ways {ways}: context {h} got a slot");
            }
            assert!(fresh > 270, "ways {ways}: {fresh} of 300 new contexts read as new");
            let r = c.read(1, 1);
            assert_eq!(r.state != 0 && r.p > 60_000, kept, "ways {ways}");
        }
    }

    /// The product and shift divide as `/` does: every divisor, edge and random dividends.
    #[test]
    fn small_divisions_are_exact() {
        use rand::{Rng, SeedableRng};
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(9);
        for d in 2..DIVISORS as u32 {
            let edges = [0, 1, d - 1, d, d + 1, u32::MAX, u32::MAX - 1, u32::MAX / d * d, u32::MAX / d * d - 1];
            for a in edges.into_iter().chain((0..2000).map(|_| rng.random::<u32>())) {
                assert_eq!(div_small(a, d), a / d, "{a} / {d}");
            }
        }
    }

    #[cfg(target_arch = "x86_64")]
    /// The table of histories is the computed one, and the vector search finds the slot the
    /// loop finds: groups with every mix of owners, empty slots and strangers.
    #[test]
    fn tables_and_the_vector_search_agree_with_the_plain_code() {
        for s in 0..=255u8 {
            for bit in [false, true] {
                assert_eq!(next_state(s, bit), next_state_of(s, bit), "history {s:#x} bit {bit}");
            }
        }
        assert_eq!(next_state(0x00, true), 0x01);
        assert_eq!(next_state(0x5F, true), 0x3F, "15 ones kept, five 0s halved to three");
        assert_eq!(RATE[0], 43690);
        for s in 0..=255u8 {
            assert_eq!(RATE_OF_STATE[s as usize], RATE[((s >> 4) + (s & 15)) as usize]);
        }
        use rand::{Rng, SeedableRng};
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(5);
        let chk = 0x2Au8;
        let mut hits = 0;
        for _ in 0..20_000 {
            let four: [u32; 4] = std::array::from_fn(|_| match rng.random_range(0..4) {
                0 => 0,
                1 => (rng.random::<u32>() & !0xFF) | chk as u32,
                2 => chk as u32,
                _ => rng.random::<u32>(),
            });
            let plain = four.iter().position(|&s| s & 0xFF == chk as u32 && s != 0).map(|w| w as u32);
            hits += plain.is_some() as usize;
            assert_eq!(first_owned(&four, chk), plain, "{four:x?}");
        }
        assert!(hits > 10_000 && hits < 20_000);
        // a whole read: the owner, or else the first slot that has seen least
        let mut c = Counters::with_ways(12, 4);
        for _ in 0..20_000 {
            let base = rng.random_range(0..1024u32) * 4;
            for w in 0..4 {
                let state = [0, 0x11, 0x21, 0x12, 0xF0, 0x03][rng.random_range(0..6)] as u32;
                let check = [chk as u32, 7][rng.random_range(0..2)];
                c.t[(base + w) as usize] =
                    if state == 0 { 0 } else { rng.random::<u32>() & 0xFFFF_0000 | state << 8 | check };
            }
            let group: Vec<u32> = (0..4).map(|w| c.t[(base + w) as usize]).collect();
            let owner = group.iter().position(|&s| s & 0xFF == chk as u32 && s != 0);
            let least = (0..4).fold(0, |v, w| if seen(group[w]) < seen(group[v]) { w } else { v });
            let r = c.read_at(Slot { idx: base + rng.random_range(0..4), chk });
            assert_eq!(r.idx, base + owner.unwrap_or(least) as u32, "{group:x?}");
            assert_eq!(r.state == 0, owner.is_none());
        }
    }

    fn squash_of(x: f32) -> f32 {
        math::squash(x)
    }
}
