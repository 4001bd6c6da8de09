//! Python's JSON next to JSON's: [`python_only_value`] finds what Python's `json.dumps` writes
//! and JSON cannot carry. Python's `json.dumps` with its default settings, byte for byte:
//! [`redump`] transcodes any
//! JSON text to `json.dumps(json.loads(text))` (what MeshAgent's Python receiver hashes), and
//! [`dumps`] writes a value as MeshAgent's sender does. `", "` between members and items, `": "`
//! after keys, everything outside printable ASCII as lowercase `\uXXXX` (UTF-16 units, so
//! surrogate pairs above U+FFFF and lone surrogates as Python keeps them), the short escapes
//! `\"`, `\\`, `\n`, `\r`, `\t`, `\b`, `\f` (`/` left alone), floats in Python's `repr` form.

use std::collections::HashMap;
use std::ops::Range;

use serde::Serialize;

/// Deepest nesting of arrays and objects Python's `json.loads` then `json.dumps` take: its
/// recursion limit (1000) less the frames of the calls they run in (994 from a script; a
/// server deeper in the stack fails a little earlier).
pub(crate) const MAX_DEPTH: usize = 994;

/// Most digits Python 3.11+ turns into an `int` (`sys.get_int_max_str_digits()`).
const MAX_INT_DIGITS: usize = 4300;

/// Serializes `value` as Python's `json.dumps(value)` does (empty for a value nested deeper
/// than Python can write).
pub(crate) fn dumps(value: &impl Serialize) -> String {
    let json = serde_json::to_vec(value).unwrap_or_default();
    redump(&json).and_then(|text| String::from_utf8(text).ok()).unwrap_or_default()
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

/// An object member in the output: key with `": "`, value, and whether a later member with the
/// same key took its place (its value then moved here).
type Member = (Range<usize>, Range<usize>, bool);

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
            open @ (b'[' | b'{') => self.container(depth + 1, open == b'{'),
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

    /// An array, or an object whose repeated keys keep their first place and last value.
    fn container(&mut self, depth: usize, object: bool) -> Option<()> {
        let (start, close) = (self.out.len(), if object { "}" } else { "]" });
        self.out.push(self.text.as_bytes()[self.at]);
        self.at += 1;
        let (mut members, mut first) = (Vec::<Member>::new(), HashMap::<Vec<u8>, usize>::new());
        self.skip_whitespace();
        let (mut done, mut items) = (self.eat(close), 0);
        while !done {
            if items > 0 {
                self.out.extend_from_slice(b", ");
            }
            let key = self.out.len();
            if object {
                self.skip_whitespace();
                (self.peek()? == b'"').then_some(())?;
                self.string()?;
                self.skip_whitespace();
                self.eat(":").then_some(())?;
                self.out.extend_from_slice(b": ");
            }
            let value = self.out.len();
            self.value(depth)?;
            if object {
                let at = *first.entry(self.out[key..value].to_vec()).or_insert(members.len());
                if at < members.len() {
                    members[at].1 = value..self.out.len();
                }
                members.push((key..value, value..self.out.len(), at < members.len()));
            }
            items += 1;
            self.skip_whitespace();
            done = self.eat(close);
            if !done {
                self.eat(",").then_some(())?;
            }
        }
        if members.iter().any(|member| member.2) {
            let mut object = b"{".to_vec();
            for (index, (key, value, _)) in members.iter().filter(|member| !member.2).enumerate() {
                object.extend_from_slice(if index > 0 { b", " } else { b"" });
                object.extend_from_slice(&self.out[key.clone()]);
                object.extend_from_slice(&self.out[value.clone()]);
            }
            self.out.truncate(start);
            self.out.append(&mut object);
        }
        self.out.extend_from_slice(close.as_bytes());
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
                        escape => {
                            let at = b"\"\\/bfnrt".iter().position(|&short| short == escape)?;
                            u16::from(b"\"\\/\x08\x0c\n\r\t"[at])
                        }
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

    /// One UTF-16 code unit as `ensure_ascii` writes it.
    fn unit(&mut self, unit: u16) {
        let short = b"\"\\\x08\x0c\n\r\t".iter().position(|&byte| u16::from(byte) == unit);
        match (short, unit) {
            (Some(at), _) => self.out.extend_from_slice(&[b'\\', b"\"\\bfnrt"[at]]),
            (None, 0x20..=0x7e) => self.out.push(unit as u8),
            (None, _) => self.out.extend_from_slice(format!("\\u{unit:04x}").as_bytes()),
        }
    }

    /// `-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][-+]?[0-9]+)?`: an `int` written back as is (`-0` as
    /// `0`), anything with a fraction or an exponent a `float` in `repr` form.
    fn number(&mut self) -> Option<()> {
        let start = self.at;
        self.eat("-");
        let integer = if self.eat("0") { 1 } else { self.digits()? };
        let fraction = if self.eat(".") { Some(self.digits()?) } else { None };
        let exponent = matches!(self.peek(), Some(b'e' | b'E'));
        if exponent {
            self.at += 1;
            let _ = self.eat("+") || self.eat("-");
            self.digits()?;
        }
        let text = &self.text[start..self.at];
        let written = match (fraction.is_some() || exponent, text) {
            (true, _) => float_repr(text.parse().ok()?),
            (false, "-0") => "0".to_owned(),
            (false, _) if integer <= MAX_INT_DIGITS => text.to_owned(),
            _ => return None,
        };
        self.out.extend_from_slice(written.as_bytes());
        Some(())
    }

    /// One or more ASCII digits: how many.
    fn digits(&mut self) -> Option<usize> {
        let start = self.at;
        while self.peek().is_some_and(|byte| byte.is_ascii_digit()) {
            self.at += 1;
        }
        (self.at > start).then_some(self.at - start)
    }
}

/// The first value outside strings that Python's `json.dumps` writes and JSON cannot carry
/// without loss, as a rejection detail: `NaN`, `Infinity`, `-Infinity`, or an integer beyond
/// 64 bits.
pub(crate) fn python_only_value(text: &[u8]) -> Option<&'static str> {
    let mut at = 0;
    while let Some(&byte) = text.get(at) {
        let rest = &text[at..];
        match byte {
            b'"' => at = string_end(text, at + 1),
            b'N' | b'I' if rest.starts_with(b"NaN") || rest.starts_with(b"Infinity") => {
                return Some("payload has NaN or Infinity, which JSON cannot carry");
            }
            b'-' | b'0'..=b'9' => {
                let numeric = |b: &u8| matches!(b, b'0'..=b'9' | b'.' | b'e' | b'E' | b'+' | b'-');
                let len = 1 + rest[1..].iter().take_while(|b| numeric(b)).count();
                let number = std::str::from_utf8(&rest[..len]).unwrap_or_default();
                at += len;
                let integer = number != "-" && !number.contains(['.', 'e', 'E']);
                if integer && number.parse::<i64>().is_err() && number.parse::<u64>().is_err() {
                    return Some(
                        "payload has an integer beyond 64 bits, which would lose precision",
                    );
                }
            }
            _ => at += 1,
        }
    }
    None
}

/// The index after the closing quote of a string whose contents start at `at`.
fn string_end(text: &[u8], at: usize) -> usize {
    let mut escaped = false;
    let end = text[at..].iter().position(|&byte| {
        let close = byte == b'"' && !escaped;
        escaped = byte == b'\\' && !escaped;
        close
    });
    end.map_or(text.len(), |end| at + end + 1)
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
