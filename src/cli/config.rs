//! `--config FILE`: a YAML file whose keys are the long flag names (`zk`, `auth`,
//! `session-timeout`, `state-path`, `log-format`, the secured-ensemble keys `tls`, `tls-ca`,
//! `tls-cert`, `tls-key`, `sasl`, `sasl-principal`, `keytab`, `sasl-service` (files relative
//! to the config file), and the agent's own keys: `files`, `listen`,
//! `observe`, `resync-interval`, `host-id`, `lock-format`, `prune-removed`, `max-deletes`,
//! `debounce`, `allow-split`, `max-request-bytes`, and the Git source's `git`, `git-ref`,
//! `git-path`, `git-interval`, `git-verify`, `git-allow-rewrite`, `git-dir`,
//! `git-token-file`, `git-ssh-key`, `git-known-hosts`, `webhook-secret-file`). Flags and their environment variables win
//! over it. A key that is none of these is an error naming the file and line (a typo must never
//! be silently ignored); keys another command uses are accepted and ignored.
use std::path::Path;

use saphyr::{LoadableYamlNode, Yaml};

use super::common::fail;
use super::{Exit, GlobalArgs, LogFormat};

/// Keys every command reads.
const GLOBAL_KEYS: [&str; 13] = [
    "zk",
    "auth",
    "session-timeout",
    "state-path",
    "log-format",
    "tls",
    "tls-ca",
    "tls-cert",
    "tls-key",
    "sasl",
    "sasl-principal",
    "keytab",
    "sasl-service",
];
/// Keys only the agent reads.
pub const AGENT_KEYS: [&str; 22] = [
    "files",
    "listen",
    "observe",
    "resync-interval",
    "host-id",
    "lock-format",
    "prune-removed",
    "max-deletes",
    "debounce",
    "allow-split",
    "max-request-bytes",
    "git",
    "git-ref",
    "git-path",
    "git-interval",
    "git-verify",
    "git-allow-rewrite",
    "git-dir",
    "webhook-secret-file",
    "git-ssh-key",
    "git-known-hosts",
    "git-token-file",
];

/// One `key: value` of the config file, with its line (1-based).
pub struct Entry {
    pub key: String,
    pub value: Value,
    pub line: usize,
}

/// A config value: a scalar, a list of scalars, or something else (always a type error).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Value {
    Str(String),
    Bool(bool),
    List(Vec<String>),
    Other,
}

impl Value {
    fn from_yaml(v: &Yaml<'_>) -> Value {
        if let Some(seq) = v.as_sequence() {
            return match seq.iter().map(scalar).collect::<Option<Vec<_>>>() {
                Some(l) => Value::List(l),
                None => Value::Other,
            };
        }
        if let Some(b) = v.as_bool() {
            return Value::Bool(b);
        }
        scalar(v).map(Value::Str).unwrap_or(Value::Other)
    }
}

fn scalar(v: &Yaml<'_>) -> Option<String> {
    if let Some(s) = v.as_str() {
        return Some(s.to_owned());
    }
    if let Some(i) = v.as_integer() {
        return Some(i.to_string());
    }
    v.as_bool().map(|b| b.to_string())
}

/// The parsed config file.
pub struct ConfigFile {
    pub path: std::path::PathBuf,
    pub entries: Vec<Entry>,
}

impl ConfigFile {
    /// The error for a value of the wrong type or form.
    pub fn bad(&self, e: &Entry, expected: &str) -> Exit {
        fail(
            Exit::Trouble,
            format!(
                "{}:{}:1: `{}` must be {expected}",
                self.path.display(),
                e.line,
                e.key
            ),
        )
    }

    /// A file path value, relative to the config file's directory (docs/contract.md §4).
    pub fn path_value(&self, e: &Entry) -> Result<std::path::PathBuf, Exit> {
        let p = std::path::PathBuf::from(
            as_string(&e.value).ok_or_else(|| self.bad(e, "a file path"))?,
        );
        if p.is_absolute() {
            return Ok(p);
        }
        Ok(self.path.parent().map(|d| d.join(&p)).unwrap_or(p))
    }

    pub fn get(&self, key: &str) -> Option<&Entry> {
        self.entries.iter().find(|e| e.key == key)
    }
}

/// Reads and checks a config file: a mapping whose keys are all known.
pub fn read(path: &Path) -> Result<ConfigFile, Exit> {
    let text = std::fs::read_to_string(path).map_err(|e| {
        fail(
            Exit::Trouble,
            format!("failed to read --config {}: {e}", path.display()),
        )
    })?;
    let docs = Yaml::load_from_str(&text).map_err(|e| {
        fail(
            Exit::Trouble,
            format!(
                "{}:{}:{}: {}",
                path.display(),
                e.marker().line(),
                e.marker().col() + 1,
                e.info()
            ),
        )
    })?;
    let mut file = ConfigFile {
        path: path.to_path_buf(),
        entries: Vec::new(),
    };
    let Some(doc) = docs.first() else {
        return Ok(file);
    };
    if doc.is_null() {
        return Ok(file);
    }
    let Some(map) = doc.as_mapping() else {
        return Err(fail(
            Exit::Trouble,
            format!(
                "{}: expected a mapping of flag names to values",
                path.display()
            ),
        ));
    };
    let line_of = |key: &str| {
        text.lines()
            .position(|l| {
                l.strip_prefix(key)
                    .is_some_and(|rest| rest.trim_start().starts_with(':'))
            })
            .map(|i| i + 1)
            .unwrap_or(1)
    };
    let mut unknown = Vec::new();
    for (k, v) in map {
        let Some(key) = k.as_str() else {
            unknown.push(format!(
                "{}: keys must be flag names (strings)",
                path.display()
            ));
            continue;
        };
        let line = line_of(key);
        if !GLOBAL_KEYS.contains(&key) && !AGENT_KEYS.contains(&key) {
            let mut known: Vec<&str> = GLOBAL_KEYS.iter().chain(&AGENT_KEYS).copied().collect();
            known.sort_unstable();
            unknown.push(format!(
                "{}:{line}:1: unknown key `{key}`; known keys: {}",
                path.display(),
                known.join(", ")
            ));
            continue;
        }
        file.entries.push(Entry {
            key: key.to_owned(),
            value: Value::from_yaml(v),
            line,
        });
    }
    if !unknown.is_empty() {
        for u in &unknown {
            eprintln!("error: {u}");
        }
        return Err(Exit::Trouble);
    }
    Ok(file)
}

/// A string value (numbers as written).
pub fn as_string(v: &Value) -> Option<String> {
    match v {
        Value::Str(s) => Some(s.clone()),
        _ => None,
    }
}

/// A string or a list of strings.
pub fn as_strings(v: &Value) -> Option<Vec<String>> {
    match v {
        Value::Str(s) => Some(vec![s.clone()]),
        Value::List(l) => Some(l.clone()),
        _ => None,
    }
}

/// A boolean.
pub fn as_bool(v: &Value) -> Option<bool> {
    match v {
        Value::Bool(b) => Some(*b),
        _ => None,
    }
}

/// Fills the global flags the user did not give from the config file.
pub fn apply(global: &mut GlobalArgs) -> Result<(), Exit> {
    let Some(path) = global.config.clone() else {
        return Ok(());
    };
    let file = read(&path)?;
    for e in &file.entries {
        let v = &e.value;
        match e.key.as_str() {
            "zk" if global.zk.is_none() => {
                global.zk = Some(as_string(v).ok_or_else(|| file.bad(e, "a string"))?)
            }
            "auth" if global.auth.is_empty() => {
                global.auth = as_strings(v).ok_or_else(|| file.bad(e, "a string or a list"))?;
            }
            "session-timeout" if global.session_timeout.is_none() => {
                let s = as_string(v).ok_or_else(|| file.bad(e, "a duration like 10s"))?;
                global.session_timeout =
                    Some(s.parse().map_err(|_| file.bad(e, "a duration like 10s"))?);
            }
            "state-path" if global.state_path.is_none() => {
                global.state_path = Some(as_string(v).ok_or_else(|| file.bad(e, "a path"))?);
            }
            "tls" if !global.tls => {
                global.tls = as_bool(v).ok_or_else(|| file.bad(e, "true or false"))?;
            }
            "tls-ca" if global.tls_ca.is_none() => global.tls_ca = Some(file.path_value(e)?),
            "tls-cert" if global.tls_cert.is_none() => global.tls_cert = Some(file.path_value(e)?),
            "tls-key" if global.tls_key.is_none() => global.tls_key = Some(file.path_value(e)?),
            "keytab" if global.keytab.is_none() => global.keytab = Some(file.path_value(e)?),
            "sasl" if global.sasl.is_none() => {
                global.sasl = Some(as_string(v).ok_or_else(|| file.bad(e, "a string"))?);
            }
            "sasl-principal" if global.sasl_principal.is_none() => {
                global.sasl_principal = Some(as_string(v).ok_or_else(|| file.bad(e, "a string"))?);
            }
            "sasl-service" if global.sasl_service.is_none() => {
                global.sasl_service = Some(as_string(v).ok_or_else(|| file.bad(e, "a string"))?);
            }
            "log-format" => match as_string(v).as_deref() {
                Some("json") => global.log_format = LogFormat::Json,
                Some("text") => {}
                _ => return Err(file.bad(e, "text or json")),
            },
            _ => {}
        }
    }
    Ok(())
}
