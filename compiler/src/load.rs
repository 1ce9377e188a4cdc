//! Loading a policy: the root file, its includes, and the table files
//! they name.
//!
//! Every file goes into one [`SourceMap`] so that a diagnostic can point
//! into any of them. Includes are resolved relative to the including
//! file, each file is loaded once, and a circle of includes is an error
//! that names every hop. Only the root file failing to load is fatal (the
//! caller reports it as an I/O problem); any other unreadable file is a
//! diagnostic with its path.

use std::path::{Path, PathBuf};

use mailc_lang::ast::{Item, Policy};
use mailc_lang::{parse_recovering, FileId, SourceMap, Span};

use crate::diag::{Code, Diagnostic};
use crate::files::{read_text, FileError};

/// The root policy could not be read.
#[derive(Debug, thiserror::Error)]
#[error("cannot read `{path}`: {error}")]
pub struct LoadError {
    /// The path given.
    pub path: PathBuf,
    /// Why.
    pub error: FileError,
}

/// Everything loaded for one compilation.
#[derive(Debug, Default)]
pub struct Loaded {
    /// All files, policy and table files alike.
    pub sources: SourceMap,
    /// Parsed policy files, root first, then includes in the order met.
    pub policies: Vec<(FileId, Policy)>,
    /// Syntax errors, unreadable includes, include cycles.
    pub diagnostics: Vec<Diagnostic>,
}

impl Loaded {
    /// Items of every policy file in include order (an included file's
    /// items come where its `include` stands).
    pub fn items(&self) -> Vec<&Item> {
        let mut out = Vec::new();
        if let Some((root, _)) = self.policies.first() {
            self.collect(*root, &mut out, &mut Vec::new());
        }
        out
    }

    fn collect<'a>(&'a self, file: FileId, out: &mut Vec<&'a Item>, stack: &mut Vec<FileId>) {
        let Some((_, policy)) = self.policies.iter().find(|(id, _)| *id == file) else { return };
        stack.push(file);
        for item in &policy.items {
            if let Item::Include(inc) = item {
                let path = resolve_relative(&self.sources.file(file).path, &inc.path);
                if let Some(id) = self.sources.find(&path) {
                    if !stack.contains(&id) && self.policies.iter().any(|(p, _)| *p == id) {
                        self.collect(id, out, stack);
                    }
                }
            } else {
                out.push(item);
            }
        }
        stack.pop();
    }
}

/// A path named in `from`, relative to `from`'s directory.
pub fn resolve_relative(from: &Path, path: &str) -> PathBuf {
    let path = Path::new(path);
    if path.is_absolute() {
        return path.to_path_buf();
    }
    from.parent().map_or_else(|| path.to_path_buf(), |dir| dir.join(path))
}

/// Loads the policy at `path` and everything it includes.
pub fn load(path: &Path) -> Result<Loaded, LoadError> {
    let text = read_text(path).map_err(|error| LoadError { path: path.to_path_buf(), error })?;
    Ok(load_text(path, &text))
}

/// Loads a policy whose root text is already in memory.
pub fn load_text(path: &Path, text: &str) -> Loaded {
    let mut loaded = Loaded::default();
    let root = loaded.sources.add(path, text);
    let mut stack = vec![(root, Span::default())];
    parse_into(&mut loaded, root, &mut stack);
    loaded
}

fn parse_into(loaded: &mut Loaded, file: FileId, stack: &mut Vec<(FileId, Span)>) {
    let text = loaded.sources.file(file).text.clone();
    let (policy, errors) = parse_recovering(file, &text);
    for e in errors {
        let mut d = Diagnostic::new(Code::Syntax, e.span, e.message, "the item cannot be read from here on");
        if !e.expected.is_empty() {
            d = d.help(format!("expected {}", join_or(&e.expected)));
        }
        loaded.diagnostics.push(d);
    }
    let includes: Vec<_> = policy
        .items
        .iter()
        .filter_map(|i| match i {
            Item::Include(inc) => Some((inc.path.clone(), inc.path_span)),
            _ => None,
        })
        .collect();
    loaded.policies.push((file, policy));
    let from = loaded.sources.file(file).path.clone();
    for (rel, span) in includes {
        let path = resolve_relative(&from, &rel);
        if let Some(id) = loaded.sources.find(&path) {
            if let Some(pos) = stack.iter().position(|(f, _)| *f == id) {
                let message = if id == file {
                    format!("`{rel}` includes itself")
                } else {
                    format!("`{rel}` includes itself through other files")
                };
                let mut d = Diagnostic::new(Code::IncludeCycle, span, message, "this include closes the circle");
                for (_, hop) in &stack[pos + 1..] {
                    d = d.label(*hop, "included here");
                }
                loaded.diagnostics.push(d.help("remove one of the includes; each file needs to be included once"));
            }
            continue;
        }
        match read_text(&path) {
            Ok(text) => {
                let id = loaded.sources.add(path, text);
                stack.push((id, span));
                parse_into(loaded, id, stack);
                stack.pop();
            }
            Err(error) => loaded.diagnostics.push(
                Diagnostic::new(
                    Code::UnreadableFile,
                    span,
                    format!("cannot read included file `{}`: {error}", path.display()),
                    "included here",
                )
                .help("include paths are relative to the file that includes them"),
            ),
        }
    }
}

/// `a`, `a or b`, `a, b or c`
pub fn join_or(words: &[String]) -> String {
    match words {
        [] => String::new(),
        [one] => one.clone(),
        [init @ .., last] => format!("{} or {last}", init.join(", ")),
    }
}
