//! A small seeded random generator for property tests and the chaos test:
//! the same seed gives the same sequence on every machine, so a failing seed
//! reproduces. (SplitMix64; not for anything secret.)

/// A deterministic pseudo-random sequence.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// A number in `0..bound` (0 if `bound` is 0).
    pub fn below(&mut self, bound: u64) -> u64 {
        if bound == 0 {
            0
        } else {
            self.next_u64() % bound
        }
    }

    /// True with probability `percent` / 100.
    pub fn chance(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }

    /// One of the items.
    pub fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len() as u64) as usize]
    }

    /// Random bytes, up to `max` of them.
    pub fn bytes(&mut self, max: usize) -> Vec<u8> {
        let len = self.below(max as u64 + 1) as usize;
        (0..len).map(|_| self.next_u64() as u8).collect()
    }

    /// A random string mixing digits, letters, signs, dots, spaces and
    /// some non-ASCII, up to `max` characters: the shapes input can take.
    pub fn text(&mut self, max: usize) -> String {
        const ALPHABET: &[char] = &[
            '0', '1', '2', '5', '9', '.', '-', '+', ',', ' ', 'e', 'E', 'a', 'Z', 'H', 'P', '_', ':', '/', '\u{1f}', '\0', '¥', '元', '٣',
            '\n',
        ];
        let len = self.below(max as u64 + 1) as usize;
        (0..len).map(|_| *self.pick(ALPHABET)).collect()
    }
}
