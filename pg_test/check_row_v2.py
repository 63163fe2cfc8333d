#!/usr/bin/env python3
"""Recompute row_hash of audit rows under canonical encoding v2 as docs/architecture.md
("Canonical row encoding (version 2)") describes it, with the Python standard library only.

Input: JSON lines on stdin, one per audit row, with the stored values as text:
  {"id": 7, "at_us": <microseconds since 2000-01-01 UTC>, "txid": "<xid8 as text>",
   "actor", "session_user_name", "current_user_name", "client_addr" (inet_out),
   "application_name", "op", "table_name", "row_key", "old_row", "new_row" (jsonb_out),
   "changed_columns" (array_out), "statement", "redacted" (jsonb_out), "row_hash" (hex)}
with null for NULL. Prints "N rows ok" and exits 0, or names each row that does not match.
"""
import hashlib
import json
import struct
import sys


def members(text):
    """(key, exact value text) of an object as jsonb_out prints it."""
    decoder = json.JSONDecoder()
    if not text.startswith("{"):
        raise ValueError("not an object")
    out = []
    if text == "{}":
        return out
    i = 1
    while True:
        key, j = decoder.raw_decode(text, i)
        if text[j:j + 2] != ": ":
            raise ValueError("no ': ' after a key")
        j += 2
        _, k = decoder.raw_decode(text, j)
        out.append((key, text[j:k]))
        if text[k:] == "}":
            return out
        if text[k:k + 2] != ", ":
            raise ValueError("no ', ' between members")
        i = k + 2


def image_digest(text, removed):
    pairs = [(k.encode(), hashlib.sha256(v.encode()).digest()) for k, v in members(text)]
    pairs += [(k.encode(), bytes.fromhex(d)) for k, d in removed.items()]
    pairs.sort()
    if len({k for k, _ in pairs}) != len(pairs):
        raise ValueError("a key both present and redacted")
    h = hashlib.sha256(b"ge_security/image\x02")
    for key, digest in pairs:
        h.update(struct.pack(">I", len(key)) + key + digest)
    return h.digest()


def row_hash(row):
    redacted = json.loads(row["redacted"]) if row["redacted"] is not None else {}
    out = bytearray(b"ge_security/audit_row\x02")

    def integer(n):
        out.extend(b"\x01" + struct.pack(">q", n))

    def text(value):
        if value is None:
            out.extend(b"\x00")
        else:
            data = value if isinstance(value, bytes) else value.encode()
            out.extend(b"\x02" + struct.pack(">I", len(data)) + data)

    integer(row["id"])
    integer(row["at_us"])
    integer(int(row["txid"]) - (1 << 64) if int(row["txid"]) >= 1 << 63 else int(row["txid"]))
    for column in ("actor", "session_user_name", "current_user_name", "client_addr",
                   "application_name", "op", "table_name", "row_key"):
        text(row[column])
    for column in ("old_row", "new_row"):
        removed = redacted.get(column, {})
        if row[column] is None:
            if removed:
                raise ValueError("redacted values of a NULL image")
            text(None)
        else:
            text(image_digest(row[column], removed))
    text(row["changed_columns"])
    if "statement" in redacted:
        if row["statement"] is not None:
            raise ValueError("a statement both present and redacted")
        text(bytes.fromhex(redacted["statement"]))
    else:
        text(None if row["statement"] is None else hashlib.sha256(row["statement"].encode()).digest())
    return hashlib.sha256(bytes(out)).hexdigest()


def main():
    count, bad = 0, 0
    for line in sys.stdin:
        if not line.strip():
            continue
        row = json.loads(line)
        count += 1
        try:
            ok = row_hash(row) == row["row_hash"]
        except ValueError as error:
            ok = False
            print(f"row {row['id']}: {error}")
        if not ok:
            bad += 1
            print(f"row {row['id']}: row_hash does not match the documented v2 encoding")
    if bad:
        sys.exit(1)
    print(f"{count} rows ok")


if __name__ == "__main__":
    main()
