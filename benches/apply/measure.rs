//! Measuring a child process: the `__measure` helper (spawn, reap with `wait4`, peak RSS and CPU),
//! the [`Run`] it reports, and the [`Sample`]s and medians the tables are made of.
use std::ffi::OsString;
use std::fs;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Instant;

/// The `VmHWM` of this process, in KiB.
fn own_hwm_kb() -> u64 {
    fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("VmHWM:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        })
        .unwrap_or(0)
}

/// `__measure OUT ERR PROG ARGS...`: runs PROG with stdout/stderr in the files, reaps it with
/// `wait4` and prints `{"wall":S,"maxrss_kb":K,"user":S,"sys":S,"code":C,"floor_kb":K}`.
/// Wall time runs from just before the spawn to the reap.
#[expect(
    clippy::zombie_processes,
    reason = "the child is reaped with wait4, which std's Child::wait cannot do"
)]
pub(crate) fn measure_main(out: &Path, err: &Path, prog: &str, rest: &[String]) {
    let floor = own_hwm_kb();
    let stdout = fs::File::create(out).expect("create stdout file");
    let stderr = fs::File::create(err).expect("create stderr file");
    let start = Instant::now();
    let child = Command::new(prog)
        .args(rest)
        .stdin(Stdio::null())
        .stdout(stdout)
        .stderr(stderr)
        .spawn()
        .unwrap_or_else(|e| panic!("spawn {prog}: {e}"));
    let pid = libc::pid_t::try_from(child.id()).expect("pid fits pid_t");
    let mut status: libc::c_int = 0;
    // SAFETY: rusage is plain old data; all-zero is a valid value.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: valid pointers to locals; `pid` is our unreaped child (its `Child` never waits).
    let reaped = unsafe { libc::wait4(pid, &mut status, 0, &mut usage) };
    let wall = start.elapsed();
    assert_eq!(reaped, pid, "wait4: {}", std::io::Error::last_os_error());
    let code = if libc::WIFEXITED(status) {
        libc::WEXITSTATUS(status)
    } else {
        -libc::WTERMSIG(status)
    };
    let secs = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
    println!(
        "{{\"wall\":{},\"maxrss_kb\":{},\"user\":{},\"sys\":{},\"code\":{code},\"floor_kb\":{floor}}}",
        wall.as_secs_f64(),
        usage.ru_maxrss,
        secs(usage.ru_utime),
        secs(usage.ru_stime),
    );
}

/// One child process as `__measure` saw it.
#[derive(Debug, Clone)]
pub(crate) struct Run {
    pub(crate) wall: f64,
    pub(crate) maxrss_kb: u64,
    pub(crate) user: f64,
    pub(crate) sys: f64,
    pub(crate) code: i32,
    pub(crate) floor_kb: u64,
    pub(crate) stdout: String,
    pub(crate) stderr: String,
}

impl Run {
    /// A number from the JSON line the child printed (its own timing).
    pub(crate) fn reported(&self, key: &str) -> f64 {
        let v: serde_json::Value = self
            .stdout
            .lines()
            .rev()
            .find_map(|l| serde_json::from_str(l).ok())
            .unwrap_or_else(|| panic!("no JSON line in the child's output: {}", self.stdout));
        v[key].as_f64().unwrap_or_else(|| panic!("no {key} in {v}"))
    }

    pub(crate) fn expect_code(&self, what: &str, code: i32) {
        assert!(
            self.code == code,
            "{what} exited {} (expected {code})\n--- stdout (tail)\n{}\n--- stderr (tail)\n{}",
            self.code,
            tail(&self.stdout),
            tail(&self.stderr)
        );
    }
}

/// The last 30 lines of `s`.
fn tail(s: &str) -> String {
    let lines: Vec<&str> = s.lines().collect();
    lines[lines.len().saturating_sub(30)..].join("\n")
}

/// Runs `prog args` through the `__measure` helper.
pub(crate) fn measure(scratch: &Path, prog: &str, args: &[OsString]) -> Run {
    let out = scratch.join("child.out");
    let err = scratch.join("child.err");
    let me = std::env::current_exe().expect("own path");
    let output = Command::new(me)
        .arg("__measure")
        .arg(&out)
        .arg(&err)
        .arg(prog)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("run the measuring helper");
    assert!(
        output.status.success(),
        "measuring helper failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let v: serde_json::Value =
        serde_json::from_slice(&output.stdout).expect("the helper's JSON line");
    let f = |k: &str| v[k].as_f64().expect("number");
    Run {
        wall: f("wall"),
        maxrss_kb: f("maxrss_kb") as u64,
        user: f("user"),
        sys: f("sys"),
        code: f("code") as i32,
        floor_kb: f("floor_kb") as u64,
        stdout: fs::read_to_string(&out).unwrap_or_default(),
        stderr: fs::read_to_string(&err).unwrap_or_default(),
    }
}

/// Arguments as `OsString`s.
pub(crate) fn os(args: &[&str]) -> Vec<OsString> {
    args.iter().map(OsString::from).collect()
}

/// One measurement: whole-process wall, the child's own timing (if any), peak RSS, CPU.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Sample {
    pub(crate) wall: f64,
    pub(crate) inner: Option<f64>,
    pub(crate) rss_kb: u64,
    pub(crate) cpu: f64,
}

/// The sample of a run, with the child's own timing if it reports one.
pub(crate) fn sample(run: &Run, inner: Option<f64>) -> Sample {
    Sample {
        wall: run.wall,
        inner,
        rss_kb: run.maxrss_kb,
        cpu: run.user + run.sys,
    }
}

/// The median (`NaN` for none).
pub(crate) fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    let n = v.len();
    if n == 0 {
        f64::NAN
    } else if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    }
}
