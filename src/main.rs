//! Thin entry point: parse arguments, run the command, map the outcome to an exit code.

// mimalloc: manifests of 100k nodes are millions of small allocations; glibc malloc was the
// largest single cost of loading them.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    zkstate::cli::main()
}

// Runs before `main` and before the Rust runtime's first allocation, so before mimalloc
// reserves its first arena (whose commit mode is fixed when it is reserved). glibc calls
// `.init_array` functions with `(argc, argv, envp)`, as Rust's own runtime relies on.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
#[used]
#[unsafe(link_section = ".init_array")]
static TUNE_ALLOCATOR: extern "C" fn(
    std::ffi::c_int,
    *const *const std::ffi::c_char,
    *const *const std::ffi::c_char,
) = tune_allocator;

// The bundled mimalloc API: `mi_option_set(mi_option_t, long)`; the option numbers are those of
// its `mi_option_e` enum (the same in its v2 and v3 headers).
#[cfg(all(target_os = "linux", target_env = "gnu"))]
unsafe extern "C" {
    fn mi_option_set(option: std::ffi::c_int, value: std::ffi::c_long);
}
#[cfg(all(target_os = "linux", target_env = "gnu"))]
const MI_OPTION_ARENA_EAGER_COMMIT: std::ffi::c_int = 4;
#[cfg(all(target_os = "linux", target_env = "gnu"))]
const MI_OPTION_PURGE_DELAY: std::ffi::c_int = 15;

/// Lets freed memory leave the resident set. With mimalloc's defaults, pages freed while a
/// 100k-node manifest loads (the YAML text, the JSON document, the loader thread's pages)
/// are only reset (`MADV_FREE`, still counted as resident until the kernel needs them) after
/// 10 ms (100 ms for whole arena ranges), so a `diff` peaked at 170–190 MB resident for a
/// 96 MB heap. Arenas that are not eagerly committed are decommitted instead, and a 1 ms delay
/// returns them before the next phase allocates: 120–130 MB for the same run, for ≈ 0.1 s of
/// extra system time (docs/benchmarks.md, issue 11). `validate` keeps mimalloc's defaults: it
/// holds nothing beside the manifests, and eager commit makes it ≈ 0.1 s faster at 100k nodes.
/// `MIMALLOC_*` variables still win. Allocates nothing (it runs before the runtime is set up).
#[cfg(all(target_os = "linux", target_env = "gnu"))]
extern "C" fn tune_allocator(
    argc: std::ffi::c_int,
    argv: *const *const std::ffi::c_char,
    _envp: *const *const std::ffi::c_char,
) {
    // SAFETY: glibc passes the program's argc/argv, valid NUL-terminated strings.
    let validating = (1..usize::try_from(argc).unwrap_or(0)).any(|i| unsafe {
        let arg = *argv.add(i);
        !arg.is_null() && std::ffi::CStr::from_ptr(arg).to_bytes() == b"validate"
    });
    if validating {
        return;
    }
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
