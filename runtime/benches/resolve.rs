//! In-process recipient resolution through the whole decision graph.
//!
//! The table is the front-end benchmark's shape (`userN@vdomainK.test ->
//! targetN@example.test`), 100,000 entries here so that the benchmark
//! builds in seconds; the lookups are fst lookups in a mapped artifact, so
//! their cost grows with key length, not table size. Run with
//! `cargo bench -p mailc-runtime --bench resolve`; figures go to
//! BENCHMARKS.md.

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use mailc_runtime::engine::{Context, Engine, Resolution};

fn engine(entries: usize) -> Engine {
    let dir = std::env::temp_dir().join(format!("mailc-bench-resolve-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let mut table = String::with_capacity(entries * 48);
    for n in 0..entries {
        table.push_str(&format!("user{n}@vdomain{}.test target{n}@example.test\n", n % 1000));
    }
    std::fs::write(dir.join("virtual"), table).unwrap();
    let domains: String = (0..1000).map(|k| format!("vdomain{k}.test\n")).collect();
    std::fs::write(dir.join("virtual-domains"), domains).unwrap();
    let policy = r#"
hostname "bench.example.test"
recipient_delimiter "+"
domains local : local = ["example.test"]
domains virtual_domains : virtual_alias = file "virtual-domains"
table virtual : address -> [address] = postfix "virtual"
transport mailbox = maildir "{state}/mail/{local}/"
recipient {
  domain virtual_domains => expand virtual else reject 550 5.1.1 "unknown user"
  domain local => deliver mailbox
  default => reject 554 5.7.1 "relay access denied"
}
"#;
    let checked = mailc_compiler::check_text(&dir.join("policy.mailc"), policy);
    assert!(!checked.has_errors(), "{:?}", checked.diagnostics);
    let bytes = mailc_compiler::lower::compile(&checked).unwrap();
    Engine::load(mailc_artifact::Artifact::from_bytes(bytes).unwrap()).unwrap()
}

fn resolve(c: &mut Criterion) {
    let e = engine(100_000);
    let ctx = Context::default();
    let addresses: Vec<String> = (0..1000).map(|i| format!("user{}@vdomain{}.test", i * 97, (i * 97) % 1000)).collect();
    for a in &addresses {
        assert!(matches!(e.resolve(&ctx, a, None), Resolution::Accepted(ref f) if f.len() == 1), "{a}");
    }
    let mut group = c.benchmark_group("resolve");
    group.throughput(Throughput::Elements(addresses.len() as u64));
    group.bench_function("virtual hit, 1000 addresses", |b| {
        b.iter(|| {
            for a in &addresses {
                std::hint::black_box(e.resolve(&ctx, a, None));
            }
        })
    });
    group.finish();
}

criterion_group!(benches, resolve);
criterion_main!(benches);
