//! Local ZooKeeper processes for tests: [`zk`] starts a fresh standalone server
//! ([`zkstate::localzk::ZkServer`]); [`ZkEnsemble`] runs a quorum of several servers on one host
//! for fault tests, built from the parts `zkstate::localzk` exposes.
use std::path::PathBuf;
use std::thread;
use std::time::{Duration, Instant};

use zkstate::localzk::{
    Instance, Layout, POLL, PORT_ATTEMPTS, Peer, Runtime, ServerError, ServerOptions, ZkServer,
    mode, pick_ports, temp_dir,
};

/// A fresh standalone ZooKeeper for this test, on its own port; stopped and deleted on drop.
pub fn zk() -> ZkServer {
    ZkServer::start().unwrap_or_else(|e| panic!("{e}\n(scripts/install-deps installs it)"))
}

/// Several ZooKeeper servers forming one quorum on `127.0.0.1`, each with its own client,
/// quorum and election ports and `myid`. Members are indexed from 0; member `i` has `myid`
/// `i + 1`. Everything is stopped and deleted on drop.
#[derive(Debug)]
pub struct ZkEnsemble {
    members: Vec<Instance>,
    _dir: tempfile::TempDir,
}

impl ZkEnsemble {
    /// Starts an ensemble of `n` servers with [`ServerOptions::default`] and waits until every
    /// member serves.
    ///
    /// # Errors
    /// As [`ZkServer::start`].
    pub fn start(n: usize) -> Result<ZkEnsemble, ServerError> {
        Self::start_with(n, ServerOptions::default())
    }

    /// Starts an ensemble of `n` servers (`options.port` is ignored) and waits until every
    /// member serves.
    ///
    /// # Errors
    /// As [`ZkServer::start`].
    pub fn start_with(n: usize, options: ServerOptions) -> Result<ZkEnsemble, ServerError> {
        assert!(n > 0, "an ensemble needs at least one member");
        let runtime = Runtime::detect()?;
        let mut attempt = 0;
        loop {
            attempt += 1;
            let ports = pick_ports(3 * n)?;
            let peers: Vec<Peer> = (0..n)
                .map(|i| Peer {
                    myid: i + 1,
                    client_port: ports[3 * i],
                    quorum_port: ports[3 * i + 1],
                    election_port: ports[3 * i + 2],
                })
                .collect();
            let dir = temp_dir()?;
            let mut members = Vec::with_capacity(n);
            for peer in &peers {
                let root = dir.path().join(format!("member-{}", peer.myid));
                let layout = Layout::new(root, peer.client_port, Some(peer.myid));
                layout.write(&options, &peers)?;
                members.push(Instance::new(layout, runtime.clone(), options.clone()));
            }
            let mut ensemble = ZkEnsemble { members, _dir: dir };
            let started = ensemble.members.iter_mut().try_for_each(Instance::spawn);
            let deadline = Instant::now() + options.start_timeout;
            let result = started.and_then(|()| {
                ensemble
                    .members
                    .iter_mut()
                    .try_for_each(|m| m.wait_serving(deadline))
            });
            match result {
                Ok(()) => return Ok(ensemble),
                Err(err) => {
                    let retry = attempt < PORT_ATTEMPTS
                        && ensemble.members.iter().any(Instance::lost_port_race);
                    if !retry {
                        return Err(err);
                    }
                    // Dropping the ensemble kills the members and removes the directory.
                }
            }
        }
    }

    /// Number of members, running or not.
    pub fn len(&self) -> usize {
        self.members.len()
    }

    /// Always false: an ensemble has at least one member.
    pub fn is_empty(&self) -> bool {
        self.members.is_empty()
    }

    /// `127.0.0.1:P1,127.0.0.1:P2,...`: every member, running or not.
    pub fn connect_string(&self) -> String {
        let hosts: Vec<String> = self
            .members
            .iter()
            .map(|m| format!("127.0.0.1:{}", m.layout().client_port))
            .collect();
        hosts.join(",")
    }

    /// The client port of member `i`.
    ///
    /// # Panics
    /// When `i` is out of range.
    pub fn port(&self, i: usize) -> u16 {
        self.members[i].layout().client_port
    }

    /// The process id of member `i`, `None` while it is stopped.
    ///
    /// # Panics
    /// When `i` is out of range.
    pub fn pid(&self, i: usize) -> Option<u32> {
        self.members[i].pid()
    }

    /// The `dataDir` of member `i`.
    ///
    /// # Panics
    /// When `i` is out of range.
    pub fn data_dir(&self, i: usize) -> PathBuf {
        self.members[i].layout().data_dir()
    }

    /// The log4j log of member `i`.
    ///
    /// # Panics
    /// When `i` is out of range.
    pub fn log_file(&self, i: usize) -> PathBuf {
        self.members[i].layout().log_file()
    }

    /// The `Mode:` member `i` reports (`leader`, `follower`), or `None` if it does not serve.
    pub fn mode(&self, i: usize) -> Option<String> {
        let member = self.members.get(i)?;
        mode(member.layout().client_port)
    }

    /// The index of the member that reports `Mode: leader`, if any.
    pub fn leader(&self) -> Option<usize> {
        (0..self.len()).find(|&i| self.mode(i).as_deref() == Some("leader"))
    }

    /// Kills member `i` with SIGKILL and reaps it.
    ///
    /// # Errors
    /// [`ServerError::NoSuchMember`], or [`ServerError::Io`] when it cannot be killed.
    pub fn kill(&mut self, i: usize) -> Result<(), ServerError> {
        self.member(i)?.kill()
    }

    /// Stops member `i` (SIGTERM, SIGKILL fallback).
    ///
    /// # Errors
    /// [`ServerError::NoSuchMember`], or [`ServerError::Io`] when it cannot be stopped.
    pub fn stop(&mut self, i: usize) -> Result<(), ServerError> {
        self.member(i)?.stop()
    }

    /// Starts a stopped or killed member `i` again with its data and waits until it serves
    /// (which needs a quorum). No-op when it runs.
    ///
    /// # Errors
    /// As [`ZkServer::start`].
    pub fn start_member(&mut self, i: usize) -> Result<(), ServerError> {
        let member = self.member(i)?;
        if member.is_running() {
            return Ok(());
        }
        member.spawn()?;
        let deadline = Instant::now() + member.options().start_timeout;
        member.wait_serving(deadline)
    }

    /// Brings a killed member back and waits until the whole ensemble has a quorum again (the
    /// step between fault trials).
    ///
    /// # Errors
    /// As [`Self::start_member`] and [`Self::wait_for_quorum`] (60 s).
    pub fn rejoin(&mut self, i: usize) -> Result<(), ServerError> {
        self.start_member(i)?;
        self.wait_for_quorum(Duration::from_secs(60))
    }

    /// Waits until a majority of the members serve and one of them is the leader.
    ///
    /// Right after the leader died its followers still report `Mode: follower` for a moment,
    /// so counting serving members alone would not do.
    ///
    /// # Errors
    /// [`ServerError::Timeout`] (quoting member 0's log) when no quorum serves in time.
    pub fn wait_for_quorum(&self, timeout: Duration) -> Result<(), ServerError> {
        let deadline = Instant::now() + timeout;
        let majority = self.len() / 2 + 1;
        loop {
            let modes: Vec<String> = (0..self.len()).filter_map(|i| self.mode(i)).collect();
            let has_leader = modes.iter().any(|m| m == "leader" || m == "standalone");
            if has_leader && modes.len() >= majority {
                return Ok(());
            }
            if Instant::now() >= deadline {
                let layout = self.members[0].layout();
                return Err(ServerError::Timeout {
                    port: layout.client_port,
                    timeout,
                    log: layout.log_file(),
                    tail: layout.tail(),
                });
            }
            thread::sleep(POLL);
        }
    }

    fn member(&mut self, index: usize) -> Result<&mut Instance, ServerError> {
        let len = self.members.len();
        self.members
            .get_mut(index)
            .ok_or(ServerError::NoSuchMember { index, len })
    }
}
