//! Switches a test flips for the recordings it makes.

thread_local! {
    static FAST_PATH: std::cell::Cell<bool> = const { std::cell::Cell::new(true) };
}

/// Whether recordings made by this thread use the in-process fast path.
pub(crate) fn fast_path() -> bool {
    FAST_PATH.with(|f| f.get())
}

/// Runs `f` with recordings made by this thread tracing every syscall (`--no-fast-path`).
#[allow(dead_code)]
pub fn without_fast_path<T>(f: impl FnOnce() -> T) -> T {
    FAST_PATH.with(|c| c.set(false));
    let out = f();
    FAST_PATH.with(|c| c.set(true));
    out
}
