//! Benchmark 2 of BENCHMARKS.md, "Scale on one router": `--clients` clients (default 5,000),
//! each with one IPv4 and two IPv6 addresses, appear on one router within `--spread-ms`
//! (default 1,000 ms), through kernel neighbour entries and through the frames they send;
//! then they all leave. The harness (benches/router/mod.rs) says how clients appear and
//! leave, and why that way. `scripts/bench/scale.sh` runs it and draws the plot; by hand, as
//! root:
//!
//! ```text
//! cargo bench --bench scale -- [--clients N] [--spread-ms MS] [--max-clients M]
//!                               [--no-frames] [--no-leave] [--quick]
//! ```
//!
//! stdout: what was run and the table, in Markdown; stderr: progress. Raw data in
//! `$BENCH_OUT` (default `<target>/bench`): `scale.tsv`, the daemon's routes and node-client
//! IPs over time, every 20 ms, in two blocks (arrival, leaving), replayed from the kernel's
//! notifications; `scale-delays.tsv`, per address the time from its announcement to its
//! route (and from its failure to the route's removal). `L3ROAMD_BIN` runs another build.
//! Without `--bench` (as `cargo test --benches` runs it) it checks its own helpers and exits.
//!
//! Definitions:
//! - t0 is the moment the first client's first neighbour entry is written;
//! - "all routes in" is the first notification after which the router holds a proto-158 host
//!   route in table 254 for every address (3 per client), "all node-client IPs" the same for
//!   the clients' node-client IPs on lo; the routes' and addresses' times are when the
//!   bench's monitor read the kernel's notification (within a millisecond of the change);
//! - an address's delay is from its client's announcement (its entries written) to its route;
//! - CPU is the daemon's utime + stime (/proc/PID/stat) from just before the first client
//!   until the daemon has been idle for a second after the last route (arrival), and from just
//!   before the first failure until idle after the last removal (leaving);
//! - peak RSS is VmHWM of /proc/PID/status, RSS VmRSS.

#[path = "../tests/netns/mod.rs"]
mod netns;
mod router;

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::fs;
use std::thread;
use std::time::{Duration, Instant};

use l3roamd::engine::{PROBE_INTERVAL, PROBE_RETRIES, RELEASE_HOLD, REMOVAL_DELAY};
use router::{
    Client, Monitor, PROTO_DAEMON, PROTO_RELEASED, ProcSample, Router, Seen, counter_changes,
    first_when, median, ms_between, ncip_times, quantile, route_times, thousands, timeline,
};

const USAGE: &str = "usage: cargo bench --bench scale -- [--clients N] [--spread-ms MS] \
[--max-clients M] [--no-frames] [--no-leave] [--quick]
  --clients N       clients, each with one IPv4 and two IPv6 addresses (default 5000)
  --spread-ms MS    they appear, and later leave, evenly spread over MS ms (default 1000)
  --max-clients M   the daemon's --max-clients (default: N, or its own 4096 when N is smaller)
  --no-frames       clients appear through neighbour entries only
  --no-leave        stop after the arrival (leaving takes the daemon's 120 s removal delay)
  --quick           300 clients, no leaving: a try in under a minute";

/// The timeline's resolution.
const STEP: Duration = Duration::from_millis(20);
/// How many `get_clients` calls are timed.
const GETS: usize = 5;

struct Options {
    clients: usize,
    spread: Duration,
    max_clients: Option<usize>,
    frames: bool,
    leave: bool,
}

fn parse_args() -> Option<Options> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if !args.iter().any(|a| a == "--bench") {
        return None;
    }
    let mut options = Options {
        clients: 5000,
        spread: Duration::from_millis(1000),
        max_clients: None,
        frames: true,
        leave: true,
    };
    let mut words = args.iter().filter(|a| *a != "--bench");
    let number = |word: Option<&String>, flag: &str| -> usize {
        word.and_then(|w| w.parse().ok())
            .unwrap_or_else(|| usage_exit(&format!("{flag} needs a number")))
    };
    while let Some(word) = words.next() {
        match word.as_str() {
            "--clients" => options.clients = number(words.next(), "--clients").max(1),
            "--spread-ms" => {
                options.spread = Duration::from_millis(number(words.next(), "--spread-ms") as u64)
            }
            "--max-clients" => options.max_clients = Some(number(words.next(), "--max-clients")),
            "--no-frames" => options.frames = false,
            "--no-leave" => options.leave = false,
            "--quick" => {
                options.clients = 300;
                options.leave = false;
            }
            "-h" | "--help" => {
                println!("{USAGE}");
                std::process::exit(0);
            }
            other => usage_exit(&format!("unknown argument {other}")),
        }
    }
    assert!(options.clients <= 65_000, "--clients: at most 65000");
    Some(options)
}

fn usage_exit(why: &str) -> ! {
    eprintln!("{why}\n{USAGE}");
    std::process::exit(2)
}

/// Waits until `done` holds for the monitor's replayed counts; the moment it first held.
fn wait_for(
    monitor: &Monitor,
    from: Instant,
    bound: Duration,
    what: &str,
    done: impl Fn(&router::Replay) -> bool,
) -> Option<Instant> {
    let start = Instant::now();
    let mut said = Instant::now();
    loop {
        let events = monitor.events();
        if let Some(at) = first_when(&events, from, &done) {
            return Some(at);
        }
        if start.elapsed() > bound {
            eprintln!("scale: {what}: not reached within {bound:?}");
            return None;
        }
        if said.elapsed() >= Duration::from_secs(10) {
            let mut replay = router::Replay::default();
            events.iter().for_each(|(_, seen)| replay.apply(seen));
            eprintln!(
                "scale: waiting for {what}: {} routes, {} demoted, {} node-client IPs",
                replay.daemon_routes, replay.released_routes, replay.node_client_ips
            );
            said = Instant::now();
        }
        thread::sleep(Duration::from_millis(100));
    }
}

fn secs(ticks: u64, hz: u64) -> f64 {
    ticks as f64 / hz as f64
}

fn mib(kib: u64) -> String {
    format!("{:.1} MiB", kib as f64 / 1024.0)
}

/// `median / p95 / max` of `values` in ms.
fn spread_ms(values: &[f64]) -> String {
    match (median(values), quantile(values, 95), quantile(values, 100)) {
        (Some(m), Some(p), Some(x)) => format!("{m:.0} / {p:.0} / {x:.0} ms"),
        _ => "-".to_string(),
    }
}

fn opt_ms(at: Option<Instant>, origin: Instant) -> String {
    at.map_or_else(
        || "not reached".to_string(),
        |at| format!("{:.0} ms", ms_between(origin, at)),
    )
}

fn main() {
    let Some(options) = parse_args() else {
        router::self_test();
        println!("scale: helpers checked (run with --bench to measure)");
        return;
    };
    let hz = router::ticks_per_second();
    let n = options.clients;
    let clients: Vec<Client> = (0..n as u32).map(Client::new).collect();
    let addresses = 3 * n;
    let out = router::bench_out();

    let mut extra = Vec::new();
    let max_clients = options.max_clients.or((n > 4096).then_some(n));
    if let Some(max) = max_clients {
        extra.extend(["--max-clients".to_string(), max.to_string()]);
    }
    let mut router = Router::up("scale");
    let args = router.daemon_args(&extra);
    router.start_daemon(args.clone());
    let idle = router.settle(Duration::from_millis(500), Duration::from_secs(10));
    let stats_start = router.counters();
    let fulls_start = router::neighbour_table_fulls();
    let mut monitor = Monitor::start(&router, options.frames);

    // ----- arrival -----
    eprintln!("scale: {n} clients arrive over {:?}", options.spread);
    let arrival = router::arrive(
        &router,
        &clients,
        options.spread,
        options.frames,
        &monitor.plain,
    );
    let t0 = arrival.entries_at[0];
    let bound = options.spread + Duration::from_secs(60);
    let routes_in = wait_for(&monitor, t0, bound, "every route", |r| {
        r.daemon_routes >= addresses
    });
    let ncips_in = wait_for(&monitor, t0, bound, "every node-client IP", |r| {
        r.node_client_ips >= n
    });
    let arrived = router.settle(Duration::from_secs(1), Duration::from_secs(30));
    router.assert_running();
    let stats_arrived = router.counters();
    let kernel_routes = router.count_routes(PROTO_DAEMON);
    let kernel_ncips = router.count_node_client_ips();
    let (neighbours, rewritten) = router.neighbours();
    let mut gets = Vec::new();
    let mut reply_len = 0;
    for _ in 0..GETS {
        let (reply, took) = router.control_timed("get_clients");
        reply_len = reply.len();
        gets.push(took.as_secs_f64() * 1e3);
    }
    let listed = netns::parse_client_list(&router.control("get_clients")).len();
    let events = monitor.events();
    let install = route_times(&events, t0, PROTO_DAEMON, true);
    let ncip_in_at = ncip_times(&events, t0, true);
    let mut route_delays = Vec::new();
    let mut ncip_delays = Vec::new();
    let mut delay_rows = String::from("# kind\tclient\taddress\tdelay_ms\n");
    for (i, client) in clients.iter().enumerate() {
        let announced = arrival.entries_at[i];
        for addr in client.addrs() {
            if let Some(at) = install.get(&addr) {
                let d = ms_between(announced, *at);
                route_delays.push(d);
                let _ = writeln!(delay_rows, "arrival\t{i}\t{addr}\t{d:.2}");
            }
        }
        if let Some(at) = ncip_in_at.get(&client.node_client_ip()) {
            ncip_delays.push(ms_between(announced, *at));
        }
    }
    let arrival_end = routes_in.max(ncips_in).unwrap_or_else(Instant::now);
    let arrival_line = timeline(
        &events,
        t0 - Duration::from_millis(100),
        arrival_end + Duration::from_millis(500),
        STEP,
    );

    // ----- leaving -----
    let mut leaving = None;
    if options.leave {
        let before = router.sample();
        eprintln!(
            "scale: the clients leave over {:?}; the daemon removes them {}s later",
            options.spread,
            REMOVAL_DELAY.as_secs()
        );
        let left = router::leave(&router, &clients, options.spread);
        let l0 = left.entries_at[0];
        let bound = options.spread + REMOVAL_DELAY + RELEASE_HOLD + Duration::from_secs(90);
        let routes_out = wait_for(&monitor, l0, bound, "no route left", |r| {
            r.daemon_routes == 0
        });
        let released_out = wait_for(&monitor, l0, bound, "no demoted route left", |r| {
            r.daemon_routes == 0 && r.released_routes == 0
        });
        let ncips_out = wait_for(&monitor, l0, bound, "no node-client IP left", |r| {
            r.node_client_ips == 0
        });
        let after = router.settle(Duration::from_secs(1), Duration::from_secs(30));
        router.assert_running();
        let stats_after = router.counters();
        let events = monitor.events();
        let demoted = route_times(&events, l0, PROTO_DAEMON, false);
        let deleted = route_times(&events, l0, PROTO_RELEASED, false);
        let ncip_gone = ncip_times(&events, l0, false);
        let (mut demote_work, mut delete_work, mut ncip_work) =
            (Vec::new(), Vec::new(), Vec::new());
        for (i, client) in clients.iter().enumerate() {
            let failed = left.entries_at[i];
            for addr in client.addrs() {
                if let Some(at) = demoted.get(&addr) {
                    let d = ms_between(failed, *at) - REMOVAL_DELAY.as_secs_f64() * 1e3;
                    demote_work.push(d);
                    let _ = writeln!(delay_rows, "leaving\t{i}\t{addr}\t{d:.2}");
                }
                if let Some(at) = deleted.get(&addr) {
                    delete_work.push(
                        ms_between(failed, *at)
                            - (REMOVAL_DELAY + RELEASE_HOLD).as_secs_f64() * 1e3,
                    );
                }
            }
            if let Some(at) = ncip_gone.get(&client.node_client_ip()) {
                ncip_work.push(ms_between(failed, *at) - REMOVAL_DELAY.as_secs_f64() * 1e3);
            }
        }
        let end = [routes_out, released_out, ncips_out]
            .into_iter()
            .flatten()
            .max()
            .unwrap_or_else(Instant::now);
        let line = timeline(
            &events,
            l0 - Duration::from_secs(1),
            end + Duration::from_secs(1),
            STEP,
        );
        leaving = Some(Leaving {
            l0,
            routes_out,
            released_out,
            ncips_out,
            demote_work,
            delete_work,
            ncip_work,
            before,
            after,
            stats_after,
            neighbours_left: router.neighbours().0,
            errors: left.entry_errors,
            line,
        });
    }
    monitor.stop();
    let end_sample = router.sample();
    let status = router.stop_daemon(Duration::from_secs(10));
    let overruns = monitor
        .events()
        .iter()
        .filter(|(_, s)| *s == Seen::Overrun)
        .count();
    let fulls_end = router::neighbour_table_fulls();
    drop(router);

    // ----- report -----
    let mut table = String::new();
    let _ = writeln!(
        table,
        "# scale: {} clients x 3 addresses over {} ms, {}",
        thousands(n as u64),
        options.spread.as_millis(),
        if options.frames {
            "neighbour entries and frames"
        } else {
            "neighbour entries only"
        }
    );
    let _ = writeln!(
        table,
        "# {}; l3roamd {}",
        router::what_ran(),
        args.join(" ")
    );
    let _ = writeln!(table);
    let _ = writeln!(table, "| arrival | figure | target |");
    let _ = writeln!(table, "| --- | ---: | --- |");
    let routes_total = routes_in.map(|at| ms_between(t0, at));
    let target_met = |ok: bool| if ok { "met" } else { "missed" };
    let _ = writeln!(
        table,
        "| all {} host routes in the kernel, from the first client | {} | < 2 s: {} |",
        thousands(addresses as u64),
        opt_ms(routes_in, t0),
        target_met(routes_total.is_some_and(|ms| ms < 2000.0))
    );
    let _ = writeln!(
        table,
        "| all {} node-client IPs on lo | {} | |",
        thousands(n as u64),
        opt_ms(ncips_in, t0)
    );
    if let Some(ms) = routes_total {
        let _ = writeln!(
            table,
            "| routes per second (all routes / that time) | {} | |",
            thousands((addresses as f64 / (ms / 1e3)) as u64)
        );
    }
    let _ = writeln!(
        table,
        "| delay from a client's announcement to its route: median / p95 / max | {} | |",
        spread_ms(&route_delays)
    );
    let _ = writeln!(
        table,
        "| ... to its node-client IP | {} | |",
        spread_ms(&ncip_delays)
    );
    let _ = writeln!(
        table,
        "| daemon CPU, arrival | {:.2} s | |",
        secs(arrived.cpu_ticks - idle.cpu_ticks, hz)
    );
    let _ = writeln!(
        table,
        "| peak RSS (VmHWM) after arrival; at the end (after `get_clients`{}) | {} ; {} | < 10 MB: {} |",
        if options.leave { ", leaving" } else { "" },
        mib(arrived.hwm_kib),
        mib(end_sample.hwm_kib),
        target_met(end_sample.hwm_kib * 1024 < 10_000_000)
    );
    let _ = writeln!(
        table,
        "| RSS before / after arrival | {} / {} | |",
        mib(idle.rss_kib),
        mib(arrived.rss_kib)
    );
    let _ = writeln!(
        table,
        "| open descriptors before / after arrival | {} / {} | |",
        idle.fds, arrived.fds
    );
    let _ = writeln!(
        table,
        "| `get_clients` with {} clients: median / max of {GETS} | {:.1} / {:.1} ms, {} bytes | |",
        thousands(listed as u64),
        median(&gets).unwrap_or(0.0),
        quantile(&gets, 100).unwrap_or(0.0),
        thousands(reply_len as u64)
    );
    let _ = writeln!(
        table,
        "| in the kernel after arrival (`ip`): proto-158 routes, node-client IPs | {} , {} | |",
        thousands(kernel_routes as u64),
        thousands(kernel_ncips as u64)
    );
    let _ = writeln!(
        table,
        "| neighbour entries on the bridge; of them written by the daemon (not extern_learn) | {} ; {} | |",
        thousands(neighbours as u64),
        rewritten
    );
    if options.frames {
        let _ = writeln!(
            table,
            "| clients whose frames were sent (stops at {} entries without extern_learn) | {} | |",
            router::PLAIN_ENTRY_GUARD,
            thousands(arrival.frames_at.len() as u64)
        );
    }
    if !arrival.entry_errors.is_empty() || arrival.frame_errors > 0 {
        let _ = writeln!(
            table,
            "| the bench's own failures: neighbour writes by errno, frames | {:?}, {} | |",
            arrival.entry_errors, arrival.frame_errors
        );
    }
    if let Some(l) = &leaving {
        let hold = REMOVAL_DELAY.as_secs_f64();
        let _ = writeln!(table);
        let _ = writeln!(
            table,
            "| leaving (entries FAILED over {} ms) | figure | of which the daemon's holds |",
            options.spread.as_millis()
        );
        let _ = writeln!(table, "| --- | ---: | --- |");
        let _ = writeln!(
            table,
            "| last proto-158 route gone (demoted), from the first failure | {} | {hold:.0} s removal delay |",
            opt_ms(l.routes_out, l.l0)
        );
        let _ = writeln!(
            table,
            "| last demoted (proto-159) route deleted | {} | {hold:.0} s + {:.0} s release hold |",
            opt_ms(l.released_out, l.l0),
            RELEASE_HOLD.as_secs_f64()
        );
        let _ = writeln!(
            table,
            "| last node-client IP gone | {} | {hold:.0} s |",
            opt_ms(l.ncips_out, l.l0)
        );
        let _ = writeln!(
            table,
            "| per address, route demoted after failure + {hold:.0} s: median / p95 / max | {} | work |",
            spread_ms(&l.demote_work)
        );
        let _ = writeln!(
            table,
            "| per address, demoted route deleted after failure + {:.0} s | {} | work |",
            hold + RELEASE_HOLD.as_secs_f64(),
            spread_ms(&l.delete_work)
        );
        let _ = writeln!(
            table,
            "| per client, node-client IP gone after failure + {hold:.0} s | {} | work |",
            spread_ms(&l.ncip_work)
        );
        let _ = writeln!(
            table,
            "| daemon CPU, leaving (including {} solicitations per address, {} ms apart) | {:.2} s | |",
            1 + PROBE_RETRIES,
            PROBE_INTERVAL.as_millis(),
            secs(l.after.cpu_ticks - l.before.cpu_ticks, hz)
        );
        let _ = writeln!(
            table,
            "| RSS after leaving; open descriptors | {} ; {} | |",
            mib(l.after.rss_kib),
            l.after.fds
        );
        let _ = writeln!(
            table,
            "| neighbour entries left on the bridge | {} | |",
            l.neighbours_left
        );
        if !l.errors.is_empty() {
            let _ = writeln!(
                table,
                "| the bench's failed writes by errno | {:?} | |",
                l.errors
            );
        }
    }
    let _ = writeln!(table);
    let _ = writeln!(
        table,
        "Counters (`get_stats`) that changed, before arrival → after arrival{}:",
        if leaving.is_some() {
            " → after leaving"
        } else {
            ""
        }
    );
    let _ = writeln!(table);
    let final_stats = leaving.as_ref().map_or(&stats_arrived, |l| &l.stats_after);
    for (key, before, _) in counter_changes(&stats_start, final_stats) {
        let mid = stats_arrived.get(&key).copied().unwrap_or(0);
        match &leaving {
            Some(_) => {
                let end = final_stats.get(&key).copied().unwrap_or(0);
                let _ = writeln!(table, "- `{key}`: {before} → {mid} → {end}");
            }
            None => {
                let _ = writeln!(table, "- `{key}`: {before} → {mid}");
            }
        }
    }
    let _ = writeln!(table);
    let _ = writeln!(
        table,
        "Kernel neighbour-table overflows during the run (global `table_fulls`): {}; the \
         monitor's own notification overruns: {overruns}; daemon exit on TERM: {status}.",
        fulls_end.saturating_sub(fulls_start)
    );
    print!("{table}");

    let mut tsv = String::from(
        "# arrival: ms since the first client\n# ms\tproto158\tproto159\tnode_client_ips\n",
    );
    for p in &arrival_line {
        let _ = writeln!(
            tsv,
            "{}\t{}\t{}\t{}",
            p.ms as i64 - 100,
            p.daemon_routes,
            p.released_routes,
            p.node_client_ips
        );
    }
    if let Some(l) = &leaving {
        tsv.push_str("\n\n# leaving: ms since the first failure\n# ms\tproto158\tproto159\tnode_client_ips\n");
        for p in &l.line {
            let _ = writeln!(
                tsv,
                "{}\t{}\t{}\t{}",
                p.ms as i64 - 1000,
                p.daemon_routes,
                p.released_routes,
                p.node_client_ips
            );
        }
    }
    write(&out.join("scale.tsv"), &tsv);
    write(&out.join("scale-delays.tsv"), &delay_rows);
    let summary: BTreeMap<&str, String> = [
        ("clients", n.to_string()),
        (
            "routes_ms",
            routes_total.map_or("-".into(), |ms| format!("{ms:.0}")),
        ),
        ("release_hold_s", RELEASE_HOLD.as_secs().to_string()),
        ("removal_delay_s", REMOVAL_DELAY.as_secs().to_string()),
    ]
    .into_iter()
    .collect();
    let mut meta = String::new();
    for (key, value) in summary {
        let _ = writeln!(meta, "{key}\t{value}");
    }
    write(&out.join("scale-summary.tsv"), &meta);
}

struct Leaving {
    l0: Instant,
    routes_out: Option<Instant>,
    released_out: Option<Instant>,
    ncips_out: Option<Instant>,
    demote_work: Vec<f64>,
    delete_work: Vec<f64>,
    ncip_work: Vec<f64>,
    before: ProcSample,
    after: ProcSample,
    stats_after: BTreeMap<String, u64>,
    neighbours_left: usize,
    errors: BTreeMap<i32, usize>,
    line: Vec<router::Point>,
}

fn write(path: &std::path::Path, text: &str) {
    fs::write(path, text).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
}
