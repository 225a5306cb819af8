//! The intercom side: the claim decision, CLAIM / INFO / ACK cycles with their retries,
//! received datagrams (SEEK forwarding included) and the DAD probe cycle
//! (intercom.md §5–§9, behaviour.md §6, §12.3).

use super::auth::{self, Replay};
use super::clients::{Decision, SolicitMode};
use super::dedup::{self, Seen};
use super::{
    Datagram, Destination, Engine, Errno, KernelOp, LookupAnswer, LookupToken, Output, TimerKey,
};
use crate::time::{Duration, Instant};
use crate::wire::MacAddr;
use crate::wire::auth::{self as signed, Frame};
use crate::wire::intercom::{self, Header, Info, Message, Packet, Repr};
use std::net::Ipv6Addr;

pub const CLAIM_INTERVAL: Duration = Duration::from_millis(300);
pub const CLAIM_SENDS: u8 = 16;
pub const INFO_INTERVAL: Duration = Duration::from_millis(500);
pub const INFO_SENDS: u8 = 16;
/// INFO content is accepted this long after a CLAIM cycle ended (behaviour.md §14).
pub const CLAIM_WINDOW: Duration = Duration::from_secs(10);
pub const DAD_INTERVAL: Duration = Duration::from_millis(300);
pub const DAD_SENDS: u8 = 16;
/// DAD probe cycles at once: each lives 4.8 s, and any host on the client network can start
/// one per address it pretends to probe.
pub const MAX_DAD_PROBES: usize = 256;

/// A CLAIM or INFO cycle: the same datagram (same nonce) sent at a fixed interval until
/// answered or out of transmissions.
#[derive(Clone, Debug)]
pub(super) struct Retransmission {
    dst: Ipv6Addr,
    bytes: Vec<u8>,
    sends_left: u8,
    interval: Duration,
    next_at: Instant,
}

/// What a cycle wants when its timer fires.
enum Due {
    /// Nothing yet; fire again at this time.
    Later(Instant),
    /// Send this copy, and fire again at `next`.
    Send {
        dst: Ipv6Addr,
        bytes: Vec<u8>,
        next: Instant,
    },
    /// Every copy went out and one interval has passed without an answer.
    Exhausted,
}

impl Retransmission {
    /// A cycle whose first copy is sent now, by the caller.
    fn started(dst: Ipv6Addr, bytes: Vec<u8>, sends: u8, interval: Duration, now: Instant) -> Self {
        Retransmission {
            dst,
            bytes,
            sends_left: sends.saturating_sub(1),
            interval,
            next_at: now + interval,
        }
    }

    fn due(&mut self, now: Instant) -> Due {
        if self.next_at > now {
            return Due::Later(self.next_at);
        }
        if self.sends_left == 0 {
            return Due::Exhausted;
        }
        self.sends_left -= 1;
        self.next_at = now + self.interval;
        Due::Send {
            dst: self.dst,
            bytes: self.bytes.clone(),
            next: self.next_at,
        }
    }
}

#[derive(Clone, Debug)]
pub(super) struct DadProbe {
    sends_left: u8,
    next_at: Instant,
}

/// Whether `addr` can be a node's node IP, the `sender` every reply goes to: `-a` refuses the
/// unspecified and multicast addresses, and loopback would send the reply to ourselves.
fn is_node_ip(addr: &Ipv6Addr) -> bool {
    !(addr.is_unspecified() || addr.is_loopback() || addr.is_multicast())
}

/// What the replay check needs of a signed datagram whose MAC verified.
struct Signed {
    tag: auth::Tag,
    /// When its timestamp leaves the window (wall clock, ms since the Unix epoch).
    expires_ms: u64,
    /// Header and TLVs: what the duplicate cache keys on.
    body_len: usize,
}

/// How a datagram reached us; only multicast on a mesh interface is ever forwarded.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Arrival {
    Multicast,
    Unicast,
}

impl Engine {
    fn header(&mut self, ttl: u8) -> Header {
        Header {
            ttl,
            nonce: self.rng.nonce(),
            sender: self.cfg.node_ip,
        }
    }

    /// The datagrams that carry one version-0 datagram to its peers: itself without keys;
    /// with keys the signed copy, followed by the unsigned one while an allow-list exists.
    /// Signed first, so that a keyed receiver acts on it and finds the unsigned twin a
    /// duplicate. Every send signs afresh, so a retransmission carries a fresh timestamp (it
    /// is still a duplicate to receivers, whose cache ignores the trailer).
    fn versions(&mut self, unsigned: Vec<u8>) -> Vec<Vec<u8>> {
        let wall_ms = self.wall_ms();
        let Some(auth) = &self.auth else {
            return vec![unsigned];
        };
        let signed = auth
            .signing_key()
            .map(|key| signed::sign(&unsigned, key, wall_ms));
        let mut copies = Vec::with_capacity(2);
        match signed {
            Some(Ok(bytes)) => copies.push(bytes),
            // The engine's datagrams are at most a few hundred bytes: cannot happen.
            Some(Err(error)) => log::warn!("intercom datagram not signed: {error}"),
            None => {}
        }
        if auth.sends_unsigned() {
            copies.push(unsigned);
        }
        copies
    }

    fn send_unicast(&mut self, dst: Ipv6Addr, unsigned: Vec<u8>) {
        for bytes in self.versions(unsigned) {
            self.push_intercom(Destination::Unicast(dst), bytes);
        }
    }

    /// Sends on every mesh interface that is up; returns how many interfaces got it.
    fn send_multicast(&mut self, unsigned: Vec<u8>) -> usize {
        let copies = self.versions(unsigned);
        self.send_multicast_copies(&copies)
    }

    fn send_multicast_copies(&mut self, copies: &[Vec<u8>]) -> usize {
        let ifindexes = self.mesh_ifindexes_up();
        for ifindex in &ifindexes {
            for bytes in copies {
                self.push_intercom(Destination::Multicast { ifindex: *ifindex }, bytes.clone());
            }
        }
        ifindexes.len()
    }

    fn push_intercom(&mut self, dst: Destination, bytes: Vec<u8>) {
        if bytes.first() == Some(&signed::VERSION) {
            self.stats.auth_signed_out += 1;
        }
        self.out.push_back(Output::Intercom { dst, bytes });
    }

    // ----- the claim decision -----

    /// Asks the kernel whether some node routes this client's node-client IP (§6.1).
    pub(super) fn take_claim_decision(&mut self, mac: MacAddr) {
        if self.stopping {
            return;
        }
        let ncip = self.node_client_ip(&mac);
        if let Some(client) = self.clients.get_mut(&mac) {
            client.decision = Decision::Looking;
            self.out.push_back(Output::Kernel(KernelOp::LookupRoute {
                token: LookupToken::ClaimDecision(mac),
                addr: ncip,
            }));
        }
    }

    pub(super) fn handle_lookup(
        &mut self,
        token: LookupToken,
        addr: Ipv6Addr,
        answer: LookupAnswer,
    ) {
        match token {
            LookupToken::HasRoute(conn) => {
                let text = self
                    .pending_has_route
                    .remove(&conn)
                    .unwrap_or_else(|| addr.to_string());
                let found = answer != LookupAnswer::NoRoute;
                let bytes = super::control::render_has_route(&text, found).into_bytes();
                self.out.push_back(Output::ControlReply { conn, bytes });
            }
            LookupToken::ClaimDecision(mac) => {
                let waiting = self
                    .clients
                    .get(&mac)
                    .is_some_and(|c| c.decision == Decision::Looking);
                let ncip_of = self.node_client_ip(&mac);
                if !waiting || addr != ncip_of {
                    return;
                }
                match answer {
                    LookupAnswer::NoRoute => {
                        match self.old_clients.get(&mac).and_then(|o| o.handed_to) {
                            // We handed this client over moments ago and it is back before the
                            // new node's node-client IP reached us: claim it from that node directly
                            // (a CLAIM counts on any socket), or both would serve it until the
                            // other's neighbour entries age out.
                            Some(_) if self.is_damped(&mac) => self.defer_claim(mac),
                            Some(node) => self.start_claim(mac, node),
                            None => self.assign_node_client_ip(mac),
                        }
                    }
                    LookupAnswer::Local => {
                        // Left by an earlier run of this node: adopt, never claim from ourselves.
                        log::info!("{mac}: node-client IP {addr} already here, adopted");
                        // Asked for anyway: the kernel answers EEXIST, and the system layer
                        // opens the address's CLAIM socket as for any node-client IP.
                        if self.node_client_ips.insert(addr) {
                            self.out
                                .push_back(Output::Kernel(KernelOp::AddNodeClientIp(addr)));
                        }
                        if let Some(client) = self.clients.get_mut(&mac) {
                            client.decision = Decision::Assigned;
                        }
                    }
                    LookupAnswer::Route if self.is_damped(&mac) => self.defer_claim(mac),
                    LookupAnswer::Route => self.start_claim(mac, ncip_of),
                }
            }
        }
    }

    pub(super) fn assign_node_client_ip(&mut self, mac: MacAddr) {
        let ncip = self.node_client_ip(&mac);
        let Some(client) = self.clients.get_mut(&mac) else {
            return;
        };
        client.decision = Decision::Assigned;
        // Current again: the old copy has served its purpose.
        if self.old_clients.remove(&mac).is_some() {
            self.timers.set(TimerKey::OldClient(mac), None);
        }
        if self.node_client_ips.insert(ncip) {
            self.out
                .push_back(Output::Kernel(KernelOp::AddNodeClientIp(ncip)));
        }
    }

    // ----- CLAIM -----

    /// Starts a CLAIM cycle to `dst`: normally the client's node-client IP.
    fn start_claim(&mut self, mac: MacAddr, dst: Ipv6Addr) {
        if !self.claims.contains_key(&mac) {
            log::info!("{mac}: served elsewhere, claiming it from {dst}");
            self.claim_cycle(mac, dst);
        }
    }

    /// The CLAIM cycle itself; false if one runs already (one per MAC at a time).
    pub(super) fn claim_cycle(&mut self, mac: MacAddr, dst: Ipv6Addr) -> bool {
        if self.claims.contains_key(&mac) {
            return false;
        }
        let repr = Repr {
            header: self.header(intercom::TTL_UNICAST),
            message: Message::Claim { mac },
        };
        let bytes = repr.to_bytes();
        self.stats.claim_out += 1;
        self.send_unicast(dst, bytes.clone());
        let cycle = Retransmission::started(dst, bytes, CLAIM_SENDS, CLAIM_INTERVAL, self.now);
        self.timers.set(TimerKey::Claim(mac), Some(cycle.next_at));
        self.claims.insert(mac, cycle);
        if let Some(client) = self.clients.get_mut(&mac) {
            client.decision = Decision::Claiming;
        }
        true
    }

    pub(super) fn service_claim(&mut self, mac: MacAddr) {
        let now = self.now;
        let Some(cycle) = self.claims.get_mut(&mac) else {
            return;
        };
        match cycle.due(now) {
            Due::Later(at) => self.timers.set(TimerKey::Claim(mac), Some(at)),
            Due::Send { dst, bytes, next } => {
                self.stats.claim_out += 1;
                self.stats.claim_retries += 1;
                self.send_unicast(dst, bytes);
                self.timers.set(TimerKey::Claim(mac), Some(next));
            }
            Due::Exhausted => {
                // One interval after the last CLAIM and still no INFO: take the client as new.
                log::info!("{mac}: no INFO for the CLAIM, taking it over without");
                self.stats.claim_timeouts += 1;
                self.end_claim(mac);
                self.record_move(mac);
                self.assign_node_client_ip(mac);
            }
        }
    }

    /// Stops a running CLAIM cycle and opens the window in which its INFO is still accepted.
    pub(super) fn end_claim(&mut self, mac: MacAddr) {
        if self.claims.remove(&mac).is_some() {
            self.timers.set(TimerKey::Claim(mac), None);
            let until = self.now + CLAIM_WINDOW;
            self.claim_windows.insert(mac, until);
            self.timers.set(TimerKey::ClaimWindow(mac), Some(until));
        }
    }

    pub(super) fn handle_send_failed(&mut self, dst: Ipv6Addr, errno: Errno) {
        self.stats.intercom_send_failures += 1;
        let claimed = self
            .claims
            .iter()
            .find(|(_, c)| c.dst == dst)
            .map(|(mac, _)| *mac);
        if let Some(mac) = claimed {
            // Nobody routes the node-client IP any more: nothing to hand over.
            log::info!(
                "{mac}: CLAIM to {dst} not deliverable (errno {}), taking it over",
                errno.0
            );
            self.end_claim(mac);
            self.assign_node_client_ip(mac);
        } else {
            log::debug!("intercom send to {dst} failed: errno {}", errno.0);
        }
    }

    // ----- INFO -----

    fn start_info(&mut self, mac: MacAddr, dst: Ipv6Addr, addresses: Vec<Ipv6Addr>) {
        if self.infos.contains_key(&mac) {
            return;
        }
        let repr = Repr {
            header: self.header(intercom::TTL_UNICAST),
            message: Message::Info(Info {
                mac,
                lease: 0,
                plat: self
                    .cfg
                    .plat_prefix
                    .map_or(Ipv6Addr::UNSPECIFIED, |p| p.addr()),
                addresses,
            }),
        };
        let bytes = repr.to_bytes();
        self.stats.info_out += 1;
        self.send_unicast(dst, bytes.clone());
        let cycle = Retransmission::started(dst, bytes, INFO_SENDS, INFO_INTERVAL, self.now);
        self.timers.set(TimerKey::Info(mac), Some(cycle.next_at));
        self.infos.insert(mac, cycle);
    }

    pub(super) fn service_info(&mut self, mac: MacAddr) {
        let now = self.now;
        let Some(cycle) = self.infos.get_mut(&mac) else {
            return;
        };
        match cycle.due(now) {
            Due::Later(at) => self.timers.set(TimerKey::Info(mac), Some(at)),
            Due::Send { dst, bytes, next } => {
                self.stats.info_out += 1;
                self.stats.info_retries += 1;
                self.send_unicast(dst, bytes);
                self.timers.set(TimerKey::Info(mac), Some(next));
            }
            // Out of transmissions without an ACK: dropped silently, as deployed peers do.
            Due::Exhausted => {
                self.stats.infos_unacked += 1;
                self.infos.remove(&mac);
            }
        }
    }

    // ----- receiving -----

    fn classify(&self, d: &Datagram) -> Option<Arrival> {
        if d.dst == intercom::GROUP {
            return self.is_mesh_if(d.ifindex).then_some(Arrival::Multicast);
        }
        if d.dst == self.cfg.node_ip || self.node_client_ips.contains(&d.dst) {
            return Some(Arrival::Unicast);
        }
        None
    }

    fn malformed(&mut self, d: &Datagram, error: intercom::Error) {
        self.stats.intercom_malformed.count(&error);
        if self.log_limiter.allow(self.now) {
            log::debug!("dropping malformed intercom packet from {}: {error}", d.src);
        }
    }

    /// Decides whether a datagram is one this node may act on, by its version and the keys
    /// (`--key-file`): without keys version 0 only, as the C daemon; with keys version 2
    /// with a good MAC and a fresh timestamp, and version 0 only from allow-listed senders.
    /// Returns the message and, for a signed datagram, what the replay cache needs.
    fn admit(&mut self, d: &Datagram) -> Option<(Repr, Option<Signed>)> {
        let Some(auth) = &self.auth else {
            return match Repr::parse(&d.bytes) {
                Ok(repr) => Some((repr, None)),
                Err(error) => {
                    self.malformed(d, error);
                    None
                }
            };
        };
        let packet = match Packet::new_checked(&d.bytes[..]) {
            Ok(packet) => packet,
            Err(error) => {
                self.malformed(d, error);
                return None;
            }
        };
        if packet.version() != signed::VERSION {
            // Also version 0 from a sender not on the list: as good as forged.
            if packet.version() != intercom::VERSION
                || !auth.accept_unsigned.contains(&packet.sender())
            {
                // The unsigned twin of a signed datagram already taken (a keyed node with an
                // allow-list sends both): a duplicate, not an attack.
                if self.dedup.contains(self.now, &dedup::key_of(&d.bytes)) {
                    self.stats.intercom_duplicates += 1;
                    return None;
                }
                self.stats.auth_unauthenticated += 1;
                if self.log_limiter.allow(self.now) {
                    log::debug!(
                        "dropping unsigned intercom packet (version {}) from {}",
                        packet.version(),
                        d.src
                    );
                }
                return None;
            }
            return match Repr::parse(&d.bytes) {
                Ok(repr) => {
                    self.stats.auth_unsigned_accepted += 1;
                    Some((repr, None))
                }
                Err(error) => {
                    self.malformed(d, error);
                    None
                }
            };
        }
        let frame = match Frame::new_checked(&d.bytes) {
            Ok(frame) => frame,
            Err(error) => {
                self.malformed(d, error);
                return None;
            }
        };
        if frame.verify(&auth.keys).is_err() {
            self.stats.auth_bad_mac += 1;
            if self.log_limiter.allow(self.now) {
                log::debug!("dropping intercom packet from {} with a bad MAC", d.src);
            }
            return None;
        }
        let wall_ms = self.wall_ms();
        let timestamp_ms = frame.timestamp_ms();
        if !auth::within_window(timestamp_ms, wall_ms) {
            self.stats.auth_stale += 1;
            self.warn_clock_offset(packet.sender(), timestamp_ms, wall_ms);
            return None;
        }
        let repr = match frame.repr() {
            Ok(repr) => repr,
            Err(error) => {
                self.malformed(d, error);
                return None;
            }
        };
        let mac = frame.mac();
        let mut tag = [0; 16];
        tag.copy_from_slice(&mac[..16]);
        Some((
            repr,
            Some(Signed {
                tag,
                expires_ms: timestamp_ms.saturating_add(auth::window_ms()),
                body_len: frame.body().len(),
            }),
        ))
    }

    /// A genuine datagram (its MAC verified) outside the window: the two clocks disagree,
    /// or someone replays an old datagram. Either way the operator must see the offset.
    fn warn_clock_offset(&mut self, sender: Ipv6Addr, timestamp_ms: u64, wall_ms: u64) {
        let Some(suppressed) = self.clock_warning.allow(self.now) else {
            return;
        };
        let (sign, offset) = if timestamp_ms >= wall_ms {
            ('+', timestamp_ms - wall_ms)
        } else {
            ('-', wall_ms - timestamp_ms)
        };
        let more = if suppressed > 0 {
            format!(" ({suppressed} more since the last warning)")
        } else {
            String::new()
        };
        log::warn!(
            "signed intercom packet from {sender} dropped: its clock is {sign}{}.{:03} s off \
             ours, beyond the {} s window; are both nodes' clocks synchronised (NTP)?{more}",
            offset / 1000,
            offset % 1000,
            auth::AUTH_WINDOW.as_secs()
        );
    }

    pub(super) fn handle_datagram(&mut self, d: Datagram) {
        if self.stopping {
            return;
        }
        let Some(arrival) = self.classify(&d) else {
            self.stats.intercom_not_for_us += 1;
            return;
        };
        let Some((repr, signature)) = self.admit(&d) else {
            return;
        };
        if repr.header.ttl == 0 {
            // C peers forward only what keeps a ttl after the decrement, and send nothing
            // with ttl 0 of their own: a ttl-0 datagram was made to be dropped.
            self.malformed(&d, intercom::Error::ZeroTtl);
            return;
        }
        let sender = repr.header.sender;
        if sender == self.cfg.node_ip {
            self.stats.intercom_own += 1;
            return;
        }
        if !is_node_ip(&sender) {
            self.stats.intercom_malformed.bad_sender += 1;
            if self.log_limiter.allow(self.now) {
                log::debug!(
                    "dropping intercom packet from {} with sender {sender}",
                    d.src
                );
            }
            return;
        }
        // The signed and the unsigned copy of one message are duplicates of each other.
        let body_len = signature.as_ref().map_or(d.bytes.len(), |s| s.body_len);
        let key = dedup::key_of(d.bytes.get(..body_len).unwrap_or(&[]));
        let wall_ms = self.wall_ms();
        if let (Some(signature), Some(auth)) = (&signature, &mut self.auth) {
            // What the duplicate cache still knows is handled as a duplicate below (a
            // flood copy, or an INFO whose ACK was lost, is no attack); an exact repeat it
            // has forgotten is a replay.
            if !self.dedup.contains(self.now, &key) {
                match auth
                    .replay
                    .check_and_insert(wall_ms, signature.tag, signature.expires_ms)
                {
                    Replay::New => {}
                    Replay::Replayed => {
                        self.stats.auth_replayed += 1;
                        return;
                    }
                    Replay::Full => {
                        self.stats.auth_replay_cache_full += 1;
                        return;
                    }
                }
            }
            self.stats.auth_signed_in += 1;
        }
        match self.dedup.check_and_insert(self.now, key.clone()) {
            Seen::New { evicted } => {
                self.stats.limit_duplicate_cache += evicted;
                self.timers
                    .set(TimerKey::DupCache, self.dedup.next_expiry());
            }
            Seen::Duplicate(reply) => {
                self.stats.intercom_duplicates += 1;
                // A retransmitted INFO means our ACK was lost: send the same ACK again.
                if let (Message::Info(_), Some(ack)) = (&repr.message, reply) {
                    self.stats.ack_out += 1;
                    self.send_unicast(sender, ack);
                }
                return;
            }
        }
        match repr.message {
            Message::Seek { addresses } => {
                self.stats.seek_in += 1;
                let signed = signature.is_some();
                self.handle_seek(&addresses, arrival, repr.header.ttl, &d.bytes, signed);
            }
            Message::Claim { mac } => {
                self.stats.claim_in += 1;
                self.handle_claim(sender, mac);
            }
            Message::Info(info) => {
                self.stats.info_in += 1;
                self.handle_info(sender, info, &key);
            }
            Message::Ack { mac } => {
                self.stats.ack_in += 1;
                self.handle_ack(sender, mac);
            }
        }
    }

    /// SEEK: solicit locally, and flood on with ttl − 1 if it came by multicast (§5.1, §7).
    /// A signed SEEK is forwarded as it came (the ttl is outside the MAC), and while an
    /// allow-list exists also unsigned, so that C peers beyond this node hear it; an unsigned
    /// one is forwarded unsigned only: this node does not sign for others.
    fn handle_seek(
        &mut self,
        addresses: &[Ipv6Addr],
        arrival: Arrival,
        ttl: u8,
        bytes: &[u8],
        signed: bool,
    ) {
        let client_link = self.client_ifindex().is_some();
        for addr in addresses {
            if !client_link || !self.in_client_prefix(addr) {
                continue;
            }
            // Each solicitation is a multicast frame on the client link (broadcast on Wi-Fi):
            // without a budget, a flood of SEEKs for random addresses floods the clients.
            if self.seek_solicit_window.allow(self.now, *addr) {
                self.solicit(*addr, SolicitMode::Discover);
            } else {
                self.stats.limit_seek_solicitations += 1;
            }
        }
        if arrival == Arrival::Multicast && ttl > 1 {
            let mut forwarded = bytes.to_vec();
            if let Some(byte) = forwarded.get_mut(1) {
                *byte = ttl - 1;
            }
            let also_unsigned = self.auth.as_ref().is_some_and(|a| a.sends_unsigned());
            let twin = (signed && also_unsigned)
                .then(|| Frame::new_checked(&forwarded).ok().map(|f| f.to_unsigned()))
                .flatten();
            let mut copies = vec![forwarded];
            copies.extend(twin);
            if self.send_multicast_copies(&copies) > 0 {
                self.stats.seek_forwarded += 1;
            }
        }
    }

    /// CLAIM: hand over a current client (and give it up), or answer from the old-clients
    /// memory; ignore anything else (§5.2). Never forwarded.
    fn handle_claim(&mut self, sender: Ipv6Addr, mac: MacAddr) {
        if self.clients.contains_key(&mac) {
            if !self.claim_meets_duplicate(sender, mac) {
                self.hand_over(mac, sender);
            }
        } else if let Some(old) = self.old_clients.get(&mac) {
            let addresses = old.addresses.clone();
            self.start_info(mac, sender, addresses);
        } else {
            self.stats.claims_for_unknown_clients += 1;
        }
    }

    /// Hands a current client over to `sender`: INFO cycle, then the client goes.
    pub(super) fn hand_over(&mut self, mac: MacAddr, sender: Ipv6Addr) {
        let Some(client) = self.clients.get(&mac) else {
            return;
        };
        let addresses = client.info_addresses(intercom::MAX_ADDRESSES_PER_TLV);
        log::info!(
            "{mac}: claimed by {sender}, handing over {} address(es)",
            addresses.len()
        );
        self.stats.handovers_out += 1;
        self.record_move(mac);
        self.start_info(mac, sender, addresses);
        self.delete_client(mac, "claimed by another node");
        if let Some(old) = self.old_clients.get_mut(&mac) {
            old.handed_to = Some(sender);
        }
    }

    /// INFO: always ACKed; its content is taken only for a client we are claiming, or have
    /// just claimed, and then every address in a client prefix becomes ACTIVE (§5.3).
    fn handle_info(&mut self, sender: Ipv6Addr, info: Info, key: &[u8]) {
        let ack = Repr {
            header: self.header(intercom::TTL_UNICAST),
            message: Message::Ack { mac: info.mac },
        }
        .to_bytes();
        self.dedup.set_reply(key, ack.clone());
        self.stats.ack_out += 1;
        self.send_unicast(sender, ack);

        let mac = info.mac;
        let expected = self.claims.contains_key(&mac) || self.claim_windows.contains_key(&mac);
        if !self.clients.contains_key(&mac) || !expected {
            self.stats.infos_ignored += 1;
            log::debug!("{mac}: INFO from {sender} not expected, content ignored");
            return;
        }
        self.end_claim(mac);
        self.stats.handovers_in += 1;
        self.record_move(mac);
        self.duplicate_note_handover(sender, mac);
        let Some(ifindex) = self.clients.get(&mac).map(|c| c.ifindex) else {
            return;
        };
        for addr in &info.addresses {
            // FIX: every address, not only those already known here (C's inverted merge).
            self.add_address(*addr, mac, ifindex);
        }
        if let Some(client) = self.clients.get_mut(&mac) {
            client.plat = (!info.plat.is_unspecified()).then_some(info.plat);
        }
        log::info!(
            "{mac}: taken over from {sender} with {} address(es)",
            info.addresses.len()
        );
        self.assign_node_client_ip(mac);
    }

    /// ACK: stops the INFO cycle, but only when it comes from the node the INFO went to.
    fn handle_ack(&mut self, sender: Ipv6Addr, mac: MacAddr) {
        if self
            .infos
            .get(&mac)
            .is_some_and(|cycle| cycle.dst == sender)
        {
            self.infos.remove(&mac);
            self.timers.set(TimerKey::Info(mac), None);
        } else {
            self.stats.acks_ignored += 1;
        }
    }

    /// Originates a SEEK for `addr` on every mesh interface (fresh nonce each time).
    pub(super) fn originate_seek(&mut self, addr: Ipv6Addr) {
        let repr = Repr {
            header: self.header(intercom::TTL_MULTICAST),
            message: Message::Seek {
                addresses: vec![addr],
            },
        };
        if self.send_multicast(repr.to_bytes()) > 0 {
            self.stats.seek_out += 1;
        }
    }

    // ----- DAD probe cycle (behaviour.md §12.3) -----

    pub(super) fn start_dad_probe(&mut self, target: Ipv6Addr) {
        if !self.in_client_prefix(&target)
            || self.dad.contains_key(&target)
            || self.owner_of(&target).is_some()
        {
            return;
        }
        if self.dad.len() >= MAX_DAD_PROBES {
            self.stats.limit_dad_probes += 1;
            return;
        }
        self.solicit(target, SolicitMode::Discover);
        let next_at = self.now + DAD_INTERVAL;
        self.dad.insert(
            target,
            DadProbe {
                sends_left: DAD_SENDS - 1,
                next_at,
            },
        );
        self.timers.set(TimerKey::Dad(target), Some(next_at));
    }

    pub(super) fn service_dad(&mut self, target: Ipv6Addr) {
        let known = self.owner_of(&target).is_some();
        let now = self.now;
        let Some(probe) = self.dad.get_mut(&target) else {
            return;
        };
        if known || probe.sends_left == 0 {
            self.dad.remove(&target);
            return;
        }
        probe.sends_left -= 1;
        probe.next_at = now + DAD_INTERVAL;
        let at = probe.next_at;
        let more = probe.sends_left > 0;
        self.solicit(target, SolicitMode::Discover);
        if more {
            self.timers.set(TimerKey::Dad(target), Some(at));
        } else {
            self.dad.remove(&target);
        }
    }
}
