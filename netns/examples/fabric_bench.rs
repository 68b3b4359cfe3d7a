//! Measures the fabric: 100 pods, a 1000-rule filter, 100 Services, teardown.
//!
//! Run as root: `netns/bench.sh` (or `cargo run -p netverdict-netns --example fabric_bench`).

use std::net::Ipv4Addr;
use std::time::{Duration, Instant};

use netverdict_engine::Protocol;
use netverdict_netns::{Fabric, FabricConfig, ServiceRule, destroy_leftovers};

const PODS: u32 = 100;
const RULES: u32 = 1000;

fn pod_ip(i: u32) -> Ipv4Addr {
    // 10.244.<node>.<n>: 4 virtual nodes.
    Ipv4Addr::new(10, 244, (i % 4) as u8, (i / 4 + 2) as u8)
}

fn per(total: Duration, n: u32) -> String {
    format!("{:.2} ms", total.as_secs_f64() * 1000.0 / f64::from(n))
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let instance = format!("bench{}", std::process::id() % 100_000);
    let result = run(&instance);
    destroy_leftovers(Some(&instance))?;
    result
}

fn run(instance: &str) -> Result<(), Box<dyn std::error::Error>> {
    let t = Instant::now();
    let fabric = Fabric::create(FabricConfig::new(instance))?;
    println!("create fabric:          {:?}", t.elapsed());

    let t = Instant::now();
    let mut pods = Vec::new();
    for i in 0..PODS {
        pods.push(fabric.add_pod(&format!("p{i}"), pod_ip(i), "nameserver 10.96.0.10\n")?);
    }
    let total = t.elapsed();
    println!(
        "add {PODS} pods (serial):   {total:?} ({} per pod)",
        per(total, PODS)
    );

    let t = Instant::now();
    for pod in pods.drain(..) {
        fabric.remove_pod(pod)?;
    }
    let total = t.elapsed();
    println!(
        "remove {PODS} pods:         {total:?} ({} per pod)",
        per(total, PODS)
    );

    let t = Instant::now();
    let pods: Vec<_> = std::thread::scope(|s| {
        let workers: Vec<_> = (0..4)
            .map(|w| {
                let fabric = &fabric;
                s.spawn(move || {
                    (0..PODS)
                        .filter(|i| i % 4 == w)
                        .map(|i| {
                            fabric.add_pod(&format!("q{i}"), pod_ip(i), "nameserver 10.96.0.10\n")
                        })
                        .collect::<Result<Vec<_>, _>>()
                })
            })
            .collect();
        workers
            .into_iter()
            .flat_map(|w| w.join().unwrap().unwrap())
            .collect()
    });
    let total = t.elapsed();
    println!(
        "add {PODS} pods (4 threads): {total:?} ({} per pod)",
        per(total, PODS)
    );

    let mut script = String::from(
        "table inet netverdict-filter {\n  chain forward {\n    \
         type filter hook forward priority filter; policy accept;\n    \
         ct state established,related accept\n",
    );
    for r in 0..RULES {
        let (src, dst) = (pod_ip(r % PODS), pod_ip((r * 7 + 1) % PODS));
        script.push_str(&format!(
            "    ip saddr {src} ip daddr {dst} tcp dport {} accept\n",
            1000 + r
        ));
    }
    script.push_str("    drop\n  }\n}\n");
    let t = Instant::now();
    fabric.apply_filter(&script)?;
    let first = t.elapsed();
    let t = Instant::now();
    fabric.apply_filter(&script)?;
    println!(
        "apply {RULES}-rule filter:  {first:?} (first), {:?} (replace)",
        t.elapsed()
    );

    let services: Vec<ServiceRule> = (0..100u32)
        .map(|s| ServiceRule {
            cluster_ip: Ipv4Addr::new(10, 96, 1, s as u8),
            port: 80,
            protocol: Protocol::Tcp,
            endpoints: (0..3).map(|e| (pod_ip((s * 3 + e) % PODS), 8080)).collect(),
        })
        .collect();
    let t = Instant::now();
    fabric.apply_services(&services)?;
    println!(
        "apply 100 Services:     {:?} (3 endpoints each)",
        t.elapsed()
    );

    drop(pods);
    let t = Instant::now();
    fabric.destroy()?;
    println!("destroy ({PODS} pods):     {:?}", t.elapsed());
    Ok(())
}
