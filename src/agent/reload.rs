//! What SIGHUP changes in a running agent (docs/agent.md, "Reload").
//!
//! The CLI installs one hook ([`set_source`]) that resolves the settings again through the same
//! code that resolved them at start (flags over the `--config` file over defaults; `files:`
//! relative to the config file, whatever the working directory). [`take`] then copies the keys
//! a running agent can change ([`RELOADABLE_KEYS`]) into its settings and says what changed;
//! every other key (the connection, `listen`, `host-id`, `lock-format`, ...) needs a restart.
use std::sync::OnceLock;

use super::Settings;

/// Config keys (long flag names) a reload takes. Every other key needs a restart.
pub const RELOADABLE_KEYS: [&str; 8] = [
    "files",
    "observe",
    "resync-interval",
    "debounce",
    "max-deletes",
    "prune-removed",
    "allow-split",
    "max-request-bytes",
];

/// Resolves the settings again; `None` when they are invalid (the source reports why).
pub type Source = Box<dyn Fn() -> Option<Settings> + Send + Sync>;

static SOURCE: OnceLock<Source> = OnceLock::new();

/// Installs how a reload resolves the settings (the CLI re-reads `--config`). Only the first
/// call counts: one process runs one agent.
pub fn set_source(source: Source) {
    let _ = SOURCE.set(source);
}

/// The settings as they resolve now, `None` without a source or when they are invalid.
pub(super) fn reread() -> Option<Settings> {
    SOURCE.get().and_then(|f| f())
}

/// What [`take`] changed, for the agent loop to act on.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(super) struct Taken {
    /// The manifest paths: the set is re-read from them, and they are watched instead.
    pub files: bool,
    /// The debounce of the file watch (the watch is started again).
    pub debounce: bool,
    /// The resync period (the timer is started again).
    pub resync: bool,
}

/// Copies the reloadable settings of `new` into `current`.
pub(super) fn take(current: &mut Settings, new: Settings) -> Taken {
    let taken = Taken {
        files: new.files != current.files,
        debounce: new.debounce != current.debounce,
        resync: new.resync_interval != current.resync_interval,
    };
    current.files = new.files;
    current.debounce = new.debounce;
    current.resync_interval = new.resync_interval;
    current.observe = new.observe;
    current.prune_removed = new.prune_removed;
    let pass = &mut current.pass;
    pass.max_deletes = new.pass.max_deletes;
    pass.planner.prune_removed = new.pass.planner.prune_removed;
    pass.exec.allow_split = new.pass.exec.allow_split;
    pass.exec.max_request_bytes = new.pass.exec.max_request_bytes;
    taken
}
