//! Rendering a node's declared data into the exact bytes stored in ZooKeeper.
//!
//! Deterministic by construction: the same manifest always renders to the same bytes, so data
//! comparison with the live tree can be byte-exact (docs/contract.md §1). The rules are documented in
//! docs/manifests.md ("Data rendering"):
//!
//! | source | bytes |
//! | --- | --- |
//! | plain string, `value` | its UTF-8 bytes |
//! | `json` | compact JSON (no whitespace), object keys sorted by code point, recursively |
//! | `yaml` | block-style YAML, mapping keys sorted, no `---`, one trailing newline |
//! | `file` | the file's bytes, unchanged |
//! | `env` | the variable's value as UTF-8 |
//! | `base64` | the decoded bytes (standard alphabet, padding required) |
//! | `int32` / `int64` | 4 / 8 bytes, big-endian two's complement |
//! | `{}` | no bytes |
use base64::Engine;
use saphyr::{Mapping, Scalar, Yaml, YamlEmitter};
use serde_json::Value;

/// Compact JSON with object keys sorted recursively (byte order of their UTF-8, which is code
/// point order). Independent of `serde_json`'s `preserve_order` feature.
pub fn json_sorted(v: &Value) -> String {
    let mut out = String::new();
    write_json(v, &mut out);
    out
}

fn write_json(v: &Value, out: &mut String) {
    match v {
        Value::Object(map) => {
            let mut entries: Vec<(&String, &Value)> = map.iter().collect();
            entries.sort_unstable_by(|a, b| a.0.cmp(b.0));
            out.push('{');
            for (i, (k, v)) in entries.into_iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_json_string(k, out);
                out.push(':');
                write_json(v, out);
            }
            out.push('}');
        }
        Value::Array(items) => {
            out.push('[');
            for (i, v) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_json(v, out);
            }
            out.push(']');
        }
        Value::String(s) => write_json_string(s, out),
        // Scalars: serde_json's own formatting (integers as written, floats shortest round-trip).
        other => out.push_str(&other.to_string()),
    }
}

fn write_json_string(s: &str, out: &mut String) {
    out.push_str(&Value::String(s.to_owned()).to_string());
}

/// Block-style YAML with mapping keys sorted, without a `---` line, ending in exactly one
/// newline. Strings that would read back as another type are double-quoted; multi-line strings
/// are double-quoted with `\n` escapes.
pub fn yaml_sorted(v: &Value) -> String {
    let doc = to_yaml(v);
    let mut out = String::new();
    let mut emitter = YamlEmitter::new(&mut out);
    emitter.multiline(false);
    emitter.compact(true);
    if emitter.dump(&doc).is_err() {
        // The emitter only fails when the `fmt::Write` does, and `String` never does.
        unreachable!("writing YAML to a String cannot fail");
    }
    let mut body = out
        .strip_prefix("---\n")
        .or_else(|| out.strip_prefix("---"))
        .unwrap_or(&out)
        .trim_start_matches(' ')
        .to_owned();
    while body.ends_with('\n') {
        body.pop();
    }
    body.push('\n');
    body
}

fn to_yaml(v: &Value) -> Yaml<'static> {
    match v {
        Value::Null => Yaml::Value(Scalar::Null),
        Value::Bool(b) => Yaml::Value(Scalar::Boolean(*b)),
        Value::Number(n) => match (n.as_i64(), n.as_f64()) {
            (Some(i), _) => Yaml::Value(Scalar::Integer(i)),
            (None, Some(f)) if n.is_f64() => Yaml::Value(Scalar::FloatingPoint(f.into())),
            // u64 above i64::MAX: no YAML integer type in saphyr; write the digits verbatim.
            _ => Yaml::Representation(n.to_string().into(), saphyr::ScalarStyle::Plain, None),
        },
        Value::String(s) => Yaml::Value(Scalar::String(s.clone().into())),
        Value::Array(items) => Yaml::Sequence(items.iter().map(to_yaml).collect()),
        Value::Object(map) => {
            let mut entries: Vec<(&String, &Value)> = map.iter().collect();
            entries.sort_unstable_by(|a, b| a.0.cmp(b.0));
            let mut m = Mapping::new();
            for (k, v) in entries {
                m.insert(Yaml::Value(Scalar::String(k.clone().into())), to_yaml(v));
            }
            Yaml::Mapping(m)
        }
    }
}

/// Decodes standard, padded base64.
pub fn base64_decode(s: &str) -> Result<Vec<u8>, Base64Error> {
    base64::engine::general_purpose::STANDARD
        .decode(s.trim())
        .map_err(|e| match e {
            base64::DecodeError::InvalidByte(at, _)
            | base64::DecodeError::InvalidLastSymbol { offset: at, .. } => Base64Error::Symbol(at),
            base64::DecodeError::InvalidLength(_) | base64::DecodeError::InvalidPadding => {
                Base64Error::Length
            }
        })
}

/// Why a `base64` value does not decode. Never carries the value itself (it may be secret).
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum Base64Error {
    #[error("invalid base64: unexpected character at offset {0}")]
    Symbol(usize),
    #[error("invalid base64: wrong length or padding")]
    Length,
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn json_is_compact_and_sorted_recursively() {
        let v: Value = serde_json::from_str(
            r#"{"b":{"z":1,"a":[{"y":true,"x":null}]},"a":"\u00e9\n\"","é":1.5,"B":-3}"#,
        )
        .unwrap();
        assert_eq!(
            json_sorted(&v),
            "{\"B\":-3,\"a\":\"é\\n\\\"\",\"b\":{\"a\":[{\"x\":null,\"y\":true}],\"z\":1},\"é\":1.5}"
        );
        assert_eq!(json_sorted(&json!(5)), "5");
        assert_eq!(json_sorted(&json!({})), "{}");
        assert_eq!(json_sorted(&json!(1e100)), "1e+100");
    }

    #[test]
    fn yaml_is_block_style_sorted_with_one_newline() {
        let v = json!({"new_checkout": true, "b": {"list": [1, "two", {"k": null}], "empty": {}},
                       "a": "multi\nline", "n": "123", "s": "plain text", "f": 2.0});
        assert_eq!(
            yaml_sorted(&v),
            "a: \"multi\\nline\"\nb:\n  empty: {}\n  list:\n    - 1\n    - two\n    - k: ~\nf: 2.0\nn: \"123\"\nnew_checkout: true\ns: plain text\n"
        );
        assert_eq!(yaml_sorted(&json!("x")), "x\n");
        assert_eq!(yaml_sorted(&json!({})), "{}\n");
        assert_eq!(yaml_sorted(&json!([])), "[]\n");
    }

    #[test]
    fn yaml_round_trips_through_a_parser() {
        let v = json!({"a": ["true", "1.0", "null", "", " x", "#c", "k: v", "- i"], "b": 1});
        let text = yaml_sorted(&v);
        let docs = crate::manifest::yaml::load_json(&text, None).unwrap();
        assert!(docs[0].errors.is_empty());
        assert_eq!(docs[0].value, v);
    }

    #[test]
    fn base64_is_standard_and_padded() {
        assert_eq!(base64_decode("AAEC").unwrap(), vec![0, 1, 2]);
        assert_eq!(base64_decode("AAE=").unwrap(), vec![0, 1]);
        assert_eq!(base64_decode("AAE"), Err(Base64Error::Length));
        assert_eq!(base64_decode("AA-C"), Err(Base64Error::Symbol(2)));
    }
}
