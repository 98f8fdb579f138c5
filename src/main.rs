//! Thin entry point: parse arguments, run the command, map the outcome to an exit code.

// mimalloc: manifests of 100k nodes are millions of small allocations; glibc malloc was the
// largest single cost of loading them.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    zkstate::cli::main()
}

// Runs before `main` and before the Rust runtime's first allocation, so before mimalloc
// reserves its first arena (whose commit mode is fixed when it is reserved).
#[cfg(target_os = "linux")]
#[used]
#[unsafe(link_section = ".init_array")]
static TUNE_ALLOCATOR: extern "C" fn() = tune_allocator;

// The bundled mimalloc (v3) API: `mi_option_set(mi_option_t, long)`; the option numbers are
// those of its `mi_option_e` enum.
#[cfg(target_os = "linux")]
unsafe extern "C" {
    fn mi_option_set(option: std::ffi::c_int, value: std::ffi::c_long);
}
#[cfg(target_os = "linux")]
const MI_OPTION_ARENA_EAGER_COMMIT: std::ffi::c_int = 4;
#[cfg(target_os = "linux")]
const MI_OPTION_PURGE_DELAY: std::ffi::c_int = 15;

/// Keeps freed heap memory out of the resident set. By default mimalloc commits its arenas
/// eagerly and advises them for transparent huge pages, and then purges freed memory only in
/// 2 MiB units: the kernel backs half-used ranges with whole huge pages, so a no-op `diff` of
/// 100k nodes peaked at 150-186 MiB resident for a 96 MB heap, `validate` at 99 MiB and the
/// idle 100k-node agent held 71-77 MiB for 29 MB of live data. Arenas committed on demand use
/// 4 KiB pages, and a 1 ms purge delay returns freed ranges before the next phase allocates:
/// 106-130 MiB, 72 MiB and 54 MiB, for ≈ 0.05-0.15 s more page faulting per 100k-node command
/// (docs/benchmarks.md, issue 11). `MIMALLOC_ARENA_EAGER_COMMIT` / `MIMALLOC_PURGE_DELAY`
/// in the environment still win. Allocates nothing (it runs before the runtime is set up).
#[cfg(target_os = "linux")]
extern "C" fn tune_allocator() {
    let options = [
        (
            c"MIMALLOC_ARENA_EAGER_COMMIT",
            MI_OPTION_ARENA_EAGER_COMMIT,
            0,
        ),
        (c"MIMALLOC_PURGE_DELAY", MI_OPTION_PURGE_DELAY, 1),
    ];
    for (var, option, value) in options {
        // SAFETY: this runs from `.init_array`, single-threaded, before any other code of
        // this program; getenv reads the environment the loader set up, mi_option_set only
        // stores the option's value (it is not thread safe, hence this early call).
        unsafe {
            if libc::getenv(var.as_ptr()).is_null() {
                mi_option_set(option, value);
            }
        }
    }
}
