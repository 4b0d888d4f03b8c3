//! The allocator: mimalloc instead of the system's, for the binary, the tests and the
//! benches, and how long it keeps freed memory before handing it back to the OS.
//!
//! Training allocates and frees tensors of hundreds of KiB every step. glibc hands each one
//! back to the OS (mmap above 128 KiB) and the next step page-faults it in again — ≈13% of a
//! CPU training step under perf. mimalloc keeps freed memory for a purge delay, but the v3 it
//! builds purges everything free at that moment once the delay (1 s) after the first free has
//! passed, so memory a step frees and the next step would reuse is still returned and faulted
//! in again: a 60-iteration GAN run took 50,000 page faults, and their zeroing on the calling
//! thread was 7.5% of its samples with the compute pool waiting. At 10 s the same run takes
//! 4,600–5,500 (at "never", 1,000): memory comes back to the OS within seconds of a run's end
//! rather than within one.

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// mimalloc's `mi_option_purge_delay` (`mimalloc.h` of the v2 and v3 sources libmimalloc-sys
/// 0.1.49 builds: both number it 15; the crate's bindings leave it out).
const PURGE_DELAY: std::ffi::c_int = 15;

/// Milliseconds freed memory stays with the process (see the module's doc).
pub const PURGE_DELAY_MS: std::ffi::c_long = 10_000;

unsafe extern "C" {
    /// From the mimalloc library libmimalloc-sys compiles and links.
    fn mi_option_set(option: std::ffi::c_int, value: std::ffi::c_long);
    fn mi_option_get(option: std::ffi::c_int) -> std::ffi::c_long;
}

/// Set the purge delay for the rest of the process, unless `MIMALLOC_PURGE_DELAY` names one
/// (mimalloc reads it, so a user's choice stands). Called first thing by the binary and the
/// benchmarks; safe to call again.
pub fn keep_freed_memory() {
    if std::env::var_os("MIMALLOC_PURGE_DELAY").is_none() {
        // SAFETY: mimalloc's options are plain atomics, settable at any time from any thread.
        unsafe { mi_option_set(PURGE_DELAY, PURGE_DELAY_MS) }
    }
}

/// The purge delay mimalloc is using, in milliseconds.
pub fn purge_delay_ms() -> i64 {
    // SAFETY: reads an option (an atomic), initialising it from the environment first.
    unsafe { mi_option_get(PURGE_DELAY) as i64 }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The option number is the purge delay's: setting it is what `purge_delay_ms` reads back
    /// (a wrong number would set some other option and leave the delay at mimalloc's 1 s).
    #[test]
    fn the_purge_delay_is_set() {
        if std::env::var_os("MIMALLOC_PURGE_DELAY").is_some() {
            panic!("unset MIMALLOC_PURGE_DELAY to run this test");
        }
        assert_eq!(purge_delay_ms(), 1_000, "mimalloc's own default");
        keep_freed_memory();
        assert_eq!(purge_delay_ms(), PURGE_DELAY_MS);
    }
}
