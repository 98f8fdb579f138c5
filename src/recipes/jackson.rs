//! A JSON writer that produces the bytes Jackson's default `ObjectMapper` (as used by Curator's
//! `JsonInstanceSerializer`) writes for the same tree, so that a registration zkstate renders is
//! byte-identical to one Curator would write back.
//!
//! Differences from `serde_json::to_vec` that matter for byte equality:
//! - control characters without a short escape are written `\u00XX` with upper-case hex digits
//!   (Jackson's `CharTypes` table), where serde_json writes lower-case;
//! - floating-point numbers are written with Java's `Double.toString` (`1.0E7`, `1.0E-4`), which
//!   is what Jackson writes for a `Double` it read back from a payload.
//!
//! Object members are written in the map's order (the crate enables serde_json's
//! `preserve_order`), compact, without whitespace; non-ASCII text is written as raw UTF-8.
use serde_json::Value;

/// Renders `value` as Jackson would.
pub(crate) fn to_vec(value: &Value) -> Vec<u8> {
    let mut out = String::new();
    write_value(&mut out, value);
    out.into_bytes()
}

fn write_value(out: &mut String, value: &Value) {
    match value {
        Value::Null => out.push_str("null"),
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Number(n) => {
            if let Some(i) = n.as_i64() {
                out.push_str(&i.to_string());
            } else if let Some(u) = n.as_u64() {
                out.push_str(&u.to_string());
            } else if let Some(f) = n.as_f64() {
                out.push_str(&java_double_to_string(f));
            }
        }
        Value::String(s) => write_string(out, s),
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_value(out, item);
            }
            out.push(']');
        }
        Value::Object(map) => {
            out.push('{');
            for (i, (k, v)) in map.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_string(out, k);
                out.push(':');
                write_value(out, v);
            }
            out.push('}');
        }
    }
}

fn write_string(out: &mut String, s: &str) {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\u{08}' => out.push_str("\\b"),
            '\t' => out.push_str("\\t"),
            '\n' => out.push_str("\\n"),
            '\u{0C}' => out.push_str("\\f"),
            '\r' => out.push_str("\\r"),
            c if (c as u32) < 0x20 => {
                let b = c as u8;
                out.push_str("\\u00");
                out.push(HEX[(b >> 4) as usize] as char);
                out.push(HEX[(b & 0xF) as usize] as char);
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

/// The shortest round-trip decimal digits of a finite, non-zero `f`, and the exponent `e` such
/// that `f = 0.d1d2... × 10^e` (the position of the decimal point).
pub(crate) fn shortest_digits(f: f64) -> (String, i32) {
    // `{:e}` gives the shortest representation that round-trips: `1.2345e-5`.
    let s = format!("{:e}", f.abs());
    let (mantissa, exp) = s.split_once('e').unwrap_or((&s, "0"));
    let digits: String = mantissa.chars().filter(|c| *c != '.').collect();
    let exp: i32 = exp.parse().unwrap_or(0);
    (digits, exp + 1)
}

/// Java's `Double.toString`: plain decimal with at least one fractional digit for
/// `1e-3 <= |f| < 1e7`, otherwise "computerized scientific notation" (`1.0E7`, `-2.5E-4`).
///
/// Digits are the shortest that round-trip (as JDK 19+ prints them). JDK 19+ prints at least two
/// significant digits, which only differs from the shortest form for a few subnormal values
/// (`4.9E-324`); payloads do not carry those.
pub(crate) fn java_double_to_string(f: f64) -> String {
    if f.is_nan() {
        return "NaN".into();
    }
    if f.is_infinite() {
        return if f > 0.0 { "Infinity" } else { "-Infinity" }.into();
    }
    let sign = if f.is_sign_negative() { "-" } else { "" };
    if f == 0.0 {
        return format!("{sign}0.0");
    }
    let (digits, point) = shortest_digits(f);
    let sci_exp = point - 1;
    if (-3..7).contains(&sci_exp) {
        format!("{sign}{}", plain(&digits, point))
    } else {
        let (first, rest) = digits.split_at(1);
        let rest = if rest.is_empty() { "0" } else { rest };
        format!("{sign}{first}.{rest}E{sci_exp}")
    }
}

/// `digits` with the decimal point at `point`, at least one digit on each side.
pub(crate) fn plain(digits: &str, point: i32) -> String {
    let n = digits.len() as i32;
    if point <= 0 {
        format!("0.{}{digits}", "0".repeat((-point) as usize))
    } else if point < n {
        format!(
            "{}.{}",
            &digits[..point as usize],
            &digits[point as usize..]
        )
    } else {
        format!("{digits}{}.0", "0".repeat((point - n) as usize))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn doubles_like_java() {
        for (f, s) in [
            (1.0, "1.0"),
            (0.1, "0.1"),
            (1.5, "1.5"),
            (-2.25, "-2.25"),
            (0.001, "0.001"),
            (0.0001, "1.0E-4"),
            (1234567.0, "1234567.0"),
            (1.0e7, "1.0E7"),
            (1.2345e10, "1.2345E10"),
            (0.0, "0.0"),
            (-0.0, "-0.0"),
            (1.0e-5, "1.0E-5"),
            (123.456, "123.456"),
        ] {
            assert_eq!(java_double_to_string(f), s, "{f}");
        }
    }

    #[test]
    fn writes_like_jackson() {
        let v = json!({"b": "x\u{1}y\n\"é/", "a": [1, -2, 1.0e7, true, null], "n": 18446744073709551615u64});
        assert_eq!(
            String::from_utf8(to_vec(&v)).unwrap(),
            r#"{"b":"x\u0001y\n\"é/","a":[1,-2,1.0E7,true,null],"n":18446744073709551615}"#
        );
        assert_eq!(to_vec(&json!("\u{1f}")), br#""\u001F""#);
    }
}
