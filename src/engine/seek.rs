//! Unknown destinations: packets the kernel routed into the tun device because no host route
//! covers them yet. They wait, bounded, while the node solicits locally and SEEKs mesh-wide,
//! and are re-injected in order as soon as a host route appears (behaviour.md §10).

use super::clients::SolicitMode;
use super::{Engine, Output, TimerKey};
use crate::time::{Duration, Instant};
use crate::wire::icmp_error;
use std::collections::VecDeque;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

pub const LOCAL_SOLICIT_INTERVAL: Duration = Duration::from_secs(3);
pub const SEEK_DELAY: Duration = Duration::from_millis(300);
pub const SEEK_INTERVAL: Duration = Duration::from_secs(3);
pub const PACKET_LIFETIME: Duration = Duration::from_secs(5);
pub const PURGE_INTERVAL: Duration = Duration::from_secs(1);
pub const MAX_PACKETS_PER_DESTINATION: usize = 64;
pub const MAX_DESTINATIONS: usize = 256;
/// Besides the packet count in all (`--max-queued-packets`), which bounds the bookkeeping
/// that small packets cost beyond their bytes.
pub const MAX_QUEUED_BYTES: usize = 1 << 20;
/// SEEKs this node originates per second at most (behaviour.md §10.2 recommends 20), so that
/// a scan of the client prefix cannot make it a mesh-wide multicast amplifier. A SEEK over
/// the limit waits for the next free slot.
pub const MAX_SEEKS_PER_SECOND: usize = 20;
/// Local solicitations for the addresses of received SEEKs, per second at most, and one per
/// address: as many as this node may originate SEEKs, so that a mesh of nodes seeking at
/// their limit is served, while a flood of SEEKs cannot flood the client link. The rest is
/// dropped; a SEEK that mattered is repeated after 3 s while its packets wait.
pub const MAX_SEEK_SOLICITATIONS_PER_SECOND: usize = 20;
/// ICMP errors per second at most, and one per source (behaviour.md §10.4).
pub const MAX_ICMP_ERRORS_PER_SECOND: usize = 10;

#[derive(Clone, Debug)]
pub(super) struct Seek {
    packets: VecDeque<(Instant, Vec<u8>)>,
    next_local_at: Instant,
    next_seek_at: Instant,
    purge_at: Instant,
}

impl Seek {
    fn deadline(&self) -> Instant {
        self.next_local_at.min(self.next_seek_at).min(self.purge_at)
    }
}

/// The destination of an IP packet read from the tun, if it is one.
fn destination(packet: &[u8]) -> Option<IpAddr> {
    match packet.first()? >> 4 {
        6 => {
            let bytes: [u8; 16] = packet.get(24..40)?.try_into().ok()?;
            Some(IpAddr::V6(Ipv6Addr::from(bytes)))
        }
        4 => {
            let bytes: [u8; 4] = packet.get(16..20)?.try_into().ok()?;
            Some(IpAddr::V4(Ipv4Addr::from(bytes)))
        }
        _ => None,
    }
}

impl Engine {
    pub(super) fn handle_tun_packet(&mut self, packet: Vec<u8>) {
        let Some(dst) = destination(&packet) else {
            self.stats.tun_dropped += 1;
            return;
        };
        let unroutable = match dst {
            IpAddr::V6(v6) => v6.is_multicast(),
            IpAddr::V4(v4) => v4.is_multicast() || v4.is_broadcast(),
        };
        let addr = self.to_internal(dst);
        if unroutable || !self.in_client_prefix(&addr) || self.stopping {
            self.stats.tun_dropped += 1;
            return;
        }
        let served_here = self
            .owner_of(&addr)
            .and_then(|mac| self.clients.get(&mac))
            .and_then(|c| c.address(&addr))
            .is_some_and(|a| a.state.is_active());
        if served_here {
            // The route to a client of ours appeared just after the kernel queued the packet.
            self.stats.reinjected += 1;
            self.out.push_back(Output::Reinject(packet));
            return;
        }
        let now = self.now;
        let waiting = self.seeks.get(&addr).map(|s| s.packets.len());
        let limit = if waiting.is_none() && self.seeks.len() >= MAX_DESTINATIONS {
            Some(&mut self.stats.limit_queue_destinations)
        } else if waiting.is_some_and(|n| n >= MAX_PACKETS_PER_DESTINATION) {
            Some(&mut self.stats.limit_queue_packets)
        } else if self.seek_bytes + packet.len() > MAX_QUEUED_BYTES {
            Some(&mut self.stats.limit_queue_bytes)
        } else if self.seek_packets >= self.cfg.limits.queued_packets {
            Some(&mut self.stats.limit_queue_total)
        } else {
            None
        };
        if let Some(counter) = limit {
            *counter += 1;
            return;
        }
        self.seek_bytes += packet.len();
        self.seek_packets += 1;
        let first = !self.seeks.contains_key(&addr);
        let seek = self.seeks.get_or_insert_with(addr, || Seek {
            packets: VecDeque::new(),
            next_local_at: now + LOCAL_SOLICIT_INTERVAL,
            next_seek_at: now + SEEK_DELAY,
            purge_at: now + PACKET_LIFETIME,
        });
        seek.packets.push_back((now, packet));
        let deadline = seek.deadline();
        if first {
            self.solicit(addr, SolicitMode::Discover);
            self.timers.set(TimerKey::Seek(addr), Some(deadline));
        }
    }

    pub(super) fn service_seek(&mut self, addr: Ipv6Addr) {
        let now = self.now;
        let Some(seek) = self.seeks.get_mut(&addr) else {
            return;
        };
        let mut expired = Vec::new();
        if seek.purge_at <= now {
            while seek
                .packets
                .front()
                .is_some_and(|(at, _)| now.saturating_since(*at) >= PACKET_LIFETIME)
            {
                if let Some((_, packet)) = seek.packets.pop_front() {
                    expired.push(packet);
                }
            }
            seek.purge_at = now + PURGE_INTERVAL;
        }
        let local_due = seek.next_local_at <= now;
        if local_due {
            seek.next_local_at = now + LOCAL_SOLICIT_INTERVAL;
        }
        let mut seek_due = seek.next_seek_at <= now;
        if seek_due {
            if self.seek_window.allow(now, addr) {
                seek.next_seek_at = now + SEEK_INTERVAL;
            } else {
                self.stats.limit_seeks += 1;
                seek.next_seek_at = self.seek_window.next_free().unwrap_or(now).max(now);
                seek_due = false;
            }
        }
        let waiting = !seek.packets.is_empty();
        let deadline = seek.deadline();
        for packet in expired {
            self.seek_bytes = self.seek_bytes.saturating_sub(packet.len());
            self.seek_packets = self.seek_packets.saturating_sub(1);
            self.stats.tun_expired += 1;
            self.send_unreachable(&packet);
        }
        if !waiting {
            self.seeks.remove(&addr);
            self.timers.set(TimerKey::Seek(addr), None);
            return;
        }
        self.timers.set(TimerKey::Seek(addr), Some(deadline));
        if local_due {
            self.solicit(addr, SolicitMode::Discover);
        }
        if seek_due {
            self.originate_seek(addr);
        }
    }

    /// Tells the source of a packet that waited in vain that its destination is unreachable,
    /// within the rate limits.
    fn send_unreachable(&mut self, packet: &[u8]) {
        let Some((dst, message)) = icmp_error::unreachable(packet) else {
            return;
        };
        if self.icmp_window.allow(self.now, dst) {
            self.stats.icmp_errors_out += 1;
            self.out.push_back(Output::IcmpError { dst, message });
        } else {
            self.stats.limit_icmp_errors += 1;
        }
    }

    /// A host route to `addr` exists now: release its waiting packets in arrival order.
    pub(super) fn reinject(&mut self, addr: &Ipv6Addr) {
        let Some(seek) = self.seeks.remove(addr) else {
            return;
        };
        self.timers.set(TimerKey::Seek(*addr), None);
        for (_, packet) in seek.packets {
            self.seek_bytes = self.seek_bytes.saturating_sub(packet.len());
            self.seek_packets = self.seek_packets.saturating_sub(1);
            self.stats.reinjected += 1;
            self.out.push_back(Output::Reinject(packet));
        }
    }
}
