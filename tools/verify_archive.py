#!/usr/bin/env python3
"""Verify a ge_security audit archive without the database (Python 3 standard library only).

Usage: verify_archive.py ARCHIVE DIGEST

ARCHIVE  the lines of `SELECT * FROM ge_security.audit_export(from_block, to_block)`, one JSON
         object per line (a file name, or - for standard input).
DIGEST   a digest from `SELECT ge_security.audit_digest()` kept outside the database, taken
         before the archived rows were pruned: its JSON text, or the name of a file holding it.

What is checked (the format: docs/architecture.md, "Archive format"):
  - each row's row_hash, recomputed from its fields under its canonical encoding;
  - each block's rows: ids inside the block's range and increasing, row_count, and the RFC 6962
    Merkle root over (id, row_hash) leaves equal to rows_root;
  - each block's block_hash, and the chain of prev_hash from the first exported block on;
  - that the chain reaches the digest: the digest's block is in the archive with the digest's
    hash, at or after the last block whose rows are archived (the hash chain then vouches for
    every archived block).
Exit status 0 when all of it holds; otherwise every problem is printed with its line and 1.
"""
import hashlib
import json
import sys

INT64 = range(-(1 << 63), 1 << 63)


def sha256(*parts):
    return hashlib.sha256(b"".join(parts)).digest()


def int8(value):
    return value.to_bytes(8, "big", signed=True)


def text_bytes(value):
    """A text field: a JSON string is its UTF-8 bytes; {"hex": ...} the bytes themselves."""
    if isinstance(value, str):
        return value.encode("utf-8")
    if isinstance(value, dict) and set(value) == {"hex"} and isinstance(value["hex"], str):
        return bytes.fromhex(value["hex"])
    raise ValueError(f"not a text value: {value!r}")


# Canonical row encoding version 1 (docs/architecture.md, "Canonical row encoding (version 1)"):
# "ge_security/audit_row" 0x01, then every column but row_hash in this order; an integer is
# 0x01 and 8 bytes big-endian, NULL is 0x00, a text is 0x02, its length (4 bytes) and its bytes.
V1_COLUMNS = [
    ("id", "integer"), ("at", "integer"), ("txid", "integer"), ("actor", "text"),
    ("session_user_name", "text"), ("current_user_name", "text"), ("client_addr", "text"),
    ("application_name", "text"), ("op", "text"), ("table_name", "text"), ("row_key", "text"),
    ("old_row", "text"), ("new_row", "text"), ("changed_columns", "text"), ("statement", "text"),
]


def row_hash_v1(fields, redacted, version=b"\x01"):
    if set(fields) != {name for name, _ in V1_COLUMNS}:
        raise ValueError("the fields are not those of the archive's rows")
    if version == b"\x01" and redacted is not None:
        raise ValueError("a row hashed under encoding 1 cannot be redacted")
    out = bytearray(b"ge_security/audit_row" + version)
    for name, form in V1_COLUMNS:
        value = fields[name]
        if form == "integer":
            if not isinstance(value, int) or isinstance(value, bool) or value not in INT64:
                raise ValueError(f"{name} is not a 64-bit integer")
            out += b"\x01" + int8(value)
        elif value is None:
            out += b"\x00"
        else:
            data = text_bytes(value)
            out += b"\x02" + len(data).to_bytes(4, "big") + data
    return sha256(bytes(out))


def image_members(text):
    """(key, exact value text) of each member of an object as jsonb_out prints it."""
    decoder = json.JSONDecoder()
    if not text.startswith("{"):
        raise ValueError("a row image is not an object")
    members = []
    if text == "{}":
        return members
    i = 1
    while True:
        key, j = decoder.raw_decode(text, i)
        if text[j:j + 2] != ": ":
            raise ValueError("a row image is not in jsonb_out's form")
        _, k = decoder.raw_decode(text, j + 2)
        members.append((key, text[j + 2:k]))
        if text[k:] == "}":
            return members
        if text[k:k + 2] != ", ":
            raise ValueError("a row image is not in jsonb_out's form")
        i = k + 2


def image_digest(value, removed):
    """Encoding 2's digest of a row image: its (column, SHA-256 of the value's text) pairs and
    the (column, digest) pairs of its redacted values, sorted by column."""
    data = text_bytes(value)
    # jsonb_out's text in the server encoding: parsed byte for byte (latin-1 maps each byte to
    # one character), so every key and value is hashed as the exact bytes stored
    text = data.decode("latin-1")
    pairs = [(k.encode("latin-1"), sha256(v.encode("latin-1"))) for k, v in image_members(text)]
    pairs += [(k.encode("utf-8"), bytes.fromhex(d)) for k, d in removed.items()]
    pairs.sort()
    if len({k for k, _ in pairs}) != len(pairs):
        raise ValueError("a column both present and redacted")
    out = bytearray(b"ge_security/image\x02")
    for key, digest in pairs:
        out += len(key).to_bytes(4, "big") + key + digest
    return sha256(bytes(out))


def row_hash_v2(fields, redacted):
    """Encoding 2 (docs/architecture.md, "Canonical row encoding (version 2)"): as version 1
    but for the version byte, the row images (each replaced by its image digest) and the
    statement (replaced by its SHA-256); redacted values enter through their kept digests."""
    redacted = json.loads(text_bytes(redacted)) if redacted is not None else {}
    if not isinstance(redacted, dict):
        raise ValueError("redacted is not an object")
    hashed = dict(fields)
    for name in ("old_row", "new_row"):
        removed = redacted.get(name, {})
        if fields.get(name) is None:
            if removed:
                raise ValueError(f"redacted values of a NULL {name}")
        else:
            hashed[name] = {"hex": image_digest(fields[name], removed).hex()}
    if "statement" in redacted:
        if fields.get("statement") is not None:
            raise ValueError("a statement both present and redacted")
        hashed["statement"] = {"hex": redacted["statement"]}
    elif fields.get("statement") is not None:
        hashed["statement"] = {"hex": sha256(text_bytes(fields["statement"])).hex()}
    return row_hash_v1(hashed, None, version=b"\x02")


# One function per canonical encoding version: the row hash from a row's fields and the
# digests of its redacted values.
ROW_ENCODINGS = {1: row_hash_v1, 2: row_hash_v2}


def leaf(row_id, row_hash):
    return sha256(b"\x00", int8(row_id), row_hash)


def merkle_root(leaves):
    """RFC 6962 section 2.1: split at the largest power of two below n."""
    if len(leaves) == 1:
        return leaves[0]
    k = 1 << ((len(leaves) - 1).bit_length() - 1)
    return sha256(b"\x01", merkle_root(leaves[:k]), merkle_root(leaves[k:]))


def block_hash(block):
    numbers = b"".join(int8(block[k]) for k in ("block_no", "first_id", "last_id", "row_count"))
    return sha256(b"ge_security/audit_block", b"\x01", numbers, bytes.fromhex(block["rows_root"]),
                  bytes.fromhex(block["prev_hash"]), int8(block["sealed_at_micros"]))


def no_duplicate_keys(pairs):
    keys = [k for k, _ in pairs]
    if len(keys) != len(set(keys)):
        raise ValueError("a key appears twice")
    return dict(pairs)


class Verifier:
    def __init__(self):
        self.problems = []
        self.header = None
        self.blocks = []  # (line, block, hash recomputed)
        self.rows = 0
        self.block = None  # the block whose rows follow
        self.leaves = []
        self.last_id = None

    def problem(self, line, text):
        self.problems.append(f"line {line}: {text}")

    def end_block(self):
        if self.block is None:
            return
        line, block = self.block
        if block["rows_included"]:
            if len(self.leaves) != block["row_count"]:
                self.problem(line, f"block {block['block_no']} seals {block['row_count']} rows, "
                                   f"the archive holds {len(self.leaves)}")
            elif not self.leaves or merkle_root(self.leaves).hex() != block["rows_root"]:
                self.problem(line, f"block {block['block_no']}: the rows do not make its rows_root")
        self.block, self.leaves, self.last_id = None, [], None

    def archive(self, line, item):
        if line != 1 or self.header is not None:
            return self.problem(line, "an archive line that is not the first line")
        if item.get("format") != "ge_security audit archive" or item.get("format_version") != 1:
            raise ValueError("not a ge_security audit archive of format version 1")
        expected = [{"name": n, "form": f} for n, f in V1_COLUMNS] + [{"name": "row_hash", "form": "hash"}]
        if item.get("columns") != expected:
            self.problem(line, "the column list is not the one this script knows")
        self.header = item

    def block_line(self, line, item):
        self.end_block()
        for key in ("block_no", "first_id", "last_id", "row_count", "sealed_at_micros"):
            if not isinstance(item.get(key), int) or item[key] not in INT64:
                raise ValueError(f"{key} is not a 64-bit integer")
        for key in ("rows_root", "prev_hash", "block_hash"):
            if not isinstance(item.get(key), str) or len(bytes.fromhex(item[key])) != 32:
                raise ValueError(f"{key} is not 32 bytes of hex")
        if not isinstance(item.get("rows_included"), bool):
            raise ValueError("rows_included is not true or false")
        recomputed = block_hash(item).hex()
        if recomputed != item["block_hash"]:
            self.problem(line, f"block {item['block_no']}: block_hash does not match its fields")
        if self.blocks:
            _, before, before_hash = self.blocks[-1]
            if item["block_no"] != before["block_no"] + 1:
                self.problem(line, f"block {item['block_no']} follows block {before['block_no']}")
            if item["prev_hash"] != before_hash:
                self.problem(line, f"block {item['block_no']}: prev_hash is not the hash of block {before['block_no']}")
        elif item["block_no"] == 1 and item["prev_hash"] != "00" * 32:
            self.problem(line, "block 1: prev_hash is not 32 zero bytes")
        self.blocks.append((line, item, recomputed))
        self.block = (line, item)

    def row(self, line, item):
        if self.block is None or not self.block[1]["rows_included"]:
            return self.problem(line, "a row outside the blocks whose rows are archived")
        block = self.block[1]
        encode = ROW_ENCODINGS.get(item.get("encoding"))
        if encode is None:
            return self.problem(line, f"unknown row encoding {item.get('encoding')!r}")
        fields = item.get("fields")
        if not isinstance(fields, dict):
            raise ValueError("fields is not an object")
        row_id = fields.get("id")
        stored = bytes.fromhex(item.get("row_hash", ""))
        if encode(fields, item.get("redacted")) != stored:
            self.problem(line, f"row {row_id}: row_hash does not match its fields")
        if not block["first_id"] <= row_id <= block["last_id"]:
            self.problem(line, f"row {row_id} is outside block {block['block_no']} "
                               f"({block['first_id']} to {block['last_id']})")
        if self.leaves and row_id <= self.last_id:
            self.problem(line, f"row {row_id} is not after row {self.last_id}")
        self.last_id = row_id
        self.leaves.append(leaf(row_id, stored))
        self.rows += 1

    def finish(self, digest):
        self.end_block()
        if self.header is None or not self.blocks:
            self.problems.append("the archive has no header or no blocks")
            return
        h = self.header
        numbers = [b["block_no"] for _, b, _ in self.blocks]
        with_rows = [b["block_no"] for _, b, _ in self.blocks if b["rows_included"]]
        if numbers[0] != h.get("from_block") or numbers[-1] != h.get("last_block") \
                or with_rows != list(range(h.get("from_block", 0), h.get("to_block", -1) + 1)):
            self.problems.append("the blocks are not those the archive's first line announces")
        if not isinstance(digest.get("block_no"), int) or not isinstance(digest.get("block_hash"), str):
            self.problems.append("the digest has no block_no and block_hash")
            return
        by_no = {b["block_no"]: (line, b, recomputed) for line, b, recomputed in self.blocks}
        if digest["block_no"] not in by_no:
            self.problems.append(f"the digest names block {digest['block_no']}, which is not in the archive "
                                 f"(blocks {numbers[0]} to {numbers[-1]}): the chain cannot be followed to it")
            return
        line, _, recomputed = by_no[digest["block_no"]]
        if recomputed != digest["block_hash"].lower():
            self.problem(line, f"block {digest['block_no']}: its hash differs from the digest kept outside")
        if with_rows and digest["block_no"] < with_rows[-1]:
            self.problems.append(f"the digest (block {digest['block_no']}) is older than block {with_rows[-1]}, "
                                 "whose rows are archived: it does not vouch for them")


def main():
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    source, digest_arg = sys.argv[1], sys.argv[2]
    digest_text = digest_arg if digest_arg.lstrip().startswith("{") else open(digest_arg).read()
    digest = json.loads(digest_text)
    verifier = Verifier()
    handle = sys.stdin if source == "-" else open(source, encoding="utf-8")
    with handle:
        for number, text in enumerate(handle, start=1):
            if not text.strip():
                continue
            try:
                item = json.loads(text, object_pairs_hook=no_duplicate_keys)
                kind = item.get("type") if isinstance(item, dict) else None
                if kind == "archive":
                    verifier.archive(number, item)
                elif verifier.header is None:
                    raise ValueError("the first line is not the archive's header")
                elif kind == "block":
                    verifier.block_line(number, item)
                elif kind == "row":
                    verifier.row(number, item)
                else:
                    raise ValueError(f"unknown line type {kind!r}")
            except (ValueError, TypeError, KeyError, UnicodeError, OverflowError) as error:
                verifier.problem(number, f"unreadable: {error}")
    verifier.finish(digest)
    if verifier.problems:
        print("\n".join(verifier.problems))
        print(f"archive does NOT verify: {len(verifier.problems)} problem(s)")
        sys.exit(1)
    h = verifier.header
    print(f"archive verified: blocks {h['from_block']} to {h['to_block']} ({verifier.rows} rows) of "
          f"database {h.get('database')!r}; the chain reaches the digest's block {digest['block_no']}")


if __name__ == "__main__":
    main()
