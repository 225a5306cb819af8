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

pub mod babel;
pub mod control;
pub mod icmp6;
pub mod icmp_error;
pub mod intercom;
pub mod logger;
pub mod packet;
pub mod signals;
pub mod timer;
pub mod tun;

use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd};

/// Turns a C-style return value into a `Result`, reading `errno` on -1.
fn check(ret: libc::c_int) -> io::Result<libc::c_int> {
    if ret < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(ret)
    }
}

/// A new socket, non-blocking and close-on-exec from the start.
fn socket(domain: libc::c_int, ty: libc::c_int, protocol: libc::c_int) -> io::Result<OwnedFd> {
    // SAFETY: socket(2) takes plain integers and returns a new descriptor or -1.
    let fd = check(unsafe {
        libc::socket(
            domain,
            ty | libc::SOCK_NONBLOCK | libc::SOCK_CLOEXEC,
            protocol,
        )
    })?;
    // SAFETY: `fd` was just returned by socket(2), so it is open and owned by nobody else.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// setsockopt(2) with a value of any plain type.
fn set_option<T>(
    fd: BorrowedFd<'_>,
    level: libc::c_int,
    name: libc::c_int,
    value: &T,
) -> io::Result<()> {
    let len = std::mem::size_of::<T>() as libc::socklen_t;
    // SAFETY: `value` points to a live `T` of `len` bytes for the duration of the call.
    check(unsafe { libc::setsockopt(fd.as_raw_fd(), level, name, (value as *const T).cast(), len) })
        .map(drop)
}

/// sendto(2) of one datagram to `addr`, any socket address type.
fn send_to<A>(fd: BorrowedFd<'_>, bytes: &[u8], addr: &A) -> io::Result<()> {
    // SAFETY: `bytes` and `addr` are live for the call and their exact sizes are passed.
    let n = unsafe {
        libc::sendto(
            fd.as_raw_fd(),
            bytes.as_ptr().cast(),
            bytes.len(),
            0,
            (addr as *const A).cast(),
            std::mem::size_of::<A>() as libc::socklen_t,
        )
    };
    if n < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(())
    }
}

/// recvfrom(2) of one datagram into `buf`, with the sender's address in `addr`; its length.
fn recv_from<A>(fd: BorrowedFd<'_>, buf: &mut [u8], addr: &mut A) -> io::Result<usize> {
    let mut len = std::mem::size_of::<A>() as libc::socklen_t;
    // SAFETY: `buf` and `addr` are live and writable, and their exact sizes are passed.
    let n = unsafe {
        libc::recvfrom(
            fd.as_raw_fd(),
            buf.as_mut_ptr().cast(),
            buf.len(),
            0,
            (addr as *mut A).cast(),
            &mut len,
        )
    };
    if n < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(n as usize)
    }
}

/// `sockaddr_in6` for `addr`, `port` and scope (interface index for link-local scope).
fn sockaddr_in6(addr: std::net::Ipv6Addr, port: u16, scope_id: u32) -> libc::sockaddr_in6 {
    // SAFETY: sockaddr_in6 is plain data for which all-zero bytes are a valid value.
    let mut sa: libc::sockaddr_in6 = unsafe { std::mem::zeroed() };
    sa.sin6_family = libc::AF_INET6 as libc::sa_family_t;
    sa.sin6_port = port.to_be();
    sa.sin6_addr.s6_addr = addr.octets();
    sa.sin6_scope_id = scope_id;
    sa
}

/// Reads errno-style codes out of an I/O error for the engine's vocabulary.
pub fn errno_of(error: &io::Error) -> crate::engine::Errno {
    crate::engine::Errno(error.raw_os_error().unwrap_or(libc::EIO))
}

/// 32 random bytes for the engine's PRNG: getrandom(2), or /dev/urandom where that is
/// missing (old kernels); no source at all is a fatal error (the C daemon looped forever).
pub fn random_seed() -> Result<[u8; 32], Error> {
    let mut seed = [0u8; 32];
    // SAFETY: writes at most 32 bytes into the live 32-byte buffer.
    let n = unsafe { libc::getrandom(seed.as_mut_ptr().cast(), seed.len(), 0) };
    if n == seed.len() as isize {
        return Ok(seed);
    }
    use std::io::Read;
    std::fs::File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut seed))
        .context(|| "reading random bytes (getrandom and /dev/urandom both failed)".into())?;
    Ok(seed)
}
