//! No input makes the front end panic or hang.
//!
//! Every `examples/*/policy.mailc` is mutated a fixed number of times by a
//! deterministic PRNG (xorshift64*, seeded from the example's directory
//! name, so adding an example never changes another's mutants): byte
//! ranges deleted, lines duplicated or swapped, tokens of the grammar and
//! nasty literals inserted, the text truncated, characters replaced by
//! others (multibyte ones included). Each mutant goes through
//! `mailc_lang::parse`, the formatter when it parses (which must succeed,
//! keep the AST and be idempotent) and `mailc_compiler::check_text` with
//! the example's own path, so includes and table files resolve against
//! the example directory. A panic, a formatter failure or a call slower
//! than [`HANG_LIMIT`] fails the test; the mutant (and a minimized form of
//! it) is printed and written under `target/tmp/mutation/`.
//!
//! Pathological inputs (deep bracket nesting, long `not` chains, a 1 MB
//! string and identifier, 100,000 rules, files of only `#`) and every file
//! in `fuzz/regressions/` (inputs the fuzzers once broke) run in child
//! processes of this test binary, because a stack overflow aborts the
//! process and cannot be caught: the child re-enters through the ignored
//! test [`pathological_child`] and runs on a thread with the stack of a
//! Linux main thread (8 MiB), where the `mailc` binary parses.
//!
//! `MAILC_MUTANTS=N` changes the number of mutants per example (default
//! [`MUTANTS_PER_EXAMPLE`]) for a longer local run.

use std::cell::{Cell, RefCell};
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::panic::{self, AssertUnwindSafe};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{mpsc, Arc, Mutex, Once};
use std::thread;
use std::time::{Duration, Instant};

use mailc_lang::{fmt, parse, FileId};

/// Mutants generated from each example.
const MUTANTS_PER_EXAMPLE: usize = 300;
/// Mutation operations stacked on one mutant, at most.
const MAX_STACKED: usize = 3;
/// One call (parse, format or check) slower than this counts as a hang.
const HANG_LIMIT: Duration = Duration::from_secs(5);
/// A pathological input's child process is killed after this long.
const CHILD_LIMIT: Duration = Duration::from_secs(30);
/// Stack of the threads that run the front end: the size of a Linux main
/// thread, where the `mailc` binary parses.
const STACK_SIZE: usize = 8 << 20;
/// The environment variable that names the pathological case a child runs.
const CHILD_ENV: &str = "MAILC_MUTATION_CASE";

// ------------------------------------------------------------------ PRNG

/// xorshift64*: small, fast, and the same on every platform.
struct Rng(u64);

impl Rng {
    fn new(seed: u64) -> Rng {
        // splitmix64 of the seed, so that neighbouring seeds diverge and
        // the state is never zero.
        let mut z = seed.wrapping_add(0x9e37_79b9_7f4a_7c15);
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        Rng((z ^ (z >> 31)) | 1)
    }

    fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    /// A number in `0..n`; `n` must not be zero.
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }
}

/// FNV-1a: the seed of an example, from its directory name.
fn fnv1a(text: &str) -> u64 {
    text.bytes().fold(0xcbf2_9ce4_8422_2325, |h, b| (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3))
}

// ------------------------------------------------------------------ mutations

/// Characters a replaced character may become.
const CHARS: &[char] = &[
    '"',
    '\\',
    '{',
    '}',
    '[',
    ']',
    '(',
    ')',
    ',',
    ':',
    '=',
    '>',
    '<',
    '-',
    '!',
    '#',
    '/',
    '.',
    '@',
    '+',
    '_',
    '\n',
    '\r',
    '\t',
    ' ',
    '\0',
    '0',
    '9',
    'a',
    'Z',
    'é',
    'ß',
    'Ω',
    '€',
    '😀',
    '𝔸',
    '\u{feff}',
    '\u{200b}',
    '\u{2028}',
    '\u{7f}',
    '\u{10ffff}',
];

/// Tokens worth inserting beyond the grammar's own literals.
fn extra_tokens() -> Vec<String> {
    let mut tokens: Vec<String> = [
        "{",
        "}",
        "[",
        "]",
        "(",
        ")",
        "\"",
        "=>",
        "->",
        ",",
        ":",
        "=",
        "\\",
        "#",
        "# comment\n",
        "\n",
        "\r\n",
        "99999999999999999999999",
        "18446744073709551616",
        "4294967296",
        "0",
        "000",
        "999",
        "-1",
        "1e999",
        "99999999999999999999999KiB",
        "99999999999999999999999GiB",
        "99999999999999999999999d",
        "0s",
        "1w2d3h4m5s",
        "0 per 0s",
        "99999999999999999999 per 1s",
        "1 per 99999999999999999999w",
        "0/0",
        "::::",
        "::/0",
        "::::::::::::::::/129",
        "1.2.3.4/33",
        "1.2.3.4/99999999999999999999",
        "255.255.255.255",
        "999.999.999.999",
        "550 9.999.999",
        "999 5.7.1 \"x\"",
        "5.7.1",
        "\u{0}",
        "\u{feff}",
        "😀",
        "👨\u{200d}👩\u{200d}👧",
        "é",
        "\"\"",
        "\"unterminated",
        "\"\\",
        "\"\\\"",
        "\"{\"",
        "\"{hostname\"",
        "\"{}}{{\"",
        "\"%s%n\"",
        "\"\\u{0}\"",
        "[]",
        "{}",
        "[,]",
        "{,}",
        "{ -> }",
        "[[[[[[[[[[[[[[[[",
        "]]]]]]]]]]]]]]]]",
        "((((((((((((((((",
        "))))))))",
        "not not not not",
        "include \"policy.mailc\"\n",
        "include \"missing.mailc\"\n",
        "include \"\"\n",
        "include \"/dev/zero\"\n",
        "include \"..\"\n",
        "file \"\"",
        "file \"/dev/zero\"",
        "on rcpt {",
        "on x {",
        "recipient {",
        "rewrite {",
        "copy {",
        "test \"t\" {",
        "rcpt \"a@b\" =>",
        "session {",
        "=> reject",
        "default =>",
        "else reject",
        "lookup [",
        "lookup [@]",
        "if",
        "if (",
        "and",
        "or",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    tokens.push("x".repeat(300));
    // Long runs of multibyte characters: error messages cut snippets out
    // of the source, and a cut inside a character panics.
    for c in ['é', '€', '😀', '\u{feff}'] {
        tokens.push(c.to_string().repeat(50));
        tokens.push(format!("a{}", c.to_string().repeat(50)));
    }
    tokens.push(format!("_{}", "a-".repeat(5_000)));
    tokens.push("9".repeat(5_000));
    tokens.push(format!("\"{}\"", "\\n".repeat(2_000)));
    tokens
}

/// Every double-quoted literal of the grammar (keywords, punctuation,
/// units), read from `policy.pest` so that the list follows the grammar,
/// plus [`extra_tokens`].
fn tokens() -> Vec<String> {
    let grammar = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/lang/src/policy.pest"))
        .expect("lang/src/policy.pest is readable");
    let mut tokens = extra_tokens();
    for line in grammar.lines() {
        let code = line.split("//").next().unwrap_or("");
        let mut rest = code;
        while let Some(start) = rest.find('"') {
            let after = &rest[start + 1..];
            let mut end = None;
            let mut escaped = false;
            for (i, c) in after.char_indices() {
                match c {
                    '\\' if !escaped => escaped = true,
                    '"' if !escaped => {
                        end = Some(i);
                        break;
                    }
                    _ => escaped = false,
                }
            }
            let Some(end) = end else { break };
            let literal = &after[..end];
            if !literal.is_empty() && !literal.contains('\\') {
                tokens.push(literal.to_string());
            }
            rest = &after[end + 1..];
        }
    }
    tokens.sort();
    tokens.dedup();
    assert!(tokens.iter().any(|t| t == "luser_relay"), "no keywords read from policy.pest");
    tokens
}

/// The largest char boundary of `s` at or below `i`.
fn floor_boundary(s: &str, i: usize) -> usize {
    let mut i = i.min(s.len());
    while !s.is_char_boundary(i) {
        i -= 1;
    }
    i
}

/// A char boundary of `s`, anywhere from the start to the end.
fn random_point(rng: &mut Rng, s: &str) -> usize {
    floor_boundary(s, rng.below(s.len() + 1))
}

fn mutate_once(rng: &mut Rng, text: &str, tokens: &[String]) -> String {
    let mut s = text.to_string();
    match rng.below(8) {
        // Delete a byte range, usually short, sometimes long.
        0 => {
            let start = random_point(rng, &s);
            let max = if rng.below(4) == 0 { 400 } else { 12 };
            let len = 1 + rng.below(max);
            let end = floor_boundary(&s, start + len);
            s.replace_range(start..end, "");
        }
        // Duplicate a line.
        1 => {
            let mut lines: Vec<&str> = s.split_inclusive('\n').collect();
            if !lines.is_empty() {
                let i = rng.below(lines.len());
                lines.insert(i, lines[i]);
            }
            s = lines.concat();
        }
        // Swap two lines.
        2 => {
            let mut lines: Vec<&str> = s.split_inclusive('\n').collect();
            if !lines.is_empty() {
                let (a, b) = (rng.below(lines.len()), rng.below(lines.len()));
                lines.swap(a, b);
            }
            s = lines.concat();
        }
        // Insert a token, bare or spaced out.
        3..=5 => {
            let at = random_point(rng, &s);
            let token = rng.pick(tokens);
            let token = match rng.below(3) {
                0 => token.clone(),
                1 => format!(" {token} "),
                _ => format!("\n{token}\n"),
            };
            s.insert_str(at, &token);
        }
        // Truncate.
        6 => {
            let at = random_point(rng, &s);
            s.truncate(at);
        }
        // Replace a character.
        _ => {
            let at = random_point(rng, &s);
            if let Some(c) = s[at..].chars().next() {
                let mut buf = [0; 4];
                s.replace_range(at..at + c.len_utf8(), rng.pick(CHARS).encode_utf8(&mut buf));
            }
        }
    }
    s
}

/// Mutant `index` of an example whose seed is `seed`: reproducible alone.
fn mutant(seed: u64, index: usize, text: &str, tokens: &[String]) -> String {
    let mut rng = Rng::new(seed ^ (index as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15));
    let mut out = text.to_string();
    for _ in 0..1 + rng.below(MAX_STACKED) {
        out = mutate_once(&mut rng, &out, tokens);
    }
    out
}

// ------------------------------------------------------------------ running the front end

/// What went wrong with one input.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Problem {
    Panic { stage: &'static str, location: String, message: String },
    Slow { stage: &'static str, elapsed: Duration, limit: Duration },
    FormatFailed { message: String },
    MeaningChanged,
    NotIdempotent,
}

impl Problem {
    /// What two problems must share to be the same bug.
    fn key(&self) -> String {
        match self {
            Problem::Panic { stage, location, .. } => format!("panic in {stage} at {location}"),
            Problem::Slow { stage, limit, .. } => format!("{stage} slower than {limit:?}"),
            Problem::FormatFailed { .. } => "a policy that parses does not format".to_string(),
            Problem::MeaningChanged => "formatting changes the AST".to_string(),
            Problem::NotIdempotent => "format(format(x)) != format(x)".to_string(),
        }
    }

    fn describe(&self) -> String {
        match self {
            Problem::Panic { message, .. } => {
                let cut: String = message.chars().take(400).collect();
                format!("{}: {cut}{}", self.key(), if cut.len() < message.len() { " [...]" } else { "" })
            }
            Problem::Slow { elapsed, .. } => format!("{} (took {elapsed:?})", self.key()),
            Problem::FormatFailed { message } => format!("{}: {message}", self.key()),
            _ => self.key(),
        }
    }
}

thread_local! {
    /// Set while a call runs under [`guarded`]: the panic hook records
    /// instead of printing.
    static CAPTURE: Cell<bool> = const { Cell::new(false) };
    /// Location and message of the last panic captured on this thread.
    static LAST_PANIC: RefCell<Option<(String, String)>> = const { RefCell::new(None) };
}

fn install_panic_hook() {
    static HOOK: Once = Once::new();
    HOOK.call_once(|| {
        let default = panic::take_hook();
        panic::set_hook(Box::new(move |info| {
            if !CAPTURE.with(Cell::get) {
                return default(info);
            }
            let location = info.location().map_or_else(String::new, |l| format!("{}:{}", l.file(), l.line()));
            let payload = info.payload();
            let message = payload
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| payload.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "(non-string payload)".to_string());
            LAST_PANIC.with(|p| *p.borrow_mut() = Some((location, message)));
        }));
    });
}

/// Runs `f`, turning a panic or a call slower than `limit` into a
/// [`Problem`].
fn guarded<T>(stage: &'static str, limit: Duration, f: impl FnOnce() -> T) -> Result<T, Problem> {
    install_panic_hook();
    CAPTURE.with(|c| c.set(true));
    let start = Instant::now();
    let result = panic::catch_unwind(AssertUnwindSafe(f));
    let elapsed = start.elapsed();
    CAPTURE.with(|c| c.set(false));
    match result {
        Ok(_) if elapsed > limit => Err(Problem::Slow { stage, elapsed, limit }),
        Ok(value) => Ok(value),
        Err(_) => {
            let (location, message) = LAST_PANIC.with(|p| p.borrow_mut().take()).unwrap_or_default();
            Err(Problem::Panic { stage, location, message })
        }
    }
}

/// Parses, formats (when it parses) and checks `text` as if it were the
/// file at `path`, each call within [`HANG_LIMIT`].
fn exercise(path: &Path, text: &str) -> Result<(), Problem> {
    exercise_with(path, text, HANG_LIMIT, true)
}

/// [`exercise`] with a time limit per call. `thorough` parses on its own
/// and checks that the formatter keeps the AST and is idempotent; without
/// it only `fmt::format` (which parses) and `check_text` run, which is
/// what huge inputs can afford in a debug build.
fn exercise_with(path: &Path, text: &str, limit: Duration, thorough: bool) -> Result<(), Problem> {
    if !thorough {
        // A syntax error is a fine answer here; only a panic or a hang is not.
        let _formatted = guarded("format", limit, || fmt::format(text))?;
        guarded("check", limit, || mailc_compiler::check_text(path, text))?;
        return Ok(());
    }
    if let Ok(policy) = guarded("parse", limit, || parse(FileId(0), text))? {
        let once = match guarded("format", limit, || fmt::format(text))? {
            Ok(out) => out,
            Err(e) => return Err(Problem::FormatFailed { message: format!("{e:?}") }),
        };
        match guarded("parse of formatted output", limit, || parse(FileId(0), &once))? {
            Ok(reparsed) if format!("{:?}", reparsed.items) == format!("{:?}", policy.items) => {}
            Ok(_) => return Err(Problem::MeaningChanged),
            Err(e) => return Err(Problem::FormatFailed { message: format!("its output does not parse: {e:?}") }),
        }
        let twice = match guarded("format of formatted output", limit, || fmt::format(&once))? {
            Ok(out) => out,
            Err(e) => return Err(Problem::FormatFailed { message: format!("its output does not format: {e:?}") }),
        };
        if once != twice {
            return Err(Problem::NotIdempotent);
        }
    }
    guarded("check", limit, || mailc_compiler::check_text(path, text))?;
    Ok(())
}

/// Shrinks `text` while `exercise` still reports a problem with the same
/// key: chunks of lines, then of characters, are cut out greedily.
fn minimize(path: &Path, text: &str, key: &str) -> String {
    let deadline = Instant::now() + Duration::from_secs(10);
    let still_fails = |t: &str| exercise(path, t).err().is_some_and(|p| p.key() == key);
    let mut best = text.to_string();
    for by_lines in [true, false] {
        let mut chunk = best.len().max(1);
        while chunk >= 1 && Instant::now() < deadline {
            let pieces: Vec<String> = if by_lines {
                best.split_inclusive('\n').map(str::to_string).collect()
            } else {
                best.chars().map(String::from).collect()
            };
            let chunk_len = chunk.min(pieces.len().max(1));
            let mut start = 0;
            let mut cut_any = false;
            let mut pieces = pieces;
            while start < pieces.len() && Instant::now() < deadline {
                let end = (start + chunk_len).min(pieces.len());
                let candidate: String = pieces[..start].iter().chain(&pieces[end..]).map(String::as_str).collect();
                if still_fails(&candidate) {
                    pieces.drain(start..end);
                    best = candidate;
                    cut_any = true;
                } else {
                    start += chunk_len;
                }
            }
            if chunk_len == 1 && !cut_any {
                break;
            }
            chunk = if cut_any { chunk_len } else { chunk_len / 2 };
            if chunk == 0 {
                break;
            }
        }
    }
    best
}

// ------------------------------------------------------------------ the mutation test

struct Example {
    name: String,
    path: PathBuf,
    text: String,
}

fn examples() -> Vec<Example> {
    let dir = Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/examples"));
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).expect("examples/ is readable") {
        let dir = entry.expect("examples/ lists").path();
        let path = dir.join("policy.mailc");
        if path.is_file() {
            let name = dir.file_name().unwrap_or_default().to_string_lossy().into_owned();
            let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            out.push(Example { name, path, text });
        }
    }
    out.sort_by(|a, b| a.name.cmp(&b.name));
    assert!(!out.is_empty(), "no examples/*/policy.mailc found");
    out
}

/// One input that went wrong.
struct Failure {
    what: String,
    problem: Problem,
    path: PathBuf,
    text: String,
}

/// What a worker is running now, for the watchdog.
#[derive(Default)]
struct Slot {
    current: Option<(Instant, String, Arc<str>, PathBuf)>,
}

/// Directory the failing inputs are written to.
fn failure_dir() -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("mutation");
    let _ = std::fs::create_dir_all(&dir);
    dir
}

fn file_name(what: &str) -> String {
    what.chars().map(|c| if c.is_ascii_alphanumeric() || c == '-' { c } else { '_' }).collect()
}

/// Writes the failing inputs (and minimized ones, unless the problem is a
/// hang) and returns the report.
fn report(failures: &[Failure]) -> String {
    let dir = failure_dir();
    // One entry per distinct bug, with its shortest input.
    let mut by_key: BTreeMap<String, (usize, &Failure)> = BTreeMap::new();
    for f in failures {
        let entry = by_key.entry(f.problem.key()).or_insert((0, f));
        entry.0 += 1;
        if f.text.len() < entry.1.text.len() {
            entry.1 = f;
        }
    }
    let mut out = format!("{} failing input(s), {} distinct problem(s):\n", failures.len(), by_key.len());
    for (key, (count, f)) in by_key {
        let file = dir.join(format!("{}.mailc", file_name(&f.what)));
        let _ = std::fs::write(&file, &f.text);
        let _ = writeln!(out, "\n=== {} ({count}x), first seen in {}", f.problem.describe(), f.what);
        let _ = writeln!(out, "input ({} bytes) written to {}", f.text.len(), file.display());
        let shown = if matches!(f.problem, Problem::Slow { .. }) || f.text.len() > 100_000 {
            f.text.clone()
        } else {
            let min = minimize(&f.path, &f.text, &key);
            let min_file = dir.join(format!("{}-min.mailc", file_name(&f.what)));
            let _ = std::fs::write(&min_file, &min);
            let _ = writeln!(out, "minimized ({} bytes) written to {}", min.len(), min_file.display());
            min
        };
        let preview: String = shown.chars().take(2_000).collect();
        let _ =
            writeln!(out, "--- input{} ---\n{preview:?}\n---", if preview.len() < shown.len() { " (cut)" } else { "" });
    }
    out
}

#[test]
fn mutants_of_examples_neither_panic_nor_hang() {
    let started = Instant::now();
    let per_example = std::env::var("MAILC_MUTANTS").ok().and_then(|n| n.parse().ok()).unwrap_or(MUTANTS_PER_EXAMPLE);
    let tokens = Arc::new(tokens());
    let examples = examples();
    let total = examples.len();
    let queue = Arc::new(Mutex::new(examples.into_iter().rev().collect::<Vec<_>>()));
    let workers = thread::available_parallelism().map_or(1, |n| n.get()).clamp(1, 4).min(total);
    let (tx, rx) = mpsc::channel::<Option<Failure>>();
    let mut slots = Vec::new();
    for w in 0..workers {
        let slot = Arc::new(Mutex::new(Slot::default()));
        slots.push(slot.clone());
        let (queue, tokens, tx) = (queue.clone(), tokens.clone(), tx.clone());
        thread::Builder::new()
            .name(format!("mutation-{w}"))
            .stack_size(STACK_SIZE)
            .spawn(move || loop {
                let Some(example) = queue.lock().unwrap().pop() else {
                    let _ = tx.send(None);
                    return;
                };
                let seed = fnv1a(&example.name);
                for i in 0..per_example {
                    let text: Arc<str> = mutant(seed, i, &example.text, &tokens).into();
                    let what = format!("{}-mutant-{i}", example.name);
                    slot.lock().unwrap().current =
                        Some((Instant::now(), what.clone(), text.clone(), example.path.clone()));
                    let result = exercise(&example.path, &text);
                    slot.lock().unwrap().current = None;
                    if let Err(problem) = result {
                        let failure = Failure { what, problem, path: example.path.clone(), text: text.to_string() };
                        let _ = tx.send(Some(failure));
                    }
                }
            })
            .expect("spawn a mutation worker");
    }
    drop(tx);

    let mut failures = Vec::new();
    let mut done = 0;
    while done < workers {
        match rx.recv_timeout(Duration::from_millis(100)) {
            Ok(Some(failure)) => failures.push(failure),
            Ok(None) => done += 1,
            Err(mpsc::RecvTimeoutError::Timeout) => {}
            Err(mpsc::RecvTimeoutError::Disconnected) => break,
        }
        // The watchdog: a worker stuck on one mutant is a hang. Its thread
        // cannot be stopped; the test reports and fails without it.
        let stuck = slots.iter().find_map(|slot| {
            let slot = slot.lock().unwrap();
            let (start, what, text, path) = slot.current.as_ref()?;
            let elapsed = start.elapsed();
            (elapsed > HANG_LIMIT * 2).then(|| (elapsed, what.clone(), text.to_string(), path.clone()))
        });
        if let Some((elapsed, what, text, path)) = stuck {
            failures.push(Failure {
                what,
                problem: Problem::Slow { stage: "a mutant", elapsed, limit: HANG_LIMIT * 2 },
                path,
                text,
            });
            break;
        }
    }
    assert!(failures.is_empty(), "{}", report(&failures));
    assert_eq!(done, workers, "a mutation worker died (a bug in this test)");
    eprintln!("{total} example(s), {per_example} mutants each: no panic, no hang ({:?})", started.elapsed());
}

// ------------------------------------------------------------------ pathological inputs

/// Pathological inputs by name; each must parse or be rejected with a
/// syntax error, and check, without a panic, a stack overflow or a hang.
fn pathological(name: &str) -> Option<String> {
    if let Some(file) = name.strip_prefix("regression:") {
        let bytes = std::fs::read(regressions_dir().join(file)).ok()?;
        // The fuzz targets skip what is not UTF-8; so does this.
        return Some(String::from_utf8(bytes).unwrap_or_default());
    }
    const DEPTH: usize = 10_000;
    let stage = |body: &str| format!("network trusted = [127.0.0.1]\non rcpt {{\n{body}\n  default accept\n}}\n");
    let nots = |n: usize| stage(&format!("  reject if {}authenticated", "not ".repeat(n)));
    Some(match name {
        "nested-parens" => stage(&format!("  reject if {}authenticated{}", "(".repeat(DEPTH), ")".repeat(DEPTH))),
        "unclosed-parens" => stage(&format!("  reject if {}authenticated", "(".repeat(DEPTH))),
        // `not` nests without brackets; several depths because where the
        // stack runs out depends on the build profile.
        "not-chain-1000" => nots(1_000),
        "not-chain-3000" => nots(3_000),
        "not-chain-10000" => nots(10_000),
        // As deep as the nesting guards let through: 31 brackets inside
        // the stage's braces, 32 `not`s at each level.
        "not-chains-in-brackets" => {
            let level = format!("authenticated or {}(", "not ".repeat(32));
            stage(&format!("  reject if {}authenticated{}", level.repeat(31), ")".repeat(31)))
        }
        "nested-lists" => format!("network n = {}127.0.0.1{}\n", "[".repeat(DEPTH), "]".repeat(DEPTH)),
        "unclosed-lists" => format!("x {}", "[".repeat(DEPTH)),
        "nested-maps" => format!("table t : address = {}\"a\"{}\n", "{".repeat(DEPTH), "}".repeat(DEPTH)),
        "long-or-chain" => stage(&format!("  reject if authenticated{}", " or authenticated".repeat(20_000))),
        "long-list" => format!("network n = [{}]\n", "127.0.0.1, ".repeat(20_000)),
        "huge-string" => format!("hostname \"{}\"\n", "a".repeat(1 << 20)),
        "huge-unterminated-string" => format!("hostname \"{}\n", "a".repeat(1 << 20)),
        "huge-identifier" => format!("{} \"x\"\n", "a".repeat(1 << 20)),
        "many-rules" => stage(&"  reject if client in trusted\n".repeat(100_000)),
        "many-recipient-rules" => format!(
            "transport t = discard\ndomains d = [\"d.test\"]\nrecipient {{\n{}  default => deliver t\n}}\n",
            "  domain d => deliver t\n".repeat(20_000)
        ),
        "only-hash" => "#".to_string(),
        "only-hashes" => "#".repeat(1 << 20),
        "only-comment-lines" => "#\n".repeat(100_000),
        _ => return None,
    })
}

const PATHOLOGICAL: &[&str] = &[
    "nested-parens",
    "unclosed-parens",
    "not-chain-1000",
    "not-chain-3000",
    "not-chain-10000",
    "not-chains-in-brackets",
    "nested-lists",
    "unclosed-lists",
    "nested-maps",
    "long-or-chain",
    "long-list",
    "huge-string",
    "huge-unterminated-string",
    "huge-identifier",
    "many-rules",
    "many-recipient-rules",
    "only-hash",
    "only-hashes",
    "only-comment-lines",
];

/// `fuzz/regressions/`: inputs the fuzzers (or this test) once broke.
fn regressions_dir() -> PathBuf {
    Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/fuzz/regressions")).to_path_buf()
}

/// [`PATHOLOGICAL`] and every file in `fuzz/regressions/`.
fn pathological_cases() -> Vec<String> {
    let mut cases: Vec<String> = PATHOLOGICAL.iter().map(|s| s.to_string()).collect();
    let mut files: Vec<String> = std::fs::read_dir(regressions_dir())
        .into_iter()
        .flatten()
        .flatten()
        .filter(|e| e.path().is_file())
        .map(|e| format!("regression:{}", e.file_name().to_string_lossy()))
        .collect();
    files.sort();
    cases.extend(files);
    cases
}

/// Time one call on a pathological input may take: they are megabytes,
/// and the test usually runs in a debug build.
const PATHOLOGICAL_LIMIT: Duration = Duration::from_secs(20);

/// The child process's side of [`pathological_inputs`]: runs the case
/// named by `MAILC_MUTATION_CASE` on a thread with a main thread's stack.
#[test]
#[ignore = "entry point of the child processes that pathological_inputs spawns"]
fn pathological_child() {
    let Ok(name) = std::env::var(CHILD_ENV) else { return };
    let text = pathological(&name).unwrap_or_else(|| panic!("unknown case {name}"));
    let path = failure_dir().join("empty").join("policy.mailc");
    let result = thread::Builder::new()
        .stack_size(STACK_SIZE)
        .spawn(move || {
            let thorough = text.len() < 100_000;
            exercise_with(&path, &text, PATHOLOGICAL_LIMIT, thorough).map_err(|p| p.describe())
        })
        .expect("spawn")
        .join()
        .expect("exercise never panics");
    if let Err(problem) = result {
        panic!("{problem}");
    }
}

#[test]
fn pathological_inputs_neither_crash_nor_hang() {
    let exe = std::env::current_exe().expect("the test binary's path");
    let mut failures = Vec::new();
    let started = Instant::now();
    let cases = pathological_cases();
    for name in &cases {
        let name = name.as_str();
        let mut child = Command::new(&exe)
            .args(["pathological_child", "--exact", "--ignored", "--nocapture", "--test-threads=1"])
            .env(CHILD_ENV, name)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn the test binary");
        let start = Instant::now();
        let status = loop {
            if let Some(status) = child.try_wait().expect("wait for the child") {
                break Some(status);
            }
            if start.elapsed() > CHILD_LIMIT {
                let _ = child.kill();
                let _ = child.wait();
                break None;
            }
            thread::sleep(Duration::from_millis(20));
        };
        let output = child.wait_with_output().expect("the child's output");
        let stderr = String::from_utf8_lossy(&output.stderr);
        let stdout = String::from_utf8_lossy(&output.stdout);
        let verdict = match status {
            None => format!("hang: killed after {CHILD_LIMIT:?}"),
            Some(s) if s.success() => continue,
            Some(s) => {
                let why = stderr
                    .lines()
                    .chain(stdout.lines().filter(|l| l.contains("panicked")))
                    .filter(|l| !l.trim().is_empty() && !l.starts_with("note:"))
                    .take(8)
                    .collect::<Vec<_>>()
                    .join("\n    ");
                format!("{s} after {:?}\n    {why}", start.elapsed())
            }
        };
        let file = failure_dir().join(format!("pathological-{}.mailc", file_name(name)));
        let _ = std::fs::write(&file, pathological(name).unwrap_or_default());
        failures.push(format!("{name} ({}): {verdict}", file.display()));
    }
    assert!(failures.is_empty(), "pathological inputs failed:\n  {}", failures.join("\n  "));
    eprintln!("{} pathological inputs and regressions: no crash, no hang ({:?})", cases.len(), started.elapsed());
}
