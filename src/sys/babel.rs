//! The connection to babeld's local interface (`--babeld`, babeld.md §6): one permanent
//! stream, TCP to `[::1]:port` or a Unix socket, never blocking.
//!
//! A session: connect (non-blocking); read babeld's header until `ok`, its first line must be
//! `BABEL 1.0` and it must name `my-id`; send `monitor`; from then on every `xroute` and
//! `route` line goes to the engine as it arrives. Lines are split here and parsed by
//! [`crate::wire::babel`]; one longer than 512 bytes is discarded whole and counted, so the
//! buffer never holds more than one line. When the stream ends or fails, or babeld says
//! something that is not its protocol, the engine is told (it drops what the session
//! reported) and a new connection is tried after a back-off: 1 s, doubling up to 60 s, and
//! 1 s again once a session got going; a peer that has not sent the whole header within 10 s
//! is given up the same way. The retry time is a deadline the driver's one timer
//! serves: no sleeping, no thread. babeld accepts 4 local clients at most; this takes one.

use crate::config::BabelEndpoint;
use crate::engine::stats::{LogLimiter, SystemCounters};
use crate::engine::{BabelEvent, Input};
use crate::time::{Duration, Instant};
use crate::wire::babel::{Line, MAX_LINE, PROTOCOL, RouterId};
use mio::event::Source;
use mio::net::{TcpStream, UnixStream};
use mio::{Interest, Registry, Token};
use std::io::{self, Read, Write};
use std::net::{Ipv6Addr, SocketAddr};

/// The first retry after a failure, and after a session that ended.
pub const FIRST_BACKOFF: Duration = Duration::from_secs(1);
/// The longest wait between attempts.
pub const MAX_BACKOFF: Duration = Duration::from_secs(60);
/// A connection that has not delivered babeld's whole header by then is given up (babeld
/// sends it at once; a stopped or wedged peer must not hold the one slot forever).
pub const HEADER_TIMEOUT: Duration = Duration::from_secs(10);
/// What this daemon asks for once the header is read.
const MONITOR: &[u8] = b"monitor\n";

/// Splits a byte stream into lines of at most [`MAX_LINE`] bytes; longer ones are dropped
/// whole (up to their newline) and reported once each.
#[derive(Debug, Default)]
pub struct LineSplitter {
    buf: Vec<u8>,
    /// Inside a line that was already too long: skip up to its newline.
    discarding: bool,
}

/// What [`LineSplitter::feed`] found.
#[derive(Debug, PartialEq, Eq)]
pub enum Piece<'a> {
    Line(&'a [u8]),
    TooLong,
}

impl LineSplitter {
    /// Feeds bytes; `each` gets every complete line (without its newline) and every line
    /// that was too long, in order.
    pub fn feed(&mut self, bytes: &[u8], mut each: impl FnMut(Piece<'_>)) {
        let mut rest = bytes;
        while let Some(at) = rest.iter().position(|&b| b == b'\n') {
            let part = &rest[..at];
            rest = &rest[at + 1..];
            if self.discarding {
                self.discarding = false;
            } else if self.buf.len() + part.len() > MAX_LINE {
                each(Piece::TooLong);
            } else if self.buf.is_empty() {
                each(Piece::Line(part));
            } else {
                self.buf.extend_from_slice(part);
                each(Piece::Line(&self.buf));
            }
            self.buf.clear();
        }
        if self.discarding {
            return;
        }
        if self.buf.len() + rest.len() > MAX_LINE {
            each(Piece::TooLong);
            self.buf.clear();
            self.discarding = true;
        } else {
            self.buf.extend_from_slice(rest);
        }
    }
}

/// The stream to babeld, of either kind.
enum Stream {
    Tcp(TcpStream),
    Unix(UnixStream),
}

impl Stream {
    fn open(endpoint: &BabelEndpoint) -> io::Result<Stream> {
        match endpoint {
            BabelEndpoint::Port(port) => {
                TcpStream::connect(SocketAddr::from((Ipv6Addr::LOCALHOST, *port))).map(Stream::Tcp)
            }
            BabelEndpoint::Path(path) => UnixStream::connect(path).map(Stream::Unix),
        }
    }

    /// Whether the non-blocking connect has completed; an error if it failed.
    fn connected(&self) -> io::Result<bool> {
        let (error, peer) = match self {
            Stream::Tcp(s) => (s.take_error()?, s.peer_addr().map(drop)),
            // A Unix connect completes (or fails) within connect(2) itself.
            Stream::Unix(s) => (s.take_error()?, Ok(())),
        };
        if let Some(error) = error {
            return Err(error);
        }
        match peer {
            Ok(()) => Ok(true),
            Err(e) if e.kind() == io::ErrorKind::NotConnected => Ok(false),
            Err(e) => Err(e),
        }
    }
}

impl Read for Stream {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Stream::Tcp(s) => s.read(buf),
            Stream::Unix(s) => s.read(buf),
        }
    }
}

impl Write for Stream {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Stream::Tcp(s) => s.write(buf),
            Stream::Unix(s) => s.write(buf),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl Source for Stream {
    fn register(
        &mut self,
        registry: &Registry,
        token: Token,
        interests: Interest,
    ) -> io::Result<()> {
        match self {
            Stream::Tcp(s) => s.register(registry, token, interests),
            Stream::Unix(s) => s.register(registry, token, interests),
        }
    }

    fn reregister(
        &mut self,
        registry: &Registry,
        token: Token,
        interests: Interest,
    ) -> io::Result<()> {
        match self {
            Stream::Tcp(s) => s.reregister(registry, token, interests),
            Stream::Unix(s) => s.reregister(registry, token, interests),
        }
    }

    fn deregister(&mut self, registry: &Registry) -> io::Result<()> {
        match self {
            Stream::Tcp(s) => s.deregister(registry),
            Stream::Unix(s) => s.deregister(registry),
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Phase {
    Connecting,
    /// Reading the header; `first` until the first line arrived.
    Header {
        first: bool,
    },
    /// `monitor` sent: routes stream in.
    Monitoring,
}

struct Session {
    stream: Stream,
    phase: Phase,
    /// Until `monitor` went out: when to give up on the header.
    header_by: Instant,
    lines: LineSplitter,
    my_id: Option<RouterId>,
    version: String,
    /// Bytes of `monitor` the socket has not taken yet.
    unsent: Vec<u8>,
}

/// Why a session ended.
enum End {
    Closed,
    Failed(String),
}

pub struct BabelClient {
    endpoint: BabelEndpoint,
    token: Token,
    session: Option<Session>,
    retry_at: Option<Instant>,
    backoff: Duration,
    /// Attempts in a row that did not get a session going, for rate-limited logging.
    failures: u32,
    log_limiter: LogLimiter,
}

impl BabelClient {
    /// A client that connects at the first [`BabelClient::handle_timeout`] at or after `now`.
    pub fn new(endpoint: BabelEndpoint, token: Token, now: Instant) -> BabelClient {
        BabelClient {
            endpoint,
            token,
            session: None,
            retry_at: Some(now),
            backoff: FIRST_BACKOFF,
            failures: 0,
            log_limiter: LogLimiter::default(),
        }
    }

    /// When the next connection attempt is due, or when a connection still without its
    /// header is given up; `None` while a session runs.
    pub fn deadline(&self) -> Option<Instant> {
        match &self.session {
            Some(session) if session.phase != Phase::Monitoring => Some(session.header_by),
            Some(_) => None,
            None => self.retry_at,
        }
    }

    pub fn handle_timeout(
        &mut self,
        registry: &Registry,
        now: Instant,
        inputs: &mut Vec<Input>,
        counters: &mut SystemCounters,
    ) {
        if let Some(session) = &self.session {
            if session.phase != Phase::Monitoring && session.header_by <= now {
                let why = format!("no header within {} s", HEADER_TIMEOUT.as_secs());
                self.end(registry, now, End::Failed(why), inputs, counters);
            }
            return;
        }
        if self.retry_at.is_none_or(|at| at > now) {
            return;
        }
        self.retry_at = None;
        let opened = Stream::open(&self.endpoint).and_then(|mut stream| {
            registry.register(
                &mut stream,
                self.token,
                Interest::READABLE | Interest::WRITABLE,
            )?;
            Ok(stream)
        });
        match opened {
            Ok(stream) => {
                log::debug!("babeld at {}: connecting", self.endpoint);
                self.session = Some(Session {
                    stream,
                    phase: Phase::Connecting,
                    header_by: now + HEADER_TIMEOUT,
                    lines: LineSplitter::default(),
                    my_id: None,
                    version: String::new(),
                    unsent: Vec::new(),
                });
                // A Unix connect is complete already, and its header may be waiting.
                self.handle_event(registry, now, inputs, counters);
            }
            Err(e) => self.end(
                registry,
                now,
                End::Failed(format!("connect: {e}")),
                inputs,
                counters,
            ),
        }
    }

    /// The stream is readable or writable (or both; mio is edge-triggered, so everything
    /// that can be done is done).
    pub fn handle_event(
        &mut self,
        registry: &Registry,
        now: Instant,
        inputs: &mut Vec<Input>,
        counters: &mut SystemCounters,
    ) {
        if let Err(end) = self.progress(inputs, counters, now) {
            self.end(registry, now, end, inputs, counters);
        }
    }

    fn progress(
        &mut self,
        inputs: &mut Vec<Input>,
        counters: &mut SystemCounters,
        now: Instant,
    ) -> Result<(), End> {
        let Some(session) = self.session.as_mut() else {
            return Ok(());
        };
        if session.phase == Phase::Connecting {
            match session.stream.connected() {
                Ok(true) => session.phase = Phase::Header { first: true },
                Ok(false) => return Ok(()),
                Err(e) => return Err(End::Failed(format!("connect: {e}"))),
            }
        }
        flush(session)?;
        let mut chunk = [0u8; 4096];
        loop {
            let Some(session) = self.session.as_mut() else {
                return Ok(());
            };
            let n = match session.stream.read(&mut chunk) {
                Ok(0) => return Err(End::Closed),
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(()),
                Err(e) => return Err(End::Failed(format!("read: {e}"))),
            };
            let mut lines = Vec::new();
            session.lines.feed(&chunk[..n], |piece| {
                lines.push(match piece {
                    Piece::Line(bytes) => Line::parse(bytes),
                    Piece::TooLong => Err(crate::wire::Error::LineTooLong(MAX_LINE + 1)),
                })
            });
            for line in lines {
                self.take_line(line, inputs, counters, now)?;
            }
        }
    }

    fn take_line(
        &mut self,
        line: Result<Line, crate::wire::Error>,
        inputs: &mut Vec<Input>,
        counters: &mut SystemCounters,
        now: Instant,
    ) -> Result<(), End> {
        let endpoint = &self.endpoint;
        let Some(session) = self.session.as_mut() else {
            return Ok(());
        };
        let line = match line {
            Ok(line) => line,
            Err(crate::wire::Error::LineTooLong(_)) => {
                counters.babel_lines_too_long += 1;
                if matches!(session.phase, Phase::Header { .. }) {
                    return Err(End::Failed("overlong line in the header".into()));
                }
                if self.log_limiter.allow(now) {
                    log::debug!("babeld: a line over {MAX_LINE} bytes, discarded");
                }
                return Ok(());
            }
            Err(e) => {
                counters.babel_lines_malformed += 1;
                if matches!(session.phase, Phase::Header { .. }) {
                    return Err(End::Failed(format!("malformed header line ({e})")));
                }
                if self.log_limiter.allow(now) {
                    log::debug!("babeld: malformed line ({e}), ignored");
                }
                return Ok(());
            }
        };
        match session.phase {
            Phase::Connecting => Ok(()),
            Phase::Header { first: true } => match line {
                Line::Protocol(version) if version == PROTOCOL => {
                    session.phase = Phase::Header { first: false };
                    Ok(())
                }
                other => Err(End::Failed(format!(
                    "not babeld's local interface (first line {other:?}, expected BABEL {PROTOCOL})"
                ))),
            },
            Phase::Header { first: false } => match line {
                Line::MyId(id) => {
                    session.my_id = Some(id);
                    Ok(())
                }
                Line::Version(version) => {
                    session.version = version;
                    Ok(())
                }
                Line::Ok => {
                    let Some(my_id) = session.my_id else {
                        return Err(End::Failed("no my-id in babeld's header".into()));
                    };
                    session.unsent.extend_from_slice(MONITOR);
                    session.phase = Phase::Monitoring;
                    flush(session)?;
                    log::info!(
                        "babeld at {endpoint}: connected ({}, router-id {my_id}), monitoring",
                        session.version
                    );
                    self.backoff = FIRST_BACKOFF;
                    self.failures = 0;
                    inputs.push(Input::Babel(BabelEvent::Connected { my_id }));
                    Ok(())
                }
                Line::No(why) => Err(End::Failed(format!("refused: no {why}"))),
                Line::Bad => Err(End::Failed("refused: bad".into())),
                _ => Ok(()),
            },
            Phase::Monitoring => match line {
                Line::XRoute(xroute) => {
                    inputs.push(Input::Babel(BabelEvent::XRoute(xroute)));
                    Ok(())
                }
                Line::Route(route) => {
                    inputs.push(Input::Babel(BabelEvent::Route(route)));
                    Ok(())
                }
                Line::Ok => {
                    log::debug!("babeld: dump complete, following changes");
                    Ok(())
                }
                Line::No(why) => Err(End::Failed(format!("monitor refused: no {why}"))),
                Line::Bad => Err(End::Failed("monitor refused: bad".into())),
                _ => Ok(()),
            },
        }
    }

    /// Closes the session (if any), tells the engine if it had begun, and schedules the
    /// next attempt.
    fn end(
        &mut self,
        registry: &Registry,
        now: Instant,
        end: End,
        inputs: &mut Vec<Input>,
        counters: &mut SystemCounters,
    ) {
        let began = match self.session.take() {
            Some(mut session) => {
                let _ = registry.deregister(&mut session.stream);
                session.phase == Phase::Monitoring
            }
            None => false,
        };
        let why = match end {
            End::Closed => "closed by babeld".to_string(),
            End::Failed(why) => why,
        };
        let wait = self.backoff;
        self.retry_at = Some(now + wait);
        self.backoff = (self.backoff * 2).min(MAX_BACKOFF);
        if began {
            inputs.push(Input::Babel(BabelEvent::Disconnected));
            log::info!(
                "babeld at {}: session ended ({why}); reconnecting in {} s",
                self.endpoint,
                wait.as_secs()
            );
            return;
        }
        counters.babel_connect_failures += 1;
        self.failures += 1;
        // The first failure, then the 2nd, 4th, 8th...: a babeld that stays away for a day
        // costs a dozen lines, not thousands.
        if self.failures.is_power_of_two() {
            log::info!(
                "babeld at {}: {why} ({} attempt(s) failed); retrying in {} s",
                self.endpoint,
                self.failures,
                wait.as_secs()
            );
        }
    }
}

/// Writes what is left of `monitor`; the socket takes 8 bytes at once in practice.
fn flush(session: &mut Session) -> Result<(), End> {
    while !session.unsent.is_empty() {
        match session.stream.write(&session.unsent) {
            Ok(0) => return Err(End::Closed),
            Ok(n) => {
                session.unsent.drain(..n);
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(()),
            Err(e) => return Err(End::Failed(format!("write: {e}"))),
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn split(splitter: &mut LineSplitter, bytes: &[u8]) -> Vec<String> {
        let mut out = Vec::new();
        splitter.feed(bytes, |piece| {
            out.push(match piece {
                Piece::Line(line) => String::from_utf8_lossy(line).into_owned(),
                Piece::TooLong => "<too long>".into(),
            })
        });
        out
    }

    #[test]
    fn lines_are_split_across_reads() {
        let mut s = LineSplitter::default();
        assert_eq!(split(&mut s, b"BABEL 1.0\nversion ba"), ["BABEL 1.0"]);
        assert_eq!(split(&mut s, b"beld-1.12.1\n"), ["version babeld-1.12.1"]);
        assert_eq!(split(&mut s, b"\nok\n"), ["", "ok"]);
        assert!(split(&mut s, b"").is_empty());
    }

    #[test]
    fn a_line_over_512_bytes_is_discarded_whole_and_reported_once() {
        let mut s = LineSplitter::default();
        let exact = vec![b'a'; MAX_LINE];
        let mut bytes = exact.clone();
        bytes.push(b'\n');
        assert_eq!(split(&mut s, &bytes).len(), 1);
        // 600 bytes in three reads, then a good line.
        assert_eq!(split(&mut s, &[b'x'; 300]), Vec::<String>::new());
        assert_eq!(split(&mut s, &[b'x'; 250]), ["<too long>"]);
        assert!(s.buf.is_empty(), "nothing of it is kept");
        assert_eq!(split(&mut s, &[b'x'; 50]), Vec::<String>::new());
        assert_eq!(split(&mut s, b"x\nok\n"), ["ok"]);
        // Too long within one read.
        let mut long = vec![b'y'; MAX_LINE + 1];
        long.extend_from_slice(b"\nok\n");
        assert_eq!(split(&mut s, &long), ["<too long>", "ok"]);
        // Split exactly at the limit.
        assert_eq!(split(&mut s, &exact[..100]), Vec::<String>::new());
        assert_eq!(split(&mut s, &exact[100..]), Vec::<String>::new());
        assert_eq!(split(&mut s, b"\n"), [String::from_utf8(exact).unwrap()]);
    }
}
