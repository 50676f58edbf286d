//! Issue 19 item 1: more runtimes alive at once than the process-wide home table holds
//! used to be built anyway, and their tasks then silently could not change priority.
//! Now `build()` fails with a clear error. Alone in its test binary (its own process), so
//! it takes no slot another test needs.

use kairos_rt::{Runtime, MAX_RUNTIMES};

#[test]
fn building_more_runtimes_than_can_be_alive_fails_loudly() {
    let mut alive = Vec::new();
    let err = loop {
        match Runtime::builder().workers(1).build() {
            Ok(rt) => alive.push(rt),
            Err(e) => break e,
        }
        assert!(alive.len() <= MAX_RUNTIMES, "{} runtimes built", alive.len());
    };
    assert_eq!(alive.len(), MAX_RUNTIMES);
    assert!(err.is_too_many_runtimes(), "{err:?}");
    assert!(err.to_string().contains(&format!("{MAX_RUNTIMES} kairos runtimes are alive")), "{err}");
    // Shutting one down frees its slot.
    drop(alive.pop());
    let again = Runtime::builder().workers(1).build().expect("a slot was freed");
    drop(again);
    drop(alive);
}
