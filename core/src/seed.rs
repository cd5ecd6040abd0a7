//! Independent seeds derived from a run's seed.

/// SplitMix64 of `seed` and `k`: independent seeds per (run seed, epoch or step), or per
/// (augmentation key, example).
pub(crate) fn mix(seed: u64, k: u64) -> u64 {
    let mut z = seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) ^ k.wrapping_add(0x632b_e59b_d9b4_e019);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}
