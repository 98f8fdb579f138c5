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
unsafe extern "C" {
    fn mi_option_set(option: std::ffi::c_int, value: std::ffi::c_long);
}
const MI_OPTION_ARENA_EAGER_COMMIT: std::ffi::c_int = 4;
const MI_OPTION_PURGE_DELAY: std::ffi::c_int = 15;

/// Lets freed memory leave the resident set. With mimalloc's defaults, pages freed while a
/// 100k-node manifest loads (the YAML text, the JSON document, the loader thread's pages)
/// are only reset (`MADV_FREE`, still counted as resident until the kernel needs them) after
/// 10 ms (100 ms for whole arena ranges), so a `diff` peaked at 170–190 MB resident for a
/// 96 MB heap. Arenas that are not eagerly committed are decommitted instead, and a 1 ms delay
/// returns them before the next phase allocates: 120–130 MB for the same run, for ≈ 0.1 s of
/// extra system time (docs/benchmarks.md, issue 11). `MIMALLOC_*` variables still win.
/// Allocates nothing (it runs before the runtime is set up).
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
