//! Byte scans eight bytes at a time.
//!
//! In a Wasm guest every loop iteration pays for the host's deadline check
//! (an epoch comparison at each back edge), and `usize` is four bytes, so
//! the standard library's word-at-a-time paths take four. These loops read
//! `u64`s: names and short strings take one or two iterations.

const ONES: u64 = 0x0101_0101_0101_0101;
const HIGHS: u64 = 0x8080_8080_8080_8080;

#[inline]
fn word(b: &[u8], at: usize) -> u64 {
    u64::from_le_bytes(b[at..at + 8].try_into().expect("8 bytes"))
}

/// Whether `x` has a zero byte (exact: no false positives).
#[inline]
fn has_zero(x: u64) -> bool {
    x.wrapping_sub(ONES) & !x & HIGHS != 0
}

/// The position of the first NUL in `b`, and whether every byte before it is
/// ASCII.
#[inline]
pub(crate) fn c_string(b: &[u8]) -> Option<(usize, bool)> {
    let mut at = 0;
    let mut high = 0;
    while at + 8 <= b.len() {
        let x = word(b, at);
        if has_zero(x) {
            break;
        }
        high |= x;
        at += 8;
    }
    let mut ascii = high & HIGHS == 0;
    while let Some(&c) = b.get(at) {
        if c == 0 {
            return Some((at, ascii));
        }
        ascii &= c.is_ascii();
        at += 1;
    }
    None
}

/// Whether `b` is all ASCII.
#[inline]
pub(crate) fn is_ascii(b: &[u8]) -> bool {
    let mut at = 0;
    let mut high = 0;
    while at + 8 <= b.len() {
        high |= word(b, at);
        at += 8;
    }
    let mut tail = 0;
    for &c in &b[at..] {
        tail |= c;
    }
    high & HIGHS == 0 && tail.is_ascii()
}

/// Whether `b` contains a NUL byte.
#[inline]
pub(crate) fn has_nul(b: &[u8]) -> bool {
    let mut at = 0;
    while at + 8 <= b.len() {
        if has_zero(word(b, at)) {
            return true;
        }
        at += 8;
    }
    b[at..].contains(&0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn agrees_with_byte_by_byte_scans() {
        let alphabet = [b'a', 0, 0x80, 0xC3, b'z', 0x7F, 0x01, 0xFF];
        // Every string up to 20 bytes over a few alphabets, NULs at every place.
        let mut state = 1u64;
        for _ in 0..20_000 {
            state = state
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1);
            let len = (state >> 59) as usize % 21;
            let b: Vec<u8> = (0..len)
                .map(|i| alphabet[((state >> (i % 60)) as usize + i) % alphabet.len()])
                .collect();
            let nul = b.iter().position(|&c| c == 0);
            let expect = nul.map(|n| (n, b[..n].is_ascii()));
            assert_eq!(c_string(&b), expect, "{b:?}");
            assert_eq!(is_ascii(&b), b.is_ascii(), "{b:?}");
            assert_eq!(has_nul(&b), nul.is_some(), "{b:?}");
        }
    }
}
