//! Harness of the namespace end-to-end tests: the mesh of `tests/netns/mesh.sh` (the same one
//! the demo runs), real babeld, and the l3roamd binary on the routers.
//!
//! One mesh at a time in the whole test binary (the machines that run this have two cores,
//! and babeld's timing is what the tests measure). Every run keeps its logs in
//! `target/netns-logs/<test>/`; a failing test prints their paths. The mesh is torn down by
//! [`Mesh`]'s `Drop` on success and on panic, and by mesh.sh's watchdog if the test process
//! dies without unwinding (Ctrl-C, SIGKILL).
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::fs::{self, File};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{IpAddr, Ipv6Addr};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use nix::sys::signal::{self, Signal};
use nix::unistd::Pid;

#[path = "../stats/mod.rs"]
pub mod stats;

pub const MESH_SH: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/netns/mesh.sh");

/// What CI and a developer machine need for these tests.
pub const INSTALL_HINT: &str =
    "apt-get install -y babeld iproute2 iputils-ping procps coreutils util-linux";

static ONE_MESH_AT_A_TIME: Mutex<()> = Mutex::new(());

/// How the mesh is built.
#[derive(Clone, Copy, Debug, Default)]
pub struct Topology {
    /// Gluon's layout: the gateway MAC and addresses on a `local-node` macvlan on top of
    /// `br-client` instead of on the bridge itself.
    pub local_node: bool,
    /// Clients on r1's bridge at the start (mesh.sh `--clients`, at most 9): `cli`, then
    /// `cli2`, `cli3`, ...; 0 means 1.
    pub clients: usize,
}

/// One client of the mesh, as mesh.env names it.
#[derive(Clone, Debug)]
pub struct Client {
    /// Its namespace's node name (`cli`, `cli2`, ...).
    pub name: String,
    pub mac: String,
    pub ip6: String,
    pub ip4: String,
    /// Its node-client IP (behaviour.md §2.1).
    pub ncip: String,
}

pub struct Daemon {
    pub router: String,
    pub args: Vec<String>,
    pub log: PathBuf,
    child: Child,
    exit: Option<ExitStatus>,
}

impl Daemon {
    pub fn pid(&self) -> u32 {
        self.child.id()
    }
}

pub struct Mesh {
    pub test: String,
    pub dir: PathBuf,
    env: BTreeMap<String, String>,
    daemons: BTreeMap<String, Daemon>,
    pingers: Vec<Pinger>,
    torn_down: bool,
    _one_at_a_time: MutexGuard<'static, ()>,
}

/// The binary under test: the l3roamd cargo built, unless `L3ROAMD_BIN` names another build
/// (a cross-built or older one, or the C daemon for comparison).
pub fn daemon_binary() -> PathBuf {
    match std::env::var_os("L3ROAMD_BIN") {
        Some(path) => fs::canonicalize(&path)
            .unwrap_or_else(|err| panic!("L3ROAMD_BIN={}: {err}", Path::new(&path).display())),
        None => PathBuf::from(env!("CARGO_BIN_EXE_l3roamd")),
    }
}

fn logs_root() -> PathBuf {
    // CARGO_TARGET_TMPDIR is <target>/tmp: keep the logs beside it, where CI can collect them.
    Path::new(env!("CARGO_TARGET_TMPDIR"))
        .parent()
        .expect("target dir")
        .join("netns-logs")
}

fn on_path(tool: &str) -> bool {
    let path = std::env::var("PATH").unwrap_or_default();
    path.split(':')
        .chain(["/usr/sbin", "/sbin"])
        .any(|dir| Path::new(dir).join(tool).is_file())
}

fn is_root() -> bool {
    let status = fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|line| line.strip_prefix("Uid:"))
        .and_then(|uids| uids.split_whitespace().nth(1))
        == Some("0")
}

/// These tests must fail, never skip, where they cannot run: a green run that tested nothing
/// would hide that the daemon was never exercised against the kernel.
fn preflight() {
    let mut missing = Vec::new();
    if !is_root() {
        missing.push("root (network namespaces need CAP_SYS_ADMIN and CAP_NET_ADMIN): run `sudo -E cargo test` or ./scripts/test.sh as root".to_string());
    }
    // With BABELD_BIN, mesh.sh runs that babeld and checks it itself.
    let babeld = std::env::var_os("BABELD_BIN").is_none().then_some("babeld");
    let tools: Vec<&str> = babeld
        .into_iter()
        .chain([
            "ip", "bridge", "ping", "sysctl", "stdbuf", "flock", "setsid",
        ])
        .filter(|tool| !on_path(tool))
        .collect();
    if !tools.is_empty() {
        missing.push(format!("{} (install: {INSTALL_HINT})", tools.join(", ")));
    }
    assert!(
        missing.is_empty(),
        "the netns end-to-end tests cannot run; missing: {}",
        missing.join("; ")
    );
}

/// Runs a command to completion; panics with its output if it fails.
pub fn run(cmd: &mut Command) -> String {
    let out = cmd.output().unwrap_or_else(|err| panic!("{cmd:?}: {err}"));
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "{cmd:?} failed ({}):\n{stdout}{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}

fn tail(path: &Path, lines: usize) -> String {
    let text = fs::read_to_string(path).unwrap_or_else(|err| format!("(cannot read: {err})"));
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}

/// Polls `check` every 50 ms until it returns `Ok` or `bound` has passed; returns how long it
/// took, or the last error.
pub fn eventually<T>(
    bound: Duration,
    mut check: impl FnMut() -> Result<T, String>,
) -> Result<(T, Duration), String> {
    let start = Instant::now();
    loop {
        match check() {
            Ok(value) => return Ok((value, start.elapsed())),
            Err(err) if start.elapsed() >= bound => {
                return Err(format!("{err} (still, after {bound:?})"));
            }
            Err(_) => thread::sleep(Duration::from_millis(50)),
        }
    }
}

impl Mesh {
    /// Builds the mesh for `test` and waits until babeld has converged.
    pub fn up(test: &str, topology: Topology) -> Mesh {
        let guard = ONE_MESH_AT_A_TIME
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        preflight();
        let dir = logs_root().join(test);
        if dir.join("mesh.env").exists() {
            // A mesh of an earlier run whose process died goes down through its watchdog
            // within a second; one that stays up belongs to a run still going, which must
            // not be disturbed.
            let start = Instant::now();
            while !dir.join("down").exists() {
                assert!(
                    start.elapsed() < Duration::from_secs(5),
                    "{} holds a mesh that is still up: another run of this test? \
                     (if not: bash {MESH_SH} down {})",
                    dir.display(),
                    dir.display()
                );
                thread::sleep(Duration::from_millis(100));
            }
        }
        if dir.exists() {
            fs::remove_dir_all(&dir).unwrap_or_else(|err| panic!("{}: {err}", dir.display()));
        }
        fs::create_dir_all(&dir).unwrap_or_else(|err| panic!("{}: {err}", dir.display()));
        let mut cmd = Command::new("bash");
        cmd.arg(MESH_SH)
            .arg("up")
            .arg(&dir)
            .arg("--owner")
            .arg(std::process::id().to_string());
        if topology.local_node {
            cmd.arg("--local-node");
        }
        if topology.clients > 1 {
            cmd.arg("--clients").arg(topology.clients.to_string());
        }
        let out = cmd.output().expect("run mesh.sh");
        if !out.status.success() {
            panic!(
                "mesh.sh up failed ({}):\n{}{}\nlogs: {}",
                out.status,
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr),
                dir.display()
            );
        }
        let env = parse_env(&dir.join("mesh.env"));
        Mesh {
            test: test.to_string(),
            dir,
            env,
            daemons: BTreeMap::new(),
            pingers: Vec::new(),
            torn_down: false,
            _one_at_a_time: guard,
        }
    }

    /// A value from mesh.env (names and addresses of the topology).
    pub fn var(&self, key: &str) -> &str {
        self.env
            .get(key)
            .unwrap_or_else(|| panic!("mesh.env has no {key}"))
    }

    pub fn ns(&self, node: &str) -> String {
        self.var(&format!("NS_{}", node.to_uppercase())).to_string()
    }

    pub fn node_ip(&self, router: &str) -> String {
        self.var(&format!("NODE_IP_{}", router.to_uppercase()))
            .to_string()
    }

    pub fn socket(&self, router: &str) -> PathBuf {
        Path::new(self.var("MESH_RUN")).join(format!("l3roamd-{router}.sock"))
    }

    /// `ip netns exec <node's namespace> args...`
    pub fn cmd(&self, node: &str, args: &[&str]) -> Command {
        let mut cmd = Command::new("ip");
        cmd.args(["netns", "exec", &self.ns(node)]).args(args);
        cmd
    }

    pub fn sh(&self, node: &str, args: &[&str]) -> String {
        run(&mut self.cmd(node, args))
    }

    fn mesh_sh(&self, args: &[&str]) -> String {
        run(Command::new("bash").arg(MESH_SH).args(args))
    }

    fn dir_str(&self) -> String {
        self.dir.to_string_lossy().into_owned()
    }

    /// Attaches the rogue namespace to r2 (mesh.sh `rogue`) and opens its UDP socket. r2's
    /// daemon hears the rogue's multicast only once the link is one of its mesh interfaces
    /// (`add_meshif`, as Gluon does for a new mesh link); unicast reaches every node IP and
    /// node-client IP through r2.
    pub fn attach_rogue(&mut self) -> Rogue {
        let dir = self.dir_str();
        self.mesh_sh(&["rogue", &dir]);
        self.env = parse_env(&self.dir.join("mesh.env"));
        Rogue::open(self)
    }

    /// The daemon's command line on `router` as the demo uses it (`gluon`: Gluon's exact one).
    pub fn daemon_args(&self, router: &str, gluon: bool) -> Vec<String> {
        let dir = self.dir_str();
        let mut args = vec!["daemon-args", dir.as_str(), router];
        if gluon {
            args.push("--gluon");
        }
        self.mesh_sh(&args).lines().map(str::to_string).collect()
    }

    /// Starts l3roamd on `router` with `args` and waits until it is up: its control socket
    /// exists and it is still running half a second later. Panics with the log's tail if it
    /// exits before.
    pub fn start_daemon(&mut self, router: &str, args: Vec<String>) {
        assert!(
            !self.daemons.contains_key(router),
            "l3roamd already runs on {router}"
        );
        let log = self.dir.join(format!("l3roamd-{router}.log"));
        let mut file = File::options()
            .create(true)
            .append(true)
            .open(&log)
            .unwrap_or_else(|err| panic!("{}: {err}", log.display()));
        writeln!(file, "### {router}: l3roamd {args:?}").unwrap();
        let err_file = file.try_clone().unwrap();
        let bin = daemon_binary();
        let child = Command::new("ip")
            .args(["netns", "exec", &self.ns(router)])
            .arg(&bin)
            .args(&args)
            .env("MESH_ENV", self.dir.join("mesh.env"))
            .stdin(Stdio::null())
            .stdout(Stdio::from(file))
            .stderr(Stdio::from(err_file))
            .spawn()
            .unwrap_or_else(|err| panic!("start {}: {err}", bin.display()));
        // So that the watchdog stops it if this process dies; a daemon already gone needs
        // no stopping.
        let _ = Command::new("bash")
            .arg(MESH_SH)
            .args(["track", &self.dir_str(), &child.id().to_string()])
            .arg(format!("l3roamd-{router}"))
            .stderr(Stdio::null())
            .status();
        self.daemons.insert(
            router.to_string(),
            Daemon {
                router: router.to_string(),
                args,
                log,
                child,
                exit: None,
            },
        );
        let socket = self.socket(router);
        let has_socket = self.daemons[router].args.iter().any(|a| a == "-s");
        let start = Instant::now();
        while has_socket && !socket.exists() {
            self.assert_running(router);
            assert!(
                start.elapsed() < Duration::from_secs(10),
                "l3roamd on {router} made no control socket {} in 10 s; log {}:\n{}",
                socket.display(),
                self.daemons[router].log.display(),
                tail(&self.daemons[router].log, 20)
            );
            thread::sleep(Duration::from_millis(50));
        }
        // Startup goes on after the socket (tun, netlink dumps, binding the node IP), and
        // can still fail there.
        thread::sleep(Duration::from_millis(500));
        self.assert_running(router);
    }

    /// The standard daemon on every router, as in the demo.
    pub fn start_daemons(&mut self) {
        for router in self.routers() {
            let args = self.daemon_args(&router, false);
            self.start_daemon(&router, args);
        }
    }

    pub fn routers(&self) -> Vec<String> {
        self.var("ROUTERS")
            .split_whitespace()
            .map(str::to_string)
            .collect()
    }

    pub fn daemon(&self, router: &str) -> &Daemon {
        &self.daemons[router]
    }

    /// Panics, with the log's tail, if the daemon on `router` has exited.
    pub fn assert_running(&mut self, router: &str) {
        let daemon = self
            .daemons
            .get_mut(router)
            .unwrap_or_else(|| panic!("no l3roamd was started on {router}"));
        if daemon.exit.is_none() {
            daemon.exit = daemon.child.try_wait().expect("try_wait");
        }
        if let Some(status) = daemon.exit {
            panic!(
                "l3roamd on {router} exited early ({status}); log {}:\n{}",
                daemon.log.display(),
                tail(&daemon.log, 20)
            );
        }
    }

    pub fn assert_all_running(&mut self) {
        let routers: Vec<String> = self.daemons.keys().cloned().collect();
        for router in routers {
            self.assert_running(&router);
        }
    }

    pub fn signal_daemon(&mut self, router: &str, sig: Signal) {
        let pid = self.daemons[router].pid();
        signal::kill(Pid::from_raw(pid as i32), sig)
            .unwrap_or_else(|err| panic!("kill -{sig} l3roamd on {router} ({pid}): {err}"));
    }

    /// Waits up to `bound` for the daemon on `router` to exit; forgets it.
    pub fn wait_daemon_exit(&mut self, router: &str, bound: Duration) -> ExitStatus {
        let start = Instant::now();
        let mut daemon = self.daemons.remove(router).expect("daemon");
        loop {
            if let Some(status) = daemon
                .exit
                .or_else(|| daemon.child.try_wait().expect("try_wait"))
            {
                return status;
            }
            if start.elapsed() > bound {
                let _ = daemon.child.kill();
                let _ = daemon.child.wait();
                panic!(
                    "l3roamd on {router} still ran {bound:?} after the signal; log {}:\n{}",
                    daemon.log.display(),
                    tail(&daemon.log, 20)
                );
            }
            thread::sleep(Duration::from_millis(20));
        }
    }

    /// Moves the client's port to `to` (r1 or r3): its carrier drops and returns.
    pub fn roam(&self, to: &str) {
        self.mesh_sh(&["roam", &self.dir_str(), to]);
    }

    /// Moves client `name`'s port to `to`, as [`Mesh::roam`] does `cli`'s.
    pub fn roam_client(&self, name: &str, to: &str) {
        self.mesh_sh(&["roam", &self.dir_str(), to, "--client", name]);
    }

    /// The clients' names (`cli` first).
    pub fn clients(&self) -> Vec<String> {
        self.var("CLIENTS")
            .split_whitespace()
            .map(str::to_string)
            .collect()
    }

    pub fn client(&self, name: &str) -> Client {
        let of = |what: &str| {
            self.var(&format!("CLIENT_{what}_{}", name.to_uppercase()))
                .to_string()
        };
        Client {
            name: name.to_string(),
            mac: of("MAC"),
            ip6: of("IP6"),
            ip4: of("IP4"),
            ncip: of("NCIP"),
        }
    }

    /// Deletes `router`'s mesh link toward `peer` and makes it anew (new interface indexes on
    /// both ends), then waits up to `bound` for babeld to route across it again.
    pub fn relink(&self, router: &str, peer: &str, bound: Duration) {
        self.mesh_sh(&["relink", &self.dir_str(), router, peer]);
        self.wait_converged(bound);
    }

    /// Deletes `router`'s client bridge and makes it anew with the same ports (a new
    /// interface index).
    pub fn rebridge(&self, router: &str) {
        self.mesh_sh(&["rebridge", &self.dir_str(), router]);
    }

    /// Waits up to `bound` (whole seconds) for babeld to route between the routers and to
    /// the server.
    pub fn wait_converged(&self, bound: Duration) {
        let secs = bound.as_secs().max(1).to_string();
        self.mesh_sh(&["wait-converged", &self.dir_str(), &secs]);
    }

    /// The interface index of `dev` in `node`'s namespace.
    pub fn ifindex(&self, node: &str, dev: &str) -> u32 {
        let path = format!("/sys/class/net/{dev}/ifindex");
        self.sh(node, &["cat", &path])
            .trim()
            .parse()
            .unwrap_or_else(|err| panic!("ifindex of {dev} in {node}: {err}"))
    }

    pub fn client_at(&self) -> String {
        self.client_at_of("cli")
    }

    /// The router client `name`'s port is at.
    pub fn client_at_of(&self, name: &str) -> String {
        let file = match name {
            "cli" => "client-at".to_string(),
            other => format!("client-at-{other}"),
        };
        fs::read_to_string(self.dir.join(&file))
            .unwrap_or_else(|err| panic!("{file}: {err}"))
            .trim()
            .to_string()
    }

    /// Starts `ping -i 0.01` from `node` to `addr`, recording when each reply arrives. It
    /// asks for an echo every 10 ms, but iputils' ping waits for the next one in a socket
    /// timeout, which the kernel rounds up to whole jiffies: on a 250 Hz kernel the echoes
    /// go out about every 16 ms. (Below 10 ms it would keep time, but by spinning: most of a
    /// core per ping.)
    pub fn start_pinger(&mut self, node: &str, addr: &str) -> usize {
        let pinger = Pinger::start(self, node, addr);
        self.pingers.push(pinger);
        self.pingers.len() - 1
    }

    pub fn pinger(&self, index: usize) -> &Pinger {
        &self.pingers[index]
    }

    pub fn stop_pingers(&mut self) {
        for mut pinger in self.pingers.drain(..) {
            pinger.stop();
        }
    }

    /// Pings `addr` from `node` every 10 ms until the first reply; how long that took.
    pub fn reach(&mut self, node: &str, addr: &str, bound: Duration) -> Result<Duration, String> {
        let mut pinger = Pinger::start(self, node, addr);
        let start = Instant::now();
        let result = eventually(bound, || {
            pinger
                .first_reply_after(start)
                .map(|at| at - start)
                .ok_or_else(|| format!("no echo reply from {addr} to {node}"))
        });
        pinger.stop();
        self.assert_all_running();
        result.map(|(took, _)| took)
    }

    /// Proto-158 routes of `family` ("-6" or "-4") in table 254, one line each.
    pub fn daemon_routes(&self, router: &str, family: &str) -> Vec<String> {
        self.routes_of_protocol(router, family, "158")
    }

    /// The routes the daemon demoted when it released a client (`--release-protocol`, 159 by
    /// default; the mesh runs the default), in table 254 like the routes they replaced. They
    /// stay for the hold (1 s) and must be gone after it.
    pub fn demoted_routes(&self, router: &str, family: &str) -> Vec<String> {
        self.routes_of_protocol(router, family, "159")
    }

    fn routes_of_protocol(&self, router: &str, family: &str, protocol: &str) -> Vec<String> {
        self.sh(
            router,
            &[
                "ip", family, "route", "show", "table", "254", "proto", protocol,
            ],
        )
        .lines()
        .map(str::to_string)
        .collect()
    }

    /// The IPv6 addresses on lo, without prefix length.
    pub fn lo_addrs(&self, router: &str) -> Vec<String> {
        self.sh(router, &["ip", "-6", "-o", "addr", "show", "dev", "lo"])
            .lines()
            .filter_map(|line| line.split_whitespace().nth(3))
            .map(|addr| addr.split('/').next().unwrap_or(addr).to_string())
            .collect()
    }

    /// What a clean shutdown must restore: every route of every table, except babeld's own
    /// (they move with the mesh on their own), and lo's addresses. Sorted, so that the kernel's
    /// listing order does not matter.
    pub fn snapshot(&self, router: &str) -> Vec<String> {
        let mut lines = Vec::new();
        for family in ["-4", "-6"] {
            let out = self.sh(router, &["ip", family, "route", "show", "table", "all"]);
            lines.extend(
                out.lines()
                    .filter(|line| !line.contains(" proto babel"))
                    .map(|line| format!("route{family} {line}")),
            );
        }
        lines.extend(
            self.lo_addrs(router)
                .into_iter()
                .map(|addr| format!("lo {addr}")),
        );
        lines.sort();
        lines
    }

    /// One counter of `get_stats` on `router` (`group.name`), 0 when it is not reported.
    pub fn counter(&self, router: &str, key: &str) -> u64 {
        self.counters(router).get(key).copied().unwrap_or(0)
    }

    /// The daemon's counters on `router`, by `group.name` as `get_stats` reports them.
    pub fn counters(&self, router: &str) -> BTreeMap<String, u64> {
        let reply = self.control(router, "get_stats");
        let mut counters = BTreeMap::new();
        let inner = reply.trim().trim_start_matches('{').trim_end_matches('}');
        for group in inner.split(" }, ") {
            let Some((name, fields)) = group.split_once(": { ") else {
                panic!("get_stats on {router}: not a group: {group:?} in {reply}");
            };
            for field in fields.trim_end_matches([' ', '}']).split(", ") {
                let parsed = field
                    .split_once(": ")
                    .and_then(|(key, value)| Some((key, value.parse::<u64>().ok()?)));
                let Some((key, value)) = parsed else {
                    panic!("get_stats on {router}: not a counter: {field:?} in {reply}");
                };
                let key = format!(
                    "{}.{}",
                    name.trim().trim_matches('"'),
                    key.trim_matches('"')
                );
                counters.insert(key, value);
            }
        }
        counters
    }

    /// The daemon's peak resident memory on `router` (VmHWM), in KiB.
    pub fn daemon_peak_rss_kib(&self, router: &str) -> u64 {
        let pid = self.daemons[router].pid();
        let status = fs::read_to_string(format!("/proc/{pid}/status")).expect("daemon status");
        status
            .lines()
            .find_map(|line| line.strip_prefix("VmHWM:"))
            .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse().ok())
            .expect("VmHWM in /proc/PID/status")
    }

    /// One of the kernel's SNMP counters in `node`'s namespace, named as in /proc/net/snmp6
    /// (`Icmp6InEchos`), or as /proc/net/snmp's group and field joined (`IcmpInEchos`).
    pub fn snmp(&self, node: &str, name: &str) -> u64 {
        let v6 = self.sh(node, &["cat", "/proc/net/snmp6"]);
        let found = v6.lines().find_map(|line| {
            let mut words = line.split_whitespace();
            (words.next() == Some(name)).then(|| words.next()?.parse().ok())?
        });
        if let Some(value) = found {
            return value;
        }
        let v4 = self.sh(node, &["cat", "/proc/net/snmp"]);
        let lines: Vec<&str> = v4.lines().collect();
        for pair in lines.chunks(2) {
            let [names, values] = pair else { continue };
            let (group, names) = names.split_once(": ").unwrap_or(("", ""));
            let values = values.split_once(": ").map_or("", |(_, v)| v);
            for (field, value) in names.split_whitespace().zip(values.split_whitespace()) {
                if format!("{group}{field}") == name {
                    return value.parse().expect("a number");
                }
            }
        }
        panic!("no SNMP counter {name} in {node}");
    }

    /// What babeld on `router` knows, as its local interface dumps it (`add route ...`,
    /// `add xroute ...`, one a line), or why it could not be read.
    pub fn babeld_dump(&self, router: &str) -> String {
        let path = Path::new(self.var("MESH_RUN")).join(format!("babeld-{router}.sock"));
        let dump = || -> std::io::Result<String> {
            let mut stream = UnixStream::connect(&path)?;
            stream.set_read_timeout(Some(Duration::from_secs(2)))?;
            stream.write_all(b"dump\n")?;
            // The header ends with `ok`, and so does the dump.
            let mut text = String::new();
            let mut reader = BufReader::new(stream);
            let mut oks = 0;
            while oks < 2 {
                let mut line = String::new();
                if reader.read_line(&mut line)? == 0 {
                    break;
                }
                oks += usize::from(line.trim_end() == "ok");
                text.push_str(&line);
            }
            Ok(text)
        };
        dump().unwrap_or_else(|err| format!("(babeld at {}: {err})\n", path.display()))
    }

    /// Every router's routes, lo addresses and babeld's view into `path`: what a failed check
    /// leaves behind for whoever looks into it after the mesh is gone.
    pub fn save_state(&self, path: &Path) {
        let mut text = String::new();
        for router in self.routers() {
            for (what, args) in [
                (
                    "IPv6 routes",
                    &["ip", "-6", "route", "show", "table", "all"][..],
                ),
                (
                    "IPv4 routes",
                    &["ip", "-4", "route", "show", "table", "all"][..],
                ),
                ("lo", &["ip", "-6", "-o", "addr", "show", "dev", "lo"][..]),
            ] {
                let out = self.cmd(&router, args).output();
                let out = out.map_or_else(
                    |err| err.to_string(),
                    |out| String::from_utf8_lossy(&out.stdout).into_owned(),
                );
                text.push_str(&format!("### {router}: {what}\n{out}"));
            }
            text.push_str(&format!(
                "### {router}: babeld dump\n{}",
                self.babeld_dump(&router)
            ));
        }
        if let Err(err) = fs::write(path, text) {
            eprintln!("{}: {err}", path.display());
        }
    }

    /// One control-socket command on `router`; the reply up to the daemon's close.
    pub fn control(&self, router: &str, command: &str) -> String {
        let path = self.socket(router);
        let mut stream = UnixStream::connect(&path)
            .unwrap_or_else(|err| panic!("connect {}: {err}", path.display()));
        stream
            .set_read_timeout(Some(Duration::from_secs(5)))
            .unwrap();
        stream.write_all(format!("{command}\n").as_bytes()).unwrap();
        let mut reply = String::new();
        stream
            .read_to_string(&mut reply)
            .unwrap_or_else(|err| panic!("{command} on {router}: {err}"));
        reply
    }

    /// Stops everything; also what `Drop` does.
    pub fn down(&mut self) {
        if self.torn_down {
            return;
        }
        self.torn_down = true;
        self.stop_pingers();
        for daemon in self.daemons.values_mut() {
            if daemon.exit.is_none() && daemon.child.try_wait().ok().flatten().is_none() {
                let _ = signal::kill(Pid::from_raw(daemon.child.id() as i32), Signal::SIGTERM);
            }
        }
        let status = Command::new("bash")
            .arg(MESH_SH)
            .arg("down")
            .arg(&self.dir)
            .status();
        for daemon in self.daemons.values_mut() {
            let _ = daemon.child.kill();
            let _ = daemon.child.wait();
        }
        if !matches!(status, Ok(s) if s.success()) {
            eprintln!("mesh.sh down {} failed: {status:?}", self.dir.display());
        }
    }

    fn print_logs(&self) {
        eprintln!("--- {}: logs in {}", self.test, self.dir.display());
        let mut files: Vec<PathBuf> = fs::read_dir(&self.dir)
            .map(|entries| entries.filter_map(|e| e.ok().map(|e| e.path())).collect())
            .unwrap_or_default();
        files.sort();
        for file in files {
            let name = file.file_name().unwrap_or_default().to_string_lossy();
            if name.ends_with(".log") || name.ends_with(".conf") || name == "mesh.env" {
                eprintln!("    {}", file.display());
            }
        }
    }
}

impl Drop for Mesh {
    fn drop(&mut self) {
        if thread::panicking() {
            self.print_logs();
        }
        self.down();
    }
}

fn parse_env(path: &Path) -> BTreeMap<String, String> {
    let text = fs::read_to_string(path).unwrap_or_else(|err| panic!("{}: {err}", path.display()));
    text.lines()
        .filter(|line| !line.starts_with('#'))
        .filter_map(|line| line.split_once('='))
        .map(|(key, value)| (key.to_string(), value.trim_matches('"').to_string()))
        .collect()
}

/// A stranger on a mesh link: a UDP socket bound to port 5523 inside the rogue namespace,
/// sending whatever bytes a test forges. The socket was opened by a thread that entered the
/// namespace; a socket belongs to the namespace it was created in, so it can be used from
/// any thread afterwards.
pub struct Rogue {
    socket: std::net::UdpSocket,
    /// The rogue's link toward r2, in the rogue namespace (the scope of multicast sends).
    ifindex: u32,
    /// The rogue's own address (on its loopback), routed back to it by r2 only.
    pub addr: std::net::Ipv6Addr,
    /// r2's end of the rogue's link, to give to r2's daemon as a mesh interface.
    pub peer_if: String,
}

impl Rogue {
    fn open(mesh: &Mesh) -> Rogue {
        let ns = PathBuf::from("/run/netns").join(mesh.var("NS_ROGUE"));
        let socket = thread::spawn(move || {
            l3roamd::sys::netns::enter_network_namespace(&ns).unwrap_or_else(|err| panic!("{err}"));
            std::net::UdpSocket::bind("[::]:5523")
        })
        .join()
        .expect("the thread that opens the rogue's socket")
        .expect("bind [::]:5523 in the rogue namespace");
        let link = mesh.sh("rogue", &["ip", "-o", "link", "show", mesh.var("ROGUE_IF")]);
        let ifindex = link
            .split(':')
            .next()
            .and_then(|index| index.trim().parse().ok())
            .unwrap_or_else(|| panic!("no ifindex in {link:?}"));
        Rogue {
            socket,
            ifindex,
            addr: mesh.var("ROGUE_IP6").parse().expect("ROGUE_IP6"),
            peer_if: mesh.var("ROGUE_PEER_IF").to_string(),
        }
    }

    /// Sends `bytes` to `dst` port 5523; a link-local or multicast `dst` goes out on the
    /// rogue's link.
    pub fn send(&self, dst: std::net::Ipv6Addr, bytes: &[u8]) -> std::io::Result<usize> {
        let scope = if dst.is_multicast() || dst.is_unicast_link_local() {
            self.ifindex
        } else {
            0
        };
        self.socket
            .send_to(bytes, std::net::SocketAddrV6::new(dst, 5523, 0, scope))
    }

    /// The socket itself: to receive what the daemons answer, or set options.
    pub fn socket(&self) -> &std::net::UdpSocket {
        &self.socket
    }
}

/// One echo reply, as a [`Pinger`] saw it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct EchoReply {
    /// When its line was read from ping's output.
    pub at: Instant,
    /// The echo's sequence number (`icmp_seq`, which ping counts from 1 and wraps at 65536),
    /// `None` if the line had none.
    pub seq: Option<u16>,
}

/// The `icmp_seq` of one line of ping's output.
pub fn echo_seq(line: &str) -> Option<u16> {
    let rest = &line[line.find(" icmp_seq=")? + " icmp_seq=".len()..];
    let digits = rest
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(rest.len());
    rest[..digits].parse().ok()
}

/// The largest gap between consecutive `replies` (in order) after `from` until `until`,
/// counting the gap from the last of them to `until`; all of it if none came.
pub fn largest_gap(replies: &[Instant], from: Instant, until: Instant) -> Duration {
    let mut times: Vec<Instant> = replies
        .iter()
        .copied()
        .filter(|&at| at > from && at <= until)
        .collect();
    if times.is_empty() {
        return until.saturating_duration_since(from);
    }
    times.push(until);
    times
        .windows(2)
        .map(|pair| pair[1] - pair[0])
        .max()
        .unwrap_or_default()
}

/// A `ping -i 0.01` in a namespace; a thread records when each echo reply arrives.
pub struct Pinger {
    pub node: String,
    pub addr: String,
    child: Child,
    replies: Arc<Mutex<Vec<EchoReply>>>,
    /// ICMP errors ping reported ("From <router> icmp_seq=N Time to live exceeded"), with
    /// when each arrived.
    errors: Arc<Mutex<Vec<(Instant, String)>>>,
    reader: Option<JoinHandle<()>>,
    log: PathBuf,
}

impl Pinger {
    fn start(mesh: &Mesh, node: &str, addr: &str) -> Pinger {
        let log = mesh
            .dir
            .join(format!("ping-{node}-{}.log", addr.replace([':', '.'], "_")));
        // stdbuf: ping block-buffers a pipe, and each reply must be seen as it comes.
        let mut child = mesh
            .cmd(
                node,
                &["stdbuf", "-oL", "ping", "-n", "-D", "-i", "0.01", addr],
            )
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("start ping");
        let stdout = child.stdout.take().expect("ping stdout");
        let replies = Arc::new(Mutex::new(Vec::new()));
        let seen = Arc::clone(&replies);
        let errors = Arc::new(Mutex::new(Vec::new()));
        let seen_errors = Arc::clone(&errors);
        let mut copy = File::options().create(true).append(true).open(&log).ok();
        let reader = thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if line.contains(" bytes from ") {
                    let reply = EchoReply {
                        at: Instant::now(),
                        seq: echo_seq(&line),
                    };
                    seen.lock()
                        .unwrap_or_else(PoisonError::into_inner)
                        .push(reply);
                } else if line.contains("] From ") {
                    seen_errors
                        .lock()
                        .unwrap_or_else(PoisonError::into_inner)
                        .push((Instant::now(), line.clone()));
                }
                if let Some(file) = copy.as_mut() {
                    let _ = writeln!(file, "{line}");
                }
            }
        });
        Pinger {
            node: node.to_string(),
            addr: addr.to_string(),
            child,
            replies,
            errors,
            reader: Some(reader),
            log,
        }
    }

    fn replies(&self) -> Vec<Instant> {
        self.echo_replies()
            .into_iter()
            .map(|reply| reply.at)
            .collect()
    }

    /// Every echo reply so far, in the order they arrived.
    pub fn echo_replies(&self) -> Vec<EchoReply> {
        self.replies
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    pub fn first_reply_after(&self, t: Instant) -> Option<Instant> {
        self.replies().into_iter().find(|&at| at > t)
    }

    /// The largest gap between consecutive replies from one second before `t` until now,
    /// counting a gap that is still open (the cut a move at `t` caused).
    pub fn cut_around(&self, t: Instant) -> Duration {
        self.largest_gap_since(t.checked_sub(Duration::from_secs(1)).unwrap_or(t))
    }

    /// The largest gap between consecutive replies after `from` until now, counting a gap
    /// that is still open.
    pub fn largest_gap_since(&self, from: Instant) -> Duration {
        largest_gap(&self.replies(), from, Instant::now())
    }

    /// The first reply after `from` since which no gap (a still open one included) exceeded
    /// `gap`: when traffic came back for good. `None` while it is cut.
    pub fn steady_since(&self, from: Instant, gap: Duration) -> Option<Instant> {
        let replies: Vec<Instant> = self.replies().into_iter().filter(|&at| at > from).collect();
        let last = *replies.last()?;
        if last.elapsed() > gap {
            return None;
        }
        let broken = replies.windows(2).rposition(|pair| pair[1] - pair[0] > gap);
        Some(broken.map_or(replies[0], |i| replies[i + 1]))
    }

    /// The ICMP errors ping reported after `t`.
    pub fn errors_after(&self, t: Instant) -> Vec<String> {
        self.errors
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .iter()
            .filter(|(at, _)| *at > t)
            .map(|(_, line)| line.clone())
            .collect()
    }

    fn stop(&mut self) {
        // ping is a child of `ip netns exec`, which exec'd it: same PID.
        let _ = signal::kill(Pid::from_raw(self.child.id() as i32), Signal::SIGINT);
        let start = Instant::now();
        while start.elapsed() < Duration::from_secs(2) {
            if let Ok(Some(_)) = self.child.try_wait() {
                break;
            }
            thread::sleep(Duration::from_millis(10));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
        if let Some(reader) = self.reader.take() {
            let _ = reader.join();
        }
    }
}

impl Drop for Pinger {
    fn drop(&mut self) {
        self.stop();
    }
}

// ----- checks shared by the end-to-end test files -----

/// The router holds the client: its /128 and /32 (proto 158, table 254, on the client
/// interface) and its node-client IP on lo.
pub fn serves(mesh: &Mesh, router: &str) -> Result<(), String> {
    serves_client(mesh, &mesh.client("cli"), router)
}

/// [`serves`] for any client of the mesh.
pub fn serves_client(mesh: &Mesh, client: &Client, router: &str) -> Result<(), String> {
    let devs = [mesh.var("GW_DEV"), mesh.var("CLIENT_BRIDGE")];
    for (family, addr) in [("-6", &client.ip6), ("-4", &client.ip4)] {
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
    let ncip = &client.ncip;
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
pub fn serves_not(mesh: &Mesh, router: &str) -> Result<(), String> {
    serves_not_client(mesh, &mesh.client("cli"), router)
}

/// [`serves_not`] for any client of the mesh.
pub fn serves_not_client(mesh: &Mesh, client: &Client, router: &str) -> Result<(), String> {
    for (family, addr) in [("-6", &client.ip6), ("-4", &client.ip4)] {
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
    let ncip = &client.ncip;
    if mesh.lo_addrs(router).iter().any(|a| a == ncip) {
        return Err(format!("{router} still holds the node-client IP {ncip}"));
    }
    Ok(())
}

/// Milliseconds, for the figures the tests print.
pub fn ms(d: Duration) -> u128 {
    d.as_millis()
}

pub fn must<T>(what: &str, result: Result<T, String>) -> T {
    result.unwrap_or_else(|err| panic!("{what}: {err}"))
}

/// The client talks to the server in both families until the server answers: how a new client
/// makes itself known. Returns when both answered.
pub fn announce_client(mesh: &mut Mesh, bound: Duration) -> Duration {
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

/// How long a new client may take to be served: its first packets, the daemon's neighbour
/// events and routes, and babeld's announcement toward the server.
pub const NEW_CLIENT_BOUND: Duration = Duration::from_secs(10);

/// Start to start, ordinary roams are at least this far apart. Each roam is a move for both r1
/// and r3, and more than `FLAP_MOVES` moves within `FLAP_WINDOW` is a flap (README "Flap
/// damping"), which would hold the next hand-over for 30 s: one move per
/// `FLAP_WINDOW / FLAP_MOVES` (1 s with the 5 s window; 4 s with the 20 s one first merged)
/// stays below it, plus 1 s because a move counts when the CLAIM or INFO arrives, 0.1–1.1 s
/// after the port moved. A roam and its checks take about 2 s anyway. Ordinary walks between
/// rooms; a flapping client is the business of netns_e2e's `i_a_client_flapping_…`.
pub const ROAM_PERIOD: Duration = Duration::from_millis(
    (l3roamd::engine::flapping::FLAP_WINDOW.as_millis()
        / l3roamd::engine::flapping::FLAP_MOVES as u128) as u64
        + 1000,
);

/// Minimum, median, 95th percentile and maximum of a sample.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Spread {
    pub min: Duration,
    pub median: Duration,
    pub p95: Duration,
    pub max: Duration,
}

impl Spread {
    /// `None` for an empty sample. The median of an even count is the mean of the two middle
    /// values; the 95th percentile is the nearest rank, the smallest value with at least 95 %
    /// of the sample at or below it (the 48th of 50, the 19th of 20, the largest below 20).
    pub fn of(mut values: Vec<Duration>) -> Option<Spread> {
        values.sort();
        let n = values.len();
        let max = *values.last()?;
        Some(Spread {
            min: values[0],
            median: (values[(n - 1) / 2] + values[n / 2]) / 2,
            p95: stats::nearest_rank(&values, 95)?,
            max,
        })
    }
}

/// The client, at r1 after `up`, announces itself (reaches the server in both families) and
/// r1 serves it: where most tests start.
pub fn client_served_by_r1(mesh: &mut Mesh) {
    announce_client(mesh, NEW_CLIENT_BOUND);
    must(
        "r1 serves the client",
        eventually(NEW_CLIENT_BOUND, || serves(mesh, "r1")),
    );
}

/// The server reaches the client in both families.
pub fn server_reaches_client(mesh: &mut Mesh, bound: Duration) {
    let (c6, c4) = (
        mesh.var("CLIENT_IP6").to_string(),
        mesh.var("CLIENT_IP4").to_string(),
    );
    must("server -> client, IPv6", mesh.reach("srv", &c6, bound));
    must("server -> client, IPv4", mesh.reach("srv", &c4, bound));
}

pub fn holds_node_client_ip(mesh: &Mesh, router: &str) -> Result<(), String> {
    let ncip = mesh.var("CLIENT_NCIP");
    let lo = mesh.lo_addrs(router);
    if lo.iter().any(|a| a == ncip) {
        Ok(())
    } else {
        Err(format!("{router} lacks {ncip} on lo: {lo:?}"))
    }
}

/// The sum of one counter over the routers.
pub fn counted(counters: &[&BTreeMap<String, u64>], key: &str) -> u64 {
    counters
        .iter()
        .map(|c| c.get(key).copied().unwrap_or(0))
        .sum()
}

/// r2 has exactly one babeld route for each client address, toward `router`.
pub fn r2_routes_toward(mesh: &Mesh, router: &str) -> Result<(), String> {
    r2_routes_client_toward(mesh, &mesh.client("cli"), router)
}

/// [`r2_routes_toward`] for any client of the mesh.
pub fn r2_routes_client_toward(mesh: &Mesh, client: &Client, router: &str) -> Result<(), String> {
    for (family, addr) in [("-6", &client.ip6), ("-4", &client.ip4)] {
        let routes = mesh.sh(
            "r2",
            &[
                "ip", family, "route", "show", "table", "all", "proto", "babel", addr,
            ],
        );
        let lines: Vec<&str> = routes.lines().collect();
        if lines.len() != 1 || !lines[0].contains(&format!(" dev m-{router} ")) {
            return Err(format!(
                "r2's babeld routes for {addr}, wanted one toward {router}: {lines:?}"
            ));
        }
    }
    Ok(())
}

/// `get_clients` of `router` as MAC -> address -> state, the addresses as the kernel writes
/// them (IPv4 without its `::ffff:` form).
pub fn clients_listed(mesh: &Mesh, router: &str) -> BTreeMap<String, BTreeMap<IpAddr, u64>> {
    parse_client_list(&mesh.control(router, "get_clients"))
}

/// The `get_clients` reply, read by its quoted strings: a MAC opens a client, an address is
/// one of its addresses, and the number after `"state":` its state.
pub fn parse_client_list(reply: &str) -> BTreeMap<String, BTreeMap<IpAddr, u64>> {
    let mut clients: BTreeMap<String, BTreeMap<IpAddr, u64>> = BTreeMap::new();
    let mut current: Option<String> = None;
    let mut pending: Option<IpAddr> = None;
    let mut rest = reply;
    while let Some(open) = rest.find('"') {
        let after = &rest[open + 1..];
        let Some(close) = after.find('"') else { break };
        let word = &after[..close];
        rest = &after[close + 1..];
        // Six groups of two hex digits: an IPv6 address can also have 17 characters and
        // five colons (2001:db8:1::fa:10).
        let is_mac = word.len() == 17
            && word
                .split(':')
                .all(|g| g.len() == 2 && g.bytes().all(|b| b.is_ascii_hexdigit()));
        if is_mac {
            clients.entry(word.to_string()).or_default();
            current = Some(word.to_string());
        } else if let Ok(addr) = word.parse::<Ipv6Addr>() {
            pending = Some(match addr.to_ipv4_mapped() {
                Some(v4) => IpAddr::V4(v4),
                None => IpAddr::V6(addr),
            });
        } else if word == "state" {
            let digits: String = rest
                .trim_start_matches([':', ' '])
                .chars()
                .take_while(char::is_ascii_digit)
                .collect();
            if let (Some(mac), Some(addr)) = (&current, pending.take()) {
                let state = digits.parse().unwrap_or(u64::MAX);
                clients.entry(mac.clone()).or_default().insert(addr, state);
            }
        }
    }
    clients
}
