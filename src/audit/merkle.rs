//! RFC 6962-style Merkle trees over audit rows (leaf = H(0x00 ‖ id ‖ row_hash),
//! node = H(0x01 ‖ left ‖ right)), computed streaming, plus inclusion paths and block hashes.
use sha2::{Digest, Sha256};

pub type Hash = [u8; 32];

pub fn leaf(id: i64, row_hash: &[u8]) -> Hash {
    let mut h = Sha256::new();
    h.update([0u8]);
    h.update(id.to_be_bytes());
    h.update(row_hash);
    h.finalize().into()
}

pub fn node(left: &Hash, right: &Hash) -> Hash {
    let mut h = Sha256::new();
    h.update([1u8]);
    h.update(left);
    h.update(right);
    h.finalize().into()
}

/// Root of leaves pushed in order, in O(log n) memory: the stack holds perfect subtrees of
/// strictly decreasing size, folded right to left at the end (RFC 6962 §2.1).
#[derive(Default)]
pub struct RootBuilder {
    stack: Vec<(u64, Hash)>,
    count: u64,
}

impl RootBuilder {
    pub fn push(&mut self, leaf: Hash) {
        self.count += 1;
        self.stack.push((1, leaf));
        while self.stack.len() >= 2 {
            let n = self.stack.len();
            if self.stack[n - 1].0 != self.stack[n - 2].0 {
                break;
            }
            let (size, right) = self.stack.pop().expect("two entries");
            let (_, left) = self.stack.pop().expect("two entries");
            self.stack.push((size * 2, node(&left, &right)));
        }
    }

    pub fn count(&self) -> u64 {
        self.count
    }

    /// The root, or None for no leaves.
    pub fn root(&self) -> Option<Hash> {
        let mut iter = self.stack.iter().rev();
        let mut acc = iter.next()?.1;
        for (_, left) in iter {
            acc = node(left, &acc);
        }
        Some(acc)
    }
}

/// Root of a slice of leaves (RFC 6962 MTH).
pub fn root_of(leaves: &[Hash]) -> Hash {
    let mut builder = RootBuilder::default();
    leaves.iter().for_each(|l| builder.push(*l));
    builder.root().unwrap_or_else(|| Sha256::digest([]).into())
}

/// Inclusion path of leaf `index` (RFC 6962 §2.1.1), bottom-up.
pub fn path(index: usize, leaves: &[Hash]) -> Vec<Hash> {
    if leaves.len() <= 1 {
        return Vec::new();
    }
    let split = leaves.len().next_power_of_two() / 2;
    if index < split {
        let mut p = path(index, &leaves[..split]);
        p.push(root_of(&leaves[split..]));
        p
    } else {
        let mut p = path(index - split, &leaves[split..]);
        p.push(root_of(&leaves[..split]));
        p
    }
}

/// The hash that chains a block to its predecessor.
pub fn block_hash(
    block_no: i64,
    first_id: i64,
    last_id: i64,
    row_count: i64,
    rows_root: &[u8],
    prev_hash: &[u8],
    sealed_at_micros: i64,
) -> Hash {
    let mut h = Sha256::new();
    h.update(b"ge_security/audit_block");
    h.update([1u8]);
    for n in [block_no, first_id, last_id, row_count] {
        h.update(n.to_be_bytes());
    }
    h.update(rows_root);
    h.update(prev_hash);
    h.update(sealed_at_micros.to_be_bytes());
    h.finalize().into()
}

pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(any(test, feature = "pg_test"))]
#[pgrx::pg_schema]
mod tests {
    use super::*;
    use pgrx::prelude::*;

    fn leaves(n: usize) -> Vec<Hash> {
        (0..n).map(|i| leaf(i as i64, &[i as u8; 32])).collect()
    }

    /// RFC 6962 MTH written recursively, to check the streaming builder against.
    fn reference_root(l: &[Hash]) -> Hash {
        if l.len() == 1 {
            return l[0];
        }
        let k = l.len().next_power_of_two() / 2;
        node(&reference_root(&l[..k]), &reference_root(&l[k..]))
    }

    #[pg_test]
    fn streaming_root_matches_rfc6962_for_every_size() {
        for n in 1..70 {
            assert_eq!(root_of(&leaves(n)), reference_root(&leaves(n)), "size {n}");
        }
    }

    #[pg_test]
    fn every_inclusion_path_leads_to_the_root() {
        for n in [1usize, 2, 3, 5, 8, 13, 33] {
            let l = leaves(n);
            let root = root_of(&l);
            for (m, leaf) in l.iter().enumerate() {
                // RFC 9162 §2.1.3.2 verification
                let (mut fnode, mut snode, mut acc) = (m, n - 1, *leaf);
                for p in path(m, &l) {
                    if fnode % 2 == 1 || fnode == snode {
                        acc = node(&p, &acc);
                        while fnode % 2 == 0 && fnode != 0 {
                            fnode >>= 1;
                            snode >>= 1;
                        }
                    } else {
                        acc = node(&acc, &p);
                    }
                    fnode >>= 1;
                    snode >>= 1;
                }
                assert_eq!(acc, root, "leaf {m} of {n}");
            }
        }
    }
}
