use mailc_lang::{parse, FileId};

#[test]
fn reference_example_parses() {
    let text =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../examples/reference/policy.mailc")).unwrap();
    match parse(FileId(0), &text) {
        Ok(p) => assert!(p.items.len() > 10),
        Err(e) => panic!("{e:?} at {:?}", &text[e.span.range()]),
    }
}

#[test]
fn small_bits() {
    for src in
        ["network trusted = [127.0.0.2/32]", "network t = []", "network t = [\"a\"]", "hostname \"x\"\nnetwork t = []"]
    {
        if let Err(e) = parse(FileId(0), src) {
            panic!("{src}: {e:?}")
        }
    }
}
