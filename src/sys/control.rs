//! The control socket (cli-and-control.md §4): a unix stream socket, one command per
//! connection, the reply written and the connection closed. Non-blocking throughout: each
//! connection has its own line buffer and deadline, so a client that sends nothing delays
//! nobody (the C daemon read byte by byte, blocking, on its only thread).

use super::{Context, Error};
use crate::engine::control::{CommandError, ErrorReason, LineReader, LineStatus, parse_command};
use crate::engine::{ConnId, Input};
use mio::net::{UnixListener, UnixStream};
use std::io::{self, Read, Write};
use std::os::unix::fs::FileTypeExt;
use std::path::{Path, PathBuf};

pub struct ControlServer {
    listener: UnixListener,
    path: PathBuf,
}

impl ControlServer {
    /// Binds `path`. A socket file left by a dead instance is replaced; one that a live
    /// process still answers on is not, and neither is anything that is not a socket.
    pub fn bind(path: &Path) -> Result<ControlServer, Error> {
        let shown = path.display();
        if let Ok(meta) = std::fs::symlink_metadata(path) {
            if !meta.file_type().is_socket() {
                return Err(Error::new(
                    format!("control socket {shown}"),
                    io::Error::new(io::ErrorKind::AlreadyExists, "exists and is not a socket"),
                ));
            }
            if std::os::unix::net::UnixStream::connect(path).is_ok() {
                return Err(Error::new(
                    format!("control socket {shown}"),
                    io::Error::new(io::ErrorKind::AddrInUse, "another process is serving on it"),
                ));
            }
            std::fs::remove_file(path).context(|| format!("removing stale {shown}"))?;
        }
        let listener =
            UnixListener::bind(path).context(|| format!("binding control socket {shown}"))?;
        Ok(ControlServer {
            listener,
            path: path.to_path_buf(),
        })
    }

    pub fn accept(&self) -> io::Result<UnixStream> {
        self.listener.accept().map(|(stream, _)| stream)
    }

    pub fn listener(&mut self) -> &mut UnixListener {
        &mut self.listener
    }
}

impl Drop for ControlServer {
    fn drop(&mut self) {
        // Orderly shutdown removes the file (NEW in cli-and-control.md §4.1).
        let _ = std::fs::remove_file(&self.path);
    }
}

/// What reading a connection gave.
pub enum Progress {
    /// Nothing complete yet.
    Waiting,
    /// A command (or its rejection) for the engine.
    Command(Input),
    /// The peer went away without a command: close silently.
    Closed,
}

pub struct Connection {
    pub stream: UnixStream,
    reader: LineReader,
    reply: Vec<u8>,
    written: usize,
}

impl Connection {
    pub fn new(stream: UnixStream) -> Connection {
        Connection {
            stream,
            reader: LineReader::new(),
            reply: Vec::new(),
            written: 0,
        }
    }

    /// Reads what is there; once a line is complete, the rest of the stream is left unread.
    pub fn read(&mut self, conn: ConnId) -> Progress {
        let mut buf = [0u8; 512];
        while !self.reader.is_spent() {
            let status = match self.stream.read(&mut buf) {
                Ok(0) => self.reader.finish(),
                Ok(n) => self.reader.feed(&buf[..n]),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Progress::Waiting,
                Err(_) => return Progress::Closed,
            };
            let rejected = |error: CommandError| Input::ControlRejected { conn, error };
            match status {
                LineStatus::Incomplete if self.reader.is_spent() => return Progress::Closed,
                LineStatus::Incomplete => {}
                LineStatus::Line(line) => {
                    return Progress::Command(match parse_command(&line) {
                        Ok(command) => Input::Control { conn, command },
                        Err(error) => rejected(error),
                    });
                }
                LineStatus::TooLong => {
                    return Progress::Command(rejected(CommandError::Error(
                        ErrorReason::LineTooLong,
                    )));
                }
            }
        }
        Progress::Waiting
    }

    /// A reply is set: the connection only writes from now on.
    pub fn has_reply(&self) -> bool {
        !self.reply.is_empty()
    }

    pub fn set_reply(&mut self, bytes: Vec<u8>) {
        self.reply = bytes;
        self.written = 0;
    }

    /// Writes as much of the reply as the socket takes. True when all of it is out (or the
    /// peer is gone), so the connection can be closed.
    pub fn write(&mut self) -> bool {
        while self.written < self.reply.len() {
            match self.stream.write(&self.reply[self.written..]) {
                Ok(0) => return true,
                Ok(n) => self.written += n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return false,
                Err(_) => return true,
            }
        }
        true
    }
}
