//! `--config FILE`: a YAML file whose keys are the long flag names (`zk`, `auth`,
//! `session-timeout`, `state-path`, `log-format`, and the agent's own keys). Flags and their
//! environment variables win over it; keys this command does not use are ignored.
use saphyr::{LoadableYamlNode, Yaml};

use super::common::fail;
use super::{Exit, GlobalArgs, LogFormat};

/// Fills the global flags the user did not give from the config file.
pub fn apply(global: &mut GlobalArgs) -> Result<(), Exit> {
    let Some(path) = global.config.clone() else {
        return Ok(());
    };
    let text = std::fs::read_to_string(&path).map_err(|e| {
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
    let Some(doc) = docs.first() else {
        return Ok(());
    };
    let Some(map) = doc.as_mapping() else {
        return Err(fail(
            Exit::Trouble,
            format!(
                "{}: expected a mapping of flag names to values",
                path.display()
            ),
        ));
    };
    let bad = |key: &str| {
        fail(
            Exit::Trouble,
            format!("{}: `{key}` has the wrong type", path.display()),
        )
    };
    for (k, v) in map {
        let Some(key) = k.as_str() else { continue };
        match key {
            "zk" if global.zk.is_none() => {
                global.zk = Some(v.as_str().ok_or_else(|| bad(key))?.to_owned())
            }
            "auth" if global.auth.is_empty() => {
                if let Some(s) = v.as_str() {
                    global.auth = vec![s.to_owned()];
                } else if let Some(seq) = v.as_sequence() {
                    global.auth = seq
                        .iter()
                        .filter_map(|x| x.as_str().map(str::to_owned))
                        .collect();
                } else {
                    return Err(bad(key));
                }
            }
            "session-timeout" if global.session_timeout.is_none() => {
                let s = v.as_str().ok_or_else(|| bad(key))?;
                global.session_timeout = Some(s.parse().map_err(|_| bad(key))?);
            }
            "state-path" if global.state_path.is_none() => {
                global.state_path = Some(v.as_str().ok_or_else(|| bad(key))?.to_owned());
            }
            "log-format" if v.as_str() == Some("json") => global.log_format = LogFormat::Json,
            _ => {}
        }
    }
    Ok(())
}
