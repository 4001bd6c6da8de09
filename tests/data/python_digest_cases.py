#!/usr/bin/env python3
"""Cases for the Python digest rule, built with Python's own `json` module.

Each case is a text MeshAgent's sender signs (`json.dumps(obj)`, the token's digest) and a body
that arrives instead (re-formatted, re-escaped, …). `python_accepts` is Python's verdict, as
MeshAgent's receiver decides it: the body decoded as UTF-8, then
`json.dumps(json.loads(body)) == signed` (any exception: refused). The crate's Python digest
mode accepts these, and a body equal to `signed` (its raw rule comes first).

Regenerate (from the repository root) with:
    python3 tests/data/python_digest_cases.py > tests/data/python_digest_cases.json
and commit both files; tests/vectors.rs reads the JSON, so the tests need no Python.
"""
import json
import sys

EVENT = {"event": "room.ended", "data": {"room_name": "café/🚀 standup", "n": 1e-07, "m": 100000.0}}
SIGNED = json.dumps(EVENT)


def nested(depth):
    return "[" * depth + "]" * depth


def case(name, body, signed=SIGNED):
    raw = body if isinstance(body, bytes) else body.encode("utf-8", "surrogatepass")
    try:
        accepts = json.dumps(json.loads(raw.decode("utf-8"))) == signed
    except Exception:  # ValueError, RecursionError: the receiver answers 500
        accepts = False
    return {"name": name, "signed": signed, "body_hex": raw.hex(), "python_accepts": accepts}


CASES = [
    case("as_signed", SIGNED),
    case("pretty_printed", json.dumps(EVENT, indent=2)),
    case("compact", json.dumps(EVENT, separators=(",", ":"))),
    case("trailing_newline", SIGNED + "\n"),
    case("surrounding_whitespace", " \t\r\n" + SIGNED + " \n"),
    case("unescaped_unicode", json.dumps(EVENT, ensure_ascii=False)),
    case("escaped_slash", SIGNED.replace("/", "\\/")),
    case("uppercase_hex_escape", SIGNED.replace("\\u00e9", "\\u00E9")),
    case("surrogate_pair_raw", SIGNED.replace("\\ud83d\\ude80", "🚀")),
    case("surrogate_pair_uppercase", SIGNED.replace("\\ud83d\\ude80", "\\uD83D\\uDE80")),
    case("repeated_key_last_value_signed",
         '{"event": "room.ended", "event": "room.ended", "data": {"a": 1, "b": 2, "a": 3}}',
         json.dumps({"event": "room.ended", "data": {"a": 3, "b": 2}})),
    case("repeated_key_first_value_signed",
         '{"event": "room.ended", "data": {"a": 1, "b": 2, "a": 3}}',
         json.dumps({"event": "room.ended", "data": {"a": 1, "b": 2}})),
    case("repeated_key_moved_last", '{"event": "room.ended", "data": {"b": 2, "a": 3}}',
         json.dumps({"event": "room.ended", "data": {"a": 3, "b": 2}})),
    case("exponent_uppercase", SIGNED.replace("1e-07", "1E-7")),
    case("float_with_exponent", SIGNED.replace("100000.0", "1.0e5")),
    case("float_trailing_zero", SIGNED.replace("100000.0", "100000.00")),
    case("float_as_integer", SIGNED.replace("100000.0", "100000")),
    case("numbers", '{"event": "x", "data": {"n": [-0, -0.0, 0.50, 1e16, 1E+16, 1e400, 12345678901234567890123]}}',
         json.dumps({"event": "x", "data": {"n": [0, -0.0, 0.5, 1e16, 1e16, float("inf"), 12345678901234567890123]}})),
    case("nan_and_infinity", '{"event": "x", "data": {"n": [NaN,Infinity,-Infinity]}}',
         json.dumps({"event": "x", "data": {"n": [float("nan"), float("inf"), float("-inf")]}})),
    case("lone_surrogates_escaped", '{"event": "x", "data": {"s": "\\ud800 \\uDC00 \\ud83d"}}',
         '{"event": "x", "data": {"s": "\\ud800 \\udc00 \\ud83d"}}'),
    case("lone_surrogate_raw_bytes", '{"event": "x", "data": {"s": "\ud800"}}',
         '{"event": "x", "data": {"s": "\\ud800"}}'),
    case("control_characters_escaped", '{"event": "x", "data": {"s": "\\u0000\\u001f\\u007f\\b\\f"}}',
         json.dumps({"event": "x", "data": {"s": "\x00\x1f\x7f\b\f"}})),
    case("control_character_raw", '{"event": "x", "data": {"s": "a\tb"}}',
         json.dumps({"event": "x", "data": {"s": "a\tb"}})),
    # The bodies below end in a newline, so that only the Python text can match.
    case("deep_nesting_500", '{"event": "x", "data": {"a": %s}}\n' % nested(499),
         '{"event": "x", "data": {"a": %s}}' % nested(499)),
    case("deep_nesting_2000", '{"event": "x", "data": {"a": %s}}\n' % nested(1999),
         '{"event": "x", "data": {"a": %s}}' % nested(1999)),
    case("integer_of_4300_digits", '{"event": "x", "data": {"n": %s}}\n' % ("7" * 4300),
         '{"event": "x", "data": {"n": %s}}' % ("7" * 4300)),
    case("integer_of_4301_digits", '{"event": "x", "data": {"n": %s}}\n' % ("7" * 4301),
         '{"event": "x", "data": {"n": %s}}' % ("7" * 4301)),
    case("keys_reordered", json.dumps({"data": EVENT["data"], "event": EVENT["event"]})),
    case("value_changed", SIGNED.replace("standup", "standdown")),
    case("byte_order_mark", "\ufeff" + SIGNED),
    case("latin1_byte", SIGNED.replace("caf\\u00e9", "caf\u00e9").encode("utf-8").replace(b"\xc3\xa9", b"\xe9")),
    case("trailing_comma", SIGNED[:-1] + ",}"),
    case("single_quotes", SIGNED.replace('"', "'")),
]

json.dump({"generator": "tests/data/python_digest_cases.py", "python": sys.version.split()[0],
           "cases": CASES}, sys.stdout, indent=1)
sys.stdout.write("\n")
