//! Axis ticks that reach the largest value plotted.
//!
//! plotters picks its own tick values, and its top tick can fall short of the largest
//! bar or curve point (a curve reaching 2.4 ms on an axis labelled up to 1 ms). So every
//! axis here ends on a "nice" value (1, 2, 2.5 or 5 times a power of ten) at or above the
//! largest value plotted, and carries a tick label there: the invariant is that the last
//! tick returned is `>= max` and is the axis's end.

use plotters::coord::ranged1d::{AsRangedCoord, DefaultFormatting, KeyPointHint, Ranged};
use std::ops::Range;

/// A plotters axis (linear or log) whose ticks are exactly `ticks`. (plotters' own
/// `with_key_points` loses the value formatting of `f64` axes, so labels could not be
/// formatted.)
pub struct Ticked<R> {
    inner: R,
    ticks: Vec<f64>,
}

/// `range` (anything plotters takes as an `f64` axis) with the ticks `ticks`.
pub fn ticked<A: AsRangedCoord<Value = f64>>(range: A, ticks: Vec<f64>) -> Ticked<A::CoordDescType>
where
    A::CoordDescType: Ranged<ValueType = f64>,
{
    Ticked { inner: range.into(), ticks }
}

impl<R: Ranged<ValueType = f64>> Ranged for Ticked<R> {
    type FormatOption = DefaultFormatting;
    type ValueType = f64;

    fn map(&self, value: &f64, limit: (i32, i32)) -> i32 {
        self.inner.map(value, limit)
    }

    fn key_points<Hint: KeyPointHint>(&self, hint: Hint) -> Vec<f64> {
        // Light mesh lines would be plotters' own choice: none.
        if hint.weight().allow_light_points() {
            Vec::new()
        } else {
            self.ticks.clone()
        }
    }

    fn range(&self) -> Range<f64> {
        self.inner.range()
    }
}

/// The smallest of 1, 2, 2.5, 5 x 10^k that is `>= v` (`v > 0`); `1.0` for anything else.
pub fn nice_ceil(v: f64) -> f64 {
    if !(v.is_finite() && v > 0.0) {
        return 1.0;
    }
    let decade = 10f64.powf(v.log10().floor());
    [1.0, 2.0, 2.5, 5.0, 10.0]
        .into_iter()
        .map(|m| m * decade)
        .find(|&c| c >= v * (1.0 - 1e-12))
        .unwrap_or(10.0 * decade)
}

/// The largest of 1, 2, 5 x 10^k that is `<= v` (`v > 0`).
fn nice_floor(v: f64) -> f64 {
    let decade = 10f64.powf(v.log10().floor());
    [5.0, 2.0, 1.0].into_iter().map(|m| m * decade).find(|&c| c <= v * (1.0 + 1e-12)).unwrap_or(decade)
}

/// Ticks of a linear axis from 0 to the first multiple of a nice step (1, 2, 2.5 or 5 x
/// 10^k) at or above `max`, with at most 6 steps: the last tick is the axis's end.
pub fn linear_ticks(max: f64) -> Vec<f64> {
    let max = if max.is_finite() && max > 0.0 { max } else { 1.0 };
    let mut decade = 10f64.powf((max / 6.0).log10().floor());
    loop {
        for m in [1.0, 2.0, 2.5, 5.0] {
            let step = m * decade;
            let steps = (max / step * (1.0 - 1e-12)).ceil().max(1.0);
            if steps <= 6.0 {
                return (0..=steps as usize).map(|i| step * i as f64).collect();
            }
        }
        decade *= 10.0;
    }
}

/// Ticks of a log axis covering `[min, max]` (both `> 0`); the first and last ticks are
/// the axis's ends. Within three decades: from a value of 1, 2 or 5 x 10^k at or below
/// `min` to one of 1, 2, 2.5 or 5 x 10^k at or above `max`, with ticks at 1, 2 and 5 x
/// 10^k between. Wider: from the power of ten at or below `min` to the one at or above
/// `max`, a tick at each power of ten (labels 0.3 decades apart would collide).
pub fn log_ticks(min: f64, max: f64) -> Vec<f64> {
    let min = min.max(1e-9);
    let max = max.max(min);
    let (mut lo, mut hi) = (nice_floor(min), nice_ceil(max.max(min * 1.0001)));
    if hi / lo < 2.0 {
        hi = nice_ceil(lo * 2.0);
    }
    let fine = hi / lo <= 1000.0 * (1.0 + 1e-9);
    if !fine {
        lo = 10f64.powf(min.log10().floor());
        hi = 10f64.powf((max.log10() - 1e-12).ceil());
    }
    let mut ticks = vec![lo];
    let mut decade = 10f64.powf(lo.log10().floor());
    while decade < hi * 10.0 {
        let mantissas: &[f64] = if fine { &[1.0, 2.0, 5.0] } else { &[1.0] };
        for m in mantissas {
            let t = m * decade;
            if t > lo * (1.0 + 1e-9) && t < hi * (1.0 - 1e-9) {
                ticks.push(t);
            }
        }
        decade *= 10.0;
    }
    ticks.push(hi);
    ticks
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nice_ceilings() {
        assert_eq!(nice_ceil(0.9), 1.0);
        assert_eq!(nice_ceil(1.0), 1.0);
        assert_eq!(nice_ceil(1.3), 2.0);
        assert_eq!(nice_ceil(2.2), 2.5);
        assert_eq!(nice_ceil(2433.0), 2500.0);
        assert_eq!(nice_ceil(7.0e6), 1.0e7);
        assert_eq!(nice_ceil(0.0), 1.0);
        assert_eq!(nice_ceil(f64::NAN), 1.0);
    }

    #[test]
    fn linear_ticks_start_at_zero_and_end_at_or_above_the_largest_value() {
        for max in [0.3, 1.0, 1.9, 2.0, 2.4, 3.3, 64.0, 199.0, 4.2e6, 1.1e7] {
            let t = linear_ticks(max);
            assert_eq!(t[0], 0.0);
            assert!(*t.last().unwrap() >= max, "{max}: {t:?}");
            assert!((1..=6).contains(&(t.len() - 1)), "{max}: {t:?}");
            assert!(*t.last().unwrap() < max * 1.5 || max < 1.0, "{max}: too much room above: {t:?}");
            assert!(t.windows(2).all(|w| w[0] < w[1]));
        }
    }

    #[test]
    fn linear_ticks_examples() {
        assert_eq!(linear_ticks(301.0), vec![0.0, 100.0, 200.0, 300.0, 400.0]);
        assert_eq!(linear_ticks(7.5e6), vec![0.0, 2e6, 4e6, 6e6, 8e6]);
    }

    #[test]
    fn log_ticks_bracket_the_values() {
        for (min, max) in [(1.0, 2400.0), (0.7, 9.7), (3.0, 3.0), (12.0, 6992.0), (0.05, 2.0e6)] {
            let t = log_ticks(min, max);
            assert!(t[0] <= min && *t.last().unwrap() >= max, "{min}..{max}: {t:?}");
            assert!(t.windows(2).all(|w| w[0] < w[1]), "{t:?}");
            assert!(t.len() >= 2);
        }
        assert_eq!(log_ticks(1.0, 2400.0), vec![1.0, 10.0, 100.0, 1000.0, 10000.0]);
        assert_eq!(log_ticks(3.0, 90.0), vec![2.0, 5.0, 10.0, 20.0, 50.0, 100.0]);
        assert_eq!(log_ticks(3.0, 240.0).last(), Some(&250.0));
    }
}
