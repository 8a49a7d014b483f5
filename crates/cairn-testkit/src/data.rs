//! Data for backups to chew on.

/// `len` incompressible, non-repeating bytes (restic would store zeros in a
/// few deduplicated chunks and finish at once): xorshift from `state`, which
/// must not be zero. The same state gives the same bytes.
pub fn noise(mut state: u64, len: usize) -> Vec<u8> {
    (0..len)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            (state >> 24) as u8
        })
        .collect()
}
