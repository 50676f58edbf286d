//! Finding work: steps 2 and 3 of the main loop (see the parent module), and the checks
//! a worker makes before it parks.
//!
//! Rules kept here: urgent work submitted from outside never waits behind local bulk
//! (the injectors' mask is compared with the local queue's highest level on every pick);
//! the injectors get a turn at equal levels every [`GLOBAL_QUEUE_INTERVAL`] picks; a busy
//! worker looks for more urgent work at its peers every [`PEER_CHECK_INTERVAL`] picks;
//! at most half of the workers search at once, and the last searcher to find work wakes
//! another sleeper.

use super::aging::CHECK_EVERY;
use super::batching::{self, Took};
use super::WorkerCtx;
use crate::stats::Count;
use kairos_rt_core::sync::atomic::{fence, Ordering::SeqCst};
use kairos_rt_core::task::TaskRef;
use kairos_rt_core::Priority;

/// How often (in picks) the injectors get a turn at the local queue's own level.
const GLOBAL_QUEUE_INTERVAL: u32 = 61;

/// How often (in picks) a busy worker looks for more urgent work queued at its peers.
const PEER_CHECK_INTERVAL: u32 = 16;

impl WorkerCtx {
    pub(super) fn next_task(&self, pick: u32) -> Option<TaskRef> {
        if pick % CHECK_EVERY == 0 {
            if let Some(t) = self.aged_task() {
                return Some(t);
            }
        }
        let injectors = &self.shared.injectors;
        let global = injectors.mask().highest();
        if pick % PEER_CHECK_INTERVAL == 0 {
            let mine = self.queue.highest().max(global);
            if let Some(t) = self.steal_more_urgent(mine) {
                return Some(t);
            }
        }
        loop {
            let Some(local) = self.queue.highest() else {
                return global.and_then(|_| self.steal_injected(Priority::LOWEST));
            };
            let global_first = match global {
                Some(g) => g > local || (g == local && pick % GLOBAL_QUEUE_INTERVAL == 0),
                None => false,
            };
            if let Some(g) = global.filter(|_| global_first) {
                let t = if g > local {
                    // Every level above the local one, not just the advertised top: a bit
                    // can outlive its level's last task until a steal finds it empty.
                    let above = Priority::new(local.level() + 1).unwrap_or(Priority::HIGHEST);
                    self.steal_injected(above)
                } else {
                    let t = injectors.refill_and_pop(&self.queue, local);
                    self.offer_filled(local);
                    t
                };
                if t.is_some() {
                    return t;
                }
            }
            if let Some(t) = self.queue.pop_level(local) {
                return Some(t);
            }
            // `local` was a stale bit (thieves emptied the level, or a batch steal took
            // its only task): `pop_level` cleared it. Compare again with the injectors,
            // or a less urgent local task would run ahead of a more urgent injected one.
        }
    }

    /// Steals a batch from the injectors' most urgent level at or above `min`, first
    /// waiting for the batch to build up if this worker has been catching single tasks of
    /// a stream (see [`batching`]).
    fn steal_injected(&self, min: Priority) -> Option<TaskRef> {
        let waited = self.batching.armed() && self.queue.is_empty();
        if waited {
            batching::wait_for_batch();
        }
        let task = self.shared.injectors.steal_into(&self.queue, min);
        if let Some(t) = &task {
            self.offer_filled(t.priority());
        }
        let took = match &task {
            None => Took::Nothing,
            // Judged by this worker's queue: a steal into a queue that held tasks already
            // counts as several (no wait needed while there is local work).
            Some(_) if self.queue.is_empty() => Took::One,
            Some(_) => Took::Several,
        };
        self.batching.after_steal(waited, took);
        task
    }

    /// One task of the most overdue level, if aging is on and a level is overdue.
    fn aged_task(&self) -> Option<TaskRef> {
        let aging = self.aging.as_ref()?;
        let injectors = &self.shared.injectors;
        let visible = kairos_rt_core::LevelMask(self.queue.mask().0 | injectors.mask().0);
        if visible.0.count_ones() < 2 {
            // One level or none: nothing can be starved. Keep the clocks of the idle
            // levels reset without reading the time.
            return None;
        }
        let now = self.shared.clock.now_tick().max(1);
        let level = aging.overdue(visible, now)?;
        let t = match self.queue.pop_at(level) {
            Some(t) => t,
            None => {
                let t = injectors.steal_level_into(&self.queue, level)?;
                self.offer_filled(level);
                t
            }
        };
        aging.served(level, now);
        Some(t)
    }

    /// Steals from a peer that advertises a level above `mine` (the best this worker could
    /// run otherwise), so urgent work queued behind a busy peer does not wait while this
    /// worker runs less urgent work.
    fn steal_more_urgent(&self, mine: Option<Priority>) -> Option<TaskRef> {
        let remotes = &self.shared.remotes;
        if remotes.len() <= 1 || mine == Some(Priority::HIGHEST) {
            return None;
        }
        let min =
            mine.map_or(Priority::LOWEST, |m| Priority::new(m.level() + 1).unwrap_or(Priority::HIGHEST));
        let victim = self.most_urgent_peer(self.index + 1, min);
        let found = victim.and_then(|v| remotes[v].stealers.steal_into(&self.queue, min));
        if let Some(t) = &found {
            self.count(Count::Stolen);
            self.offer_filled(t.priority());
        }
        found
    }

    /// After a batch moved into this worker's queue from elsewhere (the injectors, a
    /// peer's queue) outside a search: wakes a sleeper if tasks are left and nobody
    /// searches. The batch was in neither queue for a moment, so a searcher's re-check
    /// before it slept may have missed it, while the submitter trusted that searcher and
    /// woke nobody (`RunQueue::filled_then_wants_notify`; loom model `batch_steal.rs`).
    /// A searcher's own steals are covered by [`stop_searching`](Self::stop_searching),
    /// which looks after it leaves the searchers. A fence per batch that left tasks at
    /// its `level`, not per task.
    fn offer_filled(&self, level: Priority) {
        if !self.searching.get() && self.queue.filled_then_wants_notify(&self.shared.idle, Some(level)) {
            self.shared.notify_one();
        }
    }

    /// Leaves the searchers; the last one out wakes a helper if it sees more work.
    ///
    /// The last searcher found work, and there may be more: if a task is still waiting
    /// after it left (in its own queue, which a batch steal fills, an injector or a peer's
    /// queue), it wakes a sleeper to help. Always, even for one task: skipping it for a
    /// few saves a wake-up per burst of short tasks, but leaves a worker asleep while the
    /// queued tasks wait behind a long or blocking one (tests/wake_ups.rs fails then).
    ///
    /// With nothing waiting it wakes nobody. It used to wake one anyway, and tasks
    /// submitted one at a time into an idle runtime then cost two wake-ups each: the
    /// submitter woke worker A, A took the task and woke B, B found nothing and parked
    /// (`perf sched timehist`: the workers woke each other after every submission), and
    /// the next submission woke B. A task pushed after the look below sees no searcher
    /// and wakes a sleeper itself (the fence below against the submitter's fence after
    /// its push: one of the two sees the other). This wake-up is not only for
    /// parallelism: a submitter (or a sender of a timer message) that saw this worker
    /// searching skipped its own wake-up, and relies on this look for the work the
    /// searcher did not take itself. Modelled in `loom-tests/tests/searcher_hand_off.rs`
    /// (seen to fail without the look and without its fence).
    pub(super) fn stop_searching(&self) {
        if self.searching.replace(false) && self.shared.idle.stop_searching() {
            fence(SeqCst);
            if self.ready_work_waiting() {
                #[cfg(test)]
                HAND_OFFS.record(&self.shared);
                self.shared.notify_one();
            }
        }
    }

    /// Whether work waits where a woken peer would find it: a ready task in this worker's
    /// queue, an injector, or another worker's queue (each checked for a task, not only
    /// by its occupancy mask, which can stay set after its queue emptied), or a timed
    /// task or cancel sent to an awake peer (which may be stuck in a long task; its
    /// sender, seeing this searcher, woke nobody to take it: `Shared::knock`).
    fn ready_work_waiting(&self) -> bool {
        !self.queue.is_empty()
            || self.shared.injectors.has_work()
            || self.peer_work_waiting()
            || self.peer_messages_wait()
    }

    /// Whether another worker's queue holds a task (checked past its occupancy mask).
    fn peer_work_waiting(&self) -> bool {
        self.shared
            .remotes
            .iter()
            .enumerate()
            .any(|(i, r)| i != self.index && r.stealers.maybe_has_work() && r.stealers.has_work())
    }

    pub(super) fn search(&self) -> Option<TaskRef> {
        if !self.searching.get() {
            if !self.shared.idle.try_start_searching() {
                return None;
            }
            self.searching.set(true);
        }
        let found = self.steal_from_peers().or_else(|| self.steal_injected(Priority::LOWEST));
        if found.is_some() {
            self.stop_searching();
        }
        found
    }

    fn steal_from_peers(&self) -> Option<TaskRef> {
        let remotes = &self.shared.remotes;
        let n = remotes.len();
        if n <= 1 {
            return None;
        }
        let start = (self.next_random() % n as u64) as usize;
        let first = self.most_urgent_peer(start, Priority::LOWEST)?;
        let found = remotes[first].stealers.steal_into(&self.queue, Priority::LOWEST).or_else(|| {
            (0..n)
                .map(|k| (start + k) % n)
                .filter(|&v| v != self.index && v != first)
                .find_map(|v| remotes[v].stealers.steal_into(&self.queue, Priority::LOWEST))
        });
        if found.is_some() {
            self.count(Count::Stolen);
        }
        found
    }

    /// The peer advertising the most urgent level at or above `min`, scanning every other
    /// worker once from index `start` (modulo their number); ties go to the first scanned.
    fn most_urgent_peer(&self, start: usize, min: Priority) -> Option<usize> {
        let remotes = &self.shared.remotes;
        let n = remotes.len();
        let mut best: Option<(Priority, usize)> = None;
        for v in (0..n).map(|k| (start + k) % n).filter(|&v| v != self.index) {
            if let Some(level) = remotes[v].stealers.advertised().highest().filter(|&h| h >= min) {
                if best.is_none_or(|(b, _)| level > b) {
                    best = Some((level, v));
                }
            }
        }
        best.map(|(_, v)| v)
    }

    /// Whether any ready work or timer message is visible (cheap; used before parking).
    pub(super) fn work_hint(&self) -> bool {
        let remote = self.remote();
        self.ready_work_visible() || !remote.timer_inbox.is_empty() || !remote.timer_cancels.is_empty()
    }

    pub(super) fn ready_work_visible(&self) -> bool {
        !self.queue.is_empty() || self.shared.injectors.maybe_has_work() || self.peer_work_waiting()
    }
}

/// The last searcher's hand-off wake-ups, for tests.
#[cfg(test)]
pub(crate) static HAND_OFFS: super::events::RuntimeEvents = super::events::RuntimeEvents::new();

#[cfg(test)]
mod tests {
    use super::super::test_helpers::spawn_at_worker;
    use super::{WorkerCtx, CHECK_EVERY, GLOBAL_QUEUE_INTERVAL, HAND_OFFS, PEER_CHECK_INTERVAL};
    use crate::sched::shared::Shared;
    use crate::test_support::{runtime_without_threads, runtime_without_threads_with};
    use crate::{JoinHandle, Priority, Runtime};
    use kairos_rt_core::queue::RunQueue;
    use kairos_rt_core::sync::Arc;
    use kairos_rt_core::task::TaskRef;
    use std::time::{Duration, Instant};

    /// Worker 0 of a runtime of `workers` whose threads never start (the test plays
    /// every worker's part), and the other workers' queues.
    fn worker_0(workers: usize) -> (Runtime, Arc<Shared>, WorkerCtx, Vec<RunQueue>) {
        worker_0_with(workers, |_| {})
    }

    /// [`worker_0`] with the runtime's configuration changed by `configure`.
    fn worker_0_with(
        workers: usize,
        configure: impl FnOnce(&mut crate::config::BuilderConfig),
    ) -> (Runtime, Arc<Shared>, WorkerCtx, Vec<RunQueue>) {
        let (rt, shared, mut queues) = runtime_without_threads_with(workers, configure);
        let ctx = WorkerCtx::new(shared.clone(), 0, queues.remove(0));
        (rt, shared, ctx, queues)
    }

    /// Far-off timed tasks sent from outside until one lands in worker 1's inbox (the
    /// last handle): `timer_owner` picks an awake worker at random.
    fn far_timers_until_worker_1_has_one(rt: &Runtime, shared: &Shared) -> Vec<JoinHandle<()>> {
        let far = Instant::now() + Duration::from_secs(3600);
        let mut timed = Vec::new();
        while shared.remotes[1].timer_inbox.is_empty() {
            assert!(timed.len() < 10_000, "no timed task from outside reached worker 1");
            timed.push(rt.spawn_at(far, Priority::NORMAL, || ()));
        }
        timed
    }

    /// Spawns an empty task at `priority` from outside and moves it from the injectors
    /// into `queue`, as if that queue's worker had pushed it (its push saw no sleeper).
    fn queue_at(rt: &Runtime, shared: &Shared, queue: &RunQueue, priority: Priority) {
        drop(rt.spawn(priority, || ()));
        queue.push(shared.injectors.steal_one().expect("just spawned"));
    }

    /// Runs what worker 0 took and whatever is left in its queue and its peers', then
    /// shuts down: every task is accounted for.
    fn finish(rt: Runtime, ctx: WorkerCtx, first: TaskRef, peers: Vec<RunQueue>) {
        ctx.run_task(first);
        for queue in std::iter::once(&ctx.queue).chain(&peers) {
            while let Some(t) = queue.pop() {
                ctx.run_task(t);
            }
        }
        drop(ctx);
        let report = rt.shutdown();
        assert!(report.is_balanced(), "{report:?}");
    }

    /// The last worker searched while tasks were submitted (so the submitter woke
    /// nobody), then registered as a sleeper after a re-check that missed them (a batch
    /// in transit between two queues: loom model `batch_steal.rs`). Worker 0, not
    /// searching, takes a batch at pick `pick` (`setup` queues the tasks) and runs the
    /// first: it must wake the sleeper for what it left in its queue.
    fn a_batch_taken_outside_a_search_wakes_the_sleeper(
        workers: usize,
        pick: u32,
        setup: impl FnOnce(&Runtime, &Shared, &WorkerCtx, &[RunQueue]),
    ) {
        let (rt, shared, ctx, peers) = worker_0(workers);
        let sleeper = workers - 1;
        assert!(shared.idle.try_start_searching());
        setup(&rt, &shared, &ctx, &peers);
        shared.idle.register_sleeper(sleeper, true);
        let first = ctx.next_task(pick).expect("worker 0 takes a batch");
        assert!(!ctx.queue.is_empty(), "the batch left tasks in worker 0's queue");
        assert!(
            shared.remotes[sleeper].parker.park_timeout(Duration::ZERO),
            "tasks wait in a busy worker's queue and the sleeper was never woken"
        );
        assert!(shared.idle.unregister_sleeper(sleeper), "the notifier took it off the list");
        finish(rt, ctx, first, peers);
    }

    #[test]
    fn a_batch_stolen_from_the_injectors_wakes_a_sleeper() {
        a_batch_taken_outside_a_search_wakes_the_sleeper(2, 1, |rt, _, _, _| {
            for _ in 0..3 {
                drop(rt.spawn(Priority::NORMAL, || ()));
            }
        });
    }

    /// The fairness pick at equal levels moves a batch of the injectors' tasks behind
    /// worker 0's own.
    #[test]
    fn a_fairness_refill_from_the_injectors_wakes_a_sleeper() {
        a_batch_taken_outside_a_search_wakes_the_sleeper(2, GLOBAL_QUEUE_INTERVAL, |rt, shared, ctx, _| {
            queue_at(rt, shared, &ctx.queue, Priority::NORMAL);
            for _ in 0..3 {
                drop(rt.spawn(Priority::NORMAL, || ()));
            }
        });
    }

    /// The peer check every few picks steals more urgent work queued behind a busy
    /// worker (worker 1) while worker 2 sleeps.
    #[test]
    fn a_batch_of_more_urgent_work_stolen_from_a_peer_wakes_a_sleeper() {
        a_batch_taken_outside_a_search_wakes_the_sleeper(3, PEER_CHECK_INTERVAL, |rt, shared, ctx, peers| {
            queue_at(rt, shared, &ctx.queue, Priority::LOW);
            for _ in 0..4 {
                queue_at(rt, shared, &peers[0], Priority::HIGH);
            }
            // A steal that finds the injectors empty clears their mask (a stale HIGH bit
            // would read as more urgent work there, and the peer check would skip).
            assert!(shared.injectors.steal_one().is_none());
        });
    }

    /// Aging serves an overdue LOW level from the injectors ahead of worker 0's own HIGH
    /// tasks: its steal moves a batch of LOW tasks into worker 0's queue, outside a
    /// search, while worker 1 sleeps; worker 0 must wake it for them. (The sleep only
    /// lets the clock pass the 100 us budget; a longer one changes nothing.)
    #[test]
    fn a_batch_stolen_by_aging_wakes_a_sleeper() {
        let (rt, shared, ctx, peers) = worker_0_with(2, |config| {
            config.aging = Some(crate::config::Aging::uniform(Duration::from_micros(100)));
        });
        assert!(shared.idle.try_start_searching(), "worker 1 searches");
        queue_at(&rt, &shared, &ctx.queue, Priority::HIGH);
        queue_at(&rt, &shared, &ctx.queue, Priority::HIGH);
        for _ in 0..3 {
            drop(rt.spawn(Priority::LOW, || ()));
        }
        // Aging's first look starts the LOW level's clock; the pick serves a HIGH task.
        let high = ctx.next_task(CHECK_EVERY).expect("a HIGH task");
        assert_eq!(high.priority(), Priority::HIGH);
        ctx.run_task(high);
        std::thread::sleep(Duration::from_millis(2));
        shared.idle.register_sleeper(1, true);
        let aged = ctx.next_task(2 * CHECK_EVERY).expect("an aged LOW task");
        assert_eq!(aged.priority(), Priority::LOW, "aging served the overdue level");
        assert!(
            shared.remotes[1].parker.park_timeout(Duration::ZERO),
            "LOW tasks wait in a busy worker's queue and the sleeper was never woken"
        );
        assert!(shared.idle.unregister_sleeper(1), "the notifier took it off the list");
        finish(rt, ctx, aged, peers);
    }

    /// A future on worker 0 spawns a task (its push sees worker 1 searching and wakes
    /// nobody); worker 1 then gives up and sleeps (its look at the injectors came before
    /// the future's push below, its look at worker 0's queue after worker 0 took the
    /// task); the future yields. Worker 0 runs its own queued task next, so the yield
    /// must wake the sleeper for the future, or the future waits for that task to end.
    #[test]
    fn a_future_that_yields_behind_its_own_spawn_wakes_a_sleeper() {
        let (rt, shared, ctx, peers) = worker_0(2);
        let guard = crate::sched::context::enter_worker(&ctx);
        assert!(shared.idle.try_start_searching(), "worker 1 searches");
        let idle = shared.clone();
        let future = rt.spawn_future(Priority::NORMAL, async move {
            drop(crate::spawn(Priority::NORMAL, || ()));
            idle.idle.register_sleeper(1, true);
            crate::yield_now().await;
        });
        let first = ctx.next_task(1).expect("the future");
        ctx.run_task(first);
        assert!(!ctx.queue.is_empty(), "the spawned task waits in worker 0's queue");
        assert!(
            shared.remotes[1].parker.park_timeout(Duration::ZERO),
            "the yielded future waits behind worker 0's own task and the sleeper was never woken"
        );
        assert!(shared.idle.unregister_sleeper(1), "the notifier took it off the list");
        let mut pick = 1;
        while !future.is_finished() {
            pick += 1;
            let task = ctx.next_task(pick).expect("the spawned task, then the future");
            ctx.run_task(task);
        }
        drop(guard);
        let last = ctx.next_task(pick + 1);
        assert!(last.is_none(), "nothing left");
        drop(peers);
        drop(ctx);
        let report = rt.shutdown();
        assert!(report.is_balanced(), "{report:?}");
    }

    /// The last searcher to find work looks at its awake peers' timer messages too: a
    /// timed task sent to a busy worker was left to a searcher (its sender saw one and
    /// woke nobody), so when that searcher finds other work it must wake a sleeper to
    /// take the message into the busy worker's wheel.
    #[test]
    fn the_last_searcher_wakes_a_sleeper_for_a_busy_peers_timer_message() {
        let (rt, shared, ctx, peers) = worker_0(3);
        assert!(shared.idle.try_start_searching());
        ctx.searching.set(true);
        let timed = far_timers_until_worker_1_has_one(&rt, &shared);
        shared.idle.register_sleeper(2, false);
        ctx.stop_searching();
        assert!(
            shared.remotes[2].parker.park_timeout(Duration::ZERO),
            "a timed task waits in a busy worker's inbox and the sleeper was never woken"
        );
        assert!(shared.idle.unregister_sleeper(2), "the notifier took it off the list");
        drop((timed, peers, ctx));
        drop(rt);
    }

    /// A worker about to park sees a task queued at a peer whose push found no sleeper
    /// (it looked before this worker registered): its re-check must look at the peers'
    /// queues, or the task waits for that peer's current task to end.
    #[test]
    fn the_check_before_parking_sees_a_task_queued_at_a_peer() {
        let (rt, shared, ctx, peers) = worker_0(2);
        assert!(!ctx.work_hint(), "nothing queued yet");
        queue_at(&rt, &shared, &peers[0], Priority::NORMAL);
        assert!(shared.injectors.steal_one().is_none(), "clears the injectors' stale bit");
        assert!(ctx.work_hint(), "the check before parking misses a task queued at a peer");
        let stolen = ctx.search().expect("worker 0 steals it");
        finish(rt, ctx, stolen, peers);
    }

    /// Tasks submitted one at a time, each waited for: the worker woken for each is the
    /// last searcher when it takes it, and nothing else waits, so it wakes nobody. (It
    /// used to wake the other worker every time, which found nothing: one hand-off per
    /// task.) Tasks left behind are the other case, `tests/wake_ups.rs`.
    #[test]
    fn a_searcher_that_takes_the_only_task_wakes_nobody() {
        let rt = Runtime::builder().workers(2).spin_before_park(Duration::ZERO).build().unwrap();
        HAND_OFFS.watch(&rt.handle().shared);
        let tasks = 200;
        for _ in 0..tasks {
            rt.spawn(Priority::NORMAL, || ()).join().unwrap();
            std::thread::sleep(Duration::from_micros(200));
        }
        let hand_offs = HAND_OFFS.count();
        assert!(
            hand_offs <= tasks / 10,
            "{hand_offs} hand-off wake-ups for {tasks} tasks submitted one at a time"
        );
        rt.shutdown();
    }

    /// Workers 0 and 1 of a two-worker runtime whose threads never start, and far-off
    /// timed tasks sent from outside until one lands in worker 1's inbox (the last
    /// handle). Worker 0 takes its own inbox into its wheel; with `in_wheel`, worker 1
    /// takes its inbox too (one step 1 of each), so its last timer waits in its wheel.
    fn worker_1_holds_a_far_timer(
        in_wheel: bool,
    ) -> (Runtime, Arc<Shared>, WorkerCtx, WorkerCtx, Vec<JoinHandle<()>>) {
        let (rt, shared, mut queues) = runtime_without_threads(2);
        let one = WorkerCtx::new(shared.clone(), 1, queues.pop().unwrap());
        let zero = WorkerCtx::new(shared.clone(), 0, queues.pop().unwrap());
        let timed = far_timers_until_worker_1_has_one(&rt, &shared);
        zero.maintain_timers();
        if in_wheel {
            one.maintain_timers();
            assert!(shared.remotes[1].timer_inbox.is_empty());
        }
        assert!(shared.remotes[0].timer_inbox.is_empty());
        (rt, shared, zero, one, timed)
    }

    /// A timed task is cancelled from outside while worker 1, whose wheel holds it, is
    /// awake (it may be stuck in a long task) and worker 0 sleeps: the cancel must wake
    /// worker 0 (`Knock::Peer`), and worker 0's help before parking must unlink the cell
    /// from worker 1's wheel for it, or the cell waits for worker 1's run to end.
    #[test]
    fn a_cancel_sent_to_a_busy_worker_wakes_a_sleeper_that_unlinks_it() {
        let (rt, shared, zero, one, timed) = worker_1_holds_a_far_timer(true);
        let before = rt.pending().timed();
        shared.idle.register_sleeper(0, false);
        assert!(timed.last().unwrap().cancel());
        assert!(
            shared.remotes[0].parker.park_timeout(Duration::ZERO),
            "a cancel sent to a busy worker woke no sleeper"
        );
        assert!(shared.idle.unregister_sleeper(0), "the notifier took it off the list");
        zero.searching.set(true);
        assert!(!zero.help_peers(), "a cancel queues no task");
        assert!(
            shared.remotes[1].timer_cancels.is_empty(),
            "the woken worker left the cancel in the busy worker's queue"
        );
        assert_eq!(rt.pending().timed(), before - 1, "the cancelled cell is still in worker 1's wheel");
        zero.stop_searching();
        drop((timed, zero, one));
        drop(rt);
    }

    /// A timed task (`cancel == false`) or a cancel sent to an awake worker 1 before
    /// worker 0 registered as a sleeper: its sender saw no sleeper and woke nobody, so
    /// worker 0's re-check before it parks must see the message and not park (a permit
    /// given beforehand is still there after `park` if it did not park).
    fn the_check_before_parking_sees_a_busy_peers_message(cancel: bool, lingering: bool) {
        let (rt, shared, zero, one, mut timed) = worker_1_holds_a_far_timer(cancel);
        if lingering {
            // A timed task streams into worker 0's inbox after its step 1: it lingers.
            timed.push(spawn_at_worker(&rt.handle(), &shared, 0, Instant::now() + Duration::from_secs(3600)));
            assert!(!shared.remotes[0].timer_inbox.is_empty());
            super::super::park::LINGERS.watch(&shared);
        }
        if cancel {
            assert!(timed.last().unwrap().cancel());
            assert!(!shared.remotes[1].timer_cancels.is_empty());
        }
        assert_eq!(shared.idle.num_searching(), 0);
        shared.remotes[0].parker.unpark();
        zero.park();
        assert!(
            shared.remotes[0].parker.park_timeout(Duration::ZERO),
            "worker 0 parked while a message waited at its awake peer"
        );
        if lingering {
            assert_eq!(super::super::park::LINGERS.count(), 1, "worker 0 did not linger");
        }
        drop((timed, zero, one));
        drop(rt);
    }

    #[test]
    fn the_check_before_parking_sees_a_timed_task_sent_to_a_busy_peer() {
        the_check_before_parking_sees_a_busy_peers_message(false, false);
    }

    #[test]
    fn the_check_before_parking_sees_a_cancel_sent_to_a_busy_peer() {
        the_check_before_parking_sees_a_busy_peers_message(true, false);
    }

    #[test]
    fn a_lingering_worker_s_check_sees_a_timed_task_sent_to_a_busy_peer() {
        the_check_before_parking_sees_a_busy_peers_message(false, true);
    }

    /// Worker 0 takes several timed tasks that came due while they waited in its inbox
    /// (its step 1 queues them) while worker 1 sleeps: it runs one and must wake the
    /// sleeper for the others (`tend`, `TimerDensity::wakes_peer_for`).
    #[test]
    fn timers_fired_into_a_queue_wake_a_sleeper() {
        let (rt, shared, mut queues) = runtime_without_threads(2);
        let zero = WorkerCtx::new(shared.clone(), 0, queues.remove(0));
        let due = Instant::now() + Duration::from_millis(2);
        let timed: Vec<_> = (0..3).map(|_| spawn_at_worker(&rt.handle(), &shared, 0, due)).collect();
        assert!(shared.remotes[1].timer_inbox.is_empty(), "all went to worker 0");
        assert!(shared.remotes[0].parker.park_timeout(Duration::ZERO), "the first push woke worker 0");
        while Instant::now() < due + Duration::from_millis(1) {
            std::thread::sleep(Duration::from_millis(1));
        }
        shared.idle.register_sleeper(1, false);
        zero.maintain_timers();
        assert_eq!(zero.queue.len(), 3, "all three came due");
        assert!(
            shared.remotes[1].parker.park_timeout(Duration::ZERO),
            "timers fired into a busy worker's queue and the sleeper was never woken"
        );
        assert!(shared.idle.unregister_sleeper(1));
        while let Some(t) = zero.queue.pop() {
            zero.run_task(t);
        }
        drop((timed, zero, queues));
        let report = rt.shutdown();
        assert!(report.is_balanced(), "{report:?}");
    }

    /// What happens while worker 0 parks, in [`the_re_check_sees`].
    #[derive(Clone, Copy, Debug)]
    enum Meanwhile {
        /// A task submitted from outside (its notify sees no sleeper).
        Task,
        /// Worker 1 links a timer into its own wheel (its announce reads worker 0 awake).
        PeerTimer,
        /// Worker 1 helps worker 0: it links worker 0's inbox into worker 0's wheel.
        HelpedTimer,
    }

    /// `what` happens after worker 0's first look at its wake ticks and before it
    /// registers (`hooks::BEFORE_REGISTER`): only worker 0's re-check after its fence can see
    /// it; a permit given beforehand is still there after `park` if worker 0 did not park.
    fn the_re_check_sees(what: Meanwhile) {
        use super::super::park::hooks::BEFORE_REGISTER;
        let (rt, shared, mut queues) = runtime_without_threads(2);
        let one = std::rc::Rc::new(WorkerCtx::new(shared.clone(), 1, queues.pop().unwrap()));
        let zero = WorkerCtx::new(shared.clone(), 0, queues.pop().unwrap());
        let handles = std::rc::Rc::new(std::cell::RefCell::new(Vec::new()));
        let (rt2, shared2, one2, handles2) = (rt.handle(), shared.clone(), one.clone(), handles.clone());
        BEFORE_REGISTER.with(|h| {
            h.set(move || {
                let soon = Instant::now() + Duration::from_secs(1);
                let owner = match what {
                    Meanwhile::Task => return drop(rt2.spawn(Priority::NORMAL, || ())),
                    Meanwhile::PeerTimer => 1,
                    Meanwhile::HelpedTimer => 0,
                };
                handles2.borrow_mut().push(spawn_at_worker(&rt2, &shared2, owner, soon));
                assert!(!shared2.remotes[owner].timer_inbox.is_empty());
                if owner == 1 {
                    one2.maintain_timers();
                } else {
                    assert!(!one2.help_peers(), "worker 1 links worker 0's inbox");
                }
                assert!(shared2.remotes[owner].timer_inbox.is_empty());
            })
        });
        shared.remotes[0].parker.unpark();
        zero.park();
        assert!(shared.remotes[0].parker.park_timeout(Duration::ZERO), "worker 0 parked past: {what:?}");
        drop((handles, zero, one, queues));
        drop(rt);
    }

    #[test]
    fn the_re_check_sees_a_task_submitted_as_the_worker_parks() {
        the_re_check_sees(Meanwhile::Task);
    }

    #[test]
    fn the_re_check_sees_a_peer_s_new_timer_linked_as_the_worker_parks() {
        the_re_check_sees(Meanwhile::PeerTimer);
    }

    #[test]
    fn the_re_check_sees_its_own_wheel_lowered_by_a_helper_as_it_parks() {
        the_re_check_sees(Meanwhile::HelpedTimer);
    }
}
