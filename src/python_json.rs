//! Python's `json.dumps` with its default settings, byte for byte: as a serde_json
//! [`Formatter`] (what MeshAgent's sender writes), and as [`redump`], a transcoder from any JSON
//! text to `json.dumps(json.loads(text))` (what MeshAgent's Python receiver hashes). `", "` between members and items, `": "`
//! after keys, everything outside printable ASCII as lowercase `\uXXXX` (surrogate pairs above
//! U+FFFF), and floats in Python's `repr` form. serde_json's own escapes (`\"`, `\\`, `\n`,
//! `\r`, `\t`, `\b`, `\f`, lowercase `\u00XX`; `/` left alone) are Python's already.

use std::collections::HashMap;
use std::collections::hash_map::Entry;
use std::io::{self, Write};
use std::ops::Range;

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

/// Deepest nesting of arrays and objects Python's `json.loads` then `json.dumps` take: its
/// recursion limit (1000) less the frames of the calls they run in (994 from a script; a
/// server deeper in the stack fails a little earlier).
pub(crate) const MAX_DEPTH: usize = 994;

/// Most digits Python 3.11+ turns into an `int` (`sys.get_int_max_str_digits()`).
const MAX_INT_DIGITS: usize = 4300;

/// Python's `json.dumps(json.loads(text))` with default settings, transcoded straight from the
/// text: `None` where Python raises (not UTF-8, a BOM, not JSON, a raw control character in a
/// string, a bad escape, nesting deeper than [`MAX_DEPTH`], an integer of more than 4300
/// digits). Members keep their first-seen order; a repeated key keeps its first position and
/// its last value. Reads nothing outside `text`; the output is built in memory.
pub(crate) fn redump(text: &[u8]) -> Option<Vec<u8>> {
    let text = std::str::from_utf8(text).ok()?;
    let mut redump = Redump { text, at: 0, out: Vec::with_capacity(text.len() + 16) };
    redump.value(0)?;
    redump.skip_whitespace();
    (redump.at == text.len()).then_some(redump.out)
}

struct Redump<'a> {
    text: &'a str,
    at: usize,
    out: Vec<u8>,
}

/// One member of an object being written: its key and value in the output, and whether a
/// later member with the same key has taken its place.
struct Member {
    key: Range<usize>,
    value: Range<usize>,
    dropped: bool,
}

impl Redump<'_> {
    fn peek(&self) -> Option<u8> {
        self.text.as_bytes().get(self.at).copied()
    }

    fn eat(&mut self, literal: &str) -> bool {
        let found = self.text[self.at..].starts_with(literal);
        self.at += if found { literal.len() } else { 0 };
        found
    }

    fn skip_whitespace(&mut self) {
        while matches!(self.peek(), Some(b' ' | b'\t' | b'\n' | b'\r')) {
            self.at += 1;
        }
    }

    fn value(&mut self, depth: usize) -> Option<()> {
        self.skip_whitespace();
        match self.peek()? {
            b'[' | b'{' if depth >= MAX_DEPTH => None,
            b'[' => self.array(depth + 1),
            b'{' => self.object(depth + 1),
            b'"' => self.string(),
            _ => {
                for literal in ["null", "true", "false", "NaN", "Infinity", "-Infinity"] {
                    if self.eat(literal) {
                        self.out.extend_from_slice(literal.as_bytes());
                        return Some(());
                    }
                }
                self.number()
            }
        }
    }

    fn array(&mut self, depth: usize) -> Option<()> {
        self.at += 1;
        self.out.push(b'[');
        self.skip_whitespace();
        if !self.eat("]") {
            loop {
                self.value(depth)?;
                self.skip_whitespace();
                if self.eat("]") {
                    break;
                }
                self.eat(",").then_some(())?;
                self.out.extend_from_slice(b", ");
            }
        }
        self.out.push(b']');
        Some(())
    }

    fn object(&mut self, depth: usize) -> Option<()> {
        let start = self.out.len();
        self.at += 1;
        self.out.push(b'{');
        self.skip_whitespace();
        let mut members: Vec<Member> = Vec::new();
        // Keys as written out: two keys are the same string exactly when they are written alike.
        let mut first: HashMap<Vec<u8>, usize> = HashMap::new();
        let mut repeated = false;
        if !self.eat("}") {
            loop {
                self.skip_whitespace();
                if !members.is_empty() {
                    self.out.extend_from_slice(b", ");
                }
                let key = self.out.len();
                (self.peek()? == b'"').then_some(())?;
                self.string()?;
                let key = key..self.out.len();
                self.skip_whitespace();
                self.eat(":").then_some(())?;
                self.out.extend_from_slice(b": ");
                let value = self.out.len();
                self.value(depth)?;
                let value = value..self.out.len();
                let dropped = match first.entry(self.out[key.clone()].to_vec()) {
                    Entry::Vacant(entry) => {
                        entry.insert(members.len());
                        false
                    }
                    Entry::Occupied(entry) => {
                        members[*entry.get()].value = value.clone();
                        true
                    }
                };
                repeated |= dropped;
                members.push(Member { key, value, dropped });
                self.skip_whitespace();
                if self.eat("}") {
                    break;
                }
                self.eat(",").then_some(())?;
            }
        }
        if repeated {
            let mut object = b"{".to_vec();
            for member in members.iter().filter(|member| !member.dropped) {
                if object.len() > 1 {
                    object.extend_from_slice(b", ");
                }
                object.extend_from_slice(&self.out[member.key.clone()]);
                object.extend_from_slice(b": ");
                object.extend_from_slice(&self.out[member.value.clone()]);
            }
            self.out.truncate(start);
            self.out.append(&mut object);
        }
        self.out.push(b'}');
        Some(())
    }

    fn string(&mut self) -> Option<()> {
        self.at += 1;
        self.out.push(b'"');
        loop {
            match self.peek()? {
                b'"' => break,
                b'\\' => {
                    self.at += 1;
                    let unit = match self.peek()? {
                        b'u' => {
                            let hex = self.text.get(self.at + 1..self.at + 5)?;
                            hex.bytes().all(|digit| digit.is_ascii_hexdigit()).then_some(())?;
                            self.at += 4;
                            u16::from_str_radix(hex, 16).ok()?
                        }
                        b'b' => 0x08,
                        b'f' => 0x0c,
                        b'n' => 0x0a,
                        b'r' => 0x0d,
                        b't' => 0x09,
                        escaped @ (b'"' | b'\\' | b'/') => u16::from(escaped),
                        _ => return None,
                    };
                    self.at += 1;
                    self.unit(unit);
                }
                0..=0x1f => return None,
                _ => {
                    let ch = self.text[self.at..].chars().next()?;
                    self.at += ch.len_utf8();
                    for unit in ch.encode_utf16(&mut [0; 2]) {
                        self.unit(*unit);
                    }
                }
            }
        }
        self.at += 1;
        self.out.push(b'"');
        Some(())
    }

    /// One UTF-16 code unit as `ensure_ascii` writes it: lone surrogates too, as Python keeps
    /// them.
    fn unit(&mut self, unit: u16) {
        let short = match unit {
            0x22 => b'"',
            0x5c => b'\\',
            0x0a => b'n',
            0x0d => b'r',
            0x09 => b't',
            0x08 => b'b',
            0x0c => b'f',
            0x20..=0x7e => return self.out.push(unit as u8),
            _ => return self.out.extend_from_slice(format!("\\u{unit:04x}").as_bytes()),
        };
        self.out.extend_from_slice(&[b'\\', short]);
    }

    /// `-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][-+]?[0-9]+)?`: an `int` written back as is (`-0` as
    /// `0`), anything with a fraction or an exponent a `float` in `repr` form.
    fn number(&mut self) -> Option<()> {
        let start = self.at;
        self.eat("-");
        let digits = self.at;
        if !self.eat("0") {
            self.digits()?;
        }
        let integer = self.at - digits;
        let mut float = false;
        if self.eat(".") {
            self.digits()?;
            float = true;
        }
        if matches!(self.peek(), Some(b'e' | b'E')) {
            self.at += 1;
            if matches!(self.peek(), Some(b'+' | b'-')) {
                self.at += 1;
            }
            self.digits()?;
            float = true;
        }
        let text = &self.text[start..self.at];
        if float {
            self.out.extend_from_slice(float_repr(text.parse().ok()?).as_bytes());
        } else if integer <= MAX_INT_DIGITS {
            self.out.extend_from_slice(if text == "-0" { b"0" } else { text.as_bytes() });
        } else {
            return None;
        }
        Some(())
    }

    /// One or more ASCII digits.
    fn digits(&mut self) -> Option<()> {
        let start = self.at;
        while self.peek().is_some_and(|byte| byte.is_ascii_digit()) {
            self.at += 1;
        }
        (self.at > start).then_some(())
    }
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

    fn redumped(text: &str) -> Option<String> {
        redump(text.as_bytes()).map(|out| String::from_utf8(out).unwrap())
    }

    #[test]
    fn redump_writes_what_python_writes_back() {
        // Each expected text is python3's `json.dumps(json.loads(text))`.
        for (text, python) in [
            ("{\"a\":1,\"b\":[true,false,null]}\n", r#"{"a": 1, "b": [true, false, null]}"#),
            (" [ ] ", "[]"),
            ("{ }", "{}"),
            (r#"{"a": 1, "b": 2, "a": 3}"#, r#"{"a": 3, "b": 2}"#),
            (r#"{"a": 1, "\u0061": 2, "a": {"x": 1, "x": 2}}"#, r#"{"a": {"x": 2}}"#),
            (
                r#"["caf\u00E9", "café", "\/", "🚀", "\ud83d\ude80"]"#,
                r#"["caf\u00e9", "caf\u00e9", "/", "\ud83d\ude80", "\ud83d\ude80"]"#,
            ),
            (
                r#"["\udc00", "\ud800x", "\u0022\u005c\u000a\u0041", "\u007f"]"#,
                r#"["\udc00", "\ud800x", "\"\\\nA", "\u007f"]"#,
            ),
            (
                "[-0, -0.0, 1E-7, 1.0e5, 0.50, 1e16, 1e400, -1e400]",
                "[0, -0.0, 1e-07, 100000.0, 0.5, 1e+16, Infinity, -Infinity]",
            ),
            (
                "[NaN, Infinity, -Infinity, 123456789012345678901234567890]",
                "[NaN, Infinity, -Infinity, 123456789012345678901234567890]",
            ),
        ] {
            assert_eq!(redumped(text).as_deref(), Some(python), "{text}");
        }
    }

    #[test]
    fn redump_fails_where_python_raises() {
        let deep = |depth: usize| format!("{}{}", "[".repeat(depth), "]".repeat(depth));
        assert!(redumped(&deep(MAX_DEPTH)).is_some());
        assert!(redumped(&deep(MAX_DEPTH + 1)).is_none());
        assert!(redumped(&"1".repeat(MAX_INT_DIGITS)).is_some());
        assert!(redumped(&"1".repeat(MAX_INT_DIGITS + 1)).is_none());
        for text in [
            "",
            " ",
            "\u{feff}{}",
            "{} x",
            "[1,]",
            "{\"a\":1,}",
            "{1: 2}",
            "[01]",
            "[1.]",
            "[.5]",
            "[1e]",
            "[+1]",
            "[-]",
            "[-NaN]",
            "[nan]",
            "\"a\u{1}\"",
            r#""\x""#,
            r#""\u12g4""#,
            r#""\u+123""#,
            "\"abc",
            "[1 2]",
            "{\"a\" 1}",
            "'a'",
            "[true false]",
        ] {
            assert_eq!(redumped(text), None, "{text:?}");
        }
        assert_eq!(redump(b"[\"\xff\xfe\"]"), None);
        assert_eq!(redump(b"[\"\xc0\xaf\"]"), None);
        assert_eq!(redump(b"[\"caf\xe9\"]"), None);
    }
}
