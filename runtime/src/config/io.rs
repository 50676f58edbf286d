//! The I/O driver lent to kairos code ([`IoDriver`]): with the `tokio` feature, a tokio
//! runtime handle whose reactor and timers every kairos future can use.
//!
//! kairos has no reactor of its own. With the feature, the builder stores a tokio handle
//! here (given with `Builder::tokio_handle`, or made by `Builder::enable_tokio` from a
//! tokio runtime this driver owns), and every thread that runs kairos code enters it:
//! each worker for its whole life (the guard is taken before the start hook and dropped
//! after the stop hook, before the thread exits), each blocking-pool thread likewise,
//! and `block_on` for the length of the call. Guards are dropped in the reverse order
//! of their creation on their own thread, as tokio requires.
//!
//! An owned tokio runtime is stopped by [`IoDriver::shut_down`] (the runtime's shutdown,
//! once the workers and the blocking pool are done) or, failing that, when the driver is
//! dropped; both use `shutdown_background`, which never blocks (so it is safe from any
//! thread, even one of tokio's own) and drops the tasks left on tokio.
//!
//! Without the feature the driver is empty and entering it costs nothing.

use std::fmt;
use std::marker::PhantomData;

/// What the runtime lends its threads for I/O.
#[derive(Default)]
pub(crate) struct IoDriver {
    #[cfg(feature = "tokio")]
    tokio: Option<TokioDriver>,
}

/// Entered while it lives (see [`IoDriver::enter`]); not `Send`: dropped on the thread
/// that made it.
pub(crate) struct IoGuard<'a> {
    #[cfg(feature = "tokio")]
    _tokio: Option<tokio::runtime::EnterGuard<'a>>,
    _not_send: PhantomData<(&'a (), *const ())>,
}

impl IoDriver {
    /// Makes the driver's reactor and timers the current thread's until the guard drops.
    pub(crate) fn enter(&self) -> IoGuard<'_> {
        IoGuard {
            #[cfg(feature = "tokio")]
            _tokio: self.tokio.as_ref().map(|t| t.handle.enter()),
            _not_send: PhantomData,
        }
    }

    /// Stops an owned tokio runtime (without waiting for it); a given handle is left alone.
    pub(crate) fn shut_down(&self) {
        #[cfg(feature = "tokio")]
        if let Some(t) = &self.tokio {
            t.stop_owned();
        }
    }
}

impl fmt::Debug for IoDriver {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_struct("IoDriver");
        #[cfg(feature = "tokio")]
        d.field("tokio", &self.tokio);
        d.finish()
    }
}

#[cfg(feature = "tokio")]
pub(crate) use tokio_driver::TokioDriver;

#[cfg(feature = "tokio")]
mod tokio_driver {
    use super::IoDriver;
    use std::fmt;
    use std::sync::{Mutex, PoisonError};

    /// A tokio handle, and the tokio runtime behind it when kairos made it.
    pub(crate) struct TokioDriver {
        pub(super) handle: tokio::runtime::Handle,
        owned: Mutex<Option<tokio::runtime::Runtime>>,
    }

    impl TokioDriver {
        /// A driver on a tokio runtime the caller keeps running.
        pub(crate) fn given(handle: tokio::runtime::Handle) -> TokioDriver {
            TokioDriver { handle, owned: Mutex::new(None) }
        }

        /// A driver on a tokio runtime of its own: a multi-thread runtime with one worker
        /// thread (named `"{name}-tokio"`), which drives the reactor and timers whenever
        /// it has no tokio task to run.
        pub(crate) fn owned(name: &str) -> std::io::Result<TokioDriver> {
            let rt = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(1)
                .thread_name(format!("{name}-tokio"))
                .enable_all()
                .build()?;
            Ok(TokioDriver { handle: rt.handle().clone(), owned: Mutex::new(Some(rt)) })
        }

        pub(super) fn stop_owned(&self) {
            let owned = self.owned.lock().unwrap_or_else(PoisonError::into_inner).take();
            if let Some(rt) = owned {
                rt.shutdown_background();
            }
        }

        pub(crate) fn into_driver(self) -> IoDriver {
            IoDriver { tokio: Some(self) }
        }
    }

    impl Drop for TokioDriver {
        fn drop(&mut self) {
            // A plain drop of a tokio runtime blocks, and panics on a tokio thread.
            self.stop_owned();
        }
    }

    impl fmt::Debug for TokioDriver {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            let owned = self.owned.lock().unwrap_or_else(PoisonError::into_inner).is_some();
            f.debug_struct("TokioDriver")
                .field("flavor", &self.handle.runtime_flavor())
                .field("owned", &owned)
                .finish()
        }
    }
}
