//! nl80211 station events: which MAC associated with or left which wifi interface.
//!
//! The family and its `mlme` multicast group are resolved once, at start, through the
//! generic netlink controller; without cfg80211 there is no such family and the daemon
//! runs without station events (`spec/behaviour.md` §4.1 row 1). Which interfaces count
//! is the engine's decision, not this module's.

use std::io;

use mio::{Interest, Registry, Token};
use netlink_sys::{Socket, SocketAddr, protocols::NETLINK_GENERIC};
use nix::sys::socket::{setsockopt, sockopt};
use nix::sys::time::{TimeVal, TimeValLike};

use super::netlink::{self as nl, Family, GenlMsgHdr, Malformed, Message};
use super::{Context, Error};
use crate::engine::Input;
use crate::wire::MacAddr;

/// Command: a station associated (linux/nl80211.h).
pub const NL80211_CMD_NEW_STATION: u8 = 19;
/// Command: a station left.
pub const NL80211_CMD_DEL_STATION: u8 = 20;
/// Attribute: the wifi interface's index (u32).
pub const NL80211_ATTR_IFINDEX: u16 = 3;
/// Attribute: the station's MAC.
pub const NL80211_ATTR_MAC: u16 = 6;

/// How long start-up waits for the controller's answer.
const RESOLVE_TIMEOUT_SECS: i64 = 2;
/// Station events are small and rare; one page holds several.
const DATAGRAM_BUFFER: usize = 16 << 10;

/// A generic netlink socket subscribed to nl80211's `mlme` group.
pub struct Nl80211 {
    socket: Socket,
    family: u16,
    buf: Vec<u8>,
    malformed: u64,
    overruns: u64,
}

impl Nl80211 {
    /// Opens the socket and subscribes to station events; `Ok(None)` when the kernel has
    /// no nl80211 family (no cfg80211) or it lacks the `mlme` group.
    pub fn open() -> Result<Option<Nl80211>, Error> {
        let context = || "opening the nl80211 socket".to_string();
        let mut socket = Socket::new(NETLINK_GENERIC).context(context)?;
        socket.bind_auto().context(context)?;
        socket.connect(&SocketAddr::new(0, 0)).context(context)?;
        setsockopt(
            &socket,
            sockopt::ReceiveTimeout,
            &TimeVal::seconds(RESOLVE_TIMEOUT_SECS),
        )
        .map_err(|errno| Error::new(context(), errno.into()))?;
        let Some(family) = resolve(&socket, "nl80211")? else {
            return Ok(None);
        };
        let Some(group) = family.group("mlme") else {
            log::debug!("nl80211 has no mlme group: {:?}", family.groups);
            return Ok(None);
        };
        socket
            .add_membership(group)
            .context(|| "joining the nl80211 mlme group".to_string())?;
        socket.set_non_blocking(true).context(context)?;
        Ok(Some(Nl80211 {
            socket,
            family: family.id,
            buf: vec![0; DATAGRAM_BUFFER],
            malformed: 0,
            overruns: 0,
        }))
    }

    /// Registers the socket, readable, under `token`.
    pub fn register(&mut self, registry: &Registry, token: Token) -> Result<(), Error> {
        registry
            .register(&mut self.socket, token, Interest::READABLE)
            .context(|| "registering the nl80211 socket".to_string())
    }

    /// Drains the socket: each NEW_STATION / DEL_STATION becomes an [`Input::Station`].
    pub fn read(&mut self, out: &mut Vec<Input>) -> Result<(), Error> {
        loop {
            let len = match self.socket.recv(&mut &mut self.buf[..], libc::MSG_TRUNC) {
                Ok(len) => len,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(()),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) if e.raw_os_error() == Some(libc::ENOBUFS) => {
                    // Nothing to re-read: stations cannot be dumped for all interfaces
                    // at once. Neighbour events and expiry still catch what was missed.
                    self.overruns += 1;
                    log::warn!("nl80211 station events lost ({} times)", self.overruns);
                    continue;
                }
                Err(e) => return Err(Error::new("reading nl80211 events", e)),
            };
            let datagram = self.buf.get(..len).unwrap_or(&self.buf);
            for msg in nl::messages(datagram) {
                match msg.and_then(|msg| parse_station(&msg, self.family)) {
                    Ok(Some(input)) => out.push(input),
                    Ok(None) => {}
                    Err(e) => {
                        self.malformed += 1;
                        log::debug!("nl80211: {e} ({} so far)", self.malformed);
                    }
                }
            }
        }
    }
}

/// Asks the generic netlink controller for the family called `name`, waiting for the
/// answer (up to the socket's receive timeout). `Ok(None)`: no such family.
fn resolve(socket: &Socket, name: &str) -> Result<Option<Family>, Error> {
    let context = || format!("resolving the generic netlink family {name}");
    const SEQ: u32 = 1;
    socket
        .send(&nl::get_family(SEQ, name), 0)
        .context(context)?;
    let mut buf = vec![0u8; DATAGRAM_BUFFER];
    // The socket has no groups yet and is connected to the kernel, so only the answer can
    // arrive; a few reads are plenty.
    for _ in 0..4 {
        let len = socket.recv(&mut &mut buf[..], 0).context(context)?;
        for msg in nl::messages(buf.get(..len).unwrap_or(&buf)) {
            let msg = msg.map_err(|e| Error::new(context(), io::Error::other(e)))?;
            if msg.header.seq != SEQ {
                continue;
            }
            match msg.header.kind {
                nl::NLMSG_ERROR => {
                    let status = nl::parse_status(&msg)
                        .map_err(|e| Error::new(context(), io::Error::other(e)))?;
                    match status.errno {
                        0 => {}
                        libc::ENOENT => return Ok(None),
                        errno => {
                            return Err(Error::new(context(), io::Error::from_raw_os_error(errno)));
                        }
                    }
                }
                nl::GENL_ID_CTRL => {
                    return nl::parse_family(&msg)
                        .map(Some)
                        .map_err(|e| Error::new(context(), io::Error::other(e)));
                }
                _ => {}
            }
        }
    }
    Err(Error::new(context(), io::Error::other("no answer")))
}

/// Decodes one message of the `mlme` group: `Ok(Some)` for NEW_STATION / DEL_STATION,
/// `Ok(None)` for every other command or family.
pub fn parse_station(msg: &Message<'_>, family: u16) -> Result<Option<Input>, Malformed> {
    if msg.header.kind != family {
        return Ok(None);
    }
    let (header, rest) = GenlMsgHdr::parse(msg.payload)?;
    let associated = match header.cmd {
        NL80211_CMD_NEW_STATION => true,
        NL80211_CMD_DEL_STATION => false,
        _ => return Ok(None),
    };
    let (mut ifindex, mut mac) = (None, None);
    for attr in nl::attrs(rest) {
        let attr = attr?;
        match attr.kind {
            NL80211_ATTR_IFINDEX => ifindex = Some(attr.u32()?),
            NL80211_ATTR_MAC => {
                mac = Some(attr.mac().ok_or(Malformed("station MAC not 6 bytes"))?);
            }
            _ => {}
        }
    }
    match (ifindex, mac) {
        (Some(ifindex), Some(mac)) => Ok(Some(Input::Station {
            ifindex,
            mac: MacAddr(mac),
            associated,
        })),
        _ => Err(Malformed("station event without interface or MAC")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const FAMILY: u16 = 0x1c;

    fn event(family: u16, cmd: u8, attrs: &[(u16, &[u8])]) -> Vec<u8> {
        nl::test_message(family, 0, &[cmd, 1, 0, 0], attrs)
    }

    fn parse(bytes: &[u8]) -> Result<Option<Input>, Malformed> {
        let msg = nl::messages(bytes).next().unwrap().unwrap();
        parse_station(&msg, FAMILY)
    }

    const MAC: [u8; 6] = [0xa4, 0x2b, 0xb0, 0x11, 0x22, 0x33];

    #[test]
    fn new_and_del_station() {
        let ifindex = 7u32.to_ne_bytes();
        // Real events also carry NL80211_ATTR_WIPHY (1), GENERATION (46), STA_INFO (21).
        let attrs: &[(u16, &[u8])] = &[
            (1, &0u32.to_ne_bytes()),
            (NL80211_ATTR_IFINDEX, &ifindex),
            (NL80211_ATTR_MAC, &MAC),
            (46, &3u32.to_ne_bytes()),
            (21 | 0x8000, &[]),
        ];
        let station = |associated| {
            Ok(Some(Input::Station {
                ifindex: 7,
                mac: MacAddr(MAC),
                associated,
            }))
        };
        assert_eq!(
            parse(&event(FAMILY, NL80211_CMD_NEW_STATION, attrs)),
            station(true)
        );
        assert_eq!(
            parse(&event(FAMILY, NL80211_CMD_DEL_STATION, attrs)),
            station(false)
        );
    }

    #[test]
    fn everything_else_is_ignored_or_rejected() {
        let ifindex = 7u32.to_ne_bytes();
        let attrs: &[(u16, &[u8])] = &[(NL80211_ATTR_IFINDEX, &ifindex), (NL80211_ATTR_MAC, &MAC)];
        // Another command of the group (e.g. NL80211_CMD_CONNECT), another family.
        assert_eq!(parse(&event(FAMILY, 46, attrs)), Ok(None));
        assert_eq!(
            parse(&event(FAMILY + 1, NL80211_CMD_NEW_STATION, attrs)),
            Ok(None)
        );
        // Missing MAC, short MAC, truncated genl header.
        assert!(parse(&event(FAMILY, NL80211_CMD_NEW_STATION, &attrs[..1])).is_err());
        let short: &[(u16, &[u8])] = &[
            (NL80211_ATTR_IFINDEX, &ifindex),
            (NL80211_ATTR_MAC, &MAC[..5]),
        ];
        assert!(parse(&event(FAMILY, NL80211_CMD_DEL_STATION, short)).is_err());
        let mut truncated = event(FAMILY, NL80211_CMD_NEW_STATION, &[]);
        truncated.truncate(18);
        truncated[0] = 18;
        assert!(parse(&truncated).is_err());
    }

    /// Against the running kernel, no privileges needed: the controller resolves itself,
    /// with its `notify` group, and says ENOENT for a family that does not exist.
    #[test]
    fn resolve_against_the_kernel() {
        let mut socket = Socket::new(NETLINK_GENERIC).unwrap();
        socket.bind_auto().unwrap();
        socket.connect(&SocketAddr::new(0, 0)).unwrap();
        setsockopt(&socket, sockopt::ReceiveTimeout, &TimeVal::new(2, 0)).unwrap();
        let ctrl = resolve(&socket, "nlctrl").unwrap().expect("nlctrl exists");
        assert_eq!(ctrl.id, nl::GENL_ID_CTRL);
        assert!(ctrl.group("notify").is_some(), "{:?}", ctrl.groups);
        assert_eq!(resolve(&socket, "no-such-family").unwrap(), None);
        // Whatever this machine has: opening must not fail.
        Nl80211::open().unwrap();
    }

    proptest! {
        #[test]
        fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..256)) {
            for msg in nl::messages(&bytes).flatten() {
                let _ = parse_station(&msg, msg.header.kind);
            }
        }
    }
}
