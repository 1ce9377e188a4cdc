//! The engine: one evaluator for `mailc test addr`, the policy's tests
//! and the daemon.
//!
//! [`Engine::load`] prepares an artifact once (fst maps and sets used in
//! place, regular expressions compiled, transports indexed by name);
//! [`Engine::resolve`] turns one recipient into final recipients or a
//! refusal, following the recipient rules (see `resolve`). A [`Trace`] is
//! filled only when one is passed, so resolution costs nothing extra when
//! nobody asks. The engine never does I/O: no DNS, no files, no sockets.

use std::collections::HashMap;

use mailc_artifact::graph::{self as g, Value};
use mailc_artifact::tables::{decode_ranges, ip_bits, Range};
use mailc_artifact::{Artifact, ArtifactError, Bytes};

pub mod address;
pub mod dns;
mod resolve;
pub mod rewrite;
pub mod session;
mod stages;
mod tables;

pub use resolve::{Disposition, Final, Reply, Resolution};
pub use stages::{Facts, Verdict};

/// Who is sending, from where: what templates and conditions may use.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Context {
    /// Envelope sender (`""` for the null sender).
    pub sender: String,
    /// Client IP address.
    pub client_ip: Option<String>,
    /// Client's verified reverse name.
    pub client_name: Option<String>,
    /// HELO name.
    pub helo: Option<String>,
    /// Authenticated user, if any.
    pub authenticated: Option<String>,
    /// TLS session.
    pub tls: bool,
}

/// One step of a trace.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TraceStep {
    /// Expansion depth (0 for the recipient itself).
    pub depth: usize,
    /// The rule or step it comes from, as `file:line: text`.
    pub origin: Option<String>,
    /// What happened.
    pub event: String,
}

/// What the engine did, step by step.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Trace {
    /// Steps in order.
    pub steps: Vec<TraceStep>,
}

/// A loaded artifact, ready to evaluate.
pub struct Engine {
    artifact: Artifact,
    tables: Vec<tables::Prepared>,
    sets: Vec<fst::Set<Bytes>>,
    networks: Vec<Vec<Range>>,
    transports: HashMap<String, u32>,
    delimiters: String,
    depth_limit: usize,
    fanout_limit: usize,
    our_addresses: Vec<u128>,
    pub(crate) origin_domain: String,
}

impl Engine {
    /// Prepares an artifact for evaluation.
    pub fn load(artifact: Artifact) -> Result<Engine, ArtifactError> {
        let g = artifact.graph();
        let tables = g.tables.iter().map(|t| tables::Prepared::load(&artifact, t)).collect::<Result<_, _>>()?;
        let sets = g.domain_sets.iter().map(|d| artifact.set(d.members)).collect::<Result<_, _>>()?;
        let networks =
            g.networks.iter().map(|n| decode_ranges(artifact.bytes(n.ranges).as_ref())).collect::<Result<_, _>>()?;
        let transports = g.transports.iter().enumerate().map(|(i, t)| (t.name.clone(), i as u32)).collect();
        let text = |name: &str| match g.setting(name) {
            Some(Value::Text(t)) => t.clone(),
            _ => String::new(),
        };
        let number = |name: &str, default: u64| match g.setting(name) {
            Some(Value::Number(n)) => *n,
            _ => default,
        };
        let our_addresses = match g.setting("our_addresses") {
            Some(Value::Addresses(list)) => list.iter().filter_map(|a| a.parse().ok()).map(ip_bits).collect(),
            _ => Vec::new(),
        };
        let origin_domain = [text("origin"), text("hostname")].into_iter().find(|t| !t.is_empty()).unwrap_or_default();
        Ok(Engine {
            delimiters: text("recipient_delimiter"),
            depth_limit: number("expansion_depth", 1000) as usize,
            fanout_limit: number("expansion_fanout", 1000) as usize,
            our_addresses,
            origin_domain,
            tables,
            sets,
            networks,
            transports,
            artifact,
        })
    }

    /// The decision graph.
    pub fn graph(&self) -> &g::Policy {
        self.artifact.graph()
    }

    /// The artifact's source hash, logged with every decision.
    pub fn source_hash(&self) -> String {
        self.artifact.source_hash()
    }

    /// `file:line: text` of an origin.
    pub fn cite(&self, o: &g::Origin) -> String {
        let file = self.graph().files.get(o.file as usize).map_or("?", String::as_str);
        format!("{file}:{}: {}", o.line, o.text)
    }

    /// A transport's name.
    pub fn transport_name(&self, i: u32) -> &str {
        self.graph().transports.get(i as usize).map_or("?", |t| t.name.as_str())
    }

    /// Whether a network holds an address.
    pub fn in_network(&self, network: u32, ip: &str) -> bool {
        let Ok(ip) = ip.parse() else { return false };
        self.networks.get(network as usize).is_some_and(|r| mailc_artifact::tables::in_ranges(r, ip_bits(ip)))
    }

    /// The class of a normalised domain: the class of the first classed
    /// domain set that holds it; address literals of our own addresses
    /// are local.
    pub fn domain_class(&self, domain: &str) -> Option<&str> {
        if let Some(lit) = domain.strip_prefix('[').and_then(|d| d.strip_suffix(']')) {
            let lit = lit.strip_prefix("ipv6:").unwrap_or(lit);
            let ours = lit.parse().ok().map(ip_bits).is_some_and(|ip| self.our_addresses.contains(&ip));
            return ours.then_some("local");
        }
        self.graph()
            .domain_sets
            .iter()
            .enumerate()
            .filter(|(_, d)| d.class.is_some())
            .find(|(i, _)| self.set_contains(*i as u32, domain))
            .and_then(|(_, d)| d.class.as_deref())
    }

    /// Whether a domain set holds a normalised domain (itself, or a parent
    /// written as `.parent`).
    pub fn set_contains(&self, set: u32, domain: &str) -> bool {
        let Some(s) = self.sets.get(set as usize) else { return false };
        s.contains(domain) || parents(domain).any(|p| s.contains(p))
    }
}

/// `.b.example.com`, `.example.com`, `.com` for `a.b.example.com`.
pub(crate) fn parents(domain: &str) -> impl Iterator<Item = &str> {
    domain.char_indices().filter(|(_, c)| *c == '.').map(move |(i, _)| &domain[i..])
}
