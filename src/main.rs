//! Thin entry point: parse arguments, run the command, map the outcome to an exit code.

// mimalloc: manifests of 100k nodes are millions of small allocations; glibc malloc was the
// largest single cost of loading them.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    zkstate::cli::main()
}
