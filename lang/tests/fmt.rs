//! The formatter: idempotent, meaning-preserving, comment-preserving, on
//! every example policy and on the fixtures under `tests/fmt/`, plus
//! golden layouts of small messy inputs.

use std::path::{Path, PathBuf};

use mailc_lang::fmt::format;
use mailc_lang::{parse, FileId};

fn collect(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries {
        let path = entry.unwrap().path();
        if path.is_dir() {
            collect(&path, out);
        } else if path.extension().is_some_and(|e| e == "mailc") {
            out.push(path);
        }
    }
}

fn policies() -> Vec<PathBuf> {
    let mut files = Vec::new();
    collect(Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/../examples")), &mut files);
    let examples = files.len();
    collect(Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fmt")), &mut files);
    assert!(examples >= 1, "no example policies found");
    assert!(files.len() >= examples + 3, "fixtures under tests/fmt/ missing");
    files.sort();
    files
}

/// Comment texts, trimmed, sorted: an independent scan of `#` outside
/// string literals.
fn comments(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut chars = text.char_indices().peekable();
    while let Some((i, c)) = chars.next() {
        match c {
            '"' => {
                while let Some((_, c)) = chars.next() {
                    match c {
                        '\\' => {
                            chars.next();
                        }
                        '"' => break,
                        _ => {}
                    }
                }
            }
            '#' => {
                let end = text[i..].find('\n').map_or(text.len(), |n| i + n);
                out.push(text[i..end].trim().to_string());
                while chars.peek().is_some_and(|&(j, _)| j < end) {
                    chars.next();
                }
            }
            _ => {}
        }
    }
    out.sort();
    out
}

fn ast(text: &str) -> String {
    match parse(FileId(0), text) {
        Ok(p) => format!("{:?}", p.items),
        Err(e) => panic!("{e:?} at {:?}\n{text}", text.get(e.span.range())),
    }
}

fn check(name: &str, text: &str) -> String {
    let once = format(text).unwrap_or_else(|e| panic!("{name}: {e:?}"));
    let twice = format(&once).unwrap_or_else(|e| panic!("{name}: output does not parse: {e:?}\n{once}"));
    assert_eq!(once, twice, "{name}: not idempotent");
    assert_eq!(ast(text), ast(&once), "{name}: meaning changed\n{once}");
    assert_eq!(comments(text), comments(&once), "{name}: comments lost or duplicated\n{once}");
    assert!(once.ends_with('\n') && !once.ends_with("\n\n"), "{name}: must end with one newline");
    for line in once.lines() {
        assert_eq!(line, line.trim_end(), "{name}: trailing whitespace");
    }
    once
}

#[test]
fn examples_and_fixtures_are_stable() {
    for path in policies() {
        let text = std::fs::read_to_string(&path).unwrap();
        check(&path.display().to_string(), &text);
    }
}

#[test]
fn fixtures_cover_the_grammar() {
    let mut all = String::new();
    let mut files = Vec::new();
    collect(Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fmt")), &mut files);
    for f in files {
        all.push_str(&format(&std::fs::read_to_string(f).unwrap()).unwrap());
    }
    for construct in [
        "include ",
        "network ",
        "domains ",
        " : local",
        "table ",
        " -> [",
        " directory ",
        "transport ",
        "reply ",
        "dnsbl ",
        "rewrite {",
        "canonical ",
        "masquerade ",
        " except ",
        " for ",
        " in ",
        "lookup [",
        "recipient {",
        "default =>",
        "domain [",
        "address in ",
        "relocated ",
        "expand ",
        " extension ",
        " catchall ",
        "require ",
        "route ",
        " else ",
        "deliver ",
        " via ",
        "luser_relay ",
        "bcc ",
        "reject",
        "defer",
        "discard",
        "hold",
        "copy {",
        "archive ",
        "on ",
        "default accept",
        "check ",
        "continue",
        "warn ",
        " if ",
        " or ",
        " and ",
        "not (",
        " not in ",
        " >= ",
        "(",
        " per ",
        "MB",
        "KiB",
        "1h30m",
        "/24",
        "::1",
        "yes",
        "no",
        "test ",
        "rcpt ",
        "session ",
        "connect =>",
        "from ",
        "client ",
        " name ",
        "helo ",
        "authenticated",
        "tls",
        " to [",
        "accept",
        " 5.7.1",
        "file ",
        " = {",
        "{ ",
    ] {
        assert!(all.contains(construct), "fixtures never use `{construct}`");
    }
}

#[test]
fn errors_are_the_parsers() {
    assert!(format("network = [").is_err());
    assert_eq!(format("").unwrap(), "\n");
    assert_eq!(format("# only\n\n\n# comments   \n").unwrap(), "# only\n\n# comments\n");
}

#[test]
fn golden_one_line() {
    let src = r#"hostname "mx.test" queue_lifetime 1h30m   message_size_limit 10MB network trusted = [127.0.0.1/8, ::1]  domains local : local = ["a.test"] table t : address -> [address] = { "a@x" -> ["b@x"], "c@x" -> ["d@x", "e@x"] } table one : local = { "alice" } transport out = smtp "[10.0.0.1]:25" { mx, tls required } recipient { domain local => expand t, deliver out default => reject 554 5.7.1 "no" } on rcpt { accept if client in trusted or authenticated and not (sender.has_at or x) reject if not recipient.final default accept } test "t" { rcpt "a@a.test" from "b@b.test" => deliver out to ["a@a.test"] session client 192.0.2.1 { connect => 220 "QUIT" => 221 2.0.0 } }"#;
    insta::assert_snapshot!(check("one_line", src));
}

#[test]
fn golden_bad_indentation() {
    let src = "
        hostname    \"mx.test\"


            recipient_limit 1000
   transport a = discard
      transport b = discard


transport c = discard
  recipient {
domain [\"x.test\", \"y.test\"]=>deliver a
        default=>deliver b
 }
        on   mail{default   accept}
";
    insta::assert_snapshot!(check("bad_indentation", src));
}

#[test]
fn golden_comments() {
    let src = r#"# header

# about the host
hostname "mx.test" # trailing
banner # inside a setting
  "x"
table t # after name
  : address -> address = { # after brace
  # before the first entry
  "a" -> "b", # after a
  "c" # between key and value
    -> "d"
  # after the last entry
} # after the table
recipient { # after recipient brace
  # before a rule
  domain [ "a.test" ] => deliver x, # after a step
     # before a step
     deliver y
  default => reject # trailing reject
  # before closing
}
test "t" {
  session # before context
  tls { # after session brace
    connect => 220 # banner
    # last exchange next
    "QUIT" => 221
  }
}
# end
"#;
    insta::assert_snapshot!(check("comments", src));
}

#[test]
fn golden_long_lines() {
    let src = r#"domains many = ["one.example.test", "two.example.test", "three.example.test", "four.example.test", "five.example.test"]
recipient {
  domain many => expand aliases_for_many_domains lookup [user+ext@domain, user@domain, @domain] else reject 550 5.1.1 "unknown", require users, route routes else defer, deliver mailbox  # trailing
}
"#;
    insta::assert_snapshot!(check("long_lines", src));
}

/// Rewrites every run of whitespace outside strings and comments with `f`
/// (given the run's index).
fn rewrite_gaps(text: &str, mut f: impl FnMut(usize) -> String) -> String {
    let mut out = String::new();
    let mut chars = text.chars().peekable();
    let mut n = 0;
    while let Some(c) = chars.next() {
        match c {
            '"' => {
                out.push(c);
                while let Some(c) = chars.next() {
                    out.push(c);
                    match c {
                        '\\' => out.extend(chars.next()),
                        '"' => break,
                        _ => {}
                    }
                }
            }
            '#' => {
                out.push(c);
                while let Some(&c) = chars.peek() {
                    if c == '\n' {
                        break;
                    }
                    out.push(c);
                    chars.next();
                }
            }
            c if c.is_whitespace() => {
                while chars.peek().is_some_and(|c| c.is_whitespace()) {
                    chars.next();
                }
                n += 1;
                out.push_str(&f(n));
            }
            c => out.push(c),
        }
    }
    out
}

/// The text without its comments.
fn strip_comments(text: &str) -> String {
    let mut out = String::new();
    let mut in_string = false;
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' if in_string => {
                out.push(c);
                out.extend(chars.next());
                continue;
            }
            '"' => in_string = !in_string,
            '#' if !in_string => {
                out.extend(chars.by_ref().find(|&c| c == '\n'));
                continue;
            }
            _ => {}
        }
        out.push(c);
    }
    out
}

#[test]
fn comments_in_every_gap_blank_lines_everywhere_and_one_line() {
    for path in policies() {
        let text = std::fs::read_to_string(&path).unwrap();
        let name = path.display().to_string();
        check(&format!("{name} (comment in every gap)"), &rewrite_gaps(&text, |n| format!(" # c{n}\n")));
        check(&format!("{name} (blank lines everywhere)"), &rewrite_gaps(&text, |_| "\n\n\n".to_string()));
        check(&format!("{name} (tabs)"), &rewrite_gaps(&text, |_| "\t\r\n \t".to_string()));
        let no_comments = strip_comments(&text);
        check(&format!("{name} (one line)"), &rewrite_gaps(&no_comments, |_| " ".to_string()));
    }
}

#[test]
fn strings_keep_their_value() {
    // A backslash before a raw tab or newline (a backslash-continued line).
    let src = "banner \"a\\\tb\" greeting \"c\\\nd\" path \"^a\\.b$\" q \"\\\"\\\\\" e \"x\\\\\"\n";
    let out = check("strings", src);
    assert!(out.contains(r#""^a\.b$""#), "{out}");
}

#[test]
fn comment_like_text_in_strings_is_not_a_comment() {
    let out = check("hash", "banner \"# not a comment\" # a comment\nx \"a\\\"#b\"\n");
    assert_eq!(out, "banner \"# not a comment\"  # a comment\nx \"a\\\"#b\"\n");
}

/// Every policy file of the bad-policy corpus (`tests/bad/` at the top of
/// the workspace) that parses: broken meaning is no excuse for the
/// formatter to change it. Files with syntax errors must be refused, not
/// formatted.
#[test]
fn corpus_files_are_stable_or_refused() {
    let mut files = Vec::new();
    collect(Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/../tests/bad")), &mut files);
    assert!(files.len() >= 40, "the corpus is missing: {} files", files.len());
    let mut formatted = 0;
    for path in files {
        let Ok(text) = std::fs::read_to_string(&path) else { continue };
        let name = path.display().to_string();
        if parse(FileId(0), &text).is_ok() {
            check(&name, &text);
            formatted += 1;
        } else {
            assert!(format(&text).is_err(), "{name}: a file that does not parse was formatted");
        }
    }
    assert!(formatted >= 40, "only {formatted} corpus files parse");
}
