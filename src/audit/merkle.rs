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

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

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

    /// RFC 9162 §2.1.3.2: whether `path` proves `leaf` at `index` in a tree of `size` leaves
    /// with root `root` (what pg_test/check_proof.py does outside the database).
    fn verifies(leaf: &Hash, index: usize, size: usize, path: &[Hash], root: &Hash) -> bool {
        if index >= size {
            return false;
        }
        let (mut fnode, mut snode, mut acc) = (index, size - 1, *leaf);
        for p in path {
            if snode == 0 {
                return false;
            }
            if fnode % 2 == 1 || fnode == snode {
                acc = node(p, &acc);
                while fnode % 2 == 0 && fnode != 0 {
                    fnode >>= 1;
                    snode >>= 1;
                }
            } else {
                acc = node(&acc, p);
            }
            fnode >>= 1;
            snode >>= 1;
        }
        snode == 0 && acc == *root
    }

    fn flipped(hash: &Hash, bit: usize) -> Hash {
        let mut out = *hash;
        out[bit / 8] ^= 1 << (bit % 8);
        out
    }

    /// Largest tree size the exhaustive tests build (every proof of every tree up to 200
    /// leaves is about 1.3 million hashes: 20 s in a debug build).
    const SIZES: usize = 200;

    #[test]
    fn streaming_root_matches_rfc6962_for_every_size() {
        for n in 1..=3 * SIZES {
            assert_eq!(root_of(&leaves(n)), reference_root(&leaves(n)), "size {n}");
        }
    }

    #[test]
    fn streaming_builder_counts_and_has_no_root_without_leaves() {
        let mut builder = RootBuilder::default();
        assert_eq!(builder.root(), None);
        for (n, l) in leaves(5).into_iter().enumerate() {
            builder.push(l);
            assert_eq!(builder.count(), n as u64 + 1);
        }
        assert_eq!(builder.root(), Some(reference_root(&leaves(5))));
    }

    #[test]
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

    /// Every leaf of every tree of 1 to SIZES leaves has a proof that verifies, no longer than
    /// the tree is deep, and that does not prove the leaf at another index. (The tree size is
    /// bound by the block's row_count inside block_hash, not by the path.)
    #[test]
    fn proofs_verify_for_every_leaf_of_every_size() {
        let all = leaves(SIZES);
        for n in 1..=SIZES {
            let l = &all[..n];
            let root = root_of(l);
            for m in 0..n {
                let p = path(m, l);
                assert!(verifies(&l[m], m, n, &p, &root), "leaf {m} of {n}");
                assert!(p.len() <= usize::BITS as usize - (n - 1).leading_zeros() as usize);
                if n > 1 {
                    let other = (m + 1) % n;
                    assert!(
                        !verifies(&l[m], other, n, &p, &root),
                        "leaf {m} as {other} of {n}"
                    );
                }
            }
        }
    }

    /// Every single-bit flip of the leaf, the root or any path element makes a proof fail: all
    /// bits of all proofs of a 13-leaf tree (paths of three and four elements).
    #[test]
    fn every_flipped_bit_of_a_proof_fails() {
        let l = leaves(13);
        let root = root_of(&l);
        for m in 0..l.len() {
            let p = path(m, &l);
            for bit in 0..256 {
                assert!(
                    !verifies(&flipped(&l[m], bit), m, 13, &p, &root),
                    "leaf bit {bit}"
                );
                assert!(
                    !verifies(&l[m], m, 13, &p, &flipped(&root, bit)),
                    "root bit {bit}"
                );
                for e in 0..p.len() {
                    let mut bad = p.clone();
                    bad[e] = flipped(&bad[e], bit);
                    assert!(!verifies(&l[m], m, 13, &bad, &root), "path {e} bit {bit}");
                }
            }
        }
    }

    #[test]
    fn leaves_nodes_and_blocks_are_domain_separated() {
        let a = leaf(1, &[7; 32]);
        // a leaf is not a node of the same bytes, and the id is part of the leaf
        assert_ne!(a, leaf(2, &[7; 32]));
        assert_ne!(node(&a, &a), leaf(1, &[a, a].concat()));
        let block =
            |n: i64, root: &Hash, prev: &Hash, at: i64| block_hash(n, 1, 9, 9, root, prev, at);
        let (root, prev) = ([1u8; 32], [0u8; 32]);
        let base = block(3, &root, &prev, 42);
        assert_ne!(base, block(4, &root, &prev, 42));
        assert_ne!(base, block(3, &root, &prev, 43));
        for bit in 0..256 {
            assert_ne!(
                base,
                block(3, &flipped(&root, bit), &prev, 42),
                "rows_root bit {bit}"
            );
            assert_ne!(
                base,
                block(3, &root, &flipped(&prev, bit), 42),
                "prev_hash bit {bit}"
            );
        }
        for (first, last, count) in [(2, 9, 9), (1, 8, 9), (1, 9, 8)] {
            assert_ne!(base, block_hash(3, first, last, count, &root, &prev, 42));
        }
        assert_eq!(hex(&[0x00, 0x0f, 0xa5]), "000fa5");
    }

    proptest! {
        /// A proof of a random leaf of a random tree verifies, and fails once any one bit of
        /// the leaf, the root or a path element is flipped.
        #[test]
        fn random_proofs_verify_and_any_flipped_bit_fails(
            size in 1usize..=1000,
            index in any::<prop::sample::Index>(),
            element in any::<prop::sample::Index>(),
            bit in 0usize..256,
            seed in any::<u8>(),
        ) {
            let l: Vec<Hash> = (0..size).map(|i| leaf(i as i64 * 3 + 1, &[seed ^ i as u8; 32])).collect();
            let m = index.index(size);
            let root = root_of(&l);
            let p = path(m, &l);
            prop_assert!(verifies(&l[m], m, size, &p, &root));
            prop_assert_eq!(root, reference_root(&l));
            // element 0 is the leaf, 1 the root, then the path
            match element.index(p.len() + 2) {
                0 => prop_assert!(!verifies(&flipped(&l[m], bit), m, size, &p, &root)),
                1 => prop_assert!(!verifies(&l[m], m, size, &p, &flipped(&root, bit))),
                e => {
                    let mut bad = p.clone();
                    bad[e - 2] = flipped(&bad[e - 2], bit);
                    prop_assert!(!verifies(&l[m], m, size, &bad, &root));
                }
            }
        }

        /// Any row hash or id, changed in any way, changes the leaf.
        #[test]
        fn leaves_bind_id_and_row_hash(
            id in any::<i64>(),
            other_id in any::<i64>(),
            hash in prop::collection::vec(any::<u8>(), 32),
            bit in 0usize..256,
        ) {
            let mut other_hash = hash.clone();
            other_hash[bit / 8] ^= 1 << (bit % 8);
            prop_assert_ne!(leaf(id, &hash), leaf(id, &other_hash));
            if id != other_id {
                prop_assert_ne!(leaf(id, &hash), leaf(other_id, &hash));
            }
        }
    }
}
