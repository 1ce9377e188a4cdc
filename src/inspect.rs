//! `mailc inspect`: what an artifact holds.

use std::path::PathBuf;

use mailc_artifact::graph::Storage;
use mailc_artifact::{Artifact, SectionKind};

/// Show what an artifact holds: its header (format, compiler, hash of the
/// sources), every table, domain set and network with its entry count and
/// size, and the size of the decision graph.
///
/// The artifact is verified first (magic, version, size, checksum); a
/// damaged one is refused with the reason and exit status 1.
#[derive(clap::Args)]
#[command(after_help = "Example:\n  mailc inspect /var/lib/mailc/policy.mca")]
pub struct Args {
    /// The artifact to show.
    artifact: PathBuf,
}

pub fn run(args: Args) -> u8 {
    let artifact = match Artifact::open(&args.artifact) {
        Ok(a) => a,
        Err(e) => {
            eprintln!("error: `{}`: {e}", args.artifact.display());
            return 1;
        }
    };
    print!("{}", describe(&artifact));
    0
}

fn size(artifact: &Artifact, section: u32) -> u64 {
    artifact.header().sections.get(section as usize).map_or(0, |s| s.len)
}

/// The text `mailc inspect` prints.
pub fn describe(a: &Artifact) -> String {
    let h = a.header();
    let g = a.graph();
    let mut out = String::new();
    let graph_bytes = h.sections.first().filter(|s| s.kind == SectionKind::Graph).map_or(0, |s| s.len);
    out.push_str(&format!("format:        version {}\n", h.version));
    out.push_str(&format!("compiler:      {}\n", h.compiler));
    out.push_str(&format!("sources:       sha256 {}\n", a.source_hash()));
    out.push_str(&format!(
        "size:          {} bytes, {} sections, crc32 {:08x}\n",
        a.len(),
        h.sections.len(),
        h.checksum
    ));
    for f in &g.files {
        out.push_str(&format!("  file         {f}\n"));
    }
    out.push_str(&format!(
        "graph:         {graph_bytes} bytes; {} recipient rules, {} stages with {} rules, {} rewrites, {} copies, {} tests\n",
        g.recipient.len(),
        g.stages.len(),
        g.stages.iter().map(|s| s.rules.len()).sum::<usize>(),
        g.rewrite.len(),
        g.copies.len(),
        g.tests.len(),
    ));
    if !g.tables.is_empty() {
        out.push_str("tables:\n");
        for t in &g.tables {
            let (how, keys) = match t.storage {
                Storage::Map { keys } => ("fst", size(a, keys)),
                Storage::Cidr { ranges } => ("cidr ranges", size(a, ranges)),
                Storage::Regexp { patterns } => ("patterns", size(a, patterns)),
            };
            let ty = match (&t.value, t.list) {
                (None, _) => t.key.clone(),
                (Some(v), true) => format!("{} -> [{v}]", t.key),
                (Some(v), false) => format!("{} -> {v}", t.key),
            };
            out.push_str(&format!(
                "  {:<20} {:<24} {:>9} entries  {how} {} bytes, values {} bytes\n",
                t.name,
                ty,
                t.len,
                keys,
                size(a, t.values)
            ));
        }
    }
    if !g.domain_sets.is_empty() {
        out.push_str("domain sets:\n");
        for d in &g.domain_sets {
            let class = d.class.as_deref().unwrap_or("-");
            out.push_str(&format!(
                "  {:<20} {:<24} {:>9} domains  fst {} bytes\n",
                d.name,
                class,
                d.len,
                size(a, d.members)
            ));
        }
    }
    if !g.networks.is_empty() {
        out.push_str("networks:\n");
        for n in &g.networks {
            out.push_str(&format!("  {:<20} {:>9} ranges\n", n.name, size(a, n.ranges) / 40));
        }
    }
    if !g.transports.is_empty() {
        out.push_str("transports:\n");
        for t in &g.transports {
            out.push_str(&format!("  {:<20} {} {}\n", t.name, t.kind, t.target.as_deref().unwrap_or("")));
        }
    }
    out
}
