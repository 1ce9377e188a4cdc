//! `mailc test POLICY`: run the `test` blocks of a policy through the engine.

use std::path::PathBuf;

use clap::ValueEnum;
use mailc_artifact::graph::{Context as TestContext, Expectation, TestCase};
use mailc_runtime::engine::dns::StaticResolver;
use mailc_runtime::engine::session::Dialogue;
use mailc_runtime::engine::{Context, Disposition, Engine, Facts, Resolution, Trace, Verdict};
use serde_json::json;

use crate::test_addr::load_engine;

/// Run a policy's `test` blocks through the same engine the daemon uses.
///
/// Recipient tests give a recipient (with sender, client, helo, auth) and
/// what must happen: accept, reject or defer (with code), deliver by a
/// transport (via a next hop, to these final recipients), discard, hold.
/// Session tests give a dialogue and the reply each line must get. A
/// failing test shows what was expected, what happened, and the trace.
/// DNS questions get no records (tests do not touch the network), except
/// the test points every block list must list (RFC 5782: 127.0.0.2 and
/// the domain `test`), so block-list rules can be tested. The
/// last line is `N passed, N failed`; exit status 1 when any failed.
#[derive(clap::Args)]
#[command(
    after_help = "Examples:\n  mailc test policy.mailc\n  mailc test --format junit policy.mailc > mailc-tests.xml"
)]
pub struct Args {
    /// `human`, `json` or `junit` (JUnit XML for CI systems).
    #[arg(long, value_enum, default_value_t = Format::Human)]
    pub format: Format,
    /// The policy or artifact whose tests to run.
    pub policy: PathBuf,
}

/// Output formats.
#[derive(Clone, Copy, ValueEnum)]
pub enum Format {
    /// Progress and failures, for people.
    Human,
    /// One JSON document.
    Json,
    /// JUnit XML.
    Junit,
}

struct Outcome {
    name: String,
    failures: Vec<(String, String, String, String)>, // where, expected, actual, trace
}

pub fn run(args: Args) -> u8 {
    let engine = match load_engine(&args.policy) {
        Ok(e) => e,
        Err(code) => return code,
    };
    let dns = StaticResolver::with_test_points();
    let outcomes: Vec<Outcome> = engine
        .graph()
        .tests
        .iter()
        .map(|t| Outcome {
            name: t.name.clone(),
            failures: t.cases.iter().filter_map(|c| run_case(&engine, &dns, c)).collect(),
        })
        .collect();
    let failed = outcomes.iter().filter(|o| !o.failures.is_empty()).count();
    let passed = outcomes.len() - failed;
    let text = match args.format {
        Format::Human => human(&outcomes, passed, failed),
        Format::Json => format!("{}\n", json(&outcomes, passed, failed)),
        Format::Junit => junit(&args.policy.display().to_string(), &outcomes, failed),
    };
    print!("{text}");
    u8::from(failed > 0)
}

fn context(c: &TestContext) -> Context {
    Context {
        sender: c.from.clone().unwrap_or_default(),
        client_ip: c.client.clone(),
        client_name: c.client_name.clone(),
        helo: c.helo.clone(),
        authenticated: c.is_authenticated.then(|| c.authenticated.clone().unwrap_or_else(|| "user".into())),
        tls: c.tls,
    }
}

fn render_trace(engine: &Engine, trace: &Trace) -> String {
    trace
        .steps
        .iter()
        .map(|s| {
            let indent = "  ".repeat(s.depth + 2);
            match (&s.origin, s.event.is_empty()) {
                (Some(o), true) => format!("{indent}step {o}"),
                (Some(o), false) => format!("{indent}{} {o}", s.event),
                (None, _) => format!("{indent}  {}", s.event),
            }
        })
        .chain(std::iter::once(format!("    (artifact {})", &engine.source_hash()[..12])))
        .collect::<Vec<_>>()
        .join("\n")
}

/// Runs one case; `Some((where, expected, actual, trace))` when it fails.
fn run_case(engine: &Engine, dns: &StaticResolver, case: &TestCase) -> Option<(String, String, String, String)> {
    match case {
        TestCase::Rcpt { recipient, context: c, expect, origin } => {
            let mut trace = Trace::default();
            let (resolution, verdict) = engine.rcpt(&context(c), &Facts::default(), recipient, dns, Some(&mut trace));
            let actual = describe(engine, &resolution, &verdict);
            let expected: Vec<String> = expect.iter().map(|x| describe_expectation(engine, x)).collect();
            let ok = matches(engine, expect, &resolution, &verdict);
            (!ok).then(|| (engine.cite(origin), expected.join(" and "), actual, render_trace(engine, &trace)))
        }
        TestCase::Session { context: c, exchanges, origin } => {
            let mut dialogue = Dialogue::new(engine, dns, context(c));
            let mut log = Vec::new();
            for (line, code, enhanced) in exchanges {
                let mut trace = Trace::default();
                let (got, got_enh, text) = match line {
                    None => dialogue.connect(Some(&mut trace)),
                    Some(l) => dialogue.send(l, Some(&mut trace)),
                };
                let shown = line.as_deref().unwrap_or("(connect)").lines().next().unwrap_or("").to_string();
                log.push(format!("      C: {shown}\n      S: {got} {got_enh} {text}"));
                let enh_ok = enhanced.as_ref().is_none_or(|e| *e == got_enh);
                if got != *code || !enh_ok {
                    let expected = format!(
                        "`{shown}` => {code}{}",
                        enhanced.as_ref().map(|e| format!(" {e}")).unwrap_or_default()
                    );
                    let actual = format!("{got} {got_enh} {text}");
                    return Some((
                        engine.cite(origin),
                        expected,
                        actual,
                        format!("{}\n{}", log.join("\n"), render_trace(engine, &trace)),
                    ));
                }
            }
            None
        }
    }
}

/// The next hop a final recipient goes to: its own, or its transport's.
fn nexthop(engine: &Engine, transport: u32, nexthop: &Option<String>) -> Option<String> {
    nexthop.clone().or_else(|| {
        let t = engine.graph().transports.get(transport as usize)?;
        matches!(t.kind.as_str(), "smtp" | "lmtp").then(|| t.target.clone()).flatten()
    })
}

fn transport_kind(engine: &Engine, t: u32) -> &str {
    engine.graph().transports.get(t as usize).map_or("", |t| t.kind.as_str())
}

fn matches(engine: &Engine, expect: &[Expectation], r: &Resolution, verdict: &Verdict) -> bool {
    let finals = match r {
        Resolution::Accepted(f) => Some(f),
        _ => None,
    };
    let every_final = |pred: &dyn Fn(&Disposition) -> bool| {
        finals.is_some_and(|f| !f.is_empty() && f.iter().all(|x| pred(&x.disposition)))
    };
    let mut covered = vec![false; finals.map_or(0, |f| f.len())];
    let mut delivers = false;
    for x in expect {
        let ok = match x {
            Expectation::Accept => finals.is_some(),
            Expectation::Reject(code, enh) => match r {
                Resolution::Rejected(rep) => {
                    code.is_none_or(|c| c == rep.code) && enh.as_ref().is_none_or(|e| *e == rep.enhanced)
                }
                _ => false,
            },
            Expectation::Defer(code, enh) => match r {
                Resolution::Deferred(rep) => {
                    code.is_none_or(|c| c == rep.code) && enh.as_ref().is_none_or(|e| *e == rep.enhanced)
                }
                _ => false,
            },
            Expectation::Discard => {
                *verdict == Verdict::Discard
                    || every_final(&|d| {
                        matches!(d, Disposition::Discard)
                            || matches!(d, Disposition::Deliver { transport, .. } if transport_kind(engine, *transport) == "discard")
                    })
            }
            Expectation::Hold => {
                *verdict == Verdict::Hold
                    || every_final(&|d| {
                        matches!(d, Disposition::Hold)
                            || matches!(d, Disposition::Deliver { transport, .. } if transport_kind(engine, *transport) == "hold")
                    })
            }
            Expectation::Deliver { transport, via, to } => {
                delivers = true;
                let Some(finals) = finals else { return false };
                let mine: Vec<usize> = finals
                    .iter()
                    .enumerate()
                    .filter(
                        |(_, f)| matches!(&f.disposition, Disposition::Deliver { transport: t, .. } if t == transport),
                    )
                    .map(|(i, _)| i)
                    .collect();
                let via_ok = via.as_ref().is_none_or(|v| {
                    mine.iter().all(|&i| match &finals[i].disposition {
                        Disposition::Deliver { transport, nexthop: n } => {
                            nexthop(engine, *transport, n).as_deref() == Some(v.as_str())
                        }
                        _ => false,
                    })
                });
                let to_ok = to.as_ref().is_none_or(|want| {
                    let mut got: Vec<&str> = mine.iter().map(|&i| finals[i].recipient.as_str()).collect();
                    let mut want: Vec<&str> = want.iter().map(String::as_str).collect();
                    got.sort_unstable();
                    want.sort_unstable();
                    got == want
                });
                for &i in &mine {
                    covered[i] = true;
                }
                !mine.is_empty() && via_ok && to_ok
            }
        };
        if !ok {
            return false;
        }
    }
    // Deliver expectations describe every final recipient.
    !delivers || covered.iter().all(|c| *c)
}

fn describe_expectation(engine: &Engine, x: &Expectation) -> String {
    let code = |c: &Option<u16>, e: &Option<String>| {
        [c.map(|c| c.to_string()), e.clone()].into_iter().flatten().collect::<Vec<_>>().join(" ")
    };
    match x {
        Expectation::Accept => "accept".into(),
        Expectation::Reject(c, e) => format!("reject {}", code(c, e)).trim().to_string(),
        Expectation::Defer(c, e) => format!("defer {}", code(c, e)).trim().to_string(),
        Expectation::Discard => "discard".into(),
        Expectation::Hold => "hold".into(),
        Expectation::Deliver { transport, via, to } => {
            let mut s = format!("deliver {}", engine.transport_name(*transport));
            if let Some(v) = via {
                s.push_str(&format!(" via \"{v}\""));
            }
            if let Some(t) = to {
                s.push_str(&format!(" to [{}]", t.iter().map(|a| format!("\"{a}\"")).collect::<Vec<_>>().join(", ")));
            }
            s
        }
    }
}

fn describe(engine: &Engine, r: &Resolution, verdict: &Verdict) -> String {
    let extra = match verdict {
        Verdict::Hold => " (message held)",
        Verdict::Discard => " (message discarded)",
        _ => "",
    };
    match r {
        Resolution::Accepted(finals) => {
            let parts: Vec<String> = finals
                .iter()
                .map(|f| match &f.disposition {
                    Disposition::Deliver { transport, nexthop: n } => {
                        let hop = nexthop(engine, *transport, n).map(|h| format!(" via \"{h}\"")).unwrap_or_default();
                        format!("deliver {}{hop} to [\"{}\"]", engine.transport_name(*transport), f.recipient)
                    }
                    other => format!("{:?} for \"{}\"", other, f.recipient),
                })
                .collect();
            format!("{}{extra}", parts.join(" and "))
        }
        Resolution::Rejected(rep) => format!("reject {rep}"),
        Resolution::Deferred(rep) => format!("defer {rep}"),
    }
}

fn human(outcomes: &[Outcome], passed: usize, failed: usize) -> String {
    let mut out = String::new();
    for o in outcomes {
        if o.failures.is_empty() {
            out.push_str(&format!("test \"{}\" ... ok\n", o.name));
            continue;
        }
        out.push_str(&format!("test \"{}\" ... FAILED\n", o.name));
        for (at, expected, actual, trace) in &o.failures {
            out.push_str(&format!("  {at}\n    expected: {expected}\n    actual:   {actual}\n{trace}\n"));
        }
    }
    out.push_str(&format!("{passed} passed, {failed} failed\n"));
    out
}

fn json(outcomes: &[Outcome], passed: usize, failed: usize) -> serde_json::Value {
    json!({
        "tests": outcomes.iter().map(|o| json!({
            "name": o.name,
            "passed": o.failures.is_empty(),
            "failures": o.failures.iter().map(|(at, e, a, t)| json!({"case": at, "expected": e, "actual": a, "trace": t})).collect::<Vec<_>>(),
        })).collect::<Vec<_>>(),
        "passed": passed,
        "failed": failed,
    })
}

fn xml(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}

fn junit(policy: &str, outcomes: &[Outcome], failed: usize) -> String {
    let mut out = format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<testsuite name=\"mailc\" tests=\"{}\" failures=\"{failed}\">\n",
        outcomes.len()
    );
    for o in outcomes {
        out.push_str(&format!("  <testcase classname=\"{}\" name=\"{}\"", xml(policy), xml(&o.name)));
        if o.failures.is_empty() {
            out.push_str("/>\n");
            continue;
        }
        out.push_str(">\n");
        for (at, e, a, t) in &o.failures {
            out.push_str(&format!(
                "    <failure message=\"expected {} got {}\">{}\n{}</failure>\n",
                xml(e),
                xml(a),
                xml(at),
                xml(t)
            ));
        }
        out.push_str("  </testcase>\n");
    }
    out.push_str("</testsuite>\n");
    out
}
