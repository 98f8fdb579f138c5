//! `${VAR}` / `${VAR:-default}` expansion in scalar values (docs/contract.md §1).
//!
//! Rules (documented in docs/manifests.md):
//! - `${NAME}` is replaced by the variable's value; an unset variable is an error.
//! - `${NAME:-default}` uses `default` when the variable is unset or empty (as in POSIX sh).
//!   The default runs to the first `}`; it is not expanded again.
//! - `$${` is an escape for a literal `${`; any other `$` is literal (`pa$word`, `$HOME`).
//! - `NAME` is `[A-Za-z_][A-Za-z0-9_]*`.
//!
//! Pure: the environment arrives as a lookup function.
use std::borrow::Cow;

/// A problem in one scalar, at a character offset from the scalar's first character.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum EnvError {
    #[error("environment variable `{name}` is not set")]
    Unset { name: String, offset: usize },
    #[error("unterminated `${{`: missing `}}`")]
    Unclosed { offset: usize },
    #[error("invalid variable name `{name}` in `${{...}}`")]
    BadName { name: String, offset: usize },
}

impl EnvError {
    /// Character offset of the `$` that starts the faulty reference.
    pub fn offset(&self) -> usize {
        match self {
            EnvError::Unset { offset, .. }
            | EnvError::Unclosed { offset }
            | EnvError::BadName { offset, .. } => *offset,
        }
    }

    pub fn hint(&self) -> String {
        match self {
            EnvError::Unset { name, .. } => format!(
                "set `{name}` in the environment, or give a default: `${{{name}:-default}}`"
            ),
            EnvError::Unclosed { .. } => "close it with `}`, or write `$${` for a literal `${`".into(),
            EnvError::BadName { .. } => {
                "names are letters, digits and `_`, not starting with a digit; `$${` is a literal `${`"
                    .into()
            }
        }
    }
}

/// Expands every `${...}` in `text`. Collects every problem of the scalar.
pub fn expand<'a>(
    text: &'a str,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<Cow<'a, str>, Vec<EnvError>> {
    if !text.contains("${") {
        return Ok(Cow::Borrowed(text));
    }
    let mut out = String::with_capacity(text.len());
    let mut errors = Vec::new();
    let mut rest = text;
    // Characters consumed so far, for offsets in columns.
    let mut consumed = 0usize;
    while let Some(i) = rest.find('$') {
        let (before, from_dollar) = rest.split_at(i);
        out.push_str(before);
        consumed += before.chars().count();
        if let Some(after) = from_dollar.strip_prefix("$${") {
            out.push_str("${");
            rest = after;
            consumed += 3;
            continue;
        }
        if !from_dollar.starts_with("${") {
            out.push('$');
            rest = &from_dollar[1..];
            consumed += 1;
            continue;
        }
        let body_and_rest = &from_dollar[2..];
        let Some(close) = body_and_rest.find('}') else {
            errors.push(EnvError::Unclosed { offset: consumed });
            break;
        };
        let body = &body_and_rest[..close];
        let (name, default) = match body.find(":-") {
            Some(j) => (&body[..j], Some(&body[j + 2..])),
            None => (body, None),
        };
        if !valid_name(name) {
            errors.push(EnvError::BadName {
                name: name.to_owned(),
                offset: consumed,
            });
        } else {
            match (env(name), default) {
                (Some(v), Some(d)) if v.is_empty() => out.push_str(d),
                (Some(v), _) => out.push_str(&v),
                (None, Some(d)) => out.push_str(d),
                (None, None) => errors.push(EnvError::Unset {
                    name: name.to_owned(),
                    offset: consumed,
                }),
            }
        }
        let used = 2 + close + 1;
        consumed += from_dollar[..used].chars().count();
        rest = &from_dollar[used..];
    }
    if errors.is_empty() {
        out.push_str(rest);
        Ok(Cow::Owned(out))
    } else {
        Err(errors)
    }
}

fn valid_name(name: &str) -> bool {
    let mut chars = name.chars();
    matches!(chars.next(), Some(c) if c == '_' || c.is_ascii_alphabetic())
        && chars.all(|c| c == '_' || c.is_ascii_alphanumeric())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(k: &str) -> Option<String> {
        match k {
            "HOST" => Some("db1".into()),
            "EMPTY" => Some(String::new()),
            "UNI" => Some("ü".into()),
            _ => None,
        }
    }

    fn ok(s: &str) -> String {
        expand(s, &env).unwrap().into_owned()
    }

    #[test]
    fn expands_vars_and_defaults() {
        assert_eq!(ok("plain"), "plain");
        assert_eq!(ok("${HOST}:5432"), "db1:5432");
        assert_eq!(ok("${NOPE:-x}-${HOST:-y}"), "x-db1");
        assert_eq!(ok("${EMPTY:-fallback}"), "fallback");
        assert_eq!(ok("${EMPTY}"), "");
        assert_eq!(ok("${NOPE:-}"), "");
        assert_eq!(ok("${NOPE:-a:-b}"), "a:-b");
        assert_eq!(ok("${UNI}${UNI}"), "üü");
    }

    #[test]
    fn dollars_and_escapes() {
        assert_eq!(ok("pa$$word $HOME $"), "pa$$word $HOME $");
        assert_eq!(ok("$${HOST}"), "${HOST}");
        assert_eq!(ok("$$${HOST}"), "$${HOST}");
        assert!(matches!(expand("no dollars", &env), Ok(Cow::Borrowed(_))));
    }

    #[test]
    fn reports_every_problem_with_offsets() {
        let errs = expand("ä ${A} ${HOST} ${B:-ok} ${C}", &env).unwrap_err();
        assert_eq!(
            errs,
            vec![
                EnvError::Unset {
                    name: "A".into(),
                    offset: 2
                },
                EnvError::Unset {
                    name: "C".into(),
                    offset: 24
                },
            ]
        );
        assert_eq!(
            expand("x ${1X}", &env).unwrap_err(),
            vec![EnvError::BadName {
                name: "1X".into(),
                offset: 2
            }]
        );
        assert_eq!(
            expand("${HOST", &env).unwrap_err(),
            vec![EnvError::Unclosed { offset: 0 }]
        );
    }
}
