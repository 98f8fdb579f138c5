//! A service instance's TCP health check, parsed once from the manifest's strings: the
//! `host:port` to connect to and how often.
use std::fmt;
use std::time::Duration;

/// How often a check runs when the manifest gives no `interval`.
pub const DEFAULT_CHECK_INTERVAL: Duration = Duration::from_secs(10);

/// A `host:port` (`[v6]:port` for IPv6 literals), port 1-65535.
#[derive(Clone, PartialEq, Eq, Debug, PartialOrd, Ord, Hash)]
pub struct HostPort {
    /// Host name or address, without IPv6 brackets.
    pub host: String,
    pub port: u16,
}

impl HostPort {
    /// Parses `host:port`, `[v6]:port`; `None` for anything else (port 0, empty or spaced host,
    /// an unbracketed IPv6 address).
    pub fn parse(s: &str) -> Option<Self> {
        let (host, port) = s.rsplit_once(':')?;
        let host = if let Some(inner) = host.strip_prefix('[').and_then(|h| h.strip_suffix(']')) {
            inner.parse::<std::net::Ipv6Addr>().ok()?;
            inner
        } else if !host.is_empty() && !host.contains(':') && !host.contains(char::is_whitespace) {
            host
        } else {
            return None;
        };
        let port = port.parse::<u16>().ok().filter(|p| *p > 0)?;
        Some(HostPort {
            host: host.to_owned(),
            port,
        })
    }
}

impl fmt::Display for HostPort {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.host.contains(':') {
            write!(f, "[{}]:{}", self.host, self.port)
        } else {
            write!(f, "{}:{}", self.host, self.port)
        }
    }
}

/// Parses a positive duration such as `5s` or `1m 30s`; `None` for zero or garbage.
pub fn parse_positive_duration(s: &str) -> Option<Duration> {
    humantime::parse_duration(s).ok().filter(|d| !d.is_zero())
}

/// A TCP health check: the instance is registered only while `tcp` accepts connections.
#[derive(Clone, PartialEq, Eq, Debug, Hash, PartialOrd, Ord)]
pub struct HealthCheck {
    pub tcp: HostPort,
    pub interval: Duration,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_port_forms() {
        let hp = HostPort::parse("[::1]:8080").unwrap();
        assert_eq!((hp.host.as_str(), hp.port), ("::1", 8080));
        assert_eq!(hp.to_string(), "[::1]:8080");
        assert_eq!(
            HostPort::parse("db.local:5432").unwrap().to_string(),
            "db.local:5432"
        );
        for bad in [
            "nohost", ":80", "h:0", "h:65536", "::1:80", "[zz]:1", "a b:1", "h:x",
        ] {
            assert_eq!(HostPort::parse(bad), None, "{bad}");
        }
    }

    #[test]
    fn durations() {
        assert_eq!(parse_positive_duration("5s"), Some(Duration::from_secs(5)));
        assert_eq!(parse_positive_duration("0s"), None);
        assert_eq!(parse_positive_duration("soon"), None);
    }
}
