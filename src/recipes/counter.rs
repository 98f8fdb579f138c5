//! Counter encodings: Curator `SharedCount` (4-byte big-endian `int`), Curator
//! `DistributedAtomicLong` (8-byte big-endian `long`) and kazoo `Counter` (ASCII `repr(value)`,
//! or with `support_curator=True` the `SharedCount` encoding). The manifest loader renders
//! ConfigTree `int32:` / `int64:` values with [`encode_int32`] / [`encode_int64`]; `status`
//! decodes with the `decode_*` functions.
use super::kazoo::python_float_repr;

/// `SharedCount.toBytes` / kazoo `struct.pack(">i", v)`.
pub fn encode_int32(v: i32) -> [u8; 4] {
    v.to_be_bytes()
}

/// Exactly four bytes, big-endian. (`SharedCount` reads the first four bytes of longer data;
/// kazoo's `struct.unpack(">i", ..)` refuses any other length; zkstate refuses too.)
pub fn decode_int32(bytes: &[u8]) -> Option<i32> {
    Some(i32::from_be_bytes(bytes.try_into().ok()?))
}

/// `DistributedAtomicLong.valueToBytes`.
pub fn encode_int64(v: i64) -> [u8; 8] {
    v.to_be_bytes()
}

/// `DistributedAtomicLong.bytesToValue`: empty data is `0`; otherwise exactly eight bytes,
/// big-endian (Curator reports shorter data as corrupt and reads the first eight of longer data;
/// zkstate refuses both).
pub fn decode_int64(bytes: &[u8]) -> Option<i64> {
    if bytes.is_empty() {
        return Some(0);
    }
    Some(i64::from_be_bytes(bytes.try_into().ok()?))
}

/// A kazoo `Counter` value: the type of the counter's `default` decides how data is read.
#[derive(Clone, Copy, PartialEq, Debug)]
pub enum KazooCounterValue {
    Int(i64),
    Float(f64),
}

/// kazoo `Counter` data: `repr(value).encode("ascii")` (`5`, `-3`, `2.5`, `1e+16`).
pub fn encode_kazoo_counter(v: KazooCounterValue) -> Vec<u8> {
    match v {
        KazooCounterValue::Int(i) => i.to_string().into_bytes(),
        KazooCounterValue::Float(f) => python_float_repr(f).into_bytes(),
    }
}

/// Reads kazoo `Counter` data as `Counter._value` does: empty data is the default; otherwise
/// ASCII text converted with the default's type (`int(text)` / `float(text)`, which ignore
/// surrounding whitespace). Python ints are unbounded; values outside `i64` are `None`.
pub fn decode_kazoo_counter(bytes: &[u8], default: KazooCounterValue) -> Option<KazooCounterValue> {
    if bytes.is_empty() {
        return Some(default);
    }
    let text = std::str::from_utf8(bytes)
        .ok()
        .filter(|t| t.is_ascii())?
        .trim();
    match default {
        KazooCounterValue::Int(_) => text.parse().ok().map(KazooCounterValue::Int),
        KazooCounterValue::Float(_) => text.parse().ok().map(KazooCounterValue::Float),
    }
}

/// Reads a kazoo `Counter(..., support_curator=True)`: empty data is the default, otherwise a
/// `SharedCount` int.
pub fn decode_kazoo_curator_counter(bytes: &[u8], default: i32) -> Option<i32> {
    if bytes.is_empty() {
        return Some(default);
    }
    decode_int32(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;
    use KazooCounterValue::{Float, Int};

    #[test]
    fn big_endian_golden_bytes() {
        assert_eq!(encode_int32(5), [0, 0, 0, 5]);
        assert_eq!(encode_int32(-2), [0xff, 0xff, 0xff, 0xfe]);
        assert_eq!(encode_int64(5), [0, 0, 0, 0, 0, 0, 0, 5]);
        assert_eq!(encode_int64(i64::MIN), [0x80, 0, 0, 0, 0, 0, 0, 0]);
        assert_eq!(decode_int32(&[0, 0, 1, 0]), Some(256));
        assert_eq!(decode_int32(&[0, 0, 1]), None);
        assert_eq!(decode_int32(&[0, 0, 0, 1, 0]), None);
        assert_eq!(decode_int64(&[]), Some(0));
        assert_eq!(decode_int64(&encode_int64(-42)), Some(-42));
        assert_eq!(decode_int64(&[0, 0, 0, 5]), None);
        assert_eq!(decode_kazoo_curator_counter(&[], 3), Some(3));
        assert_eq!(decode_kazoo_curator_counter(&encode_int32(9), 0), Some(9));
    }

    #[test]
    fn kazoo_repr_round_trip() {
        assert_eq!(encode_kazoo_counter(Int(5)), b"5");
        assert_eq!(encode_kazoo_counter(Int(-3)), b"-3");
        assert_eq!(encode_kazoo_counter(Float(3.0)), b"3.0");
        assert_eq!(encode_kazoo_counter(Float(0.1)), b"0.1");
        assert_eq!(encode_kazoo_counter(Float(1e16)), b"1e+16");
        assert_eq!(decode_kazoo_counter(b"", Int(7)), Some(Int(7)));
        assert_eq!(decode_kazoo_counter(b"12", Int(0)), Some(Int(12)));
        assert_eq!(decode_kazoo_counter(b" 12\n", Int(0)), Some(Int(12)));
        assert_eq!(decode_kazoo_counter(b"1.5", Int(0)), None);
        assert_eq!(
            decode_kazoo_counter(b"1e+16", Float(0.0)),
            Some(Float(1e16))
        );
        assert_eq!(decode_kazoo_counter(&[0, 0, 0, 5], Int(0)), None);
        for f in [0.1, 2.5, 1e-7, 123456789.125, -0.5] {
            assert_eq!(
                decode_kazoo_counter(&encode_kazoo_counter(Float(f)), Float(0.0)),
                Some(Float(f))
            );
        }
    }
}
