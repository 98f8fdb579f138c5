//! Readiness: four-letter words over plain TCP, and waiting until a started JVM serves (and is
//! ours, not another process's server on the same port).
use std::io::{self, Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpStream};
use std::thread;
use std::time::{Duration, Instant};

use super::{Instance, POLL, ServerError, io_err};

/// Sends a four-letter word to `127.0.0.1:port` and reads the answer until the server closes.
///
/// # Errors
/// The connection error, or a timeout when the server does not answer within `timeout`.
pub fn four_letter(port: u16, word: &str, timeout: Duration) -> io::Result<String> {
    let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
    let mut stream = TcpStream::connect_timeout(&addr, timeout)?;
    stream.set_read_timeout(Some(timeout))?;
    stream.set_write_timeout(Some(timeout))?;
    stream.write_all(word.as_bytes())?;
    let mut answer = String::new();
    stream.read_to_string(&mut answer)?;
    Ok(answer)
}

/// The `Mode:` a server on `port` reports through `srvr`, if it serves.
pub fn mode(port: u16) -> Option<String> {
    let answer = four_letter(port, "srvr", Duration::from_secs(2)).ok()?;
    answer
        .lines()
        .find_map(|line| line.strip_prefix("Mode:"))
        .map(|mode| mode.trim().to_string())
}

impl Instance {
    /// Polls until `srvr` reports a `Mode:` line, the JVM exits, or the deadline passes.
    ///
    /// # Errors
    /// [`ServerError::Exited`] when the JVM exits, [`ServerError::PortTaken`] when another
    /// process's server answers on the port, [`ServerError::Timeout`] at the deadline.
    pub fn wait_serving(&mut self, deadline: Instant) -> Result<(), ServerError> {
        let started = Instant::now();
        let port = self.layout().client_port;
        loop {
            if let Some(child) = &mut self.child {
                let exited = child
                    .try_wait()
                    .map_err(io_err("check on the zookeeper process"))?;
                if let Some(status) = exited {
                    self.child = None;
                    return Err(ServerError::Exited {
                        port,
                        status,
                        log: self.layout().log_file(),
                        tail: self.layout().tail(),
                    });
                }
            }
            if mode(port).is_some() {
                // Make sure it is ours: between our port check and the JVM's bind another
                // process may have started a server there (ours then fails to bind and exits).
                let data_dir = format!("dataDir={}/", self.layout().data_dir().display());
                match four_letter(port, "conf", Duration::from_secs(2)) {
                    Ok(conf) if conf.contains(&data_dir) => return Ok(()),
                    Ok(_) => {
                        self.port_taken = true;
                        self.kill()?;
                        return Err(ServerError::PortTaken { port });
                    }
                    Err(_) => {} // not answering yet: poll again
                }
            }
            if Instant::now() >= deadline {
                return Err(ServerError::Timeout {
                    port,
                    timeout: started.elapsed(),
                    log: self.layout().log_file(),
                    tail: self.layout().tail(),
                });
            }
            thread::sleep(POLL);
        }
    }

    /// Whether a failed start was caused by a port that another process had taken.
    pub fn lost_port_race(&self) -> bool {
        self.port_taken || self.layout().logs_mention("Address already in use")
    }
}
