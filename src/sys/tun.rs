//! The tun device (behaviour.md §10.1): packets for client addresses no host route covers yet
//! arrive here; the engine queues them and writes them back once a route appears. Not
//! persistent: it disappears, with every route through it, when the daemon exits.

use super::{Context, Error, check, socket};
use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd};

/// The C daemon's MTU; reads use a buffer at least this large (it read 1500 and truncated).
pub const MTU: usize = 9000;
const TUNSETIFF: libc::c_ulong = 0x4004_54ca;

pub struct Tun {
    fd: OwnedFd,
    pub name: String,
    pub ifindex: u32,
}

fn ifreq(name: &str) -> io::Result<libc::ifreq> {
    // SAFETY: ifreq is plain data for which all-zero bytes are a valid value.
    let mut req: libc::ifreq = unsafe { std::mem::zeroed() };
    let bytes = name.as_bytes();
    if bytes.is_empty() || bytes.len() >= req.ifr_name.len() {
        return Err(io::Error::from(io::ErrorKind::InvalidInput));
    }
    for (slot, byte) in req.ifr_name.iter_mut().zip(bytes) {
        *slot = *byte as libc::c_char;
    }
    Ok(req)
}

impl Tun {
    pub fn create(name: &str) -> Result<Tun, Error> {
        Self::try_create(name).context(|| format!("creating tun device {name}"))
    }

    fn try_create(name: &str) -> io::Result<Tun> {
        let path = c"/dev/net/tun";
        // SAFETY: `path` is a NUL-terminated string; open returns a new descriptor or -1.
        let raw = check(unsafe {
            libc::open(
                path.as_ptr(),
                libc::O_RDWR | libc::O_NONBLOCK | libc::O_CLOEXEC,
            )
        })?;
        // SAFETY: `raw` was just returned by open(2) and is owned by nobody else.
        let fd = unsafe { OwnedFd::from_raw_fd(raw) };
        let mut req = ifreq(name)?;
        req.ifr_ifru.ifru_flags = (libc::IFF_TUN | libc::IFF_NO_PI) as libc::c_short;
        // SAFETY: TUNSETIFF reads and writes an ifreq, which `req` is.
        check(unsafe { libc::ioctl(fd.as_raw_fd(), TUNSETIFF as _, &mut req) })?;

        // MTU and flags are set through an ordinary socket, as `ip link` would.
        let ctl = socket(libc::AF_INET6, libc::SOCK_DGRAM, 0)?;
        let mut req = ifreq(name)?;
        req.ifr_ifru.ifru_mtu = MTU as libc::c_int;
        // SAFETY: SIOCSIFMTU reads an ifreq, which `req` is.
        check(unsafe { libc::ioctl(ctl.as_raw_fd(), libc::SIOCSIFMTU as _, &req) })?;
        let mut req = ifreq(name)?;
        // SAFETY: SIOCGIFFLAGS writes the flags into the ifreq `req`.
        check(unsafe { libc::ioctl(ctl.as_raw_fd(), libc::SIOCGIFFLAGS as _, &mut req) })?;
        // SAFETY: SIOCGIFFLAGS has just written the flags member of the union.
        let flags = unsafe { req.ifr_ifru.ifru_flags };
        req.ifr_ifru.ifru_flags = flags | libc::IFF_UP as libc::c_short;
        // SAFETY: SIOCSIFFLAGS reads an ifreq, which `req` is.
        check(unsafe { libc::ioctl(ctl.as_raw_fd(), libc::SIOCSIFFLAGS as _, &req) })?;

        let cname = std::ffi::CString::new(name).map_err(|_| io::ErrorKind::InvalidInput)?;
        // SAFETY: `cname` is a NUL-terminated string.
        let ifindex = unsafe { libc::if_nametoindex(cname.as_ptr()) };
        if ifindex == 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(Tun {
            fd,
            name: name.to_string(),
            ifindex,
        })
    }

    /// Reads one packet, or WouldBlock.
    pub fn recv(&self, buf: &mut [u8]) -> io::Result<usize> {
        // SAFETY: `buf` is live and writable and its length is passed.
        let n = unsafe { libc::read(self.fd.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len()) };
        if n < 0 {
            Err(io::Error::last_os_error())
        } else {
            Ok(n as usize)
        }
    }

    /// Writes one packet back; the kernel routes it along whatever route now exists.
    pub fn send(&self, packet: &[u8]) -> io::Result<()> {
        // SAFETY: `packet` is live and its length is passed.
        let n = unsafe { libc::write(self.fd.as_raw_fd(), packet.as_ptr().cast(), packet.len()) };
        if n < 0 {
            Err(io::Error::last_os_error())
        } else {
            Ok(())
        }
    }
}

impl AsFd for Tun {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }
}
