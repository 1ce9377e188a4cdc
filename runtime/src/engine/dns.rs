//! The one resolver interface the engine asks DNS questions through.
//!
//! Conditions that need DNS (block lists, MX checks, "domain resolves")
//! call a [`Resolver`]; the daemon will pass one backed by
//! hickory-resolver, and tests and `mailc test` pass a [`StaticResolver`]
//! that knows only what it is told. The engine never opens a socket.

use std::collections::HashMap;

/// A DNS question.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Query {
    /// MX host names of a domain, by preference.
    Mx(String),
    /// A and AAAA addresses of a name.
    Addresses(String),
}

/// A DNS answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Answer {
    /// Records (names or addresses, as text).
    Records(Vec<String>),
    /// The name exists with no such records, or does not exist.
    None,
    /// No answer now (SERVFAIL, timeout): decisions that need it defer.
    TempFail,
}

/// Answers DNS questions.
pub trait Resolver {
    /// Answers one question.
    fn resolve(&self, q: &Query) -> Answer;
}

/// A resolver that knows only the records it is given; everything else
/// has no records.
#[derive(Debug, Clone, Default)]
pub struct StaticResolver {
    records: HashMap<Query, Answer>,
    test_points: bool,
}

impl StaticResolver {
    /// An empty resolver: no name has records.
    pub fn new() -> StaticResolver {
        StaticResolver::default()
    }

    /// A resolver that also answers the test points every DNS block list
    /// must list (RFC 5782 section 5): the IPv4 address 127.0.0.2 and the
    /// domain `test`, both with 127.0.0.2. `mailc test` uses it, so a
    /// policy's tests can show its block lists at work without DNS.
    pub fn with_test_points() -> StaticResolver {
        StaticResolver { test_points: true, ..StaticResolver::default() }
    }

    /// Adds an answer.
    pub fn with(mut self, q: Query, a: Answer) -> StaticResolver {
        self.records.insert(q, a);
        self
    }
}

impl Resolver for StaticResolver {
    fn resolve(&self, q: &Query) -> Answer {
        let q = match q {
            Query::Mx(n) => Query::Mx(n.trim_end_matches('.').to_ascii_lowercase()),
            Query::Addresses(n) => Query::Addresses(n.trim_end_matches('.').to_ascii_lowercase()),
        };
        if let (true, Query::Addresses(name)) = (self.test_points, &q) {
            if name.starts_with("2.0.0.127.") || name.starts_with("test.") {
                return Answer::Records(vec!["127.0.0.2".to_string()]);
            }
        }
        self.records.get(&q).cloned().unwrap_or(Answer::None)
    }
}
