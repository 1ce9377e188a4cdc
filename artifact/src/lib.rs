//! mailc-artifact: the one file a policy compiles to.
//!
//! The format is owned here and only here: the compiler writes it with
//! [`container::ContainerWriter`] and the encoders of [`tables`]; the
//! runtime reads it with [`Artifact`]. An artifact is a header (magic,
//! format version, compiler version, SHA-256 of the sources, CRC-32), a
//! section table, the decision graph ([`graph::Policy`], postcard) and the
//! bulk sections: fst maps and sets, value arenas, address ranges and
//! patterns. Reading maps the file and uses tables in place; only the
//! graph is decoded into the heap. A wrong magic, version, size or
//! checksum is an [`ArtifactError`], never a panic.

use std::path::Path;
use std::sync::Arc;

pub mod container;
pub mod graph;
pub mod tables;

pub use container::{Header, Section, SectionKind};

/// Why an artifact cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum ArtifactError {
    /// The file could not be read.
    #[error("cannot read the artifact: {0}")]
    Io(#[from] std::io::Error),
    /// The magic is wrong.
    #[error("not a mailc artifact (wrong magic number)")]
    NotAnArtifact,
    /// Written by another format version.
    #[error("artifact format version {found}, but this mailc reads version {supported}: compile the policy again")]
    Version {
        /// In the file.
        found: u32,
        /// What this build reads.
        supported: u32,
    },
    /// Shorter (or longer) than its header says.
    #[error(
        "the artifact is {len} bytes but its header says {expected}: it is truncated or was not written completely"
    )]
    Truncated {
        /// Actual length.
        len: u64,
        /// Declared length.
        expected: u64,
    },
    /// The checksum does not match.
    #[error(
        "the artifact's checksum does not match (stored {stored:08x}, computed {actual:08x}): the file is corrupt"
    )]
    Checksum {
        /// In the header.
        stored: u32,
        /// Of the bytes.
        actual: u32,
    },
    /// Structurally wrong despite a good checksum (a writer bug).
    #[error("the artifact is malformed: {0}")]
    Malformed(String),
}

/// Where the bytes live: a read-only mapping of the file, or memory.
#[derive(Debug)]
enum Storage {
    Mapped(memmap2::Mmap),
    Heap(Vec<u8>),
}

impl AsRef<[u8]> for Storage {
    fn as_ref(&self) -> &[u8] {
        match self {
            Storage::Mapped(m) => m,
            Storage::Heap(v) => v,
        }
    }
}

/// A shared view of one section, usable by fst without copying.
#[derive(Debug, Clone)]
pub struct Bytes {
    storage: Arc<Storage>,
    start: usize,
    end: usize,
}

impl AsRef<[u8]> for Bytes {
    fn as_ref(&self) -> &[u8] {
        let all: &[u8] = (*self.storage).as_ref();
        &all[self.start..self.end]
    }
}

/// A loaded artifact.
#[derive(Debug)]
pub struct Artifact {
    storage: Arc<Storage>,
    header: Header,
    graph: graph::Policy,
}

impl Artifact {
    /// Maps and verifies the artifact at `path`.
    pub fn open(path: &Path) -> Result<Artifact, ArtifactError> {
        let file = std::fs::File::open(path)?;
        // SAFETY: the mapping is read-only and private to this process.
        // Artifacts are written to a new file and renamed into place, so a
        // mapped file is not modified underneath us; the checksum is
        // verified over the mapping before anything else reads it.
        let map = unsafe { memmap2::Mmap::map(&file)? };
        Artifact::from_storage(Storage::Mapped(map))
    }

    /// Verifies an artifact held in memory.
    pub fn from_bytes(bytes: Vec<u8>) -> Result<Artifact, ArtifactError> {
        Artifact::from_storage(Storage::Heap(bytes))
    }

    fn from_storage(storage: Storage) -> Result<Artifact, ArtifactError> {
        let header = container::read_header(storage.as_ref())?;
        let graph_section = header
            .sections
            .first()
            .filter(|s| s.kind == SectionKind::Graph)
            .ok_or_else(|| ArtifactError::Malformed("the first section is not the decision graph".into()))?;
        let graph = {
            let b = storage.as_ref();
            graph::Policy::decode(
                &b[graph_section.offset as usize..(graph_section.offset + graph_section.len) as usize],
            )?
        };
        let artifact = Artifact { storage: Arc::new(storage), header, graph };
        artifact.check_references()?;
        Ok(artifact)
    }

    /// Every section the graph names exists and has the right kind, so
    /// that lookups never meet a missing section.
    fn check_references(&self) -> Result<(), ArtifactError> {
        let want = |i: u32, kind: SectionKind| -> Result<(), ArtifactError> {
            match self.header.sections.get(i as usize) {
                Some(s) if s.kind == kind => Ok(()),
                _ => Err(ArtifactError::Malformed(format!("section {i} is missing or not {}", kind.name()))),
            }
        };
        for n in &self.graph.networks {
            want(n.ranges, SectionKind::Ranges)?;
        }
        for d in &self.graph.domain_sets {
            want(d.members, SectionKind::FstSet)?;
            fst::Set::new(self.bytes(d.members))
                .map_err(|e| ArtifactError::Malformed(format!("domain set `{}`: {e}", d.name)))?;
        }
        for t in &self.graph.tables {
            want(t.values, SectionKind::Values)?;
            match t.storage {
                graph::Storage::Map { keys } => {
                    want(keys, SectionKind::FstMap)?;
                    fst::Map::new(self.bytes(keys))
                        .map_err(|e| ArtifactError::Malformed(format!("table `{}`: {e}", t.name)))?;
                }
                graph::Storage::Cidr { ranges } => want(ranges, SectionKind::Ranges)?,
                graph::Storage::Regexp { patterns } => want(patterns, SectionKind::Patterns)?,
            }
        }
        Ok(())
    }

    /// The verified header.
    pub fn header(&self) -> &Header {
        &self.header
    }

    /// The decision graph.
    pub fn graph(&self) -> &graph::Policy {
        &self.graph
    }

    /// Total size in bytes.
    pub fn len(&self) -> usize {
        let all: &[u8] = (*self.storage).as_ref();
        all.len()
    }

    /// Whether the artifact is empty (never, once verified).
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// A section's bytes, shared (no copy).
    pub fn bytes(&self, section: u32) -> Bytes {
        let s = self.header.sections.get(section as usize).copied().unwrap_or(Section {
            kind: SectionKind::Values,
            offset: 0,
            len: 0,
        });
        Bytes { storage: self.storage.clone(), start: s.offset as usize, end: (s.offset + s.len) as usize }
    }

    /// The fst map of a table stored as a map.
    pub fn map(&self, section: u32) -> Result<fst::Map<Bytes>, ArtifactError> {
        fst::Map::new(self.bytes(section)).map_err(|e| ArtifactError::Malformed(e.to_string()))
    }

    /// The fst set of a domain set.
    pub fn set(&self, section: u32) -> Result<fst::Set<Bytes>, ArtifactError> {
        fst::Set::new(self.bytes(section)).map_err(|e| ArtifactError::Malformed(e.to_string()))
    }

    /// The SHA-256 of the sources, in hex, as logged with every decision.
    pub fn source_hash(&self) -> String {
        self.header.source_hash.iter().map(|b| format!("{b:02x}")).collect()
    }
}
