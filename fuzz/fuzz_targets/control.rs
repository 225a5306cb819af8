//! The control socket: a connection's bytes in reads of any size through the line reader,
//! then the command parser; also whole inputs straight into the parser. The first byte picks
//! the read size.
#![no_main]

use l3roamd::engine::control::{
    self, Command, LineReader, LineStatus, MAX_LINE, is_valid_interface_name, parse_command,
};
use libfuzzer_sys::fuzz_target;

fn check(line: &[u8]) {
    match parse_command(line) {
        Ok(command) => {
            let _ = command.name();
            match &command {
                Command::AddMeshif(name) | Command::DelMeshif(name) => {
                    assert!(is_valid_interface_name(name), "accepted interface {name:?}");
                }
                Command::AddPrefix { text, .. } => {
                    let _ = control::render_added_prefix(text);
                }
                Command::DelPrefix { text, .. } => {
                    let _ = control::render_deleted_prefix(text);
                }
                Command::HasRoute { text, .. } => {
                    let _ = control::render_has_route(text, true);
                }
                _ => {}
            }
        }
        Err(e) => assert!(!e.reply().is_empty(), "empty reply for {e:?}"),
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((&size, stream)) = data.split_first() else {
        return;
    };
    let mut reader = LineReader::new();
    let mut result = LineStatus::Incomplete;
    for read in stream.chunks(usize::from(size).max(1)) {
        match reader.feed(read) {
            LineStatus::Incomplete => {}
            status => {
                result = status;
                break;
            }
        }
    }
    if result == LineStatus::Incomplete {
        result = reader.finish();
    }
    assert!(reader.is_spent());
    if let LineStatus::Line(line) = result {
        assert!(line.len() < MAX_LINE);
        assert!(!line.contains(&b'\n') && !line.contains(&b'\r'));
        check(&line);
    }
    check(stream);
});
