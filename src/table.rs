//! `mailc table build` and `mailc table query`: postmap's jobs, for
//! administrators who test their maps.
//!
//! A table file is read exactly as a policy would read it (the compiler's
//! `single` module), so a key found here is a key the engine finds. Queries
//! are exact, like `postmap -q`: the key is normalised as the table stores
//! keys (lowercase, A-labels, no trailing dot), but no lookup order is
//! applied and no extension is stripped. A query builds its table once and
//! then costs one fst lookup per key (cidr: the first range holding the
//! address; regexp: the first matching pattern), with no allocation per
//! key beyond the output.

use std::io::{BufRead, BufWriter, Write};
use std::net::IpAddr;
use std::path::{Path, PathBuf};

use clap::{Subcommand, ValueEnum};
use mailc_artifact::graph::Storage;
use mailc_artifact::tables::{decode_patterns, decode_ranges, ip_bits, regexp_pattern, Range, ValueItems};
use mailc_artifact::{Artifact, Bytes};
use mailc_compiler::single::{self, Built, Format};
use regex::Regex;

use crate::report;

/// Build table files into artifacts and look keys up in them (postmap's
/// jobs).
#[derive(clap::Args)]
pub struct Args {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    Build(BuildArgs),
    Query(QueryArgs),
}

/// How a table file is written.
#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Type {
    /// postmap(1) source: `key value`, `#` comments, lines starting with
    /// whitespace continue the previous one.
    Postfix,
    /// `key<TAB>value`, one per line.
    Tsv,
    /// aliases(5): `name: target, target`.
    Aliases,
    /// cidr_table(5): `192.0.2.0/24 value`, first match wins.
    Cidr,
    /// regexp_table(5): `/pattern/flags value`, first match wins.
    Regexp,
    /// One key per line, no values (a set).
    File,
}

impl Type {
    fn format(self) -> Format {
        match self {
            Type::Postfix => Format::Postfix,
            Type::Tsv => Format::Tsv,
            Type::Aliases => Format::Aliases,
            Type::Cidr => Format::Cidr,
            Type::Regexp => Format::Regexp,
            Type::File => Format::List,
        }
    }
}

/// What a table's keys are.
#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Key {
    /// `user@domain`, `@domain`, `user@`, a bare local part or domain.
    Address,
    /// Local parts (`user`, `user+ext`).
    Local,
    /// Domains, `.example.com` for subdomains.
    Domain,
    /// IP addresses and networks.
    Cidr,
    /// Regular expressions.
    Regexp,
}

impl Key {
    fn word(self) -> &'static str {
        match self {
            Key::Address => "address",
            Key::Local => "local",
            Key::Domain => "domain",
            Key::Cidr => "cidr",
            Key::Regexp => "regexp",
        }
    }
}

/// How to read a table file (for `build`, and for `query` of a file).
#[derive(clap::Args)]
struct Source {
    /// The file's format.
    #[arg(long = "type", value_name = "TYPE", value_enum, default_value_t = Type::Postfix)]
    ty: Type,
    /// The key kind (default: `local` for aliases, `cidr` for cidr,
    /// `regexp` for regexp, `address` otherwise).
    #[arg(long, value_enum)]
    key: Option<Key>,
}

impl Source {
    fn key(&self) -> &'static str {
        self.key.map_or_else(|| single::default_key(self.ty.format()), Key::word)
    }
}

/// Build one table file into a standalone artifact (like `postmap FILE`).
///
/// The file is read exactly as a policy reads it with `table NAME : KEY ->
/// text = TYPE "FILE"` (`[target]` values for aliases; a set for `file`):
/// keys are normalised (lowercase, IDNA A-labels, no trailing dot) and
/// checked, duplicates reported, and every problem is printed as
/// `mailc check` prints it, with file:line. The table is named after the
/// file. The artifact is written next to its final name and renamed into
/// place. Exit status: 0 written, 1 the file has errors (nothing is
/// written), 2 usage or I/O problems.
#[derive(clap::Args)]
#[command(
    after_help = "Examples:\n  mailc table build /etc/postfix/virtual               # writes /etc/postfix/virtual.mca\n  mailc table build --type aliases /etc/aliases\n  mailc table build --type cidr client_access.cidr -o /var/lib/mailc/access.mca\n  mailc table build --type tsv --key domain relay-domains.tsv"
)]
struct BuildArgs {
    #[command(flatten)]
    source: Source,
    /// Where to write the artifact (default: FILE with `.mca` appended).
    #[arg(short, long)]
    output: Option<PathBuf>,
    /// The table file.
    file: PathBuf,
}

/// Look keys up in a table file or an artifact (like `postmap -q`).
///
/// FILE is a table file (built in memory, read as `--type` and `--key`
/// say) or an artifact from `mailc table build` or `mailc compile`; an
/// artifact with several tables needs `--table`. Each key is normalised as
/// the table stores keys (lowercase, IDNA A-labels, no trailing dot) and
/// looked up exactly: no lookup order, no extension stripping. A cidr table
/// answers with the first network that holds the address, a regexp table
/// with the first pattern that matches (`$1` filled in). With keys on the
/// command line, the value of each key found is printed on its own line;
/// with `-`, keys are read one per line from standard input and
/// `key<TAB>value` is printed for each key found. List values are joined
/// with ", "; a set prints the key as stored. Exit status: 0 every key
/// was found, 1 some key was not, 2 usage or I/O problems, or a table file
/// with errors.
#[derive(clap::Args)]
#[command(
    after_help = "Examples:\n  mailc table query /etc/postfix/virtual info@example.com\n  mailc table query --type aliases /etc/aliases postmaster root\n  mailc table query --table virtual policy.mca Alice@Example.COM\n  cut -f1 addresses.txt | mailc table query virtual.mca - > found.tsv"
)]
struct QueryArgs {
    #[command(flatten)]
    source: Source,
    /// The table to query in an artifact with several tables.
    #[arg(long)]
    table: Option<String>,
    /// The table file or artifact.
    file: PathBuf,
    /// Keys to look up, or `-` to read them from standard input.
    #[arg(required = true)]
    keys: Vec<String>,
}

pub fn run(args: Args) -> u8 {
    match args.command {
        Command::Build(a) => build(a),
        Command::Query(a) => query(a),
    }
}

/// Builds a table file and prints its problems: errors on stdout for
/// `build` (as `mailc compile` does), on stderr for `query` (whose stdout
/// is answers); warnings on stderr. `Err` is the exit status.
fn build_file(file: &Path, source: &Source, errors_to_stdout: bool) -> Result<(Built, Vec<u8>), u8> {
    let mut built = match single::build_table(file, source.ty.format(), source.key()) {
        Ok(b) => b,
        Err(e) => {
            eprintln!("error: {e}");
            return Err(2);
        }
    };
    match built.artifact.take() {
        None if errors_to_stdout => {
            print!("{}", report::human(&built.checked));
            Err(1)
        }
        None => {
            eprint!("{}", report::human(&built.checked));
            Err(1)
        }
        Some(bytes) => {
            if !built.checked.diagnostics.is_empty() {
                eprint!("{}", report::human(&built.checked));
            }
            Ok((built, bytes))
        }
    }
}

fn build(args: BuildArgs) -> u8 {
    if is_artifact(&args.file) {
        eprintln!("error: `{}` is already an artifact; build the table file it came from", args.file.display());
        return 2;
    }
    let (built, bytes) = match build_file(&args.file, &args.source, true) {
        Ok(b) => b,
        Err(code) => return code,
    };
    let output = args.output.unwrap_or_else(|| {
        let mut name = args.file.clone().into_os_string();
        name.push(".mca");
        PathBuf::from(name)
    });
    if let Err(e) = crate::compile::write_atomically(&output, &bytes) {
        eprintln!("error: cannot write `{}`: {e}", output.display());
        return 2;
    }
    let entries = built
        .checked
        .decls
        .iter()
        .find_map(|d| match &d.kind {
            mailc_compiler::check::DeclKind::Table(t) => Some(t.len()),
            _ => None,
        })
        .unwrap_or(0);
    println!(
        "wrote {} (table `{}`, {entries} {}, {} bytes)",
        output.display(),
        built.name,
        if entries == 1 { "entry" } else { "entries" },
        bytes.len()
    );
    0
}

fn is_artifact(path: &Path) -> bool {
    std::fs::File::open(path)
        .and_then(|mut f| {
            let mut magic = [0; 8];
            std::io::Read::read_exact(&mut f, &mut magic).map(|_| magic == mailc_artifact::container::MAGIC)
        })
        .unwrap_or(false)
}

fn query(args: QueryArgs) -> u8 {
    let artifact = if is_artifact(&args.file) {
        if args.source.key.is_some() || args.source.ty != Type::Postfix {
            eprintln!("error: --type and --key describe a table file; `{}` is an artifact", args.file.display());
            return 2;
        }
        match Artifact::open(&args.file) {
            Ok(a) => a,
            Err(e) => {
                eprintln!("error: `{}`: {e}", args.file.display());
                return 2;
            }
        }
    } else {
        // A table with errors cannot answer: that is not "not found".
        let bytes = match build_file(&args.file, &args.source, false) {
            Ok((_, bytes)) => bytes,
            Err(_) => return 2,
        };
        match Artifact::from_bytes(bytes) {
            Ok(a) => a,
            Err(e) => {
                eprintln!("error: {e}");
                return 2;
            }
        }
    };
    let table = match Table::choose(&artifact, args.table.as_deref(), &args.file) {
        Ok(t) => t,
        Err(why) => {
            eprintln!("error: {why}");
            return 2;
        }
    };
    let stdout = std::io::stdout();
    let mut out = BufWriter::new(stdout.lock());
    let result = if args.keys == ["-"] {
        table.batch(&mut std::io::stdin().lock(), &mut out)
    } else {
        table.each(&args.keys, &mut out)
    };
    match result.and_then(|missing| out.flush().map(|_| missing)) {
        Ok(false) => 0,
        Ok(true) => 1,
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => 0,
        Err(e) => {
            eprintln!("error: {e}");
            2
        }
    }
}

/// An fst map's lookup: a key's value offset.
type MapGet = Box<dyn Fn(&str) -> Option<u64> + Send + Sync>;

/// How a table finds keys.
enum Index {
    /// Exact keys: the fst map's value offset.
    Map(MapGet),
    /// Ranges in table order.
    Cidr(Vec<Range>),
    /// Patterns in table order, with negation.
    Regexp(Vec<(Regex, bool, u64)>),
}

/// One table, ready for lookups.
struct Table {
    key: String,
    set: bool,
    index: Index,
    values: Bytes,
}

/// What a lookup found: a value offset, and the pattern for `$n`.
struct Hit<'a> {
    value: u64,
    pattern: Option<&'a Regex>,
}

impl Table {
    /// The table `name`, or the only one.
    fn choose(artifact: &Artifact, name: Option<&str>, path: &Path) -> Result<Table, String> {
        let tables = &artifact.graph().tables;
        let names = || tables.iter().map(|t| format!("`{}`", t.name)).collect::<Vec<_>>().join(", ");
        let table = match name {
            Some(n) => tables.iter().find(|t| t.name == n).ok_or_else(|| {
                if tables.is_empty() {
                    format!("`{}` has no tables", path.display())
                } else {
                    format!("`{}` has no table `{n}`; its tables are {}", path.display(), names())
                }
            })?,
            None => match tables.as_slice() {
                [one] => one,
                [] => return Err(format!("`{}` has no tables", path.display())),
                _ => {
                    return Err(format!(
                        "`{}` has {} tables; choose one with --table: {}",
                        path.display(),
                        tables.len(),
                        names()
                    ))
                }
            },
        };
        let bad = |e: mailc_artifact::ArtifactError| format!("`{}`: {e}", path.display());
        let index = match table.storage {
            Storage::Map { keys } => {
                let map = artifact.map(keys).map_err(bad)?;
                Index::Map(Box::new(move |k: &str| map.get(k)))
            }
            Storage::Cidr { ranges } => Index::Cidr(decode_ranges(artifact.bytes(ranges).as_ref()).map_err(bad)?),
            Storage::Regexp { patterns } => {
                let mut out = Vec::new();
                for p in decode_patterns(artifact.bytes(patterns).as_ref()).map_err(bad)? {
                    // `!` negates the match.
                    let re = Regex::new(&regexp_pattern(&p.pattern, &p.flags))
                        .map_err(|e| format!("table `{}`: {e}", table.name))?;
                    out.push((re, p.flags.starts_with('!'), p.value));
                }
                Index::Regexp(out)
            }
        };
        Ok(Table { key: table.key.clone(), set: table.value.is_none(), index, values: artifact.bytes(table.values) })
    }

    /// Looks `key` up; `norm` is a reused buffer for its normalised form
    /// (left holding it). `Err` says why the key cannot be in the table.
    fn find<'a>(&'a self, key: &str, norm: &mut String) -> Result<Option<Hit<'a>>, String> {
        norm.clear();
        Ok(match &self.index {
            Index::Map(get) => {
                single::normalize_key(&self.key, key, norm)?;
                get(norm).map(|value| Hit { value, pattern: None })
            }
            Index::Cidr(ranges) => {
                let ip: IpAddr = key.parse().map_err(|_| "not an IP address".to_string())?;
                let bits = ip_bits(ip);
                norm.push_str(key);
                ranges.iter().find(|r| r.first <= bits && bits <= r.last).map(|r| Hit { value: r.value, pattern: None })
            }
            Index::Regexp(patterns) => {
                norm.push_str(key);
                patterns
                    .iter()
                    .find(|(re, negated, _)| re.is_match(key) != *negated)
                    .map(|(re, negated, value)| Hit { value: *value, pattern: (!negated).then_some(re) })
            }
        })
    }

    /// Writes the value of a hit: list items joined with ", ", `$n` filled
    /// in from a regexp match; a set writes the key as stored.
    fn write_value(&self, hit: &Hit, key: &str, norm: &str, out: &mut impl Write) -> std::io::Result<()> {
        if self.set {
            return out.write_all(norm.as_bytes());
        }
        let mut items = ValueItems::new(self.values.as_ref(), hit.value).map_err(invalid)?;
        let mut first = true;
        while let Some(item) = items.next_item().map_err(invalid)? {
            if !first {
                out.write_all(b", ")?;
            }
            first = false;
            match hit.pattern {
                Some(re) if item.contains('$') => {
                    let mut filled = String::new();
                    if let Some(caps) = re.captures(key) {
                        caps.expand(item, &mut filled);
                    }
                    out.write_all(filled.as_bytes())?;
                }
                _ => out.write_all(item.as_bytes())?,
            }
        }
        Ok(())
    }

    /// Keys from the command line: one value line per key found. Returns
    /// whether any key was missing.
    fn each(&self, keys: &[String], out: &mut impl Write) -> std::io::Result<bool> {
        let mut norm = String::new();
        let mut missing = false;
        for key in keys {
            match self.find(key, &mut norm) {
                Ok(Some(hit)) => {
                    self.write_value(&hit, key, &norm, out)?;
                    out.write_all(b"\n")?;
                }
                Ok(None) => missing = true,
                Err(why) => {
                    eprintln!("note: `{key}` is not a valid {} key ({why}), so it is not in the table", self.key);
                    missing = true;
                }
            }
        }
        Ok(missing)
    }

    /// Keys from standard input, one per line (blank lines skipped):
    /// `key<TAB>value` per key found. Returns whether any was missing.
    fn batch(&self, input: &mut impl BufRead, out: &mut impl Write) -> std::io::Result<bool> {
        // Keys are read in blocks of whole lines; each block is split
        // between the cores and the answers are written in input order.
        const BLOCK: usize = 4 << 20;
        let threads = std::thread::available_parallelism().map_or(1, |n| n.get()).clamp(1, 8);
        let mut missing = false;
        let mut block = Vec::with_capacity(BLOCK);
        loop {
            block.clear();
            while block.len() < BLOCK && input.read_until(b'\n', &mut block)? > 0 {}
            if block.is_empty() {
                return Ok(missing);
            }
            let chunks = split_lines(&block, threads);
            let answers: Vec<(Vec<u8>, bool)> = if chunks.len() == 1 {
                vec![self.batch_chunk(chunks[0])]
            } else {
                std::thread::scope(|scope| {
                    let handles: Vec<_> = chunks.iter().map(|c| scope.spawn(move || self.batch_chunk(c))).collect();
                    handles.into_iter().map(|h| h.join().unwrap_or_else(|e| std::panic::resume_unwind(e))).collect()
                })
            };
            for (bytes, m) in answers {
                out.write_all(&bytes)?;
                missing |= m;
            }
        }
    }

    /// Answers the keys of a chunk of lines: `key<TAB>value` for each one
    /// found, and whether any was missing.
    fn batch_chunk(&self, chunk: &[u8]) -> (Vec<u8>, bool) {
        let mut out = Vec::with_capacity(chunk.len() * 2);
        let mut norm = String::new();
        let mut missing = false;
        for line in chunk.split(|b| *b == b'\n') {
            let Ok(text) = std::str::from_utf8(line) else {
                missing = true;
                continue;
            };
            let key = text.trim();
            if key.is_empty() {
                continue;
            }
            match self.find(key, &mut norm) {
                Ok(Some(hit)) => {
                    out.extend_from_slice(key.as_bytes());
                    out.push(b'\t');
                    // INVARIANT: writing to a Vec cannot fail; a malformed
                    // value (refused at load) would leave the line short.
                    let _ = self.write_value(&hit, key, &norm, &mut out);
                    out.push(b'\n');
                }
                Ok(None) | Err(_) => missing = true,
            }
        }
        (out, missing)
    }
}
/// Cuts `block` into about `n` runs of whole lines.
fn split_lines(block: &[u8], n: usize) -> Vec<&[u8]> {
    let mut out = Vec::with_capacity(n);
    let mut start = 0;
    for k in 1..n {
        let target = (block.len() * k / n).max(start);
        match block[target..].iter().position(|b| *b == b'\n') {
            Some(p) => {
                out.push(&block[start..target + p + 1]);
                start = target + p + 1;
            }
            None => break,
        }
    }
    out.push(&block[start..]);
    out
}

fn invalid(e: mailc_artifact::ArtifactError) -> std::io::Error {
    std::io::Error::new(std::io::ErrorKind::InvalidData, e.to_string())
}
