//! `mailc test addr`: how an address is rewritten and routed, step by step.

use std::io::{BufRead, BufWriter, Write};
use std::path::{Path, PathBuf};

use clap::ValueEnum;
use mailc_artifact::Artifact;
use mailc_runtime::engine::{Context, Disposition, Engine, Final, Resolution, Trace};
use serde_json::json;

use crate::report;

/// Trace how recipients are resolved: every rule (file:line), every table
/// key tried (hit or miss), every expansion, and the final recipients with
/// transport and next hop, or the reply a refused recipient gets.
///
/// POLICY may be a policy (compiled in memory) or an artifact. With `-`
/// instead of addresses, one address is read per line from standard input
/// and one result line is printed per address (`address<TAB>result`), for
/// checking many addresses at once. Exit status: 0 all resolved as traced,
/// 1 the policy has errors, 2 usage or I/O problems.
#[derive(clap::Args)]
#[command(
    after_help = "Examples:\n  mailc test addr policy.mailc postmaster@example.com\n  mailc test addr --format json policy.mca info@example.org\n  cut -f1 recipients.txt | mailc test addr policy.mca -"
)]
pub struct Args {
    /// Envelope sender (`""` for the null sender).
    #[arg(long, default_value = "")]
    from: String,
    /// Client IP address.
    #[arg(long)]
    client: Option<String>,
    /// The client's reverse name.
    #[arg(long, requires = "client")]
    client_name: Option<String>,
    /// HELO name.
    #[arg(long)]
    helo: Option<String>,
    /// The client authenticated.
    #[arg(long)]
    auth: bool,
    /// Simulate an SMTP session instead (like `exim -bh`): greeting, EHLO,
    /// MAIL FROM, a RCPT TO per address, DATA and a short message, each
    /// reply as the stages give it; with `-`, SMTP lines are read from
    /// standard input and answered one by one.
    #[arg(long)]
    session: bool,
    /// `human` (the trace) or `json` (one object per address).
    #[arg(long, value_enum, default_value_t = Format::Human)]
    format: Format,
    /// The policy or artifact.
    policy: PathBuf,
    /// Recipients to resolve, or `-` to read them from standard input.
    #[arg(required = true)]
    addresses: Vec<String>,
}

/// Output formats.
#[derive(Clone, Copy, ValueEnum)]
pub enum Format {
    /// The trace, for people.
    Human,
    /// JSON, one object per address.
    Json,
}

/// The artifact at `path`, or the policy there compiled in memory (then
/// with its checked form, for callers that want declarations' origins).
/// Problems are printed; the error is the exit status.
pub fn load_artifact(path: &Path) -> Result<(Artifact, Option<mailc_compiler::Checked>), u8> {
    let is_artifact = std::fs::File::open(path)
        .and_then(|mut f| {
            let mut magic = [0; 8];
            std::io::Read::read_exact(&mut f, &mut magic).map(|_| magic == mailc_artifact::container::MAGIC)
        })
        .unwrap_or(false);
    if is_artifact {
        return Artifact::open(path).map(|a| (a, None)).map_err(|e| {
            eprintln!("error: `{}`: {e}", path.display());
            1
        });
    }
    let checked = mailc_compiler::check_file(path).map_err(|e| {
        eprintln!("error: {e}");
        2
    })?;
    if checked.has_errors() {
        print!("{}", report::human(&checked));
        return Err(1);
    }
    let bytes = mailc_compiler::lower::compile(&checked).map_err(|e| {
        eprintln!("error: {e}");
        1
    })?;
    let artifact = Artifact::from_bytes(bytes).map_err(|e| {
        eprintln!("error: {e}");
        1
    })?;
    Ok((artifact, Some(checked)))
}

/// Loads an artifact, or compiles a policy in memory, into an engine.
pub fn load_engine(path: &Path) -> Result<Engine, u8> {
    let (artifact, _) = load_artifact(path)?;
    Engine::load(artifact).map_err(|e| {
        eprintln!("error: `{}`: {e}", path.display());
        1
    })
}

pub fn run(args: Args) -> u8 {
    let engine = match load_engine(&args.policy) {
        Ok(e) => e,
        Err(code) => return code,
    };
    let ctx = Context {
        sender: args.from.clone(),
        client_ip: args.client.clone(),
        client_name: args.client_name.clone(),
        helo: args.helo.clone(),
        authenticated: args.auth.then(|| "user".to_string()),
        tls: false,
    };
    let stdout = std::io::stdout();
    let mut out = BufWriter::new(stdout.lock());
    if args.session {
        return session(&engine, ctx, &args, &mut out);
    }
    if args.addresses == ["-"] {
        let stdin = std::io::stdin();
        for line in stdin.lock().lines() {
            let Ok(line) = line else {
                eprintln!("error: cannot read standard input");
                return 2;
            };
            let address = line.trim();
            if address.is_empty() {
                continue;
            }
            let resolution = engine.resolve(&ctx, address, None);
            let written = match args.format {
                Format::Human => writeln!(out, "{address}\t{}", summary(&engine, &resolution)),
                Format::Json => writeln!(out, "{}", to_json(&engine, address, &resolution, None)),
            };
            if written.is_err() {
                return 2;
            }
        }
        return if out.flush().is_ok() { 0 } else { 2 };
    }
    for address in &args.addresses {
        let mut trace = Trace::default();
        let resolution = engine.resolve(&ctx, address, Some(&mut trace));
        let text = match args.format {
            Format::Human => human(&engine, address, &resolution, &trace),
            Format::Json => format!("{}\n", to_json(&engine, address, &resolution, Some(&trace))),
        };
        if out.write_all(text.as_bytes()).is_err() {
            return 2;
        }
    }
    if out.flush().is_ok() {
        0
    } else {
        2
    }
}

/// A simulated session: each line the client sends, the reply, and the
/// rules behind it.
fn session(engine: &Engine, ctx: Context, args: &Args, out: &mut impl Write) -> u8 {
    let dns = mailc_runtime::engine::dns::StaticResolver::with_test_points();
    let mut dialogue = mailc_runtime::engine::session::Dialogue::new(engine, &dns, ctx);
    let lines: Vec<String> = if args.addresses == ["-"] {
        std::io::stdin().lock().lines().map_while(Result::ok).collect()
    } else {
        let mut l = vec![
            format!("EHLO {}", args.helo.as_deref().unwrap_or("client.example")),
            format!("MAIL FROM:<{}>", args.from),
        ];
        l.extend(args.addresses.iter().map(|a| format!("RCPT TO:<{a}>")));
        l.extend(["DATA".to_string(), "Subject: test\r\n\r\ntest\r\n.".to_string(), "QUIT".to_string()]);
        l
    };
    let mut text = String::new();
    let mut trace = Trace::default();
    let (code, enh, reply) = dialogue.connect(Some(&mut trace));
    text.push_str(&render_exchange(None, code, &enh, &reply, &trace));
    for line in &lines {
        let mut trace = Trace::default();
        let (code, enh, reply) = dialogue.send(line, Some(&mut trace));
        text.push_str(&render_exchange(Some(line), code, &enh, &reply, &trace));
    }
    if out.write_all(text.as_bytes()).and_then(|_| out.flush()).is_ok() {
        0
    } else {
        2
    }
}

fn render_exchange(line: Option<&str>, code: u16, enh: &str, reply: &str, trace: &Trace) -> String {
    let mut s = match line {
        Some(l) => format!("C: {}\n", l.lines().next().unwrap_or("")),
        None => "C: (connects)\n".to_string(),
    };
    for step in trace.steps.iter().filter(|s| s.origin.is_some() && !s.event.is_empty()) {
        s.push_str(&format!("   {} {}\n", step.event, step.origin.as_deref().unwrap_or("")));
    }
    s.push_str(&format!("S: {code} {enh} {reply}\n").replace("  ", " "));
    s
}

fn disposition(engine: &Engine, f: &Final) -> String {
    match &f.disposition {
        Disposition::Deliver { transport, nexthop } => {
            let kind = engine.graph().transports.get(*transport as usize).map_or("?", |t| t.kind.as_str());
            match nexthop {
                Some(h) => format!("deliver by `{}` ({kind}) via {h}", engine.transport_name(*transport)),
                None => format!("deliver by `{}` ({kind})", engine.transport_name(*transport)),
            }
        }
        Disposition::Discard => "discard".into(),
        Disposition::Hold => "hold".into(),
        Disposition::Command(c) => format!("pipe to command `{c}`"),
        Disposition::File(p) => format!("append to file `{p}`"),
        Disposition::Include(p) => format!("expand the list `{p}` at delivery"),
        Disposition::Bounce(r) => format!("bounce: {r}"),
        Disposition::Defer(r) => format!("defer: {r}"),
    }
}

/// One line: the outcome only.
fn summary(engine: &Engine, r: &Resolution) -> String {
    match r {
        Resolution::Accepted(finals) => {
            finals.iter().map(|f| format!("{}: {}", f.recipient, disposition(engine, f))).collect::<Vec<_>>().join("; ")
        }
        Resolution::Rejected(reply) => format!("reject {reply}"),
        Resolution::Deferred(reply) => format!("defer {reply}"),
    }
}

/// The trace and the outcome, indented by expansion depth.
fn human(engine: &Engine, address: &str, r: &Resolution, trace: &Trace) -> String {
    let mut out = format!("{address}\n");
    for step in &trace.steps {
        let indent = "  ".repeat(step.depth + 1);
        match (&step.origin, step.event.is_empty()) {
            (Some(o), true) => out.push_str(&format!("{indent}step {o}\n")),
            (Some(o), false) => out.push_str(&format!("{indent}{} {o}\n", step.event)),
            (None, _) => out.push_str(&format!("{indent}  {}\n", step.event)),
        }
    }
    match r {
        Resolution::Accepted(finals) => {
            for f in finals {
                let via = if f.chain.is_empty() {
                    String::new()
                } else {
                    format!(" (expanded from {})", f.chain.join(" -> "))
                };
                out.push_str(&format!("  => {}: {}{via}\n", f.recipient, disposition(engine, f)));
            }
        }
        Resolution::Rejected(reply) => out.push_str(&format!("  => reject {reply}\n")),
        Resolution::Deferred(reply) => out.push_str(&format!("  => defer {reply}\n")),
    }
    out
}

fn to_json(engine: &Engine, address: &str, r: &Resolution, trace: Option<&Trace>) -> serde_json::Value {
    let mut v = match r {
        Resolution::Accepted(finals) => json!({
            "address": address,
            "result": "accept",
            "recipients": finals.iter().map(|f| {
                let (kind, transport, nexthop, reply) = match &f.disposition {
                    Disposition::Deliver { transport, nexthop } => ("deliver", Some(engine.transport_name(*transport).to_string()), nexthop.clone(), None),
                    Disposition::Discard => ("discard", None, None, None),
                    Disposition::Hold => ("hold", None, None, None),
                    Disposition::Command(c) => ("command", None, Some(c.clone()), None),
                    Disposition::File(p) => ("file", None, Some(p.clone()), None),
                    Disposition::Include(p) => ("include", None, Some(p.clone()), None),
                    Disposition::Bounce(r) => ("bounce", None, None, Some(r.to_string())),
                    Disposition::Defer(r) => ("defer", None, None, Some(r.to_string())),
                };
                json!({
                    "recipient": f.recipient, "original": f.original, "disposition": kind,
                    "transport": transport, "nexthop": nexthop, "reply": reply, "expanded_from": f.chain,
                })
            }).collect::<Vec<_>>(),
        }),
        Resolution::Rejected(reply) => json!({
            "address": address, "result": "reject", "code": reply.code, "enhanced": reply.enhanced, "text": reply.text,
        }),
        Resolution::Deferred(reply) => json!({
            "address": address, "result": "defer", "code": reply.code, "enhanced": reply.enhanced, "text": reply.text,
        }),
    };
    if let Some(t) = trace {
        v["trace"] = json!(t
            .steps
            .iter()
            .map(|s| json!({"depth": s.depth, "rule": s.origin, "event": s.event}))
            .collect::<Vec<_>>());
    }
    v["artifact"] = json!(engine.source_hash());
    v
}
