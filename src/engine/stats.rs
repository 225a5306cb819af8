//! Counters: what arrived, what was dropped and why, what the daemon did. Every drop of
//! untrusted input is counted here rather than logged above debug level.

use crate::time::{Duration, Instant};
use crate::wire::Error;
use std::collections::VecDeque;

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Stats {
    pub seek_in: u64,
    pub claim_in: u64,
    pub info_in: u64,
    pub ack_in: u64,
    pub seek_out: u64,
    pub seek_forwarded: u64,
    pub claim_out: u64,
    pub info_out: u64,
    pub ack_out: u64,
    /// Intercom datagrams dropped before the duplicate cache, by what was wrong with them.
    pub intercom_malformed: MalformedIntercom,
    pub intercom_not_for_us: u64,
    pub intercom_own: u64,
    pub intercom_duplicates: u64,
    pub intercom_send_failures: u64,
    pub claims_for_unknown_clients: u64,
    pub infos_ignored: u64,
    pub acks_ignored: u64,
    pub handovers_in: u64,
    pub handovers_out: u64,
    pub claim_timeouts: u64,
    /// Host routes released by demotion, and demoted routes deleted after the hold.
    pub routes_demoted: u64,
    /// Clients found flapping, and CLAIMs held back because of it.
    pub flaps_detected: u64,
    pub claims_deferred: u64,
    pub limit_flap_records: u64,
    pub demoted_routes_deleted: u64,
    /// CLAIM and INFO copies after the first of their cycle.
    pub claim_retries: u64,
    pub info_retries: u64,
    /// INFO cycles that ran out of copies without an ACK.
    pub infos_unacked: u64,
    pub liveness_probes: u64,
    pub liveness_purges: u64,
    pub clients_expired: u64,
    pub limit_clients: u64,
    pub limit_addresses: u64,
    /// A packet for one more destination than the queues take.
    pub limit_queue_destinations: u64,
    /// One more packet than a destination's queue takes.
    pub limit_queue_packets: u64,
    /// A packet that would take the queued bytes over their bound.
    pub limit_queue_bytes: u64,
    /// One more packet than the queues take in all (`--max-queued-packets`).
    pub limit_queue_total: u64,
    /// A new datagram that pushed the oldest entry out of the full duplicate cache.
    pub limit_duplicate_cache: u64,
    /// A received SEEK's address left unsolicited: the per-second budget was spent.
    pub limit_seek_solicitations: u64,
    /// A kernel dump with more objects of one kind than the view keeps (nothing repaired).
    pub limit_kernel_view: u64,
    /// A control command line of 1024 bytes or more.
    pub limit_control_line: u64,
    pub limit_old_clients: u64,
    pub limit_dad_probes: u64,
    pub limit_prefixes: u64,
    pub limit_mesh_ifs: u64,
    pub limit_deferred: u64,
    pub limit_seeks: u64,
    pub limit_icmp_errors: u64,
    pub tun_dropped: u64,
    pub tun_expired: u64,
    pub icmp_errors_out: u64,
    pub reinjected: u64,
    pub kernel_failures: u64,
    pub control_errors: u64,
    /// Duplicate host routes seen through babeld (see `duplicates.rs` for the policy).
    pub dup_detected: u64,
    pub dup_ended: u64,
    pub dup_unowned: u64,
    pub dup_stale: u64,
    pub dup_verifications: u64,
    pub dup_verified_present: u64,
    pub dup_verified_absent: u64,
    pub dup_released: u64,
    pub dup_reasserted: u64,
    pub dup_no_address: u64,
    pub dup_kept: u64,
    pub dup_yielded: u64,
    pub dup_claims_deferred: u64,
    pub dup_learning_suppressed: u64,
    pub babel_connects: u64,
    pub babel_disconnects: u64,
    /// A route babeld reported that X or R had no room for.
    pub babel_routes_limit: u64,
    pub limit_duplicate_records: u64,
    /// Authenticated intercom (`--key-file`): signed datagrams accepted and sent, unsigned
    /// ones accepted from `--accept-unauthenticated` senders, and every rejection by cause.
    pub auth_signed_in: u64,
    pub auth_signed_out: u64,
    pub auth_unsigned_accepted: u64,
    pub auth_unauthenticated: u64,
    pub auth_bad_mac: u64,
    pub auth_stale: u64,
    pub auth_replayed: u64,
    pub auth_replay_cache_full: u64,
    /// What the driver counts: the engine only reports it.
    pub system: SystemCounters,
}

/// Counters of the system layer, handed to the engine so that `get_stats` shows them too.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SystemCounters {
    /// Frames on the client interface that did not parse (packet and ICMPv6 sockets).
    pub frames_dropped: u64,
    /// Control connections refused because the limit was reached.
    pub control_refused: u64,
    /// Control connections closed without a whole command line after 5 s.
    pub control_timeouts: u64,
    /// Kernel operations refused because the rtnetlink queue was full.
    pub kernel_queue_full: u64,
    /// Packets for re-injection dropped because the tun's backlog was full.
    pub reinject_dropped: u64,
    /// Intercom datagrams the kernel's send buffer had no room for.
    pub intercom_send_dropped: u64,
    /// Connections to babeld that failed before a session began (refused, bad header).
    pub babel_connect_failures: u64,
    /// Lines from babeld that did not parse, and lines over 512 bytes (discarded).
    pub babel_lines_malformed: u64,
    pub babel_lines_too_long: u64,
    /// Receive buffer overruns of the rtnetlink event socket: notifications were lost and
    /// the kernel state is read again.
    pub netlink_overruns: u64,
    /// Overruns of the request socket: answers were lost (reported as failures).
    pub netlink_replies_lost: u64,
    /// Complete reads of the kernel state (start, every 300 s, after each overrun).
    pub netlink_dumps: u64,
}

impl Stats {
    /// The `get_stats` reply: every counter, grouped, as one line of JSON.
    pub fn to_json(&self) -> String {
        let groups: [(&str, Vec<(&str, u64)>); 13] = [
            (
                "intercom_in",
                vec![
                    ("seek", self.seek_in),
                    ("claim", self.claim_in),
                    ("info", self.info_in),
                    ("ack", self.ack_in),
                ],
            ),
            (
                "intercom_out",
                vec![
                    ("seek", self.seek_out),
                    ("seek_forwarded", self.seek_forwarded),
                    ("claim", self.claim_out),
                    ("info", self.info_out),
                    ("ack", self.ack_out),
                    ("claim_retries", self.claim_retries),
                    ("info_retries", self.info_retries),
                    ("send_failures", self.intercom_send_failures),
                    ("send_buffer_full", self.system.intercom_send_dropped),
                ],
            ),
            (
                "intercom_dropped",
                [("malformed", self.intercom_malformed.total())]
                    .into_iter()
                    .chain(self.intercom_malformed.by_reason())
                    .chain([
                        ("not_for_us", self.intercom_not_for_us),
                        ("own", self.intercom_own),
                        ("duplicate", self.intercom_duplicates),
                        ("claim_for_unknown_client", self.claims_for_unknown_clients),
                        ("unexpected_info", self.infos_ignored),
                        ("unexpected_ack", self.acks_ignored),
                    ])
                    .collect(),
            ),
            (
                "handovers",
                vec![
                    ("in", self.handovers_in),
                    ("out", self.handovers_out),
                    ("claim_timeouts", self.claim_timeouts),
                    ("infos_unacked", self.infos_unacked),
                    ("routes_demoted", self.routes_demoted),
                    ("demoted_routes_deleted", self.demoted_routes_deleted),
                ],
            ),
            (
                "flapping",
                vec![
                    ("detected", self.flaps_detected),
                    ("claims_deferred", self.claims_deferred),
                ],
            ),
            (
                "clients",
                vec![
                    ("liveness_probes", self.liveness_probes),
                    ("liveness_purges", self.liveness_purges),
                    ("expired", self.clients_expired),
                ],
            ),
            (
                "unknown_destinations",
                vec![
                    ("dropped", self.tun_dropped),
                    ("expired", self.tun_expired),
                    ("reinjected", self.reinjected),
                    ("icmp_errors", self.icmp_errors_out),
                ],
            ),
            (
                "limits",
                vec![
                    ("clients", self.limit_clients),
                    ("addresses", self.limit_addresses),
                    ("old_clients", self.limit_old_clients),
                    ("queue_destinations", self.limit_queue_destinations),
                    ("queue_packets", self.limit_queue_packets),
                    ("queue_bytes", self.limit_queue_bytes),
                    ("queued_packets", self.limit_queue_total),
                    ("seeks", self.limit_seeks),
                    ("seek_solicitations", self.limit_seek_solicitations),
                    ("icmp_errors", self.limit_icmp_errors),
                    ("dad_probes", self.limit_dad_probes),
                    ("prefixes", self.limit_prefixes),
                    ("mesh_ifs", self.limit_mesh_ifs),
                    ("deferred", self.limit_deferred),
                    ("flap_records", self.limit_flap_records),
                    ("duplicate_records", self.limit_duplicate_records),
                    ("duplicate_cache", self.limit_duplicate_cache),
                    ("kernel_view", self.limit_kernel_view),
                    ("kernel_queue", self.system.kernel_queue_full),
                    ("reinject_backlog", self.system.reinject_dropped),
                    ("control_connections", self.system.control_refused),
                    ("control_line", self.limit_control_line),
                ],
            ),
            (
                "kernel",
                vec![
                    ("failures", self.kernel_failures),
                    ("netlink_overruns", self.system.netlink_overruns),
                    ("netlink_replies_lost", self.system.netlink_replies_lost),
                    ("netlink_dumps", self.system.netlink_dumps),
                ],
            ),
            (
                "control",
                vec![
                    ("errors", self.control_errors),
                    ("timeouts", self.system.control_timeouts),
                ],
            ),
            (
                "client_frames",
                vec![("dropped", self.system.frames_dropped)],
            ),
            (
                "duplicates",
                vec![
                    ("detected", self.dup_detected),
                    ("ended", self.dup_ended),
                    ("unowned", self.dup_unowned),
                    ("stale", self.dup_stale),
                    ("verifications", self.dup_verifications),
                    ("verified_present", self.dup_verified_present),
                    ("verified_absent", self.dup_verified_absent),
                    ("released", self.dup_released),
                    ("reasserted", self.dup_reasserted),
                    ("no_address_for_router", self.dup_no_address),
                    ("tie_breaks_kept", self.dup_kept),
                    ("yielded", self.dup_yielded),
                    ("claims_deferred", self.dup_claims_deferred),
                    ("learning_suppressed", self.dup_learning_suppressed),
                    ("babel_connects", self.babel_connects),
                    ("babel_disconnects", self.babel_disconnects),
                    ("babel_connect_failures", self.system.babel_connect_failures),
                    ("babel_lines_malformed", self.system.babel_lines_malformed),
                    ("babel_lines_too_long", self.system.babel_lines_too_long),
                    ("babel_routes_limit", self.babel_routes_limit),
                ],
            ),
            (
                "auth",
                vec![
                    ("signed_in", self.auth_signed_in),
                    ("signed_out", self.auth_signed_out),
                    ("unsigned_accepted", self.auth_unsigned_accepted),
                    ("unauthenticated", self.auth_unauthenticated),
                    ("bad_mac", self.auth_bad_mac),
                    ("stale", self.auth_stale),
                    ("replayed", self.auth_replayed),
                    ("replay_cache_full", self.auth_replay_cache_full),
                ],
            ),
        ];
        let body: Vec<String> = groups
            .iter()
            .map(|(group, counters)| {
                let fields: Vec<String> = counters
                    .iter()
                    .map(|(name, value)| format!("\"{name}\": {value}"))
                    .collect();
                format!("\"{group}\": {{ {} }}", fields.join(", "))
            })
            .collect();
        format!("{{ {} }}", body.join(", "))
    }
}

/// Intercom datagrams that did not parse (`wire::intercom::Repr::parse`) or whose header no
/// node sends (ttl 0, a sender no reply could reach), one counter per reason a sender can
/// produce: what a hostile neighbour tries shows in `get_stats` without a log line.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct MalformedIntercom {
    /// Shorter than the 24-byte header.
    pub truncated: u64,
    /// A version byte other than 0.
    pub bad_version: u64,
    /// Longer than 1500 bytes.
    pub oversized: u64,
    /// A type byte other than SEEK, CLAIM, INFO and ACK.
    pub unknown_type: u64,
    /// One byte left after the last TLV: trailing bytes too short for a TLV header.
    pub truncated_tlv: u64,
    /// A TLV whose length byte is 0 (the C daemon's endless loop).
    pub zero_length_tlv: u64,
    /// A TLV length below 2, past the end of the datagram, or not its kind's.
    pub bad_tlv_length: u64,
    pub unknown_tlv: u64,
    pub duplicate_tlv: u64,
    pub missing_tlv: u64,
    /// INFO_BASIC TLVs of one INFO with different MACs.
    pub conflicting_mac: u64,
    /// ttl 0: no node sends it (C peers forward only what still has a ttl after decrement).
    pub zero_ttl: u64,
    /// A sender that is unspecified, loopback or multicast: replies would go nowhere, or
    /// (multicast) to every node of a link.
    pub bad_sender: u64,
    /// An error of some other format: the intercom parser does not produce it, so anything
    /// but 0 here is a bug.
    pub other: u64,
}

impl MalformedIntercom {
    pub fn count(&mut self, error: &Error) {
        let counter = match error {
            Error::Truncated => &mut self.truncated,
            Error::UnsupportedVersion(_) => &mut self.bad_version,
            Error::TooLong(_) => &mut self.oversized,
            Error::UnknownType(_) => &mut self.unknown_type,
            Error::TlvTruncated { .. } => &mut self.truncated_tlv,
            Error::BadTlvLength { len: 0, .. } => &mut self.zero_length_tlv,
            Error::BadTlvLength { .. } => &mut self.bad_tlv_length,
            Error::UnknownTlv { .. } => &mut self.unknown_tlv,
            Error::DuplicateTlv { .. } => &mut self.duplicate_tlv,
            Error::MissingTlv => &mut self.missing_tlv,
            Error::ConflictingMac => &mut self.conflicting_mac,
            Error::ZeroTtl => &mut self.zero_ttl,
            // A bad MAC is `auth.bad_mac`, never handed here.
            Error::BadMac
            | Error::UnknownCode(_)
            | Error::BadOption { .. }
            | Error::BadHeaderLength(_)
            | Error::BadChecksum
            | Error::UnexpectedProtocol(_)
            | Error::BadHopLimit(_)
            | Error::LineTooLong(_)
            | Error::BadField(_)
            | Error::UnsupportedArp { .. } => &mut self.other,
        };
        *counter += 1;
    }

    /// Every counter with its `get_stats` name.
    pub fn by_reason(&self) -> [(&'static str, u64); 14] {
        [
            ("truncated", self.truncated),
            ("bad_version", self.bad_version),
            ("oversized", self.oversized),
            ("unknown_type", self.unknown_type),
            ("truncated_tlv", self.truncated_tlv),
            ("zero_length_tlv", self.zero_length_tlv),
            ("bad_tlv_length", self.bad_tlv_length),
            ("unknown_tlv", self.unknown_tlv),
            ("duplicate_tlv", self.duplicate_tlv),
            ("missing_tlv", self.missing_tlv),
            ("conflicting_mac", self.conflicting_mac),
            ("zero_ttl", self.zero_ttl),
            ("bad_sender", self.bad_sender),
            ("other", self.other),
        ]
    }

    pub fn total(&self) -> u64 {
        self.by_reason().iter().map(|(_, n)| n).sum()
    }
}

/// Lets through at most `BURST` log lines per `WINDOW`, so a hostile neighbour cannot flood
/// the log even at debug level.
#[derive(Clone, Debug, Default)]
pub struct LogLimiter {
    window_start: Instant,
    lines: u32,
}

impl LogLimiter {
    const WINDOW: Duration = Duration::from_secs(10);
    const BURST: u32 = 10;

    pub fn allow(&mut self, now: Instant) -> bool {
        if now.saturating_since(self.window_start) >= Self::WINDOW || now < self.window_start {
            self.window_start = now;
            self.lines = 0;
        }
        self.lines += 1;
        self.lines <= Self::BURST
    }
}

/// One warning per interval, for causes the operator must hear about (a peer's clock off by
/// more than the authentication window) but that arrive with every packet; the ones held
/// back are counted and reported with the next.
#[derive(Clone, Debug)]
pub struct WarnLimit {
    interval: Duration,
    quiet_until: Option<Instant>,
    suppressed: u64,
}

impl WarnLimit {
    pub fn new(interval: Duration) -> Self {
        WarnLimit {
            interval,
            quiet_until: None,
            suppressed: 0,
        }
    }

    /// `Some(warnings held back since the last one)` when a warning may be logged now.
    pub fn allow(&mut self, now: Instant) -> Option<u64> {
        if self.quiet_until.is_some_and(|until| now < until) {
            self.suppressed += 1;
            return None;
        }
        self.quiet_until = Some(now + self.interval);
        Some(std::mem::take(&mut self.suppressed))
    }
}

/// At most `limit` events in any sliding second, at most one per key. Remembers only the
/// events of the last second, so it never holds more than `limit` entries whatever arrives.
#[derive(Clone, Debug)]
pub struct RateWindow<K> {
    limit: usize,
    recent: VecDeque<(Instant, K)>,
}

impl<K: PartialEq> RateWindow<K> {
    pub const SPAN: Duration = Duration::from_secs(1);

    pub fn new(limit: usize) -> Self {
        RateWindow {
            limit,
            recent: VecDeque::with_capacity(limit),
        }
    }

    fn forget_old(&mut self, now: Instant) {
        while self
            .recent
            .front()
            .is_some_and(|(at, _)| now.saturating_since(*at) >= Self::SPAN || now < *at)
        {
            self.recent.pop_front();
        }
    }

    /// Takes a slot for `key` if the window has one and `key` has none yet.
    pub fn allow(&mut self, now: Instant, key: K) -> bool {
        self.forget_old(now);
        if self.recent.len() >= self.limit || self.recent.iter().any(|(_, k)| *k == key) {
            return false;
        }
        self.recent.push_back((now, key));
        true
    }

    /// When the oldest event leaves the window, freeing a slot.
    pub fn next_free(&self) -> Option<Instant> {
        self.recent.front().map(|(at, _)| *at + Self::SPAN)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn window_allows_limit_per_second_and_one_per_key() {
        let mut window = RateWindow::new(3);
        let t0 = Instant::from_millis(1);
        assert!(window.allow(t0, 1));
        assert!(!window.allow(t0, 1), "one per key");
        assert!(window.allow(t0 + Duration::from_millis(100), 2));
        assert!(window.allow(t0 + Duration::from_millis(200), 3));
        assert!(!window.allow(t0 + Duration::from_millis(300), 4), "limit");
        assert_eq!(window.next_free(), Some(t0 + Duration::from_secs(1)));
        assert!(!window.allow(t0 + Duration::from_millis(999), 4));
        assert!(
            window.allow(t0 + Duration::from_millis(1000), 4),
            "the first left"
        );
        assert!(
            window.allow(t0 + Duration::from_millis(1100), 1),
            "so did its key"
        );
        assert!(window.recent.len() <= 3);
    }

    #[test]
    fn malformed_intercom_counts_each_parser_error_under_its_own_reason() {
        let errors = [
            Error::Truncated,
            Error::UnsupportedVersion(2),
            Error::TooLong(1501),
            Error::UnknownType(9),
            Error::TlvTruncated { offset: 32 },
            Error::BadTlvLength {
                offset: 24,
                kind: 0,
                len: 0,
            },
            Error::BadTlvLength {
                offset: 24,
                kind: 0,
                len: 9,
            },
            Error::UnknownTlv {
                offset: 24,
                kind: 1,
            },
            Error::DuplicateTlv {
                offset: 32,
                kind: 0,
            },
            Error::MissingTlv,
            Error::ConflictingMac,
            Error::ZeroTtl,
        ];
        let mut counts = MalformedIntercom::default();
        for error in &errors {
            counts.count(error);
        }
        counts.bad_sender += 1;
        let by_reason = counts.by_reason();
        assert!(
            by_reason[..13].iter().all(|(_, n)| *n == 1),
            "{by_reason:?}"
        );
        assert_eq!(by_reason[13], ("other", 0));
        assert_eq!(counts.total(), 13);
        counts.count(&Error::BadChecksum);
        assert_eq!((counts.other, counts.total()), (1, 14));
    }

    #[test]
    fn warn_limit_lets_one_through_per_interval_and_counts_the_rest() {
        let mut limit = WarnLimit::new(Duration::from_secs(60));
        let t0 = Instant::from_millis(5);
        assert_eq!(limit.allow(t0), Some(0));
        assert_eq!(limit.allow(t0 + Duration::from_secs(1)), None);
        assert_eq!(limit.allow(t0 + Duration::from_millis(59_999)), None);
        assert_eq!(limit.allow(t0 + Duration::from_secs(60)), Some(2));
        assert_eq!(limit.allow(t0 + Duration::from_secs(61)), None);
    }

    #[test]
    fn limiter_allows_a_burst_per_window() {
        let mut limiter = LogLimiter::default();
        let t0 = Instant::from_millis(1);
        let allowed = (0..100).filter(|_| limiter.allow(t0)).count();
        assert_eq!(allowed, 10);
        assert!(limiter.allow(t0 + Duration::from_secs(10)));
    }
}
