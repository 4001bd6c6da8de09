//! Python's `json.dumps` with its default settings, byte for byte, as a serde_json
//! [`Formatter`]: what MeshAgent's sender writes. `", "` between members and items, `": "`
//! after keys, everything outside printable ASCII as lowercase `\uXXXX` (surrogate pairs above
//! U+FFFF), and floats in Python's `repr` form. serde_json's own escapes (`\"`, `\\`, `\n`,
//! `\r`, `\t`, `\b`, `\f`, lowercase `\u00XX`; `/` left alone) are Python's already.

use std::io::{self, Write};

use serde::Serialize;
use serde_json::ser::Formatter;

/// Serializes `value` as Python's `json.dumps(value)` does.
pub(crate) fn dumps(value: &impl Serialize) -> String {
    let mut out = Vec::new();
    let mut serializer = serde_json::Serializer::with_formatter(&mut out, PythonFormatter);
    // Writing JSON values to memory cannot fail.
    let _ = value.serialize(&mut serializer);
    String::from_utf8(out).unwrap_or_else(|_| unreachable!("the output is ASCII"))
}

struct PythonFormatter;

impl Formatter for PythonFormatter {
    fn begin_array_value<W: ?Sized + Write>(&mut self, out: &mut W, first: bool) -> io::Result<()> {
        if first { Ok(()) } else { out.write_all(b", ") }
    }

    fn begin_object_key<W: ?Sized + Write>(&mut self, out: &mut W, first: bool) -> io::Result<()> {
        if first { Ok(()) } else { out.write_all(b", ") }
    }

    fn begin_object_value<W: ?Sized + Write>(&mut self, out: &mut W) -> io::Result<()> {
        out.write_all(b": ")
    }

    fn write_string_fragment<W: ?Sized + Write>(
        &mut self,
        out: &mut W,
        text: &str,
    ) -> io::Result<()> {
        for ch in text.chars() {
            if matches!(ch, ' '..='~') {
                out.write_all(&[ch as u8])?;
            } else {
                for unit in ch.encode_utf16(&mut [0; 2]) {
                    write!(out, "\\u{unit:04x}")?;
                }
            }
        }
        Ok(())
    }

    fn write_f64<W: ?Sized + Write>(&mut self, out: &mut W, value: f64) -> io::Result<()> {
        out.write_all(float_repr(value).as_bytes())
    }
}

/// Python's `float.__repr__`: the shortest digits that round-trip (as Rust's own formatting),
/// positional with at least one decimal from 1e-4 up to 1e16, otherwise `d.ddde±XX`.
fn float_repr(value: f64) -> String {
    if !value.is_finite() {
        let name = if value.is_nan() { "NaN" } else { "Infinity" };
        return format!("{}{name}", if value < 0.0 { "-" } else { "" });
    }
    if value == 0.0 || (1e-4..1e16).contains(&value.abs()) {
        let text = value.to_string();
        return if text.contains('.') { text } else { text + ".0" };
    }
    let scientific = format!("{value:e}");
    let (mantissa, exponent) = scientific.split_once('e').unwrap_or((&scientific, "0"));
    let (sign, digits) = exponent.strip_prefix('-').map_or(("+", exponent), |digits| ("-", digits));
    format!("{mantissa}e{sign}{digits:0>2}")
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn separators_order_and_escapes_follow_python() {
        let value = json!({"event": "room.ended", "data": {"z": [1, 2], "a": null, "t": true}});
        assert_eq!(
            dumps(&value),
            r#"{"event": "room.ended", "data": {"z": [1, 2], "a": null, "t": true}}"#
        );
        assert_eq!(dumps(&json!({})), "{}");
        assert_eq!(dumps(&json!("café 🚀 a/b")), r#""caf\u00e9 \ud83d\ude80 a/b""#);
        assert_eq!(dumps(&json!("\u{7f}\u{1}")), r#""\u007f\u0001""#);
        assert_eq!(dumps(&json!("\"\\\n\r\t\u{8}\u{c}")), r#""\"\\\n\r\t\b\f""#);
        assert_eq!(dumps(&json!([-42, u64::MAX])), "[-42, 18446744073709551615]");
    }

    #[test]
    fn floats_use_python_repr() {
        for (value, repr) in [
            (100000.0, "100000.0"),
            (0.5, "0.5"),
            (1e-7, "1e-07"),
            (0.0001, "0.0001"),
            (0.00012, "0.00012"),
            (1e16, "1e+16"),
            (1e15, "1000000000000000.0"),
            (1.5e300, "1.5e+300"),
            (-0.0, "-0.0"),
            (-2.5e-5, "-2.5e-05"),
            (123.456, "123.456"),
            (0.1 + 0.2, "0.30000000000000004"),
            (1.7976931348623157e308, "1.7976931348623157e+308"),
            (5e-324, "5e-324"),
        ] {
            assert_eq!(dumps(&json!(value)), repr, "{value:e}");
        }
    }
}
