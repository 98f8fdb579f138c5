//! kazoo 2.11 node names and encodings (`kazoo/recipe/{lock,election,queue,counter}.py`).
//!
//! - `Lock` / `Election` contender: ephemeral-sequential `<uuid4().hex>__lock__<seq>`, data =
//!   the identifier (UTF-8). `Election` is a `Lock`. `ReadLock` uses `__rlock__`.
//! - `Queue`: persistent-sequential `entry-<priority:03d>-<seq>` directly under the queue node,
//!   raw bytes, priority 0–999 (default 100, lower first).
//! - `LockingQueue`: the same item names under `<path>/entries`, claims as ephemeral
//!   `<path>/taken/<item name>` holding the consumer's id.
//! - `Counter`: ASCII `repr(value)` (see [`crate::recipes::counter`]).
//!
//! Every structure node kazoo creates (`ensure_path`) is persistent with empty data.
use uuid::Uuid;

use super::sequence;

/// `Lock._NODE_NAME`: between the contender's uuid and the sequence.
pub const LOCK_MARKER: &str = "__lock__";
/// `ReadLock._NODE_NAME`.
pub const READ_LOCK_MARKER: &str = "__rlock__";
/// `Queue.prefix`; `LockingQueue` builds the same `entry-` from `entry` + `-`.
pub const QUEUE_ENTRY_PREFIX: &str = "entry-";
/// The priority `Queue.put` and `LockingQueue.put` use by default.
pub const DEFAULT_PRIORITY: u16 = 100;
/// Highest priority `put` accepts (`0 <= priority <= 999`).
pub const MAX_PRIORITY: u16 = 999;
/// `LockingQueue.entries` (without the leading `/`).
pub const LOCKING_QUEUE_ENTRIES: &str = "entries";
/// `LockingQueue.lock` (without the leading `/`).
pub const LOCKING_QUEUE_TAKEN: &str = "taken";

/// The node-name prefix a kazoo `Lock` creates: `<uuid4 hex>__lock__`.
pub fn contender_prefix(uuid: Uuid) -> String {
    format!("{}{LOCK_MARKER}", uuid.simple())
}

/// The node-name prefix of a queue item: `entry-<priority:03d>-` (`entry-100-`). kazoo's `put`
/// refuses priorities above [`MAX_PRIORITY`]; callers validate that.
pub fn queue_entry_prefix(priority: u16) -> String {
    format!("{QUEUE_ENTRY_PREFIX}{priority:03}-")
}

/// A parsed kazoo queue item name.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct QueueEntry {
    pub priority: u16,
    pub sequence: i32,
}

/// Parses `entry-<ddd>-<seq>`.
pub fn parse_queue_entry(name: &str) -> Option<QueueEntry> {
    let rest = name.strip_prefix(QUEUE_ENTRY_PREFIX)?;
    let (prio, rest) = (rest.get(..3)?, rest.get(3..)?);
    if !prio.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let seq = sequence::parse_sequence(rest.strip_prefix('-')?)?;
    Some(QueueEntry {
        priority: prio.parse().ok()?,
        sequence: seq,
    })
}

/// Python's `repr(float)` (CPython's short repr): the shortest round-trip digits, in plain
/// notation when the decimal exponent lies in `-4 < exp <= 16` (always with a fractional part,
/// `1.0`), otherwise scientific with a signed, at least two-digit exponent (`1e+16`, `1.5e-05`);
/// `inf`, `-inf`, `nan`.
pub fn python_float_repr(f: f64) -> String {
    if f.is_nan() {
        return "nan".into();
    }
    if f.is_infinite() {
        return if f > 0.0 { "inf" } else { "-inf" }.into();
    }
    let sign = if f.is_sign_negative() { "-" } else { "" };
    if f == 0.0 {
        return format!("{sign}0.0");
    }
    let (digits, point) = super::jackson::shortest_digits(f);
    if point <= -4 || point > 16 {
        let (first, rest) = digits.split_at(1);
        let exp = point - 1;
        let esign = if exp < 0 { '-' } else { '+' };
        let mantissa = if rest.is_empty() {
            first.to_owned()
        } else {
            format!("{first}.{rest}")
        };
        format!("{sign}{mantissa}e{esign}{:02}", exp.abs())
    } else {
        format!("{sign}{}", super::jackson::plain(&digits, point))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        let u = Uuid::parse_str("0f8e5c7e-1b9a-4c1e-9a57-2d3c4b5a6978").unwrap();
        assert_eq!(
            contender_prefix(u),
            "0f8e5c7e1b9a4c1e9a572d3c4b5a6978__lock__"
        );
        assert_eq!(queue_entry_prefix(DEFAULT_PRIORITY), "entry-100-");
        assert_eq!(queue_entry_prefix(7), "entry-007-");
        assert_eq!(
            parse_queue_entry("entry-100-0000000012"),
            Some(QueueEntry {
                priority: 100,
                sequence: 12
            })
        );
        assert_eq!(
            parse_queue_entry("entry-005--2147483648"),
            Some(QueueEntry {
                priority: 5,
                sequence: i32::MIN
            })
        );
        assert_eq!(parse_queue_entry("entry-10-0000000012"), None);
        assert_eq!(parse_queue_entry("queue-0000000012"), None);
    }

    #[test]
    fn float_repr_like_cpython() {
        for (f, s) in [
            (0.0, "0.0"),
            (-0.0, "-0.0"),
            (1.0, "1.0"),
            (2.5, "2.5"),
            (0.1, "0.1"),
            (0.0001, "0.0001"),
            (0.00001, "1e-05"),
            (1.5e-5, "1.5e-05"),
            (1e15, "1000000000000000.0"),
            (1e16, "1e+16"),
            (1.2345e20, "1.2345e+20"),
            (123.456, "123.456"),
            (-7.0, "-7.0"),
            (1e100, "1e+100"),
            (f64::INFINITY, "inf"),
            (f64::NEG_INFINITY, "-inf"),
            (f64::NAN, "nan"),
        ] {
            assert_eq!(python_float_repr(f), s, "{f:?}");
        }
    }
}
