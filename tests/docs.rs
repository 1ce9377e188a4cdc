//! The language reference is checked like code.
//!
//! Every ```` ```mailc ```` block of `docs/language.md` is a complete policy
//! that `mailc check` accepts without errors or warnings; a block marked
//! `mailc,fails` must have at least one error and one marked `mailc,warns`
//! warnings but no error. The first fenced policy of `README.md` is
//! checked too. Each example is written into a fresh temporary copy of
//! `docs/examples/`, so relative table paths (`aliases "aliases"`) resolve
//! to the files there.
//!
//! The examples must also show the whole language: every keyword of the
//! grammar, every setting, subject, flag, transport kind and option, key
//! kind, value type, table format, domain class, stage and lookup key form
//! of the standard library occurs in some passing example, in the position
//! where it means what it says (a flag in a condition, a setting at the
//! start of a line). The vocabulary comes from `mailc_stdlib` and the
//! grammar file, so a new construct fails this test until the reference
//! shows it. The reference tables (settings, subjects, flags) are checked
//! against the stdlib too, and every Postfix parameter of the design brief
//! must have a row in "From Postfix" whose mailc snippets occur in that
//! section's examples.

use std::fs;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};

use mailc_compiler::tables::Format;
use mailc_compiler::{check_file, Checked, Severity};
use mailc_stdlib::transports::TRANSPORTS;
use mailc_stdlib::{lookup, settings, subjects, DOMAIN_CLASSES, KEY_KINDS, PLACEHOLDERS, STAGES, VALUE_TYPES};

/// The Postfix parameters the design brief says the language must express.
const POSTFIX_PARAMETERS: &[&str] = &[
    "mydestination",
    "virtual_alias_domains",
    "virtual_alias_maps",
    "virtual_mailbox_domains",
    "virtual_mailbox_maps",
    "relay_domains",
    "relay_recipient_maps",
    "canonical_maps",
    "sender_canonical_maps",
    "recipient_canonical_maps",
    "canonical_classes",
    "masquerade_domains",
    "masquerade_exceptions",
    "alias_maps",
    "recipient_delimiter",
    "propagate_unmatched_extensions",
    "luser_relay",
    "local_recipient_maps",
    "relocated_maps",
    "transport_maps",
    "always_bcc",
    "sender_bcc_maps",
    "recipient_bcc_maps",
    "mynetworks",
    "smtpd_client_restrictions",
    "smtpd_helo_restrictions",
    "smtpd_sender_restrictions",
    "smtpd_relay_restrictions",
    "smtpd_recipient_restrictions",
    "smtpd_data_restrictions",
    "smtpd_end_of_data_restrictions",
    "smtpd_delay_reject",
    "check_client_access",
    "check_helo_access",
    "check_sender_access",
    "check_recipient_access",
    "check_sender_mx_access",
    "reject_unauth_destination",
    "reject_unknown_sender_domain",
    "reject_non_fqdn_sender",
    "reject_non_fqdn_recipient",
    "reject_rbl_client",
    "message_size_limit",
    "smtpd_recipient_limit",
    "maximal_queue_lifetime",
    "bounce_template_file",
    "smtpd_banner",
];

/// Placeholders meant for bounce texts (the `bounce_template` file), which
/// the reference documents in its placeholder table rather than in a
/// policy example.
const BOUNCE_ONLY_PLACEHOLDERS: &[&str] = &["days", "reason"];

/// Size and duration units of the lexical structure.
const SIZE_UNITS: &[&str] = &["B", "KB", "MB", "GB", "KiB", "MiB", "GiB"];
const DURATION_UNITS: &[&str] = &["s", "m", "h", "d", "w"];
const COMPARISONS: &[&str] = &[">", ">=", "<", "<=", "==", "!="];

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn read(path: &Path) -> String {
    fs::read_to_string(path).unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()))
}

// ------------------------------------------------------------ examples

/// What an example must do under `mailc check`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Expect {
    /// No diagnostics at all.
    Clean,
    /// At least one error.
    Fails,
    /// Warnings, but no error.
    Warns,
}

/// One fenced example.
#[derive(Debug, Clone)]
struct Example {
    /// `docs/language.md:123`, where the code starts.
    origin: String,
    /// The markdown section it is in (the last `## ` heading).
    section: String,
    expect: Expect,
    text: String,
}

/// Every fenced block of a markdown text: (info string, first code line,
/// section heading, text). An unclosed fence is a test failure.
fn fenced_blocks(markdown: &str, name: &str) -> Vec<(String, usize, String, String)> {
    let mut out = Vec::new();
    let mut section = String::new();
    let mut lines = markdown.lines().enumerate();
    while let Some((i, line)) = lines.next() {
        if let Some(h) = line.strip_prefix("## ") {
            section = h.trim().to_string();
        }
        let Some(info) = line.strip_prefix("```") else { continue };
        let mut text = String::new();
        let mut closed = false;
        for (_, l) in lines.by_ref() {
            if l.trim_end() == "```" {
                closed = true;
                break;
            }
            text.push_str(l);
            text.push('\n');
        }
        assert!(closed, "{name}:{}: the fence is never closed", i + 1);
        out.push((info.trim().to_string(), i + 2, section.clone(), text));
    }
    out
}

/// The `mailc` examples of the language reference.
fn reference_examples() -> Vec<Example> {
    let md = read(&root().join("docs/language.md"));
    let mut out = Vec::new();
    for (info, line, section, text) in fenced_blocks(&md, "docs/language.md") {
        let expect = match info.as_str() {
            "mailc" => Expect::Clean,
            "mailc,fails" => Expect::Fails,
            "mailc,warns" => Expect::Warns,
            other if other.starts_with("mailc") => {
                panic!("docs/language.md:{line}: unknown fence `{other}` (use mailc, mailc,fails or mailc,warns)")
            }
            _ => continue,
        };
        out.push(Example { origin: format!("docs/language.md:{line}"), section, expect, text });
    }
    assert!(out.len() >= 20, "docs/language.md has only {} mailc examples", out.len());
    out
}

/// The examples that compile (clean or with warnings): the ones that
/// count for coverage.
fn passing_examples() -> Vec<Example> {
    reference_examples().into_iter().filter(|e| e.expect != Expect::Fails).collect()
}

/// A temporary copy of `docs/examples/`, removed when dropped.
struct Sandbox {
    dir: PathBuf,
}

impl Sandbox {
    fn new() -> Sandbox {
        static COUNTER: AtomicUsize = AtomicUsize::new(0);
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        let dir = std::env::temp_dir().join(format!("mailc-docs-{}-{n}", std::process::id()));
        if dir.exists() {
            fs::remove_dir_all(&dir).unwrap_or_else(|e| panic!("cannot clear {}: {e}", dir.display()));
        }
        copy_tree(&root().join("docs/examples"), &dir);
        Sandbox { dir }
    }

    /// Writes `text` as a policy file in the sandbox and checks it.
    fn check(&self, file: &str, text: &str) -> Checked {
        let path = self.dir.join(file);
        fs::write(&path, text).unwrap_or_else(|e| panic!("cannot write {}: {e}", path.display()));
        check_file(&path).unwrap_or_else(|e| panic!("cannot check {}: {}", path.display(), e.error))
    }
}

impl Drop for Sandbox {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.dir);
    }
}

/// Copies the regular files and directories under `from` to `to`
/// (symbolic links and special files, which diagnostics examples may
/// hold on purpose, are left out).
fn copy_tree(from: &Path, to: &Path) {
    fs::create_dir_all(to).unwrap_or_else(|e| panic!("cannot create {}: {e}", to.display()));
    let entries = fs::read_dir(from).unwrap_or_else(|e| panic!("cannot list {}: {e}", from.display()));
    for entry in entries {
        let entry = entry.unwrap_or_else(|e| panic!("cannot list {}: {e}", from.display()));
        let kind = entry.file_type().unwrap_or_else(|e| panic!("cannot stat {}: {e}", entry.path().display()));
        let target = to.join(entry.file_name());
        if kind.is_dir() {
            copy_tree(&entry.path(), &target);
        } else if kind.is_file() {
            fs::copy(entry.path(), &target).unwrap_or_else(|e| panic!("cannot copy {}: {e}", entry.path().display()));
        }
    }
}

/// Every diagnostic as `file:line:col: severity CODE: message`, with its
/// help. Places in the example itself are given in the markdown file
/// (`origin` is `file.md:LINE` of the example's first line), so the
/// output points at the line to fix.
fn render(checked: &Checked, example: &Path, origin: &str) -> String {
    let prefix = format!("{}:", example.display());
    let (md, first) = origin.rsplit_once(':').map_or((origin, 1), |(f, l)| (f, l.parse::<usize>().unwrap_or(1)));
    checked
        .diagnostics
        .iter()
        .map(|d| {
            let severity = match d.severity() {
                Severity::Error => "error",
                Severity::Warning => "warning",
            };
            let mut location = checked.sources.location(d.primary.span);
            if let Some((line, col)) = location.strip_prefix(&prefix).and_then(|rest| rest.split_once(':')) {
                location = format!("{md}:{}:{col}", first + line.parse::<usize>().unwrap_or(1) - 1);
            }
            let help = d.help.as_deref().map(|h| format!("\n      help: {h}")).unwrap_or_default();
            format!("    {location}: {severity} {}: {}{help}\n", d.code.as_str(), d.message)
        })
        .collect()
}

/// Checks one example and returns a complaint, if any.
fn verify(sandbox: &Sandbox, index: usize, origin: &str, expect: Expect, text: &str) -> Option<String> {
    let file = format!("doc-example-{index:02}.mailc");
    let checked = sandbox.check(&file, text);
    let errors = checked.diagnostics.iter().filter(|d| d.severity() == Severity::Error).count();
    let warnings = checked.diagnostics.len() - errors;
    let wrong = match expect {
        Expect::Clean => !checked.diagnostics.is_empty(),
        Expect::Fails => errors == 0,
        Expect::Warns => errors > 0 || warnings == 0,
    };
    wrong.then(|| {
        let wanted = match expect {
            Expect::Clean => "no diagnostics",
            Expect::Fails => "at least one error",
            Expect::Warns => "warnings and no error",
        };
        let found = if checked.diagnostics.is_empty() {
            "    (none)\n".to_string()
        } else {
            render(&checked, &sandbox.dir.join(&file), origin)
        };
        format!("{origin}: expected {wanted}, got {errors} error(s) and {warnings} warning(s)\n{found}")
    })
}

#[test]
fn every_reference_example_checks_as_marked() {
    let sandbox = Sandbox::new();
    let failures: Vec<String> = reference_examples()
        .iter()
        .enumerate()
        .filter_map(|(i, e)| verify(&sandbox, i, &e.origin, e.expect, &e.text))
        .collect();
    assert!(failures.is_empty(), "{} example(s) of the reference are wrong:\n{}", failures.len(), failures.concat());
}

#[test]
fn the_fails_and_warns_examples_show_what_they_say() {
    let examples = reference_examples();
    let fails = examples.iter().filter(|e| e.expect == Expect::Fails).count();
    let warns = examples.iter().filter(|e| e.expect == Expect::Warns).count();
    assert!(fails >= 1 && warns >= 1, "expected failing and warning examples, got {fails} and {warns}");
    // Most examples are clean: a reference made of mistakes teaches little.
    assert!(fails + warns <= examples.len() / 5, "{fails} failing and {warns} warning examples is too many");
}

#[test]
fn the_readme_policy_checks_clean() {
    let md = read(&root().join("README.md"));
    let blocks = fenced_blocks(&md, "README.md");
    let (_, line, _, text) = blocks.first().expect("README.md has no fenced block");
    assert!(text.contains("recipient {"), "README.md:{line}: the first fenced block is not a policy");
    let sandbox = Sandbox::new();
    assert!(
        sandbox.dir.join("aliases").is_file(),
        "the README policy reads `aliases`; docs/examples/aliases must exist"
    );
    if let Some(failure) = verify(&sandbox, 0, &format!("README.md:{line}"), Expect::Clean, text) {
        panic!("{failure}");
    }
}

// ------------------------------------------------------------ coverage

/// A token of policy text (comments are dropped; a string is one `"` token
/// that keeps its body).
#[derive(Debug, Clone, PartialEq, Eq)]
struct Token {
    text: String,
    /// First token on its line.
    line_start: bool,
    /// For a string (`text` is `"`): its body as written, escapes kept.
    body: String,
}

fn is_word_start(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '@' | '+')
}

fn is_word_char(c: char) -> bool {
    is_word_start(c) || c == '-'
}

/// Splits policy text into words (`sender.domain`, `user+ext@domain`,
/// `10MB`) and operators (`=>`, `>=`, `{`); strings become `"`.
fn tokens(text: &str) -> Vec<Token> {
    let mut out = Vec::new();
    for line in text.lines() {
        let mut chars = line.char_indices().peekable();
        let mut first = true;
        while let Some((i, c)) = chars.next() {
            let mut body = String::new();
            let token = if c == '#' {
                break;
            } else if c.is_whitespace() {
                continue;
            } else if c == '"' {
                let mut end = line.len();
                while let Some((j, d)) = chars.next() {
                    match d {
                        '\\' => {
                            chars.next();
                        }
                        '"' => {
                            end = j;
                            break;
                        }
                        _ => {}
                    }
                }
                body = line[i + 1..end].to_string();
                "\"".to_string()
            } else if is_word_start(c) {
                let mut end = i + c.len_utf8();
                while let Some(&(j, d)) = chars.peek() {
                    if !is_word_char(d) {
                        break;
                    }
                    end = j + d.len_utf8();
                    chars.next();
                }
                line[i..end].to_string()
            } else if "=<>!-".contains(c) {
                let mut end = i + 1;
                while let Some(&(j, d)) = chars.peek() {
                    if !"=<>!".contains(d) {
                        break;
                    }
                    end = j + 1;
                    chars.next();
                }
                line[i..end].to_string()
            } else {
                c.to_string()
            };
            out.push(Token { text: token, line_start: first, body });
            first = false;
        }
    }
    out
}

/// The token streams of the passing examples.
fn example_tokens() -> Vec<Vec<Token>> {
    passing_examples().iter().map(|e| tokens(&e.text)).collect()
}

/// Whether some stream has a position where `pred(stream, index)` holds.
fn somewhere(streams: &[Vec<Token>], pred: impl Fn(&[Token], usize) -> bool) -> bool {
    streams.iter().any(|s| (0..s.len()).any(|i| pred(s, i)))
}

fn at(s: &[Token], i: usize) -> &str {
    s.get(i).map_or("", |t| t.text.as_str())
}

/// Collects the names for which `found` is false, for one message.
fn missing<'a>(names: impl IntoIterator<Item = &'a str>, found: impl Fn(&str) -> bool) -> Vec<&'a str> {
    names.into_iter().filter(|n| !found(n)).collect()
}

/// The `kw_` rules of the grammar: every keyword of the language.
fn grammar_keywords() -> Vec<String> {
    let grammar = read(&root().join("lang/src/policy.pest"));
    let keywords: Vec<String> = grammar
        .lines()
        .filter_map(|l| l.trim_start().strip_prefix("kw_"))
        .filter_map(|l| l.split_once('=').map(|(name, _)| name.trim().to_string()))
        .collect();
    assert!(keywords.len() > 40, "found only {} kw_ rules in policy.pest", keywords.len());
    keywords
}

/// The reserved words of the grammar.
fn reserved_words() -> Vec<String> {
    let grammar = read(&root().join("lang/src/policy.pest"));
    let start = grammar.find("reserved = @{").expect("policy.pest has a `reserved` rule");
    let body = &grammar[start..];
    let body = &body[..body.find("~ !ident_char").expect("the reserved rule ends with a word boundary")];
    let words: Vec<String> = body.split('"').skip(1).step_by(2).map(str::to_string).collect();
    assert!(words.len() > 40, "found only {} reserved words", words.len());
    words
}

#[test]
fn every_keyword_and_reserved_word_is_in_an_example() {
    let streams = example_tokens();
    let mut words = grammar_keywords();
    words.extend(reserved_words());
    words.sort();
    words.dedup();
    let absent = missing(words.iter().map(String::as_str), |w| somewhere(&streams, |s, i| at(s, i) == w));
    assert!(absent.is_empty(), "keywords no example of docs/language.md uses: {absent:?}");
    // The reserved words are listed in the prose, too.
    let md = read(&root().join("docs/language.md"));
    let reserved = reserved_words();
    let unlisted = missing(reserved.iter().map(String::as_str), |w| md.contains(&format!("`{w}`")));
    assert!(unlisted.is_empty(), "reserved words docs/language.md does not list: {unlisted:?}");
}

#[test]
fn every_setting_is_set_in_an_example() {
    let streams = example_tokens();
    let absent = missing(settings::SETTINGS.iter().map(|s| s.name), |name| {
        somewhere(&streams, |s, i| s[i].line_start && at(s, i) == name && at(s, i + 1) != "=")
    });
    assert!(absent.is_empty(), "settings no example sets: {absent:?}");
}

/// Whether the token at `i` is used as a condition atom's subject.
fn is_subject_use(s: &[Token], i: usize) -> bool {
    let next = at(s, i + 1);
    next == "in" || (next == "not" && at(s, i + 2) == "in") || COMPARISONS.contains(&next) || at(s, i - 1) == "for"
}

#[test]
fn every_subject_and_flag_is_tested_in_an_example() {
    let streams = example_tokens();
    let subjects = missing(subjects::SUBJECTS.iter().map(|s| s.path), |path| {
        somewhere(&streams, |s, i| at(s, i) == path && i > 0 && is_subject_use(s, i))
    });
    assert!(subjects.is_empty(), "subjects no example tests: {subjects:?}");
    let flags = missing(subjects::FLAGS.iter().map(|f| f.path), |path| {
        somewhere(&streams, |s, i| {
            at(s, i) == path
                && i > 0
                && ["if", "and", "or", "not", "("].contains(&at(s, i - 1))
                && !is_subject_use(s, i)
        })
    });
    assert!(flags.is_empty(), "flags no example tests: {flags:?}");
    let ops = missing(COMPARISONS.iter().copied(), |op| somewhere(&streams, |s, i| at(s, i) == op));
    assert!(ops.is_empty(), "comparisons no example uses: {ops:?}");
}

#[test]
fn every_stage_has_an_example() {
    let streams = example_tokens();
    let absent =
        missing(STAGES.iter().copied(), |st| somewhere(&streams, |s, i| at(s, i) == "on" && at(s, i + 1) == st));
    assert!(absent.is_empty(), "stages without an example: {absent:?}");
}

/// The index of the `}` that closes the `{` at `open`.
fn closing(s: &[Token], open: usize) -> usize {
    let mut depth = 0;
    for (j, t) in s.iter().enumerate().skip(open) {
        match t.text.as_str() {
            "{" => depth += 1,
            "}" => {
                depth -= 1;
                if depth == 0 {
                    return j;
                }
            }
            _ => {}
        }
    }
    s.len()
}

#[test]
fn every_transport_kind_and_option_is_declared_in_an_example() {
    let streams = example_tokens();
    // `transport NAME = KIND ["target"] [{ options }]`
    let declared = |kind: &str, option: Option<&str>| {
        somewhere(&streams, |s, i| {
            if at(s, i) != "transport" || at(s, i + 2) != "=" || at(s, i + 3) != kind {
                return false;
            }
            let Some(option) = option else { return true };
            let open = if at(s, i + 4) == "\"" { i + 5 } else { i + 4 };
            at(s, open) == "{"
                && s[open..closing(s, open)]
                    .iter()
                    .enumerate()
                    .any(|(k, t)| t.text == option && ["{", ","].contains(&s[open + k - 1].text.as_str()))
        })
    };
    let kinds = missing(TRANSPORTS.iter().map(|t| t.name), |k| declared(k, None));
    assert!(kinds.is_empty(), "transport kinds no example declares: {kinds:?}");
    let options: Vec<String> = TRANSPORTS
        .iter()
        .flat_map(|t| t.options.iter().map(move |o| (t.name, o.name)))
        .filter(|(kind, option)| !declared(kind, Some(option)))
        .map(|(kind, option)| format!("{kind} {{ {option} }}"))
        .collect();
    assert!(options.is_empty(), "transport options no example gives: {options:?}");
}

#[test]
fn every_table_type_format_and_domain_class_is_in_an_example() {
    let streams = example_tokens();
    // `table NAME : KIND [-> TYPE | -> [TYPE]] = SOURCE`
    let table = |pred: &dyn Fn(&[Token], usize) -> bool| {
        somewhere(&streams, |s, i| at(s, i) == "table" && at(s, i + 2) == ":" && pred(s, i))
    };
    let kinds = missing(KEY_KINDS.iter().map(|(k, _)| *k), |k| table(&|s, i| at(s, i + 3) == k));
    assert!(kinds.is_empty(), "key kinds no example declares: {kinds:?}");
    let value = |s: &[Token], i: usize| -> (String, bool) {
        match (at(s, i + 4), at(s, i + 5)) {
            ("->", "[") => (at(s, i + 6).to_string(), true),
            ("->", v) => (v.to_string(), false),
            _ => (String::new(), false),
        }
    };
    let types = missing(VALUE_TYPES.iter().map(|(t, _)| *t), |t| table(&|s, i| value(s, i).0 == t));
    assert!(types.is_empty(), "value types no example declares: {types:?}");
    assert!(table(&|s, i| value(s, i).1), "no example declares a table of lists `-> [type]`");
    assert!(table(&|s, i| at(s, i + 4) == "=" && at(s, i + 5) == "{"), "no example declares an inline set");
    // The source follows the `=` of the declaration.
    let source = |s: &[Token], i: usize| -> (String, String) {
        let eq = (i..s.len()).find(|&j| at(s, j) == "=").unwrap_or(s.len());
        (at(s, eq + 1).to_string(), at(s, eq + 2).to_string())
    };
    let formats = missing(Format::WORDS.iter().copied(), |f| table(&|s, i| source(s, i).0 == f));
    assert!(formats.is_empty(), "table formats no example reads: {formats:?}");
    assert!(table(&|s, i| source(s, i).1 == "directory"), "no example reads a table from a directory");
    assert!(table(&|s, i| source(s, i).0 == "{"), "no example declares an inline map");
    // `domains NAME : CLASS = ...` and the plain set.
    let classes = missing(DOMAIN_CLASSES.iter().map(|(c, _)| *c), |c| {
        somewhere(&streams, |s, i| at(s, i) == "domains" && at(s, i + 2) == ":" && at(s, i + 3) == c)
    });
    assert!(classes.is_empty(), "domain classes no example declares: {classes:?}");
    assert!(
        somewhere(&streams, |s, i| at(s, i) == "domains" && at(s, i + 2) == "="),
        "no example declares a domain set without class"
    );
    for what in ["network", "domains"] {
        let from_file = |s: &[Token], i: usize| {
            let eq = (i..s.len()).find(|&j| at(s, j) == "=").unwrap_or(s.len());
            at(s, i) == what && at(s, eq + 1) == "file"
        };
        assert!(somewhere(&streams, from_file), "no example reads a `{what}` set from a file");
    }
}

#[test]
fn every_lookup_key_form_is_in_a_lookup_clause() {
    let streams = example_tokens();
    let absent = missing(lookup::FORMS.iter().map(|f| f.word), |form| {
        somewhere(&streams, |s, i| {
            at(s, i) == form && (0..i).rev().take_while(|&j| at(s, j) != "]").any(|j| at(s, j) == "lookup")
        })
    });
    assert!(absent.is_empty(), "key forms no `lookup [...]` of an example names: {absent:?}");
}

#[test]
fn every_literal_kind_and_placeholder_is_in_an_example() {
    let examples = passing_examples();
    let streams: Vec<Vec<Token>> = examples.iter().map(|e| tokens(&e.text)).collect();
    let number_with = |unit: &str| {
        somewhere(&streams, |s, i| {
            at(s, i).strip_suffix(unit).is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
        })
    };
    let sizes = missing(SIZE_UNITS.iter().copied(), |u| number_with(u));
    assert!(sizes.is_empty(), "size units no example uses: {sizes:?}");
    let durations = missing(DURATION_UNITS.iter().copied(), |u| number_with(u));
    assert!(durations.is_empty(), "duration units no example uses: {durations:?}");
    assert!(somewhere(&streams, |s, i| at(s, i) == "per"), "no example writes a rate");
    let strings: Vec<&str> = streams.iter().flatten().filter(|t| t.text == "\"").map(|t| t.body.as_str()).collect();
    for escape in ["\\\"", "\\\\", "\\n", "\\t"] {
        assert!(strings.iter().any(|s| s.contains(escape)), "no string of an example uses the escape {escape}");
    }
    let all = examples.iter().map(|e| e.text.as_str()).collect::<String>();
    for (what, sample) in [("an IPv6 network", "::/"), ("a quoted network", "\"2001:db8"), ("a trailing comma", ",\n}")]
    {
        assert!(all.contains(sample), "no example writes {what}");
    }
    let placeholders =
        missing(PLACEHOLDERS.iter().map(|(p, _)| *p).filter(|p| !BOUNCE_ONLY_PLACEHOLDERS.contains(p)), |p| {
            strings.iter().any(|s| s.contains(&format!("{{{p}}}")))
        });
    assert!(placeholders.is_empty(), "placeholders no example uses: {placeholders:?}");
}

// ------------------------------------------------------------ reference tables

/// The cells of every markdown table row that starts with `` | `name` | ``
/// (a word like `helo` can head rows of several tables).
fn rows<'a>(md: &'a str, name: &str) -> Vec<Vec<&'a str>> {
    let start = format!("| `{name}` |");
    md.lines().filter(|l| l.starts_with(&start)).map(|l| l.split(" | ").map(str::trim).collect()).collect()
}

/// Whether some row for `name` satisfies `pred`.
fn has_row(md: &str, name: &str, pred: impl Fn(&[&str]) -> bool) -> bool {
    rows(md, name).iter().any(|cells| pred(cells))
}

#[test]
fn the_reference_tables_match_the_stdlib() {
    let md = read(&root().join("docs/language.md"));
    let mut problems = Vec::new();
    let mut expect = |ok: bool, problem: String| {
        if !ok {
            problems.push(problem);
        }
    };
    let cell_has = |cells: &[&str], text: &str| cells.iter().any(|c| c.contains(text));
    for s in settings::SETTINGS {
        expect(has_row(&md, s.name, |_| true), format!("setting `{}` has no row", s.name));
        if let Some(default) = s.default {
            expect(
                has_row(&md, s.name, |c| cell_has(c, &format!("`{default}`"))),
                format!("setting `{}`: the default `{default}` is not in its row", s.name),
            );
        }
        for p in s.postfix.into_iter().flat_map(|p| p.split(", ")) {
            expect(
                has_row(&md, s.name, |c| cell_has(c, &format!("`{p}`"))),
                format!("setting `{}`: Postfix `{p}` is not in its row", s.name),
            );
        }
    }
    let stage = |i: usize| format!("`{}`", STAGES[i]);
    for s in subjects::SUBJECTS {
        expect(
            has_row(&md, s.path, |c| c.contains(&stage(s.from_stage).as_str())),
            format!("subject `{}` has no row saying it is known from {}", s.path, stage(s.from_stage)),
        );
    }
    for f in subjects::FLAGS {
        expect(
            has_row(&md, f.path, |c| c.contains(&stage(f.from_stage).as_str())),
            format!("flag `{}` has no row saying it is known from {}", f.path, stage(f.from_stage)),
        );
    }
    for t in TRANSPORTS {
        expect(
            has_row(&md, t.name, |c| t.options.iter().all(|o| cell_has(c, &format!("`{}", o.name)))),
            format!("transport kind `{}` has no row naming all its options", t.name),
        );
    }
    for (p, _) in PLACEHOLDERS {
        expect(has_row(&md, &format!("{{{p}}}"), |_| true), format!("placeholder `{{{p}}}` has no row"));
    }
    let words = DOMAIN_CLASSES.iter().chain(KEY_KINDS).chain(VALUE_TYPES).map(|(w, _)| *w);
    for word in words.chain(STAGES.iter().copied()) {
        expect(has_row(&md, word, |_| true), format!("`{word}` has no row"));
    }
    for form in lookup::FORMS {
        let key = form.example.split([' ', ',']).next().unwrap_or("");
        expect(
            has_row(&md, form.word, |c| cell_has(c, key)),
            format!("key form `{}` has no row with its example `{key}`", form.word),
        );
    }
    assert!(problems.is_empty(), "docs/language.md disagrees with the stdlib:\n  {}", problems.join("\n  "));
}

/// Whitespace-normalised text, for comparing snippets with examples.
fn squeeze(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// The code spans of a markdown table cell.
fn code_spans(cell: &str) -> Vec<&str> {
    cell.split('`').skip(1).step_by(2).collect()
}

#[test]
fn every_postfix_parameter_has_a_translation_from_the_examples() {
    let md = read(&root().join("docs/language.md"));
    let section = "11. From Postfix";
    let examples: String = reference_examples()
        .iter()
        .filter(|e| e.section == section && e.expect == Expect::Clean)
        .map(|e| squeeze(&e.text) + "\n")
        .collect();
    assert!(!examples.is_empty(), "section \"{section}\" has no examples");
    let start = md.find(&format!("## {section}")).expect("docs/language.md has a \"From Postfix\" section");
    let text = &md[start..];
    let mut problems = Vec::new();
    for param in POSTFIX_PARAMETERS {
        let found = rows(text, param);
        let Some(cells) = found.first() else {
            problems.push(format!("`{param}` has no row"));
            continue;
        };
        let snippets = cells.get(1).map(|c| code_spans(c)).unwrap_or_default();
        if snippets.is_empty() {
            problems.push(format!("`{param}` has no mailc snippet"));
        }
        for snippet in snippets {
            if !examples.contains(&squeeze(snippet)) {
                problems.push(format!("`{param}`: `{snippet}` is in no example of the section"));
            }
        }
    }
    assert!(problems.is_empty(), "\"From Postfix\" is incomplete:\n  {}", problems.join("\n  "));
}
