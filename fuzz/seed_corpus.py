#!/usr/bin/env python3
"""Writes the seed corpora of the fuzz targets from the SDK vectors.

Run from anywhere: python3 fuzz/seed_corpus.py [path/to/vectors.json]
Default vectors: ../shared/vectors/vectors.json beside the crate, else tests/data/vectors.json.
Writes fuzz/corpus/verify/ and fuzz/corpus/event/ (git-ignored), one file per seed, named by
the SHA-1 of its content, so running it twice gives the same files.

Layout of a `verify` input (see fuzz_targets/verify.rs):
    [mode][secret_len][secret][header_len: u16 little-endian][header][payload]
"""

import base64
import hashlib
import json
import os
import struct
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
CRATE = os.path.dirname(HERE)


def vectors_path():
    if len(sys.argv) > 1:
        return sys.argv[1]
    shared = os.path.join(CRATE, "..", "shared", "vectors", "vectors.json")
    if os.path.exists(shared):
        return shared
    return os.path.join(CRATE, "tests", "data", "vectors.json")


def b64decode(segment):
    return base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4))


def verify_input(mode, secret, header, payload):
    secret = secret[:255]
    header = header[:65535]
    return bytes([mode, len(secret)]) + secret + struct.pack("<H", len(header)) + header + payload


def write(directory, content):
    os.makedirs(directory, exist_ok=True)
    name = hashlib.sha1(content).hexdigest()
    with open(os.path.join(directory, name), "wb") as out:
        out.write(content)
    return name


def main():
    with open(vectors_path(), encoding="utf-8") as source:
        vectors = json.load(source)["vectors"]
    verify_dir = os.path.join(HERE, "corpus", "verify")
    event_dir = os.path.join(HERE, "corpus", "event")
    verify_seeds, event_seeds = set(), set()
    for vector in vectors:
        headers = {name.lower(): value for name, value in vector["headers"].items()}
        if "meshagent-webhook" in headers:
            payload = headers["meshagent-webhook"].encode("utf-8")
        else:
            payload = (vector.get("body") or "").encode("utf-8")
        event_seeds.add(write(event_dir, payload))
        secret = (vector.get("secret") or "").encode("utf-8")
        signature = headers.get("meshagent-signature", "").encode("utf-8")
        verify_seeds.add(write(verify_dir, verify_input(0, secret, signature, payload)))
        verify_seeds.add(write(verify_dir, verify_input(1, secret, b"", payload)))
        token = signature.decode("utf-8").strip().split(" ")[-1]
        segments = token.split(".")
        if len(segments) >= 2:
            try:
                jose, claims = b64decode(segments[0]), b64decode(segments[1])
            except ValueError:
                continue
            verify_seeds.add(write(verify_dir, verify_input(2, secret, claims, payload)))
            verify_seeds.add(write(verify_dir, verify_input(3, secret, jose, payload)))
    # Mode 4 (the Python digest): the signed text, then a body Python writes back to it.
    cases_path = os.path.join(CRATE, "tests", "data", "python_digest_cases.json")
    with open(cases_path, encoding="utf-8") as source:
        for case in json.load(source)["cases"]:
            signed, body = case["signed"].encode("utf-8"), bytes.fromhex(case["body_hex"])
            verify_seeds.add(write(verify_dir, verify_input(4, b"k", signed, body)))
    print(f"{len(verify_seeds)} verify seeds in {verify_dir}")
    print(f"{len(event_seeds)} event seeds in {event_dir}")


if __name__ == "__main__":
    main()
