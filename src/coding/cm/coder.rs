//! Binary arithmetic coder: 32-bit interval [x1, x2], probabilities of a 1 in 16 bits, bytes
//! shifted out as soon as both ends share their top byte (carry-less). Part of the format.

/// Probability of a 1 in units of 2^-16, within 1..=65535.
pub type P16 = u32;

#[inline]
fn split(x1: u32, x2: u32, p1: P16) -> u32 {
    debug_assert!((1..=65535).contains(&p1));
    x1 + (((x2 - x1) as u64 * p1 as u64) >> 16) as u32
}

pub struct Encoder {
    x1: u32,
    x2: u32,
    out: Vec<u8>,
}

impl Default for Encoder {
    fn default() -> Self {
        Encoder { x1: 0, x2: u32::MAX, out: Vec::new() }
    }
}

impl Encoder {
    /// Codes `bit` with P(1) = p1 / 2^16: a 1 takes the lower part [x1, mid].
    #[inline]
    pub fn encode(&mut self, bit: bool, p1: P16) {
        let mid = split(self.x1, self.x2, p1);
        if bit {
            self.x2 = mid;
        } else {
            self.x1 = mid + 1;
        }
        while (self.x1 ^ self.x2) & 0xFF00_0000 == 0 {
            self.out.push((self.x2 >> 24) as u8);
            self.x1 <<= 8;
            self.x2 = (self.x2 << 8) | 255;
        }
    }

    /// The fewest bytes that, padded with zeros as the decoder pads, land in [x1, x2].
    pub fn finish(mut self) -> Vec<u8> {
        for k in 1..=4u32 {
            let unit = 1u64 << (32 - 8 * k);
            let v = (self.x1 as u64).div_ceil(unit) * unit;
            if v <= self.x2 as u64 {
                for j in 0..k {
                    self.out.push((v >> (24 - 8 * j)) as u8);
                }
                break;
            }
        }
        self.out
    }
}

pub struct Decoder<'a> {
    x1: u32,
    x2: u32,
    x: u32,
    input: &'a [u8],
    pos: usize,
}

impl<'a> Decoder<'a> {
    pub fn new(input: &'a [u8]) -> Self {
        let mut d = Decoder { x1: 0, x2: u32::MAX, x: 0, input, pos: 0 };
        for _ in 0..4 {
            d.x = (d.x << 8) | d.byte() as u32;
        }
        d
    }

    /// Past the end the stream reads as zeros (the encoder's `finish` relies on it).
    #[inline]
    fn byte(&mut self) -> u8 {
        let b = self.input.get(self.pos).copied().unwrap_or(0);
        self.pos += 1;
        b
    }

    #[inline]
    pub fn decode(&mut self, p1: P16) -> bool {
        let mid = split(self.x1, self.x2, p1);
        let bit = self.x <= mid;
        if bit {
            self.x2 = mid;
        } else {
            self.x1 = mid + 1;
        }
        while (self.x1 ^ self.x2) & 0xFF00_0000 == 0 {
            self.x1 <<= 8;
            self.x2 = (self.x2 << 8) | 255;
            self.x = (self.x << 8) | self.byte() as u32;
        }
        bit
    }

    /// Bytes consumed beyond the input (a valid stream ends within 4 of its end).
    pub fn overrun(&self) -> usize {
        self.pos.saturating_sub(self.input.len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{Rng, SeedableRng};

    #[test]
    fn round_trips_and_costs_what_the_probabilities_say() {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(3);
        for n in [0usize, 1, 2, 7, 100, 20_000] {
            let case: Vec<(bool, P16)> = (0..n)
                .map(|_| {
                    let p: P16 = match rng.random_range(0..4) {
                        0 => 1,
                        1 => 65535,
                        _ => rng.random_range(1..=65535),
                    };
                    // mostly the likely bit, sometimes the unlikely one
                    let bit = rng.random_range(0..65536) < p;
                    (bit, p)
                })
                .collect();
            let mut e = Encoder::default();
            let mut ideal = 0.0f64;
            for &(b, p) in &case {
                e.encode(b, p);
                let q = p as f64 / 65536.0;
                ideal -= if b { q } else { 1.0 - q }.log2();
            }
            let bytes = e.finish();
            assert!((bytes.len() as f64) <= ideal / 8.0 * 1.01 + 4.0, "n={n}: {} bytes for {ideal} bits", bytes.len());
            let mut d = Decoder::new(&bytes);
            for (k, &(b, p)) in case.iter().enumerate() {
                assert_eq!(d.decode(p), b, "n={n} bit {k}");
            }
        }
    }
}
