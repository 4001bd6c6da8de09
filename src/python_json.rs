//! `json.dumps` with Python's default settings, byte for byte: what MeshAgent's sender writes
//! and what its Python receiver re-serializes before hashing.
//!
//! `", "` between members and items, `": "` after keys, everything outside printable ASCII
//! (0x20–0x7E) as lowercase `\uXXXX` (surrogate pairs above U+FFFF), short escapes for `"`, `\`,
//! `\n`, `\r`, `\t`, `\b`, `\f`; `/` is not escaped; floats in Python's `repr` form.

use std::fmt::Write;

use serde_json::{Number, Value};

/// Serializes `value` as Python's `json.dumps(value)` does.
pub(crate) fn dumps(value: &Value) -> String {
    let mut out = String::new();
    write_value(&mut out, value);
    out
}

fn write_value(out: &mut String, value: &Value) {
    match value {
        Value::Null => out.push_str("null"),
        Value::Bool(true) => out.push_str("true"),
        Value::Bool(false) => out.push_str("false"),
        Value::Number(number) => write_number(out, number),
        Value::String(text) => write_string(out, text),
        Value::Array(items) => {
            out.push('[');
            for (index, item) in items.iter().enumerate() {
                if index > 0 {
                    out.push_str(", ");
                }
                write_value(out, item);
            }
            out.push(']');
        }
        Value::Object(members) => {
            out.push('{');
            for (index, (key, item)) in members.iter().enumerate() {
                if index > 0 {
                    out.push_str(", ");
                }
                write_string(out, key);
                out.push_str(": ");
                write_value(out, item);
            }
            out.push('}');
        }
    }
}

fn write_string(out: &mut String, text: &str) {
    out.push('"');
    for ch in text.chars() {
        match ch {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            ' '..='~' => out.push(ch),
            _ => {
                let mut units = [0u16; 2];
                for unit in ch.encode_utf16(&mut units) {
                    let _ = write!(out, "\\u{unit:04x}");
                }
            }
        }
    }
    out.push('"');
}

fn write_number(out: &mut String, number: &Number) {
    if let Some(float) = number.as_f64().filter(|_| number.is_f64()) {
        write_float(out, float);
    } else {
        let _ = write!(out, "{number}");
    }
}

/// Python's `float.__repr__`: the shortest digits that round-trip; positional notation when
/// the decimal exponent is from -4 to 15 (with `.0` when integral), otherwise `d.ddde±XX`.
fn write_float(out: &mut String, float: f64) {
    if float.is_nan() {
        out.push_str("NaN");
        return;
    }
    if float.is_infinite() {
        out.push_str(if float < 0.0 { "-Infinity" } else { "Infinity" });
        return;
    }
    // Rust's `{:e}` gives the shortest round-trip digits too, as `d.ddde<exp>`.
    let scientific = format!("{float:e}");
    let (mantissa, exponent) = scientific
        .split_once('e')
        .unwrap_or_else(|| unreachable!("`{{:e}}` always writes an exponent"));
    let exponent: i32 = exponent
        .parse()
        .unwrap_or_else(|_| unreachable!("`{{:e}}` writes an integer exponent"));
    let (sign, mantissa) = match mantissa.strip_prefix('-') {
        Some(rest) => ("-", rest),
        None => ("", mantissa),
    };
    let digits: String = mantissa.chars().filter(char::is_ascii_digit).collect();
    out.push_str(sign);
    if (-4..16).contains(&exponent) {
        write_positional(out, &digits, exponent);
    } else {
        let (first, rest) = digits.split_at(1);
        out.push_str(first);
        if !rest.is_empty() {
            out.push('.');
            out.push_str(rest);
        }
        let exponent_sign = if exponent < 0 { '-' } else { '+' };
        let _ = write!(out, "e{exponent_sign}{:02}", exponent.unsigned_abs());
    }
}

fn write_positional(out: &mut String, digits: &str, exponent: i32) {
    if exponent < 0 {
        out.push_str("0.");
        for _ in 0..(-exponent - 1) {
            out.push('0');
        }
        out.push_str(digits);
        return;
    }
    let integer_len = usize::try_from(exponent).unwrap_or(0) + 1;
    if digits.len() <= integer_len {
        out.push_str(digits);
        for _ in digits.len()..integer_len {
            out.push('0');
        }
        out.push_str(".0");
    } else {
        let (integer, fraction) = digits.split_at(integer_len);
        out.push_str(integer);
        out.push('.');
        out.push_str(fraction);
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn float(value: f64) -> String {
        dumps(&json!(value))
    }

    #[test]
    fn separators_and_order_follow_python() {
        let value = json!({"event": "room.ended", "data": {"z": [1, 2], "a": null, "t": true}});
        assert_eq!(
            dumps(&value),
            r#"{"event": "room.ended", "data": {"z": [1, 2], "a": null, "t": true}}"#
        );
        assert_eq!(dumps(&json!({})), "{}");
        assert_eq!(dumps(&json!([])), "[]");
    }

    #[test]
    fn strings_are_escaped_like_ensure_ascii() {
        assert_eq!(dumps(&json!("café")), r#""caf\u00e9""#);
        assert_eq!(dumps(&json!("🚀")), r#""\ud83d\ude80""#);
        assert_eq!(dumps(&json!("a/b")), r#""a/b""#);
        assert_eq!(dumps(&json!("\u{7f}\u{1}")), r#""\u007f\u0001""#);
        assert_eq!(dumps(&json!("\"\\\n\r\t\u{8}\u{c}")), r#""\"\\\n\r\t\b\f""#);
    }

    #[test]
    fn floats_use_python_repr() {
        assert_eq!(float(100000.0), "100000.0");
        assert_eq!(float(0.5), "0.5");
        assert_eq!(float(1e-7), "1e-07");
        assert_eq!(float(0.0001), "0.0001");
        assert_eq!(float(0.00012), "0.00012");
        assert_eq!(float(1e16), "1e+16");
        assert_eq!(float(1e15), "1000000000000000.0");
        assert_eq!(float(1.5e300), "1.5e+300");
        assert_eq!(float(-0.0), "-0.0");
        assert_eq!(float(-2.5e-5), "-2.5e-05");
        assert_eq!(float(123.456), "123.456");
        assert_eq!(float(0.1 + 0.2), "0.30000000000000004");
        assert_eq!(float(1.7976931348623157e308), "1.7976931348623157e+308");
        assert_eq!(float(5e-324), "5e-324");
    }

    #[test]
    fn integers_are_plain_digits() {
        assert_eq!(dumps(&json!(-42)), "-42");
        assert_eq!(dumps(&json!(u64::MAX)), "18446744073709551615");
    }
}
