//! A stable hash of names, for what must come out the same across builds and restarts (std's `DefaultHasher` may
//! change between releases).

/// FNV-1a, 32 bits.
pub fn fnv32(s: &str) -> u32 {
    s.bytes().fold(0x811c_9dc5u32, |h, b| (h ^ b as u32).wrapping_mul(0x0100_0193))
}
