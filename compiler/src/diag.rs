//! Diagnostics: every problem the front end finds, as data.
//!
//! A diagnostic has a stable [`Code`], a primary span with a label,
//! labels on related spans (the other definition, each hop of a cycle)
//! and a help line. Messages follow Cedar's rules: lowercase, no final
//! period, user input in backticks, the explanation in `help`, never a
//! Rust type name. Rendering (miette, JSON, SARIF) is the CLI's job; this
//! module only builds the data. Codes are documented, with a failing
//! example and its fix, in `docs/diagnostics.md`; a code once published
//! keeps its meaning.

use mailc_lang::Span;
use serde::Serialize;

/// How bad a diagnostic is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// The policy is accepted, but something looks wrong.
    Warning,
    /// The policy is refused.
    Error,
}

macro_rules! codes {
    ($( $variant:ident = $code:literal, $slug:literal, $sev:ident, $summary:literal; )*) => {
        /// The stable diagnostic codes.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum Code { $( #[doc = $summary] $variant, )* }

        impl Code {
            /// Every code, in order.
            pub const ALL: &'static [Code] = &[ $( Code::$variant, )* ];

            /// `E0101`
            pub fn as_str(self) -> &'static str {
                match self { $( Code::$variant => $code, )* }
            }

            /// `undefined-name`
            pub fn slug(self) -> &'static str {
                match self { $( Code::$variant => $slug, )* }
            }

            /// Error or warning.
            pub fn severity(self) -> Severity {
                match self { $( Code::$variant => Severity::$sev, )* }
            }

            /// One line saying what the code means.
            pub fn summary(self) -> &'static str {
                match self { $( Code::$variant => $summary, )* }
            }
        }
    };
}

codes! {
    Syntax = "E0001", "syntax-error", Error, "the text does not follow the grammar";
    UnreadableFile = "E0002", "unreadable-file", Error, "a policy, include or table file cannot be read";
    IncludeCycle = "E0003", "include-cycle", Error, "files include each other in a circle";
    UndefinedName = "E0101", "undefined-name", Error, "a name is used but never declared";
    DuplicateName = "E0102", "duplicate-name", Error, "two declarations share a name";
    WrongKind = "E0103", "wrong-kind", Error, "a name refers to the wrong kind of thing";
    TypeMismatch = "E0104", "type-mismatch", Error, "a table's key or value type does not fit its use";
    UnknownSetting = "E0105", "unknown-setting", Error, "a setting that mailc does not know";
    InvalidSetting = "E0106", "invalid-setting", Error, "a setting's value has the wrong type or range";
    DuplicateSetting = "E0107", "duplicate-setting", Error, "a setting is given twice";
    InvalidLiteral = "E0108", "invalid-literal", Error, "an address, domain, network, reply or number is malformed";
    InvalidTemplate = "E0109", "invalid-template", Error, "a text template uses an unknown or unavailable placeholder";
    UnknownWord = "E0110", "unknown-word", Error, "a class, key kind, format, transport kind or stage that does not exist";
    UnknownOption = "E0111", "unknown-option", Error, "an option that the transport or block list does not take";
    MissingOption = "E0112", "missing-option", Error, "a transport lacks a target or option it needs";
    UnknownSubject = "E0113", "unknown-subject", Error, "a condition tests something that does not exist";
    StageMismatch = "E0114", "stage-mismatch", Error, "a condition tests something not known yet at this stage";
    InvalidLookup = "E0115", "invalid-lookup", Error, "a lookup order names a key form the table cannot have";
    InvalidRegexp = "E0116", "invalid-regexp", Error, "a regular expression does not compile";
    ReplyClass = "E0117", "reply-class", Error, "a reply code does not fit its action";
    InvalidOptionValue = "E0118", "invalid-option-value", Error, "an option of a transport or block list has a value of the wrong kind";
    DomainClasses = "E0201", "domain-in-two-classes", Error, "a domain belongs to more than one domain class";
    ConflictingKeys = "E0202", "conflicting-keys", Error, "a table has the same key twice with different values";
    TableSyntax = "E0203", "table-syntax", Error, "a line of a table file does not follow its format";
    InvalidTableValue = "E0204", "invalid-table-value", Error, "a table entry's key or value is not of the table's type";
    ExpansionCycle = "E0301", "expansion-cycle", Error, "aliases or virtual aliases expand in a circle";
    FanoutExceeded = "E0302", "fanout-exceeded", Error, "an expansion yields more recipients than the limit";
    OpenRelay = "E0303", "open-relay", Error, "an untrusted client can relay to any domain";
    MissingDefault = "E0304", "missing-default", Error, "a rule list has no visible default";
    NoDecision = "E0305", "no-decision", Error, "a recipient rule can end without a decision";
    DuplicateBlock = "E0306", "duplicate-block", Error, "a block that may appear once appears twice";
    DepthExceeded = "E0307", "depth-exceeded", Error, "an expansion is nested deeper than the limit";
    UnusedName = "W0001", "unused-name", Warning, "a declared name is never used";
    UnusedTransport = "W0002", "unused-transport", Warning, "a transport is never used";
    UnreachableRule = "W0003", "unreachable-rule", Warning, "a rule can never be reached";
    ShadowedRule = "W0004", "shadowed-rule", Warning, "an earlier rule always matches first";
    DuplicateKey = "W0005", "duplicate-key", Warning, "a table has the same key twice with the same value";
    OpenRelayAllowed = "W0006", "open-relay-allowed", Warning, "the policy explicitly allows an open relay";
    EmptySet = "W0007", "empty-set", Warning, "a set or table has no entries";
    NeedlessOptOut = "W0008", "needless-opt-out", Warning, "`allow_open_relay` is set, but the policy is not an open relay";
}

/// A span with a label.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Label {
    /// What is pointed at.
    pub span: Span,
    /// What to say there.
    pub text: String,
}

/// One problem.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnostic {
    /// The stable code.
    pub code: Code,
    /// The headline: lowercase, no final period.
    pub message: String,
    /// Where the problem is.
    pub primary: Label,
    /// Related places, in the order a reader should visit them.
    pub labels: Vec<Label>,
    /// How to fix it.
    pub help: Option<String>,
}

impl Diagnostic {
    /// A diagnostic with a primary label.
    pub fn new(code: Code, span: Span, message: impl Into<String>, label: impl Into<String>) -> Diagnostic {
        Diagnostic {
            code,
            message: message.into(),
            primary: Label { span, text: label.into() },
            labels: Vec::new(),
            help: None,
        }
    }

    /// Adds a related label.
    pub fn label(mut self, span: Span, text: impl Into<String>) -> Diagnostic {
        self.labels.push(Label { span, text: text.into() });
        self
    }

    /// Sets the help line.
    pub fn help(mut self, help: impl Into<String>) -> Diagnostic {
        self.help = Some(help.into());
        self
    }

    /// Error or warning.
    pub fn severity(&self) -> Severity {
        self.code.severity()
    }
}

/// The closest candidate to a misspelled word, for "did you mean" help.
pub fn did_you_mean<'a>(word: &str, candidates: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    // Names are short; a long word is nobody's typo, and the distance is
    // quadratic in the lengths.
    if word.len() > 64 {
        return None;
    }
    candidates
        .into_iter()
        .filter(|c| c.len().abs_diff(word.len()) <= 3)
        .map(|c| (edit_distance(word, c), c))
        .filter(|(d, c)| *d <= 2.max(c.len() / 3) && *d < c.len())
        .min_by_key(|(d, _)| *d)
        .map(|(_, c)| c)
}

fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    let mut cur: Vec<usize> = Vec::with_capacity(b.len() + 1);
    for (i, ca) in a.chars().enumerate() {
        cur.clear();
        cur.push(i + 1);
        for (j, cb) in b.iter().enumerate() {
            let cost = usize::from(ca != *cb);
            cur.push((prev[j] + cost).min(prev[j + 1] + 1).min(cur[j] + 1));
        }
        std::mem::swap(&mut prev, &mut cur);
    }
    prev[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_unique_and_well_formed() {
        let mut seen = std::collections::HashSet::new();
        for code in Code::ALL {
            assert!(seen.insert(code.as_str()), "{} twice", code.as_str());
            assert!(seen.insert(code.slug()), "{} twice", code.slug());
            let prefix = if code.severity() == Severity::Error { 'E' } else { 'W' };
            assert!(code.as_str().starts_with(prefix), "{}", code.as_str());
        }
    }

    #[test]
    fn suggestions_find_near_misses_only() {
        assert_eq!(did_you_mean("hostnme", ["hostname", "banner"]), Some("hostname"));
        assert_eq!(did_you_mean("xyz", ["hostname", "banner"]), None);
    }
}
