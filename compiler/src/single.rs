//! One table file on its own: what `mailc table build` and `mailc table
//! query` compile (postmap's job).
//!
//! A table file is checked and lowered exactly as it would be inside a
//! policy, so that a key that `mailc table query` finds is the key the
//! engine finds: the file is named by a tiny policy held in memory
//! (`table NAME : KEY -> text = FORMAT "FILE"` plus the `recipient` block
//! every policy needs), that policy is checked, and its table lowered into
//! a standalone artifact. The synthetic policy lives in the table file's
//! directory, so diagnostics name the table file as the user wrote its
//! path, and the artifact's sources are the file's name and text (the same
//! file gives the same bytes from anywhere). Diagnostics about the
//! synthetic policy itself (the table is unused) are dropped: only the
//! table file's own problems are reported.
//!
//! [`normalize_key`] gives a key the lookup form the table's key kind
//! stores (lowercase, A-labels, no trailing dot), for exact lookups like
//! `postmap -q`.

use std::path::{Path, PathBuf};

use crate::check::{check_text, Checked};
use crate::files::read_text;
use crate::load::LoadError;
use crate::lower::{self, LowerError};
pub use crate::tables::Format;

/// The name of the synthetic policy, as it appears among an artifact's
/// files (it is never read from disk).
pub const SYNTHETIC: &str = "(table build)";

/// Why a table file cannot be built at all (as opposed to a file with
/// problems, which are diagnostics in [`Built::checked`]).
#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    /// The table file cannot be read.
    #[error(transparent)]
    Read(#[from] LoadError),
    /// The format and the key kind do not go together, or the path cannot
    /// be named in a policy.
    #[error("{0}")]
    Usage(String),
    /// Lowering failed (a checker gap, not the user's mistake).
    #[error(transparent)]
    Lower(#[from] LowerError),
}

/// A checked table file and, when it has no errors, its artifact.
#[derive(Debug)]
pub struct Built {
    /// The check: the table file's diagnostics (errors and warnings).
    pub checked: Checked,
    /// The artifact's bytes; `None` when the file has errors.
    pub artifact: Option<Vec<u8>>,
    /// The table's name in the artifact (from the file's name).
    pub name: String,
}

/// The key kind a format implies when none is given: `local` for aliases,
/// `cidr` and `regexp` for those formats, `address` otherwise.
pub fn default_key(format: Format) -> &'static str {
    match format {
        Format::Aliases => "local",
        Format::Cidr => "cidr",
        Format::Regexp => "regexp",
        _ => "address",
    }
}

/// The format word of a policy (`postfix`, ..., `file`).
pub fn format_word(format: Format) -> &'static str {
    match format {
        Format::Postfix => "postfix",
        Format::Tsv => "tsv",
        Format::Aliases => "aliases",
        Format::Cidr => "cidr",
        Format::Regexp => "regexp",
        Format::List => "file",
    }
}

/// Whether a format can hold a key kind (the checker's rules, said before
/// anything is read).
pub fn check_fits(format: Format, key: &str) -> Result<(), String> {
    if !mailc_stdlib::KEY_KINDS.iter().any(|(k, _)| *k == key) {
        return Err(format!(
            "`{key}` is not a key kind; key kinds are `address`, `local`, `domain`, `cidr` and `regexp`"
        ));
    }
    let problem = match (format, key) {
        (Format::Cidr, k) if k != "cidr" => "a `cidr` file needs key kind `cidr`",
        (Format::Regexp, k) if k != "regexp" => "a `regexp` file needs key kind `regexp`",
        (Format::Aliases, k) if k != "local" => "an `aliases` file needs key kind `local`",
        (f, "cidr") if !matches!(f, Format::Cidr | Format::List) => "key kind `cidr` needs a `cidr` or `file` table",
        (f, "regexp") if f != Format::Regexp => "key kind `regexp` needs a `regexp` table",
        _ => return Ok(()),
    };
    Err(problem.to_string())
}

/// A table name from the file's name: letters, digits, `_` and `-`,
/// starting with a letter, not a reserved word; `map` otherwise.
fn table_name(path: &Path) -> String {
    let stem = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let stem = stem.split('.').next().unwrap_or("");
    let name: String =
        stem.chars().map(|c| if c.is_ascii_alphanumeric() || c == '_' || c == '-' { c } else { '_' }).collect();
    let starts_well = name.starts_with(|c: char| c.is_ascii_alphabetic());
    if !starts_well || mailc_lang::parser::RESERVED.contains(&name.as_str()) {
        "map".to_string()
    } else {
        name
    }
}

/// The policy text that names the table file `file` (a path relative to
/// the synthetic policy, which sits in the same directory).
fn synthetic_policy(name: &str, format: Format, key: &str, file: &str) -> String {
    let value = match format {
        Format::List => String::new(),
        Format::Aliases => " -> [target]".to_string(),
        _ => " -> text".to_string(),
    };
    let source = match format {
        Format::List => format!("file \"{}\"", mailc_lang::parser::escape(file)),
        f => format!("{} \"{}\"", format_word(f), mailc_lang::parser::escape(file)),
    };
    format!(
        "table {name} : {key}{value} = {source}\n\nrecipient {{\n  default => reject 554 5.7.1 \"no mail here\"\n}}\n"
    )
}

/// Checks the table file at `path`, read as `format` with keys of kind
/// `key`, and lowers it into a standalone artifact when it has no errors.
pub fn build_table(path: &Path, format: Format, key: &str) -> Result<Built, BuildError> {
    check_fits(format, key).map_err(BuildError::Usage)?;
    // Read once up front so that an unreadable file is an I/O error with
    // its reason, not a diagnostic pointing into the synthetic policy.
    read_text(path).map_err(|error| LoadError { path: path.to_path_buf(), error })?;
    let file = path
        .file_name()
        .and_then(|n| n.to_str())
        .ok_or_else(|| BuildError::Usage(format!("`{}` does not name a file with a UTF-8 name", path.display())))?;
    let dir = path.parent().map(Path::to_path_buf).unwrap_or_default();
    let root: PathBuf = dir.join(SYNTHETIC);
    let name = table_name(path);
    let text = synthetic_policy(&name, format, key, file);
    let mut checked = check_text(&root, &text);
    // Keep only the table file's problems: the synthetic policy is ours
    // (its table is "unused"). Its own errors would be our bug: keep those.
    let root_id = checked.sources.files().next().map(|(id, _)| id);
    checked
        .diagnostics
        .retain(|d| Some(d.primary.span.file) != root_id || d.severity() == crate::diag::Severity::Error);
    let artifact = if checked.has_errors() { None } else { Some(lower::compile(&checked)?) };
    Ok(Built { checked, artifact, name })
}

/// Appends the lookup form of `key` for a table of key kind `kind` to
/// `out` (as the checker normalises the keys it stores: lowercase,
/// A-labels, no trailing dot; a cidr key is an address; a regexp key is
/// kept as given). On error `out` may hold a partial key.
pub fn normalize_key(kind: &str, key: &str, out: &mut String) -> Result<(), String> {
    match kind {
        // A cidr table is asked about one address.
        "cidr" => {
            let ip: std::net::IpAddr = key.parse().map_err(|_| format!("`{key}` is not an IP address"))?;
            use std::fmt::Write;
            let _ = write!(out, "{ip}");
            Ok(())
        }
        _ => crate::check::normalize_key(kind, key, out),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(kind: &str, k: &str) -> Result<String, String> {
        let mut out = String::new();
        normalize_key(kind, k, &mut out).map(|_| out)
    }

    #[test]
    fn keys_take_the_stored_form() {
        assert_eq!(key("address", "Alice@Example.COM.").unwrap(), "alice@example.com");
        assert_eq!(key("address", "@Example.COM").unwrap(), "@example.com");
        assert_eq!(key("address", "Postmaster@").unwrap(), "postmaster@");
        assert_eq!(key("address", "Example.COM").unwrap(), "example.com");
        assert_eq!(key("address", "bücher.example").unwrap(), "xn--bcher-kva.example");
        assert_eq!(key("local", "Alice+Tag").unwrap(), "alice+tag");
        assert_eq!(key("domain", ".Example.COM.").unwrap(), ".example.com");
        assert_eq!(key("cidr", "192.0.2.1").unwrap(), "192.0.2.1");
        assert_eq!(key("regexp", "Any Thing").unwrap(), "Any Thing");
        assert!(key("address", "a b@c").is_err());
        assert!(key("cidr", "192.0.2.0/24").is_err());
    }

    #[test]
    fn formats_and_key_kinds_must_fit() {
        assert!(check_fits(Format::Postfix, "address").is_ok());
        assert!(check_fits(Format::List, "cidr").is_ok());
        assert!(check_fits(Format::Aliases, "address").is_err());
        assert!(check_fits(Format::Postfix, "cidr").is_err());
        assert!(check_fits(Format::Tsv, "regexp").is_err());
        assert!(check_fits(Format::Postfix, "adress").is_err());
    }

    #[test]
    fn names_come_from_the_file_name() {
        assert_eq!(table_name(Path::new("/etc/postfix/virtual")), "virtual");
        assert_eq!(table_name(Path::new("client_access.cidr")), "client_access");
        assert_eq!(table_name(Path::new("1st")), "map");
        assert_eq!(table_name(Path::new("domain")), "map");
    }
}
