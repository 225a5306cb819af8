//! Log lines the way procd wants them.
//!
//! procd reads a service's stdout and stderr line by line and hands each line to syslog:
//! stdout at LOG_INFO, every stderr line at LOG_ERR. So routine messages (info, debug, trace)
//! go to stdout and only warnings and errors to stderr, one message per line, without colour
//! codes or timestamps (logd adds its own). The C daemon wrote everything to stderr, which
//! made every routine event a `daemon.err` line.

use std::io::Write;

use log::{Level, LevelFilter, Log, Metadata, Record};

/// Where a message of a level goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stream {
    Stdout,
    Stderr,
}

pub fn stream_for(level: Level) -> Stream {
    match level {
        Level::Error | Level::Warn => Stream::Stderr,
        Level::Info | Level::Debug | Level::Trace => Stream::Stdout,
    }
}

/// One line, newline included. The level is a word in front because procd gives every stdout
/// line the same priority: "debug: " is how an operator tells debug from info in logread. A
/// message that carries a newline or another control byte (a name from the network, say)
/// would split into lines of their own or garble the log, so those bytes are escaped.
pub fn format_line(level: Level, message: &std::fmt::Arguments<'_>) -> String {
    let prefix = match level {
        Level::Error => "error: ",
        Level::Warn => "warning: ",
        Level::Info => "",
        Level::Debug => "debug: ",
        Level::Trace => "trace: ",
    };
    let mut line = String::from(prefix);
    // Writing to a String cannot fail.
    let _ = std::fmt::Write::write_fmt(&mut line, *message);
    // Control bytes are rare: one allocation for the usual line, a second only to escape.
    if line.contains(char::is_control) {
        let mut escaped = String::with_capacity(line.len() + 8);
        for c in line.chars() {
            if c.is_control() {
                escaped.extend(c.escape_default());
            } else {
                escaped.push(c);
            }
        }
        line = escaped;
    }
    line.push('\n');
    line
}

/// The daemon's logger: our own messages pass at every level and the global maximum
/// (`log::set_max_level`, moved by `-v`, `-d` and the `verbosity` command) filters them;
/// libraries only ever speak up with warnings and errors.
pub struct ProcdLogger;

static LOGGER: ProcdLogger = ProcdLogger;

impl ProcdLogger {
    /// Installs the logger with `max` as the level; a second call leaves the first logger.
    pub fn install(max: LevelFilter) {
        // Only a logger installed before (by a test, say) makes this fail, and that one
        // then stays: nothing to report.
        let _ = log::set_logger(&LOGGER);
        log::set_max_level(max);
    }
}

impl Log for ProcdLogger {
    fn enabled(&self, metadata: &Metadata<'_>) -> bool {
        metadata.level() <= Level::Warn || metadata.target().starts_with("l3roamd")
    }

    fn log(&self, record: &Record<'_>) {
        if !self.enabled(record.metadata()) {
            return;
        }
        let line = format_line(record.level(), record.args());
        // One write per line, so lines never interleave. A log that cannot be written (procd
        // gone, a closed pipe) is no reason to stop routing: the error is dropped.
        let _ = match stream_for(record.level()) {
            Stream::Stdout => std::io::stdout().lock().write_all(line.as_bytes()),
            Stream::Stderr => std::io::stderr().lock().write_all(line.as_bytes()),
        };
    }

    fn flush(&self) {
        let _ = std::io::stdout().flush();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn warnings_and_errors_go_to_stderr_the_rest_to_stdout() {
        assert_eq!(stream_for(Level::Error), Stream::Stderr);
        assert_eq!(stream_for(Level::Warn), Stream::Stderr);
        assert_eq!(stream_for(Level::Info), Stream::Stdout);
        assert_eq!(stream_for(Level::Debug), Stream::Stdout);
        assert_eq!(stream_for(Level::Trace), Stream::Stdout);
    }

    #[test]
    fn a_line_is_the_level_word_and_the_message() {
        assert_eq!(
            format_line(Level::Info, &format_args!("client {} roamed", 7)),
            "client 7 roamed\n"
        );
        assert_eq!(format_line(Level::Warn, &format_args!("x")), "warning: x\n");
        assert_eq!(format_line(Level::Error, &format_args!("x")), "error: x\n");
        assert_eq!(format_line(Level::Debug, &format_args!("x")), "debug: x\n");
        assert_eq!(format_line(Level::Trace, &format_args!("x")), "trace: x\n");
    }

    #[test]
    fn control_bytes_in_a_message_cannot_split_or_colour_the_line() {
        let hostile = "eth0\nerror: forged\r\u{1b}[31mred";
        let line = format_line(Level::Info, &format_args!("interface {hostile}"));
        assert_eq!(line, "interface eth0\\nerror: forged\\r\\u{1b}[31mred\n");
        assert_eq!(line.matches('\n').count(), 1);
    }

    #[test]
    fn libraries_are_heard_only_from_warnings_up() {
        let logger = ProcdLogger;
        let meta = |level, target| Metadata::builder().level(level).target(target).build();
        assert!(logger.enabled(&meta(Level::Trace, "l3roamd::engine")));
        assert!(logger.enabled(&meta(Level::Info, "l3roamd")));
        assert!(!logger.enabled(&meta(Level::Info, "mio::poll")));
        assert!(!logger.enabled(&meta(Level::Debug, "netlink_sys")));
        assert!(logger.enabled(&meta(Level::Warn, "netlink_sys")));
        assert!(logger.enabled(&meta(Level::Error, "mio")));
    }
}
