//! The agent's Git source (docs/contract.md §4a, docs/agent.md "Following Git"): fetching REF
//! from URL into a bare clone under `--git-dir`, checking each new commit (signature against
//! `--git-verify`, descent from the commit of the applied record unless
//! `--git-allow-rewrite`), materialising its DIR atomically and loading it as a manifest set.
//!
//! It owns the clone and the materialised trees under `--git-dir` and nothing else: it never
//! talks to ZooKeeper (the applied record's revision arrives as a value) and never plans or
//! applies. All Git work is blocking (gitoxide) and runs in [`tokio::task::spawn_blocking`].
//! Credentials in the URL are masked ([`Redactor`]) in everything this module returns or logs.
use std::collections::{HashSet, VecDeque};
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, SystemTime};

use tokio::sync::mpsc::UnboundedSender;

use super::Reason;
use crate::manifest::{self, LoadOptions, LoadedSet};

/// The local ref the fetched commit is kept under.
const FETCHED_REF: &str = "refs/zkstate/fetched";
/// Commits walked at most when checking descent.
const MAX_WALK: usize = 1_000_000;
/// Deepening steps before a commit that cannot be found counts as a rewrite.
const DEEPEN_STEPS: [u32; 5] = [16, 128, 1024, 16384, 0];

/// `--git*` settings, resolved.
#[derive(Clone)]
pub struct GitSettings {
    /// `--git URL`, as given (may hold a credential: never print it, use [`Self::redacted_url`]).
    pub url: String,
    /// `--git-ref` as given (`main`, `refs/heads/main`, `refs/tags/v1`, a commit id).
    pub reference: String,
    /// `--git-path`: the manifest directory inside the repository (empty: its root).
    pub path: PathBuf,
    pub interval: Duration,
    /// `--git-verify`: git's allowed-signers file.
    pub verify: Option<PathBuf>,
    pub allow_rewrite: bool,
    /// `--git-dir`: where the clone and the materialised trees live.
    pub dir: PathBuf,
    /// `dir` is this process's own (the default outside systemd): removed when the agent stops.
    pub remove_dir: bool,
    /// `--git-token-file`'s content: HTTP(S) basic auth, the URL's user name (or `git`) and
    /// this token as the password.
    pub token: Option<String>,
    /// `--git-ssh-key`: the private key for `ssh://` (a deploy key).
    pub ssh_key: Option<PathBuf>,
    /// `--git-known-hosts`: the only host keys `ssh://` trusts.
    pub known_hosts: Option<PathBuf>,
    /// `--webhook-secret-file`'s content (trailing whitespace trimmed): enables
    /// `POST /hooks/git`.
    pub webhook_secret: Option<String>,
}

impl GitSettings {
    pub fn redactor(&self) -> Redactor {
        let mut r = Redactor::for_url(&self.url);
        if let Some(t) = &self.token {
            r.add(t);
        }
        r
    }

    /// HTTP(S) basic auth: the token (`--git-token-file`, else the URL's password) and the
    /// URL's user name (or `git`).
    fn credentials(&self) -> Option<(String, String)> {
        let (_, rest) = self.url.split_once("://")?;
        let authority = &rest[..rest.find('/').unwrap_or(rest.len())];
        let userinfo = authority.rfind('@').map(|at| &authority[..at]);
        let (user, password) = match userinfo {
            Some(u) => match u.split_once(':') {
                Some((user, pass)) => (percent_decode(user), Some(percent_decode(pass))),
                None => (percent_decode(u), None),
            },
            None => (String::new(), None),
        };
        let token = self.token.clone().or(password)?;
        let user = if user.is_empty() { "git".into() } else { user };
        Some((user, token))
    }

    /// The URL without its user info (the credentials go through [`Self::credentials`]).
    fn fetch_url(&self) -> String {
        if self.url.starts_with("http://") || self.url.starts_with("https://") {
            let (scheme, rest) = self.url.split_once("://").unwrap_or_default();
            let end = rest.find('/').unwrap_or(rest.len());
            if let Some(at) = rest[..end].rfind('@') {
                return format!("{scheme}://{}", &rest[at + 1..]);
            }
        }
        self.url.clone()
    }

    pub fn redacted_url(&self) -> String {
        redact_url(&self.url)
    }

    /// The revision an apply of `commit` records: `<ref>@sha1:<id>`.
    pub fn revision(&self, commit: &str) -> String {
        format!("{}@sha1:{commit}", self.reference)
    }

    /// The refspec fetching REF into [`FETCHED_REF`].
    fn refspec(&self) -> String {
        let r = self.reference.as_str();
        let source = if r.starts_with("refs/") || is_commit_id(r) {
            r.to_owned()
        } else {
            format!("refs/heads/{r}")
        };
        format!("+{source}:{FETCHED_REF}")
    }
}

impl fmt::Debug for GitSettings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GitSettings")
            .field("url", &self.redacted_url())
            .field("reference", &self.reference)
            .field("path", &self.path)
            .field("interval", &self.interval)
            .field("verify", &self.verify)
            .field("allow_rewrite", &self.allow_rewrite)
            .field("dir", &self.dir)
            .field("token", &self.token.as_ref().map(|_| "***"))
            .field(
                "webhook_secret",
                &self.webhook_secret.as_ref().map(|_| "***"),
            )
            .finish()
    }
}

fn is_commit_id(s: &str) -> bool {
    s.len() == 40 && s.bytes().all(|b| b.is_ascii_hexdigit())
}

/// The commit named by an applied record's revision (`<ref>@sha1:<id>`), if it is one.
pub fn commit_of_revision(revision: &str) -> Option<String> {
    let (_, id) = revision.rsplit_once("@sha1:")?;
    is_commit_id(id).then(|| id.to_ascii_lowercase())
}

/// `https://user:token@host/x` → `https://***@host/x`; other URLs unchanged.
pub fn redact_url(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    let authority_end = rest.find('/').unwrap_or(rest.len());
    match rest[..authority_end].rfind('@') {
        Some(at) => format!("{scheme}://***{}", &rest[at..]),
        None => url.to_owned(),
    }
}

/// Masks a URL's user info (as written and percent-decoded) in any text.
#[derive(Clone, Debug, Default)]
pub struct Redactor {
    secrets: Vec<String>,
}

impl Redactor {
    pub fn for_url(url: &str) -> Self {
        let mut secrets = Vec::new();
        if let Some((_, rest)) = url.split_once("://") {
            let authority = &rest[..rest.find('/').unwrap_or(rest.len())];
            if let Some(at) = authority.rfind('@') {
                let userinfo = &authority[..at];
                secrets.push(userinfo.to_owned());
                for part in userinfo.split(':') {
                    secrets.push(part.to_owned());
                    secrets.push(percent_decode(part));
                }
            }
        }
        secrets.retain(|s| s.len() >= 3);
        // Longest first, so a part never leaves the rest of a longer secret behind.
        secrets.sort_by_key(|s| std::cmp::Reverse(s.len()));
        secrets.dedup();
        Redactor { secrets }
    }

    /// Masks `secret` too (a token from a file).
    pub fn add(&mut self, secret: &str) {
        if secret.len() >= 3 {
            self.secrets.push(secret.to_owned());
            self.secrets.sort_by_key(|s| std::cmp::Reverse(s.len()));
            self.secrets.dedup();
        }
    }

    pub fn clean(&self, text: &str) -> String {
        let mut out = text.to_owned();
        for s in &self.secrets {
            out = out.replace(s.as_str(), "***");
        }
        out
    }
}

fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%'
            && i + 2 < b.len()
            && let Ok(v) = std::str::from_utf8(&b[i + 1..i + 3])
                .map_err(|_| ())
                .and_then(|h| u8::from_str_radix(h, 16).map_err(|_| ()))
        {
            out.push(v);
            i += 3;
            continue;
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// One line of an allowed-signers file that applies to namespace `git`.
#[derive(Clone, Debug)]
struct AllowedSigner {
    principals: String,
    key: ssh_key::PublicKey,
}

/// Parses git's allowed-signers format (`gpg.ssh.allowedSignersFile`): `principals [options]
/// keytype base64 [comment]`. Lines whose `namespaces=` excludes `git`, and `cert-authority`
/// lines (not supported), are skipped.
fn parse_allowed_signers(text: &str) -> Vec<AllowedSigner> {
    let mut out = Vec::new();
    for line in text.lines() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let tokens = tokenize(line);
        if tokens.len() < 3 {
            continue;
        }
        let Some(k) = (1..tokens.len() - 1).find(|&i| ssh_key::Algorithm::new(&tokens[i]).is_ok())
        else {
            continue;
        };
        let options = tokens[1..k].join(",");
        if options.contains("cert-authority") {
            continue;
        }
        if let Some(ns) = option_value(&options, "namespaces")
            && !ns.split(',').any(|n| n == "git")
        {
            continue;
        }
        let Ok(key) = ssh_key::PublicKey::from_openssh(&format!("{} {}", tokens[k], tokens[k + 1]))
        else {
            continue;
        };
        out.push(AllowedSigner {
            principals: tokens[0].clone(),
            key,
        });
    }
    out
}

/// Splits at whitespace outside double quotes (the options may quote values).
fn tokenize(line: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut quoted = false;
    for c in line.chars() {
        match c {
            '"' => {
                quoted = !quoted;
                cur.push(c);
            }
            c if c.is_whitespace() && !quoted => {
                if !cur.is_empty() {
                    out.push(std::mem::take(&mut cur));
                }
            }
            c => cur.push(c),
        }
    }
    if !cur.is_empty() {
        out.push(cur);
    }
    out
}

fn option_value(options: &str, name: &str) -> Option<String> {
    let start = options.find(&format!("{name}="))? + name.len() + 1;
    let rest = &options[start..];
    if let Some(q) = rest.strip_prefix('"') {
        return q.find('"').map(|e| q[..e].to_owned());
    }
    Some(rest.split(',').next().unwrap_or_default().to_owned())
}

/// Splits a raw commit object into what git signs (the object without its `gpgsig` header)
/// and the signature (the header's value, continuation lines unindented).
fn split_signature(raw: &[u8]) -> (Vec<u8>, Option<String>) {
    let text = raw;
    let header_end = find(text, b"\n\n").map_or(text.len(), |i| i + 1);
    let mut payload = Vec::with_capacity(text.len());
    let mut sig: Option<String> = None;
    let mut in_sig = false;
    let mut pos = 0;
    while pos < header_end {
        let end = text[pos..header_end]
            .iter()
            .position(|&b| b == b'\n')
            .map_or(header_end, |i| pos + i + 1);
        let line = &text[pos..end];
        if in_sig && line.first() == Some(&b' ') {
            if let Some(s) = sig.as_mut() {
                s.push_str(&String::from_utf8_lossy(&line[1..]));
            }
        } else if let Some(v) = line.strip_prefix(b"gpgsig ") {
            in_sig = true;
            sig = Some(String::from_utf8_lossy(v).into_owned());
        } else {
            in_sig = false;
            payload.extend_from_slice(line);
        }
        pos = end;
    }
    payload.extend_from_slice(&text[header_end..]);
    (payload, sig)
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

/// Verifies a raw commit's SSH signature (namespace `git`) against the allowed signers;
/// returns the principals of the line whose key verified it.
fn verify_commit(raw: &[u8], signers: &[AllowedSigner]) -> Result<String, String> {
    let (payload, sig) = split_signature(raw);
    let Some(sig) = sig else {
        return Err("the commit is not signed".into());
    };
    if !sig.contains("BEGIN SSH SIGNATURE") {
        return Err("the commit is not signed with an SSH key".into());
    }
    let sig = ssh_key::SshSig::from_pem(sig.trim_end())
        .map_err(|e| format!("the commit's signature cannot be read: {e}"))?;
    let listed: Vec<&AllowedSigner> = signers
        .iter()
        .filter(|s| s.key.key_data() == sig.public_key())
        .collect();
    if listed.is_empty() {
        let fp = ssh_key::PublicKey::from(sig.public_key().clone())
            .fingerprint(ssh_key::HashAlg::Sha256);
        return Err(format!(
            "the commit is signed by {fp}, which is not in the allowed signers"
        ));
    }
    for s in listed {
        if s.key.verify("git", &payload, &sig).is_ok() {
            return Ok(s.principals.clone());
        }
    }
    Err("the commit's signature does not verify (the commit was changed after signing, or it was signed for another namespace)".into())
}

/// Why a fetched commit is not applied.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Refusal {
    /// Unsigned, badly signed, or signed by a key not allowed.
    Unverified,
    /// Not a descendant of the applied record's commit.
    Rewrite,
    /// Its manifest set does not load.
    Invalid,
}

impl Refusal {
    fn as_str(self) -> &'static str {
        match self {
            Refusal::Unverified => "unverified",
            Refusal::Rewrite => "rewrite",
            Refusal::Invalid => "invalid",
        }
    }
}

/// What one blocking sync found.
#[derive(Default)]
struct SyncResult {
    /// The fetched tip (this fetch's, or the last one kept locally when it failed).
    tip: Option<String>,
    fetch_error: Option<String>,
    /// True when this sync fetched successfully.
    fetched_now: bool,
    /// The commit in force, verified again against the allowed signers (`Some` when verifying).
    recheck: Option<Result<String, String>>,
    /// The tip, evaluated (when it is not the commit in force).
    verdict: Option<Verdict>,
}

enum Verdict {
    Good {
        commit: String,
        set: Box<LoadedSet>,
        signer: Option<String>,
    },
    Refused {
        commit: String,
        kind: Refusal,
        why: String,
    },
}

/// What a sync needs, moved into the blocking task.
struct Job {
    settings: GitSettings,
    redactor: Redactor,
    fetch: bool,
    /// The commit of the applied record in ZooKeeper.
    base: Option<String>,
    /// The commit in force here.
    current: Option<String>,
    /// A standby: evaluate `base` (when it is in the clone) instead of the tip.
    follow_record: bool,
    options: LoadOptions,
    signers: Option<Result<Vec<AllowedSigner>, String>>,
}

/// The Git-backed manifest source: the commit in force and what the last fetch found.
pub struct GitSource {
    settings: GitSettings,
    redactor: Redactor,
    options: LoadOptions,
    /// The commit in force (its set is the manifest source's current set).
    pub applied: Option<String>,
    pub signer: Option<String>,
    pub fetched: Option<String>,
    pub last_fetch: Option<SystemTime>,
    pub fetch_error: Option<String>,
    /// The last refusal (commit, kind, why), until a good commit arrives.
    pub refused: Option<(String, Refusal, String)>,
    /// The commit in force is no longer verified by the allowed signers: nothing is applied.
    pub revoked: Option<String>,
    /// Fetches since start by result (`ok`, `error`, `rejected`).
    pub fetch_counts: [u64; 3],
    /// The wait before the timer's next [`Reason::Git`], in ms (the interval, or a backoff).
    next_wait_ms: Arc<AtomicU64>,
    failures: u32,
    timer: tokio::task::JoinHandle<()>,
}

impl Drop for GitSource {
    fn drop(&mut self) {
        self.timer.abort();
        if self.settings.remove_dir
            && let Err(e) = std::fs::remove_dir_all(&self.settings.dir)
            && e.kind() != std::io::ErrorKind::NotFound
        {
            tracing::warn!(dir = %self.settings.dir.display(), error = %e, "failed to remove the clone");
        }
    }
}

impl GitSource {
    /// Starts the poll timer, which sends [`Reason::Git`] every interval (sooner while
    /// failed fetches back off).
    pub fn new(
        settings: GitSettings,
        mut options: LoadOptions,
        triggers: UnboundedSender<Reason>,
    ) -> Self {
        // A commit's `file:` and `schema:` references never leave DIR (docs/contract.md §4a).
        options.confine_references = true;
        let next_wait_ms = Arc::new(AtomicU64::new(millis(settings.interval)));
        let wait = next_wait_ms.clone();
        let timer = tokio::spawn(async move {
            loop {
                let ms = wait.load(Ordering::Relaxed).max(100);
                tokio::time::sleep(Duration::from_millis(ms)).await;
                if triggers.send(Reason::Git).is_err() {
                    return;
                }
            }
        });
        GitSource {
            redactor: settings.redactor(),
            settings,
            options,
            applied: None,
            signer: None,
            fetched: None,
            last_fetch: None,
            fetch_error: None,
            refused: None,
            revoked: None,
            fetch_counts: [0; 3],
            next_wait_ms,
            failures: 0,
            timer,
        }
    }

    pub fn settings(&self) -> &GitSettings {
        &self.settings
    }

    /// The revision of the commit in force.
    pub fn revision(&self) -> Option<String> {
        self.applied.as_deref().map(|c| self.settings.revision(c))
    }

    /// Fetches (when `fetch`), checks the tip against `base` (the applied record's commit)
    /// and the allowed signers, and loads it. Returns the new set when a new commit took
    /// effect; the errors of the newest commit go to `errors`.
    pub async fn sync(
        &mut self,
        fetch: bool,
        base: Option<String>,
        follow_record: bool,
        errors: &mut Vec<String>,
    ) -> Option<LoadedSet> {
        let signers = self.settings.verify.as_ref().map(|p| {
            std::fs::read_to_string(p)
                .map(|t| parse_allowed_signers(&t))
                .map_err(|e| format!("failed to read the allowed signers {}: {e}", p.display()))
        });
        let job = Job {
            settings: self.settings.clone(),
            redactor: self.redactor.clone(),
            fetch,
            base,
            current: self.applied.clone(),
            follow_record,
            options: self.options.clone(),
            signers,
        };
        let result = match tokio::task::spawn_blocking(move || run_sync(job)).await {
            Ok(r) => r,
            Err(e) => SyncResult {
                fetch_error: Some(format!("the Git sync failed: {e}")),
                ..SyncResult::default()
            },
        };
        self.absorb(result, fetch, errors)
    }

    fn absorb(
        &mut self,
        r: SyncResult,
        fetch: bool,
        errors: &mut Vec<String>,
    ) -> Option<LoadedSet> {
        errors.clear();
        if fetch {
            self.last_fetch = Some(SystemTime::now());
            if let Some(e) = &r.fetch_error {
                self.failures += 1;
                let wait = backoff(self.failures, self.settings.interval);
                self.next_wait_ms.store(millis(wait), Ordering::Relaxed);
                if self.fetch_error.as_ref() != Some(e) {
                    tracing::warn!(url = %self.settings.redacted_url(), error = %e, retry_in = ?wait, "failed to fetch from Git; the last good commit stays in force");
                }
                self.fetch_counts[1] += 1;
            } else if r.fetched_now {
                self.failures = 0;
                self.next_wait_ms
                    .store(millis(self.settings.interval), Ordering::Relaxed);
                // A fetch that brought a commit this agent refuses is `rejected`.
                let refused = matches!(r.verdict, Some(Verdict::Refused { .. }));
                self.fetch_counts[if refused { 2 } else { 0 }] += 1;
            }
            self.fetch_error = r.fetch_error.clone();
        }
        // A failed fetch is not a manifest error (`zkstate_manifest_errors` stays about the
        // commits): it is `source.error` and `zkstate_source_fetch_total{result="error"}`.
        if r.tip.is_some() {
            self.fetched = r.tip.clone();
        }
        if let Some(check) = r.recheck {
            match check {
                Ok(signer) => {
                    self.revoked = None;
                    self.signer = Some(signer);
                }
                Err(why) => {
                    let msg = format!(
                        "commit {}: the applied commit is no longer verified by the allowed signers: {why}; nothing is applied until a verified commit arrives",
                        self.applied.as_deref().unwrap_or("?")
                    );
                    if self.revoked.as_ref() != Some(&msg) {
                        tracing::error!(error = %msg, "applied commit unverified");
                    }
                    self.revoked = Some(msg);
                    self.signer = None;
                }
            }
        }
        if let Some(m) = &self.revoked {
            errors.push(m.clone());
        }
        match r.verdict {
            Some(Verdict::Good {
                commit,
                set,
                signer,
            }) => {
                tracing::info!(commit = %commit, signer = ?signer, "git: new commit loaded");
                self.applied = Some(commit);
                self.signer = signer;
                self.refused = None;
                self.revoked = None;
                errors.retain(|e| !e.contains("no longer verified"));
                Some(*set)
            }
            Some(Verdict::Refused { commit, kind, why }) => {
                let msg = format!("commit {commit}: {why}");
                let new = self
                    .refused
                    .as_ref()
                    .is_none_or(|(c, _, w)| *c != commit || *w != why);
                if new {
                    tracing::error!(commit = %commit, refusal = kind.as_str(), error = %why, "git: commit refused; the last good commit stays in force");
                }
                self.refused = Some((commit, kind, why));
                errors.extend(msg.lines().map(str::to_owned));
                None
            }
            None => {
                if r.tip.is_some() && r.tip == self.applied {
                    self.refused = None;
                }
                None
            }
        }
    }

    /// `/status`'s `source` (and `agent.git`) object.
    pub fn status(&self) -> serde_json::Value {
        serde_json::json!({
            "url": self.settings.redacted_url(),
            "ref": self.settings.reference,
            "path": self.settings.path,
            "fetched": self.fetched,
            "applied": self.applied,
            "signer": self.signer,
            "time": self.last_fetch.map(|t| humantime::format_rfc3339_seconds(t).to_string()),
            "error": self.fetch_error,
            "refused": self.refused.as_ref().map(|(c, k, w)| serde_json::json!({
                "commit": c, "reason": k.as_str(), "error": w,
            })),
            "revoked": self.revoked,
        })
    }
}

fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

/// 1s, 2s, 4s, ... up to the poll interval.
fn backoff(failures: u32, interval: Duration) -> Duration {
    let exp = failures.saturating_sub(1).min(16);
    Duration::from_secs(1u64 << exp).min(interval.max(Duration::from_secs(1)))
}

fn run_sync(job: Job) -> SyncResult {
    let mut out = SyncResult::default();
    let clean = |e: String| job.redactor.clean(&e);
    if let Err(e) = private_dir(&job.settings.dir) {
        out.fetch_error = Some(clean(e));
        return out;
    }
    let repo = match open_repo(&job.settings.dir.join("repo"), &job.settings) {
        Ok(r) => r,
        Err(e) => {
            out.fetch_error = Some(clean(e));
            return out;
        }
    };
    if job.fetch {
        match fetch(&repo, &job.settings, None, None) {
            Ok(()) => out.fetched_now = true,
            Err(e) => out.fetch_error = Some(clean(e)),
        }
    }
    out.tip = local_tip(&repo);
    let signers = match &job.signers {
        Some(Ok(s)) => Some(s.as_slice()),
        Some(Err(e)) => {
            // Nothing can be verified: the commit in force is reported, nothing new is taken.
            out.recheck = job.current.as_ref().map(|_| Err(e.clone()));
            if let Some(tip) = out.tip.clone().filter(|t| Some(t) != job.current.as_ref()) {
                out.verdict = Some(Verdict::Refused {
                    commit: tip,
                    kind: Refusal::Unverified,
                    why: e.clone(),
                });
            }
            return out;
        }
        None => None,
    };
    if let (Some(cur), Some(signers)) = (&job.current, signers) {
        out.recheck = Some(raw_commit(&repo, cur).and_then(|raw| verify_commit(&raw, signers)));
    }
    let Some(mut tip) = out.tip.clone() else {
        return out;
    };
    if job.follow_record
        && let Some(base) = job.base.as_ref()
        && let Ok(id) = object_id(base)
    {
        // A standby takes the record's commit; a shallow fetch of REF may not have brought it
        // (REF moved on since): then it is fetched by id.
        if !repo.has_object(id) && job.fetch {
            let spec = format!("+{base}:refs/zkstate/record");
            if let Err(e) = fetch(&repo, &job.settings, None, Some(&spec)) {
                tracing::debug!(error = %job.redactor.clean(&e), "git: failed to fetch the applied record's commit by id");
            }
        }
        if repo.has_object(id) {
            tip = base.clone();
        }
    }
    if Some(&tip) == job.current.as_ref() {
        return out;
    }
    out.verdict = Some(evaluate(&repo, &job, &tip, signers));
    out
}

fn evaluate(
    repo: &gix::Repository,
    job: &Job,
    tip: &str,
    signers: Option<&[AllowedSigner]>,
) -> Verdict {
    let refused = |kind, why: String| Verdict::Refused {
        commit: tip.to_owned(),
        kind,
        why: job.redactor.clean(&why),
    };
    let raw = match raw_commit(repo, tip) {
        Ok(r) => r,
        Err(e) => return refused(Refusal::Invalid, e),
    };
    let signer = match signers {
        Some(s) => match verify_commit(&raw, s) {
            Ok(p) => Some(p),
            Err(why) => return refused(Refusal::Unverified, why),
        },
        None => None,
    };
    if !job.settings.allow_rewrite
        && let Some(base) = job.base.as_deref().filter(|b| *b != tip)
    {
        match descends(repo, &job.settings, tip, base) {
            Ok(true) => {}
            Ok(false) => {
                return refused(
                    Refusal::Rewrite,
                    format!(
                        "it does not descend from the applied commit {base} (a force-push or a rollback); it is applied only with --git-allow-rewrite"
                    ),
                );
            }
            Err(e) => {
                return refused(
                    Refusal::Rewrite,
                    format!("cannot tell whether it descends from the applied commit {base}: {e}"),
                );
            }
        }
    }
    let dir = match materialise(repo, &job.settings, tip) {
        Ok(d) => d,
        Err(e) => return refused(Refusal::Invalid, e),
    };
    match manifest::load(&[dir], &manifest::process_env, &job.options) {
        Ok(set) if set.documents.is_empty() => refused(
            Refusal::Invalid,
            "the manifest set has no documents (an empty set never means \"delete everything\")"
                .into(),
        ),
        Ok(set) => Verdict::Good {
            commit: tip.to_owned(),
            set: Box::new(set),
            signer,
        },
        Err(diags) => refused(Refusal::Invalid, diags.to_string().trim_end().to_owned()),
    }
}

/// Creates `--git-dir` readable by this user only (the clone may hold what a token can read);
/// an existing directory is left as it is (under systemd, `StateDirectory=` owns its mode).
fn private_dir(dir: &Path) -> Result<(), String> {
    use std::os::unix::fs::DirBuilderExt;
    if dir.is_dir() {
        return Ok(());
    }
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .map_err(|e| format!("failed to create --git-dir {}: {e}", dir.display()))
}

fn open_repo(dir: &Path, s: &GitSettings) -> Result<gix::Repository, String> {
    if !dir.join("HEAD").exists() {
        std::fs::create_dir_all(dir)
            .map_err(|e| format!("failed to create the clone {}: {e}", dir.display()))?;
        gix::init_bare(dir)
            .map_err(|e| format!("failed to create the clone {}: {e}", dir.display()))?;
    }
    // No user or system git config: what the agent does depends on its flags only.
    let mut options = gix::open::Options::isolated();
    if let Some(cmd) = ssh_command(s) {
        options = options.config_overrides([format!("core.sshCommand={cmd}")]);
    }
    gix::open_opts(dir, options)
        .map_err(|e| format!("failed to open the clone {}: {e}", dir.display()))
}

/// `ssh` with the deploy key and known hosts of `--git-ssh-key` / `--git-known-hosts`, never
/// asking anything (`BatchMode`): an unknown host key is an error, not a prompt.
fn ssh_command(s: &GitSettings) -> Option<String> {
    if s.ssh_key.is_none() && s.known_hosts.is_none() {
        return None;
    }
    let quote = |p: &Path| format!("'{}'", p.display().to_string().replace('\'', r"'\''"));
    let mut cmd = String::from("ssh -o BatchMode=yes");
    if let Some(k) = &s.ssh_key {
        cmd.push_str(&format!(" -o IdentitiesOnly=yes -i {}", quote(k)));
    }
    if let Some(f) = &s.known_hosts {
        cmd.push_str(&format!(
            " -o StrictHostKeyChecking=yes -o UserKnownHostsFile={}",
            quote(f)
        ));
    }
    Some(cmd)
}

/// Fetches REF into [`FETCHED_REF`]: shallow (depth 1) into an empty clone, the new commits
/// otherwise; `deepen` extends a shallow clone by that many commits (0: all history).
/// `spec` replaces REF's refspec (a standby fetching the applied record's commit by id).
fn fetch(
    repo: &gix::Repository,
    s: &GitSettings,
    deepen: Option<u32>,
    spec: Option<&str>,
) -> Result<(), String> {
    use gix::remote::Direction;
    let refspec = spec.map_or_else(|| s.refspec(), str::to_owned);
    let remote = repo
        .remote_at(s.fetch_url().as_str())
        .map_err(|e| format!("invalid Git URL: {e}"))?
        .with_refspecs([refspec.as_str()], Direction::Fetch)
        .map_err(|e| format!("invalid --git-ref {:?}: {e}", s.reference))?;
    let shallow = match deepen {
        Some(0) => gix::remote::fetch::Shallow::undo(),
        Some(n) => gix::remote::fetch::Shallow::Deepen(n),
        None if local_tip(repo).is_none() => {
            gix::remote::fetch::Shallow::DepthAtRemote(std::num::NonZeroU32::MIN)
        }
        None => gix::remote::fetch::Shallow::NoChange,
    };
    let interrupt = AtomicBool::new(false);
    let credentials = s.credentials();
    remote
        .connect(Direction::Fetch)
        .map_err(|e| format!("failed to connect to the Git server: {e}"))?
        // Never git's credential helpers or a prompt: only what the flags give.
        .with_credentials(move |action| match (action, &credentials) {
            (gix::credentials::helper::Action::Get(ctx), Some((user, token))) => {
                Ok(Some(gix::credentials::protocol::Outcome {
                    identity: gix::sec::identity::Account {
                        username: user.clone(),
                        password: token.clone(),
                        oauth_refresh_token: None,
                    },
                    next: ctx.into(),
                }))
            }
            _ => Ok(None),
        })
        .prepare_fetch(gix::progress::Discard, Default::default())
        .map_err(|e| format!("failed to fetch {:?}: {e}", s.reference))?
        .with_shallow(shallow)
        .receive(gix::progress::Discard, &interrupt)
        .map_err(|e| format!("failed to fetch {:?}: {e}", s.reference))?;
    Ok(())
}

/// The commit [`FETCHED_REF`] points at (tags peeled).
fn local_tip(repo: &gix::Repository) -> Option<String> {
    let mut r = repo.try_find_reference(FETCHED_REF).ok()??;
    let id = r.peel_to_id().ok()?;
    let commit = id.object().ok()?.peel_to_commit().ok()?;
    Some(commit.id.to_string())
}

fn object_id(id: &str) -> Result<gix::ObjectId, String> {
    gix::ObjectId::from_hex(id.as_bytes()).map_err(|e| format!("invalid commit id {id}: {e}"))
}

fn raw_commit(repo: &gix::Repository, id: &str) -> Result<Vec<u8>, String> {
    let obj = repo
        .find_object(object_id(id)?)
        .map_err(|e| format!("commit {id} is not in the clone: {e}"))?;
    let commit = obj
        .try_into_commit()
        .map_err(|e| format!("{id} is not a commit: {e}"))?;
    Ok(commit.data.clone())
}

/// Whether `tip` descends from `base` (or is it), deepening a shallow clone until `base` is
/// found; not found once the whole history is here counts as not descending.
fn descends(
    repo: &gix::Repository,
    s: &GitSettings,
    tip: &str,
    base: &str,
) -> Result<bool, String> {
    let tip_id = object_id(tip)?;
    let base_id = object_id(base)?;
    for step in DEEPEN_STEPS {
        match walk(repo, tip_id, base_id)? {
            Walk::Found => return Ok(true),
            Walk::NotFound => return Ok(false),
            Walk::Boundary => {
                tracing::debug!(
                    step,
                    "git: deepening the shallow clone to find the applied commit"
                );
                fetch(repo, s, Some(step), None)?;
            }
        }
    }
    Ok(matches!(walk(repo, tip_id, base_id)?, Walk::Found))
}

enum Walk {
    Found,
    /// The whole history was walked.
    NotFound,
    /// The walk reached commits whose parents are not in the (shallow) clone.
    Boundary,
}

fn walk(repo: &gix::Repository, tip: gix::ObjectId, base: gix::ObjectId) -> Result<Walk, String> {
    let mut queue = VecDeque::from([tip]);
    let mut seen = HashSet::from([tip]);
    let mut boundary = false;
    while let Some(id) = queue.pop_front() {
        if id == base {
            return Ok(Walk::Found);
        }
        if seen.len() > MAX_WALK {
            return Err("the history is too long to walk".into());
        }
        let Ok(obj) = repo.find_object(id) else {
            boundary = true;
            continue;
        };
        let commit = obj
            .try_into_commit()
            .map_err(|e| format!("{id} is not a commit: {e}"))?;
        for p in commit.parent_ids() {
            let p = p.detach();
            if seen.insert(p) {
                queue.push_back(p);
            }
        }
    }
    if !boundary && repo.is_shallow().unwrap_or(false) {
        // Parents listed by a boundary commit are absent from the clone (seen above), but a
        // boundary commit may also have had its parents cut without them being listed.
        boundary = repo
            .shallow_commits()
            .ok()
            .flatten()
            .is_some_and(|c| c.iter().any(|id| seen.contains(id)));
    }
    Ok(if boundary {
        Walk::Boundary
    } else {
        Walk::NotFound
    })
}

/// Writes `commit`'s DIR into `<git-dir>/trees/<commit>`: into a fresh directory first, then
/// renamed, so a half-written tree is never loaded. An existing tree is reused.
fn materialise(repo: &gix::Repository, s: &GitSettings, commit: &str) -> Result<PathBuf, String> {
    let trees = s.dir.join("trees");
    let dest = trees.join(commit);
    if dest.is_dir() {
        return Ok(dest);
    }
    let c = repo
        .find_object(object_id(commit)?)
        .map_err(|e| format!("commit {commit} is not in the clone: {e}"))?
        .try_into_commit()
        .map_err(|e| format!("{commit} is not a commit: {e}"))?;
    let root = c
        .tree()
        .map_err(|e| format!("failed to read the tree of {commit}: {e}"))?;
    let tree = if s.path.as_os_str().is_empty() || s.path == Path::new(".") {
        root
    } else {
        let entry = root
            .lookup_entry_by_path(&s.path)
            .map_err(|e| format!("failed to read {} in {commit}: {e}", s.path.display()))?
            .ok_or_else(|| {
                format!(
                    "--git-path {} does not exist in this commit",
                    s.path.display()
                )
            })?;
        entry
            .object()
            .map_err(|e| format!("failed to read {}: {e}", s.path.display()))?
            .try_into_tree()
            .map_err(|_| {
                format!(
                    "--git-path {} is not a directory in this commit",
                    s.path.display()
                )
            })?
    };
    std::fs::create_dir_all(&trees)
        .map_err(|e| format!("failed to create {}: {e}", trees.display()))?;
    let tmp = trees.join(format!(".tmp-{commit}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&tmp);
    std::fs::create_dir(&tmp).map_err(|e| format!("failed to create {}: {e}", tmp.display()))?;
    if let Err(e) = write_tree(repo, &tree, &tmp) {
        let _ = std::fs::remove_dir_all(&tmp);
        return Err(e);
    }
    std::fs::rename(&tmp, &dest).map_err(|e| {
        let _ = std::fs::remove_dir_all(&tmp);
        format!("failed to move the checkout into place: {e}")
    })?;
    prune_trees(&trees, commit);
    Ok(dest)
}

fn write_tree(repo: &gix::Repository, tree: &gix::Tree<'_>, dir: &Path) -> Result<(), String> {
    for entry in tree.iter() {
        let entry = entry.map_err(|e| format!("failed to read a tree: {e}"))?;
        let name = entry.filename().to_string();
        if name.contains('/') || name == ".." || name == "." {
            return Err(format!("invalid file name {name:?} in the tree"));
        }
        let path = dir.join(&name);
        let mode = entry.mode();
        if mode.is_tree() {
            std::fs::create_dir(&path)
                .map_err(|e| format!("failed to create {}: {e}", path.display()))?;
            let sub = repo
                .find_object(entry.oid())
                .map_err(|e| format!("failed to read {name}: {e}"))?
                .try_into_tree()
                .map_err(|e| format!("failed to read {name}: {e}"))?;
            write_tree(repo, &sub, &path)?;
        } else if mode.is_blob() {
            let blob = repo
                .find_object(entry.oid())
                .map_err(|e| format!("failed to read {name}: {e}"))?;
            std::fs::write(&path, &blob.data)
                .map_err(|e| format!("failed to write {}: {e}", path.display()))?;
        }
        // Symbolic links and submodules are not checked out: a manifest set is plain files,
        // and a link could point outside DIR.
    }
    Ok(())
}

/// Removes materialised trees other than the two newest (the new one and the one in force).
fn prune_trees(trees: &Path, keep: &str) {
    let Ok(rd) = std::fs::read_dir(trees) else {
        return;
    };
    let mut dirs: Vec<(SystemTime, PathBuf)> = rd
        .filter_map(Result::ok)
        .filter(|e| e.file_name().to_str() != Some(keep))
        .filter_map(|e| {
            let m = e.metadata().ok()?;
            Some((m.modified().ok()?, e.path()))
        })
        .collect();
    dirs.sort();
    let n = dirs.len();
    for (_, p) in dirs.into_iter().take(n.saturating_sub(1)) {
        let _ = std::fs::remove_dir_all(p);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credentials_are_masked() {
        assert_eq!(
            redact_url("https://bot:s3cr3t-token@git.example/o/r.git"),
            "https://***@git.example/o/r.git"
        );
        assert_eq!(redact_url("git://127.0.0.1:9/r"), "git://127.0.0.1:9/r");
        let r = Redactor::for_url("https://bot:s3cr%2Ft@h/x");
        assert_eq!(
            r.clean("denied for bot:s3cr%2Ft and s3cr/t"),
            "denied for *** and ***"
        );
    }

    #[test]
    fn revisions_name_their_commit() {
        let id = "0123456789abcdef0123456789abcdef01234567";
        assert_eq!(
            commit_of_revision(&format!("main@sha1:{id}")),
            Some(id.to_owned())
        );
        assert_eq!(commit_of_revision("agent"), None);
        assert_eq!(commit_of_revision("main@sha1:abc"), None);
    }

    #[test]
    fn the_signature_header_is_cut_out_of_the_payload() {
        let raw = b"tree 1\nparent 2\nauthor a\ncommitter c\ngpgsig -----BEGIN SSH SIGNATURE-----\n abc\n -----END SSH SIGNATURE-----\n\nmsg\n";
        let (payload, sig) = split_signature(raw);
        assert_eq!(payload, b"tree 1\nparent 2\nauthor a\ncommitter c\n\nmsg\n");
        assert_eq!(
            sig.as_deref(),
            Some("-----BEGIN SSH SIGNATURE-----\nabc\n-----END SSH SIGNATURE-----\n")
        );
    }

    #[test]
    fn allowed_signers_lines_parse() {
        let key =
            "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIMmyNJ+3l1Y0Sgyu3p6OW5OYVS6VMsr3Y7l9pvC+CtX+";
        let text = format!(
            "# comment\nalice@example {key} c\nbob namespaces=\"file\" {key}\ncarol,dave namespaces=\"git,file\" {key}\n"
        );
        let s = parse_allowed_signers(&text);
        let names: Vec<&str> = s.iter().map(|s| s.principals.as_str()).collect();
        assert_eq!(names, ["alice@example", "carol,dave"]);
    }
}
