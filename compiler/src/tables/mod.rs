//! Table sources: reading the files that tables, domain sets and networks
//! are written in.
//!
//! Each format module turns the text of one file into [`RawEntry`]s with
//! spans, plus a [`Code::TableSyntax`] diagnostic for every line that does
//! not follow the format (all of them, not just the first). Readers know
//! only syntax: what a key or value *means* (an address, a route, a CIDR)
//! is checked by the compiler against the table's declared type. Readers
//! are linear in the file size and allocate only per entry, because a
//! virtual table can have a million lines.
//!
//! [`Code::TableSyntax`]: crate::diag::Code::TableSyntax

use mailc_lang::Span;

use crate::diag::Diagnostic;

pub mod aliases;
pub mod cidr;
mod lines;
pub mod list;
pub mod postfix;
pub mod regexp;
pub mod tsv;

/// The formats a table file can be written in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// Postfix map source (`key value`, `#` comments, continuation lines
    /// starting with whitespace), as read by `postmap`.
    Postfix,
    /// `key<TAB>value`, one per line, `#` comments.
    Tsv,
    /// `/etc/aliases`: `name: target, target`, continuation lines.
    Aliases,
    /// Postfix `cidr_table`: `network/prefix value`.
    Cidr,
    /// Postfix `regexp_table`: `/pattern/flags value`.
    Regexp,
    /// One key per line, `#` comments (domain sets, networks, key sets).
    List,
}

impl Format {
    /// The word that names the format in a policy.
    pub fn from_word(word: &str) -> Option<Format> {
        Some(match word {
            "postfix" => Format::Postfix,
            "tsv" => Format::Tsv,
            "aliases" => Format::Aliases,
            "cidr" => Format::Cidr,
            "regexp" => Format::Regexp,
            "file" => Format::List,
            _ => return None,
        })
    }

    /// Every format word, for help lines.
    pub const WORDS: &'static [&'static str] = &["postfix", "tsv", "aliases", "cidr", "regexp", "file"];
}

/// One entry as written in a table source.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RawEntry {
    /// The key as written, without surrounding syntax (for regexp: the
    /// pattern between the delimiters; for aliases: the name before `:`).
    pub key: String,
    /// Where the key is.
    pub key_span: Span,
    /// Regexp flags as written (`i`, `x`, `m`), with a leading `!` for a
    /// negated pattern (`!/re/`): only the
    /// regexp format sets them.
    pub flags: Option<String>,
    /// The value as written (continuation lines joined with one space),
    /// absent when the line has only a key.
    pub value: Option<String>,
    /// Where the value is (its first line when continued); the key's span
    /// when there is no value.
    pub value_span: Span,
}

/// What a reader returns: entries in file order and syntax problems.
#[derive(Debug, Default)]
pub struct Parsed {
    /// Entries in file order.
    pub entries: Vec<RawEntry>,
    /// One diagnostic per bad line.
    pub diagnostics: Vec<Diagnostic>,
}

/// Reads `text` (the contents of file `file`) in `format`.
pub fn read(format: Format, file: mailc_lang::FileId, text: &str) -> Parsed {
    match format {
        Format::Postfix => postfix::read(file, text),
        Format::Tsv => tsv::read(file, text),
        Format::Aliases => aliases::read(file, text),
        Format::Cidr => cidr::read(file, text),
        Format::Regexp => regexp::read(file, text),
        Format::List => list::read(file, text),
    }
}
