//! mailc-lang: policy text -> AST.
//!
//! The grammar (`policy.pest`), the parser that lowers it into the AST
//! with a span on every node, the source map that spans point into, and
//! the formatter that prints an AST back in canonical layout with its
//! comments. This crate depends on nothing else in the workspace and
//! knows nothing of meaning: names are resolved and words are checked by
//! the compiler.

pub mod ast;
pub mod fmt;
pub mod parser;
pub mod source;

pub use parser::{parse, parse_recovering, SyntaxError};
pub use source::{FileId, SourceFile, SourceMap, Span};
