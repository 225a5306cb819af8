//! Recovery, end to end: what happens to real routers, and how l3roamd comes back from it
//! without a restart (or, after a crash, with one). The mesh of tests/netns/mesh.sh with
//! Debian's babeld; needs root and babeld like tests/netns_e2e.rs, and fails without them.
//! Logs: `target/netns-logs/<test>/`.
//!
//! - a burst of neighbour changes overruns the daemon's rtnetlink receive buffer
//!   (`--netlink-rcvbuf`): notifications are lost, the daemon reads the kernel again, and its
//!   clients and routes end up exactly what the kernel holds;
//! - a mesh interface and the client bridge are deleted and made anew (new interface
//!   indexes): the daemon follows them, and a roam across them works as before;
//! - a daemon is killed in the middle of a hand-over, on either side, and restarted: one
//!   router serves the client afterwards, with nothing stale anywhere.

mod netns;

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::time::{Duration, Instant};

use l3roamd::wire::MacAddr;
use netns::{
    Mesh, NEW_CLIENT_BOUND, Topology, announce_client, client_served_by_r1, clients_listed,
    eventually, ms, must, r2_routes_toward, server_reaches_client, serves, serves_not,
};
use nix::sys::signal::Signal;

/// SIGKILL to exit: immediate; the bound only covers a loaded machine's scheduling.
const EXIT_BOUND: Duration = Duration::from_secs(5);

/// The destinations of `router`'s proto-`protocol` host routes of `family` in table 254 (the
/// daemon's /128 and /32; `ip` writes them without a length), one per route.
fn route_destinations(mesh: &Mesh, router: &str, family: &str, protocol: &str) -> Vec<IpAddr> {
    let out = mesh.sh(
        router,
        &[
            "ip", family, "route", "show", "table", "254", "proto", protocol,
        ],
    );
    out.lines()
        .filter_map(|line| line.split_whitespace().next())
        .filter_map(|dst| dst.parse().ok())
        .collect()
}

// ----- 1. A netlink overrun -----

/// r1's event socket gets the smallest receive buffer the flag takes (the kernel doubles it:
/// 8 KiB, a handful of notifications), so that a burst overruns it for certain.
const SMALL_RCVBUF: &str = "4096";

/// Fake clients on r1's bridge: the first `FAKE_DUAL_STACK` have an IPv6 and an IPv4
/// address, the rest IPv6 only. Why not 2,000 clients: the kernel's neighbour tables are
/// shared by every network namespace of the machine, and their garbage collector starts
/// evicting entries (anybody's, in any namespace) beyond `gc_thresh2` = 512 per family and
/// refuses new ones beyond `gc_thresh3` = 1024 (the defaults; a namespace cannot change
/// them). 450 IPv6 and 150 IPv4 entries stay below both, and [`MAC_ROUNDS`] rounds of
/// changes make the burst thousands of notifications all the same.
const FAKE_CLIENTS: usize = 450;
const FAKE_DUAL_STACK: usize = 150;

/// The add burst gives every fake address a MAC, then another, `MAC_ROUNDS` times, as if the
/// devices behind the addresses changed places: 4 × 600 = 2,400 neighbour changes. Only the
/// last MAC of each address is right, so a daemon that missed notifications and did not read
/// the kernel again would list clients that are no longer there.
const MAC_ROUNDS: usize = 4;

/// From the end of the burst until r1 lists exactly the fake clients with their final MACs
/// and holds exactly their host routes. What it takes: the re-read after the overrun (seven
/// dumps, the 600 neighbours among them), and for each of up to 600 × `MAC_ROUNDS` clients
/// the daemon learned on the way a route lookup, host routes, neighbour entries and a
/// node-client IP, or their removal: some 10,000 netlink requests, 64 in flight, about 50 µs
/// each in the kernel; a debug build on a loaded two-core machine, while r1's babeld
/// redistributes the same routes. The rest is slack.
const RESYNC_BOUND: Duration = Duration::from_secs(60);

/// After the deletion burst: an address whose neighbour entry went is kept for the removal
/// delay (120 s, behaviour.md §8 rule 4: the client is solicited five times and may answer)
/// unless it answers; none of the fake ones can. Plus the release hold of its routes (1 s)
/// and the re-read after the overrun; the rest is slack.
const DELETION_BOUND: Duration = Duration::from_secs(120 + 30);

/// One fake client: its MAC in `round`, and its addresses.
struct Fake {
    index: usize,
    v6: Ipv6Addr,
    v4: Option<Ipv4Addr>,
}

impl Fake {
    fn mac(&self, round: usize) -> String {
        format!(
            "02:fc:{:02x}:00:{:02x}:{:02x}",
            round,
            self.index >> 8,
            self.index & 0xff
        )
    }

    fn addrs(&self) -> Vec<IpAddr> {
        std::iter::once(IpAddr::V6(self.v6))
            .chain(self.v4.map(IpAddr::V4))
            .collect()
    }
}

/// The fake clients, inside the mesh's client prefixes and clear of every address the mesh
/// uses (the gateway is ::1 and .1, the real client ::100 and .100).
fn fakes(mesh: &Mesh) -> Vec<Fake> {
    let base6: Ipv6Addr = mesh
        .var("CLIENT_PREFIX6")
        .split('/')
        .next()
        .and_then(|a| a.parse().ok())
        .expect("CLIENT_PREFIX6");
    let base4: Ipv4Addr = mesh
        .var("CLIENT_PREFIX4")
        .split('/')
        .next()
        .and_then(|a| a.parse().ok())
        .expect("CLIENT_PREFIX4");
    (0..FAKE_CLIENTS)
        .map(|index| Fake {
            index,
            v6: Ipv6Addr::from(u128::from(base6) + 0xfa_0000 + index as u128),
            v4: (index < FAKE_DUAL_STACK)
                .then(|| Ipv4Addr::from(u32::from(base4) + 101 + index as u32)),
        })
        .collect()
}

/// Runs `ip -batch` in r1's namespace; how long the kernel took for it.
fn ip_batch(mesh: &Mesh, name: &str, lines: &str) -> Duration {
    let path = mesh.dir.join(format!("{name}.batch"));
    std::fs::write(&path, lines).expect("write batch");
    let start = Instant::now();
    mesh.sh("r1", &["ip", "-force", "-batch", &path.to_string_lossy()]);
    start.elapsed()
}

/// r1 lists exactly `expected` (MAC -> addresses, each ACTIVE), and holds exactly their host
/// routes (once each, proto 158), no demoted one and their node-client IPs; the real client,
/// which r1 may or may not have learned meanwhile, is left out.
fn r1_in_sync(mesh: &Mesh, expected: &BTreeMap<String, BTreeSet<IpAddr>>) -> Result<(), String> {
    let real = mesh.var("CLIENT_MAC").to_string();
    let listed: BTreeMap<String, BTreeMap<IpAddr, u64>> = clients_listed(mesh, "r1")
        .into_iter()
        .filter(|(mac, _)| *mac != real)
        .collect();
    let wanted: BTreeMap<String, BTreeMap<IpAddr, u64>> = expected
        .iter()
        .map(|(mac, addrs)| (mac.clone(), addrs.iter().map(|a| (*a, 1)).collect()))
        .collect();
    if listed != wanted {
        let extra: Vec<&String> = listed.keys().filter(|m| !wanted.contains_key(*m)).collect();
        let missing: Vec<&String> = wanted.keys().filter(|m| !listed.contains_key(*m)).collect();
        let differing: Vec<(&String, &BTreeMap<IpAddr, u64>)> = wanted
            .iter()
            .filter(|(mac, addrs)| listed.get(*mac).is_some_and(|l| l != *addrs))
            .collect();
        return Err(format!(
            "get_clients on r1: {} clients, wanted {}; {} not wanted (first {:?}), {} missing \
             (first {:?}), {} with other addresses or states (first {:?}, listed as {:?})",
            listed.len(),
            wanted.len(),
            extra.len(),
            extra.first().map(|mac| (mac, &listed[*mac])),
            missing.len(),
            missing.first(),
            differing.len(),
            differing.first(),
            differing.first().map(|(mac, _)| listed.get(*mac)),
        ));
    }
    let real_addrs: Vec<IpAddr> = ["CLIENT_IP6", "CLIENT_IP4"]
        .iter()
        .filter_map(|key| mesh.var(key).parse().ok())
        .collect();
    let wanted_routes: BTreeSet<IpAddr> = expected.values().flatten().copied().collect();
    for (protocol, want) in [("158", &wanted_routes), ("159", &BTreeSet::new())] {
        let mut routes: Vec<IpAddr> = ["-6", "-4"]
            .iter()
            .flat_map(|family| route_destinations(mesh, "r1", family, protocol))
            .filter(|dst| !real_addrs.contains(dst))
            .collect();
        routes.sort();
        let unique: BTreeSet<IpAddr> = routes.iter().copied().collect();
        if unique.len() != routes.len() {
            return Err(format!("r1 has duplicate proto-{protocol} routes"));
        }
        if unique != *want {
            return Err(format!(
                "r1's proto-{protocol} host routes: {} of the fake clients', wanted {} \
                 ({} extra)",
                unique.intersection(want).count(),
                want.len(),
                unique.difference(want).count()
            ));
        }
    }
    let prefix: Ipv6Addr = mesh
        .var("NODE_CLIENT_PREFIX")
        .split('/')
        .next()
        .and_then(|a| a.parse().ok())
        .expect("NODE_CLIENT_PREFIX");
    let lo: BTreeSet<String> = mesh.lo_addrs("r1").into_iter().collect();
    let real_ncip = mesh.var("CLIENT_NCIP").to_string();
    let ncips: BTreeSet<String> = lo
        .into_iter()
        .filter(|a| {
            a.parse::<Ipv6Addr>()
                .is_ok_and(|a| u128::from(a) >> 64 == u128::from(prefix) >> 64)
                && *a != real_ncip
        })
        .collect();
    let wanted_ncips: BTreeSet<String> = expected
        .keys()
        .map(|mac| {
            let mac: MacAddr = mac.parse().expect("a MAC");
            mac.node_client_ip(&prefix).to_string()
        })
        .collect();
    if ncips != wanted_ncips {
        return Err(format!(
            "r1 holds {} node-client IPs of fake clients, wanted {}",
            ncips.len(),
            wanted_ncips.len()
        ));
    }
    Ok(())
}

#[test]
fn a_neighbour_burst_overruns_netlink_and_the_daemon_reads_the_kernel_again() {
    let mut mesh = Mesh::up("netlink_overrun", Topology::default());
    for router in mesh.routers() {
        let mut args = mesh.daemon_args(&router, false);
        if router == "r1" {
            args.extend(["--netlink-rcvbuf".to_string(), SMALL_RCVBUF.to_string()]);
        }
        mesh.start_daemon(&router, args);
    }
    let bridge = mesh.var("CLIENT_BRIDGE").to_string();
    let fakes = fakes(&mesh);
    let last = MAC_ROUNDS - 1;
    // A buffer this small may overrun at the start already (the daemon's own first
    // installs); what counts is that the burst does.
    let before = mesh.counters("r1");

    // The add burst: every round gives every address a new MAC.
    let mut batch = String::new();
    for round in 0..MAC_ROUNDS {
        for fake in &fakes {
            for addr in fake.addrs() {
                writeln!(
                    batch,
                    "neigh replace {addr} lladdr {} dev {bridge} nud reachable",
                    fake.mac(round)
                )
                .unwrap();
            }
        }
    }
    let changes = batch.lines().count();
    let burst = ip_batch(&mesh, "add", &batch);
    let expected: BTreeMap<String, BTreeSet<IpAddr>> = fakes
        .iter()
        .map(|f| (f.mac(last), f.addrs().into_iter().collect()))
        .collect();
    let (_, resync) = must(
        "after the add burst, r1 lists exactly the fake clients and holds exactly their routes",
        eventually(RESYNC_BOUND, || r1_in_sync(&mesh, &expected)),
    );
    // The kernel still holds every fake entry with its last MAC: the daemon's state is the
    // kernel's, not merely what the test asked for.
    let neighbours = mesh.sh("r1", &["ip", "neigh", "show", "dev", &bridge]);
    for fake in &fakes {
        for addr in fake.addrs() {
            let line = neighbours
                .lines()
                .find(|l| l.split_whitespace().next() == Some(&addr.to_string()));
            assert!(
                line.is_some_and(|l| l.contains(&fake.mac(last))),
                "r1's kernel has no entry {addr} -> {}: {line:?}",
                fake.mac(last)
            );
        }
    }
    let after_add = mesh.counters("r1");
    mesh.assert_all_running();
    assert!(
        after_add["kernel.netlink_overruns"] > before["kernel.netlink_overruns"],
        "the burst did not overrun r1's event socket, so this proved nothing: {after_add:?}"
    );
    assert!(
        after_add["kernel.netlink_dumps"] > before["kernel.netlink_dumps"],
        "no re-read after the overrun: {after_add:?}"
    );
    assert_eq!(after_add["limits.clients"], 0, "{after_add:?}");

    // The deletion burst: another MAC for every address (learned or not), then the entries
    // go.
    let mut batch = String::new();
    for fake in &fakes {
        for addr in fake.addrs() {
            writeln!(
                batch,
                "neigh replace {addr} lladdr {} dev {bridge} nud reachable",
                fake.mac(MAC_ROUNDS)
            )
            .unwrap();
        }
    }
    for fake in &fakes {
        for addr in fake.addrs() {
            writeln!(batch, "neigh del {addr} dev {bridge}").unwrap();
        }
    }
    let deletions = batch.lines().count();
    let del_burst = ip_batch(&mesh, "del", &batch);
    let (_, cleared) = must(
        "after the deletion burst, r1 lists no fake client and holds none of their routes",
        eventually(DELETION_BOUND, || r1_in_sync(&mesh, &BTreeMap::new())),
    );
    let after_del = mesh.counters("r1");
    assert!(
        after_del["kernel.netlink_overruns"] > after_add["kernel.netlink_overruns"],
        "the deletion burst did not overrun r1's event socket: {after_del:?}"
    );
    assert_eq!(after_del["limits.clients"], 0, "{after_del:?}");
    eprintln!(
        "netlink overrun: add burst of {changes} neighbour changes ({} fake clients, {} \
         addresses) took the kernel {} ms; r1 in sync {} ms after it; {} overruns, {} dumps \
         so far; deletion burst of {deletions} changes in {} ms; r1 clear {} ms after it \
         (removal delay 120 s); {} overruns, {} dumps in all; {} kernel failures",
        fakes.len(),
        expected.values().map(BTreeSet::len).sum::<usize>(),
        ms(burst),
        ms(resync),
        after_add["kernel.netlink_overruns"],
        after_add["kernel.netlink_dumps"],
        ms(del_burst),
        ms(cleared),
        after_del["kernel.netlink_overruns"],
        after_del["kernel.netlink_dumps"],
        after_del["kernel.failures"],
    );

    // Still a working router: a real client is served.
    announce_client(&mut mesh, NEW_CLIENT_BOUND);
    must(
        "r1 serves the real client after it all",
        eventually(NEW_CLIENT_BOUND, || serves(&mesh, "r1")),
    );
    mesh.assert_all_running();
}

// ----- 2. Interfaces that vanish and come back -----

/// From a re-created client bridge until the router serves the client through it again: the
/// daemon sees the new link come up and re-installs the routes there at once (milliseconds),
/// and babeld re-announces them within 0.56–1.56 hello intervals (under a second); the rest
/// is slack for a loaded two-core machine.
const REBRIDGE_BOUND: Duration = Duration::from_secs(10);

/// From a re-created mesh link until babeld routes across it again: babeld notices the new
/// interface from the kernel's link notification, and needs a few hellos (0.5 s) and an IHU
/// to accept its neighbour; measured a few seconds. Slack for a loaded machine.
const RELINK_BOUND: Duration = Duration::from_secs(30);

/// A roam, from the move until the new router serves the client: milliseconds for the
/// hand-over, babeld's announcement within 1.56 hello intervals (tests/netns_e2e.rs holds
/// roams to 2 s); slack for a loaded machine.
const ROAM_BOUND: Duration = Duration::from_secs(5);

/// A SEEK for a destination nobody has, from r2's tun to r1: r2 sends it as soon as the
/// first packet lands in its tun, and again after 3 s if unanswered.
const SEEK_BOUND: Duration = Duration::from_secs(5);

fn assert_new_index(mesh: &Mesh, node: &str, dev: &str, old: u32) -> u32 {
    let new = mesh.ifindex(node, dev);
    assert_ne!(new, old, "{dev} in {node} kept its index");
    new
}

#[test]
fn b_a_mesh_link_and_the_client_bridge_vanish_and_come_back() {
    let mut mesh = Mesh::up("interfaces_return", Topology::default());
    mesh.start_daemons();
    let bridge = mesh.var("CLIENT_BRIDGE").to_string();
    client_served_by_r1(&mut mesh);

    // The bridge goes while it serves the client, and comes back with the client's port.
    let old = mesh.ifindex("r1", &bridge);
    let start = Instant::now();
    mesh.rebridge("r1");
    assert_new_index(&mesh, "r1", &bridge, old);
    let (_, rebridged) = must(
        "r1 serves the client through its new bridge",
        eventually(REBRIDGE_BOUND, || serves(&mesh, "r1")),
    );
    let reached = Instant::now();
    server_reaches_client(&mut mesh, REBRIDGE_BOUND);
    let reached = reached.elapsed();
    let _ = start.elapsed();

    // The mesh link r1-r2 goes and comes back (both ends get new indexes).
    let (old_r1, old_r2) = (mesh.ifindex("r1", "m-r2"), mesh.ifindex("r2", "m-r1"));
    let start = Instant::now();
    mesh.relink("r1", "r2", RELINK_BOUND);
    assert_new_index(&mesh, "r1", "m-r2", old_r1);
    assert_new_index(&mesh, "r2", "m-r1", old_r2);
    // Converged for the client too: r3 must know where its node-client IP is, or it takes
    // the client as new instead of claiming it (and the duplicate policy has to step in).
    let ncip = mesh.var("CLIENT_NCIP").to_string();
    must(
        "babeld routes the client and its node-client IP across the new link",
        eventually(RELINK_BOUND, || {
            r2_routes_toward(&mesh, "r1")?;
            let route = mesh.sh("r3", &["ip", "-6", "route", "show", &ncip]);
            if route.trim().is_empty() {
                Err(format!("r3 has no route to {ncip}"))
            } else {
                Ok(())
            }
        }),
    );
    let relinked = start.elapsed();

    // A CLAIM over the new link: the client roams to r3, whose CLAIM reaches r1 through it.
    let r1_before = mesh.counters("r1");
    let start = Instant::now();
    mesh.roam("r3");
    must(
        "r3 serves the client, r1 lets go",
        eventually(ROAM_BOUND, || {
            serves(&mesh, "r3")?;
            serves_not(&mesh, "r1")
        }),
    );
    let roam_out = start.elapsed();
    let r1_after = mesh.counters("r1");
    assert!(
        r1_after["intercom_in.claim"] > r1_before["intercom_in.claim"]
            && r1_after["handovers.out"] > r1_before["handovers.out"],
        "r1 handed the client over without a CLAIM: {r1_after:?}"
    );

    // The bridge goes again, this time with the client away.
    let old = mesh.ifindex("r1", &bridge);
    mesh.rebridge("r1");
    assert_new_index(&mesh, "r1", &bridge, old);

    // A SEEK over the new link: r2 seeks a destination nobody has.
    let nobody = mesh.var("CLIENT_PREFIX6").replace("::/64", "::77");
    let seeks = mesh.counters("r1")["intercom_in.seek"];
    mesh.start_pinger("srv", &nobody);
    let (_, seek) = must(
        "r2's SEEK reaches r1 over the new link",
        eventually(SEEK_BOUND, || {
            let now = mesh.counters("r1")["intercom_in.seek"];
            if now > seeks {
                Ok(())
            } else {
                Err(format!("r1 received {now} SEEKs, as before"))
            }
        }),
    );
    mesh.stop_pingers();

    // The client comes back to r1: learned on the new bridge, claimed over the new link,
    // the INFO back the same way.
    let r1_before = mesh.counters("r1");
    let start = Instant::now();
    mesh.roam("r1");
    must(
        "r1 serves the client again, r3 lets go",
        eventually(ROAM_BOUND, || {
            serves(&mesh, "r1")?;
            serves_not(&mesh, "r3")
        }),
    );
    let roam_back = start.elapsed();
    let r1_after = mesh.counters("r1");
    assert!(
        r1_after["intercom_out.claim"] > r1_before["intercom_out.claim"]
            && r1_after["intercom_in.info"] > r1_before["intercom_in.info"],
        "r1 took the client back without its CLAIM and an INFO: {r1_after:?}"
    );
    server_reaches_client(&mut mesh, ROAM_BOUND);
    must("r2 routes the client to r1", r2_routes_toward(&mesh, "r1"));
    eprintln!(
        "interfaces: r1 served the client through its new bridge {} ms after it was made \
         (server reached it {} ms later); babeld across the new mesh link after {} ms; roam to \
         r3 over it {} ms; r2's SEEK at r1 after {} ms; roam back to r1's new bridge {} ms",
        ms(rebridged),
        ms(reached),
        ms(relinked),
        ms(roam_out),
        ms(seek),
        ms(roam_back),
    );
    mesh.assert_all_running();
}

// ----- 3. KILL during a hand-over, then a restart -----

/// From the restart until one router serves the client and nothing else is left. The
/// slowest path: the restarted r1 comes back after r3's CLAIM cycle ended (16 CLAIMs 300 ms
/// apart: 4.8 s) and adopts its leftovers, so the duplicate policy resolves it: babeld's
/// report of the other route (up to about 4 s with 1.12.1), the 10 s grace, a verification
/// (at most 5 s), a CLAIM and its INFO, the 1 s release hold (tests/netns_e2e.rs measured
/// 9.5 s for that path). Then r2 takes the remaining route (under a second). The rest is
/// slack for a loaded two-core machine.
const KILL_CONVERGE_BOUND: Duration = Duration::from_secs(45);

/// `router` alone holds the client, r2 routes it there, and no router has a demoted route
/// for it left.
fn served_by_alone(mesh: &Mesh, router: &str, other: &str) -> Result<(), String> {
    serves(mesh, router)?;
    serves_not(mesh, other)?;
    r2_routes_toward(mesh, router)?;
    for r in mesh.routers() {
        for family in ["-6", "-4"] {
            let demoted = mesh.demoted_routes(&r, family);
            if !demoted.is_empty() {
                return Err(format!("{r} has demoted (proto 159) routes: {demoted:?}"));
            }
        }
    }
    Ok(())
}

fn restart(mesh: &mut Mesh, router: &str) -> Instant {
    let args = mesh.daemon_args(router, false);
    mesh.start_daemon(router, args);
    Instant::now()
}

#[test]
fn c_a_daemon_killed_during_a_handover_restarts_into_one_clean_owner() {
    let mut mesh = Mesh::up("kill_in_handover", Topology::default());
    mesh.start_daemons();
    client_served_by_r1(&mut mesh);

    // An active client: it pings the server throughout, as a client in use does, so every
    // router it comes to hears its addresses.
    let (srv6, srv4) = (
        mesh.var("SERVER_IP6").to_string(),
        mesh.var("SERVER_IP4").to_string(),
    );
    mesh.start_pinger("cli", &srv6);
    mesh.start_pinger("cli", &srv4);

    // The old router dies as the client leaves it: r3's CLAIMs find nobody to answer, and
    // r1 comes back with the same flags while they still run (or just after).
    mesh.signal_daemon("r1", Signal::SIGKILL);
    mesh.wait_daemon_exit("r1", EXIT_BOUND);
    let moved = Instant::now();
    mesh.roam("r3");
    let restarted = restart(&mut mesh, "r1");
    let (_, old_side) = must(
        "killed at the old router: r3 alone serves the client after r1's restart",
        eventually(KILL_CONVERGE_BOUND, || served_by_alone(&mesh, "r3", "r1")),
    );
    let restart_after = restarted - moved;
    server_reaches_client(&mut mesh, NEW_CLIENT_BOUND);
    let (r1, r3) = (mesh.counters("r1"), mesh.counters("r3"));
    let old_path = if r1["handovers.out"] >= 1 {
        "the restarted r1 answered r3's CLAIM"
    } else if r3["handovers.claim_timeouts"] >= 1 {
        "r3 took over without INFO, the duplicate policy cleared r1"
    } else {
        "other"
    };

    // The new router dies after its CLAIM went out and before the INFO could reach it (the
    // client is at r3 now, so r1 is the new router): r3's daemon is held (SIGSTOP) so that
    // it cannot answer at once, the client moves to r1, r1 claims and is killed; then r3
    // goes on and answers a CLAIM whose sender is dead, and r1 comes back.
    mesh.signal_daemon("r3", Signal::SIGSTOP);
    let claims = mesh.counters("r1")["intercom_out.claim"];
    mesh.roam("r1");
    must(
        "r1 sends its CLAIM",
        eventually(ROAM_BOUND, || {
            let now = mesh.counters("r1")["intercom_out.claim"];
            if now > claims {
                Ok(())
            } else {
                Err("no CLAIM from r1 yet".to_string())
            }
        }),
    );
    mesh.signal_daemon("r1", Signal::SIGKILL);
    mesh.wait_daemon_exit("r1", EXIT_BOUND);
    let killed = Instant::now();
    mesh.signal_daemon("r3", Signal::SIGCONT);
    let restarted = restart(&mut mesh, "r1");
    let (_, new_side) = must(
        "killed at the new router: r1 alone serves the client after its restart",
        eventually(KILL_CONVERGE_BOUND, || served_by_alone(&mesh, "r1", "r3")),
    );
    mesh.stop_pingers();
    server_reaches_client(&mut mesh, NEW_CLIENT_BOUND);
    let r3_after = mesh.counters("r3");
    assert!(
        r3_after["intercom_in.claim"] > r3["intercom_in.claim"],
        "r3 never received the CLAIM of the killed r1: {r3_after:?}"
    );
    eprintln!(
        "kill in hand-over: old router killed, r1 restarted {} ms after the move, r3 alone \
         serving {} ms after the restart ({old_path}); new router r1 killed after its CLAIM, \
         restarted {} ms later, r1 alone serving {} ms after the restart (r3 handed over: {})",
        ms(restart_after),
        ms(old_side),
        ms(restarted - killed),
        ms(new_side),
        r3_after["handovers.out"] > r3["handovers.out"],
    );
    mesh.assert_all_running();
}
