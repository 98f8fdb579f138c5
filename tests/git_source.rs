//! `zkstate agent --git` against real repositories (made with the `git` CLI in temp dirs),
//! served over `file://` and by a real `git daemon` on a loopback port, and a real ZooKeeper
//! (docs/contract.md §4a): a pushed commit is applied with its `<ref>@sha1:<id>` revision, an
//! invalid commit keeps the last good one, a force-push back is refused (and followed with
//! `--git-allow-rewrite`), SSH-signed commits against an allowed-signers file, a URL
//! credential never shown, a Git server that goes away and comes back, kill -9 of the agent
//! between fetch and apply, and kill -9 of a 3-node ensemble's leader during Git-triggered
//! passes (`ZKSTATE_FAULT_TRIALS`, default 3 there).
mod common;

use std::fs;
use std::net::TcpStream;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use common::agent::{Agent, free_port};
use common::{raw, wait_for};
use serde_json::Value;

const WAIT: Duration = Duration::from_secs(30);

fn tree(value: &str) -> String {
    format!(
        "apiVersion: zkstate/v1\nkind: ConfigTree\nmetadata: {{name: app}}\nspec:\n  root: /app\n  prune: true\n  nodes:\n    db/url: {value}\n"
    )
}

fn data(hosts: &str, path: &str) -> Option<String> {
    raw::get(hosts, path).map(|(d, _)| String::from_utf8_lossy(&d).into_owned())
}

/// The applied record's revision.
fn applied_revision(hosts: &str) -> Option<String> {
    let (d, _) = raw::get(hosts, "/zkstate/applied")?;
    let v: Value = serde_json::from_slice(&d).ok()?;
    v["revision"].as_str().map(str::to_owned)
}

/// A repository to push to (`origin.git`, bare, what the agent follows) and a working clone
/// (`work`) that commits; git runs with a private HOME so no user config leaks in.
struct Repo {
    dir: tempfile::TempDir,
}

impl Repo {
    fn new() -> Repo {
        let r = Repo {
            dir: tempfile::tempdir().expect("tempdir"),
        };
        fs::create_dir(r.home()).expect("home");
        r.git(
            r.dir.path(),
            &["init", "-q", "--bare", "-b", "main", "origin.git"],
        );
        r.git(r.dir.path(), &["init", "-q", "-b", "main", "work"]);
        r.git(
            &r.work(),
            &["remote", "add", "origin", &r.origin().display().to_string()],
        );
        r
    }

    fn home(&self) -> PathBuf {
        self.dir.path().join("home")
    }

    fn work(&self) -> PathBuf {
        self.dir.path().join("work")
    }

    fn origin(&self) -> PathBuf {
        self.dir.path().join("origin.git")
    }

    fn file_url(&self) -> String {
        format!("file://{}", self.origin().display())
    }

    fn git_output(&self, cwd: &Path, args: &[&str], stdin: Option<&[u8]>) -> String {
        let mut cmd = Command::new("git");
        cmd.current_dir(cwd)
            .args(args)
            .env("HOME", self.home())
            .env("GIT_CONFIG_NOSYSTEM", "1")
            .env("GIT_AUTHOR_NAME", "Test")
            .env("GIT_AUTHOR_EMAIL", "test@example.invalid")
            .env("GIT_COMMITTER_NAME", "Test")
            .env("GIT_COMMITTER_EMAIL", "test@example.invalid")
            .stdin(if stdin.is_some() {
                Stdio::piped()
            } else {
                Stdio::null()
            })
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = cmd.spawn().expect("run git");
        if let Some(input) = stdin {
            use std::io::Write;
            child
                .stdin
                .take()
                .expect("stdin")
                .write_all(input)
                .expect("write to git");
        }
        let out = child.wait_with_output().expect("git output");
        assert!(
            out.status.success(),
            "git {args:?} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).trim().to_owned()
    }

    fn git(&self, cwd: &Path, args: &[&str]) -> String {
        self.git_output(cwd, args, None)
    }

    /// Writes `manifests/app.yaml`, commits (signed with `key` when given) and pushes; returns
    /// the commit id.
    fn commit(&self, manifest: &str, key: Option<&Path>) -> String {
        let dir = self.work().join("manifests");
        fs::create_dir_all(&dir).expect("mkdir");
        fs::write(dir.join("app.yaml"), manifest).expect("write manifest");
        self.git(&self.work(), &["add", "-A"]);
        match key {
            Some(k) => {
                let key = format!("user.signingkey={}", k.display());
                self.git(
                    &self.work(),
                    &[
                        "-c",
                        "gpg.format=ssh",
                        "-c",
                        &key,
                        "commit",
                        "-q",
                        "-S",
                        "--allow-empty",
                        "-m",
                        "change",
                    ],
                );
            }
            None => {
                self.git(
                    &self.work(),
                    &["commit", "-q", "--allow-empty", "-m", "change"],
                );
            }
        }
        self.push("HEAD");
        self.head()
    }

    fn head(&self) -> String {
        self.git(&self.work(), &["rev-parse", "HEAD"])
    }

    /// Force-pushes `commit` to `main`.
    fn push(&self, commit: &str) {
        let spec = format!("+{commit}:refs/heads/main");
        self.git(&self.work(), &["push", "-q", "origin", &spec]);
    }
}

/// A real `git daemon` serving the repository's directory on a loopback port; killed on drop.
struct Daemon {
    child: Child,
    port: u16,
}

impl Daemon {
    fn start(repo: &Repo, port: u16) -> Daemon {
        let base = repo.dir.path().display().to_string();
        // git-daemon itself (not `git daemon`, which would run it as a child that a kill of
        // the parent leaves listening).
        let exec_path = repo.git(repo.dir.path(), &["--exec-path"]);
        let child = Command::new(Path::new(&exec_path).join("git-daemon"))
            .args([
                "--reuseaddr",
                "--export-all",
                "--informative-errors",
                "--listen=127.0.0.1",
            ])
            .arg(format!("--port={port}"))
            .arg(format!("--base-path={base}"))
            .arg(&base)
            .env("HOME", repo.home())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            // Its own process group: stopping it stops the children serving connections too.
            .process_group(0)
            .spawn()
            .expect("start git daemon");
        assert!(
            wait_for(
                || TcpStream::connect(("127.0.0.1", port)).is_ok(),
                Duration::from_secs(10)
            ),
            "git daemon did not listen"
        );
        Daemon { child, port }
    }

    fn stop(mut self) {
        self.kill();
    }

    fn kill(&mut self) {
        // SAFETY: signalling the process group of our own child.
        unsafe {
            libc::kill(-(self.child.id() as i32), libc::SIGKILL);
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
        let port = self.port;
        assert!(
            wait_for(
                || TcpStream::connect(("127.0.0.1", port)).is_err(),
                Duration::from_secs(10)
            ),
            "git daemon did not stop"
        );
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        // SAFETY: signalling the process group of our own child.
        unsafe {
            libc::kill(-(self.child.id() as i32), libc::SIGKILL);
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `zkstate agent --git URL --git-path manifests --git-interval 300ms ...` with its log in `dir`.
fn start_agent(hosts: &str, url: &str, dir: &Path, name: &str, extra: &[&str]) -> Agent {
    let port = free_port();
    let log = dir.join(format!("{name}.log"));
    let git_dir = dir.join(format!("{name}-git"));
    let child = common::zkstate()
        .args(["--zk", hosts, "--session-timeout", "4s"])
        .args(["agent", "--git", url, "--git-path", "manifests"])
        .args(["--git-interval", "300ms", "--git-dir"])
        .arg(&git_dir)
        .args(["--listen", &format!("127.0.0.1:{port}")])
        .args(["--host-id", name])
        .args(extra)
        .env("RUST_LOG", "zkstate=debug")
        .env_remove("ZKSTATE_ZK")
        .stdout(Stdio::null())
        .stderr(fs::File::create(&log).expect("log"))
        .spawn()
        .expect("spawn zkstate agent");
    Agent::adopt(child, log, port)
}

fn source(agent: &Agent) -> Value {
    agent
        .status()
        .map(|s| s["source"].clone())
        .unwrap_or(Value::Null)
}

#[test]
fn pushed_commits_are_applied_bad_ones_and_rewrites_are_refused() {
    let zk = common::zk();
    let h = zk.connect_string();
    let repo = Repo::new();
    let logs = tempfile::tempdir().expect("tempdir");
    let a = repo.commit(&tree("postgres://a"), None);
    let agent = start_agent(&h, &repo.file_url(), logs.path(), "host-a", &[]);
    assert!(
        wait_for(
            || data(&h, "/app/db/url").as_deref() == Some("postgres://a"),
            WAIT
        ),
        "first commit applied"
    );
    assert_eq!(
        applied_revision(&h).as_deref(),
        Some(format!("main@sha1:{a}").as_str())
    );
    assert!(wait_for(|| source(&agent)["applied"] == a.as_str(), WAIT));
    let s = source(&agent);
    assert_eq!(s["fetched"], Value::from(a.clone()));
    // Without --webhook-secret-file there is no webhook.
    assert_eq!(agent.get("/hooks/git").map(|r| r.0), Some(404));
    assert_eq!(s["ref"], "main");
    assert_eq!(s["url"], Value::from(repo.file_url()));

    // A pushed commit is applied with its revision.
    let b = repo.commit(&tree("postgres://b"), None);
    assert!(
        wait_for(
            || data(&h, "/app/db/url").as_deref() == Some("postgres://b"),
            WAIT
        ),
        "second commit applied"
    );
    assert!(wait_for(
        || applied_revision(&h) == Some(format!("main@sha1:{b}")),
        WAIT
    ));
    // `zkstate status` shows the applied commit.
    let (code, out, _) = common::run(&h, &["status", "--output", "json"]);
    assert_eq!(code, 0, "{out}");
    let st: Value = serde_json::from_str(&out).expect("status json");
    assert_eq!(
        st["lastApply"]["revision"],
        Value::from(format!("main@sha1:{b}"))
    );
    let (_, text, _) = common::run(&h, &["status"]);
    assert!(text.contains(&b), "status text names the commit: {text}");

    // An invalid commit: the last good one stays, and the error names the commit.
    let bad = repo.commit("apiVersion: zkstate/v1\nkind: ConfigTree\nspec: [\n", None);
    assert!(
        wait_for(
            || {
                agent.status().is_some_and(|s| {
                    s["agent"]["manifestErrors"].as_array().is_some_and(|e| {
                        e.iter()
                            .any(|l| l.as_str().is_some_and(|l| l.contains(&bad)))
                    })
                })
            },
            WAIT
        ),
        "the invalid commit is reported with its id"
    );
    assert_eq!(
        source(&agent)["refused"]["commit"],
        Value::from(bad.clone())
    );
    assert_eq!(source(&agent)["refused"]["reason"], "invalid");
    assert_eq!(source(&agent)["applied"], Value::from(b.clone()));
    assert_eq!(data(&h, "/app/db/url").as_deref(), Some("postgres://b"));
    assert_eq!(applied_revision(&h), Some(format!("main@sha1:{b}")));
    assert!(agent.logs().contains(&bad), "the log names the commit");

    // `file:` references resolve inside DIR: an absolute one (the host's files) is refused too.
    let escape = repo.commit(&tree("{file: /etc/hostname}"), None);
    assert!(
        wait_for(
            || source(&agent)["refused"]["commit"] == escape.as_str(),
            WAIT
        ),
        "the escaping reference is refused"
    );
    assert!(
        source(&agent)["refused"]["error"]
            .as_str()
            .is_some_and(|e| e.contains("outside the manifest directory")),
        "{}",
        source(&agent)
    );
    assert_eq!(data(&h, "/app/db/url").as_deref(), Some("postgres://b"));

    // A fix on top of it is applied.
    let c = repo.commit(&tree("postgres://c"), None);
    assert!(
        wait_for(
            || applied_revision(&h) == Some(format!("main@sha1:{c}")),
            WAIT
        ),
        "the fix is applied"
    );
    assert_eq!(data(&h, "/app/db/url").as_deref(), Some("postgres://c"));
    assert!(source(&agent)["refused"].is_null());

    // A force-push back to an older commit is refused: it does not descend from the applied one.
    repo.push(&a);
    assert!(
        wait_for(|| source(&agent)["refused"]["commit"] == a.as_str(), WAIT),
        "the rewrite is reported"
    );
    assert_eq!(source(&agent)["refused"]["reason"], "rewrite");
    assert_eq!(data(&h, "/app/db/url").as_deref(), Some("postgres://c"));
    assert_eq!(applied_revision(&h), Some(format!("main@sha1:{c}")));
    drop(agent);

    // The rule holds across a restart (it reads the applied record), in a fresh clone ...
    let again = start_agent(&h, &repo.file_url(), logs.path(), "host-b", &[]);
    assert!(
        wait_for(|| source(&again)["refused"]["reason"] == "rewrite", WAIT),
        "a new agent refuses the rewrite too"
    );
    assert_eq!(data(&h, "/app/db/url").as_deref(), Some("postgres://c"));
    drop(again);
    // ... and --git-allow-rewrite follows it.
    let allow = start_agent(
        &h,
        &repo.file_url(),
        logs.path(),
        "host-c",
        &["--git-allow-rewrite"],
    );
    assert!(
        wait_for(
            || data(&h, "/app/db/url").as_deref() == Some("postgres://a"),
            WAIT
        ),
        "the rewrite is followed with --git-allow-rewrite"
    );
    assert_eq!(applied_revision(&h), Some(format!("main@sha1:{a}")));
    drop(allow);

    // A fresh, shallow clone is deepened until it finds the applied commit three commits back.
    repo.git(&repo.work(), &["reset", "-q", "--hard", &a]);
    for v in ["d1", "d2"] {
        repo.commit(&tree(&format!("postgres://{v}")), None);
    }
    let d3 = repo.commit(&tree("postgres://d3"), None);
    let deep = start_agent(&h, &repo.file_url(), logs.path(), "host-d", &[]);
    assert!(
        wait_for(
            || applied_revision(&h) == Some(format!("main@sha1:{d3}")),
            WAIT
        ),
        "a descendant found by deepening is applied"
    );
    assert_eq!(data(&h, "/app/db/url").as_deref(), Some("postgres://d3"));
    // The first fetch was shallow (depth 1): finding the applied commit took a deepening.
    assert!(deep.logs().contains("deepening"), "{}", deep.logs());
}

#[test]
fn a_git_daemon_that_goes_away_keeps_the_last_good_commit_and_is_caught_up_with() {
    let zk = common::zk();
    let h = zk.connect_string();
    let repo = Repo::new();
    let logs = tempfile::tempdir().expect("tempdir");
    let port = free_port();
    let daemon = Daemon::start(&repo, port);
    let a = repo.commit(&tree("postgres://a"), None);
    // A credential in the URL is never shown: the git protocol has no use for one, so the
    // fetch fails, and the error, the log, /status and /metrics all mask it.
    let secret = "s3cret-token-XYZ";
    let with_secret = format!("git://bot:{secret}@127.0.0.1:{port}/origin.git");
    let leaky = start_agent(&h, &with_secret, logs.path(), "host-x", &[]);
    assert!(
        wait_for(|| source(&leaky)["error"].is_string(), WAIT),
        "the refused URL is reported"
    );
    assert_eq!(
        source(&leaky)["url"],
        Value::from(format!("git://***@127.0.0.1:{port}/origin.git"))
    );
    assert!(leaky.healthy());
    let status = leaky.get("/status").map(|r| r.1).unwrap_or_default();
    let metrics = leaky.get("/metrics").map(|r| r.1).unwrap_or_default();
    for (what, text) in [
        ("log", leaky.logs()),
        ("/status", status),
        ("/metrics", metrics),
    ] {
        assert!(
            !text.contains(secret),
            "the credential appears in the {what}"
        );
        assert!(
            !text.contains("bot:"),
            "the user info appears in the {what}"
        );
    }
    drop(leaky);

    let url = format!("git://127.0.0.1:{port}/origin.git");
    let agent = start_agent(&h, &url, logs.path(), "host-a", &[]);
    assert!(
        wait_for(
            || data(&h, "/app/db/url").as_deref() == Some("postgres://a"),
            WAIT
        ),
        "applied over git://"
    );
    assert!(wait_for(
        || applied_revision(&h) == Some(format!("main@sha1:{a}")),
        WAIT
    ));
    assert!(wait_for(|| agent.ready(), WAIT));

    // The server goes away: the error is reported, the last good commit stays, the agent is
    // healthy.
    daemon.stop();
    assert!(
        wait_for(|| source(&agent)["error"].is_string(), WAIT),
        "the failed fetch is reported"
    );
    let b = repo.commit(&tree("postgres://b"), None);
    // Retried with backoff: a later attempt fails too, and nothing changes meanwhile.
    let first = source(&agent)["time"].clone();
    assert!(
        wait_for(
            || {
                let s = source(&agent);
                s["time"] != first && s["error"].is_string()
            },
            WAIT
        ),
        "the fetch is retried"
    );
    assert!(agent.healthy());
    assert_eq!(data(&h, "/app/db/url").as_deref(), Some("postgres://a"));
    assert_eq!(source(&agent)["applied"], Value::from(a.clone()));
    // Not a manifest error: the commit in force is valid.
    assert_eq!(
        agent.status().map(|s| s["agent"]["manifestErrors"].clone()),
        Some(Value::Array(Vec::new()))
    );

    // It comes back: the agent catches up.
    let _daemon = Daemon::start(&repo, port);
    assert!(
        wait_for(
            || data(&h, "/app/db/url").as_deref() == Some("postgres://b"),
            WAIT
        ),
        "caught up after the server returned"
    );
    assert!(wait_for(
        || applied_revision(&h) == Some(format!("main@sha1:{b}")),
        WAIT
    ));
    assert!(wait_for(|| source(&agent)["error"].is_null(), WAIT));
    // zkstate_source_fetch_total counted both outcomes.
    let metrics = agent.get("/metrics").map(|r| r.1).unwrap_or_default();
    let count = |result: &str| {
        metrics
            .lines()
            .find_map(|l| {
                l.strip_prefix(&format!(
                    "zkstate_source_fetch_total{{result=\"{result}\"}} "
                ))
            })
            .and_then(|v| v.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    assert!(count("ok") >= 2.0 && count("error") >= 1.0, "{metrics}");
    assert!(metrics.contains("zkstate_source_last_fetch_timestamp_seconds"));
}

/// `ssh-keygen -t ed25519` into `dir/name` (no passphrase); returns the private key path.
fn keygen(dir: &Path, name: &str) -> PathBuf {
    let key = dir.join(name);
    let out = Command::new("ssh-keygen")
        .args(["-q", "-t", "ed25519", "-N", "", "-C", name, "-f"])
        .arg(&key)
        .output()
        .expect("run ssh-keygen (openssh-client)");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    key
}

fn public_key(key: &Path) -> String {
    fs::read_to_string(key.with_extension("pub"))
        .expect("public key")
        .split_whitespace()
        .take(2)
        .collect::<Vec<_>>()
        .join(" ")
}

#[test]
fn only_commits_signed_by_an_allowed_signer_are_applied() {
    let zk = common::zk();
    let h = zk.connect_string();
    let repo = Repo::new();
    let logs = tempfile::tempdir().expect("tempdir");
    let alice = keygen(logs.path(), "alice");
    let mallory = keygen(logs.path(), "mallory");
    let signers = logs.path().join("allowed_signers");
    fs::write(
        &signers,
        format!(
            "alice@example.org namespaces=\"git\" {}\n",
            public_key(&alice)
        ),
    )
    .expect("write allowed signers");
    let verify = signers.display().to_string();

    // Unsigned: refused, nothing applied.
    let unsigned = repo.commit(&tree("postgres://unsigned"), None);
    let agent = start_agent(
        &h,
        &repo.file_url(),
        logs.path(),
        "host-a",
        &["--git-verify", &verify],
    );
    assert!(
        wait_for(
            || source(&agent)["refused"]["commit"] == unsigned.as_str(),
            WAIT
        ),
        "the unsigned commit is refused"
    );
    assert_eq!(source(&agent)["refused"]["reason"], "unverified");
    assert!(data(&h, "/app/db/url").is_none());

    // Signed by a key not in the file: refused.
    let unlisted = repo.commit(&tree("postgres://mallory"), Some(&mallory));
    assert!(
        wait_for(
            || source(&agent)["refused"]["commit"] == unlisted.as_str(),
            WAIT
        ),
        "the commit by an unlisted key is refused"
    );
    assert!(
        source(&agent)["refused"]["error"]
            .as_str()
            .is_some_and(|e| e.contains("not in the allowed signers"))
    );
    assert!(data(&h, "/app/db/url").is_none());

    // Signed by alice: applied, and /status names her.
    let signed = repo.commit(&tree("postgres://alice"), Some(&alice));
    assert!(
        wait_for(
            || data(&h, "/app/db/url").as_deref() == Some("postgres://alice"),
            WAIT
        ),
        "the commit signed by an allowed signer is applied"
    );
    assert_eq!(applied_revision(&h), Some(format!("main@sha1:{signed}")));
    assert!(wait_for(
        || source(&agent)["signer"] == "alice@example.org",
        WAIT
    ));

    // The same signature over another tree (swapped after signing): refused.
    let raw_commit = repo.git(&repo.work(), &["cat-file", "commit", &signed]);
    let other_tree = repo.git(
        &repo.work(),
        &["rev-parse", &format!("{unsigned}^{{tree}}")],
    );
    let signed_tree = repo.git(&repo.work(), &["rev-parse", &format!("{signed}^{{tree}}")]);
    let forged = raw_commit
        .replacen(
            &format!("tree {signed_tree}"),
            &format!("tree {other_tree}"),
            1,
        )
        .replacen("parent ", &format!("parent {signed}\nparent "), 1);
    let forged_id = repo.git_output(
        &repo.work(),
        &["hash-object", "-t", "commit", "-w", "--stdin"],
        Some(format!("{forged}\n").as_bytes()),
    );
    repo.push(&forged_id);
    assert!(
        wait_for(
            || source(&agent)["refused"]["commit"] == forged_id.as_str(),
            WAIT
        ),
        "the swapped tree is refused"
    );
    assert!(
        source(&agent)["refused"]["error"]
            .as_str()
            .is_some_and(|e| e.contains("does not verify")),
        "{}",
        source(&agent)
    );
    assert_eq!(data(&h, "/app/db/url").as_deref(), Some("postgres://alice"));

    // alice is removed from the allowed signers: the applied commit is reported unverified and
    // nothing more is applied (drift is not reverted either).
    fs::write(
        &signers,
        format!("mallory@example.org {}\n", public_key(&mallory)),
    )
    .expect("rewrite allowed signers");
    assert!(
        wait_for(
            || source(&agent)["revoked"]
                .as_str()
                .is_some_and(|r| r.contains(&signed)),
            WAIT
        ),
        "the applied commit is reported unverified"
    );
    assert!(source(&agent)["signer"].is_null());
    raw::set(&h, "/app/db/url", b"drift");
    assert!(
        wait_for(
            || agent
                .status()
                .is_some_and(|s| s["agent"]["lastPass"]["result"] == "refused"),
            WAIT
        ),
        "the leader refuses to apply"
    );
    assert_eq!(data(&h, "/app/db/url").as_deref(), Some("drift"));

    // A commit verified by the current keys (an RSA key, as `ssh-keygen -t rsa` makes) lifts
    // the hold: it is applied, and drift is reverted again.
    let carol = logs.path().join("carol");
    let out = Command::new("ssh-keygen")
        .args([
            "-q", "-t", "rsa", "-b", "3072", "-N", "", "-C", "carol", "-f",
        ])
        .arg(&carol)
        .output()
        .expect("run ssh-keygen");
    assert!(out.status.success());
    fs::write(
        &signers,
        format!("carol@example.org {}\n", public_key(&carol)),
    )
    .expect("rewrite allowed signers");
    let by_carol = repo.commit(&tree("postgres://carol"), Some(&carol));
    assert!(
        wait_for(
            || data(&h, "/app/db/url").as_deref() == Some("postgres://carol"),
            WAIT
        ),
        "the commit signed by a current key is applied: {}",
        source(&agent)
    );
    assert_eq!(applied_revision(&h), Some(format!("main@sha1:{by_carol}")));
    assert_eq!(source(&agent)["signer"], "carol@example.org");
    assert!(source(&agent)["revoked"].is_null());
}

/// `POST path` on `127.0.0.1:port` with extra headers; the status code.
fn http_post(port: u16, path: &str, headers: &[(&str, &str)], body: &[u8]) -> Option<u16> {
    use std::io::{Read, Write};
    let mut s = TcpStream::connect(("127.0.0.1", port)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(10))).ok()?;
    let mut req = format!(
        "POST {path} HTTP/1.0\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: {}\r\n",
        body.len()
    );
    for (k, v) in headers {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    req.push_str("\r\n");
    s.write_all(req.as_bytes()).ok()?;
    s.write_all(body).ok()?;
    let mut buf = String::new();
    s.read_to_string(&mut buf).ok()?;
    buf.split_whitespace().nth(1)?.parse().ok()
}

/// GitHub's `X-Hub-Signature-256` value, computed by `openssl dgst` (not by zkstate's code).
fn github_signature(secret: &str, body: &[u8]) -> String {
    use std::io::Write;
    let mut child = Command::new("openssl")
        .args(["dgst", "-sha256", "-hmac", secret])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("run openssl");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(body)
        .expect("write to openssl");
    let out = child.wait_with_output().expect("openssl output");
    let text = String::from_utf8_lossy(&out.stdout);
    let hex = text.rsplit("= ").next().expect("openssl digest").trim();
    format!("sha256={hex}")
}

#[test]
fn a_signed_webhook_fetches_at_once_and_a_bad_one_fetches_nothing() {
    let zk = common::zk();
    let h = zk.connect_string();
    let repo = Repo::new();
    let logs = tempfile::tempdir().expect("tempdir");
    let secret_file = logs.path().join("webhook-secret");
    fs::write(&secret_file, "hook-s3cret\n").expect("write secret");
    let secret_arg = secret_file.display().to_string();
    repo.commit(&tree("postgres://a"), None);
    // Polling once an hour: only the start and the webhook fetch.
    let port = free_port();
    let log = logs.path().join("hooked.log");
    let child = common::zkstate()
        .args(["--zk", &h, "--session-timeout", "4s", "agent", "--git"])
        .arg(repo.file_url())
        .args([
            "--git-path",
            "manifests",
            "--git-interval",
            "1h",
            "--git-dir",
        ])
        .arg(logs.path().join("hooked-git"))
        .args(["--webhook-secret-file", &secret_arg])
        .args([
            "--listen",
            &format!("127.0.0.1:{port}"),
            "--host-id",
            "hooked",
        ])
        .env("RUST_LOG", "zkstate=debug")
        .env_remove("ZKSTATE_ZK")
        .stdout(Stdio::null())
        .stderr(fs::File::create(&log).expect("log"))
        .spawn()
        .expect("spawn zkstate agent");
    let agent = Agent::adopt(child, log, port);
    assert!(
        wait_for(
            || data(&h, "/app/db/url").as_deref() == Some("postgres://a"),
            WAIT
        ),
        "applied at start"
    );
    assert!(wait_for(|| agent.is_leader(), WAIT));
    let b = repo.commit(&tree("postgres://b"), None);
    let body = br#"{"ref":"refs/heads/main"}"#;

    // Unsigned or wrongly signed: 401, nothing fetched.
    assert_eq!(http_post(port, "/hooks/git", &[], body), Some(401));
    let wrong = github_signature("not-the-secret", body);
    assert_eq!(
        http_post(port, "/hooks/git", &[("X-Hub-Signature-256", &wrong)], body),
        Some(401)
    );
    assert_eq!(
        http_post(port, "/hooks/git", &[("X-Gitlab-Token", "nope")], body),
        Some(401)
    );
    // Nothing was fetched: with a poll of one hour, `fetched` stays at the start's commit.
    assert!(!wait_for(
        || source(&agent)["fetched"] == b.as_str(),
        Duration::from_secs(2)
    ));
    assert_eq!(data(&h, "/app/db/url").as_deref(), Some("postgres://a"));

    // GitHub's signature: 202 and applied within a second or so.
    let good = github_signature("hook-s3cret", body);
    let sent = std::time::Instant::now();
    assert_eq!(
        http_post(port, "/hooks/git", &[("X-Hub-Signature-256", &good)], body),
        Some(202)
    );
    assert!(
        wait_for(
            || applied_revision(&h) == Some(format!("main@sha1:{b}")),
            WAIT
        ),
        "the signed webhook is applied"
    );
    eprintln!("push → applied by webhook: {:?}", sent.elapsed());
    assert_eq!(data(&h, "/app/db/url").as_deref(), Some("postgres://b"));

    // GitLab's token.
    let c = repo.commit(&tree("postgres://c"), None);
    assert_eq!(
        http_post(
            port,
            "/hooks/git",
            &[("X-Gitlab-Token", "hook-s3cret")],
            body
        ),
        Some(202)
    );
    assert!(
        wait_for(
            || applied_revision(&h) == Some(format!("main@sha1:{c}")),
            WAIT
        ),
        "the GitLab webhook is applied"
    );
    assert!(!agent.logs().contains("hook-s3cret"));
}

/// A real `sshd` on a loopback port, with a throwaway host key, accepting `client`'s key for
/// the current user; killed on drop.
struct Sshd {
    child: Child,
    port: u16,
    known_hosts: PathBuf,
}

impl Sshd {
    fn start(dir: &Path, client: &Path) -> Sshd {
        let host_key = keygen(dir, "ssh_host_ed25519_key");
        fs::copy(client.with_extension("pub"), dir.join("authorized_keys"))
            .expect("authorized_keys");
        let port = free_port();
        let config = dir.join("sshd_config");
        fs::write(
            &config,
            format!(
                "Port {port}\nListenAddress 127.0.0.1\nHostKey {}\nAuthorizedKeysFile {}\n\
                 PasswordAuthentication no\nKbdInteractiveAuthentication no\nUsePAM no\n\
                 PermitRootLogin prohibit-password\nStrictModes no\nPidFile {}\n",
                host_key.display(),
                dir.join("authorized_keys").display(),
                dir.join("sshd.pid").display()
            ),
        )
        .expect("sshd_config");
        // sshd's privilege separation directory.
        fs::create_dir_all("/run/sshd").expect("create /run/sshd");
        let child = Command::new("/usr/sbin/sshd")
            .args(["-D", "-e", "-f"])
            .arg(&config)
            .stdout(Stdio::null())
            .stderr(fs::File::create(dir.join("sshd.log")).expect("sshd log"))
            .spawn()
            .expect("start sshd (scripts/install-deps installs openssh-server)");
        assert!(
            wait_for(
                || TcpStream::connect(("127.0.0.1", port)).is_ok(),
                Duration::from_secs(10)
            ),
            "sshd did not listen: {}",
            fs::read_to_string(dir.join("sshd.log")).unwrap_or_default()
        );
        let known_hosts = dir.join("known_hosts");
        fs::write(
            &known_hosts,
            format!("[127.0.0.1]:{port} {}\n", public_key(&host_key)),
        )
        .expect("known_hosts");
        Sshd {
            child,
            port,
            known_hosts,
        }
    }
}

impl Drop for Sshd {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn current_user() -> String {
    let out = Command::new("id").arg("-un").output().expect("id -un");
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

#[test]
fn ssh_with_a_deploy_key_and_known_hosts() {
    let zk = common::zk();
    let h = zk.connect_string();
    let repo = Repo::new();
    let logs = tempfile::tempdir().expect("tempdir");
    let deploy_key = keygen(logs.path(), "deploy");
    let sshd = Sshd::start(logs.path(), &deploy_key);
    let a = repo.commit(&tree("postgres://ssh"), None);
    let url = format!(
        "ssh://{}@127.0.0.1:{}{}",
        current_user(),
        sshd.port,
        repo.origin().display()
    );
    let key = deploy_key.display().to_string();
    let known = sshd.known_hosts.display().to_string();

    // A host key that is not in known_hosts: refused, nothing applied.
    let wrong_hosts = logs.path().join("other_known_hosts");
    let other = keygen(logs.path(), "other_host");
    fs::write(
        &wrong_hosts,
        format!("[127.0.0.1]:{} {}\n", sshd.port, public_key(&other)),
    )
    .expect("write known_hosts");
    let wrong = wrong_hosts.display().to_string();
    let strict = start_agent(
        &h,
        &url,
        logs.path(),
        "host-x",
        &["--git-ssh-key", &key, "--git-known-hosts", &wrong],
    );
    assert!(
        wait_for(|| source(&strict)["error"].is_string(), WAIT),
        "an unknown host key fails the fetch"
    );
    // Only known_hosts differs from the agent below, which fetches: the host key is why.
    assert!(data(&h, "/app/db/url").is_none());
    drop(strict);

    let agent = start_agent(
        &h,
        &url,
        logs.path(),
        "host-a",
        &["--git-ssh-key", &key, "--git-known-hosts", &known],
    );
    assert!(
        wait_for(
            || data(&h, "/app/db/url").as_deref() == Some("postgres://ssh"),
            WAIT
        ),
        "applied over ssh://: {}",
        source(&agent)
    );
    assert!(wait_for(
        || applied_revision(&h) == Some(format!("main@sha1:{a}")),
        WAIT
    ));
}

#[test]
fn a_tag_or_a_commit_id_can_be_followed() {
    let zk = common::zk();
    let h = zk.connect_string();
    let repo = Repo::new();
    let logs = tempfile::tempdir().expect("tempdir");
    let a = repo.commit(&tree("postgres://a"), None);
    repo.git(&repo.work(), &["tag", "-a", "-m", "release", "v1", &a]);
    repo.git(&repo.work(), &["push", "-q", "origin", "refs/tags/v1"]);
    let b = repo.commit(&tree("postgres://b"), None);
    repo.commit(&tree("postgres://c"), None);

    // An annotated tag: its commit, recorded under the ref as given.
    let tagged = start_agent(
        &h,
        &repo.file_url(),
        logs.path(),
        "host-t",
        &["--git-ref", "refs/tags/v1"],
    );
    assert!(
        wait_for(
            || applied_revision(&h) == Some(format!("refs/tags/v1@sha1:{a}")),
            WAIT
        ),
        "the tag is applied: {}",
        source(&tagged)
    );
    assert_eq!(data(&h, "/app/db/url").as_deref(), Some("postgres://a"));
    drop(tagged);

    // A commit id (not the branch's tip).
    let pinned = start_agent(
        &h,
        &repo.file_url(),
        logs.path(),
        "host-p",
        &["--git-ref", &b],
    );
    assert!(
        wait_for(
            || applied_revision(&h) == Some(format!("{b}@sha1:{b}")),
            WAIT
        ),
        "the commit id is applied: {}",
        source(&pinned)
    );
    assert_eq!(data(&h, "/app/db/url").as_deref(), Some("postgres://b"));
}

#[test]
fn dev_follows_the_current_branch_of_the_local_repository() {
    use std::io::{BufRead, BufReader};
    let repo = Repo::new();
    repo.git(&repo.work(), &["checkout", "-q", "-b", "trial"]);
    repo.commit(&tree("postgres://first"), None);
    let mut child = common::zkstate()
        .args(["dev", "--git", ".", "--git-path", "manifests"])
        .current_dir(repo.work())
        .env_remove("ZKSTATE_ZK")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .process_group(0)
        .spawn()
        .expect("spawn zkstate dev");
    let stdout = child.stdout.take().expect("stdout");
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    let mut hosts = None;
    let mut lines = Vec::new();
    while hosts.is_none() || !lines.iter().any(|l: &String| l.starts_with("Following ")) {
        let line = rx
            .recv_timeout(Duration::from_secs(90))
            .unwrap_or_else(|_| panic!("no ready lines; got {lines:#?}"));
        if let Some(rest) = line.strip_prefix("Local ZooKeeper running: --zk ") {
            hosts = rest.split_whitespace().next().map(str::to_owned);
        }
        lines.push(line);
    }
    let hosts = hosts.expect("hosts");
    assert!(
        lines.iter().any(|l| l.contains("(ref trial)")),
        "the current branch: {lines:#?}"
    );
    assert!(
        wait_for(
            || data(&hosts, "/app/db/url").as_deref() == Some("postgres://first"),
            WAIT
        ),
        "the checked-out branch is applied"
    );
    // Committing an edit shows the loop (no push: dev follows the local repository).
    let dir = repo.work().join("manifests");
    fs::write(dir.join("app.yaml"), tree("postgres://edited")).expect("edit");
    repo.git(&repo.work(), &["commit", "-q", "-am", "edit"]);
    let edited = repo.head();
    assert!(
        wait_for(
            || data(&hosts, "/app/db/url").as_deref() == Some("postgres://edited"),
            WAIT
        ),
        "the committed edit is applied"
    );
    assert_eq!(
        applied_revision(&hosts),
        Some(format!("trial@sha1:{edited}"))
    );
    // SAFETY: signalling our own child.
    unsafe {
        libc::kill(child.id() as i32, libc::SIGINT);
    }
    assert_eq!(child.wait().expect("wait").code(), Some(0));
}

fn openssl(dir: &Path, args: &[&str]) {
    let out = Command::new("openssl")
        .current_dir(dir)
        .args(args)
        .output()
        .expect("run openssl");
    assert!(
        out.status.success(),
        "openssl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A real lighttpd serving the repository's directory over HTTPS on a loopback port through
/// `git http-backend` (smart HTTP), with basic auth (`user:password` in a plain user file) and
/// a certificate for 127.0.0.1 from a throwaway CA (`ca.pem`); killed on drop.
struct HttpsGit {
    child: Child,
    port: u16,
    ca: PathBuf,
}

impl HttpsGit {
    fn start(repo: &Repo, dir: &Path, user: &str, password: &str) -> HttpsGit {
        let ec = [
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
        ];
        let mut ca = vec!["req", "-x509"];
        ca.extend(ec);
        ca.extend([
            "-keyout",
            "ca.key",
            "-out",
            "ca.pem",
            "-days",
            "2",
            "-subj",
            "/CN=zkstate test CA",
        ]);
        openssl(dir, &ca);
        let mut csr = vec!["req"];
        csr.extend(ec);
        csr.extend([
            "-keyout",
            "server.key",
            "-out",
            "server.csr",
            "-subj",
            "/CN=127.0.0.1",
        ]);
        openssl(dir, &csr);
        fs::write(
            dir.join("server.ext"),
            "basicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature\n\
             extendedKeyUsage=serverAuth\nsubjectAltName=IP:127.0.0.1\n",
        )
        .expect("write ext");
        openssl(
            dir,
            &[
                "x509",
                "-req",
                "-in",
                "server.csr",
                "-CA",
                "ca.pem",
                "-CAkey",
                "ca.key",
                "-CAcreateserial",
                "-out",
                "server.pem",
                "-days",
                "2",
                "-extfile",
                "server.ext",
            ],
        );
        fs::write(dir.join("users"), format!("{user}:{password}\n")).expect("write users");
        let port = free_port();
        let exec_path = repo.git(repo.dir.path(), &["--exec-path"]);
        let d = dir.display();
        let base = repo.dir.path().display();
        fs::write(
            dir.join("lighttpd.conf"),
            format!(
                r#"server.modules = ("mod_alias", "mod_auth", "mod_authn_file", "mod_cgi", "mod_setenv", "mod_openssl")
server.document-root = "{d}"
server.bind = "127.0.0.1"
server.port = {port}
server.errorlog = "{d}/lighttpd.log"
ssl.engine = "enable"
ssl.pemfile = "{d}/server.pem"
ssl.privkey = "{d}/server.key"
alias.url = ("/git" => "{exec_path}/git-http-backend")
$HTTP["url"] =~ "^/git" {{
  cgi.assign = ("" => "")
  setenv.set-environment = ("GIT_PROJECT_ROOT" => "{base}", "GIT_HTTP_EXPORT_ALL" => "1")
}}
auth.backend = "plain"
auth.backend.plain.userfile = "{d}/users"
auth.require = ("/git" => ("method" => "basic", "realm" => "git", "require" => "valid-user"))
"#
            ),
        )
        .expect("write lighttpd.conf");
        let child = Command::new("lighttpd")
            .args(["-D", "-f"])
            .arg(dir.join("lighttpd.conf"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start lighttpd (scripts/install-deps installs it)");
        assert!(
            wait_for(
                || TcpStream::connect(("127.0.0.1", port)).is_ok(),
                Duration::from_secs(10)
            ),
            "lighttpd did not listen: {}",
            fs::read_to_string(dir.join("lighttpd.log")).unwrap_or_default()
        );
        HttpsGit {
            child,
            port,
            ca: dir.join("ca.pem"),
        }
    }
}

impl Drop for HttpsGit {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn https_with_a_token_from_a_file() {
    let zk = common::zk();
    let h = zk.connect_string();
    let repo = Repo::new();
    let logs = tempfile::tempdir().expect("tempdir");
    let token = "tok-9f8e7d6c5b4a";
    let server = HttpsGit::start(&repo, logs.path(), "bot", token);
    let a = repo.commit(&tree("postgres://https"), None);
    let url = format!("https://bot@127.0.0.1:{}/git/origin.git", server.port);
    let ca = server.ca.display().to_string();
    // The agent trusts the test CA only through SSL_CERT_FILE (rustls' native roots read it).
    let start = |name: &str, token_file: &Path, url: &str| -> Agent {
        let port = free_port();
        let log = logs.path().join(format!("{name}.log"));
        let child = common::zkstate()
            .args(["--zk", &h, "--session-timeout", "4s", "agent", "--git", url])
            .args([
                "--git-path",
                "manifests",
                "--git-interval",
                "300ms",
                "--git-dir",
            ])
            .arg(logs.path().join(format!("{name}-git")))
            .arg("--git-token-file")
            .arg(token_file)
            .args(["--listen", &format!("127.0.0.1:{port}"), "--host-id", name])
            .env("RUST_LOG", "zkstate=debug")
            .env("SSL_CERT_FILE", &ca)
            .env_remove("ZKSTATE_ZK")
            .stdout(Stdio::null())
            .stderr(fs::File::create(&log).expect("log"))
            .spawn()
            .expect("spawn zkstate agent");
        Agent::adopt(child, log, port)
    };

    // A wrong token: the fetch fails, nothing applied, and the token is not shown.
    let wrong_file = logs.path().join("wrong-token");
    fs::write(&wrong_file, "not-the-token-123\n").expect("write token");
    let wrong = start("host-x", &wrong_file, &url);
    assert!(
        wait_for(|| source(&wrong)["error"].is_string(), WAIT),
        "a wrong token fails the fetch"
    );
    assert!(data(&h, "/app/db/url").is_none());
    assert!(!wrong.logs().contains("not-the-token-123"));
    drop(wrong);

    // The right one (trailing newline trimmed) is sent as basic auth with the URL's user.
    let token_file = logs.path().join("token");
    fs::write(&token_file, format!("{token}\n")).expect("write token");
    let agent = start("host-a", &token_file, &url);
    assert!(
        wait_for(
            || data(&h, "/app/db/url").as_deref() == Some("postgres://https"),
            WAIT
        ),
        "applied over https: {}",
        source(&agent)
    );
    assert_eq!(applied_revision(&h), Some(format!("main@sha1:{a}")));
    assert_eq!(
        source(&agent)["url"],
        Value::from(format!(
            "https://***@127.0.0.1:{}/git/origin.git",
            server.port
        ))
    );
    let status = agent.get("/status").map(|r| r.1).unwrap_or_default();
    for text in [agent.logs(), status] {
        assert!(!text.contains(token));
    }
}

fn fetch_count(agent: &Agent) -> f64 {
    let metrics = agent.get("/metrics").map(|r| r.1).unwrap_or_default();
    metrics
        .lines()
        .filter(|l| l.starts_with("zkstate_source_fetch_total{"))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

#[test]
fn only_the_leader_polls_and_a_standby_follows_the_applied_record() {
    let zk = common::zk();
    let h = zk.connect_string();
    let repo = Repo::new();
    let logs = tempfile::tempdir().expect("tempdir");
    let a = repo.commit(&tree("postgres://a"), None);
    let url = repo.file_url();
    let first = start_agent(&h, &url, logs.path(), "host-a", &[]);
    assert!(wait_for(|| first.is_leader(), WAIT));
    let second = start_agent(&h, &url, logs.path(), "host-b", &[]);
    assert!(
        wait_for(
            || second
                .status()
                .is_some_and(|s| s["agent"]["lastPass"]["result"] == "standby"),
            WAIT
        ),
        "a standby"
    );
    assert!(wait_for(|| source(&second)["applied"] == a.as_str(), WAIT));
    let b = repo.commit(&tree("postgres://b"), None);
    assert!(wait_for(
        || applied_revision(&h) == Some(format!("main@sha1:{b}")),
        WAIT
    ));
    // The standby takes the commit the applied record names.
    assert!(
        wait_for(|| source(&second)["applied"] == b.as_str(), WAIT),
        "the standby follows the record"
    );
    // The leader polls every 300ms; the standby fetched only when the record moved.
    let leader_before = fetch_count(&first);
    assert!(wait_for(
        || fetch_count(&first) >= leader_before + 5.0,
        WAIT
    ));
    assert!(
        fetch_count(&second) <= 3.0,
        "the standby polls: {} fetches",
        fetch_count(&second)
    );

    // The leader goes: the standby takes over and applies the next commit.
    drop(first);
    let c = repo.commit(&tree("postgres://c"), None);
    assert!(
        wait_for(
            || applied_revision(&h) == Some(format!("main@sha1:{c}")),
            WAIT
        ),
        "the new leader applies"
    );
    assert_eq!(data(&h, "/app/db/url").as_deref(), Some("postgres://c"));

    // A standby that joins while REF is ahead of the applied record (the leader is suspended)
    // takes the record's commit, fetched by id: its shallow fetch of REF did not bring it.
    assert_eq!(common::run(&h, &["suspend"]).0, 0);
    let d = repo.commit(&tree("postgres://d"), None);
    assert!(wait_for(|| source(&second)["fetched"] == d.as_str(), WAIT));
    assert_eq!(applied_revision(&h), Some(format!("main@sha1:{c}")));
    let third = start_agent(&h, &url, logs.path(), "host-c", &[]);
    assert!(
        wait_for(|| source(&third)["applied"] == c.as_str(), WAIT),
        "the joining standby takes the record's commit: {}",
        source(&third)
    );
    assert_eq!(source(&third)["fetched"], Value::from(d.clone()));
    assert!(
        logs.path()
            .join("host-c-git/repo/refs/zkstate/record")
            .exists(),
        "fetched by id"
    );
    assert_eq!(common::run(&h, &["resume"]).0, 0);
    assert!(wait_for(
        || applied_revision(&h) == Some(format!("main@sha1:{d}")),
        WAIT
    ));
    assert!(
        wait_for(|| source(&third)["applied"] == d.as_str(), WAIT),
        "and follows the record when it moves"
    );
}

#[test]
fn config_keys_flags_and_sighup() {
    let zk = common::zk();
    let h = zk.connect_string();
    let repo = Repo::new();
    let logs = tempfile::tempdir().expect("tempdir");
    let a = repo.commit(&tree("postgres://a"), None);

    // `-f` and `--git` together, or a webhook secret without --git: exit 2, saying why.
    let (code, _, err) = common::run(&h, &["agent", "-f", "x.yaml", "--git", &repo.file_url()]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("cannot be used together"), "{err}");
    let (code, _, err) = common::run(&h, &["agent", "-f", "x.yaml", "--webhook-secret-file", "s"]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("needs --git"), "{err}");
    let (code, _, err) = common::run(&h, &["agent", "--git", "ftp://127.0.0.1/x"]);
    assert_eq!(code, 2, "{err}");

    // The config keys, `git-dir` relative to the config file; polling once an hour.
    let config = logs.path().join("agent.yaml");
    let port = free_port();
    fs::write(
        &config,
        format!(
            "zk: {h}\ngit: {}\ngit-ref: main\ngit-path: manifests\ngit-interval: 1h\n\
             git-dir: clone\nlisten: 127.0.0.1:{port}\nhost-id: cfg\n",
            repo.file_url()
        ),
    )
    .expect("write config");
    let log = logs.path().join("cfg.log");
    let child = common::zkstate()
        .arg("--config")
        .arg(&config)
        .arg("agent")
        .env("RUST_LOG", "zkstate=debug")
        .env_remove("ZKSTATE_ZK")
        .stdout(Stdio::null())
        .stderr(fs::File::create(&log).expect("log"))
        .spawn()
        .expect("spawn zkstate agent");
    let agent = Agent::adopt(child, log, port);
    assert!(
        wait_for(
            || applied_revision(&h) == Some(format!("main@sha1:{a}")),
            WAIT
        ),
        "applied from the config keys"
    );
    assert!(
        logs.path().join("clone/repo").is_dir(),
        "git-dir is relative to the config file"
    );
    assert!(wait_for(|| agent.is_leader(), WAIT));

    // SIGHUP fetches at once (the interval is an hour).
    let b = repo.commit(&tree("postgres://b"), None);
    agent.signal(libc::SIGHUP);
    assert!(
        wait_for(
            || applied_revision(&h) == Some(format!("main@sha1:{b}")),
            WAIT
        ),
        "SIGHUP fetched"
    );
    assert_eq!(data(&h, "/app/db/url").as_deref(), Some("postgres://b"));
}

#[test]
fn without_git_dir_the_clone_is_private_to_the_process_and_removed_at_stop() {
    use std::os::unix::fs::PermissionsExt;
    let zk = common::zk();
    let h = zk.connect_string();
    let repo = Repo::new();
    let logs = tempfile::tempdir().expect("tempdir");
    let tmp = logs.path().join("tmp");
    fs::create_dir(&tmp).expect("mkdir");
    let a = repo.commit(&tree("postgres://a"), None);
    let port = free_port();
    let log = logs.path().join("tmpdir.log");
    let child = common::zkstate()
        .args([
            "--zk",
            &h,
            "agent",
            "--git",
            &repo.file_url(),
            "--git-path",
            "manifests",
        ])
        .args(["--listen", &format!("127.0.0.1:{port}")])
        .env("TMPDIR", &tmp)
        .env_remove("STATE_DIRECTORY")
        .env_remove("ZKSTATE_ZK")
        .stdout(Stdio::null())
        .stderr(fs::File::create(&log).expect("log"))
        .spawn()
        .expect("spawn zkstate agent");
    let mut agent = Agent::adopt(child, log, port);
    assert!(wait_for(
        || applied_revision(&h) == Some(format!("main@sha1:{a}")),
        WAIT
    ));
    let clone = tmp.join(format!("zkstate-git-{}", agent.pid()));
    assert!(
        clone.join("repo").is_dir(),
        "the clone is in {}",
        clone.display()
    );
    let mode = fs::metadata(&clone)
        .expect("clone dir")
        .permissions()
        .mode();
    assert_eq!(mode & 0o077, 0, "only this user may read it: {mode:o}");
    agent.signal(libc::SIGTERM);
    assert_eq!(agent.wait_exit(WAIT), Some(0));
    assert!(!clone.exists(), "removed at stop");
}

#[test]
fn kill_9_between_fetch_and_apply_leaves_no_partial_state() {
    let zk = common::zk();
    let h = zk.connect_string();
    let repo = Repo::new();
    let logs = tempfile::tempdir().expect("tempdir");
    let mut values = std::collections::BTreeMap::new();
    let first = repo.commit(&tree("postgres://0"), None);
    values.insert(first, "postgres://0".to_owned());
    // The same --git-dir across kills: a restarted agent reuses what the killed one left.
    let mut agent = start_agent(&h, &repo.file_url(), logs.path(), "host-k", &[]);
    for round in 1..=4u64 {
        let value = format!("postgres://{round}");
        let commit = repo.commit(&tree(&value), None);
        values.insert(commit.clone(), value.clone());
        // Somewhere in fetch, checkout, load or apply (the poll is 300ms).
        std::thread::sleep(Duration::from_millis(round * 97 % 400));
        agent.signal(libc::SIGKILL);
        let _ = agent.wait_exit(WAIT);
        // Whatever landed is whole: the data is the value of the commit the record names.
        if let Some(rev) = applied_revision(&h) {
            let id = rev.rsplit("@sha1:").next().expect("commit id").to_owned();
            assert_eq!(
                data(&h, "/app/db/url").as_ref(),
                values.get(&id),
                "round {round}: the record names {id}"
            );
        }
        drop(agent);
        agent = start_agent(&h, &repo.file_url(), logs.path(), "host-k", &[]);
        assert!(
            wait_for(
                || applied_revision(&h) == Some(format!("main@sha1:{commit}")),
                WAIT
            ),
            "round {round}: the restarted agent applies the pushed commit: {}",
            source(&agent)
        );
        assert_eq!(data(&h, "/app/db/url"), Some(value));
    }
}

/// `git://` URL of the repository served by `daemon`.
fn daemon_url(daemon: &Daemon) -> String {
    format!("git://127.0.0.1:{}/origin.git", daemon.port)
}

/// Trials of the ensemble-leader kill: 3 unless `ZKSTATE_FAULT_TRIALS` asks for more (or fewer).
fn leader_kill_trials() -> usize {
    std::env::var("ZKSTATE_FAULT_TRIALS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(3)
}

/// A ZooKeeper leader kill during a Git-triggered pass (issue 19, the proof suites extended;
/// docs/contract.md §4a): an agent on a 3-node ensemble follows a repository served by
/// `git daemon`; each trial pushes a commit that updates 200, creates 40 and deletes 40 nodes of
/// 1 KB, kills -9 the ensemble's leader at a random point of the push → commit window measured
/// beforehand, and restarts it. Every trial: one state at the first read a quorum answers (old
/// or new, the inventory naming exactly the tree), then the pushed commit applied once, its id
/// in the applied record's revision, and the agent still running.
/// `ZKSTATE_FAULT_TRIALS` (default 3) and `ZKSTATE_FAULT_SEED` as in tests/faults_agent.rs.
#[test]
fn kill_9_of_the_ensemble_leader_during_git_triggered_passes() {
    use common::ZkEnsemble;
    use common::faults::{
        ENSEMBLE_SHAPE, Observed, Rng, Side, manifest, nodes, observe_between_commits,
    };
    use std::collections::BTreeSet;
    use std::time::Instant;

    let mut ensemble = ZkEnsemble::start(3).expect("ensemble");
    let h = ensemble.connect_string();
    let repo = Repo::new();
    let daemon = Daemon::start(&repo, free_port());
    let logs = tempfile::tempdir().expect("tempdir");
    let mut rng = Rng::from_env("git-leader");
    let shape = ENSEMBLE_SHAPE;
    let first = repo.commit(&manifest(Side::Old, shape), None);
    // A session that outlives an election (the agent waits on disconnect); the poll is 300ms.
    let port = free_port();
    let log = logs.path().join("git-leader.log");
    let child = common::zkstate()
        .args(["--zk", &h, "--session-timeout", "10s", "agent", "--git"])
        .arg(daemon_url(&daemon))
        .args(["--git-path", "manifests", "--git-interval", "300ms"])
        .arg("--git-dir")
        .arg(logs.path().join("git-leader-git"))
        .args(["--listen", &format!("127.0.0.1:{port}")])
        .args(["--host-id", "git-leader", "--max-deletes", "100000"])
        .env("RUST_LOG", "zkstate=debug")
        .env_remove("ZKSTATE_ZK")
        .stdout(Stdio::null())
        .stderr(fs::File::create(&log).expect("log"))
        .spawn()
        .expect("spawn zkstate agent");
    let mut agent = Agent::adopt(child, log, port);
    let is = |seen: &Observed, side: Side| seen.tree == nodes(side, shape);
    let names = |o: &Observed| o.tree.keys().cloned().collect::<BTreeSet<String>>();
    let named = |commit: &str| Some(format!("main@sha1:{commit}"));
    assert!(
        wait_for(|| applied_revision(&h) == named(&first), WAIT),
        "the first commit is applied"
    );
    assert!(is(&observe_between_commits(&h), Side::Old));
    // The window: from the end of the push to the commit, measured without faults.
    let mut window = Duration::ZERO;
    for side in [Side::New, Side::Old] {
        let before = observe_between_commits(&h).applied_version;
        let commit = repo.commit(&manifest(side, shape), None);
        let pushed = Instant::now();
        assert!(
            wait_for(|| applied_revision(&h) == named(&commit), WAIT),
            "a pushed commit is applied"
        );
        window = window.max(pushed.elapsed());
        let seen = observe_between_commits(&h);
        assert!(is(&seen, side));
        assert_eq!(seen.applied_version, before + 1, "one commit per push");
    }
    println!("git-leader: push → commit window {window:?}");
    let mut side = Side::Old;
    let (mut before_kill, mut during_election, mut after_kill) = (0, 0, 0);
    let n = leader_kill_trials();
    for trial in 0..n {
        let target = side.flip();
        let before = observe_between_commits(&h);
        assert!(
            is(&before, side),
            "trial {trial}: converged before the push"
        );
        let leader = ensemble.leader().expect("a leader");
        let delay = rng.below(window + window / 4);
        let commit = repo.commit(&manifest(target, shape), None);
        std::thread::sleep(delay);
        let committed_before_kill = applied_revision(&h) == named(&commit);
        ensemble.kill(leader).expect("kill the leader");
        // As soon as a quorum answers: one state, old or new, never a mix.
        let first = observe_between_commits(&h);
        let first_new = is(&first, target);
        assert!(
            first_new || is(&first, side),
            "trial {trial}: partial state after a leader kill {delay:?} after the push"
        );
        assert_eq!(first.recorded, names(&first), "trial {trial}: inventory");
        assert_eq!(
            first.applied_version,
            before.applied_version + i32::from(first_new),
            "trial {trial}: the applied record moves with the commit, once"
        );
        // The agent converges once a new leader is elected: the pushed commit, named.
        assert!(
            wait_for(
                || applied_revision(&h) == named(&commit),
                Duration::from_secs(60)
            ),
            "trial {trial}: the pushed commit was not applied after the leader kill\n{}",
            agent.logs()
        );
        let done = observe_between_commits(&h);
        assert!(
            is(&done, target),
            "trial {trial}: converged to a partial tree"
        );
        assert_eq!(done.recorded, names(&done), "trial {trial}: inventory");
        assert_eq!(
            done.applied_version,
            before.applied_version + 1,
            "trial {trial}: applied twice"
        );
        assert!(agent.alive(), "trial {trial}: the agent exited");
        if committed_before_kill {
            before_kill += 1;
        } else if first_new {
            during_election += 1;
        } else {
            after_kill += 1;
        }
        ensemble.rejoin(leader).expect("the old leader rejoins");
        println!(
            "git-leader: trial {trial}: leader {leader} killed {delay:?} after the push: {}",
            if committed_before_kill {
                "the commit had landed"
            } else if first_new {
                "committed before the first read after the kill"
            } else {
                "old tree after the kill; committed later"
            }
        );
        side = target;
    }
    assert!(agent.healthy(), "the agent is healthy at the end");
    println!(
        "RESULT kill-leader-git: trials={n} committed-before-the-kill={before_kill} committed-before-the-first-read={during_election} old-at-first-read-then-committed={after_kill} partial=0 applied-twice=0 agent-alive=yes"
    );
}
