//! The authenticated intercom end to end (README "Authenticated intercom"): the demo's mesh of
//! tests/netns/mesh.sh with a rogue namespace attached to r2, a stranger on a mesh link that
//! sends whatever UDP bytes it likes.
//!
//! Without keys a forged CLAIM for the client's MAC, sent to its node-client IP, makes r1 give
//! the client up: the threat. With every daemon on one key file the same CLAIM, unsigned or
//! signed with another key, changes nothing and is counted; and a roam, whose CLAIM, INFO and
//! ACK are now signed, is as fast as without keys.
//!
//! Needs root and babeld, as tests/netns_e2e.rs; logs in `target/netns-logs/<test>/`.

mod netns;

use std::net::Ipv6Addr;
use std::path::PathBuf;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use l3roamd::engine::RELEASE_HOLD;
use l3roamd::wire::MacAddr;
use l3roamd::wire::auth::{self, Key};
use l3roamd::wire::intercom::{Header, Message, Repr};
use netns::{Mesh, Rogue, Topology, client_served_by_r1, eventually, ms, must, serves, serves_not};

/// A roam, from the move until traffic is back and the new router serves (the bound of
/// tests/netns_e2e.rs, whose measurements it explains).
const ROAM_BOUND: Duration = Duration::from_secs(2);
/// Until the router the client left holds nothing of it: the roam plus the release hold.
const RELEASE_BOUND: Duration = ROAM_BOUND.saturating_add(RELEASE_HOLD);
/// How long forged datagrams are sent, and their effect watched, before the verdict: a
/// hijacked client is dropped at once, and its routes after the 1 s release hold.
const ATTACK_WATCH: Duration = Duration::from_secs(4);
/// A pause in the server's 10 ms pings to the client that would mean the attack bit.
const MAX_GAP: Duration = Duration::from_millis(500);

/// The mesh's key, and the forger's.
const MESH_KEY: [u8; 32] = [0x5a; 32];
const ROGUE_KEY: [u8; 32] = [0x66; 32];

fn wall_ms() -> u64 {
    let since = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("after 1970");
    u64::try_from(since.as_millis()).expect("ms fit u64")
}

/// Writes the key file every daemon gets (root-only, as the README asks) into the run's
/// log directory.
fn write_key_file(mesh: &Mesh) -> PathBuf {
    use std::os::unix::fs::PermissionsExt;
    let path = mesh.dir.join("intercom.key");
    let hex: String = MESH_KEY.iter().map(|b| format!("{b:02x}")).collect();
    std::fs::write(&path, format!("# the test mesh's key\n{hex}\n")).expect("write key file");
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600))
        .expect("chmod key file");
    path
}

/// The standard daemon on every router, each with `--key-file` when a key file is given.
fn start_daemons(mesh: &mut Mesh, key_file: Option<&PathBuf>) {
    for router in mesh.routers() {
        let mut args = mesh.daemon_args(&router, false);
        if let Some(path) = key_file {
            args.push("--key-file".into());
            args.push(path.display().to_string());
        }
        mesh.start_daemon(&router, args);
    }
}

/// The CLAIM a forger sends for the client: in r3's name (the sender field is anyone's to
/// write), to the client's node-client IP, which routes it to the node serving the client.
fn forged_claim(mesh: &Mesh, nonce: u32) -> Vec<u8> {
    let mac: MacAddr = mesh.var("CLIENT_MAC").parse().expect("CLIENT_MAC");
    Repr {
        header: Header {
            ttl: 1,
            nonce: nonce.to_be_bytes(),
            sender: mesh.node_ip("r3").parse().expect("r3's node IP"),
        },
        message: Message::Claim { mac },
    }
    .to_bytes()
}

fn ncip(mesh: &Mesh) -> Ipv6Addr {
    mesh.var("CLIENT_NCIP").parse().expect("CLIENT_NCIP")
}

/// Sends forged CLAIMs (a fresh nonce each, so that no duplicate cache hides one) every
/// 100 ms for [`ATTACK_WATCH`], each made by `forge`.
fn attack(mesh: &Mesh, rogue: &Rogue, first_nonce: u32, forge: impl Fn(Vec<u8>) -> Vec<u8>) {
    let start = Instant::now();
    let mut nonce = first_nonce;
    while start.elapsed() < ATTACK_WATCH {
        let bytes = forge(forged_claim(mesh, nonce));
        rogue.send(ncip(mesh), &bytes).expect("the rogue sends");
        nonce += 1;
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn a_without_keys_a_forged_claim_hijacks_the_client() {
    let mut mesh = Mesh::up("auth_hijack", Topology::default());
    start_daemons(&mut mesh, None);
    client_served_by_r1(&mut mesh);
    let rogue = mesh.attach_rogue();
    let before = (
        mesh.counter("r1", "handovers.out"),
        mesh.counter("r3", "intercom_dropped.unexpected_info"),
    );
    let start = Instant::now();
    rogue
        .send(ncip(&mesh), &forged_claim(&mesh, 0x0bad_0001))
        .expect("the rogue sends");
    // One CLAIM suffices: r1 hands the client to r3, which never asked for it, and drops
    // its routes and node-client IP. The client, sitting at r1 all along, is cut off.
    let (_, took) = must(
        "r1 gives the client up on one forged CLAIM",
        eventually(ATTACK_WATCH, || serves_not(&mesh, "r1")),
    );
    eprintln!(
        "hijack: r1 released the client {} ms after the forged CLAIM",
        ms(took)
    );
    assert!(start.elapsed() <= ATTACK_WATCH);
    assert_eq!(mesh.counter("r1", "handovers.out"), before.0 + 1);
    must(
        "r3 got the INFO it never asked for and ignored its content",
        eventually(Duration::from_secs(2), || {
            let now = mesh.counter("r3", "intercom_dropped.unexpected_info");
            if now > before.1 {
                Ok(())
            } else {
                Err(format!("unexpected_info on r3 still {now}"))
            }
        }),
    );
    assert!(serves(&mesh, "r3").is_err(), "nobody serves the client now");
    mesh.assert_all_running();
}

#[test]
fn b_with_keys_forged_claims_change_nothing_and_a_roam_still_works() {
    let mut mesh = Mesh::up("auth_locked", Topology::default());
    let key_file = write_key_file(&mesh);
    start_daemons(&mut mesh, Some(&key_file));
    client_served_by_r1(&mut mesh);
    let rogue = mesh.attach_rogue();
    let client6 = mesh.var("CLIENT_IP6").to_string();
    let pinger = mesh.start_pinger("srv", &client6);
    std::thread::sleep(Duration::from_millis(500));
    let before = mesh.counters("r1");
    let attack_start = Instant::now();

    // (a) Unsigned, as against a mesh without keys.
    attack(&mesh, &rogue, 0x0bad_0001, |bytes| bytes);
    // (b) Signed, with a fresh timestamp, by a key that is not the mesh's.
    let rogue_key = Key::new(&ROGUE_KEY).expect("a key");
    attack(&mesh, &rogue, 0x0bad_1001, |bytes| {
        auth::sign(&bytes, &rogue_key, wall_ms()).expect("sign")
    });

    let after = mesh.counters("r1");
    let delta =
        |key: &str| after.get(key).copied().unwrap_or(0) - before.get(key).copied().unwrap_or(0);
    eprintln!(
        "locked: r1 rejected {} unsigned and {} wrongly signed CLAIMs; claims handled {}",
        delta("auth.unauthenticated"),
        delta("auth.bad_mac"),
        delta("intercom_in.claim")
    );
    assert!(delta("auth.unauthenticated") >= 10, "{after:?}");
    assert!(delta("auth.bad_mac") >= 10, "{after:?}");
    assert_eq!(
        delta("intercom_in.claim"),
        0,
        "no forged CLAIM reached the handler"
    );
    assert_eq!(delta("handovers.out"), 0);
    must("r1 still serves the client", serves(&mesh, "r1"));
    let gap = mesh.pinger(pinger).largest_gap_since(attack_start);
    assert!(
        gap <= MAX_GAP,
        "the server's pings to the client paused {} ms during the attack",
        ms(gap)
    );
    mesh.stop_pingers();

    // A roam r1 -> r3 with the signed hand-over: traffic back within the usual bound.
    let (srv6, srv4) = (
        mesh.var("SERVER_IP6").to_string(),
        mesh.var("SERVER_IP4").to_string(),
    );
    let p6 = mesh.start_pinger("cli", &srv6);
    let p4 = mesh.start_pinger("cli", &srv4);
    std::thread::sleep(Duration::from_millis(300));
    let signed_before = mesh.counter("r3", "auth.signed_in");
    let start = Instant::now();
    mesh.roam("r3");
    let moved = Instant::now();
    let mut back: [Option<Duration>; 2] = [None, None];
    let mut serving = None;
    let mut released = None;
    must(
        "roam r1 -> r3 with keys",
        eventually(Duration::from_secs(25), || {
            let mut waiting = Vec::new();
            for (seen, p) in back.iter_mut().zip([p6, p4]) {
                *seen = seen.or_else(|| Some(mesh.pinger(p).first_reply_after(moved)? - start));
                if seen.is_none() {
                    waiting.push(format!("no echo reply to {}", mesh.pinger(p).addr));
                }
            }
            if serving.is_none() {
                match serves(&mesh, "r3") {
                    Ok(()) => serving = Some(start.elapsed()),
                    Err(err) => waiting.push(err),
                }
            }
            if released.is_none() {
                match serves_not(&mesh, "r1") {
                    Ok(()) => released = Some(start.elapsed()),
                    Err(err) => waiting.push(err),
                }
            }
            if waiting.is_empty() {
                Ok(())
            } else {
                Err(waiting.join("; "))
            }
        }),
    );
    let restored = back.into_iter().flatten().max().unwrap_or_default();
    let (serving, released) = (serving.unwrap_or_default(), released.unwrap_or_default());
    eprintln!(
        "signed roam r1 -> r3: traffic back after {} ms, r3 serving after {} ms, r1 clear \
         after {} ms",
        ms(restored),
        ms(serving),
        ms(released)
    );
    assert!(
        restored <= ROAM_BOUND,
        "traffic back after {} ms",
        ms(restored)
    );
    assert!(serving <= ROAM_BOUND, "r3 serving after {} ms", ms(serving));
    assert!(
        released <= RELEASE_BOUND,
        "r1 clear after {} ms",
        ms(released)
    );
    // The hand-over was signed: r3 accepted signed datagrams (r1's INFO), and r1 took r3's
    // CLAIM (the only CLAIM it handled in this test).
    assert!(mesh.counter("r3", "auth.signed_in") > signed_before);
    assert_eq!(mesh.counter("r1", "intercom_in.claim"), 1);
    assert_eq!(mesh.counter("r3", "handovers.in"), 1);
    for router in mesh.routers() {
        for bad in ["auth.bad_mac", "auth.stale", "auth.replayed"] {
            let count = mesh.counter(&router, bad);
            let expected = if router == "r1" && bad == "auth.bad_mac" {
                after.get(bad).copied().unwrap_or(0)
            } else {
                0
            };
            assert_eq!(
                count, expected,
                "{bad} on {router}: nothing of the mesh's own rejected"
            );
        }
    }
    mesh.assert_all_running();
}

/// Moves the client to `to` while it pings the server, and waits until traffic is back, `to`
/// serves it and `from` holds nothing of it; returns how long traffic took to come back.
fn roam_and_wait(mesh: &mut Mesh, from: &str, to: &str) -> Duration {
    let srv6 = mesh.var("SERVER_IP6").to_string();
    let p6 = mesh.start_pinger("cli", &srv6);
    std::thread::sleep(Duration::from_millis(300));
    let start = Instant::now();
    mesh.roam(to);
    let moved = Instant::now();
    let mut back = None;
    must(
        &format!("roam {from} -> {to}"),
        eventually(Duration::from_secs(25), || {
            back = back.or_else(|| Some(mesh.pinger(p6).first_reply_after(moved)? - start));
            back.ok_or_else(|| "no echo reply yet".to_string())?;
            serves(mesh, to)?;
            serves_not(mesh, from)
        }),
    );
    mesh.stop_pingers();
    back.unwrap_or_default()
}

/// The rollout (README "Rolling out"): r3 has no key yet (as a C daemon or an older l3roamd);
/// r1 and r2 have it and list r3's node IP. Roams between r1 and r3 still hand the client
/// over, in both directions, through the unsigned copies; a forged CLAIM in r2's name is
/// still refused, one in r3's name is not (the documented hole the list opens).
#[test]
fn c_rollout_a_node_without_the_key_is_heard_through_the_allow_list() {
    let mut mesh = Mesh::up("auth_rollout", Topology::default());
    let key_file = write_key_file(&mesh);
    let r3 = mesh.node_ip("r3");
    for router in mesh.routers() {
        let mut args = mesh.daemon_args(&router, false);
        if router != "r3" {
            args.extend([
                "--key-file".to_string(),
                key_file.display().to_string(),
                "--accept-unauthenticated".to_string(),
                r3.clone(),
            ]);
        }
        mesh.start_daemon(&router, args);
    }
    client_served_by_r1(&mut mesh);

    let took = roam_and_wait(&mut mesh, "r1", "r3");
    eprintln!(
        "rollout: r1 -> r3 (unkeyed) traffic back after {} ms",
        ms(took)
    );
    assert!(took <= ROAM_BOUND, "r1 -> r3 took {} ms", ms(took));
    // r1 took r3's unsigned CLAIM; r3 read r1's unsigned INFO and dropped the signed copy.
    assert!(mesh.counter("r1", "auth.unsigned_accepted") >= 1);
    assert!(mesh.counter("r3", "intercom_dropped.malformed") >= 1);
    assert_eq!(mesh.counter("r3", "handovers.in"), 1);
    std::thread::sleep(Duration::from_secs(2));
    let took = roam_and_wait(&mut mesh, "r3", "r1");
    eprintln!("rollout: r3 -> r1 traffic back after {} ms", ms(took));
    assert!(took <= ROAM_BOUND, "r3 -> r1 took {} ms", ms(took));
    assert_eq!(mesh.counter("r1", "handovers.in"), 1);

    // A forger in r2's name is refused; in r3's name it gets through. After the roam back
    // babeld 1.12.1 may route the node-client IP to r3 for a while (README "Graceful
    // release and babeld"), so the rogue repeats itself until r1 hears it.
    let rogue = mesh.attach_rogue();
    let r2: Ipv6Addr = mesh.node_ip("r2").parse().expect("r2's node IP");
    let refused = mesh.counter("r1", "auth.unauthenticated");
    let mut nonce = 0x0bad_2000;
    must(
        "r1 refuses unsigned CLAIMs in r2's name",
        eventually(Duration::from_secs(20), || {
            nonce += 1;
            let mut in_r2s_name = forged_claim(&mesh, nonce);
            in_r2s_name[8..24].copy_from_slice(&r2.octets());
            rogue
                .send(ncip(&mesh), &in_r2s_name)
                .map_err(|e| e.to_string())?;
            std::thread::sleep(Duration::from_millis(100));
            let now = mesh.counter("r1", "auth.unauthenticated");
            if now > refused {
                Ok(())
            } else {
                Err(format!("auth.unauthenticated on r1 still {now}"))
            }
        }),
    );
    must("r1 still serves the client", serves(&mesh, "r1"));
    assert_eq!(
        mesh.counter("r1", "handovers.out"),
        1,
        "only the roam to r3"
    );
    must(
        "r1 gives the client up to a forged CLAIM in a listed node's name",
        eventually(Duration::from_secs(20), || {
            nonce += 1;
            rogue
                .send(ncip(&mesh), &forged_claim(&mesh, nonce))
                .map_err(|e| e.to_string())?;
            std::thread::sleep(Duration::from_millis(100));
            serves_not(&mesh, "r1")
        }),
    );
    mesh.assert_all_running();
}
