//! The `sharelock` binary: everything lives in the library's `cli` module.

/// mimalloc: a small GET allocates and frees a few dozen blocks across the serving threads, and
/// glibc's malloc spent a tenth of the request's CPU on them (its consolidation included);
/// mimalloc's per-thread free lists cut the request's CPU by about 12% (BENCHMARKS.md, fifth
/// pass). Only the CLI and server binary: the library leaves the allocator to whoever links it.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// mimalloc v3's `mi_option_arena_eager_commit` and `mi_option_purge_delay` (their places in
/// its `mi_option_e`, which keeps retired options as placeholders so that numbers never move;
/// the Rust bindings name only the v2 options).
const ARENA_EAGER_COMMIT: libmimalloc_sys::mi_option_t = 4;
const PURGE_DELAY: libmimalloc_sys::mi_option_t = 15;

fn main() -> std::process::ExitCode {
    // Arenas are committed as they are used, not whole, and freed pages go back to the system
    // after 100 ms instead of a second. With mimalloc's defaults the peak RSS under 32 downloads
    // at once was 62 MiB (the target is 64); with these, 57 (glibc: 55). Pages freed at once
    // (0 ms) gave 54 but doubled the time of an `add` of 1,000 small files, each file's buffers
    // faulted in afresh; at 100 ms the add is as fast as with glibc.
    // SAFETY: set before the runtime starts any thread, as `mi_option_set` requires.
    unsafe {
        libmimalloc_sys::mi_option_set(ARENA_EAGER_COMMIT, 0);
        libmimalloc_sys::mi_option_set(PURGE_DELAY, 100);
    }
    sharelock::cli::main()
}
