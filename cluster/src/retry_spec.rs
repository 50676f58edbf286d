//! A [`RetryPolicy`] as it is stored in a job's hash (field `r`):
//! `"first,cap,max_attempts,jitter,retry_on_panic"`, delays in milliseconds, then
//! `",priority"` (0-63) when the policy moves its retries to another priority
//! ([`RetryPolicy::retry_priority`]): ACK then writes that priority into the job.
//!
//! The policy's behaviour is fully given by the delay before the 2nd attempt (`first`),
//! the delay it grows to (`cap`: the delay before attempt `u32::MAX`), whether it
//! doubles (it does exactly when `cap > first`), the attempt limit, the jitter and the
//! panic rule; the decoded policy is `fixed(first)` or `exponential(first, cap)` with the
//! same rest, which computes the same delays as the one encoded.

use kairos_rt::{Jitter, Priority, RetryPolicy};
use std::time::Duration;

/// Encodes `p` for a job hash. Delays are rounded down to whole milliseconds.
pub(crate) fn encode(p: &RetryPolicy) -> String {
    let first = p.delay_before(2).as_millis().min(u64::MAX as u128);
    let cap = p.delay_before(u32::MAX).as_millis().min(u64::MAX as u128);
    let jitter = match p.jitter_mode() {
        Jitter::None => 'n',
        Jitter::Full => 'f',
        Jitter::Equal => 'e',
    };
    let base = format!("{first},{cap},{},{jitter},{}", p.attempts_limit(), u8::from(p.retries_panics()));
    match p.retries_at() {
        Some(priority) => format!("{base},{}", priority.level()),
        None => base,
    }
}

/// Decodes a stored spec; `None` if it is not one (a hash edited by hand).
pub(crate) fn decode(s: &str) -> Option<RetryPolicy> {
    let mut it = s.split(',');
    let first: u64 = it.next()?.parse().ok()?;
    let cap: u64 = it.next()?.parse().ok()?;
    let max: u32 = it.next()?.parse().ok()?;
    let jitter = match it.next()? {
        "n" => Jitter::None,
        "f" => Jitter::Full,
        "e" => Jitter::Equal,
        _ => return None,
    };
    let panics = match it.next()? {
        "0" => false,
        "1" => true,
        _ => return None,
    };
    let priority = match it.next() {
        None => None,
        Some(level) => Some(Priority::new(level.parse().ok()?).ok()?),
    };
    if it.next().is_some() || max == 0 || cap < first {
        return None;
    }
    let (first, cap) = (Duration::from_millis(first), Duration::from_millis(cap));
    let base = if cap > first { RetryPolicy::exponential(first, cap) } else { RetryPolicy::fixed(first) };
    let p = base.max_attempts(max).jitter(jitter).retry_on_panic(panics);
    Some(match priority {
        Some(priority) => p.retry_priority(priority),
        None => p,
    })
}

/// The delay before attempt `attempt` under `p`, with its jitter applied.
pub(crate) fn jittered_delay(p: &RetryPolicy, attempt: u32) -> Duration {
    let d = p.delay_before(attempt);
    let n = d.as_nanos().min(u64::MAX as u128) as u64;
    let nanos = match p.jitter_mode() {
        Jitter::None => n,
        Jitter::Full => fastrand::u64(0..=n),
        Jitter::Equal => n / 2 + fastrand::u64(0..=n - n / 2),
    };
    Duration::from_nanos(nanos)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_compute_the_same_delays() {
        let ms = Duration::from_millis;
        let policies = [
            RetryPolicy::fixed(ms(250)).max_attempts(3),
            RetryPolicy::exponential(ms(10), ms(1000)).max_attempts(9).jitter(Jitter::Equal),
            RetryPolicy::exponential(ms(5), ms(5)).max_attempts(2).retry_on_panic(false),
            RetryPolicy::exponential(ms(0), ms(100)).jitter(Jitter::Full),
            RetryPolicy::fixed(ms(7)).retry_priority(Priority::LOWEST),
            RetryPolicy::fixed(ms(7)).retry_priority(Priority::HIGHEST),
        ];
        for p in policies {
            let back = decode(&encode(&p)).expect("decodes");
            for a in [1, 2, 3, 4, 10, 40, u32::MAX] {
                assert_eq!(back.delay_before(a), p.delay_before(a), "{p:?} attempt {a}");
            }
            assert_eq!(back.attempts_limit(), p.attempts_limit());
            assert_eq!(back.jitter_mode(), p.jitter_mode());
            assert_eq!(back.retries_panics(), p.retries_panics());
            assert_eq!(back.retries_at(), p.retries_at());
        }
    }

    #[test]
    fn refuses_what_is_not_a_spec() {
        for bad in [
            "",
            "1,2,3",
            "1,2,3,n,0,64",
            "1,2,3,n,0,x",
            "1,2,3,n,0,9,1",
            "x,2,3,n,0",
            "5,2,3,n,0",
            "1,2,0,n,0",
            "1,2,3,q,0",
            "1,2,3,n,7",
        ] {
            assert!(decode(bad).is_none(), "{bad:?}");
        }
    }

    #[test]
    fn jitter_stays_within_the_delay() {
        let p = RetryPolicy::fixed(Duration::from_millis(100)).jitter(Jitter::Equal);
        for _ in 0..1000 {
            let d = jittered_delay(&p, 2);
            assert!(d >= Duration::from_millis(50) && d <= Duration::from_millis(100), "{d:?}");
        }
    }
}
