//! Apache Curator 5.x node names and encodings (`curator-framework`, `curator-recipes`,
//! `curator-x-discovery`).
//!
//! - Protected names (`CreateBuilder.withProtection()`, `ProtectedUtils`): `_c_<UUID with
//!   dashes>-<name>`, used by every lock and latch contender.
//! - `InterProcessMutex` / `LeaderSelector` contender: ephemeral-sequential
//!   `_c_<uuid>-lock-<seq>`; `LeaderLatch`: `_c_<uuid>-latch-<seq>`; data = the participant id
//!   (UTF-8).
//! - `DistributedQueue` item: persistent-sequential `queue-<seq>`, data framed by
//!   `ItemSerializer` (see [`encode_items`]).
//! - Parents of recipe nodes are created by `creatingParentContainersIfNeeded()` →
//!   `ZKPaths.mkdirs(.., asContainers = true)`: every missing ancestor as a container node with
//!   empty data.
//! - `UriSpec` of a service instance (see [`UriSpec`]).
use uuid::Uuid;

use super::sequence;

/// `ProtectedUtils.PROTECTED_PREFIX`.
pub const PROTECTED_PREFIX: &str = "_c_";
/// `InterProcessMutex.LOCK_NAME` (also `LeaderSelector`, which wraps a mutex).
pub const LOCK_NAME: &str = "lock-";
/// `LeaderLatch.LOCK_NAME`.
pub const LATCH_NAME: &str = "latch-";
/// `DistributedQueue.QUEUE_ITEM_NAME`.
pub const QUEUE_ITEM_PREFIX: &str = "queue-";
/// Jackson's type id of the payload Curator writes for a `Map` payload.
pub const DEFAULT_PAYLOAD_CLASS: &str = "java.util.LinkedHashMap";

/// `_c_<uuid>-`: `ProtectedUtils.getProtectedPrefix(UUID.toString())`.
pub fn protected_prefix(uuid: Uuid) -> String {
    format!("{PROTECTED_PREFIX}{}-", uuid.hyphenated())
}

/// Splits a protected name into its UUID and the rest (`ProtectedUtils.isProtectedZNode`: `_c_`,
/// a canonical 36-character UUID, `-`, then at least one character).
pub fn split_protected(name: &str) -> Option<(Uuid, &str)> {
    let rest = name.strip_prefix(PROTECTED_PREFIX)?;
    let (id, rest) = (rest.get(..36)?, rest.get(36..)?);
    let rest = rest.strip_prefix('-')?;
    if rest.is_empty() {
        return None;
    }
    Some((Uuid::parse_str(id).ok()?, rest))
}

/// `queue-<seq>` → the sequence.
pub fn parse_queue_item(name: &str) -> Option<i32> {
    sequence::sequence_after(name, QUEUE_ITEM_PREFIX)
}

/// `ItemSerializer.VERSION`.
const ITEM_VERSION: u32 = 0x0001_0001;
/// `ItemSerializer.ITEM_OPCODE`.
const ITEM_OPCODE: u8 = 0x01;
/// `ItemSerializer.EOF_OPCODE`.
const EOF_OPCODE: u8 = 0x02;

/// Frames queue items like Curator's `ItemSerializer.serialize`: the int32 `0x00010001`
/// (big-endian, `DataOutputStream`), then per item `0x01` + int32 length + bytes, then `0x02`.
///
/// `DistributedQueue.put` writes one item per node; `putMulti` several.
pub fn encode_items<T: AsRef<[u8]>>(items: &[T]) -> Vec<u8> {
    let len = items.iter().map(|i| 5 + i.as_ref().len()).sum::<usize>() + 5;
    let mut out = Vec::with_capacity(len);
    out.extend_from_slice(&ITEM_VERSION.to_be_bytes());
    for item in items {
        let item = item.as_ref();
        out.push(ITEM_OPCODE);
        out.extend_from_slice(&(item.len() as u32).to_be_bytes());
        out.extend_from_slice(item);
    }
    out.push(EOF_OPCODE);
    out
}

/// Why queue-item bytes are not a Curator frame (the `IOException`s of
/// `ItemSerializer.deserialize`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FrameError {
    #[error("incorrect version: expected 0x00010001, found {0:#010x}")]
    Version(u32),
    #[error("incorrect opcode {0:#04x} at byte {1}")]
    Opcode(u8, usize),
    #[error("bad item size {0}")]
    Size(i32),
    #[error("truncated frame")]
    Truncated,
}

/// Unframes queue items like `ItemSerializer.deserialize`. As there, bytes after the `0x02`
/// terminator are ignored.
pub fn decode_items(bytes: &[u8]) -> Result<Vec<Vec<u8>>, FrameError> {
    let take = |pos: usize, n: usize| bytes.get(pos..pos + n).ok_or(FrameError::Truncated);
    let version = u32::from_be_bytes(take(0, 4)?.try_into().expect("4 bytes"));
    if version != ITEM_VERSION {
        return Err(FrameError::Version(version));
    }
    let mut pos = 4;
    let mut items = Vec::new();
    loop {
        let op = take(pos, 1)?[0];
        pos += 1;
        match op {
            EOF_OPCODE => return Ok(items),
            ITEM_OPCODE => {
                let size = i32::from_be_bytes(take(pos, 4)?.try_into().expect("4 bytes"));
                pos += 4;
                if size < 0 {
                    return Err(FrameError::Size(size));
                }
                items.push(take(pos, size as usize)?.to_vec());
                pos += size as usize;
            }
            other => return Err(FrameError::Opcode(other, pos - 1)),
        }
    }
}

/// One token of a [`UriSpec`]: a literal, or a `{variable}`.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct UriPart {
    pub value: String,
    pub variable: bool,
}

/// Curator's `UriSpec` (e.g. `{scheme}://{address}:{port}`), parsed as its constructor does.
///
/// Jackson serializes it as a bean, not as the template string:
/// `{"parts":[{"value":"scheme","variable":true},{"value":"://","variable":false},...]}`
/// (fields `value`, `variable` in declaration order).
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct UriSpec {
    pub parts: Vec<UriPart>,
}

/// Why a `uriSpec` template is rejected (the `Preconditions` of `new UriSpec(String)`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UriSpecError {
    #[error("'{{' is not allowed inside of a variable specification")]
    NestedOpen,
    #[error("'}}' must be preceded by '{{'")]
    UnmatchedClose,
    #[error("final variable not closed: expected '}}'")]
    Unclosed,
}

impl UriSpec {
    /// Parses a template like `new UriSpec(rawSpec)`: a `StringTokenizer` over `{` and `}` that
    /// returns the delimiters (so empty tokens never occur), variable names trimmed, literals
    /// kept as they are.
    pub fn parse(raw: &str) -> Result<UriSpec, UriSpecError> {
        let mut parts = Vec::new();
        let mut inside = false;
        let mut token = String::new();
        let flush = |token: &mut String, inside: bool, parts: &mut Vec<UriPart>| {
            if !token.is_empty() {
                let value = if inside {
                    token.trim_matches(|c: char| c <= ' ').to_owned()
                } else {
                    token.clone()
                };
                parts.push(UriPart {
                    value,
                    variable: inside,
                });
                token.clear();
            }
        };
        for c in raw.chars() {
            match c {
                '{' => {
                    flush(&mut token, inside, &mut parts);
                    if inside {
                        return Err(UriSpecError::NestedOpen);
                    }
                    inside = true;
                }
                '}' => {
                    flush(&mut token, inside, &mut parts);
                    if !inside {
                        return Err(UriSpecError::UnmatchedClose);
                    }
                    inside = false;
                }
                c => token.push(c),
            }
        }
        flush(&mut token, inside, &mut parts);
        if inside {
            return Err(UriSpecError::Unclosed);
        }
        Ok(UriSpec { parts })
    }

    /// The template text again: variables in braces, literals as they are.
    pub fn template(&self) -> String {
        self.parts
            .iter()
            .map(|p| {
                if p.variable {
                    format!("{{{}}}", p.value)
                } else {
                    p.value.clone()
                }
            })
            .collect()
    }

    /// The JSON tree Jackson writes for it.
    pub fn to_json(&self) -> serde_json::Value {
        let parts = self
            .parts
            .iter()
            .map(|p| {
                let mut m = serde_json::Map::new();
                m.insert("value".into(), p.value.clone().into());
                m.insert("variable".into(), p.variable.into());
                serde_json::Value::Object(m)
            })
            .collect();
        let mut m = serde_json::Map::new();
        m.insert("parts".into(), serde_json::Value::Array(parts));
        serde_json::Value::Object(m)
    }

    /// Reads the JSON tree back (lenient: a part without `variable` is a literal).
    pub fn from_json(v: &serde_json::Value) -> Option<UriSpec> {
        let parts = v.get("parts")?.as_array()?;
        let parts = parts
            .iter()
            .map(|p| {
                Some(UriPart {
                    value: p.get("value")?.as_str()?.to_owned(),
                    variable: p.get("variable").and_then(|v| v.as_bool()).unwrap_or(false),
                })
            })
            .collect::<Option<Vec<_>>>()?;
        Some(UriSpec { parts })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn protected_names() {
        let u = Uuid::parse_str("53345f98-9423-4e0c-a7b5-9f819e3ec2e1").unwrap();
        assert_eq!(
            protected_prefix(u),
            "_c_53345f98-9423-4e0c-a7b5-9f819e3ec2e1-"
        );
        assert_eq!(
            split_protected("_c_53345f98-9423-4e0c-a7b5-9f819e3ec2e1-latch-0000000001"),
            Some((u, "latch-0000000001"))
        );
        assert_eq!(
            split_protected("_c_53345f98-9423-4e0c-a7b5-9f819e3ec2e1-"),
            None
        );
        assert_eq!(split_protected("_c_not-a-uuid-lock-0000000001"), None);
        assert_eq!(parse_queue_item("queue-0000000003"), Some(3));
        assert_eq!(parse_queue_item("queue--2147483648"), Some(i32::MIN));
        assert_eq!(parse_queue_item("qn-0000000003"), None);
    }

    #[test]
    fn item_frame_golden_bytes() {
        assert_eq!(
            encode_items(&[b"job-a"]),
            [0, 1, 0, 1, 1, 0, 0, 0, 5, b'j', b'o', b'b', b'-', b'a', 2]
        );
        assert_eq!(encode_items::<&[u8]>(&[]), [0, 1, 0, 1, 2]);
        assert_eq!(encode_items(&[b""]), [0, 1, 0, 1, 1, 0, 0, 0, 0, 2]);
    }

    #[test]
    fn item_frame_round_trip() {
        let items: Vec<Vec<u8>> = vec![
            b"a".to_vec(),
            vec![],
            vec![0xff; 300],
            "é".as_bytes().to_vec(),
        ];
        assert_eq!(decode_items(&encode_items(&items)).unwrap(), items);
        let mut trailing = encode_items(&[b"x"]);
        trailing.extend_from_slice(b"junk");
        assert_eq!(decode_items(&trailing).unwrap(), vec![b"x".to_vec()]);
    }

    #[test]
    fn item_frame_errors() {
        assert_eq!(decode_items(b""), Err(FrameError::Truncated));
        assert_eq!(
            decode_items(&[0, 1, 0, 2, 2]),
            Err(FrameError::Version(0x0001_0002))
        );
        assert_eq!(decode_items(&[0, 1, 0, 1]), Err(FrameError::Truncated));
        assert_eq!(
            decode_items(&[0, 1, 0, 1, 7]),
            Err(FrameError::Opcode(7, 4))
        );
        assert_eq!(
            decode_items(&[0, 1, 0, 1, 1, 0xff, 0xff, 0xff, 0xff, 2]),
            Err(FrameError::Size(-1))
        );
        assert_eq!(
            decode_items(&[0, 1, 0, 1, 1, 0, 0, 0, 3, b'a', 2]),
            Err(FrameError::Truncated)
        );
    }

    #[test]
    fn uri_spec_like_curator() {
        let s = UriSpec::parse("{scheme}://{address}:{port}").unwrap();
        assert_eq!(
            String::from_utf8(super::super::jackson::to_vec(&s.to_json())).unwrap(),
            r#"{"parts":[{"value":"scheme","variable":true},{"value":"://","variable":false},{"value":"address","variable":true},{"value":":","variable":false},{"value":"port","variable":true}]}"#
        );
        assert_eq!(s.template(), "{scheme}://{address}:{port}");
        assert_eq!(UriSpec::from_json(&s.to_json()), Some(s));
        let t = UriSpec::parse("{ a }/b/{c}{}").unwrap();
        assert_eq!(
            t.parts,
            vec![
                UriPart {
                    value: "a".into(),
                    variable: true
                },
                UriPart {
                    value: "/b/".into(),
                    variable: false
                },
                UriPart {
                    value: "c".into(),
                    variable: true
                },
            ]
        );
        assert_eq!(UriSpec::parse("{a{b}}"), Err(UriSpecError::NestedOpen));
        assert_eq!(UriSpec::parse("a}"), Err(UriSpecError::UnmatchedClose));
        assert_eq!(UriSpec::parse("{a"), Err(UriSpecError::Unclosed));
        assert_eq!(UriSpec::parse("").unwrap().parts, vec![]);
    }
}
