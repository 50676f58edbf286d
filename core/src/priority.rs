//! Task priorities: 64 levels, `0` the least urgent, `63` the most.
//!
//! A priority is a small integer so that a worker can keep one queue per level and find
//! the most urgent non-empty one with a single `leading_zeros` on a 64-bit occupancy
//! mask ([`LevelMask`]). Out-of-range input is an error ([`InvalidPriority`]), never a
//! silent clamp.

use core::fmt;

/// How urgent a task is: one of 64 levels, `0` ([`Priority::LOWEST`]) to `63`
/// ([`Priority::HIGHEST`]). Higher runs first.
///
/// Workers always serve the highest non-empty level they can see; within one level,
/// tasks run in submission order (FIFO) by default (`Builder::lifo_within_level` makes a
/// worker run its own spawns newest first).
///
/// # Examples
///
/// ```
/// use kairos_rt_core::Priority;
///
/// let p = Priority::new(40)?;
/// assert!(p > Priority::NORMAL && p < Priority::HIGH);
/// assert!(Priority::new(64).is_err());
/// assert_eq!(Priority::default(), Priority::NORMAL);
/// # Ok::<(), kairos_rt_core::InvalidPriority>(())
/// ```
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Priority(u8);

impl Priority {
    /// Number of distinct levels (64).
    ///
    /// ```
    /// use kairos_rt_core::Priority;
    ///
    /// assert_eq!(Priority::LEVELS, 64);
    /// assert_eq!(Priority::all().len(), Priority::LEVELS);
    /// ```
    pub const LEVELS: usize = 64;
    /// Level 0: background work that may wait behind anything else.
    ///
    /// ```
    /// use kairos_rt_core::Priority;
    ///
    /// assert_eq!(Priority::LOWEST.level(), 0);
    /// assert!(Priority::all().all(|p| p >= Priority::LOWEST));
    /// ```
    pub const LOWEST: Priority = Priority(0);
    /// Level 16: bulk work (log shipping, aggregation).
    ///
    /// ```
    /// use kairos_rt_core::Priority;
    ///
    /// assert_eq!(Priority::LOW.level(), 16);
    /// assert!(Priority::LOWEST < Priority::LOW && Priority::LOW < Priority::NORMAL);
    /// ```
    pub const LOW: Priority = Priority(16);
    /// Level 32, the default: ordinary jobs.
    ///
    /// ```
    /// use kairos_rt_core::Priority;
    ///
    /// assert_eq!(Priority::NORMAL.level(), 32);
    /// assert_eq!(Priority::default(), Priority::NORMAL);
    /// ```
    pub const NORMAL: Priority = Priority(32);
    /// Level 48: latency-sensitive jobs (user-facing notifications, retries with a deadline).
    ///
    /// ```
    /// use kairos_rt_core::Priority;
    ///
    /// assert_eq!(Priority::HIGH.level(), 48);
    /// assert!(Priority::NORMAL < Priority::HIGH && Priority::HIGH < Priority::HIGHEST);
    /// ```
    pub const HIGH: Priority = Priority(48);
    /// Level 63: the most urgent work (control messages, health probes).
    ///
    /// ```
    /// use kairos_rt_core::Priority;
    ///
    /// assert_eq!(Priority::HIGHEST.level(), 63);
    /// assert!(Priority::all().all(|p| p <= Priority::HIGHEST));
    /// ```
    pub const HIGHEST: Priority = Priority(63);

    /// The priority at `level`, or an error if `level > 63`.
    ///
    /// ```
    /// # use kairos_rt_core::Priority;
    /// assert_eq!(Priority::new(63), Ok(Priority::HIGHEST));
    /// assert_eq!(Priority::new(64).unwrap_err().level(), 64);
    /// ```
    pub const fn new(level: u8) -> Result<Priority, InvalidPriority> {
        if (level as usize) < Self::LEVELS {
            Ok(Priority(level))
        } else {
            Err(InvalidPriority { level })
        }
    }

    /// The level, `0..=63`.
    ///
    /// ```
    /// use kairos_rt_core::Priority;
    ///
    /// assert_eq!(Priority::new(40)?.level(), 40);
    /// assert_eq!(u8::from(Priority::HIGH), Priority::HIGH.level());
    /// # Ok::<(), kairos_rt_core::InvalidPriority>(())
    /// ```
    pub const fn level(self) -> u8 {
        self.0
    }

    /// The level as an index into per-level arrays.
    ///
    /// ```
    /// use kairos_rt_core::Priority;
    ///
    /// let mut per_level = [0u32; Priority::LEVELS];
    /// per_level[Priority::HIGH.index()] += 1;
    /// assert_eq!(per_level[48], 1);
    /// ```
    pub const fn index(self) -> usize {
        self.0 as usize
    }

    /// Every level, from [`LOWEST`](Self::LOWEST) to [`HIGHEST`](Self::HIGHEST).
    ///
    /// ```
    /// use kairos_rt_core::Priority;
    /// assert_eq!(Priority::all().count(), 64);
    /// assert_eq!(Priority::all().last(), Some(Priority::HIGHEST));
    /// ```
    pub fn all() -> impl DoubleEndedIterator<Item = Priority> + ExactSizeIterator {
        (0..Self::LEVELS as u8).map(Priority)
    }

    /// Builds a priority from a level known to be in range.
    ///
    /// Used for levels read back from a [`LevelMask`] or a task's state word, which can
    /// only hold valid levels; a bad value is masked to 6 bits (a bug, not user input).
    pub(crate) const fn from_index(index: usize) -> Priority {
        Priority((index & (Self::LEVELS - 1)) as u8)
    }
}

impl Default for Priority {
    fn default() -> Self {
        Priority::NORMAL
    }
}

impl fmt::Debug for Priority {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Priority::LOWEST => f.write_str("Priority::LOWEST"),
            Priority::LOW => f.write_str("Priority::LOW"),
            Priority::NORMAL => f.write_str("Priority::NORMAL"),
            Priority::HIGH => f.write_str("Priority::HIGH"),
            Priority::HIGHEST => f.write_str("Priority::HIGHEST"),
            Priority(level) => write!(f, "Priority({level})"),
        }
    }
}

impl fmt::Display for Priority {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

impl TryFrom<u8> for Priority {
    type Error = InvalidPriority;
    fn try_from(level: u8) -> Result<Self, Self::Error> {
        Priority::new(level)
    }
}

impl From<Priority> for u8 {
    fn from(p: Priority) -> u8 {
        p.0
    }
}

/// The error for a priority level outside `0..=63`.
///
/// ```
/// use kairos_rt_core::{InvalidPriority, Priority};
///
/// let err: InvalidPriority = Priority::try_from(64).unwrap_err();
/// assert_eq!(err.level(), 64);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct InvalidPriority {
    level: u8,
}

impl InvalidPriority {
    /// The rejected level.
    ///
    /// ```
    /// use kairos_rt_core::Priority;
    ///
    /// let err = Priority::new(70).unwrap_err();
    /// assert_eq!(err.level(), 70);
    /// assert!(err.to_string().contains("priority level 70 is out of range"));
    /// ```
    pub fn level(&self) -> u8 {
        self.level
    }
}

impl fmt::Display for InvalidPriority {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "priority level {} is out of range: kairos has {} levels, 0 (lowest) to {} (highest)",
            self.level,
            Priority::LEVELS,
            Priority::LEVELS - 1
        )
    }
}

impl std::error::Error for InvalidPriority {}

/// A set of priority levels as a 64-bit mask: bit `i` set means level `i` is in the set.
///
/// The most urgent level is one `leading_zeros` away.
#[derive(Clone, Copy, Default, PartialEq, Eq)]
pub struct LevelMask(pub u64);

impl LevelMask {
    /// The empty set.
    pub const EMPTY: LevelMask = LevelMask(0);

    /// Whether no level is in the set.
    pub const fn is_empty(self) -> bool {
        self.0 == 0
    }

    /// The highest level in the set.
    pub const fn highest(self) -> Option<Priority> {
        if self.0 == 0 {
            None
        } else {
            Some(Priority::from_index(63 - self.0.leading_zeros() as usize))
        }
    }

    /// Whether the set holds a level strictly above `p`.
    pub const fn has_above(self, p: Priority) -> bool {
        // Bits above `p`: shift out p and everything below it.
        let above = if p.0 >= 63 { 0 } else { self.0 >> (p.0 + 1) };
        above != 0
    }

    /// The bit for `p`.
    pub const fn bit(p: Priority) -> u64 {
        1u64 << p.0
    }

    /// Whether `p` is in the set.
    pub const fn contains(self, p: Priority) -> bool {
        self.0 & Self::bit(p) != 0
    }
}

impl fmt::Debug for LevelMask {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut set = f.debug_set();
        let mut m = self.0;
        while m != 0 {
            let i = 63 - m.leading_zeros() as usize;
            set.entry(&i);
            m &= !(1u64 << i);
        }
        set.finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_valid_level_round_trips_and_64_and_above_are_rejected() {
        for level in 0..=63u8 {
            assert_eq!(Priority::new(level).unwrap().level(), level);
        }
        for level in 64..=255u8 {
            let err = Priority::new(level).unwrap_err();
            assert_eq!(err.level(), level);
            assert!(err.to_string().contains("out of range"), "{err}");
        }
    }

    #[test]
    fn named_levels_are_ordered() {
        assert!(Priority::LOWEST < Priority::LOW);
        assert!(Priority::LOW < Priority::NORMAL);
        assert!(Priority::NORMAL < Priority::HIGH);
        assert!(Priority::HIGH < Priority::HIGHEST);
        assert_eq!(Priority::LOWEST.level(), 0);
        assert_eq!(Priority::HIGHEST.level(), 63);
    }

    #[test]
    fn mask_finds_highest_and_levels_above() {
        let m = LevelMask(LevelMask::bit(Priority::LOW) | LevelMask::bit(Priority::HIGH));
        assert_eq!(m.highest(), Some(Priority::HIGH));
        assert!(m.has_above(Priority::NORMAL));
        assert!(!m.has_above(Priority::HIGH));
        assert!(!LevelMask(LevelMask::bit(Priority::HIGHEST)).has_above(Priority::HIGHEST));
        assert_eq!(LevelMask::EMPTY.highest(), None);
        assert_eq!(format!("{m:?}"), "{48, 16}");
    }
}
