//! End to end, against the kernel: l3roamd on three routers running Debian's babeld in network
//! namespaces (tests/netns/mesh.sh, the demo's mesh), a server behind r2 and a client that
//! roams between r1 and r3.
//!
//! Needs root and babeld (CI installs them, see .ci/run); without them every test here fails
//! with a message that says what to install. One mesh at a time (see the harness). Logs:
//! `target/netns-logs/<test>/`.
//!
//! The roam bounds come from graceful release (README "Graceful release and babeld"). Without
//! it, the baseline measured without the daemon (`scripts/demo.sh --by-hand` moves the
//! client's host routes by hand and measures the largest gap in the server's 10 ms pings) was
//! 0.20–15.7 s per move with Debian's babeld 1.12.1 (hello 0.5 s), median 12.3 s: 1.12.1
//! retracts a wrong prefix when a redistributed route is deleted (babeld.md §4), so r2 kept
//! the old router's host route until it expired. The daemon demotes the route to metric 65534
//! instead, and `scripts/demo.sh --roams 10` measured: active median 236 ms, max 456 ms;
//! passive median about 380 ms, max 425 ms.

mod netns;

use std::time::{Duration, Instant};

use l3roamd::engine::RELEASE_HOLD;
use l3roamd::engine::flapping::{FLAP_MOVES, FLAP_WINDOW};
use netns::{Mesh, Topology, eventually};
use nix::sys::signal::Signal;

/// A new client, from its first packet to two-way traffic with the server: the daemon learns
/// it at once and installs its host routes; babeld announces a new route non-urgently, within
/// 0.56–1.56 hello intervals (0.3–0.8 s here; 36–362 ms measured by hand). The rest is slack
/// for a loaded two-core CI machine.
const NEW_CLIENT_BOUND: Duration = Duration::from_secs(10);

/// A roam, from the move to the first echo reply after it at every pinger. What it takes:
/// the new router learns the client from its first frame on the bridge (its pings; for a
/// passive client the MLD reports and DAD probes its kernel sends at link-up), the CLAIM,
/// INFO and ACK take milliseconds, and the new router installs the host routes; babeld
/// announces them non-urgently, within 0.56–1.56 hello intervals (0.28–0.78 s at the mesh's
/// 0.5 s hello). The old router demoted its routes at the CLAIM, so babeld announces them at
/// metric 65534, infinity one hop away: r2 takes the new route as soon as it arrives instead
/// of waiting out the stale one. Meanwhile a client whose carrier dropped has flushed its ARP
/// cache; when the request it sent while its port was moving is lost, its kernel asks again
/// 1 s later (retrans_time_ms), so its own IPv4 traffic resumes after about 1.05 s (in 5 to
/// 11 of 20 active roams; the server's pings to a passive client do not depend on it).
/// Measured, three runs of 20 roams each: active medians 168–1038 ms, max 1059–1085 ms;
/// passive medians 166–244 ms, max 210–459 ms. About 1.1 s at worst; the rest is slack for
/// a loaded two-core CI machine.
const ROAM_BOUND: Duration = Duration::from_secs(2);

/// From the move until the router the client left holds nothing of it (no proto-158 or
/// demoted route, no node-client IP): it demotes its routes at the CLAIM, which comes before
/// the traffic can, and deletes them after the hold.
const RELEASE_BOUND: Duration = ROAM_BOUND.saturating_add(RELEASE_HOLD);

/// How long a roam that missed its bounds is still waited for before the test stops: long
/// enough to tell a slow roam (recorded, and the run goes on so that the summary says how
/// slow) from a broken one. Without graceful release 1.12.1's stale route lasted up to 15.7 s.
const ROAM_GIVE_UP: Duration = Duration::from_secs(25);

/// SIGTERM to exit: procd sends SIGKILL after 5 s (behaviour.md §13.3).
const TERM_BOUND: Duration = Duration::from_secs(5);

/// Reconciliation after a restart (behaviour.md §9.5) is a netlink dump and a few requests;
/// the rest is slack.
const RECONCILE_BOUND: Duration = Duration::from_secs(10);

fn ms(d: Duration) -> u128 {
    d.as_millis()
}

/// The router holds the client: its /128 and /32 (proto 158, table 254, on the client
/// interface) and its node-client IP on lo.
fn serves(mesh: &Mesh, router: &str) -> Result<(), String> {
    let devs = [mesh.var("GW_DEV"), mesh.var("CLIENT_BRIDGE")];
    for (family, addr) in [
        ("-6", mesh.var("CLIENT_IP6")),
        ("-4", mesh.var("CLIENT_IP4")),
    ] {
        let routes = mesh.daemon_routes(router, family);
        let ok = routes.iter().any(|line| {
            devs.iter().any(|dev| {
                line.starts_with(&format!("{addr} dev {dev} "))
                    || *line == format!("{addr} dev {dev}")
            })
        });
        if !ok {
            return Err(format!(
                "{router} has no proto-158 route for {addr} on {devs:?} in table 254: {routes:?}"
            ));
        }
    }
    let ncip = mesh.var("CLIENT_NCIP");
    let lo = mesh.lo_addrs(router);
    if !lo.iter().any(|a| a == ncip) {
        return Err(format!(
            "{router} lacks the node-client IP {ncip} on lo: {lo:?}"
        ));
    }
    Ok(())
}

/// The router holds nothing of the client any more: no route for it, neither the daemon's
/// (proto 158) nor a demoted one (proto 159) left after the hold, and no node-client IP.
fn serves_not(mesh: &Mesh, router: &str) -> Result<(), String> {
    for (family, addr) in [
        ("-6", mesh.var("CLIENT_IP6")),
        ("-4", mesh.var("CLIENT_IP4")),
    ] {
        for (kind, routes) in [
            ("proto-158", mesh.daemon_routes(router, family)),
            ("demoted", mesh.demoted_routes(router, family)),
        ] {
            if let Some(line) = routes
                .iter()
                .find(|line| line.starts_with(&format!("{addr} ")))
            {
                return Err(format!(
                    "{router} still has a {kind} route for the client: {line}"
                ));
            }
        }
    }
    let ncip = mesh.var("CLIENT_NCIP");
    if mesh.lo_addrs(router).iter().any(|a| a == ncip) {
        return Err(format!("{router} still holds the node-client IP {ncip}"));
    }
    Ok(())
}

/// TERMs every router's daemon, which must exit 0 within the bound, and compares each
/// router's routes and lo addresses with the snapshot taken before the daemons started.
fn term_and_compare(mesh: &mut Mesh, routers: &[String], before: &[Vec<String>], after_what: &str) {
    for router in routers {
        mesh.signal_daemon(router, Signal::SIGTERM);
    }
    for router in routers {
        let status = mesh.wait_daemon_exit(router, TERM_BOUND);
        assert!(
            status.success(),
            "l3roamd on {router} exited with {status} after TERM"
        );
    }
    for (router, before) in routers.iter().zip(before) {
        let after = mesh.snapshot(router);
        assert_eq!(
            &after, before,
            "{router}: routes or lo addresses differ after {after_what}"
        );
    }
}

fn must<T>(what: &str, result: Result<T, String>) -> T {
    result.unwrap_or_else(|err| panic!("{what}: {err}"))
}

/// The client talks to the server in both families until the server answers: how a new client
/// makes itself known. Returns when both answered.
fn announce_client(mesh: &mut Mesh, bound: Duration) -> Duration {
    let (srv6, srv4) = (
        mesh.var("SERVER_IP6").to_string(),
        mesh.var("SERVER_IP4").to_string(),
    );
    let start = Instant::now();
    must("client -> server, IPv6", mesh.reach("cli", &srv6, bound));
    must(
        "client -> server, IPv4",
        mesh.reach("cli", &srv4, bound.saturating_sub(start.elapsed())),
    );
    start.elapsed()
}

/// The server reaches the client in both families.
fn server_reaches_client(mesh: &mut Mesh, bound: Duration) {
    let (c6, c4) = (
        mesh.var("CLIENT_IP6").to_string(),
        mesh.var("CLIENT_IP4").to_string(),
    );
    must("server -> client, IPv6", mesh.reach("srv", &c6, bound));
    must("server -> client, IPv4", mesh.reach("srv", &c4, bound));
}

/// One roam of a series: what it cost, and the bounds it missed.
struct Roam {
    /// From the start of the move until every pinger had a reply again.
    restored: Duration,
    /// The largest gap between the replies of the IPv6 and of the IPv4 pinger.
    cuts: [Duration; 2],
    missed: Vec<String>,
}

/// When each condition of a roam first held, from the start of the move.
#[derive(Default)]
struct RoamTimes {
    replies: [Option<Duration>; 2],
    serving: Option<Duration>,
    released: Option<Duration>,
}

/// Records when `check` first held, from `start`; until it does, why not in `waiting`.
fn note_first(
    seen: &mut Option<Duration>,
    start: Instant,
    waiting: &mut Vec<String>,
    check: impl FnOnce() -> Result<(), String>,
) {
    if seen.is_none() {
        match check() {
            Ok(()) => *seen = Some(start.elapsed()),
            Err(err) => waiting.push(err),
        }
    }
}

/// Moves the client to `to` while the IPv6 and the IPv4 pinger `pingers` run, and checks the
/// roam: traffic back and `to` serving the client within [`ROAM_BOUND`], the router it left
/// holding nothing of it within [`RELEASE_BOUND`]. All three are watched together from the
/// move on, so each is timed to the poll (about 0.1 s). A missed bound is recorded and the
/// series goes on; a roam not over within [`ROAM_GIVE_UP`] stops the test at once.
fn roam_checked(mesh: &mut Mesh, label: &str, to: &str, pingers: [usize; 2]) -> Roam {
    let from = mesh.client_at();
    let start = Instant::now();
    mesh.roam(to);
    // Only a reply that arrives after the port has moved proves the path through `to`; one
    // that slipped through while the move was still under way proves nothing.
    let moved = Instant::now();
    let mut times = RoamTimes::default();
    let mut waiting = Vec::new();
    must(
        &format!("{label}: {from} -> {to}"),
        eventually(ROAM_GIVE_UP, || {
            waiting.clear();
            for (seen, &p) in times.replies.iter_mut().zip(&pingers) {
                let pinger = mesh.pinger(p);
                *seen = seen.or_else(|| Some(pinger.first_reply_after(moved)? - start));
                if seen.is_none() {
                    waiting.push(format!("no echo reply {} -> {}", pinger.node, pinger.addr));
                }
            }
            // The new router learned the MAC from its bridge and every address from the INFO,
            // IPv4 included, although a passive client never sent an ARP of its own.
            note_first(&mut times.serving, start, &mut waiting, || serves(mesh, to));
            note_first(&mut times.released, start, &mut waiting, || {
                serves_not(mesh, &from)
            });
            if waiting.is_empty() {
                Ok(())
            } else {
                Err(waiting.join("; "))
            }
        }),
    );
    let restored = times
        .replies
        .into_iter()
        .flatten()
        .max()
        .unwrap_or_default();
    let (serving, released) = (
        times.serving.unwrap_or_default(),
        times.released.unwrap_or_default(),
    );
    // A second gap right after the first reply counts too.
    std::thread::sleep(Duration::from_millis(500));
    let cuts = pingers.map(|p| mesh.pinger(p).cut_around(start));
    mesh.stop_pingers();
    let mut missed = Vec::new();
    for (what, took, bound) in [
        ("traffic back", restored, ROAM_BOUND),
        ("new router serving", serving, ROAM_BOUND),
        ("old router clear", released, RELEASE_BOUND),
    ] {
        if took > bound {
            missed.push(format!(
                "{label}: {what} after {} ms, bound {} ms",
                ms(took),
                ms(bound)
            ));
        }
    }
    eprintln!(
        "{label}: {from} -> {to}: traffic back after {} ms; cut IPv6 {} ms, IPv4 {} ms; \
         {to} serving after {} ms, {from} clear after {} ms{}",
        ms(restored),
        ms(cuts[0]),
        ms(cuts[1]),
        ms(serving),
        ms(released),
        if missed.is_empty() {
            ""
        } else {
            "  MISSED A BOUND"
        }
    );
    Roam {
        restored,
        cuts,
        missed,
    }
}

/// `min / median / max` of `values` in ms (the median of an even count is the mean of the
/// two middle values, as in the demo).
fn spread(mut values: Vec<Duration>) -> String {
    values.sort();
    let n = values.len();
    if n == 0 {
        return "none".to_string();
    }
    let median = (values[(n - 1) / 2] + values[n / 2]) / 2;
    format!(
        "{} / {} / {} ms",
        ms(values[0]),
        ms(median),
        ms(values[n - 1])
    )
}

/// Prints the series' summary, then fails if any roam missed a bound.
fn summarize(series: &str, roams: &[Roam]) {
    let missed: Vec<&String> = roams.iter().flat_map(|r| &r.missed).collect();
    eprintln!(
        "summary, {} {series} (min / median / max): traffic back {}; cut IPv6 {}; cut IPv4 {}; \
         failures {} (roams that missed a bound)",
        roams.len(),
        spread(roams.iter().map(|r| r.restored).collect()),
        spread(roams.iter().map(|r| r.cuts[0]).collect()),
        spread(roams.iter().map(|r| r.cuts[1]).collect()),
        roams.iter().filter(|r| !r.missed.is_empty()).count()
    );
    assert!(missed.is_empty(), "{series}: missed bounds: {missed:#?}");
}

#[test]
fn a_new_client_gets_host_routes_and_a_node_client_ip() {
    let mut mesh = Mesh::up("new_client", Topology::default());
    mesh.start_daemons();
    let took = announce_client(&mut mesh, NEW_CLIENT_BOUND);
    server_reaches_client(&mut mesh, NEW_CLIENT_BOUND);
    eprintln!("new client: two-way traffic after {} ms", ms(took));
    must(
        "r1 serves the new client",
        eventually(NEW_CLIENT_BOUND, || serves(&mesh, "r1")),
    );
    must("r3 holds nothing of it", serves_not(&mesh, "r3"));
    must("r2 holds nothing of it", serves_not(&mesh, "r2"));
    mesh.assert_all_running();
}

#[test]
fn control_socket_lists_the_client_on_the_serving_router() {
    let mut mesh = Mesh::up("control_socket", Topology::default());
    mesh.start_daemons();
    announce_client(&mut mesh, NEW_CLIENT_BOUND);
    let mac = mesh.var("CLIENT_MAC").to_string();
    let reply = must(
        "get_clients on r1",
        eventually(NEW_CLIENT_BOUND, || {
            let reply = mesh.control("r1", "get_clients");
            if reply.contains(&format!("\"{mac}\"")) {
                Ok(reply)
            } else {
                Err(format!("r1 does not list {mac}: {reply}"))
            }
        }),
    )
    .0;
    assert!(
        reply.starts_with("{ \"clients\": 1, \"clientlist\": {"),
        "{reply}"
    );
    for router in ["r2", "r3"] {
        let reply = mesh.control(router, "get_clients");
        assert_eq!(reply, "{ \"clients\": 0 }", "{router} lists clients");
    }
}

/// Round trips r1 -> r3 -> r1 of the client that keeps pinging: 20 roams.
const ACTIVE_ROUND_TRIPS: usize = 10;
/// Roams of the client that only answers: 20, alternately to r3 and back to r1.
const PASSIVE_ROAMS: usize = 20;

/// Start to start, the roams of a series are this far apart. Each roam is a move for both r1
/// and r3, and more than `FLAP_MOVES` moves within `FLAP_WINDOW` is a flap (README "Flap
/// damping"), which would hold the next hand-over for 30 s: one move per
/// `FLAP_WINDOW / FLAP_MOVES` (4 s) stays below it, plus 1 s because a move counts when the
/// CLAIM or INFO arrives, 0.1–1.1 s after the port moved. Ordinary walks between rooms; a
/// flapping client is `h_…`'s business.
const ROAM_PERIOD: Duration =
    Duration::from_millis((FLAP_WINDOW.as_millis() / FLAP_MOVES as u128) as u64 + 1000);

/// Flaps `router`'s daemon has detected (README "Flap damping"); none for an older build
/// without the counter (`L3ROAMD_BIN`), which does not damp.
fn flaps_detected(mesh: &Mesh, router: &str) -> u64 {
    mesh.counters(router)
        .get("flapping.detected")
        .copied()
        .unwrap_or(0)
}

/// A series of ordinary roams must not have looked like flapping to either router.
fn assert_no_flap(mesh: &Mesh) {
    for router in ["r1", "r3"] {
        assert_eq!(flaps_detected(mesh, router), 0, "{router} detected a flap");
    }
}

#[test]
fn b_active_roams_restore_two_way_traffic_and_move_routes() {
    let mut mesh = Mesh::up("active_roams", Topology::default());
    mesh.start_daemons();
    announce_client(&mut mesh, NEW_CLIENT_BOUND);
    must(
        "r1 serves the client",
        eventually(NEW_CLIENT_BOUND, || serves(&mesh, "r1")),
    );
    let (srv6, srv4) = (
        mesh.var("SERVER_IP6").to_string(),
        mesh.var("SERVER_IP4").to_string(),
    );
    let mac = mesh.var("CLIENT_MAC").to_string();
    let mut roams = Vec::new();
    for round in 1..=ACTIVE_ROUND_TRIPS {
        for to in ["r3", "r1"] {
            let started = Instant::now();
            // The client keeps talking to the server across the move, as a phone in a call.
            let p6 = mesh.start_pinger("cli", &srv6);
            let p4 = mesh.start_pinger("cli", &srv4);
            std::thread::sleep(Duration::from_millis(300));
            let label = format!("active roam {}", roams.len() + 1);
            roams.push(roam_checked(&mut mesh, &label, to, [p6, p4]));
            // The client's pings answered prove both directions already; the server's own
            // pings get through as well.
            server_reaches_client(&mut mesh, ROAM_BOUND);
            let listed = mesh.control(to, "get_clients");
            assert!(
                listed.contains(&format!("\"{mac}\"")),
                "round {round}: {to} does not list the client: {listed}"
            );
            std::thread::sleep(ROAM_PERIOD.saturating_sub(started.elapsed()));
        }
    }
    summarize("active roams", &roams);
    assert_no_flap(&mesh);
    mesh.assert_all_running();
}

#[test]
fn c_passive_roam_resumes_the_servers_traffic() {
    let mut mesh = Mesh::up("passive_roam", Topology::default());
    mesh.start_daemons();
    announce_client(&mut mesh, NEW_CLIENT_BOUND);
    must(
        "r1 serves the client",
        eventually(NEW_CLIENT_BOUND, || serves(&mesh, "r1")),
    );
    // Let the client's own traffic and neighbour entries settle into silence: from here on
    // it sends only what its kernel sends on link-up (MLD reports) and answers what it gets.
    std::thread::sleep(Duration::from_secs(2));
    let (c6, c4) = (
        mesh.var("CLIENT_IP6").to_string(),
        mesh.var("CLIENT_IP4").to_string(),
    );
    let mut roams = Vec::new();
    for roam in 1..=PASSIVE_ROAMS {
        let started = Instant::now();
        let to = if mesh.client_at() == "r1" { "r3" } else { "r1" };
        let p6 = mesh.start_pinger("srv", &c6);
        let p4 = mesh.start_pinger("srv", &c4);
        std::thread::sleep(Duration::from_millis(500));
        roams.push(roam_checked(
            &mut mesh,
            &format!("passive roam {roam}"),
            to,
            [p6, p4],
        ));
        std::thread::sleep(ROAM_PERIOD.saturating_sub(started.elapsed()));
    }
    summarize("passive roams", &roams);
    assert_no_flap(&mesh);
    mesh.assert_all_running();
}

#[test]
fn d_term_restores_every_table_and_kill_then_restart_leaves_nothing_stale() {
    let mut mesh = Mesh::up("term_and_kill", Topology::default());
    let routers = mesh.routers();
    let before: Vec<Vec<String>> = routers.iter().map(|r| mesh.snapshot(r)).collect();

    mesh.start_daemons();
    announce_client(&mut mesh, NEW_CLIENT_BOUND);
    must(
        "r1 serves the client",
        eventually(NEW_CLIENT_BOUND, || serves(&mesh, "r1")),
    );
    term_and_compare(&mut mesh, &routers, &before, "TERM");

    // KILL leaves everything behind, as a crash would; a restart must adopt or delete it.
    mesh.start_daemons();
    announce_client(&mut mesh, NEW_CLIENT_BOUND);
    must(
        "r1 serves the client",
        eventually(NEW_CLIENT_BOUND, || serves(&mesh, "r1")),
    );
    mesh.signal_daemon("r1", Signal::SIGKILL);
    mesh.wait_daemon_exit("r1", TERM_BOUND);
    must(
        "a killed daemon leaves its routes behind",
        serves(&mesh, "r1"),
    );
    // Leftovers of a client that is gone: a host route each and a node-client IP.
    let gw = mesh.var("GW_DEV").to_string();
    let stale6 = "2001:db8:1::dead";
    let stale4 = "10.0.1.222";
    let stale_mac = "02:00:00:00:09:99";
    let stale_ncip =
        netns::run(std::process::Command::new("bash").args([netns::MESH_SH, "ncip", stale_mac]))
            .trim()
            .to_string();
    mesh.sh(
        "r1",
        &[
            "ip",
            "-6",
            "route",
            "add",
            &format!("{stale6}/128"),
            "dev",
            &gw,
            "proto",
            "158",
        ],
    );
    mesh.sh(
        "r1",
        &[
            "ip",
            "-4",
            "route",
            "add",
            &format!("{stale4}/32"),
            "dev",
            &gw,
            "proto",
            "158",
        ],
    );
    mesh.sh(
        "r1",
        &[
            "ip",
            "-6",
            "addr",
            "add",
            &format!("{stale_ncip}/128"),
            "dev",
            "lo",
        ],
    );
    let args = mesh.daemon_args("r1", false);
    mesh.start_daemon("r1", args);
    let (c6, c4, ncip) = (
        mesh.var("CLIENT_IP6").to_string(),
        mesh.var("CLIENT_IP4").to_string(),
        mesh.var("CLIENT_NCIP").to_string(),
    );
    // Whether it adopted the client's leftovers or deleted them and learned the client
    // anew from the server's traffic, the client must be served again...
    server_reaches_client(&mut mesh, NEW_CLIENT_BOUND);
    // ...with one route per address, and nothing of the client that is gone.
    must(
        "after the restart, r1 holds exactly one route per client address and no stale one",
        eventually(RECONCILE_BOUND, || {
            for (family, addr, stale) in [("-6", &c6, stale6), ("-4", &c4, stale4)] {
                let routes = mesh.daemon_routes("r1", family);
                let own = routes
                    .iter()
                    .filter(|l| l.starts_with(&format!("{addr} ")))
                    .count();
                if own != 1 {
                    return Err(format!("{own} routes for {addr}: {routes:?}"));
                }
                if let Some(line) = routes.iter().find(|l| l.starts_with(&format!("{stale} "))) {
                    return Err(format!("stale route left: {line}"));
                }
            }
            let lo = mesh.lo_addrs("r1");
            let own = lo.iter().filter(|a| **a == ncip).count();
            if own != 1 {
                return Err(format!("{own} times {ncip} on lo: {lo:?}"));
            }
            if lo.contains(&stale_ncip) {
                return Err(format!("stale node-client IP {stale_ncip} left on lo"));
            }
            Ok(())
        }),
    );

    term_and_compare(&mut mesh, &routers, &before, "KILL, restart and TERM");
}

#[test]
fn e_gluons_exact_command_line_serves_a_client() {
    let mut mesh = Mesh::up("gluon_command_line", Topology { local_node: true });
    for router in mesh.routers() {
        let gluon = mesh
            .var("CLIENT_ROUTERS")
            .split_whitespace()
            .any(|r| r == router);
        let args = mesh.daemon_args(&router, gluon);
        if gluon {
            assert_eq!(
                args.last().map(String::as_str),
                Some(" -P fd12:3456:789a:bcde::/64")
            );
            assert!(
                args.windows(2).any(|w| w == ["-i", "local-node"]),
                "{args:?}"
            );
        }
        mesh.start_daemon(&router, args);
    }
    let took = announce_client(&mut mesh, NEW_CLIENT_BOUND);
    server_reaches_client(&mut mesh, NEW_CLIENT_BOUND);
    eprintln!(
        "Gluon's command line: two-way traffic after {} ms",
        ms(took)
    );
    // The last word never reaches getopt: node-client IPs stay in fec0::/64, as on C nodes.
    must(
        "r1 serves the client",
        eventually(NEW_CLIENT_BOUND, || serves(&mesh, "r1")),
    );
    let lo = mesh.lo_addrs("r1");
    assert!(
        !lo.iter().any(|a| a.starts_with("fd12:3456:789a:bcde:")),
        "the ignored -P prefix was used: {lo:?}"
    );
    let log = std::fs::read_to_string(&mesh.daemon("r1").log).unwrap_or_default();
    assert!(
        log.contains("ignoring non-option argument"),
        "no warning about \" -P ...\" in the log"
    );
    mesh.assert_all_running();
}

/// SEEK across the mesh (behaviour.md §10): r2's SEEK reaches r1 and r3 within milliseconds,
/// r1's solicitation and the client's answer take milliseconds more, and babeld carries the
/// new host route to r2 within 0.56–1.56 hello intervals (0.3–0.8 s here). The packets must
/// still be waiting then: they are kept 5 s, so this bound is the 5 s lifetime plus slack for
/// the ping to report.
const SEEK_BOUND: Duration = Duration::from_secs(8);

/// What the client's kernel counted as echo requests received, in `family` ("-6" or "-4").
fn echo_requests_at_client(mesh: &Mesh, family: &str) -> u64 {
    mesh.snmp(
        "cli",
        if family == "-6" {
            "Icmp6InEchos"
        } else {
            "IcmpInEchos"
        },
    )
}

/// No router routes `addr`, by any protocol, and r1 and r3 have no neighbour entry for it.
fn routed_nowhere(mesh: &Mesh, family: &str, addr: &str) -> Result<(), String> {
    for router in mesh.routers() {
        let routes = mesh.sh(
            &router,
            &["ip", family, "route", "show", "table", "all", addr],
        );
        if !routes.trim().is_empty() {
            return Err(format!("{router} routes {addr}: {routes}"));
        }
        let neighbours = mesh.sh(&router, &["ip", family, "neigh", "show", "to", addr]);
        if !neighbours.trim().is_empty() {
            return Err(format!("{router} has a neighbour entry {neighbours}"));
        }
    }
    Ok(())
}

#[test]
fn f_a_silent_client_is_found_by_seek_and_its_waiting_packets_arrive() {
    let mut mesh = Mesh::up("seek_silent_client", Topology::default());
    // The client did its DAD and MLD reports before any daemon ran, and has said nothing
    // since: r1's bridge knows its MAC, no router knows its addresses.
    mesh.start_daemons();
    for (family, var) in [("-6", "CLIENT_IP6"), ("-4", "CLIENT_IP4")] {
        let addr = mesh.var(var).to_string();
        must(
            "the client is routed nowhere before the server speaks",
            routed_nowhere(&mesh, family, &addr),
        );
        let before = echo_requests_at_client(&mesh, family);
        let start = Instant::now();
        // Three echo requests 100 ms apart, then up to 8 s for the replies: all three reach
        // r2's tun before its first SEEK (300 ms after the first), so before anyone can know
        // the client, and wait there.
        let out = mesh
            .cmd(
                "srv",
                &[
                    "ping", family, "-n", "-c", "3", "-i", "0.1", "-W", "8", &addr,
                ],
            )
            .output()
            .expect("ping");
        let took = start.elapsed();
        let text = String::from_utf8_lossy(&out.stdout);
        eprintln!(
            "server -> silent client, {family}, {} ms:\n{text}",
            ms(took)
        );
        assert!(
            out.status.success() && text.contains("3 received"),
            "{family}: not every echo request was answered:\n{text}"
        );
        let arrived = echo_requests_at_client(&mesh, family) - before;
        assert_eq!(arrived, 3, "{family}: echo requests counted at the client");
        assert!(took < SEEK_BOUND, "{family}: {} ms", ms(took));
    }
    must(
        "r1 serves the client it found",
        eventually(NEW_CLIENT_BOUND, || serves(&mesh, "r1")),
    );
    must("r3 holds nothing of it", serves_not(&mesh, "r3"));
    let r2 = mesh.counters("r2");
    eprintln!("r2 counters: {r2:?}");
    assert!(
        r2["intercom_out.seek"] >= 2,
        "one SEEK per family at least: {r2:?}"
    );
    assert_eq!(
        r2["unknown_destinations.reinjected"], 6,
        "three waiting packets per family"
    );
    assert_eq!(r2["unknown_destinations.expired"], 0);
    let r1 = mesh.counters("r1");
    assert!(r1["intercom_in.seek"] >= 2, "{r1:?}");
    mesh.assert_all_running();
}

/// A destination nobody has: its packets wait their 5 s and the sender is told. The error
/// goes out at the first purge after the 5 s lifetime (at most 1 s later), plus slack.
const UNREACHABLE_AFTER: std::ops::Range<Duration> =
    Duration::from_millis(4500)..Duration::from_millis(8000);

/// What r2's daemon may use at its peak under the flood: its baseline (about 2.5 MB) plus the
/// queues' 1 MiB of packets and their bookkeeping, with room to spare.
const FLOOD_PEAK_RSS_KIB: u64 = 8 * 1024;
/// The control socket's longest answer during the flood (the issue asks 100 ms under
/// hostile input; a loaded two-core CI machine gets slack).
const FLOOD_CONTROL_LATENCY: Duration = Duration::from_millis(500);
const FLOOD_DESTINATIONS: u32 = 10_000;

/// Sends one 1200-byte UDP datagram to each of `count` addresses of 2001:db8:1:0:ffff::/80
/// from inside `ns` (its own thread enters the namespace), as fast as the socket takes them.
fn flood_unknown_destinations(ns: String, count: u32) -> std::thread::JoinHandle<u32> {
    std::thread::spawn(move || {
        let path = std::path::Path::new("/run/netns").join(&ns);
        l3roamd::sys::netns::enter_network_namespace(&path).expect("enter the server's netns");
        let socket = std::net::UdpSocket::bind("[::]:0").expect("UDP socket");
        let payload = [0x5a; 1200];
        let mut sent = 0;
        for i in 0..count {
            let dst =
                std::net::Ipv6Addr::new(0x2001, 0xdb8, 1, 0, 0xffff, 0, (i >> 16) as u16, i as u16);
            // ENOBUFS under the burst is the kernel dropping; it is part of a flood.
            if socket.send_to(&payload, (dst, 9)).is_ok() {
                sent += 1;
            }
        }
        sent
    })
}

#[test]
fn g_nobodys_destination_gets_unreachable_and_a_flood_stays_bounded() {
    let mut mesh = Mesh::up("unknown_destinations", Topology::default());
    mesh.start_daemons();
    for (family, addr, says) in [
        ("-6", "2001:db8:1::dead", "Destination unreachable"),
        ("-4", "10.0.1.222", "Destination Host Unreachable"),
    ] {
        let start = Instant::now();
        let out = mesh
            .cmd("srv", &["ping", family, "-n", "-c", "1", "-W", "10", addr])
            .output()
            .expect("ping");
        let took = start.elapsed();
        let text = String::from_utf8_lossy(&out.stdout);
        eprintln!("server -> nobody ({addr}), {} ms:\n{text}", ms(took));
        assert!(text.contains(says), "{family}: no ICMP error:\n{text}");
        assert!(
            UNREACHABLE_AFTER.contains(&took),
            "{family}: the error came after {} ms",
            ms(took)
        );
    }
    let r2 = mesh.counters("r2");
    assert_eq!(
        (
            r2["unknown_destinations.icmp_errors"],
            r2["unknown_destinations.expired"]
        ),
        (2, 2),
        "{r2:?}"
    );

    // Client prefixes added and removed at run time get and lose their route into the tun.
    let tun_routes = |mesh: &Mesh| {
        let v6 = mesh.sh(
            "r2",
            &[
                "ip", "-6", "route", "show", "dev", "l3roam0", "proto", "158",
            ],
        );
        let v4 = mesh.sh(
            "r2",
            &[
                "ip", "-4", "route", "show", "dev", "l3roam0", "proto", "158",
            ],
        );
        format!("{v6}{v4}")
    };
    for prefix in ["2001:db8:77::/64", "10.77.0.0/16"] {
        let reply = mesh.control("r2", &format!("add_prefix {prefix}"));
        assert!(reply.contains(prefix), "add_prefix {prefix}: {reply}");
    }
    must(
        "add_prefix installs the tun routes",
        eventually(Duration::from_secs(2), || {
            let routes = tun_routes(&mesh);
            let v4_shown = [
                "10.77.0.0/16 scope link metric 1024",
                "10.77.0.0/16 metric 1024",
            ];
            if routes.contains("2001:db8:77::/64 metric 1024")
                && v4_shown.iter().any(|shown| routes.contains(shown))
            {
                Ok(())
            } else {
                Err(routes)
            }
        }),
    );
    for prefix in ["2001:db8:77::/64", "10.77.0.0/16"] {
        mesh.control("r2", &format!("del_prefix {prefix}"));
    }
    must(
        "del_prefix removes the tun routes",
        eventually(Duration::from_secs(2), || {
            let routes = tun_routes(&mesh);
            if routes.contains(":77::") || routes.contains("10.77.") {
                Err(routes)
            } else {
                Ok(())
            }
        }),
    );

    let flood_start = Instant::now();
    let flood = flood_unknown_destinations(mesh.ns("srv"), FLOOD_DESTINATIONS);
    // The control socket keeps answering while the flood lasts and its packets expire.
    let mut slowest = Duration::ZERO;
    let mut asked = 0;
    while flood_start.elapsed() < Duration::from_secs(8) {
        let t = Instant::now();
        let reply = mesh.control("r2", "get_prefixes");
        slowest = slowest.max(t.elapsed());
        asked += 1;
        assert!(reply.contains("2001:db8:1::"), "{reply}");
        std::thread::sleep(Duration::from_millis(20));
    }
    let sent = flood.join().expect("flood thread");
    let flood_secs = flood_start.elapsed().as_secs_f64();
    let peak = mesh.daemon_peak_rss_kib("r2");
    let r2 = mesh.counters("r2");
    eprintln!(
        "flood: {sent} datagrams to {FLOOD_DESTINATIONS} destinations; control socket: {asked} \
         answers, slowest {} ms; r2 peak RSS {peak} KiB; counters {r2:?}",
        ms(slowest)
    );
    assert!(
        sent > FLOOD_DESTINATIONS / 2,
        "the flood did not get out: {sent}"
    );
    assert!(
        slowest < FLOOD_CONTROL_LATENCY,
        "control socket answered in {} ms",
        ms(slowest)
    );
    assert!(peak < FLOOD_PEAK_RSS_KIB, "r2 peak RSS {peak} KiB");
    assert!(
        r2["limits.queue_destinations"] > 0,
        "the destination limit was never hit: {r2:?}"
    );
    let seeks_allowed = (20.0 * (flood_secs + 1.0)) as u64 + 2;
    assert!(
        r2["intercom_out.seek"] <= seeks_allowed,
        "{} SEEKs in {flood_secs:.1} s",
        r2["intercom_out.seek"]
    );
    assert!(r2["limits.seeks"] > 0, "{r2:?}");
    let errors_allowed = (10.0 * (flood_secs + 1.0)) as u64 + 2;
    assert!(
        r2["unknown_destinations.icmp_errors"] <= errors_allowed,
        "{r2:?}"
    );

    // get_stats carries the driver's counters too.
    assert!(r2.contains_key("client_frames.dropped"), "{r2:?}");

    // And the mesh still serves a real client.
    announce_client(&mut mesh, NEW_CLIENT_BOUND);
    server_reaches_client(&mut mesh, NEW_CLIENT_BOUND);
    mesh.assert_all_running();
}
