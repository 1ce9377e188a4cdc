//! Property test: no address and no dialogue line makes the engine panic.
//! Inputs are generated deterministically (xorshift, fixed seed): long
//! local parts, NUL and control bytes, non-ASCII, quotes, source routes,
//! brackets, delimiters in odd places.

use mailc_runtime::engine::dns::StaticResolver;
use mailc_runtime::engine::session::Dialogue;
use mailc_runtime::engine::{Context, Engine, Facts};

struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
        items[(self.next() % items.len() as u64) as usize]
    }
}

const PIECES: &[&str] = &[
    "a",
    "Z",
    "+",
    "-",
    ".",
    "..",
    "@",
    "@@",
    "\"",
    "\\",
    "%",
    "!",
    ":",
    ",",
    "<",
    ">",
    "[",
    "]",
    "(",
    ")",
    " ",
    "\u{0}",
    "\r",
    "\n",
    "\t",
    "é",
    "€",
    "日本",
    "🦀",
    "example.test",
    "virt.test",
    "[192.0.2.1]",
    "[IPv6:::1]",
    "@example.test:",
    "user",
    "postmaster",
    "info",
    "-",
    "xn--",
    "\u{200b}",
    "\u{feff}",
];

fn address(rng: &mut Rng) -> String {
    let mut s = String::new();
    for _ in 0..(rng.next() % 12) {
        s.push_str(rng.pick(PIECES));
    }
    match rng.next() % 6 {
        0 => s.push_str(&"x".repeat(10_000)),
        1 => s = format!("{s}@{}", rng.pick(&["example.test", "virt.test", "elsewhere.test", "", "."])),
        2 => s = format!("\"{s}\"@example.test"),
        3 => s = format!("@relay.test,@other.test:{s}@example.test"),
        _ => {}
    }
    s
}

fn engine() -> Engine {
    let policy = concat!(env!("CARGO_MANIFEST_DIR"), "/../examples/reference/policy.mailc");
    let checked = mailc_compiler::check_file(std::path::Path::new(policy)).unwrap();
    let bytes = mailc_compiler::lower::compile(&checked).unwrap();
    Engine::load(mailc_artifact::Artifact::from_bytes(bytes).unwrap()).unwrap()
}

#[test]
fn no_address_panics_the_engine() {
    let e = engine();
    let dns = StaticResolver::with_test_points();
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    for _ in 0..10_000 {
        let a = address(&mut rng);
        let ctx = Context { sender: address(&mut rng), client_ip: Some("192.0.2.9".into()), ..Context::default() };
        let _ = e.resolve(&ctx, &a, None);
        let _ = e.rcpt(&ctx, &Facts::default(), &a, &dns, None);
    }
}

#[test]
fn no_dialogue_line_panics_the_engine() {
    let e = engine();
    let dns = StaticResolver::with_test_points();
    let mut rng = Rng(0x2545_f491_4f6c_dd1d);
    let verbs = [
        "EHLO ",
        "HELO ",
        "MAIL FROM:",
        "RCPT TO:",
        "DATA",
        "RSET",
        "NOOP",
        "QUIT",
        "VRFY ",
        "",
        "mail from:<",
        "rcpt to:<",
    ];
    for _ in 0..300 {
        let mut d = Dialogue::new(&e, &dns, Context { client_ip: Some("192.0.2.9".into()), ..Context::default() });
        let _ = d.connect(None);
        for _ in 0..20 {
            let line = match rng.next() % 3 {
                0 => format!("{}<{}>", rng.pick(&verbs), address(&mut rng)),
                1 => format!("{}{}", rng.pick(&verbs), address(&mut rng)),
                _ => address(&mut rng),
            };
            let (code, _, _) = d.send(&line, None);
            assert!((200..600).contains(&code), "{line:?} -> {code}");
        }
    }
}
