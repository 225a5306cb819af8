//! The system layer: the only place with file descriptors, libc, netlink and `unsafe`.
//!
//! Each module owns one kind of descriptor, opens it non-blocking and close-on-exec, and
//! translates between its bytes and the engine's vocabulary. None of them decides anything:
//! that is the engine's job. Every `unsafe` block carries a `// SAFETY:` line.
#![allow(unsafe_code)]

use std::fmt;
use std::io;

pub mod netlink;
pub mod netns;
pub mod nl80211;
pub mod rtnl;

/// A system call failed; `context` says what the daemon was doing.
#[derive(Debug)]
pub struct Error {
    pub context: String,
    pub source: io::Error,
}

impl Error {
    pub fn new(context: impl Into<String>, source: io::Error) -> Error {
        Error {
            context: context.into(),
            source,
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.context, self.source)
    }
}

impl std::error::Error for Error {}

/// Attaches what the daemon was doing to an I/O error.
pub trait Context<T> {
    fn context(self, what: impl FnOnce() -> String) -> Result<T, Error>;
}

impl<T> Context<T> for io::Result<T> {
    fn context(self, what: impl FnOnce() -> String) -> Result<T, Error> {
        self.map_err(|source| Error::new(what(), source))
    }
}
