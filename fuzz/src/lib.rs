//! What the fuzz targets share: a byte reader that never fails (a short input just reads
//! zeros, so every input means something) and an engine on a fixed node, built as
//! `tests/engine_timeline.rs` builds it, with checks on everything it emits.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use l3roamd::config::Config;
use l3roamd::engine::{Destination, Engine, Input, KernelOp, Link, Output};
use l3roamd::prefix::IpPrefix;
use l3roamd::time::Instant;
use l3roamd::wire::MacAddr;
use l3roamd::wire::auth::{self, Frame, Key};
use l3roamd::wire::icmp_error;
use l3roamd::wire::intercom::Repr;

pub const LOOPBACK: u32 = 1;
pub const MESH_A: u32 = 2;
pub const CLIENT_IF: u32 = 3;
pub const MESH_B: u32 = 4;
pub const NODE_MAC: MacAddr = MacAddr([0x02, 0, 0, 0, 0xaa, 0xff]);

pub fn me() -> Ipv6Addr {
    Ipv6Addr::new(0xfd00, 0x5523, 0, 0, 0, 0, 0, 0xa)
}

/// Reads an input front to back.
pub struct Reader<'a> {
    bytes: &'a [u8],
}

impl<'a> Reader<'a> {
    pub fn new(bytes: &'a [u8]) -> Reader<'a> {
        Reader { bytes }
    }

    pub fn is_empty(&self) -> bool {
        self.bytes.is_empty()
    }

    pub fn u8(&mut self) -> u8 {
        let (first, rest) = self.bytes.split_first().unwrap_or((&0, &[]));
        self.bytes = rest;
        *first
    }

    pub fn u16(&mut self) -> u16 {
        u16::from_be_bytes([self.u8(), self.u8()])
    }

    pub fn array<const N: usize>(&mut self) -> [u8; N] {
        let mut out = [0; N];
        for byte in &mut out {
            *byte = self.u8();
        }
        out
    }

    /// Up to `n` bytes.
    pub fn take(&mut self, n: usize) -> &'a [u8] {
        let (head, rest) = self.bytes.split_at(n.min(self.bytes.len()));
        self.bytes = rest;
        head
    }

    /// A chunk prefixed with a two-byte length, so that seeds can be written by hand.
    pub fn chunk(&mut self) -> &'a [u8] {
        let len = usize::from(self.u16());
        self.take(len)
    }
}

/// A small set of values per kind, so that random choices often collide (the same client,
/// the same address) and reach the code that handles a second event about one thing.
pub fn mac(sel: u8) -> MacAddr {
    MacAddr([0x02, 0x11, 0x22, 0x33, 0x44, 0x50 + sel % 4])
}

pub fn client_v6(sel: u8) -> Ipv6Addr {
    Ipv6Addr::new(0x2001, 0xdb8, 1, 0, 0, 0, 0, 0x10 + u16::from(sel % 8))
}

pub fn client_v4(sel: u8) -> Ipv4Addr {
    Ipv4Addr::new(198, 51, 100, 10 + sel % 8)
}

pub fn client_addr(sel: u8) -> IpAddr {
    if sel & 0x80 != 0 {
        IpAddr::V4(client_v4(sel))
    } else {
        IpAddr::V6(client_v6(sel))
    }
}

pub fn node(sel: u8) -> Ipv6Addr {
    match sel % 4 {
        0 => me(),
        n => Ipv6Addr::new(0xfd00, 0x5523, 0, 0, 0, 0, 0, 0xa + u16::from(n)),
    }
}

pub fn ifindex(sel: u8) -> u32 {
    [LOOPBACK, MESH_A, CLIENT_IF, MESH_B, 9][usize::from(sel % 5)]
}

/// The key of a keyed node ([`Node::keyed`]).
pub fn fuzz_key() -> Key {
    Key::new(&[0x5a; 32]).expect("a 32-byte key")
}

/// One engine and the virtual clock it runs on.
pub struct Node {
    pub engine: Engine,
    pub now: u64,
    /// Runs with `--key-file` (the [`fuzz_key`]) and `node(1)` on the allow-list; its wall
    /// clock is the virtual clock.
    pub keyed: bool,
    /// Kernel operations the engine asked for and nobody has answered yet.
    pub pending: Vec<KernelOp>,
}

impl Default for Node {
    fn default() -> Self {
        Node::new()
    }
}

impl Node {
    /// A synced node with two mesh interfaces and a client bridge.
    pub fn new() -> Node {
        Node::build(false)
    }

    /// As [`Node::new`], with the authenticated intercom.
    pub fn keyed() -> Node {
        Node::build(true)
    }

    fn build(keyed: bool) -> Node {
        let prefix = IpPrefix::parse("2001:db8:1::/64").unwrap().prefix;
        let mut cfg = Config::new(me(), vec![prefix]);
        if keyed {
            cfg.keys = vec![fuzz_key()];
            cfg.accept_unauthenticated = vec![node(1)];
        }
        cfg.client_if = Some("local-node".into());
        cfg.client_prefixes
            .push(IpPrefix::parse("198.51.100.0/24").unwrap().prefix);
        cfg.mesh_ifs = vec!["mesh0".into(), "mesh1".into()];
        let mut node = Node {
            engine: Engine::with_seed(cfg, 42, Instant::from_millis(0)),
            now: 0,
            keyed,
            pending: Vec::new(),
        };
        for (ifindex, name, mac) in [
            (LOOPBACK, "lo", None),
            (MESH_A, "mesh0", None),
            (MESH_B, "mesh1", None),
            (CLIENT_IF, "local-node", Some(NODE_MAC)),
        ] {
            node.input(Input::Link(Link {
                ifindex,
                name: name.into(),
                up: true,
                mac,
                master: None,
            }));
        }
        node.input(Input::DumpDone);
        node
    }

    pub fn input(&mut self, input: Input) {
        self.engine
            .handle_input(Instant::from_millis(self.now), input);
        self.drain();
    }

    /// Runs every timer up to `ms` from now, then moves the clock there.
    pub fn advance(&mut self, ms: u64) {
        let until = Instant::from_millis(self.now + ms);
        while let Some(at) = self.engine.poll_timeout() {
            if at > until {
                break;
            }
            // A deadline already past runs now: the clock never goes back.
            let at = at.max(Instant::from_millis(self.now));
            self.now = at.as_millis();
            self.engine.handle_timeout(at);
            self.drain();
        }
        self.now = until.as_millis();
    }

    /// Takes every output and checks what reaches other nodes and hosts.
    pub fn drain(&mut self) {
        while let Some(output) = self.engine.poll_output() {
            match output {
                Output::Intercom { dst, bytes } => check_intercom(dst, &bytes),
                Output::IcmpError { message, .. } => {
                    assert!(
                        message.len() <= icmp_error::HEADER_LEN + icmp_error::QUOTE_MAX_V6,
                        "ICMP error of {} bytes",
                        message.len()
                    );
                }
                // Keeps memory bounded however many operations the input provokes.
                Output::Kernel(op) if self.pending.len() < 64 => self.pending.push(op),
                _ => {}
            }
        }
    }
}

/// Every datagram the engine sends must be one a C peer accepts, or a signed one whose MAC
/// verifies and whose body is one.
fn check_intercom(dst: Destination, bytes: &[u8]) {
    if bytes.first() == Some(&auth::VERSION) {
        let frame = Frame::new_checked(bytes)
            .unwrap_or_else(|e| panic!("engine sent a bad signed datagram ({e}): {bytes:02x?}"));
        assert_eq!(frame.verify(&[fuzz_key()]), Ok(0), "signed with the key");
        check_intercom(dst, &frame.to_unsigned());
        return;
    }
    let repr = match Repr::parse(bytes) {
        Ok(repr) => repr,
        Err(e) => {
            panic!("engine sent an unparsable intercom datagram to {dst:?} ({e}): {bytes:02x?}")
        }
    };
    if let Err(e) = repr.check_sendable() {
        panic!("engine sent an intercom datagram C peers must not get ({e}): {repr:?}");
    }
}
