//! The `sharelock` binary: everything lives in the library's `cli` module.

/// jemalloc: a small GET allocates and frees a few dozen blocks on the serving threads, and
/// glibc's `malloc` and `free` (its consolidation included) were about a tenth of the request's
/// CPU; jemalloc's thread caches cut the request's CPU by about 8%. Unlike mimalloc, tried
/// before it, its memory settles under the mixed load test (BENCHMARKS.md, sixth pass). Only
/// the CLI and server binary: the library leaves the allocator to whoever links it.
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

/// jemalloc's start-up options, read before the first allocation (hence a symbol, not a call
/// in `main`; `_RJEM_MALLOC_CONF` in the environment still overrides them). A background
/// thread gives freed pages back to the system on jemalloc's decay clock even while the server
/// is idle; without it they go back only as later allocations tick that clock, and a server
/// left idle after a burst kept 25 MiB where glibc kept 19 (12 with it).
// SAFETY: jemalloc reads this as a `const char *` to a NUL-terminated string, which a reference
// to the first byte of a static byte string is; nothing else defines the symbol.
#[unsafe(export_name = "_rjem_malloc_conf")]
static JEMALLOC_OPTIONS: &u8 = &b"background_thread:true\0"[0];

fn main() -> std::process::ExitCode {
    sharelock::cli::main()
}
