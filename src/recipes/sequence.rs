//! ZooKeeper's sequential-node suffix: what the server appends to a `*_SEQUENTIAL` create.
//!
//! The server formats the parent's child counter (`Stat.cversion`, a signed 32-bit integer) with
//! Java's `String.format("%010d", counter)`: ten zero-padded digits while the counter is
//! non-negative (`0000000042`), and after the counter wraps past `2147483647` a minus sign
//! followed by zero-padded digits of total width ten (`-000000001`), or eleven characters for
//! values below `-999999999` (`-2147483648`). Sequences must be compared as signed integers;
//! comparing the text (as kazoo 2.11 and Curator 5.x do) puts every newer contender first once
//! the counter is negative (kazoo issue 730).

/// Formats a sequence exactly as the ZooKeeper server appends it (`%010d`).
pub fn format_sequence(seq: i32) -> String {
    // Rust's `{:010}` pads with zeros after the sign, like Java's `%010d`.
    format!("{seq:010}")
}

/// Parses a sequence suffix produced by the server: exactly the text [`format_sequence`] gives
/// (`0000000042`, `-000000001`, `-2147483648`); anything else (`42`, `+000000042`) is `None`.
pub fn parse_sequence(s: &str) -> Option<i32> {
    if !(s.len() == 10 || s.len() == 11) {
        return None;
    }
    let v: i32 = s.parse().ok()?;
    (format_sequence(v) == s).then_some(v)
}

/// True when `name` ends with a server-appended sequence suffix, whatever its prefix.
///
/// Splitting such a name into prefix and sequence needs the prefix: `a-1234567890` is either
/// `a-` + `1234567890` or `a` + `-1234567890`; this only answers whether it is sequential.
pub fn has_sequence_suffix(name: &str) -> bool {
    [10, 11].into_iter().any(|w| {
        name.len() >= w
            && name.is_char_boundary(name.len() - w)
            && parse_sequence(&name[name.len() - w..]).is_some()
    })
}

/// The sequence after a known `prefix` (`entry-100-`, `queue-`): `None` when `name` does not
/// start with it or the rest is not a server-appended suffix.
pub fn sequence_after(name: &str, prefix: &str) -> Option<i32> {
    parse_sequence(name.strip_prefix(prefix)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_like_java_percent_010d() {
        assert_eq!(format_sequence(0), "0000000000");
        assert_eq!(format_sequence(42), "0000000042");
        assert_eq!(format_sequence(i32::MAX), "2147483647");
        assert_eq!(format_sequence(-1), "-000000001");
        assert_eq!(format_sequence(-999_999_999), "-999999999");
        assert_eq!(format_sequence(-1_000_000_000), "-1000000000");
        assert_eq!(format_sequence(i32::MIN), "-2147483648");
    }

    #[test]
    fn parses_only_server_text() {
        for v in [
            0,
            1,
            42,
            i32::MAX,
            -1,
            -999_999_999,
            -1_000_000_000,
            i32::MIN,
        ] {
            assert_eq!(parse_sequence(&format_sequence(v)), Some(v));
        }
        assert_eq!(parse_sequence("42"), None);
        assert_eq!(parse_sequence("+000000042"), None);
        assert_eq!(parse_sequence("-0000000001"), None);
        assert_eq!(parse_sequence("00000000042"), None);
        assert_eq!(parse_sequence("2147483648"), None);
        assert_eq!(parse_sequence("abcdefghij"), None);
    }

    #[test]
    fn recognises_sequential_names() {
        assert!(has_sequence_suffix("entry-100-0000000003"));
        assert!(has_sequence_suffix("entry-100--000000003"));
        assert!(has_sequence_suffix("queue--2147483648"));
        assert!(!has_sequence_suffix("config"));
        assert!(!has_sequence_suffix("v1.2.3"));
        assert_eq!(sequence_after("queue--000000007", "queue-"), Some(-7));
        assert_eq!(sequence_after("queue-0000000007", "queue-"), Some(7));
        assert_eq!(sequence_after("entry-0000000007", "queue-"), None);
    }
}
