//! Table lookups over the mapped artifact.
//!
//! fst tables answer exact keys; cidr and regexp tables answer the first
//! entry that matches, in table order, as Postfix's cidr_table and
//! regexp_table do. Regular expressions are compiled once, when the
//! engine loads, never per lookup; `$1`-style references in a regexp
//! table's result are filled from the match.

use mailc_artifact::graph::{Storage, Table};
use std::borrow::Cow;

use mailc_artifact::tables::{decode_patterns, decode_ranges, ip_bits, regexp_pattern, Range, ValueItems};
use mailc_artifact::{Artifact, ArtifactError, Bytes};
use regex::Regex;

/// One table, ready for lookups.
pub(crate) enum Prepared {
    Map { map: fst::Map<Bytes>, values: Bytes },
    Cidr { ranges: Vec<Range>, values: Bytes },
    Regexp { patterns: Vec<(Regex, bool, u64)>, values: Bytes },
}

impl Prepared {
    pub(crate) fn load(artifact: &Artifact, table: &Table) -> Result<Prepared, ArtifactError> {
        let values = artifact.bytes(table.values);
        Ok(match table.storage {
            Storage::Map { keys } => Prepared::Map { map: artifact.map(keys)?, values },
            Storage::Cidr { ranges } => {
                Prepared::Cidr { ranges: decode_ranges(artifact.bytes(ranges).as_ref())?, values }
            }
            Storage::Regexp { patterns } => {
                let mut out = Vec::new();
                for p in decode_patterns(artifact.bytes(patterns).as_ref())? {
                    let re = Regex::new(&regexp_pattern(&p.pattern, &p.flags))
                        .map_err(|e| ArtifactError::Malformed(format!("table `{}`: {e}", table.name)))?;
                    out.push((re, p.flags.starts_with('!'), p.value));
                }
                Prepared::Regexp { patterns: out, values }
            }
        })
    }

    /// The value of `key`, if the table has it: strings borrowed from the
    /// mapped arena (owned only where a regexp match filled in `$n`).
    pub(crate) fn get(&self, key: &str) -> Option<Vec<Cow<'_, str>>> {
        match self {
            Prepared::Map { map, values } => borrowed(values.as_ref(), map.get(key)?),
            Prepared::Cidr { ranges, values } => {
                let ip = ip_bits(key.parse().ok()?);
                let r = ranges.iter().find(|r| r.first <= ip && ip <= r.last)?;
                borrowed(values.as_ref(), r.value)
            }
            Prepared::Regexp { patterns, values } => {
                for (re, negated, off) in patterns {
                    let hit = match re.captures(key) {
                        Some(caps) if !negated => Some(Some(caps)),
                        None if *negated => Some(None),
                        _ => None,
                    };
                    let Some(caps) = hit else { continue };
                    let raw = borrowed(values.as_ref(), *off)?;
                    return Some(
                        raw.into_iter()
                            .map(|v| match &caps {
                                Some(c) if v.contains('$') => {
                                    let mut out = String::new();
                                    c.expand(&v, &mut out);
                                    Cow::Owned(out)
                                }
                                _ => v,
                            })
                            .collect(),
                    );
                }
                None
            }
        }
    }

    /// Whether the table has `key` at all.
    pub(crate) fn contains(&self, key: &str) -> bool {
        match self {
            Prepared::Map { map, .. } => map.contains_key(key),
            _ => self.get(key).is_some(),
        }
    }
}

/// The strings of a value, borrowed from the arena.
fn borrowed(arena: &[u8], offset: u64) -> Option<Vec<Cow<'_, str>>> {
    let mut items = ValueItems::new(arena, offset).ok()?;
    let mut out = Vec::with_capacity(2);
    while let Some(item) = items.next_item().ok()? {
        out.push(Cow::Borrowed(item));
    }
    Some(out)
}
