//! Unit tests of the timing wheel: level boundaries, rejection, removal at every list
//! position, bookkeeping, `next_expiration` and `pop_any`.

use super::*;

/// Heap nodes with stable addresses, owned by the test.
// Boxes, not a plain `Vec<TimerLinks>`: the wheel holds node addresses, which a growing
// `Vec` would move.
#[allow(clippy::vec_box)]
struct Arena(Vec<Box<TimerLinks>>);

impl Arena {
    fn new() -> Arena {
        Arena(Vec::new())
    }

    /// A new unlinked node due at `due`.
    fn node(&mut self, due: u64) -> NonNull<TimerLinks> {
        self.0.push(Box::new(TimerLinks::new()));
        let node = NonNull::from(&**self.0.last().unwrap());
        // SAFETY: fresh, unlinked, only this test uses it.
        unsafe { TimerLinks::set_due(node, due) };
        node
    }
}

fn due(node: NonNull<TimerLinks>) -> u64 {
    // SAFETY: test nodes live in an arena that outlives every wheel call; single thread.
    unsafe { TimerLinks::due(node) }
}

fn linked(node: NonNull<TimerLinks>) -> bool {
    // SAFETY: as for `due`.
    unsafe { TimerLinks::is_linked(node) }
}

fn insert(wheel: &mut TimingWheel, node: NonNull<TimerLinks>) -> Result<(), NonNull<TimerLinks>> {
    // SAFETY: arena nodes outlive the wheel's use of them; tests insert only unlinked nodes.
    unsafe { wheel.insert(node) }
}

fn remove(wheel: &mut TimingWheel, node: NonNull<TimerLinks>) {
    // SAFETY: tests remove only nodes they know to be linked in `wheel`.
    unsafe { wheel.remove(node) }
}

/// The wheel with its clock moved to `tick` (it must hold nothing due by then).
fn wheel_at(tick: u64) -> TimingWheel {
    let mut wheel = TimingWheel::new();
    assert_eq!(wheel.poll(tick), None);
    assert_eq!(wheel.elapsed(), tick);
    wheel
}

/// Level-boundary distances: 1, 63, 64, 65, 4095, 4096, and `64^k - 1, 64^k, 64^k + 1`
/// for every level `k`.
fn boundary_deltas() -> Vec<u64> {
    let mut deltas = vec![1, 2, 63, 64, 65, 4095, 4096, 4097];
    for k in 1..=10u32 {
        let p = 1u64 << (6 * k);
        deltas.extend([p - 1, p, p + 1]);
    }
    deltas.sort_unstable();
    deltas.dedup();
    deltas
}

#[test]
fn new_wheel_is_empty() {
    let mut wheel = TimingWheel::default();
    assert_eq!(wheel.elapsed(), 0);
    assert_eq!(wheel.len(), 0);
    assert!(wheel.is_empty());
    assert_eq!(wheel.next_expiration(), None);
    assert_eq!(wheel.pop_any(), None);
    assert_eq!(wheel.poll(1000), None);
    assert_eq!(wheel.elapsed(), 1000);
    // A poll into the past is a poll at `elapsed()`: the clock never goes back.
    assert_eq!(wheel.poll(10), None);
    assert_eq!(wheel.elapsed(), 1000);
}

#[test]
fn single_node_expires_exactly_at_its_due_tick_across_level_boundaries() {
    // Clocks at a block start, mid-block, just before a level-2 boundary, and high up.
    for base in [0u64, 1000, 64 * 64 * 64 - 5, 0x00ff_ffff_ffff_fff0] {
        for delta in boundary_deltas() {
            let Some(due_tick) = base.checked_add(delta) else {
                continue;
            };
            let mut arena = Arena::new();
            let mut wheel = wheel_at(base);
            let node = arena.node(due_tick);
            assert_eq!(insert(&mut wheel, node), Ok(()), "base {base} delta {delta}");
            assert!(linked(node));
            assert_eq!(wheel.len(), 1);
            let bound = wheel.next_expiration().unwrap();
            assert!(bound > base && bound <= due_tick, "base {base} delta {delta}");
            assert_eq!(wheel.poll(due_tick - 1), None, "base {base} delta {delta}");
            assert_eq!(wheel.elapsed(), due_tick - 1);
            assert!(linked(node), "base {base} delta {delta}");
            assert_eq!(wheel.next_expiration(), Some(due_tick), "cascaded all the way");
            assert_eq!(wheel.poll(due_tick), Some(node), "base {base} delta {delta}");
            assert_eq!(wheel.elapsed(), due_tick);
            assert!(!linked(node));
            assert!(wheel.is_empty());
            assert_eq!(wheel.poll(u64::MAX), None);
        }
    }
}

#[test]
fn a_poll_far_past_the_due_tick_returns_the_node_and_stops_at_its_due() {
    for delta in boundary_deltas() {
        let mut arena = Arena::new();
        let mut wheel = wheel_at(7);
        let node = arena.node(7 + delta);
        insert(&mut wheel, node).unwrap();
        assert_eq!(wheel.poll(u64::MAX - 1), Some(node), "delta {delta}");
        assert_eq!(wheel.elapsed(), 7 + delta, "clock stops at the returned due");
        assert_eq!(wheel.poll(u64::MAX - 1), None);
        assert_eq!(wheel.elapsed(), u64::MAX - 1);
    }
}

#[test]
fn all_boundaries_at_once_come_back_sorted() {
    let mut arena = Arena::new();
    let mut wheel = wheel_at(12345);
    let mut expected = Vec::new();
    // Insert in descending order so that sorted output is not insertion order.
    for delta in boundary_deltas().into_iter().rev() {
        let node = arena.node(12345 + delta);
        insert(&mut wheel, node).unwrap();
        expected.push((12345 + delta, node));
    }
    expected.reverse();
    assert_eq!(wheel.len(), expected.len());
    let mut got = Vec::new();
    while let Some(node) = wheel.poll(u64::MAX - 1) {
        assert_eq!(wheel.elapsed(), due(node));
        got.push((due(node), node));
    }
    assert_eq!(got, expected);
    assert!(wheel.is_empty());
}

#[test]
fn next_expiration_is_a_lower_bound_and_polling_at_it_makes_progress() {
    let mut arena = Arena::new();
    let mut wheel = wheel_at(999);
    let mut remaining: Vec<u64> = Vec::new();
    for (i, delta) in boundary_deltas().into_iter().enumerate() {
        // Several nodes per due, and some near-duplicates, to exercise shared slots.
        for extra in [0, i as u64 % 3] {
            let node = arena.node(999 + delta + extra);
            insert(&mut wheel, node).unwrap();
            remaining.push(999 + delta + extra);
        }
    }
    remaining.sort_unstable();
    let mut steps = 0;
    while let Some(bound) = wheel.next_expiration() {
        steps += 1;
        assert!(steps < 10_000, "no progress");
        assert!(bound >= wheel.elapsed());
        assert!(bound <= remaining[0], "bound {bound} above min due {}", remaining[0]);
        match wheel.poll(bound) {
            Some(node) => {
                assert_eq!(due(node), remaining.remove(0));
                assert_eq!(due(node), bound, "a returned node is due at the bound");
            }
            // A cascade: the bound must move up (or become exact).
            None => assert!(wheel.next_expiration() > Some(bound)),
        }
        assert_eq!(wheel.len(), remaining.len());
    }
    assert!(remaining.is_empty());
}

#[test]
fn next_expiration_is_elapsed_while_due_nodes_wait() {
    let mut arena = Arena::new();
    let mut wheel = TimingWheel::new();
    let a = arena.node(5000);
    let b = arena.node(5000);
    insert(&mut wheel, a).unwrap();
    insert(&mut wheel, b).unwrap();
    assert_eq!(wheel.poll(6000), Some(a));
    assert_eq!(wheel.elapsed(), 5000);
    assert_eq!(wheel.next_expiration(), Some(5000));
    // Polling "in the past" still returns the node due at `elapsed()`.
    assert_eq!(wheel.poll(0), Some(b));
    assert_eq!(wheel.next_expiration(), None);
}

#[test]
fn expired_insert_is_rejected_and_left_unlinked() {
    let mut arena = Arena::new();
    let mut wheel = TimingWheel::new();
    let zero = arena.node(0);
    assert_eq!(insert(&mut wheel, zero), Err(zero), "due == elapsed == 0");
    assert_eq!(wheel.poll(500), None);
    for due_tick in [500, 499, 0, 1] {
        let node = arena.node(due_tick);
        assert_eq!(insert(&mut wheel, node), Err(node), "due {due_tick}");
        assert!(!linked(node));
    }
    let next = arena.node(501);
    assert_eq!(insert(&mut wheel, next), Ok(()));
    assert_eq!(wheel.len(), 1);
    // Everything is rejected once the clock reaches the end of time.
    let mut end = wheel_at(u64::MAX);
    let last = arena.node(u64::MAX);
    assert_eq!(insert(&mut end, last), Err(last));
    assert!(end.is_empty());
}

#[test]
fn never_expiring_node_stays_until_pop_any() {
    let mut arena = Arena::new();
    let mut wheel = TimingWheel::new();
    let forever = arena.node(u64::MAX);
    let soon = arena.node(10);
    insert(&mut wheel, forever).unwrap();
    insert(&mut wheel, soon).unwrap();
    assert_eq!(wheel.poll(u64::MAX - 1), Some(soon));
    assert_eq!(wheel.poll(u64::MAX - 1), None);
    assert_eq!(wheel.elapsed(), u64::MAX - 1);
    assert!(linked(forever));
    assert_eq!(wheel.len(), 1);
    assert_eq!(wheel.next_expiration(), Some(u64::MAX));
    assert_eq!(wheel.pop_any(), Some(forever));
    assert!(!linked(forever));
    assert!(wheel.is_empty());

    // ... and `poll(u64::MAX)` does return it, since its due is then <= now.
    let mut wheel = TimingWheel::new();
    insert(&mut wheel, forever).unwrap();
    assert_eq!(wheel.poll(u64::MAX), Some(forever));
    assert_eq!(wheel.elapsed(), u64::MAX);
}

/// Inserts three nodes into one slot (`dues`), removes the one at `victim`, and checks
/// that the other two come back in order and the bookkeeping holds.
fn remove_from_one_slot(start: u64, dues: [u64; 3], victim: usize) {
    let mut arena = Arena::new();
    let mut wheel = wheel_at(start);
    let nodes = dues.map(|d| arena.node(d));
    for node in nodes {
        insert(&mut wheel, node).unwrap();
    }
    assert_eq!(wheel.len(), 3);
    remove(&mut wheel, nodes[victim]);
    assert!(!linked(nodes[victim]));
    assert_eq!(due(nodes[victim]), dues[victim], "remove keeps the due tick");
    assert_eq!(wheel.len(), 2);
    let mut got = Vec::new();
    while let Some(node) = wheel.poll(u64::MAX - 1) {
        got.push(node);
    }
    let expected: Vec<_> = (0..3).filter(|&i| i != victim).map(|i| nodes[i]).collect();
    assert_eq!(got, expected, "dues {dues:?}, victim {victim}");
    assert!(wheel.is_empty());
}

#[test]
fn remove_first_middle_or_last_of_a_slot() {
    for victim in 0..3 {
        // One level-0 slot (equal dues: FIFO order).
        remove_from_one_slot(0, [40, 40, 40], victim);
        // One level-2 slot (dues in 4096..8192 from clock 0), in due order and reversed.
        remove_from_one_slot(0, [4100, 5000, 8000], victim);
        remove_from_one_slot(100, [8000, 8000, 8000], victim);
        // One slot of the top level.
        remove_from_one_slot(0, [1 << 62, (1 << 62) + 1, (1 << 62) + 2], victim);
    }
}

#[test]
fn remove_in_every_order_leaves_a_usable_empty_wheel() {
    let orders = [[0, 1, 2], [0, 2, 1], [1, 0, 2], [1, 2, 0], [2, 0, 1], [2, 1, 0]];
    for order in orders {
        let mut arena = Arena::new();
        let mut wheel = TimingWheel::new();
        let nodes = [arena.node(300), arena.node(300), arena.node(300)];
        for node in nodes {
            insert(&mut wheel, node).unwrap();
        }
        for i in order {
            remove(&mut wheel, nodes[i]);
        }
        assert!(wheel.is_empty());
        assert_eq!(wheel.next_expiration(), None, "order {order:?}");
        assert_eq!(wheel.pop_any(), None);
        // The slot is reusable.
        insert(&mut wheel, nodes[1]).unwrap();
        assert_eq!(wheel.poll(300), Some(nodes[1]));
    }
}

#[test]
fn is_linked_follows_insert_remove_poll_and_pop_any() {
    let mut arena = Arena::new();
    let mut wheel = TimingWheel::new();
    let node = arena.node(70);
    assert!(!linked(node));
    insert(&mut wheel, node).unwrap();
    assert!(linked(node));
    remove(&mut wheel, node);
    assert!(!linked(node));
    insert(&mut wheel, node).unwrap();
    assert!(linked(node));
    assert_eq!(wheel.poll(69), None);
    assert!(linked(node), "still linked after a cascade");
    assert_eq!(wheel.poll(70), Some(node));
    assert!(!linked(node));
    // SAFETY: unlinked and ours.
    unsafe { TimerLinks::set_due(node, 100) };
    insert(&mut wheel, node).unwrap();
    assert_eq!(wheel.pop_any(), Some(node));
    assert!(!linked(node));
    assert_eq!(due(node), 100);
}

#[test]
fn equal_dues_come_back_fifo_even_when_inserted_at_different_levels() {
    let mut arena = Arena::new();
    let mut wheel = TimingWheel::new();
    // `a` goes in at level 2 (from clock 0), `b` at level 1 after the clock has moved into
    // the same 4096-block, `c` at level 0 once in the same 64-block.
    let [a, b, c, d] = [arena.node(5000), arena.node(5000), arena.node(5000), arena.node(5000)];
    insert(&mut wheel, a).unwrap();
    assert_eq!(wheel.poll(4100), None);
    insert(&mut wheel, b).unwrap();
    assert_eq!(wheel.poll(4993), None);
    insert(&mut wheel, c).unwrap();
    insert(&mut wheel, d).unwrap();
    assert_eq!(wheel.poll(5000), Some(a));
    assert_eq!(wheel.poll(5000), Some(b));
    assert_eq!(wheel.poll(5000), Some(c));
    assert_eq!(wheel.poll(5000), Some(d));
    assert_eq!(wheel.poll(5000), None);
}

#[test]
fn len_tracks_every_operation() {
    let mut arena = Arena::new();
    let mut wheel = TimingWheel::new();
    let nodes: Vec<_> = (1..=100).map(|i| arena.node(i * 37)).collect();
    for (i, &node) in nodes.iter().enumerate() {
        insert(&mut wheel, node).unwrap();
        assert_eq!(wheel.len(), i + 1);
    }
    for &node in nodes.iter().skip(50).step_by(5) {
        remove(&mut wheel, node);
    }
    assert_eq!(wheel.len(), 90);
    let mut popped = 0;
    while wheel.poll(37 * 50).is_some() {
        popped += 1;
    }
    assert_eq!(popped, 50);
    assert_eq!(wheel.len(), 40);
    assert!(wheel.pop_any().is_some());
    assert_eq!(wheel.len(), 39);
    assert!(!wheel.is_empty());
}

#[test]
fn pop_any_drains_everything_exactly_once() {
    let mut arena = Arena::new();
    let mut wheel = wheel_at(77);
    let mut expected = std::collections::BTreeSet::new();
    let mut x = 0x9e37_79b9_7f4a_7c15u64;
    for i in 0..600u64 {
        // A cheap xorshift spread of dues over every level.
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        let due_tick = 78u64.saturating_add(x >> (x % 64));
        let node = arena.node(due_tick);
        insert(&mut wheel, node).unwrap();
        if i % 7 == 3 {
            remove(&mut wheel, node);
        } else {
            expected.insert(node.as_ptr() as usize);
        }
    }
    // Cascade some of them first so that nodes sit at many levels.
    while wheel.poll(5000).is_some() {}
    let mut expected: std::collections::BTreeSet<usize> =
        expected.into_iter().filter(|&addr| linked(NonNull::new(addr as *mut TimerLinks).unwrap())).collect();
    assert_eq!(wheel.len(), expected.len());
    while let Some(node) = wheel.pop_any() {
        assert!(!linked(node));
        assert!(expected.remove(&(node.as_ptr() as usize)), "popped twice or never inserted");
    }
    assert!(expected.is_empty(), "{} nodes never popped", expected.len());
    assert!(wheel.is_empty());
    assert_eq!(wheel.next_expiration(), None);
    assert!(arena.0.iter().all(|n| !linked(NonNull::from(&**n))));
}

#[test]
fn wheel_is_send_and_debug_shows_occupancy() {
    fn send<T: Send>() {}
    send::<TimingWheel>();

    let mut arena = Arena::new();
    let mut wheel = TimingWheel::new();
    insert(&mut wheel, arena.node(3)).unwrap();
    insert(&mut wheel, arena.node(64)).unwrap();
    let text = format!("{wheel:?}");
    assert!(text.contains("elapsed: 0"), "{text}");
    assert!(text.contains("len: 2"), "{text}");
    // Level 0 slot 3, level 1 slot 1.
    assert!(text.contains("[0x0000000000000008, 0x0000000000000002, 0x0000000000000000"), "{text}");
    let links = format!("{:?}", arena.0[0]);
    assert_eq!(links, "TimerLinks { due: 3, linked: true }");
}
