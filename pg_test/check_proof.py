#!/usr/bin/env python3
"""Check a ge_security.audit_proof() outside the database.

Usage: check_proof.py PROOF_JSON [DIGEST_JSON]
Recomputes the leaf from id and row_hash, folds the RFC 6962 inclusion path into the
block's rows_root, recomputes the block hash, and (with a digest of the same block)
compares it with the hash kept outside. Exit 0 when everything holds.
"""
import hashlib
import json
import sys


def h(*parts):
    return hashlib.sha256(b"".join(parts)).digest()


def main():
    proof = json.loads(sys.argv[1])
    digest = json.loads(sys.argv[2]) if len(sys.argv) > 2 else None
    block = proof["block"]
    node = h(b"\x00", proof["id"].to_bytes(8, "big", signed=True), bytes.fromhex(proof["row_hash"]))
    fn, sn = proof["leaf_index"], proof["tree_size"] - 1
    for sibling in map(bytes.fromhex, proof["path"]):  # RFC 9162 section 2.1.3.2
        if sn == 0:
            sys.exit("proof too long")
        if fn % 2 == 1 or fn == sn:
            node = h(b"\x01", sibling, node)
            while fn % 2 == 0 and fn != 0:
                fn, sn = fn >> 1, sn >> 1
        else:
            node = h(b"\x01", node, sibling)
        fn, sn = fn >> 1, sn >> 1
    if sn != 0 or node.hex() != block["rows_root"]:
        sys.exit("inclusion path does not lead to rows_root")
    numbers = b"".join(block[k].to_bytes(8, "big", signed=True)
                       for k in ("block_no", "first_id", "last_id", "row_count"))
    block_hash = h(b"ge_security/audit_block", b"\x01", numbers, bytes.fromhex(block["rows_root"]),
                   bytes.fromhex(block["prev_hash"]),
                   block["sealed_at_micros"].to_bytes(8, "big", signed=True))
    if block_hash.hex() != block["block_hash"]:
        sys.exit("block hash does not match the block's fields")
    if digest is not None and digest["block_no"] == block["block_no"] \
            and digest["block_hash"] != block_hash.hex():
        sys.exit("block hash differs from the digest kept outside")
    print(f"row {proof['id']} is included in block {block['block_no']} ({block_hash.hex()})")


if __name__ == "__main__":
    main()
