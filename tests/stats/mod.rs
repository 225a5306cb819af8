//! Statistics shared by the test harnesses and the benchmarks, so that every printed p95 means
//! the same thing. Integer arithmetic: no rounding decides a rank.

/// The `percent`-th percentile (0..=100) of an ascending slice by the nearest-rank method:
/// the smallest value with at least `percent` % of the sample at or below it (the 48th of 50
/// for 95, the 19th of 20; 0 gives the smallest). `None` for an empty sample.
pub fn nearest_rank<T: Copy>(sorted: &[T], percent: usize) -> Option<T> {
    let n = sorted.len();
    let rank = (percent.min(100) * n).div_ceil(100).max(1);
    sorted.get(rank.min(n).checked_sub(1)?).copied()
}
