//! The Lua scripts: each one atomic step on one queue (see `scripts/*.lua`, whose first
//! lines state what each does and returns). Every script is `common.lua` followed by its
//! body; `KEYS[1]` is always the queue's key prefix, so Redis Cluster routes the call to
//! the queue's slot. `redis::Script` runs them by SHA and loads them again by itself after
//! a Redis restart (`NOSCRIPT`).

use std::sync::LazyLock;

#[cfg(test)]
mod tests;

const COMMON: &str = include_str!("scripts/common.lua");

fn script(body: &str) -> redis::Script {
    redis::Script::new(&format!("{COMMON}\n{body}"))
}

/// All scripts, compiled (hashed) once per process.
pub(crate) struct Scripts {
    pub enqueue: redis::Script,
    pub claim: redis::Script,
    pub ack: redis::Script,
    pub extend: redis::Script,
    pub cancel: redis::Script,
    pub requeue: redis::Script,
    pub heartbeat: redis::Script,
    pub counts: redis::Script,
    pub fire: redis::Script,
    pub schedule: redis::Script,
    pub release: redis::Script,
}

pub(crate) static SCRIPTS: LazyLock<Scripts> = LazyLock::new(|| Scripts {
    enqueue: script(include_str!("scripts/enqueue.lua")),
    claim: script(include_str!("scripts/claim.lua")),
    ack: script(include_str!("scripts/ack.lua")),
    extend: script(include_str!("scripts/extend.lua")),
    cancel: script(include_str!("scripts/cancel.lua")),
    requeue: script(include_str!("scripts/requeue.lua")),
    release: script(include_str!("scripts/release.lua")),
    heartbeat: script(include_str!("scripts/heartbeat.lua")),
    counts: script(include_str!("scripts/counts.lua")),
    fire: script(include_str!("scripts/fire.lua")),
    schedule: script(include_str!("scripts/schedule.lua")),
});

impl Scripts {
    /// Every script, for loading them at connect time (which is how a Redis without Lua,
    /// or an ACL that forbids scripts, is found at once rather than at the first job).
    pub(crate) fn all(&self) -> [&redis::Script; 11] {
        [
            &self.enqueue,
            &self.claim,
            &self.ack,
            &self.extend,
            &self.cancel,
            &self.requeue,
            &self.heartbeat,
            &self.counts,
            &self.fire,
            &self.schedule,
            &self.release,
        ]
    }
}
