//! Encodings of the bulk sections: values, fst maps and sets, address
//! ranges and patterns.
//!
//! A table is an fst map from its normalised keys to offsets in a value
//! arena; identical values are stored once. An entry's value is a count
//! and that many length-prefixed strings (varints), so a list of targets
//! and a single reply share one shape. Addresses are 128-bit numbers,
//! IPv4 mapped into IPv6 (`::ffff:a.b.c.d`), so one range type serves
//! both families. Writers sort what fst needs sorted, so the same input
//! always gives the same bytes.

use std::net::IpAddr;

use crate::ArtifactError;

/// Builds a value arena, storing each distinct value once. Values are
/// encoded into a scratch buffer and deduplicated through a hash table of
/// ranges of the arena itself, so adding a value allocates nothing once
/// the buffers have grown.
#[derive(Default)]
pub struct ValuesWriter {
    bytes: Vec<u8>,
    index: hashbrown::HashTable<(usize, usize)>,
    hasher: hashbrown::DefaultHashBuilder,
    scratch: Vec<u8>,
}

impl std::fmt::Debug for ValuesWriter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ValuesWriter").field("bytes", &self.bytes.len()).finish()
    }
}

fn push_varint(out: &mut Vec<u8>, mut n: u64) {
    while n >= 0x80 {
        out.push((n as u8) | 0x80);
        n >>= 7;
    }
    out.push(n as u8);
}

fn read_varint(b: &[u8], at: &mut usize) -> Result<u64, ArtifactError> {
    let mut n: u64 = 0;
    for shift in (0..64).step_by(7) {
        let byte = *b.get(*at).ok_or_else(|| ArtifactError::Malformed("a value runs past its section".into()))?;
        *at += 1;
        n |= u64::from(byte & 0x7f) << shift;
        if byte < 0x80 {
            return Ok(n);
        }
    }
    Err(ArtifactError::Malformed("a value length is too long".into()))
}

impl ValuesWriter {
    /// An empty arena.
    pub fn new() -> ValuesWriter {
        ValuesWriter::default()
    }

    /// Adds a value (a list of strings) and returns its offset.
    pub fn add<S: AsRef<str>>(&mut self, items: &[S]) -> u64 {
        self.add_iter(items.len(), items.iter().map(|s| s.as_ref()))
    }

    /// Adds a value of `count` strings given by an iterator.
    pub fn add_iter<'a>(&mut self, count: usize, items: impl IntoIterator<Item = &'a str>) -> u64 {
        use std::hash::BuildHasher;
        self.scratch.clear();
        push_varint(&mut self.scratch, count as u64);
        for s in items {
            push_varint(&mut self.scratch, s.len() as u64);
            self.scratch.extend_from_slice(s.as_bytes());
        }
        let hash = self.hasher.hash_one(&self.scratch[..]);
        let (bytes, scratch) = (&self.bytes, &self.scratch);
        if let Some(&(at, _)) = self.index.find(hash, |&(at, len)| &bytes[at..at + len] == scratch.as_slice()) {
            return at as u64;
        }
        let at = self.bytes.len();
        self.bytes.extend_from_slice(&self.scratch);
        let (bytes, hasher) = (&self.bytes, &self.hasher);
        self.index.insert_unique(hash, (at, self.scratch.len()), |&(a, l)| hasher.hash_one(&bytes[a..a + l]));
        at as u64
    }

    /// The arena's bytes.
    pub fn finish(self) -> Vec<u8> {
        self.bytes
    }
}

/// The strings of one value, read in place without allocating.
#[derive(Debug, Clone)]
pub struct ValueItems<'a> {
    arena: &'a [u8],
    at: usize,
    left: u64,
}

impl<'a> ValueItems<'a> {
    /// The value at `offset` in `arena`.
    pub fn new(arena: &'a [u8], offset: u64) -> Result<ValueItems<'a>, ArtifactError> {
        let mut at = usize::try_from(offset).map_err(|_| ArtifactError::Malformed("value offset".into()))?;
        let left = read_varint(arena, &mut at)?;
        Ok(ValueItems { arena, at, left })
    }

    /// Where the next item (or, once all are read, the next value) starts.
    pub fn offset(&self) -> usize {
        self.at
    }

    /// The next string, `None` after the last.
    pub fn next_item(&mut self) -> Result<Option<&'a str>, ArtifactError> {
        if self.left == 0 {
            return Ok(None);
        }
        self.left -= 1;
        let len = usize::try_from(read_varint(self.arena, &mut self.at)?)
            .map_err(|_| ArtifactError::Malformed("a value length is too long".into()))?;
        let end = self.at.checked_add(len).filter(|e| *e <= self.arena.len());
        let end = end.ok_or_else(|| ArtifactError::Malformed("a value runs past its section".into()))?;
        let bytes = &self.arena[self.at..end];
        self.at = end;
        std::str::from_utf8(bytes).map(Some).map_err(|_| ArtifactError::Malformed("a value is not UTF-8".into()))
    }
}

/// The strings of the value at `offset` in an arena.
pub fn read_value(arena: &[u8], offset: u64) -> Result<Vec<&str>, ArtifactError> {
    let mut items = ValueItems::new(arena, offset)?;
    let mut out = Vec::with_capacity(items.left.min(1024) as usize);
    while let Some(item) = items.next_item()? {
        out.push(item);
    }
    Ok(out)
}

/// The regular expression a regexp-table entry stands for, with its
/// flags as regexp_table(5) defines them: case-insensitive unless `i`
/// toggles it off, `x` extended syntax, `m` multi-line. (A leading `!`
/// negates the match; that is the caller's to apply.)
pub fn regexp_pattern(pattern: &str, flags: &str) -> String {
    let mut out = String::with_capacity(pattern.len() + 12);
    if !flags.contains('i') {
        out.push_str("(?i)");
    }
    if flags.contains('x') {
        out.push_str("(?x)");
    }
    if flags.contains('m') {
        out.push_str("(?m)");
    }
    out.push_str(pattern);
    out
}

/// Builds an fst map from (key, value offset) pairs in any order; the
/// first of duplicate keys wins (the checker has already reported them).
pub fn build_map<K: AsRef<[u8]>>(mut pairs: Vec<(K, u64)>) -> Vec<u8> {
    pairs.sort_by(|a, b| a.0.as_ref().cmp(b.0.as_ref()));
    pairs.dedup_by(|later, earlier| later.0.as_ref() == earlier.0.as_ref());
    let mut b = fst::MapBuilder::memory();
    for (k, v) in pairs {
        // INVARIANT: keys are sorted and distinct, so insert cannot fail.
        let _ = b.insert(k, v);
    }
    b.into_inner().unwrap_or_default()
}

/// Builds an fst set from members in any order.
pub fn build_set(mut members: Vec<String>) -> Vec<u8> {
    members.sort();
    members.dedup();
    let mut b = fst::SetBuilder::memory();
    for m in members {
        // INVARIANT: sorted and distinct.
        let _ = b.insert(m.as_bytes());
    }
    b.into_inner().unwrap_or_default()
}

/// An address as a 128-bit number (IPv4 mapped into IPv6).
pub fn ip_bits(ip: IpAddr) -> u128 {
    match ip {
        IpAddr::V4(a) => u128::from(a.to_ipv6_mapped()),
        IpAddr::V6(a) => u128::from(a),
    }
}

/// The first and last address of a network.
pub fn cidr_range(addr: IpAddr, prefix: u8) -> (u128, u128) {
    let (bits, width) = match addr {
        IpAddr::V4(_) => (ip_bits(addr), 32u32),
        IpAddr::V6(_) => (ip_bits(addr), 128u32),
    };
    let host = width.saturating_sub(u32::from(prefix));
    let mask = if host >= 128 { u128::MAX } else { (1u128 << host) - 1 };
    (bits & !mask, bits | mask)
}

/// One address range and its value offset (0 for plain networks).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Range {
    /// First address.
    pub first: u128,
    /// Last address.
    pub last: u128,
    /// Value offset in the table's arena.
    pub value: u64,
}

const RANGE_BYTES: usize = 40;

/// Encodes ranges in the given order.
pub fn encode_ranges(ranges: &[Range]) -> Vec<u8> {
    let mut out = Vec::with_capacity(ranges.len() * RANGE_BYTES);
    for r in ranges {
        out.extend_from_slice(&r.first.to_le_bytes());
        out.extend_from_slice(&r.last.to_le_bytes());
        out.extend_from_slice(&r.value.to_le_bytes());
    }
    out
}

/// Decodes a ranges section.
pub fn decode_ranges(b: &[u8]) -> Result<Vec<Range>, ArtifactError> {
    if !b.len().is_multiple_of(RANGE_BYTES) {
        return Err(ArtifactError::Malformed("a ranges section has a partial record".into()));
    }
    Ok(b.chunks_exact(RANGE_BYTES)
        .map(|c| {
            let mut x = [0; 16];
            x.copy_from_slice(&c[..16]);
            let first = u128::from_le_bytes(x);
            x.copy_from_slice(&c[16..32]);
            let last = u128::from_le_bytes(x);
            let mut v = [0; 8];
            v.copy_from_slice(&c[32..40]);
            Range { first, last, value: u64::from_le_bytes(v) }
        })
        .collect())
}

/// Sorts and merges plain network ranges (values ignored) so that a
/// lookup is one binary search.
pub fn merge_ranges(mut ranges: Vec<Range>) -> Vec<Range> {
    ranges.sort();
    let mut out: Vec<Range> = Vec::with_capacity(ranges.len());
    for r in ranges {
        match out.last_mut() {
            Some(prev) if r.first <= prev.last.saturating_add(1) => prev.last = prev.last.max(r.last),
            _ => out.push(Range { value: 0, ..r }),
        }
    }
    out
}

/// Whether an address is in merged ranges.
pub fn in_ranges(ranges: &[Range], ip: u128) -> bool {
    let i = ranges.partition_point(|r| r.first <= ip);
    i > 0 && ranges[i - 1].last >= ip
}

/// Encodes a regexp table's patterns, in table order.
pub fn encode_patterns(patterns: &[crate::graph::Pattern]) -> Vec<u8> {
    // INVARIANT: plain data always serialises.
    postcard::to_allocvec(patterns).unwrap_or_default()
}

/// Decodes a patterns section.
pub fn decode_patterns(b: &[u8]) -> Result<Vec<crate::graph::Pattern>, ArtifactError> {
    postcard::from_bytes(b).map_err(|e| ArtifactError::Malformed(format!("a patterns section: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_are_stored_once_and_read_back() {
        let mut w = ValuesWriter::new();
        let a = w.add(&["alice@example.test", "bob@example.test"]);
        let b = w.add(&["carol@example.test"]);
        assert_eq!(w.add(&["alice@example.test", "bob@example.test"]), a);
        let arena = w.finish();
        assert_eq!(read_value(&arena, a).unwrap(), ["alice@example.test", "bob@example.test"]);
        assert_eq!(read_value(&arena, b).unwrap(), ["carol@example.test"]);
        assert!(read_value(&arena, arena.len() as u64 + 3).is_err());
        // Items read in place; offset() walks from one value to the next.
        let mut items = ValueItems::new(&arena, a).unwrap();
        while items.next_item().unwrap().is_some() {}
        assert_eq!(items.offset() as u64, b);
        assert!(read_value(&[5, 200], 0).is_err());
    }

    #[test]
    fn maps_and_sets_are_deterministic_whatever_the_input_order() {
        let m1 = build_map(vec![("b", 2), ("a", 1)]);
        let m2 = build_map(vec![("a", 1), ("b", 2)]);
        assert_eq!(m1, m2);
        let map = fst::Map::new(m1).unwrap();
        assert_eq!(map.get("b"), Some(2));
        assert_eq!(build_set(vec!["y".into(), "x".into()]), build_set(vec!["x".into(), "y".into(), "x".into()]));
    }

    #[test]
    fn networks_merge_and_match_both_families() {
        let v4 = |s: &str| ip_bits(s.parse().unwrap());
        let (a, b) = cidr_range("10.0.0.0".parse().unwrap(), 8);
        let (c, d) = cidr_range("11.0.0.0".parse().unwrap(), 8);
        let (e, f) = cidr_range("2001:db8::".parse().unwrap(), 32);
        let merged = merge_ranges(vec![
            Range { first: e, last: f, value: 0 },
            Range { first: c, last: d, value: 0 },
            Range { first: a, last: b, value: 0 },
        ]);
        assert_eq!(merged.len(), 2);
        assert!(in_ranges(&merged, v4("10.1.2.3")));
        assert!(in_ranges(&merged, v4("11.255.255.255")));
        assert!(!in_ranges(&merged, v4("12.0.0.0")));
        assert!(in_ranges(&merged, v4("2001:db8::1")));
        assert!(!in_ranges(&merged, v4("::1")));
        assert_eq!(decode_ranges(&encode_ranges(&merged)).unwrap(), merged);
        assert!(decode_ranges(&[0; 41]).is_err());
    }
}
