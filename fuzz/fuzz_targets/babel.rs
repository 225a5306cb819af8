//! babeld's local interface: a session's bytes in reads of any size through the line
//! splitter, then the line parser. The first byte picks the read size. Whatever parses keeps
//! its bounds, and its router-id and prefixes survive print→parse.
#![no_main]

use l3roamd::sys::babel::{LineSplitter, Piece};
use l3roamd::wire::babel::{Line, MAX_LINE, Prefix, RouterId};
use libfuzzer_sys::fuzz_target;

fn same_prefix(prefix: &Prefix) {
    let again = Prefix::parse(&prefix.to_string()).expect("a parsed prefix prints parseable");
    assert_eq!(&again, prefix);
}

fn check(line: &[u8]) {
    let Ok(parsed) = Line::parse(line) else {
        return;
    };
    assert!(line.len() <= MAX_LINE);
    match parsed {
        Line::MyId(id) => assert_eq!(RouterId::parse(&id.to_string()), Ok(id)),
        Line::XRoute(x) => {
            same_prefix(&x.prefix);
            same_prefix(&x.source);
        }
        Line::Route(r) => {
            same_prefix(&r.prefix);
            same_prefix(&r.source);
            assert!(r.token.len() <= line.len());
            assert_eq!(RouterId::parse(&r.id.to_string()), Ok(r.id));
        }
        _ => {}
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((&size, stream)) = data.split_first() else {
        return;
    };
    let mut lines = LineSplitter::default();
    for read in stream.chunks(usize::from(size).max(1)) {
        lines.feed(read, |piece| match piece {
            Piece::Line(line) => {
                assert!(
                    line.len() <= MAX_LINE,
                    "the splitter passed {} bytes",
                    line.len()
                );
                assert!(!line.contains(&b'\n'));
                check(line);
            }
            Piece::TooLong => {}
        });
    }
    check(stream);
});
