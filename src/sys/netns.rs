//! Network namespaces, for tests against the real kernel: each test thread gets a private
//! network stack, so tests run in parallel and leave nothing behind.

use std::io;

use netlink_sys::{Socket, SocketAddr, protocols::NETLINK_ROUTE};

use super::netlink as nl;
use super::{Context, Error};

/// Moves the calling thread (and processes it spawns afterwards) into a new network
/// namespace and brings its loopback device up. Needs CAP_SYS_ADMIN.
pub fn enter_new_network_namespace() -> Result<(), Error> {
    // SAFETY: unshare(2) takes a flag word and touches no memory of this process;
    // CLONE_NEWNET changes only the calling thread's network namespace.
    let rc = unsafe { libc::unshare(libc::CLONE_NEWNET) };
    if rc != 0 {
        return Err(Error::new(
            "unshare(CLONE_NEWNET)",
            io::Error::last_os_error(),
        ));
    }
    set_link_up("lo")
}

/// Moves the calling thread (and processes it spawns afterwards) into the network namespace
/// `path` names (`/run/netns/<name>` for one made by `ip netns add`). Needs CAP_SYS_ADMIN.
pub fn enter_network_namespace(path: &std::path::Path) -> Result<(), Error> {
    use std::os::fd::AsRawFd;
    let context = || format!("entering the network namespace {}", path.display());
    let file = std::fs::File::open(path).context(context)?;
    // SAFETY: setns(2) takes a descriptor that `file` keeps open for the call and a flag
    // word; CLONE_NEWNET changes only the calling thread's network namespace.
    let rc = unsafe { libc::setns(file.as_raw_fd(), libc::CLONE_NEWNET) };
    if rc != 0 {
        return Err(Error::new(context(), io::Error::last_os_error()));
    }
    Ok(())
}

/// Sets IFF_UP on the link called `name`, waiting for the kernel's answer.
fn set_link_up(name: &str) -> Result<(), Error> {
    let context = || format!("setting {name} up");
    let ifindex =
        nix::net::if_::if_nametoindex(name).map_err(|errno| Error::new(context(), errno.into()))?;
    let mut socket = Socket::new(NETLINK_ROUTE).context(context)?;
    socket.bind_auto().context(context)?;
    socket.connect(&SocketAddr::new(0, 0)).context(context)?;
    const SEQ: u32 = 1;
    socket
        .send(&nl::set_link_up(SEQ, ifindex), 0)
        .context(context)?;
    // The kernel answers while the request is sent, so this read does not wait.
    let mut buf = vec![0u8; 8192];
    let len = socket.recv(&mut &mut buf[..], 0).context(context)?;
    for msg in nl::messages(buf.get(..len).unwrap_or(&buf)) {
        let msg = msg.map_err(|e| Error::new(context(), io::Error::other(e)))?;
        if msg.header.kind == nl::NLMSG_ERROR && msg.header.seq == SEQ {
            let status =
                nl::parse_status(&msg).map_err(|e| Error::new(context(), io::Error::other(e)))?;
            return match status.errno {
                0 => Ok(()),
                errno => Err(Error::new(context(), io::Error::from_raw_os_error(errno))),
            };
        }
    }
    Err(Error::new(
        context(),
        io::Error::other("no answer from the kernel"),
    ))
}
