//! Duplicate host routes, seen through babeld's local interface (babeld.md §6.3,
//! behaviour.md §16.1): another router-id announces a /128 (/32) that this node exports.
//!
//! The view. From the monitor stream the engine keeps X (what this node redistributes) and R
//! (what it learned, by babeld's route token), both only for the prefixes that matter: a /128
//! or /32 inside a client prefix, a /128 inside the node-client /64 (someone else holds one of
//! our node-client IPs), and a /128 inside the /64 of our node IP (the node IPs of the other
//! routers, which CLAIMs can be sent to). Both are bounded, and a full table is counted. A
//! prefix P is duplicated when (P, S) is in X and some route in R for (P, S) has another
//! router-id (bytes compared, so case does not matter) and a metric below 65535. Nothing of
//! this outlives the session it came from: a disconnect clears it, the next dump rebuilds it.
//!
//! The policy, per client MAC M that owns a duplicated prefix (its address, or its
//! node-client IP):
//!
//! 1. a duplicate younger than [`GRACE`] is normal during a hand-over and ignored;
//! 2. when the other router is the node that handed M over to us less than
//!    [`HANDOVER_MEMORY`] ago, and the duplicate was there by then, its announcement is a
//!    stale route (babeld up to 1.12.1 never retracts it, babeld.md §4): left to expire,
//!    counted;
//! 3. otherwise M is verified here as a silent client is (unicast NS/ARP and a kernel probe,
//!    [`VERIFY_WINDOW`] to answer): absent → M is released at once (the usual client
//!    deletion, so its routes go as every other removal takes them); present → a fresh CLAIM
//!    for M goes to the other router's node IP (found among its routes in R), so that it
//!    hands M over and withdraws;
//! 4. tie-break, when both nodes keep reaching M (a client bridged to two routers): the node
//!    with the numerically greater router-id yields: it releases M and ignores every learning
//!    event for M for [`YIELD_HOLD`]; the smaller keeps M. The evidence that the other node
//!    reaches M again after our re-assert is one of: its CLAIM for M while our own CLAIM for M
//!    is out (crossing re-asserts), its CLAIM for M taking M back after it had handed it over
//!    (answered only once M has been verified here: a client that really roamed is handed
//!    over as usual), or a new duplicate from it after it had handed M over. A duplicate that
//!    merely persists is no such evidence: a buggy babeld keeps a withdrawn route for up to
//!    90 s, and a crashed daemon's routes stay in its kernel; yielding to either would drop a
//!    client that only we serve, so then the re-assert is simply repeated. A CLAIM from a node
//!    that announces the client beside us (a duplicate that is not its stale route) is also
//!    answered only after verifying: so both nodes of a race end up in the same tie-break,
//!    whoever acts first;
//! 5. at most one verification per MAC per [`ACTION_INTERVAL`]; flap damping first: while a
//!    client's flap hold runs, both nodes of the flap may announce it by design, so a
//!    duplicate that began before the hold ended gets its grace from the end of the hold, and
//!    is no evidence of a race;
//! 6. a duplicate of a prefix we redistribute but no client of ours owns (a route left
//!    behind, a local address) is logged and counted, never acted on.

use super::clients::LIVENESS_GRACE;
use super::{BabelEvent, Engine, TimerKey};
use crate::slot_map::{SlotMap, SlotSet};
use crate::time::{Duration, Instant};
use crate::wire::MacAddr;
use crate::wire::babel::{Change, Prefix, Route, RouterId, XRoute};
use std::net::Ipv6Addr;

/// A duplicate younger than this is a hand-over in progress (behaviour.md §16.1).
pub const GRACE: Duration = Duration::from_secs(10);
/// How long a client has to answer the verification: the liveness probe's grace.
pub const VERIFY_WINDOW: Duration = LIVENESS_GRACE;
/// At most one verification (and what follows from it) per MAC in this long.
pub const ACTION_INTERVAL: Duration = Duration::from_secs(60);
/// How long a node that lost the tie-break ignores learning events for the client.
pub const YIELD_HOLD: Duration = Duration::from_secs(60);
/// How long a re-assert is remembered as the context of a tie-break; renewed when used.
pub const REASSERT_MEMORY: Duration = Duration::from_secs(180);
/// A duplicate from the node that handed the client over to us this recently is its stale
/// route: babeld 1.12.1 keeps it about 90 s with default timers (babeld.md §4).
pub const HANDOVER_MEMORY: Duration = Duration::from_secs(120);
/// An xroute at this metric or above is being withdrawn, not exported (65535 is infinity).
pub const WITHDRAWING_METRIC: u16 = 65534;
/// Entries of R at most (learned routes for relevant prefixes, every neighbour's included).
pub const MAX_ROUTES: usize = 8192;
/// Entries of X at most.
pub const MAX_XROUTES: usize = 8192;
/// MACs with duplicate-handling state at most (verifications, re-asserts, holds).
pub const MAX_RECORDS: usize = 4096;

/// A learned route for a relevant prefix.
#[derive(Clone, Debug)]
struct Learned {
    /// The destination in the engine's internal form.
    addr: Ipv6Addr,
    source: Prefix,
    id: RouterId,
    metric: u16,
}

impl Learned {
    fn usable(&self) -> bool {
        self.metric < u16::MAX
    }
}

#[derive(Clone, Debug)]
struct Episode {
    since: Instant,
    /// The smallest other router-id announcing the prefix.
    other: RouterId,
    /// Logged and counted as owned by no client of ours.
    unowned_reported: bool,
}

/// Why a client is being verified.
#[derive(Clone, Copy, Debug)]
enum Purpose {
    /// A duplicate of `addr` (the episode's key) announced by `other`.
    Duplicate { addr: Ipv6Addr, other: RouterId },
    /// `sender` (router-id `other`) claims back a client it handed over to our re-assert;
    /// the CLAIM waits for the answer.
    ClaimedBack { sender: Ipv6Addr, other: RouterId },
}

#[derive(Clone, Copy, Debug)]
struct Verify {
    started: Instant,
    deadline: Instant,
    purpose: Purpose,
}

#[derive(Clone, Copy, Debug)]
struct Reassert {
    other: RouterId,
    node_ip: Ipv6Addr,
    at: Instant,
    /// When the other node handed the client over in answer (its INFO arrived).
    answered_at: Option<Instant>,
}

/// Duplicate-handling state of one MAC; gone when nothing in it is current.
#[derive(Clone, Debug, Default)]
struct Record {
    verify: Option<Verify>,
    last_action_at: Option<Instant>,
    reassert: Option<Reassert>,
    /// The node IP that handed the client over to us, and when.
    handed_over: Option<(Ipv6Addr, Instant)>,
    hold_until: Option<Instant>,
}

impl Record {
    fn deadline(&self) -> Option<Instant> {
        [
            self.verify.map(|v| v.deadline),
            self.last_action_at.map(|at| at + ACTION_INTERVAL),
            self.reassert.map(|r| r.at + REASSERT_MEMORY),
            self.handed_over.map(|(_, at)| at + HANDOVER_MEMORY),
            self.hold_until,
        ]
        .into_iter()
        .flatten()
        .min()
    }

    /// Forgets what has expired; true when nothing is left.
    fn expire(&mut self, now: Instant) -> bool {
        if self
            .last_action_at
            .is_some_and(|at| at + ACTION_INTERVAL <= now)
        {
            self.last_action_at = None;
        }
        if self.reassert.is_some_and(|r| r.at + REASSERT_MEMORY <= now) {
            self.reassert = None;
        }
        if self
            .handed_over
            .is_some_and(|(_, at)| at + HANDOVER_MEMORY <= now)
        {
            self.handed_over = None;
        }
        if self.hold_until.is_some_and(|until| until <= now) {
            self.hold_until = None;
        }
        self.verify.is_none()
            && self.last_action_at.is_none()
            && self.reassert.is_none()
            && self.handed_over.is_none()
            && self.hold_until.is_none()
    }
}

#[derive(Debug, Default)]
pub(super) struct Duplicates {
    /// This node's router-id while a session is up; `None` means no view at all.
    my_id: Option<RouterId>,
    /// X: relevant destinations this node redistributes, with their sources.
    xroutes: SlotMap<Ipv6Addr, SlotSet<Prefix>>,
    xroute_count: usize,
    /// R: relevant learned routes by babeld's token.
    routes: SlotMap<RouteKey, Learned>,
    /// R's tokens by destination.
    by_addr: SlotMap<Ipv6Addr, SlotSet<RouteKey>>,
    episodes: SlotMap<Ipv6Addr, Episode>,
    records: SlotMap<MacAddr, Record>,
}

/// A babeld route token as a map key. The parser admits 1 to 32 hexadecimal digits
/// (`wire::babel`): their count and values, a nibble each, fit in 17 bytes, which keeps the
/// tokens apart without keeping their text.
type RouteKey = [u8; 17];

fn route_key(token: &str) -> RouteKey {
    let mut key = [0; 17];
    key[0] = token.len() as u8;
    for (i, digit) in token.bytes().take(32).enumerate() {
        let nibble = (digit as char).to_digit(16).unwrap_or(0) as u8;
        key[1 + i / 2] |= if i % 2 == 0 { nibble << 4 } else { nibble };
    }
    key
}

impl Engine {
    pub(super) fn handle_babel(&mut self, event: BabelEvent) {
        match event {
            BabelEvent::Connected { my_id } => {
                self.stats.babel_connects += 1;
                log::info!("babeld: monitoring its routes, this node is router-id {my_id}");
                self.clear_babel_view();
                self.dups.my_id = Some(my_id);
            }
            BabelEvent::Disconnected => {
                if self.dups.my_id.is_some() {
                    self.stats.babel_disconnects += 1;
                    log::info!("babeld: session ended, duplicate detection paused");
                }
                self.clear_babel_view();
            }
            BabelEvent::XRoute(xroute) if self.dups.my_id.is_some() => self.babel_xroute(xroute),
            BabelEvent::Route(route) if self.dups.my_id.is_some() => self.babel_route(route),
            BabelEvent::XRoute(_) | BabelEvent::Route(_) => {}
        }
    }

    /// Everything learned from a session goes with it; what was decided about MACs stays
    /// (holds, re-asserts, the one-action-per-minute limit), so a flapping session cannot
    /// make the daemon act more often.
    fn clear_babel_view(&mut self) {
        let dups = &mut self.dups;
        dups.my_id = None;
        dups.xroutes.clear();
        dups.xroute_count = 0;
        dups.routes.clear();
        dups.by_addr.clear();
        for addr in std::mem::take(&mut dups.episodes).into_keys() {
            self.timers.set(TimerKey::Duplicate(addr), None);
        }
        let macs: Vec<MacAddr> = self.dups.records.keys().copied().collect();
        for mac in macs {
            if let Some(record) = self.dups.records.get_mut(&mac) {
                if matches!(
                    record.verify,
                    Some(Verify {
                        purpose: Purpose::Duplicate { .. },
                        ..
                    })
                ) {
                    record.verify = None;
                }
            }
            self.service_duplicate_record(mac);
        }
    }

    /// The internal address of a prefix this policy looks at, or `None`.
    fn babel_addr(&self, prefix: &Prefix) -> Option<Ipv6Addr> {
        if !prefix.is_host() {
            return None;
        }
        let addr = self.to_internal(prefix.addr);
        let same_64 = |other: Ipv6Addr| u128::from(addr) >> 64 == u128::from(other) >> 64;
        let relevant = self.in_client_prefix(&addr)
            || same_64(self.cfg.node_client_prefix.addr())
            || same_64(self.cfg.node_ip);
        relevant.then_some(addr)
    }

    fn babel_xroute(&mut self, xroute: XRoute) {
        let Some(addr) = self.babel_addr(&xroute.prefix) else {
            return;
        };
        // Announced at 65534 or more is on its way out: a graceful release demotes a client's
        // routes to a protocol babeld announces at 65534 before deleting them.
        let change = match xroute.change {
            Change::Add | Change::Change if xroute.metric >= WITHDRAWING_METRIC => Change::Flush,
            change => change,
        };
        let dups = &mut self.dups;
        match change {
            Change::Flush => {
                if let Some(sources) = dups.xroutes.get_mut(&addr) {
                    if sources.remove(&xroute.source) {
                        dups.xroute_count -= 1;
                    }
                    if sources.is_empty() {
                        dups.xroutes.remove(&addr);
                    }
                }
            }
            Change::Add | Change::Change => {
                let known = dups
                    .xroutes
                    .get(&addr)
                    .is_some_and(|s| s.contains(&xroute.source));
                if !known {
                    if dups.xroute_count >= MAX_XROUTES {
                        self.stats.babel_routes_limit += 1;
                        return;
                    }
                    dups.xroutes.get_or_default(addr).insert(xroute.source);
                    dups.xroute_count += 1;
                }
            }
        }
        self.refresh_duplicate(addr);
    }

    fn babel_route(&mut self, route: Route) {
        // A flush needs no relevance test: an unknown token is simply not there.
        let key = route_key(&route.token);
        let previous = self.forget_route(&key);
        let addr = match route.change {
            Change::Flush => None,
            Change::Add | Change::Change => self.babel_addr(&route.prefix),
        };
        if let Some(addr) = addr {
            if self.dups.routes.len() >= MAX_ROUTES {
                self.stats.babel_routes_limit += 1;
            } else {
                self.dups.by_addr.get_or_default(addr).insert(key);
                self.dups.routes.insert(
                    key,
                    Learned {
                        addr,
                        source: route.source,
                        id: route.id,
                        metric: route.metric,
                    },
                );
            }
            self.refresh_duplicate(addr);
        }
        if let Some(old) = previous.filter(|old| Some(*old) != addr) {
            self.refresh_duplicate(old);
        }
    }

    /// Removes a route from R; the destination it had, if it was there.
    fn forget_route(&mut self, key: &RouteKey) -> Option<Ipv6Addr> {
        let learned = self.dups.routes.remove(key)?;
        if let Some(tokens) = self.dups.by_addr.get_mut(&learned.addr) {
            tokens.remove(key);
            if tokens.is_empty() {
                self.dups.by_addr.remove(&learned.addr);
            }
        }
        Some(learned.addr)
    }

    /// Other router-ids announcing `addr` with a source this node exports it with.
    fn duplicate_ids(&self, addr: &Ipv6Addr) -> SlotSet<RouterId> {
        let (Some(my_id), Some(sources)) = (self.dups.my_id, self.dups.xroutes.get(addr)) else {
            return SlotSet::new();
        };
        self.dups
            .by_addr
            .get(addr)
            .into_iter()
            .flatten()
            .filter_map(|token| self.dups.routes.get(token))
            .filter(|r| r.usable() && r.id != my_id && sources.contains(&r.source))
            .map(|r| r.id)
            .collect()
    }

    /// Opens or closes the duplicate episode of `addr` after X or R changed.
    fn refresh_duplicate(&mut self, addr: Ipv6Addr) {
        let other = self.duplicate_ids(&addr).first().copied();
        let shown = self.to_kernel(&addr);
        match (other, self.dups.episodes.get_mut(&addr)) {
            (Some(other), None) => {
                self.stats.dup_detected += 1;
                log::info!(
                    "duplicate: {shown} is announced by router-id {other} as well as by this node"
                );
                self.dups.episodes.insert(
                    addr,
                    Episode {
                        since: self.now,
                        other,
                        unowned_reported: false,
                    },
                );
                self.timers
                    .set(TimerKey::Duplicate(addr), Some(self.now + GRACE));
            }
            (Some(other), Some(episode)) => episode.other = other,
            (None, Some(episode)) => {
                let lasted = self.now.saturating_since(episode.since);
                self.stats.dup_ended += 1;
                log::info!(
                    "duplicate of {shown} ended after {}.{:03} s",
                    lasted.as_secs(),
                    lasted.subsec_millis()
                );
                self.dups.episodes.remove(&addr);
                self.timers.set(TimerKey::Duplicate(addr), None);
            }
            (None, None) => {}
        }
    }

    /// The client whose address, or node-client IP held here, `addr` is.
    fn duplicate_owner(&self, addr: &Ipv6Addr) -> Option<MacAddr> {
        if let Some(mac) = self.owner_of(addr) {
            return Some(mac);
        }
        if !self.node_client_ips.contains(addr) {
            return None;
        }
        self.clients
            .keys()
            .find(|mac| self.node_client_ip(mac) == *addr)
            .copied()
    }

    /// A router's node IP: its /128 in the /64 of our own node IP, as babeld announces it.
    fn node_ip_of(&self, id: RouterId) -> Option<Ipv6Addr> {
        let node_64 = u128::from(self.cfg.node_ip) >> 64;
        self.dups
            .routes
            .values()
            .filter(|r| r.id == id && r.usable() && u128::from(r.addr) >> 64 == node_64)
            .map(|r| r.addr)
            .min()
    }

    /// The router-id that originates the route to a node IP.
    fn router_id_of(&self, node_ip: &Ipv6Addr) -> Option<RouterId> {
        self.dups
            .by_addr
            .get(node_ip)
            .into_iter()
            .flatten()
            .filter_map(|token| self.dups.routes.get(token))
            .filter(|r| r.usable())
            .map(|r| r.id)
            .min()
    }

    fn record_mut(&mut self, mac: MacAddr) -> Option<&mut Record> {
        if !self.dups.records.contains_key(&mac) && self.dups.records.len() >= MAX_RECORDS {
            self.stats.limit_duplicate_records += 1;
            return None;
        }
        Some(self.dups.records.get_or_default(mac))
    }

    /// The grace period of a duplicate is over (or its MAC may act again): act on it.
    pub(super) fn check_duplicate(&mut self, addr: Ipv6Addr) {
        let now = self.now;
        let Some(episode) = self.dups.episodes.get(&addr) else {
            return;
        };
        let (other, since) = (episode.other, episode.since);
        let shown = self.to_kernel(&addr);
        let Some(mac) = self.duplicate_owner(&addr) else {
            let episode = self.dups.episodes.get_mut(&addr);
            if let Some(episode) = episode.filter(|e| !e.unowned_reported) {
                episode.unowned_reported = true;
                self.stats.dup_unowned += 1;
                log::info!(
                    "duplicate: {shown} (also router-id {other}) is exported here but no client \
                     of ours owns it: left alone"
                );
            }
            return;
        };
        // The flap hold made it (both nodes serve a damped client): its grace runs from the
        // end of the hold, when the damped node claims the client if it is there.
        let quiet_from = self
            .flap_hold_until(&mac)
            .map_or(since, |end| since.max(end));
        if now < quiet_from + GRACE {
            self.timers
                .set(TimerKey::Duplicate(addr), Some(quiet_from + GRACE));
            return;
        }
        let record = self.dups.records.get(&mac);
        let busy_until = record
            .and_then(|r| r.verify.map(|v| v.started).or(r.last_action_at))
            .map(|at| at + ACTION_INTERVAL)
            .filter(|until| *until > now);
        if let Some(until) = busy_until {
            self.timers.set(TimerKey::Duplicate(addr), Some(until));
            return;
        }
        let handed = record.and_then(|r| r.handed_over);
        // Stale: the announcement was there when that node handed the client over (give or
        // take babeld's reporting delay), not one it made afresh since.
        if let Some((_, at)) = handed.filter(|(from, at)| {
            *at + HANDOVER_MEMORY > now
                && since < *at + GRACE
                && self.node_ip_of(other) == Some(*from)
        }) {
            self.stats.dup_stale += 1;
            log::info!(
                "duplicate: {shown} of {mac} is still announced by router-id {other}, which handed \
                 it over {} s ago: a stale route, left to expire",
                now.saturating_since(at).as_secs()
            );
            self.timers
                .set(TimerKey::Duplicate(addr), Some(at + HANDOVER_MEMORY));
            return;
        }
        log::info!(
            "duplicate: {shown} of {mac} announced by router-id {other} for {} s: verifying the client",
            now.saturating_since(since).as_secs()
        );
        self.start_verification(mac, Purpose::Duplicate { addr, other });
        self.timers
            .set(TimerKey::Duplicate(addr), Some(now + ACTION_INTERVAL));
    }

    /// Asks the client directly (unicast NS / ARP) and through the kernel, as the liveness
    /// probe does; any sign of it before the deadline counts as present. False if the client
    /// is gone or no record could be kept for it.
    fn start_verification(&mut self, mac: MacAddr, purpose: Purpose) -> bool {
        if !self.clients.contains_key(&mac) {
            return false;
        }
        let now = self.now;
        let Some(record) = self.record_mut(mac) else {
            return false;
        };
        record.verify = Some(Verify {
            started: now,
            deadline: now + VERIFY_WINDOW,
            purpose,
        });
        // What follows from it (a release, a CLAIM, a tie-break) is this minute's action.
        record.last_action_at = Some(now);
        self.stats.dup_verifications += 1;
        self.ask_client(mac);
        self.reschedule_duplicate_record(mac);
        true
    }

    /// The client was heard from: a verification waiting for it can conclude now.
    pub(super) fn duplicate_client_heard(&mut self, mac: MacAddr) {
        if self
            .dups
            .records
            .get(&mac)
            .is_some_and(|r| r.verify.is_some())
        {
            self.timers.set(TimerKey::DuplicateMac(mac), Some(self.now));
        }
    }

    /// Learning events for a MAC that lost a tie-break are ignored for a while.
    pub(super) fn learning_held(&mut self, mac: &MacAddr) -> bool {
        let now = self.now;
        let held = self
            .dups
            .records
            .get(mac)
            .and_then(|r| r.hold_until)
            .is_some_and(|until| until > now);
        if held {
            self.stats.dup_learning_suppressed += 1;
            if self.log_limiter.allow(now) {
                log::debug!("{mac}: learning ignored, this node yielded it to another");
            }
        }
        held
    }

    /// The MAC's timer: a verification concluded or ran out, or something expired.
    pub(super) fn service_duplicate_record(&mut self, mac: MacAddr) {
        let now = self.now;
        let Some(record) = self.dups.records.get_mut(&mac) else {
            return;
        };
        if let Some(verify) = record.verify {
            let heard = self
                .clients
                .get(&mac)
                .map(|c| c.last_seen_at >= verify.started);
            let outcome = match heard {
                None => None,
                Some(true) => Some(true),
                Some(false) if now >= verify.deadline => Some(false),
                Some(false) => {
                    self.reschedule_duplicate_record(mac);
                    return;
                }
            };
            record.verify = None;
            if let Some(present) = outcome {
                self.verified(mac, verify, present);
            }
        }
        if let Some(record) = self.dups.records.get_mut(&mac) {
            if record.expire(now) {
                self.dups.records.remove(&mac);
            }
        }
        self.reschedule_duplicate_record(mac);
    }

    fn reschedule_duplicate_record(&mut self, mac: MacAddr) {
        let deadline = self.dups.records.get(&mac).and_then(Record::deadline);
        self.timers.set(TimerKey::DuplicateMac(mac), deadline);
    }

    fn verified(&mut self, mac: MacAddr, verify: Verify, present: bool) {
        match verify.purpose {
            Purpose::Duplicate { addr, other } => {
                let Some(since) = self.dups.episodes.get(&addr).map(|e| e.since) else {
                    log::debug!("{mac}: the duplicate ended while verifying");
                    return;
                };
                let shown = self.to_kernel(&addr);
                if !present {
                    self.stats.dup_verified_absent += 1;
                    self.stats.dup_released += 1;
                    log::info!(
                        "{mac}: not here, and router-id {other} announces {shown}: released"
                    );
                    self.delete_client(mac, "duplicate elsewhere, not here");
                    return;
                }
                self.stats.dup_verified_present += 1;
                let Some(node_ip) = self.node_ip_of(other) else {
                    self.stats.dup_no_address += 1;
                    log::info!(
                        "{mac}: here, and router-id {other} announces {shown}; no node IP of \
                         router-id {other} is known, so no CLAIM can tell it"
                    );
                    return;
                };
                let retaken = self
                    .dups
                    .records
                    .get(&mac)
                    .and_then(|r| r.reassert)
                    .is_some_and(|r| {
                        r.other == other && r.answered_at.is_some_and(|answered| since > answered)
                    });
                if retaken {
                    log::info!(
                        "{mac}: router-id {other} announces {shown} again after handing it over: \
                         both reach the client"
                    );
                    self.tie_break(mac, None, other, node_ip);
                } else {
                    self.reassert(mac, other, node_ip);
                }
            }
            Purpose::ClaimedBack { sender, other } => {
                if !present {
                    log::info!("{mac}: gone from here, handing it over to {sender} as asked");
                    self.hand_over(mac, sender);
                    return;
                }
                log::info!("{mac}: claimed back by {sender} (router-id {other}) while still here");
                self.tie_break(mac, Some(sender), other, sender);
            }
        }
    }

    /// A fresh CLAIM for a client served here, to the node that announces it too.
    fn reassert(&mut self, mac: MacAddr, other: RouterId, node_ip: Ipv6Addr) {
        let now = self.now;
        if let Some(record) = self.record_mut(mac) {
            record.reassert = Some(Reassert {
                other,
                node_ip,
                at: now,
                answered_at: None,
            });
        }
        self.reschedule_duplicate_record(mac);
        if self.claim_cycle(mac, node_ip) {
            self.stats.dup_reasserted += 1;
            log::info!("{mac}: here: claiming it from router-id {other} at {node_ip}");
        }
    }

    /// Both nodes reach the client: the greater router-id yields. `claimer` is the node
    /// whose CLAIM waits for an answer, if any.
    fn tie_break(
        &mut self,
        mac: MacAddr,
        claimer: Option<Ipv6Addr>,
        other: RouterId,
        node_ip: Ipv6Addr,
    ) {
        let Some(my_id) = self.dups.my_id else {
            // No session, no router-id to compare: behave as without babeld.
            if let Some(sender) = claimer {
                self.hand_over(mac, sender);
            }
            return;
        };
        if my_id > other {
            self.stats.dup_yielded += 1;
            log::info!(
                "{mac}: tie-break against router-id {other}: this node ({my_id}) is the greater \
                 and yields; learning it again is held off for {} s",
                YIELD_HOLD.as_secs()
            );
            match claimer {
                Some(sender) => self.hand_over(mac, sender),
                None => self.delete_client(mac, "yielded to another node in a tie-break"),
            }
            let now = self.now;
            if let Some(record) = self.record_mut(mac) {
                record.hold_until = Some(now + YIELD_HOLD);
                if let Some(r) = record.reassert.as_mut().filter(|r| r.other == other) {
                    r.at = now;
                }
            }
            self.reschedule_duplicate_record(mac);
        } else {
            self.stats.dup_kept += 1;
            log::info!(
                "{mac}: tie-break against router-id {other}: this node ({my_id}) is the smaller \
                 and keeps it"
            );
            if self.claims.contains_key(&mac) {
                // Our CLAIM is out already: the other node yields to it.
                if let Some(r) = self
                    .dups
                    .records
                    .get_mut(&mac)
                    .and_then(|r| r.reassert.as_mut())
                {
                    r.at = self.now;
                }
            } else {
                self.reassert(mac, other, node_ip);
            }
        }
    }

    /// A CLAIM for a client served here. Returns true when the duplicate policy answers it
    /// (tie-break, or an answer deferred until the client is verified); false: hand over as
    /// usual. The policy steps in only on evidence that the claimer and this node both reach
    /// the client: our own CLAIM for it is out (crossing), a verification of it is under way,
    /// we re-asserted it against the claimer, or the claimer announces one of its prefixes as
    /// we do (and not as the stale leftover of handing it to us).
    pub(super) fn claim_meets_duplicate(&mut self, sender: Ipv6Addr, mac: MacAddr) -> bool {
        if self.dups.my_id.is_none() {
            return false;
        }
        let now = self.now;
        let sender_id = self.router_id_of(&sender);
        if self.claims.contains_key(&mac) {
            let Some(other) = sender_id else {
                return false;
            };
            log::info!("{mac}: CLAIM from {sender} (router-id {other}) crosses our own");
            self.tie_break(mac, Some(sender), other, sender);
            return true;
        }
        let record = self.dups.records.get(&mac).cloned().unwrap_or_default();
        if let Some(verify) = record.verify {
            match verify.purpose {
                // Already waiting to answer one; this is a new cycle of the same claimer.
                Purpose::ClaimedBack { .. } => return true,
                Purpose::Duplicate { other, .. } => {
                    // Both saw the duplicate: the verification under way answers the CLAIM.
                    let other = sender_id.unwrap_or(other);
                    log::info!(
                        "{mac}: CLAIM from {sender} (router-id {other}) while verifying: \
                         answered when the client has been"
                    );
                    self.stats.dup_claims_deferred += 1;
                    if let Some(r) = self.dups.records.get_mut(&mac) {
                        r.verify = Some(Verify {
                            purpose: Purpose::ClaimedBack { sender, other },
                            ..verify
                        });
                    }
                    return true;
                }
            }
        }
        let reasserted = record
            .reassert
            .filter(|r| r.node_ip == sender && r.at + REASSERT_MEMORY > now)
            .map(|r| r.other);
        let announced = sender_id.filter(|id| self.announces_client_freshly(mac, *id, sender));
        let Some(other) = reasserted.or(announced) else {
            return false;
        };
        log::info!(
            "{mac}: claimed by {sender} (router-id {other}), which reaches it too: verifying it \
             before answering"
        );
        self.stats.dup_claims_deferred += 1;
        self.start_verification(mac, Purpose::ClaimedBack { sender, other })
    }

    /// Whether router `id` (node IP `node_ip`) announces one of the client's prefixes beside
    /// us, in an episode that is not the stale route of its handing the client to us.
    fn announces_client_freshly(&self, mac: MacAddr, id: RouterId, node_ip: Ipv6Addr) -> bool {
        let Some(client) = self.clients.get(&mac) else {
            return false;
        };
        let ncip = self.node_client_ip(&mac);
        let handed = self
            .dups
            .records
            .get(&mac)
            .and_then(|r| r.handed_over)
            .filter(|(from, at)| *from == node_ip && *at + HANDOVER_MEMORY > self.now);
        let hold_end = self.flap_hold_until(&mac);
        client
            .addresses
            .iter()
            .map(|a| a.addr)
            .chain(self.node_client_ips.contains(&ncip).then_some(ncip))
            .any(|addr| {
                let Some(episode) = self.dups.episodes.get(&addr) else {
                    return false;
                };
                let stale = handed.is_some_and(|(_, at)| episode.since < at + GRACE);
                let flap_made = hold_end.is_some_and(|end| episode.since < end);
                !stale && !flap_made && self.duplicate_ids(&addr).contains(&id)
            })
    }

    /// An INFO for a client we claimed: remembered, so that the sender's lingering route is
    /// known for stale, and a re-assert counts as answered.
    pub(super) fn duplicate_note_handover(&mut self, sender: Ipv6Addr, mac: MacAddr) {
        if self.dups.my_id.is_none() {
            return;
        }
        let now = self.now;
        if let Some(record) = self.record_mut(mac) {
            record.handed_over = Some((sender, now));
            if let Some(r) = record.reassert.as_mut().filter(|r| r.node_ip == sender) {
                r.answered_at = Some(now);
            }
        }
        self.reschedule_duplicate_record(mac);
    }
}

#[cfg(test)]
mod route_key_tests {
    use super::route_key;

    #[test]
    fn tokens_keep_apart_by_digits_and_length() {
        let tokens = [
            "0",
            "00",
            "1",
            "01",
            "10",
            "5581f2a0",
            "5581f2a1",
            "ffffffffffffffffffffffffffffffff",
        ];
        for a in tokens {
            for b in tokens {
                assert_eq!(a == b, route_key(a) == route_key(b), "{a} {b}");
            }
        }
    }
}
