//! `UnsafeCell` with loom's closure-based access API in both builds.
//!
//! Under `--cfg loom` this is `loom::cell::UnsafeCell`, which checks that no two threads
//! access the cell concurrently without synchronisation. In normal builds it is a
//! zero-cost wrapper over `core::cell::UnsafeCell` with the same `with`/`with_mut` API.

#[cfg(loom)]
pub use loom::cell::UnsafeCell;

/// A `core::cell::UnsafeCell` with loom's access API (`with`, `with_mut`).
#[cfg(not(loom))]
#[derive(Debug, Default)]
#[repr(transparent)]
pub struct UnsafeCell<T>(core::cell::UnsafeCell<T>);

#[cfg(not(loom))]
impl<T> UnsafeCell<T> {
    /// Wraps `value`.
    pub const fn new(value: T) -> Self {
        UnsafeCell(core::cell::UnsafeCell::new(value))
    }

    /// Gives `f` a shared raw pointer to the contents.
    #[inline(always)]
    pub fn with<R>(&self, f: impl FnOnce(*const T) -> R) -> R {
        f(self.0.get())
    }

    /// Gives `f` a mutable raw pointer to the contents.
    #[inline(always)]
    pub fn with_mut<R>(&self, f: impl FnOnce(*mut T) -> R) -> R {
        f(self.0.get())
    }

    /// Consumes the cell and returns the contents.
    pub fn into_inner(self) -> T {
        self.0.into_inner()
    }
}
