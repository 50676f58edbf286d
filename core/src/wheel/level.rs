//! [`Level`]: 64 slot lists and their occupancy bitmap, plus the tick arithmetic that maps a
//! due tick to a level and slot.
//!
//! Level `l` has slots of `64^l` ticks; slot `s` of level `l` holds nodes whose due tick has
//! `s` in bits `6l..6l+6`. Bit `s` of `occupied` is set iff slot `s` is non-empty. All
//! operations are O(1).

use core::ptr::NonNull;

use super::links::TimerLinks;
use super::list::List;

/// log2 of the number of slots per level.
pub(super) const SLOT_BITS: u32 = 6;
/// Slots per level.
pub(super) const SLOTS: usize = 1 << SLOT_BITS;
/// Levels needed so that every `u64` tick has a level: `ceil(64 / 6)`. The top level uses
/// only its low 16 slots (bits 60..64 of the tick).
pub(super) const LEVELS: usize = 64_usize.div_ceil(SLOT_BITS as usize);

/// The level for a node due at `due` when the wheel's clock reads `elapsed` (`due >=
/// elapsed`): the level whose 6-bit digit holds the most significant bit in which the two
/// ticks differ, or 0 if they are equal.
#[inline]
pub(super) fn level_for(elapsed: u64, due: u64) -> usize {
    debug_assert!(due >= elapsed);
    // `| 1` keeps `leading_zeros` below 64 when the ticks are equal (level 0 then).
    let highest_diff_bit = 63 - ((elapsed ^ due) | 1).leading_zeros();
    (highest_diff_bit / SLOT_BITS) as usize
}

/// The slot of `level` that holds a node due at `due`: its 6-bit digit at that level.
#[inline]
pub(super) fn slot_for(level: usize, due: u64) -> usize {
    ((due >> (SLOT_BITS as usize * level)) & (SLOTS as u64 - 1)) as usize
}

/// The first tick that `slot` of `level` covers, while the clock reads `elapsed`: the
/// digits of `elapsed` above `level`, then `slot`, then zeros.
#[inline]
pub(super) fn slot_start(elapsed: u64, level: usize, slot: usize) -> u64 {
    let slot_shift = SLOT_BITS as usize * level;
    let block_shift = slot_shift + SLOT_BITS as usize;
    // The top level's block is the whole tick space (a shift by >= 64 would overflow).
    let block_base = if block_shift >= 64 { 0 } else { (elapsed >> block_shift) << block_shift };
    block_base | ((slot as u64) << slot_shift)
}

/// The list id (as carried in end tags) of `slot` of `level`.
#[inline]
fn list_id(level: usize, slot: usize) -> usize {
    level * SLOTS + slot
}

/// Splits a list id into `(level, slot)`.
#[inline]
pub(super) fn split_list_id(id: usize) -> (usize, usize) {
    (id / SLOTS, id % SLOTS)
}

/// One level of the wheel.
#[derive(Debug)]
pub(super) struct Level {
    /// Bit `s` set iff `slots[s]` is non-empty.
    occupied: u64,
    slots: [List; SLOTS],
}

impl Level {
    /// A level with every slot empty.
    pub(super) const EMPTY: Level = Level { occupied: 0, slots: [List::EMPTY; SLOTS] };

    /// The occupancy bitmap.
    #[inline]
    pub(super) fn occupied(&self) -> u64 {
        self.occupied
    }

    /// The lowest-numbered non-empty slot.
    #[inline]
    pub(super) fn first_occupied(&self) -> Option<usize> {
        if self.occupied == 0 {
            None
        } else {
            Some(self.occupied.trailing_zeros() as usize)
        }
    }

    /// Appends `node` to `slot`; `level` is this level's index.
    ///
    /// # Safety
    ///
    /// As for [`List::push_back`]: `node` is live, unlinked, and now owned by the wheel.
    #[inline]
    pub(super) unsafe fn push_back(&mut self, level: usize, slot: usize, node: NonNull<TimerLinks>) {
        // SAFETY: forwarded contract; the list id names exactly this slot.
        unsafe { self.slots[slot].push_back(list_id(level, slot), node) };
        self.occupied |= 1 << slot;
    }

    /// Unlinks and returns the oldest node of `slot`; `level` is this level's index.
    ///
    /// # Safety
    ///
    /// The slot's nodes are live (the wheel's insert contract).
    #[inline]
    pub(super) unsafe fn pop_front(&mut self, level: usize, slot: usize) -> Option<NonNull<TimerLinks>> {
        let list = &mut self.slots[slot];
        // SAFETY: forwarded contract; the list id names exactly this slot.
        let node = unsafe { list.pop_front(list_id(level, slot)) };
        if list.is_empty() {
            self.occupied &= !(1 << slot);
        }
        node
    }

    /// Unlinks `node` from `slot`; `level` is this level's index.
    ///
    /// # Safety
    ///
    /// `node` is in `slot` of this level, and the slot's nodes are live.
    #[inline]
    pub(super) unsafe fn unlink(&mut self, level: usize, slot: usize, node: NonNull<TimerLinks>) {
        let list = &mut self.slots[slot];
        // SAFETY: forwarded contract; the list id names exactly this slot.
        unsafe { list.unlink(list_id(level, slot), node) };
        if list.is_empty() {
            self.occupied &= !(1 << slot);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn level_count_covers_u64() {
        assert_eq!(LEVELS, 11);
        assert_eq!(level_for(0, u64::MAX), LEVELS - 1);
        assert_eq!(slot_for(LEVELS - 1, u64::MAX), 15);
    }

    #[test]
    fn level_for_is_the_highest_differing_digit() {
        assert_eq!(level_for(5, 5), 0);
        assert_eq!(level_for(0, 63), 0);
        assert_eq!(level_for(0, 64), 1);
        assert_eq!(level_for(63, 64), 1);
        assert_eq!(level_for(64, 127), 0);
        assert_eq!(level_for(0, 4095), 1);
        assert_eq!(level_for(0, 4096), 2);
        for k in 1..LEVELS {
            let boundary = 1u64 << (SLOT_BITS as usize * k);
            assert_eq!(level_for(0, boundary - 1), k - 1, "k = {k}");
            assert_eq!(level_for(0, boundary), k, "k = {k}");
            assert_eq!(level_for(boundary - 1, boundary), k, "k = {k}");
            assert_eq!(level_for(boundary, boundary + 1), 0, "k = {k}");
        }
    }

    #[test]
    fn slot_start_is_at_most_every_due_in_the_slot() {
        let elapsed = 0x1234_5678_9abc_def0u64;
        for due in [elapsed, elapsed + 1, elapsed + 64, elapsed + 5000, u64::MAX] {
            let level = level_for(elapsed, due);
            let slot = slot_for(level, due);
            let start = slot_start(elapsed, level, slot);
            assert!(start <= due, "due {due:#x}: start {start:#x}");
            assert!(start >= elapsed, "due {due:#x}: start {start:#x}");
            assert_eq!(start == elapsed, due == elapsed, "due {due:#x}");
        }
        assert_eq!(slot_start(u64::MAX, LEVELS - 1, 15), 15 << 60);
    }

    #[test]
    fn list_ids_round_trip() {
        for level in 0..LEVELS {
            for slot in 0..SLOTS {
                assert_eq!(split_list_id(list_id(level, slot)), (level, slot));
            }
        }
    }
}
