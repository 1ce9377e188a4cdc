//! The container: one file, a fixed header, a section table, sections.
//!
//! Layout (all integers little-endian):
//!
//! ```text
//!  0  magic "MAILCART"            8 bytes
//!  8  format version              u32
//! 12  compiler version length     u32 (n, at most 255)
//! 16  file length                 u64
//! 24  checksum                    u32  CRC-32 of every byte but these four
//! 28  section count               u32
//! 32  source hash                 32 bytes (SHA-256 of every source file)
//! 64  compiler version            n bytes, zero-padded to a multiple of 8
//!  .. section table               count x { kind u32, reserved u32, offset u64, length u64 }
//!  .. sections                    each starting at a multiple of 8
//! ```
//!
//! Reading checks, in this order: size, magic, version, file length,
//! checksum, then that every section lies inside the file. Nothing is
//! trusted before the checksum matches, and nothing panics on a bad file.

use crate::ArtifactError;

/// The first eight bytes of every artifact.
pub const MAGIC: [u8; 8] = *b"MAILCART";
/// The format this crate writes and reads.
pub const FORMAT_VERSION: u32 = 1;
/// Size of the fixed part of the header.
pub const FIXED_HEADER: usize = 64;
const SECTION_ENTRY: usize = 24;

/// What a section holds (for `mailc inspect`; the graph says which
/// section serves which table).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SectionKind {
    /// The decision graph, postcard-encoded.
    Graph,
    /// An fst map from keys to value offsets.
    FstMap,
    /// An fst set (domain sets).
    FstSet,
    /// A value arena.
    Values,
    /// Address ranges (networks, cidr tables).
    Ranges,
    /// Regular expressions, in table order.
    Patterns,
}

impl SectionKind {
    fn code(self) -> u32 {
        match self {
            SectionKind::Graph => 1,
            SectionKind::FstMap => 2,
            SectionKind::FstSet => 3,
            SectionKind::Values => 4,
            SectionKind::Ranges => 5,
            SectionKind::Patterns => 6,
        }
    }

    fn from_code(code: u32) -> Option<SectionKind> {
        Some(match code {
            1 => SectionKind::Graph,
            2 => SectionKind::FstMap,
            3 => SectionKind::FstSet,
            4 => SectionKind::Values,
            5 => SectionKind::Ranges,
            6 => SectionKind::Patterns,
            _ => return None,
        })
    }

    /// Its name in `mailc inspect`.
    pub fn name(self) -> &'static str {
        match self {
            SectionKind::Graph => "graph",
            SectionKind::FstMap => "fst map",
            SectionKind::FstSet => "fst set",
            SectionKind::Values => "values",
            SectionKind::Ranges => "ranges",
            SectionKind::Patterns => "patterns",
        }
    }
}

/// Where a section is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Section {
    /// What it holds.
    pub kind: SectionKind,
    /// Byte offset in the file.
    pub offset: u64,
    /// Length in bytes.
    pub len: u64,
}

/// The parsed header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Header {
    /// Format version.
    pub version: u32,
    /// Version of the compiler that wrote the file.
    pub compiler: String,
    /// SHA-256 of all source files.
    pub source_hash: [u8; 32],
    /// The checksum stored in the file (verified).
    pub checksum: u32,
    /// The sections in file order.
    pub sections: Vec<Section>,
}

/// Builds an artifact file from sections.
#[derive(Debug, Default)]
pub struct ContainerWriter {
    sections: Vec<(SectionKind, Vec<u8>)>,
}

impl ContainerWriter {
    /// An empty container.
    pub fn new() -> ContainerWriter {
        ContainerWriter::default()
    }

    /// Adds a section and returns its index.
    pub fn add(&mut self, kind: SectionKind, bytes: Vec<u8>) -> u32 {
        self.sections.push((kind, bytes));
        (self.sections.len() - 1) as u32
    }

    /// The finished file. The same sections give the same bytes.
    pub fn finish(self, compiler: &str, source_hash: [u8; 32]) -> Vec<u8> {
        let compiler = &compiler.as_bytes()[..compiler.len().min(255)];
        let table_at = FIXED_HEADER + compiler.len().div_ceil(8) * 8;
        let mut offset = table_at + self.sections.len() * SECTION_ENTRY;
        let mut out = Vec::new();
        out.extend_from_slice(&MAGIC);
        out.extend_from_slice(&FORMAT_VERSION.to_le_bytes());
        out.extend_from_slice(&(compiler.len() as u32).to_le_bytes());
        out.extend_from_slice(&[0; 8]); // file length, below
        out.extend_from_slice(&[0; 4]); // checksum, below
        out.extend_from_slice(&(self.sections.len() as u32).to_le_bytes());
        out.extend_from_slice(&source_hash);
        out.extend_from_slice(compiler);
        out.resize(table_at, 0);
        let mut placed = Vec::with_capacity(self.sections.len());
        for (kind, bytes) in &self.sections {
            offset = offset.div_ceil(8) * 8;
            placed.push(offset);
            out.extend_from_slice(&kind.code().to_le_bytes());
            out.extend_from_slice(&0u32.to_le_bytes());
            out.extend_from_slice(&(offset as u64).to_le_bytes());
            out.extend_from_slice(&(bytes.len() as u64).to_le_bytes());
            offset += bytes.len();
        }
        for ((_, bytes), at) in self.sections.iter().zip(placed) {
            out.resize(at, 0);
            out.extend_from_slice(bytes);
        }
        let len = out.len() as u64;
        out[16..24].copy_from_slice(&len.to_le_bytes());
        let sum = checksum(&out);
        out[24..28].copy_from_slice(&sum.to_le_bytes());
        out
    }
}

/// CRC-32 of the file without its checksum field.
pub fn checksum(file: &[u8]) -> u32 {
    let mut h = crc32fast::Hasher::new();
    h.update(&file[..24.min(file.len())]);
    if file.len() > 28 {
        h.update(&file[28..]);
    }
    h.finalize()
}

fn u32_at(b: &[u8], at: usize) -> u32 {
    let mut x = [0; 4];
    x.copy_from_slice(&b[at..at + 4]);
    u32::from_le_bytes(x)
}

fn u64_at(b: &[u8], at: usize) -> u64 {
    let mut x = [0; 8];
    x.copy_from_slice(&b[at..at + 8]);
    u64::from_le_bytes(x)
}

/// Parses and verifies the header of a whole file.
pub fn read_header(file: &[u8]) -> Result<Header, ArtifactError> {
    if file.len() < FIXED_HEADER {
        return Err(ArtifactError::Truncated { len: file.len() as u64, expected: FIXED_HEADER as u64 });
    }
    if file[..8] != MAGIC {
        return Err(ArtifactError::NotAnArtifact);
    }
    let version = u32_at(file, 8);
    if version != FORMAT_VERSION {
        return Err(ArtifactError::Version { found: version, supported: FORMAT_VERSION });
    }
    let declared = u64_at(file, 16);
    if declared != file.len() as u64 {
        return Err(ArtifactError::Truncated { len: file.len() as u64, expected: declared });
    }
    let stored = u32_at(file, 24);
    let actual = checksum(file);
    if stored != actual {
        return Err(ArtifactError::Checksum { stored, actual });
    }
    // From here on the bytes are as written; bounds are still checked so
    // that a file from a buggy writer cannot make the reader panic.
    let compiler_len = u32_at(file, 12) as usize;
    let count = u32_at(file, 28) as usize;
    let table_at = FIXED_HEADER + compiler_len.div_ceil(8) * 8;
    let table_end = count.checked_mul(SECTION_ENTRY).and_then(|n| n.checked_add(table_at));
    let Some(table_end) = table_end.filter(|end| *end <= file.len() && compiler_len <= 255) else {
        return Err(ArtifactError::Malformed("the section table does not fit in the file".into()));
    };
    let compiler = String::from_utf8_lossy(&file[FIXED_HEADER..FIXED_HEADER + compiler_len]).into_owned();
    let mut source_hash = [0; 32];
    source_hash.copy_from_slice(&file[32..64]);
    let mut sections = Vec::with_capacity(count);
    for i in 0..count {
        let at = table_at + i * SECTION_ENTRY;
        let kind = SectionKind::from_code(u32_at(file, at))
            .ok_or_else(|| ArtifactError::Malformed(format!("section {i} has an unknown kind")))?;
        let (offset, len) = (u64_at(file, at + 8), u64_at(file, at + 16));
        if offset < table_end as u64 || offset.checked_add(len).is_none_or(|end| end > file.len() as u64) {
            return Err(ArtifactError::Malformed(format!("section {i} lies outside the file")));
        }
        sections.push(Section { kind, offset, len });
    }
    Ok(Header { version, compiler, source_hash, checksum: stored, sections })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Vec<u8> {
        let mut w = ContainerWriter::new();
        w.add(SectionKind::Graph, b"graph bytes".to_vec());
        w.add(SectionKind::Values, vec![7; 13]);
        w.finish("mailc 0.1.0", [9; 32])
    }

    #[test]
    fn round_trips_and_is_deterministic() {
        let file = sample();
        assert_eq!(file, sample());
        let h = read_header(&file).unwrap();
        assert_eq!(h.compiler, "mailc 0.1.0");
        assert_eq!(h.source_hash, [9; 32]);
        assert_eq!(h.sections.len(), 2);
        let s = h.sections[0];
        assert_eq!(&file[s.offset as usize..(s.offset + s.len) as usize], b"graph bytes");
        assert!(h.sections.iter().all(|s| s.offset % 8 == 0));
    }

    #[test]
    fn every_header_field_and_every_byte_is_checked() {
        let file = sample();
        assert!(matches!(read_header(&file[..10]), Err(ArtifactError::Truncated { .. })));
        assert!(matches!(read_header(&file[..file.len() - 1]), Err(ArtifactError::Truncated { .. })));
        let mut bad = file.clone();
        bad[0] = b'X';
        assert!(matches!(read_header(&bad), Err(ArtifactError::NotAnArtifact)));
        let mut bad = file.clone();
        bad[8] = 99;
        assert!(matches!(read_header(&bad), Err(ArtifactError::Version { found: 99, .. })));
        // Any other single flipped byte is caught by the length or the checksum.
        for i in 12..file.len() {
            let mut bad = file.clone();
            bad[i] ^= 0x40;
            assert!(read_header(&bad).is_err(), "flipped byte {i} not detected");
        }
    }
}
