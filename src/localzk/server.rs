//! [`ZkServer`]: one standalone local ZooKeeper, started, restarted, stopped and deleted on drop.
use std::path::PathBuf;
use std::time::{Duration, Instant};

use super::{
    Instance, Layout, PORT_ATTEMPTS, Runtime, ServerError, ServerOptions, four_letter, io_err,
    pick_ports, temp_dir,
};

/// One standalone ZooKeeper server on `127.0.0.1`, stopped and deleted on drop.
///
/// ```no_run
/// let zk = zkstate::localzk::ZkServer::start()?;
/// println!("connect to {}", zk.connect_string());
/// # Ok::<(), zkstate::localzk::ServerError>(())
/// ```
#[derive(Debug)]
pub struct ZkServer {
    instance: Instance,
    // Declared last: removed after the instance has stopped.
    _dir: tempfile::TempDir,
}

impl ZkServer {
    /// Starts a server with [`ServerOptions::default`] and waits until it serves.
    ///
    /// # Errors
    /// [`ServerError::JavaMissing`] / [`ServerError::JarMissing`] when the packages are not
    /// installed, [`ServerError::Exited`] / [`ServerError::Timeout`] when the JVM does not serve.
    pub fn start() -> Result<ZkServer, ServerError> {
        Self::start_with(ServerOptions::default())
    }

    /// Starts a server with the given options and waits until it serves.
    ///
    /// # Errors
    /// As [`ZkServer::start`].
    pub fn start_with(options: ServerOptions) -> Result<ZkServer, ServerError> {
        let runtime = Runtime::detect()?;
        let mut attempt = 0;
        loop {
            attempt += 1;
            let port = match options.port {
                Some(port) => port,
                None => pick_ports(1)?[0],
            };
            let dir = temp_dir()?;
            let layout = Layout::new(dir.path().to_path_buf(), port, None);
            layout.write(&options, &[])?;
            let mut instance = Instance::new(layout, runtime.clone(), options.clone());
            instance.spawn()?;
            let deadline = Instant::now() + options.start_timeout;
            match instance.wait_serving(deadline) {
                Ok(()) => {
                    return Ok(ZkServer {
                        instance,
                        _dir: dir,
                    });
                }
                Err(err) => {
                    let retry = options.port.is_none()
                        && attempt < PORT_ATTEMPTS
                        && instance.lost_port_race();
                    instance.kill_quietly();
                    if !retry {
                        return Err(err);
                    }
                }
            }
        }
    }

    /// `127.0.0.1:PORT`, for a client's connect string.
    pub fn connect_string(&self) -> String {
        format!("127.0.0.1:{}", self.instance.layout().client_port)
    }

    /// The client port.
    pub fn port(&self) -> u16 {
        self.instance.layout().client_port
    }

    /// The JVM's process id, or `None` after [`stop`](Self::stop) or [`kill`](Self::kill).
    pub fn pid(&self) -> Option<u32> {
        self.instance.pid()
    }

    /// ZooKeeper's `dataDir` (snapshots and transaction logs under `version-2/`).
    pub fn data_dir(&self) -> PathBuf {
        self.instance.layout().data_dir()
    }

    /// The log4j log of the server.
    pub fn log_file(&self) -> PathBuf {
        self.instance.layout().log_file()
    }

    /// Sends a four-letter word (`srvr`, `mntr`, `wchc`, `cons`, ...) and returns the answer.
    ///
    /// # Errors
    /// [`ServerError::Io`] when the server does not answer.
    pub fn four_letter(&self, word: &str) -> Result<String, ServerError> {
        four_letter(
            self.instance.layout().client_port,
            word,
            Duration::from_secs(5),
        )
        .map_err(io_err(format!("send {word} to zookeeper")))
    }

    /// Stops the server: SIGTERM, then SIGKILL if it is still running after a grace period.
    /// Its data stays; [`restart`](Self::restart) brings it back. No-op when not running.
    ///
    /// # Errors
    /// [`ServerError::Io`] when the process cannot be signalled or reaped.
    pub fn stop(&mut self) -> Result<(), ServerError> {
        self.instance.stop()
    }

    /// Kills the server with SIGKILL (as a crash would) and reaps it. No-op when not running.
    ///
    /// # Errors
    /// [`ServerError::Io`] when the process cannot be killed or reaped.
    pub fn kill(&mut self) -> Result<(), ServerError> {
        self.instance.kill()
    }

    /// Stops the server if it runs, then starts it again on the same port with the same data,
    /// and waits until it serves.
    ///
    /// # Errors
    /// As [`ZkServer::start`]; fails if another process took the port meanwhile.
    pub fn restart(&mut self) -> Result<(), ServerError> {
        self.instance.stop()?;
        self.instance.spawn()?;
        let deadline = Instant::now() + self.instance.options().start_timeout;
        self.instance.wait_serving(deadline)
    }

    /// Whether the JVM is still running (it may have died on its own).
    pub fn is_running(&mut self) -> bool {
        self.instance.is_running()
    }
}
