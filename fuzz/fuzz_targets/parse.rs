//! Parser and formatter: no input may panic or hang, and whatever parses
//! must format, and formatting must be idempotent.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mailc_lang::{fmt, parse, FileId};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    if parse(FileId(0), text).is_err() {
        return;
    }
    let once = match fmt::format(text) {
        Ok(out) => out,
        Err(e) => panic!("parses but does not format: {e:?}"),
    };
    let twice = match fmt::format(&once) {
        Ok(out) => out,
        Err(e) => panic!("formatter output does not parse: {e:?}\n--- output ---\n{once}"),
    };
    assert_eq!(once, twice, "format is not idempotent");
});
