//! The fabric on the real kernel: needs root, `ip`, `nft`, OpenBSD `nc`, `id` and `sleep`.
//! Each test uses its own instance, removed by a guard even when the test panics.

use std::ffi::OsStr;
use std::net::{Ipv4Addr, SocketAddr, TcpStream};
use std::os::unix::process::ExitStatusExt;
use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use netverdict_engine::Protocol;
use netverdict_netns::{
    Fabric, FabricConfig, INFRA_IP, NetnsHandle, PodNetwork, RunAs, ServiceRule, destroy_leftovers,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const RESOLV: &str = "nameserver 10.96.0.10\nsearch default.svc.cluster.local\n";

/// Removes the instance when dropped, whatever state the test left it in.
struct Instance(String);

impl Instance {
    /// A name unique to this test and process (`[a-z0-9-]{1,16}`).
    fn new(tag: &str) -> Instance {
        Instance(format!("t{tag}{}", std::process::id() % 100_000))
    }

    fn fabric(&self) -> Fabric {
        Fabric::create(FabricConfig::new(&self.0)).expect("create the fabric")
    }
}

impl Drop for Instance {
    fn drop(&mut self) {
        if let Err(err) = destroy_leftovers(Some(&self.0)) {
            eprintln!("cleanup of {}: {err}", self.0);
        }
    }
}

fn root() -> bool {
    let root = nix::unistd::geteuid().is_root();
    if !root {
        eprintln!("skipped: needs root");
    }
    root
}

fn ip4(s: &str) -> Ipv4Addr {
    s.parse().unwrap()
}

struct Output {
    code: Option<i32>,
    stdout: String,
    stderr: String,
}

async fn run(pod: &PodNetwork, args: &[&str], run_as: RunAs) -> Output {
    let out = pod
        .command(OsStr::new(args[0]), run_as)
        .args(&args[1..])
        .stdin(Stdio::null())
        .output()
        .await
        .expect("spawn in the pod");
    Output {
        code: out.status.code(),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// `nc -vz -w 2 <ip> <port>` from `pod`.
async fn nc(pod: &PodNetwork, ip: Ipv4Addr, port: u16) -> Output {
    run(
        pod,
        &["nc", "-vz", "-w", "2", &ip.to_string(), &port.to_string()],
        RunAs::privileged_root(),
    )
    .await
}

async fn assert_connects(pod: &PodNetwork, ip: Ipv4Addr, port: u16) {
    let out = nc(pod, ip, port).await;
    assert_eq!(
        out.code,
        Some(0),
        "{} -> {ip}:{port}: {}",
        pod.ip,
        out.stderr
    );
    assert!(out.stderr.contains("succeeded"), "{}", out.stderr);
}

async fn assert_refused(pod: &PodNetwork, ip: Ipv4Addr, port: u16) {
    let out = nc(pod, ip, port).await;
    assert_eq!(
        out.code,
        Some(1),
        "{} -> {ip}:{port}: {}",
        pod.ip,
        out.stderr
    );
    assert!(
        out.stderr.contains("refused"),
        "{} -> {ip}:{port}: {}",
        pod.ip,
        out.stderr
    );
}

async fn assert_times_out(pod: &PodNetwork, ip: Ipv4Addr, port: u16) {
    let out = nc(pod, ip, port).await;
    assert_eq!(
        out.code,
        Some(1),
        "{} -> {ip}:{port}: {}",
        pod.ip,
        out.stderr
    );
    assert!(
        out.stderr.contains("timed out"),
        "{} -> {ip}:{port}: {}",
        pod.ip,
        out.stderr
    );
}

/// Starts `nc -lk <port>` in the pod and waits until it accepts connections.
async fn listen(pod: &PodNetwork, port: u16) -> tokio::process::Child {
    let child = pod
        .command(OsStr::new("nc"), RunAs::privileged_root())
        .args(["-lk", &port.to_string()])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("start nc -lk");
    let target = SocketAddr::from((pod.ip, port));
    for _ in 0..500 {
        if pod.netns.run_in(move || TcpStream::connect(target)).is_ok() {
            return child;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("nc -lk {port} in {} never listened", pod.ip);
}

/// Accepts connections on `listener` in a thread and reports each peer address.
fn accept_peers(listener: std::net::TcpListener) -> std::sync::mpsc::Receiver<SocketAddr> {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for conn in listener.incoming() {
            let Ok(conn) = conn else { return };
            if tx.send(conn.peer_addr().unwrap()).is_err() {
                return;
            }
        }
    });
    rx
}

fn ip_json(netns: &NetnsHandle, args: &[&str]) -> Vec<serde_json::Value> {
    let out = std::process::Command::new("ip")
        .args(["-n", &netns.name, "-j"])
        .args(args)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

fn link_names(netns: &NetnsHandle) -> Vec<String> {
    let links = ip_json(netns, &["link"]);
    let mut names: Vec<String> = links
        .iter()
        .map(|l| l["ifname"].as_str().unwrap().to_owned())
        .collect();
    names.sort();
    names
}

fn routes_to(netns: &NetnsHandle, ip: &str) -> String {
    let out = std::process::Command::new("ip")
        .args(["-n", &netns.name, "route", "show", ip])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn namespaces_of(instance: &str) -> Vec<String> {
    let prefix = format!("nvl-{instance}_");
    std::fs::read_dir("/run/netns")
        .unwrap()
        .filter_map(|e| e.unwrap().file_name().into_string().ok())
        .filter(|n| n.starts_with(&prefix))
        .collect()
}

fn assert_nothing_left(instance: &str) {
    assert_eq!(namespaces_of(instance), Vec::<String>::new());
    let out = std::process::Command::new("ip")
        .args(["netns", "list"])
        .output()
        .unwrap();
    let listed = String::from_utf8_lossy(&out.stdout);
    assert!(!listed.contains(&format!("nvl-{instance}_")), "{listed}");
    assert!(!Path::new("/run/netverdict").join(instance).exists());
    // No link of the fabric ever shows up in the machine's own namespace.
    let out = std::process::Command::new("ip")
        .args(["-j", "link"])
        .output()
        .unwrap();
    let links: Vec<serde_json::Value> = serde_json::from_slice(&out.stdout).unwrap();
    let ours = [
        "ee:ee:ee:ee:ee:ee",
        "0a:58:0a:f4:01:02",
        "0a:58:0a:f4:02:02",
    ];
    for link in &links {
        let mac = link["address"].as_str().unwrap_or_default();
        assert!(!ours.contains(&mac), "{link}");
    }
}

#[tokio::test]
async fn pods_reach_each_other_and_closed_ports_are_refused() {
    if !root() {
        return;
    }
    let instance = Instance::new("pods");
    let fabric = instance.fabric();
    let a = fabric.add_pod("a", ip4("10.244.1.2"), RESOLV).unwrap();
    let b = fabric.add_pod("b", ip4("10.244.2.2"), RESOLV).unwrap();
    let _server = listen(&b, 8080).await;

    assert_connects(&a, b.ip, 8080).await;
    assert_refused(&a, b.ip, 8081).await;

    // The router holds its own veths and lo, nothing else: no way to the machine's network.
    let mut expected = vec!["ext0", "lo", a.router_link.as_str(), b.router_link.as_str()];
    expected.sort();
    assert_eq!(link_names(fabric.router()), expected);
    // ... and the peer of every veth is in one of the instance's own namespaces.
    let peers = ip_json(fabric.router(), &["link"]);
    let ids = ip_json(fabric.router(), &["netns", "list-id"]);
    let prefix = format!("nvl-{}_", instance.0);
    for link in peers.iter().filter(|l| l["ifname"] != "lo") {
        let id = &link["link_netnsid"];
        let peer_ns = ids
            .iter()
            .find(|i| &i["nsid"] == id)
            .expect("peer namespace id");
        let name = peer_ns["name"]
            .as_str()
            .unwrap_or("<the machine's or unnamed>");
        assert!(
            name.starts_with(&prefix),
            "{} peers with {name}",
            link["ifname"]
        );
    }
    assert_eq!(link_names(&a.netns), ["eth0", "lo"]);

    fabric.destroy().unwrap();
    assert_nothing_left(&instance.0);
}

#[tokio::test]
async fn external_hosts_serve_and_other_addresses_time_out() {
    if !root() {
        return;
    }
    let instance = Instance::new("ext");
    let fabric = instance.fabric();
    let a = fabric.add_pod("a", ip4("10.244.1.2"), RESOLV).unwrap();
    let https = fabric
        .external()
        .bind_tcp("203.0.113.10:443".parse().unwrap())
        .unwrap();
    let peers = accept_peers(https);

    assert_connects(&a, ip4("203.0.113.10"), 443).await;
    // The external host sees the pod's own address.
    assert_eq!(peers.recv().unwrap().ip(), a.ip);
    assert_refused(&a, ip4("198.51.100.10"), 80).await;
    assert_times_out(&a, ip4("192.0.2.77"), 80).await;
}

#[tokio::test]
async fn pods_routed_to_some_ranges_only_find_every_other_address_unreachable() {
    if !root() {
        return;
    }
    let instance = Instance::new("routes");
    let fabric = Fabric::create(FabricConfig {
        external_hosts: Vec::new(),
        pod_routes: Some(vec![(ip4("10.244.0.0"), 16), (ip4("10.96.0.0"), 16)]),
        ..FabricConfig::new(&instance.0)
    })
    .unwrap();
    let a = fabric.add_pod("a", ip4("10.244.1.2"), RESOLV).unwrap();
    let b = fabric.add_pod("b", ip4("10.244.2.2"), RESOLV).unwrap();
    let _server = listen(&b, 8080).await;

    assert_connects(&a, b.ip, 8080).await;
    // No route: the pod's own kernel says so at once, as on a node routing pods nowhere else.
    let out = nc(&a, ip4("203.0.113.10"), 80).await;
    assert_eq!(out.code, Some(1), "{}", out.stderr);
    assert!(
        out.stderr.contains("Network is unreachable"),
        "{}",
        out.stderr
    );
    let out = run(&a, &["ip", "-4", "route"], RunAs::privileged_root()).await;
    assert!(!out.stdout.contains("default"), "{}", out.stdout);
    assert!(
        out.stdout.contains("10.96.0.0/16 via 169.254.1.1"),
        "{}",
        out.stdout
    );
    fabric.destroy().unwrap();
    assert_nothing_left(&instance.0);
}

#[tokio::test]
async fn pod_processes_see_their_resolv_conf_and_identity() {
    if !root() {
        return;
    }
    let instance = Instance::new("proc");
    let fabric = instance.fabric();
    let a = fabric.add_pod("a", ip4("10.244.1.2"), RESOLV).unwrap();
    let machine_resolv = std::fs::read_to_string("/etc/resolv.conf").unwrap();

    let out = run(&a, &["cat", "/etc/resolv.conf"], RunAs::privileged_root()).await;
    assert_eq!(out.stdout, RESOLV);
    let out = run(&a, &["id", "-u"], RunAs::user(65534, 65534)).await;
    assert_eq!(out.stdout.trim(), "65534", "{}", out.stderr);
    let out = run(&a, &["id", "-u"], RunAs::privileged_root()).await;
    assert_eq!(out.stdout.trim(), "0");
    let out = run(&a, &["id", "-G"], RunAs::user(1000, 2000)).await;
    assert_eq!(out.stdout.trim(), "2000", "{}", out.stderr);
    // The pod's view of the network is its own.
    let out = run(
        &a,
        &["ip", "-4", "-o", "address", "show", "dev", "eth0"],
        RunAs::privileged_root(),
    )
    .await;
    assert!(out.stdout.contains("inet 10.244.1.2/32"), "{}", out.stdout);
    // Other namespaces are not reachable from the pod's mounts.
    let out = run(
        &a,
        &["cat", "/proc/self/mountinfo"],
        RunAs::privileged_root(),
    )
    .await;
    assert!(out.stdout.contains("/etc/resolv.conf"), "{}", out.stdout);
    assert!(!out.stdout.contains("nsfs"), "{}", out.stdout);

    assert_eq!(
        std::fs::read_to_string("/etc/resolv.conf").unwrap(),
        machine_resolv
    );
}

#[tokio::test]
async fn command_aborts_when_the_namespace_cannot_be_entered() {
    if !root() {
        return;
    }
    let missing = PodNetwork {
        netns: NetnsHandle {
            name: "nvl-missing_pod_x".into(),
            path: "/run/netns/nvl-missing_pod_x".into(),
        },
        ip: ip4("10.244.9.9"),
        resolv_conf: "/nonexistent/resolv.conf".into(),
        scratch: "/nonexistent/scratch".into(),
        router_link: "pod0".into(),
    };
    let err = missing
        .command(OsStr::new("true"), RunAs::privileged_root())
        .status()
        .await
        .expect_err("must not run outside the pod");
    assert_eq!(err.kind(), std::io::ErrorKind::NotFound, "{err}");
}

#[tokio::test]
async fn services_translate_to_endpoints_and_refuse_without_one() {
    if !root() {
        return;
    }
    let instance = Instance::new("svc");
    let fabric = instance.fabric();
    let a = fabric.add_pod("a", ip4("10.244.1.2"), RESOLV).unwrap();
    let b = fabric.add_pod("b", ip4("10.244.2.2"), RESOLV).unwrap();
    let c = fabric.add_pod("c", ip4("10.244.2.3"), RESOLV).unwrap();
    let _b_server = listen(&b, 8080).await;
    let _a_server = listen(&a, 9090).await;
    let api = fabric
        .external()
        .bind_tcp(SocketAddr::from((INFRA_IP, 6443)))
        .unwrap();
    let api_peers = accept_peers(api);
    let tcp = |ip: &str, port, endpoints: &[(&str, u16)]| ServiceRule {
        cluster_ip: ip4(ip),
        port,
        protocol: Protocol::Tcp,
        endpoints: endpoints
            .iter()
            .map(|&(ip, port)| (ip4(ip), port))
            .collect(),
    };
    fabric
        .apply_services(&[
            tcp("10.96.0.1", 443, &[(&INFRA_IP.to_string(), 6443)]),
            tcp("10.96.0.10", 80, &[("10.244.2.2", 8080)]),
            tcp("10.96.0.11", 80, &[]),
            tcp("10.96.0.12", 80, &[("10.244.1.2", 9090)]),
            ServiceRule {
                protocol: Protocol::Sctp,
                ..tcp("10.96.0.13", 80, &[("10.244.2.2", 80)])
            },
            ServiceRule {
                protocol: Protocol::Udp,
                ..tcp("10.96.0.13", 80, &[])
            },
        ])
        .unwrap();

    assert_connects(&c, ip4("10.96.0.10"), 80).await;
    assert_refused(&c, ip4("10.96.0.11"), 80).await;
    assert_connects(&c, ip4("10.96.0.1"), 443).await;
    assert_eq!(api_peers.recv().unwrap().ip(), c.ip, "no masquerade");
    // A pod reaching itself through its Service (hairpin).
    assert_connects(&a, ip4("10.96.0.12"), 80).await;
    // A port the Service does not have goes nowhere.
    assert_times_out(&c, ip4("10.96.0.10"), 81).await;

    // Replacing the rules: the first Service gone, the endpoint-less one now served.
    fabric
        .apply_services(&[tcp("10.96.0.11", 80, &[("10.244.2.2", 8080)])])
        .unwrap();
    assert_connects(&c, ip4("10.96.0.11"), 80).await;
    assert_times_out(&c, ip4("10.96.0.10"), 80).await;
}

#[tokio::test]
async fn processes_run_in_the_external_namespace() {
    if !root() {
        return;
    }
    let instance = Instance::new("extproc");
    let fabric = instance.fabric();
    let a = fabric.add_pod("a", ip4("10.244.1.2"), RESOLV).unwrap();
    let mut server = fabric
        .external()
        .command(OsStr::new("nc"))
        .args(["-lk", "198.51.100.10", "80"])
        .stdin(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let target = SocketAddr::from((ip4("198.51.100.10"), 80));
    let mut listening = false;
    for _ in 0..500 {
        listening = fabric
            .external()
            .run_in(move || TcpStream::connect(target))
            .is_ok();
        if listening {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert!(listening);
    assert_connects(&a, ip4("198.51.100.10"), 80).await;

    fabric.destroy().unwrap();
    assert_eq!(server.wait().await.unwrap().signal(), Some(libc::SIGKILL));
    assert_nothing_left(&instance.0);
}

#[tokio::test]
async fn udp_services_translate_too() {
    if !root() {
        return;
    }
    let instance = Instance::new("udp");
    let fabric = instance.fabric();
    let a = fabric.add_pod("a", ip4("10.244.1.2"), RESOLV).unwrap();
    let dns = fabric
        .external()
        .bind_udp(SocketAddr::from((INFRA_IP, 53)))
        .unwrap();
    std::thread::spawn(move || {
        let mut buf = [0u8; 512];
        while let Ok((n, peer)) = dns.recv_from(&mut buf) {
            let mut reply = b"echo:".to_vec();
            reply.extend_from_slice(&buf[..n]);
            let _ = dns.send_to(&reply, peer);
        }
    });
    fabric
        .apply_services(&[ServiceRule {
            cluster_ip: ip4("10.96.0.10"),
            port: 53,
            protocol: Protocol::Udp,
            endpoints: vec![(INFRA_IP, 53)],
        }])
        .unwrap();
    let mut child = a
        .command(OsStr::new("nc"), RunAs::privileged_root())
        .args(["-u", "-w", "2", "10.96.0.10", "53"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    stdin.write_all(b"ping\n").await.unwrap();
    let mut stdout = child.stdout.take().unwrap();
    let mut reply = vec![0u8; 10];
    stdout.read_exact(&mut reply).await.unwrap();
    assert_eq!(reply, b"echo:ping\n");
}

#[tokio::test]
async fn the_filter_drops_one_pair_and_passes_the_rest() {
    if !root() {
        return;
    }
    let instance = Instance::new("filter");
    let fabric = instance.fabric();
    let a = fabric.add_pod("a", ip4("10.244.1.2"), RESOLV).unwrap();
    let b = fabric.add_pod("b", ip4("10.244.2.2"), RESOLV).unwrap();
    let c = fabric.add_pod("c", ip4("10.244.2.3"), RESOLV).unwrap();
    let _servers = [
        listen(&a, 8080).await,
        listen(&b, 8080).await,
        listen(&c, 8080).await,
    ];
    let script = "table inet netverdict-filter {\n\
        chain forward {\n\
            type filter hook forward priority filter; policy accept;\n\
            ct state established,related accept\n\
            ip saddr 10.244.1.2 ip daddr 10.244.2.2 drop\n\
        }\n\
    }\n";
    fabric.apply_filter(script).unwrap();
    // Applying twice replaces rather than adds.
    fabric.apply_filter(script).unwrap();

    assert_times_out(&a, b.ip, 8080).await;
    assert_connects(&a, c.ip, 8080).await;
    // b -> a is new in the allowed direction; a's replies to b pass as established.
    assert_connects(&b, a.ip, 8080).await;
    assert_connects(&c, b.ip, 8080).await;

    assert!(
        fabric
            .apply_filter("table inet netverdict-filter { syntax error }")
            .is_err()
    );
    assert_times_out(&a, b.ip, 8080).await;

    fabric.apply_filter("").unwrap();
    assert_connects(&a, b.ip, 8080).await;
}

#[tokio::test]
async fn remove_pod_ends_its_processes_and_links() {
    if !root() {
        return;
    }
    let instance = Instance::new("remove");
    let fabric = instance.fabric();
    let a = fabric.add_pod("a", ip4("10.244.1.2"), RESOLV).unwrap();
    let b = fabric.add_pod("b", ip4("10.244.2.2"), RESOLV).unwrap();
    let mut sleeper = a
        .command(OsStr::new("sleep"), RunAs::privileged_root())
        .arg("1000")
        .spawn()
        .unwrap();
    // A process of another pod must not keep a's namespace alive.
    let _other = b
        .command(OsStr::new("sleep"), RunAs::privileged_root())
        .arg("1000")
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let (netns, resolv, link) = (
        a.netns.path.clone(),
        a.resolv_conf.clone(),
        a.router_link.clone(),
    );

    fabric.remove_pod(a).unwrap();

    let status = sleeper.wait().await.unwrap();
    assert_eq!(status.signal(), Some(libc::SIGKILL));
    assert!(!netns.exists());
    assert!(!resolv.exists());
    assert_eq!(routes_to(fabric.router(), "10.244.1.2"), "");
    // The veth pair goes with the namespace, which the kernel frees in the background.
    let mut gone = false;
    for _ in 0..1000 {
        gone = !link_names(fabric.router()).contains(&link);
        if gone {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert!(gone, "{link} still in the router");
    // The address is free again and the other pod unaffected.
    let a = fabric.add_pod("a", ip4("10.244.1.2"), RESOLV).unwrap();
    let _server = listen(&b, 8080).await;
    assert_connects(&a, b.ip, 8080).await;
}

#[tokio::test]
async fn leftovers_of_a_killed_instance_are_removed() {
    if !root() {
        return;
    }
    let instance = Instance::new("left");
    let fabric = instance.fabric();
    let a = fabric.add_pod("a", ip4("10.244.1.2"), RESOLV).unwrap();
    let _b = fabric.add_pod("b", ip4("10.244.2.2"), RESOLV).unwrap();
    let mut sleeper = a
        .command(OsStr::new("sleep"), RunAs::privileged_root())
        .arg("1000")
        .spawn()
        .unwrap();
    let pid = sleeper.id().unwrap();
    // As if the process had been killed: nothing runs its cleanup.
    std::mem::forget(fabric);
    assert_eq!(namespaces_of(&instance.0).len(), 4);

    let removed = destroy_leftovers(Some(&instance.0)).unwrap();

    assert!(removed.contains(&format!("pid {pid}")), "{removed:?}");
    assert_eq!(sleeper.wait().await.unwrap().signal(), Some(libc::SIGKILL));
    assert_nothing_left(&instance.0);
    assert_eq!(
        destroy_leftovers(Some(&instance.0)).unwrap(),
        Vec::<String>::new()
    );
}

#[test]
fn fabric_is_shareable_between_threads() {
    fn check<T: Send + Sync>() {}
    check::<Fabric>();
    check::<PodNetwork>();
}

#[test]
fn invalid_and_conflicting_requests_fail_cleanly() {
    if !root() {
        return;
    }
    let instance = Instance::new("invalid");
    let fabric = instance.fabric();
    let err = Fabric::create(FabricConfig::new(&instance.0))
        .err()
        .expect("instance exists");
    assert!(err.to_string().contains("already exists"), "{err}");
    assert!(Fabric::create(FabricConfig::new("Bad_Name")).is_err());

    fabric.add_pod("a", ip4("10.244.1.2"), RESOLV).unwrap();
    assert!(
        fabric.add_pod("a", ip4("10.244.1.3"), RESOLV).is_err(),
        "key in use"
    );
    let err = fabric.add_pod("b", ip4("10.244.1.2"), RESOLV).unwrap_err();
    assert!(
        err.to_string().contains("10.244.1.2 is already in use"),
        "{err}"
    );
    assert!(!Path::new(&format!("/run/netns/nvl-{}_pod_b", instance.0)).exists());
    assert!(fabric.add_pod("c/d", ip4("10.244.1.4"), RESOLV).is_err());
    assert!(fabric.add_pod("e", ip4("169.254.1.1"), RESOLV).is_err());
    assert!(fabric.add_pod("f", ip4("203.0.113.10"), RESOLV).is_err());
    // The failed attempts left nothing: router, external and the one pod.
    assert_eq!(namespaces_of(&instance.0).len(), 3);
    let err = fabric.apply_filter("flush ruleset").unwrap_err();
    assert!(
        err.to_string()
            .contains("may only define table inet netverdict-filter"),
        "{err}"
    );
    drop(fabric);
    assert_nothing_left(&instance.0);
}

#[tokio::test]
async fn pods_can_be_added_from_many_threads_at_once() {
    if !root() {
        return;
    }
    let instance = Instance::new("threads");
    let fabric = instance.fabric();
    let pods: Vec<PodNetwork> = std::thread::scope(|s| {
        let workers: Vec<_> = (0..4u8)
            .map(|node| {
                let fabric = &fabric;
                s.spawn(move || {
                    (0..5u8)
                        .map(|n| {
                            let ip = Ipv4Addr::new(10, 244, node, 10 + n);
                            fabric.add_pod(&format!("n{node}-{n}"), ip, RESOLV).unwrap()
                        })
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        workers
            .into_iter()
            .flat_map(|w| w.join().unwrap())
            .collect()
    });
    let mut links: Vec<&str> = pods.iter().map(|p| p.router_link.as_str()).collect();
    links.sort();
    links.dedup();
    assert_eq!(links.len(), 20);
    for pod in &pods {
        assert!(
            routes_to(fabric.router(), &pod.ip.to_string()).contains(&pod.router_link),
            "{}",
            pod.ip
        );
    }
    let _server = listen(&pods[19], 8080).await;
    assert_connects(&pods[0], pods[19].ip, 8080).await;
}

#[test]
fn a_panicking_owner_leaves_nothing_behind() {
    if !root() {
        return;
    }
    let instance = Instance::new("panic");
    let name = instance.0.clone();
    let result = std::panic::catch_unwind(move || {
        let fabric = Fabric::create(FabricConfig::new(&name)).unwrap();
        fabric.add_pod("a", ip4("10.244.1.2"), RESOLV).unwrap();
        panic!("the owner fails");
    });
    assert!(result.is_err());
    // Dropping the fabric during unwinding removed it.
    assert_nothing_left(&instance.0);
}

#[test]
fn external_hosts_must_be_routable_unicast() {
    if !root() {
        return;
    }
    let instance = Instance::new("badext");
    for host in ["169.254.1.1", "127.0.0.1", "224.0.0.1", "0.0.0.0"] {
        let config = FabricConfig {
            external_hosts: vec![ip4(host)],
            ..FabricConfig::new(&instance.0)
        };
        assert!(Fabric::create(config).is_err(), "{host}");
        assert_nothing_left(&instance.0);
    }
}

/// A capability set of `/proc/self/status` (`CapEff`, `CapBnd`, …) as a number.
fn status_field(status: &str, field: &str) -> u64 {
    let line = status
        .lines()
        .find_map(|l| l.strip_prefix(&format!("{field}:")))
        .unwrap_or_else(|| panic!("no {field} in {status}"));
    u64::from_str_radix(line.trim(), 16)
        .or_else(|_| line.trim().parse())
        .unwrap()
}

#[tokio::test]
async fn pod_processes_are_contained() {
    if !root() {
        return;
    }
    let instance = Instance::new("jail");
    let fabric = instance.fabric();
    let a = fabric.add_pod("a", ip4("10.244.1.2"), RESOLV).unwrap();
    let b = fabric.add_pod("b", ip4("10.244.1.3"), RESOLV).unwrap();
    let user = RunAs::user(65534, 65534);
    let marker = format!("nv-jail-{}", std::process::id());

    // No capabilities, no way to gain any.
    let out = run(&a, &["cat", "/proc/self/status"], user.clone()).await;
    for field in ["CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb"] {
        assert_eq!(status_field(&out.stdout, field), 0, "{field}");
    }
    assert_eq!(status_field(&out.stdout, "NoNewPrivs"), 1);
    // Root without capabilities (what an allowed root container without any gets) is held
    // by the read-only mounts too.
    let bare_root = RunAs {
        capabilities: 0,
        ..RunAs::user(0, 0)
    };
    let out = run(&a, &["cat", "/proc/self/status"], bare_root.clone()).await;
    assert_eq!(status_field(&out.stdout, "CapEff"), 0);
    for run_as in [user.clone(), bare_root] {
        let script =
            format!("echo x > /var/lib/{marker} || echo x > /etc/{marker} || echo refused");
        let out = run(&a, &["sh", "-c", &script], run_as).await;
        assert_eq!(out.stdout.trim(), "refused", "{}", out.stderr);
        assert!(
            out.stderr.contains("Read-only file system"),
            "{}",
            out.stderr
        );
    }
    assert!(!std::path::Path::new(&format!("/etc/{marker}")).exists());

    // /tmp is the pod's: shared by its processes, unseen by the machine and other pods.
    let path = format!("/tmp/{marker}");
    let out = run(
        &a,
        &[
            "sh",
            "-c",
            &format!("id -u > {path} && stat -c %u:%g {path}"),
        ],
        user.clone(),
    )
    .await;
    assert_eq!(out.stdout.trim(), "65534:65534", "{}", out.stderr);
    let out = run(&a, &["cat", &path], user.clone()).await;
    assert_eq!(out.stdout.trim(), "65534", "{}", out.stderr);
    assert!(
        !std::path::Path::new(&path).exists(),
        "the machine's /tmp is untouched"
    );
    let out = run(&b, &["cat", &path], user.clone()).await;
    assert_ne!(out.code, Some(0), "another pod's /tmp: {}", out.stdout);
    for dir in ["/var/tmp", "/dev/shm"] {
        let out = run(
            &a,
            &["sh", "-c", &format!("touch {dir}/{marker} && echo ok")],
            user.clone(),
        )
        .await;
        assert_eq!(out.stdout.trim(), "ok", "{dir}: {}", out.stderr);
    }
    // The fabric's files are out of reach: the pods' scratch mounts are detached (those of
    // other instances on the machine stay, below directories only root may enter).
    let out = run(&a, &["cat", "/proc/self/mountinfo"], user.clone()).await;
    for pod in [&a, &b] {
        let scratch = pod.scratch.to_str().unwrap();
        assert!(!out.stdout.contains(scratch), "{}", out.stdout);
    }
    let fabric_dir = b.scratch.parent().unwrap().parent().unwrap();
    let out = run(&a, &["ls", fabric_dir.to_str().unwrap()], user.clone()).await;
    assert!(out.stderr.contains("Permission denied"), "{}", out.stderr);

    // The scratch goes with the pod.
    let scratch = a.scratch.clone();
    fabric.remove_pod(a).unwrap();
    assert!(!scratch.exists());
    let mounts = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
    assert!(!mounts.contains(scratch.to_str().unwrap()), "{mounts}");
}
