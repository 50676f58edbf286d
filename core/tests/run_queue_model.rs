//! Model test: the priority run queues (`RunQueue`, `Stealers`, `Injectors`) on one
//! thread against a reference of one `VecDeque` per level, under random sequences of
//! push (at the task's priority or at another level), pop, pop at a level, injector push,
//! injector batch steal into the run queue, injector single steal, and a second run
//! queue's batch steal from the first.
//!
//! The reference's order is the queues' promised order: every `pop` returns the oldest
//! task of the most urgent non-empty level (highest priority first, FIFO within a level),
//! `pop_at` the oldest task at its level, and a steal the oldest task of the most urgent
//! level at or above its minimum. A batch steal moves a prefix of the victim's level (its
//! length is crossbeam's choice: the model reads it from the lengths) to the back of the
//! thief's level, in order. After every operation `len`, `is_empty` (and the injectors'
//! `has_work`) and `highest` must agree with the reference (`highest` may over-report,
//! never under-report).
//!
//! Tasks are real cells from `task::allocate`, identified by address while queued.

use std::collections::{HashMap, VecDeque};

use kairos_rt_core::queue::{Injectors, RunQueue};
use kairos_rt_core::task::{allocate, Closure, Outcome, Schedule, TaskOptions, TaskRef};
use kairos_rt_core::Priority;
use proptest::prelude::*;
use proptest::test_runner::Config;

/// Never called: ready closures never reach their scheduler.
struct NoSched;

impl Schedule for NoSched {
    fn schedule(&self, _task: TaskRef) {
        unreachable!("a ready closure is never scheduled")
    }
    fn timer_cancelled(&self, _task: TaskRef) {
        unreachable!("not a timed task")
    }
    fn future_completed(&self, _task: &TaskRef, _outcome: Outcome) {
        unreachable!("not a future")
    }
}

/// A few levels, so that levels collide often, including both ends.
fn level() -> impl Strategy<Value = u8> {
    prop_oneof![Just(0u8), Just(1), Just(20), Just(21), Just(47), Just(62), Just(63), 0u8..64]
}

#[derive(Clone, Debug)]
enum Op {
    /// `RunQueue::push` of a task of this priority.
    Push(u8),
    /// `RunQueue::push_at(level, task)` of a task whose own priority is the second value.
    PushAt(u8, u8),
    /// `RunQueue::pop`.
    Pop,
    /// `RunQueue::pop_at(level)`.
    PopAt(u8),
    /// `Injectors::push` of a task of this priority.
    Inject(u8),
    /// `Injectors::steal_into(&run_queue, min)`.
    StealInjected(u8),
    /// `Injectors::steal_one`.
    StealOne,
    /// The thief's `Stealers::steal_into(&thief, min)` from the run queue.
    Steal(u8),
    /// `RunQueue::pop` on the thief's queue.
    ThiefPop,
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        8 => level().prop_map(Op::Push),
        2 => (level(), level()).prop_map(|(l, p)| Op::PushAt(l, p)),
        6 => Just(Op::Pop),
        2 => level().prop_map(Op::PopAt),
        6 => level().prop_map(Op::Inject),
        3 => level().prop_map(Op::StealInjected),
        1 => Just(Op::StealOne),
        2 => level().prop_map(Op::Steal),
        2 => Just(Op::ThiefPop),
    ]
}

/// One reference queue: a FIFO of task ids per level.
#[derive(Default)]
struct Levels {
    levels: Vec<VecDeque<u64>>,
}

impl Levels {
    fn new() -> Levels {
        Levels { levels: vec![VecDeque::new(); Priority::LEVELS] }
    }
    fn push(&mut self, level: u8, id: u64) {
        self.levels[level as usize].push_back(id);
    }
    /// The most urgent non-empty level at or above `min`.
    fn highest_from(&self, min: u8) -> Option<u8> {
        (min as usize..Priority::LEVELS).rev().find(|&l| !self.levels[l].is_empty()).map(|l| l as u8)
    }
    fn pop_front(&mut self, level: u8) -> Option<u64> {
        self.levels[level as usize].pop_front()
    }
    fn len(&self) -> usize {
        self.levels.iter().map(VecDeque::len).sum()
    }
}

struct Harness {
    rq: RunQueue,
    thief: RunQueue,
    injectors: Injectors,
    model_rq: Levels,
    model_thief: Levels,
    model_inj: Levels,
    /// Queued task address → id.
    ids: HashMap<usize, u64>,
    next_id: u64,
}

fn prio(level: u8) -> Priority {
    Priority::new(level).expect("valid level")
}

impl Harness {
    fn new() -> Harness {
        Harness {
            rq: RunQueue::new(),
            thief: RunQueue::new(),
            injectors: Injectors::new(),
            model_rq: Levels::new(),
            model_thief: Levels::new(),
            model_inj: Levels::new(),
            ids: HashMap::new(),
            next_id: 0,
        }
    }

    /// A real closure task at `priority`, registered under a fresh id.
    fn task(&mut self, priority: u8) -> (TaskRef, u64) {
        let (task, _) = allocate(Closure(|| ()), None::<NoSched>, TaskOptions::ready(prio(priority)));
        let id = self.next_id;
        self.next_id += 1;
        assert!(self.ids.insert(task.as_ptr().as_ptr() as usize, id).is_none());
        (task, id)
    }

    /// The id of a task that left the queues (the task is then dropped, freeing it).
    fn id_of(&mut self, task: Option<TaskRef>) -> Option<u64> {
        task.map(|t| self.ids.remove(&(t.as_ptr().as_ptr() as usize)).expect("a task we queued"))
    }

    fn apply(&mut self, op: &Op) -> Result<(), TestCaseError> {
        match *op {
            Op::Push(p) => {
                let (t, id) = self.task(p);
                self.rq.push(t);
                self.model_rq.push(p, id);
            }
            Op::PushAt(l, p) => {
                let (t, id) = self.task(p);
                self.rq.push_at(prio(l), t);
                self.model_rq.push(l, id);
            }
            Op::Pop => {
                let got = self.rq.pop();
                let got = self.id_of(got);
                let want = self.model_rq.highest_from(0).and_then(|l| self.model_rq.pop_front(l));
                prop_assert_eq!(got, want, "pop");
            }
            Op::PopAt(l) => {
                let got = self.rq.pop_at(prio(l));
                let got = self.id_of(got);
                prop_assert_eq!(got, self.model_rq.pop_front(l), "pop_at({})", l);
            }
            Op::Inject(p) => {
                let (t, id) = self.task(p);
                self.injectors.push(t);
                self.model_inj.push(p, id);
            }
            Op::StealInjected(min) => {
                let before = self.injectors.len();
                let rq_before = self.rq.len();
                let got = self.injectors.steal_into(&self.rq, prio(min));
                let got = self.id_of(got);
                let moved = before - self.injectors.len();
                prop_assert_eq!(self.rq.len() - rq_before + usize::from(got.is_some()), moved);
                match self.model_inj.highest_from(min) {
                    None => prop_assert_eq!(got, None, "steal_into({}) from empty levels", min),
                    Some(l) => {
                        prop_assert!(moved >= 1, "steal_into({}) found nothing at level {}", min, l);
                        prop_assert_eq!(got, self.model_inj.pop_front(l), "steal_into({})", min);
                        for _ in 1..moved {
                            let id = self.model_inj.pop_front(l);
                            prop_assert!(id.is_some(), "batch longer than the level");
                            self.model_rq.push(l, id.unwrap());
                        }
                    }
                }
            }
            Op::StealOne => {
                let got = self.injectors.steal_one();
                let got = self.id_of(got);
                let want = self.model_inj.highest_from(0).and_then(|l| self.model_inj.pop_front(l));
                prop_assert_eq!(got, want, "steal_one");
            }
            Op::Steal(min) => {
                let before = self.rq.len();
                let thief_before = self.thief.len();
                let got = self.rq.stealers().steal_into(&self.thief, prio(min));
                let got = self.id_of(got);
                let moved = before - self.rq.len();
                prop_assert_eq!(self.thief.len() - thief_before + usize::from(got.is_some()), moved);
                match self.model_rq.highest_from(min) {
                    None => prop_assert_eq!(got, None, "steal({}) from empty levels", min),
                    Some(l) => {
                        prop_assert!(moved >= 1, "steal({}) found nothing at level {}", min, l);
                        prop_assert_eq!(got, self.model_rq.pop_front(l), "steal({})", min);
                        for _ in 1..moved {
                            let id = self.model_rq.pop_front(l);
                            prop_assert!(id.is_some(), "batch longer than the level");
                            self.model_thief.push(l, id.unwrap());
                        }
                    }
                }
            }
            Op::ThiefPop => {
                let got = self.thief.pop();
                let got = self.id_of(got);
                let want = self.model_thief.highest_from(0).and_then(|l| self.model_thief.pop_front(l));
                prop_assert_eq!(got, want, "thief pop");
            }
        }
        self.check()
    }

    fn check(&self) -> Result<(), TestCaseError> {
        for (q, m, name) in
            [(&self.rq, &self.model_rq, "run queue"), (&self.thief, &self.model_thief, "thief")]
        {
            prop_assert_eq!(q.len(), m.len(), "{} len", name);
            prop_assert_eq!(q.is_empty(), m.len() == 0, "{} is_empty", name);
            if let Some(l) = m.highest_from(0) {
                let h = q.highest().map(|p| p.index() as u8);
                prop_assert!(h >= Some(l), "{} highest {:?} under-reports level {}", name, h, l);
            }
        }
        prop_assert_eq!(self.injectors.len(), self.model_inj.len(), "injectors len");
        prop_assert_eq!(self.injectors.is_empty(), self.model_inj.len() == 0);
        // Exact, unlike the mask, which may keep a bit set after its level emptied.
        prop_assert_eq!(self.injectors.has_work(), self.model_inj.len() != 0, "injectors has_work");
        if let Some(l) = self.model_inj.highest_from(0) {
            let h = self.injectors.mask().highest().map(|p| p.index() as u8);
            prop_assert!(h >= Some(l), "injector mask {:?} under-reports level {}", h, l);
        }
        let queued = self.model_rq.len() + self.model_thief.len() + self.model_inj.len();
        prop_assert_eq!(self.ids.len(), queued, "every live task is queued exactly once");
        Ok(())
    }

    /// Empties everything through the promised order and checks it.
    fn drain(&mut self) -> Result<(), TestCaseError> {
        while self.model_rq.len() > 0 {
            self.apply(&Op::Pop)?;
        }
        prop_assert!(self.rq.pop().is_none());
        while self.model_thief.len() > 0 {
            self.apply(&Op::ThiefPop)?;
        }
        while self.model_inj.len() > 0 {
            self.apply(&Op::StealOne)?;
        }
        prop_assert!(self.ids.is_empty());
        Ok(())
    }
}

proptest! {
    #![proptest_config(Config { cases: 512, ..Config::default() })]

    #[test]
    fn run_queues_match_reference(ops in prop::collection::vec(op(), 1..200)) {
        let mut h = Harness::new();
        for op in &ops {
            h.apply(op)?;
        }
        h.drain()?;
    }
}

/// A long FIFO run at one level with interleaved higher-priority pushes: the batch-free
/// path of the same properties, deterministic, as a readable example.
#[test]
fn pops_are_priority_first_and_fifo_within_a_level() {
    let mut h = Harness::new();
    for i in 0..10u8 {
        h.apply(&Op::Push(5)).unwrap();
        if i % 3 == 0 {
            h.apply(&Op::Push(40)).unwrap();
        }
    }
    h.drain().unwrap();
}
