//! The `sharelock` binary: everything lives in the library's `cli` module.

fn main() -> std::process::ExitCode {
    sharelock::cli::main()
}
