//! The files of one local server: its directory layout, `zoo.cfg`, `log4j.properties`, `myid`,
//! and the tails of its logs quoted in errors.
use std::fmt::Write as _;
use std::fs;
use std::path::{Path, PathBuf};
use std::time::Duration;

use super::{ServerError, ServerOptions, io_err};

/// Lines of the server's logs quoted in errors.
const TAIL_LINES: usize = 40;

/// One member's ports as every member's `zoo.cfg` lists them.
#[derive(Debug, Clone, Copy)]
pub struct Peer {
    pub myid: usize,
    pub client_port: u16,
    pub quorum_port: u16,
    pub election_port: u16,
}

/// The files of one server under its root directory.
#[derive(Debug)]
pub struct Layout {
    pub root: PathBuf,
    pub client_port: u16,
    pub myid: Option<usize>,
}

impl Layout {
    pub fn new(root: PathBuf, client_port: u16, myid: Option<usize>) -> Layout {
        Layout {
            root,
            client_port,
            myid,
        }
    }

    pub fn conf_dir(&self) -> PathBuf {
        self.root.join("conf")
    }

    pub fn data_dir(&self) -> PathBuf {
        self.root.join("data")
    }

    pub fn log_file(&self) -> PathBuf {
        self.root.join("zookeeper.log")
    }

    pub fn stdout_file(&self) -> PathBuf {
        self.root.join("stdout.log")
    }

    pub fn write(&self, options: &ServerOptions, peers: &[Peer]) -> Result<(), ServerError> {
        let (conf, data) = (self.conf_dir(), self.data_dir());
        for dir in [&conf, &data] {
            fs::create_dir_all(dir).map_err(io_err(format!("create {}", dir.display())))?;
        }
        if let Some(myid) = self.myid {
            write_file(&data.join("myid"), &format!("{myid}\n"))?;
        }
        write_file(
            &conf.join("zoo.cfg"),
            &zoo_cfg(options, &data, self.client_port, peers),
        )?;
        write_file(
            &conf.join("log4j.properties"),
            &log4j_properties(&self.log_file()),
        )
    }

    /// The last lines of the JVM's output and of the log4j log.
    pub fn tail(&self) -> String {
        let mut out = String::new();
        for file in [self.stdout_file(), self.log_file()] {
            let text = fs::read_to_string(&file).unwrap_or_default();
            let lines: Vec<&str> = text.lines().collect();
            let start = lines.len().saturating_sub(TAIL_LINES);
            if !lines.is_empty() {
                let _ = writeln!(out, "--- {}", file.display());
                for line in &lines[start..] {
                    let _ = writeln!(out, "{line}");
                }
            }
        }
        out
    }

    pub fn logs_mention(&self, needle: &str) -> bool {
        [self.stdout_file(), self.log_file()]
            .iter()
            .any(|f| fs::read_to_string(f).is_ok_and(|text| text.contains(needle)))
    }
}

fn zoo_cfg(options: &ServerOptions, data_dir: &Path, client_port: u16, peers: &[Peer]) -> String {
    let ms = |d: Duration| d.as_millis();
    let mut cfg = String::new();
    let mut line = |key: &str, value: &dyn std::fmt::Display| {
        let _ = writeln!(cfg, "{key}={value}");
    };
    line("tickTime", &ms(options.tick_time));
    // In ticks: 50 × 200 ms = 10 s to sync with a leader, 10 × 200 ms = 2 s between pings; a
    // loaded 2-core machine must not make followers drop out.
    line("initLimit", &50);
    line("syncLimit", &10);
    line("dataDir", &data_dir.display());
    line("clientPort", &client_port);
    line("clientPortAddress", &"127.0.0.1");
    line("maxClientCnxns", &0);
    line("minSessionTimeout", &ms(options.min_session_timeout));
    line("maxSessionTimeout", &ms(options.max_session_timeout));
    line("admin.enableServer", &false);
    line("4lw.commands.whitelist", &"*");
    for peer in peers {
        line(
            &format!("server.{}", peer.myid),
            &format!("127.0.0.1:{}:{}", peer.quorum_port, peer.election_port),
        );
    }
    for (key, value) in &options.config {
        line(key, value);
    }
    cfg
}

fn log4j_properties(log_file: &Path) -> String {
    format!(
        "log4j.rootLogger=INFO, FILE\n\
         log4j.appender.FILE=org.apache.log4j.FileAppender\n\
         log4j.appender.FILE.File={}\n\
         log4j.appender.FILE.Append=true\n\
         log4j.appender.FILE.layout=org.apache.log4j.PatternLayout\n\
         log4j.appender.FILE.layout.ConversionPattern=%d{{ISO8601}} [myid:%X{{myid}}] %-5p [%t:%C{{1}}@%L] - %m%n\n",
        log_file.display()
    )
}

fn write_file(path: &Path, text: &str) -> Result<(), ServerError> {
    fs::write(path, text).map_err(io_err(format!("write {}", path.display())))
}

pub fn temp_dir() -> Result<tempfile::TempDir, ServerError> {
    tempfile::Builder::new()
        .prefix("zkstate-zk-")
        .tempdir()
        .map_err(io_err("create a temporary directory for zookeeper"))
}
