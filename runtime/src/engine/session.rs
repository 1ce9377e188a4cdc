//! A simulated SMTP dialogue over the engine's stage decisions, for
//! session tests and `mailc test addr --session`.
//!
//! It answers each command the way the daemon's stages will: the greeting
//! and HELO/MAIL replies take the `connect`, `helo` and `mail` decisions
//! unless `delay_reject` moves them to RCPT; RCPT takes the full recipient
//! decision; DATA and the end of the message take `data` and
//! `end_of_data`. It models the policy's decisions only: the SMTP
//! protocol itself (pipelining, limits, STARTTLS) is the daemon's SMTP
//! core, which will take over these tests when it exists.

use super::dns::Resolver;
use super::resolve::Resolution;
use super::stages::{Facts, Verdict};
use super::{Context, Engine, Trace};

/// One SMTP dialogue.
pub struct Dialogue<'a> {
    engine: &'a Engine,
    dns: &'a dyn Resolver,
    ctx: Context,
    facts: Facts,
    delay: bool,
    greeted: bool,
    sender: Option<String>,
    recipients: Vec<String>,
    in_data: bool,
}

/// A reply: code, enhanced code, text.
pub type SmtpReply = (u16, String, String);

fn ok(code: u16, enhanced: &str, text: &str) -> SmtpReply {
    (code, enhanced.to_string(), text.to_string())
}

impl<'a> Dialogue<'a> {
    /// A new dialogue with a client described by `ctx` (its sender and
    /// helo are set by the dialogue).
    pub fn new(engine: &'a Engine, dns: &'a dyn Resolver, ctx: Context) -> Dialogue<'a> {
        let delay = !matches!(engine.graph().setting("delay_reject"), Some(mailc_artifact::graph::Value::Bool(false)));
        Dialogue {
            engine,
            dns,
            ctx,
            facts: Facts::default(),
            delay,
            greeted: false,
            sender: None,
            recipients: Vec::new(),
            in_data: false,
        }
    }

    fn verdict(&self, v: Verdict, pass: SmtpReply) -> SmtpReply {
        match v {
            Verdict::Reject(r) | Verdict::Defer(r) => (r.code, r.enhanced, r.text),
            _ => pass,
        }
    }

    /// The greeting.
    pub fn connect(&mut self, trace: Option<&mut Trace>) -> SmtpReply {
        let banner = match self.engine.graph().setting("banner") {
            Some(mailc_artifact::graph::Value::Text(b)) => b.replace("{hostname}", &self.engine.origin_domain),
            _ => format!("{} ESMTP mailc", self.engine.origin_domain),
        };
        if self.delay {
            return ok(220, "", &banner);
        }
        let v = self.engine.stage("connect", &self.ctx, &self.facts, None, self.dns, trace);
        match v {
            Verdict::Reject(r) => (554, r.enhanced, r.text),
            other => self.verdict(other, ok(220, "", &banner)),
        }
    }

    /// One command line (or, after DATA's 354, the whole message ending
    /// with a line holding a single dot).
    pub fn send(&mut self, line: &str, trace: Option<&mut Trace>) -> SmtpReply {
        if self.in_data {
            self.in_data = false;
            self.facts.message_size = line.len() as u64;
            let v = self.engine.stage("end_of_data", &self.ctx, &self.facts, None, self.dns, trace);
            self.sender = None;
            self.recipients.clear();
            return self.verdict(v, ok(250, "2.0.0", "Ok: queued"));
        }
        let (verb, arg) = line.split_once(' ').unwrap_or((line, ""));
        let arg = arg.trim();
        match verb.to_ascii_uppercase().as_str() {
            "HELO" | "EHLO" if arg.is_empty() => ok(501, "5.5.4", "Syntax: EHLO hostname"),
            "HELO" | "EHLO" => {
                self.ctx.helo = Some(arg.to_string());
                self.greeted = true;
                self.sender = None;
                self.recipients.clear();
                if self.delay {
                    return ok(250, "", &self.engine.origin_domain);
                }
                let v = self.engine.stage("helo", &self.ctx, &self.facts, None, self.dns, trace);
                self.verdict(v, ok(250, "", &self.engine.origin_domain))
            }
            "MAIL" => {
                let Some(sender) = path(arg, "FROM:") else { return ok(501, "5.5.4", "Syntax: MAIL FROM:<address>") };
                if self.sender.is_some() {
                    return ok(503, "5.5.1", "Error: nested MAIL command");
                }
                if !sender.is_empty() && mailc_stdlib::address::check_address(&sender).is_err() && sender.contains('@')
                {
                    return ok(553, "5.1.3", "Bad sender address syntax");
                }
                self.ctx.sender = sender.clone();
                if !self.delay {
                    let v = self.engine.stage("mail", &self.ctx, &self.facts, None, self.dns, trace);
                    if let Verdict::Reject(_) | Verdict::Defer(_) = v {
                        return self.verdict(v, ok(250, "2.1.0", "Ok"));
                    }
                }
                self.sender = Some(sender);
                ok(250, "2.1.0", "Ok")
            }
            "RCPT" => {
                let Some(rcpt) = path(arg, "TO:") else { return ok(501, "5.5.4", "Syntax: RCPT TO:<address>") };
                if self.sender.is_none() {
                    return ok(503, "5.5.1", "Error: need MAIL command");
                }
                if rcpt.is_empty() {
                    return ok(501, "5.1.3", "Bad recipient address syntax");
                }
                self.facts.recipient_count = self.recipients.len() as u64;
                let (resolution, _) = self.engine.rcpt(&self.ctx, &self.facts, &rcpt, self.dns, trace);
                match resolution {
                    Resolution::Accepted(_) => {
                        self.recipients.push(rcpt);
                        ok(250, "2.1.5", "Ok")
                    }
                    Resolution::Rejected(r) | Resolution::Deferred(r) => (r.code, r.enhanced, r.text),
                }
            }
            "DATA" => {
                if self.recipients.is_empty() {
                    return ok(554, "5.5.1", "Error: no valid recipients");
                }
                self.facts.recipient_count = self.recipients.len() as u64;
                let v = self.engine.stage("data", &self.ctx, &self.facts, None, self.dns, trace);
                if let Verdict::Reject(_) | Verdict::Defer(_) = v {
                    return self.verdict(v, ok(354, "", ""));
                }
                self.in_data = true;
                ok(354, "", "End data with <CR><LF>.<CR><LF>")
            }
            "RSET" => {
                self.sender = None;
                self.recipients.clear();
                ok(250, "2.0.0", "Ok")
            }
            "NOOP" => ok(250, "2.0.0", "Ok"),
            "VRFY" => ok(252, "2.0.0", "Cannot VRFY user, but will accept message and attempt delivery"),
            "QUIT" => ok(221, "2.0.0", "Bye"),
            _ => ok(502, "5.5.2", "Error: command not recognized"),
        }
    }
}

/// The address of `FROM:<a>` / `TO:<a>`, without parameters.
fn path(arg: &str, prefix: &str) -> Option<String> {
    let rest =
        arg.get(..prefix.len()).filter(|p| p.eq_ignore_ascii_case(prefix)).map(|_| arg[prefix.len()..].trim_start())?;
    let inner = rest.strip_prefix('<')?;
    let end = inner.find('>')?;
    Some(inner[..end].to_string())
}
