//! Cluster DNS: answers `cluster.local` names (Services, pods) and the emulated external names
//! from an in-memory record set, over UDP and TCP, as CoreDNS's `kubernetes` plugin does.
//!
//! The server is this process itself: the kubelet binds its sockets inside the namespace of the
//! `coredns` pod ([`netverdict_netns::NetnsHandle::bind_udp`]) and hands them to [`serve_udp`] and
//! [`serve_tcp`]. Messages are parsed and written with `hickory-proto`; the zone logic is small
//! enough that `hickory-server`'s authority machinery would only add indirection.
//!
//! Answers:
//! - `<svc>.<ns>.svc.cluster.local`: the ClusterIP, or the ready pod IPs of a headless Service;
//! - `<a-b-c-d>.<ns>.pod.cluster.local`: `a.b.c.d` (CoreDNS `pods insecure`);
//! - the emulated external names (`external.test` and friends);
//! - any other type for an existing name: no data (`NOERROR`, empty answer);
//! - anything else: `NXDOMAIN` (nothing is forwarded: the cluster has no upstream).

use std::collections::{BTreeMap, HashMap};
use std::net::Ipv4Addr;
use std::sync::{Arc, RwLock};

use hickory_proto::op::{Message, MessageType, OpCode, ResponseCode};
use hickory_proto::rr::rdata::A;
use hickory_proto::rr::{RData, Record, RecordType};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// The cluster domain.
pub const CLUSTER_DOMAIN: &str = "cluster.local";

/// TTL of every answer, as CoreDNS's default for the `kubernetes` plugin.
const TTL: u32 = 5;

/// How a Service answers.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum ServiceAddrs {
    /// Its ClusterIP.
    ClusterIp(Ipv4Addr),
    /// A headless Service: the addresses of its ready endpoints (possibly none).
    Headless(Vec<Ipv4Addr>),
}

/// The record set the DNS server answers from; cheap to clone, shared with the controllers.
#[derive(Clone, Debug, Default)]
pub(crate) struct DnsRecords {
    inner: Arc<RwLock<Zone>>,
}

#[derive(Debug, Default)]
struct Zone {
    /// (namespace, name) -> addresses.
    services: BTreeMap<(String, String), ServiceAddrs>,
    /// Fully qualified lowercase name without the trailing dot -> address.
    external: HashMap<String, Ipv4Addr>,
}

/// The outcome of a lookup.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Lookup {
    /// The name exists; these are its A records (possibly none: no data for that type).
    Found(Vec<Ipv4Addr>),
    /// The name does not exist.
    NxDomain,
}

impl DnsRecords {
    pub(crate) fn new(external: impl IntoIterator<Item = (String, Ipv4Addr)>) -> DnsRecords {
        let zone = Zone {
            services: BTreeMap::new(),
            external: external
                .into_iter()
                .map(|(name, ip)| (normalize(&name), ip))
                .collect(),
        };
        DnsRecords {
            inner: Arc::new(RwLock::new(zone)),
        }
    }

    /// Replaces every Service record at once.
    pub(crate) fn set_services(&self, services: BTreeMap<(String, String), ServiceAddrs>) {
        self.inner
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .services = services;
    }

    /// Looks up the A records of a fully qualified name (trailing dot optional, any case).
    pub(crate) fn lookup(&self, name: &str) -> Lookup {
        let name = normalize(name);
        let zone = self.inner.read().unwrap_or_else(|e| e.into_inner());
        if let Some(ip) = zone.external.get(&name) {
            return Lookup::Found(vec![*ip]);
        }
        if zone
            .external
            .keys()
            .any(|n| n.ends_with(&format!(".{name}")))
        {
            return Lookup::Found(Vec::new());
        }
        let Some(rest) = strip_domain(&name) else {
            return Lookup::NxDomain;
        };
        let labels: Vec<&str> = if rest.is_empty() {
            Vec::new()
        } else {
            rest.split('.').collect()
        };
        match labels.as_slice() {
            [] | ["svc"] | ["pod"] => Lookup::Found(Vec::new()),
            [ns, "svc"] => {
                if zone.services.keys().any(|(n, _)| n == ns) {
                    Lookup::Found(Vec::new())
                } else {
                    Lookup::NxDomain
                }
            }
            [svc, ns, "svc"] => match zone.services.get(&((*ns).to_owned(), (*svc).to_owned())) {
                Some(ServiceAddrs::ClusterIp(ip)) => Lookup::Found(vec![*ip]),
                Some(ServiceAddrs::Headless(ips)) => Lookup::Found(ips.clone()),
                None => Lookup::NxDomain,
            },
            [_ns, "pod"] => Lookup::Found(Vec::new()),
            [ip, _ns, "pod"] => match ip.replace('-', ".").parse::<Ipv4Addr>() {
                Ok(ip) => Lookup::Found(vec![ip]),
                Err(_) => Lookup::NxDomain,
            },
            _ => Lookup::NxDomain,
        }
    }

    /// Answers one DNS message; `None` when the bytes are not a query worth answering.
    pub(crate) fn answer(&self, request: &[u8]) -> Option<Vec<u8>> {
        let request = Message::from_vec(request).ok()?;
        if request.metadata.message_type != MessageType::Query {
            return None;
        }
        let mut response = Message::response(request.metadata.id, request.metadata.op_code);
        response.metadata.recursion_desired = request.metadata.recursion_desired;
        response.metadata.recursion_available = true;
        response.queries = request.queries.clone();
        let Some(query) = request
            .queries
            .first()
            .filter(|_| request.metadata.op_code == OpCode::Query)
        else {
            response.metadata.response_code = ResponseCode::NotImp;
            return response.to_vec().ok();
        };
        let name = query.name().to_ascii();
        match self.lookup(&name) {
            Lookup::NxDomain => response.metadata.response_code = ResponseCode::NXDomain,
            Lookup::Found(ips) => {
                response.metadata.authoritative = true;
                if matches!(query.query_type(), RecordType::A | RecordType::ANY) {
                    for ip in ips {
                        response.answers.push(Record::from_rdata(
                            query.name().clone(),
                            TTL,
                            RData::A(A(ip)),
                        ));
                    }
                }
            }
        }
        response.to_vec().ok()
    }
}

/// Lowercase, without the trailing dot.
fn normalize(name: &str) -> String {
    name.trim_end_matches('.').to_ascii_lowercase()
}

/// The labels before the cluster domain (`""` for the domain itself); `None` outside it.
fn strip_domain(name: &str) -> Option<&str> {
    if name == CLUSTER_DOMAIN {
        return Some("");
    }
    name.strip_suffix(CLUSTER_DOMAIN)?.strip_suffix('.')
}

/// Answers queries on `socket` until the task is aborted.
pub(crate) async fn serve_udp(socket: tokio::net::UdpSocket, records: DnsRecords) {
    let mut buf = vec![0u8; 4096];
    loop {
        let Ok((len, peer)) = socket.recv_from(&mut buf).await else {
            continue;
        };
        if let Some(reply) = records.answer(&buf[..len]) {
            // A reply that cannot be sent is lost, as over any UDP path.
            let _ = socket.send_to(&reply, peer).await;
        }
    }
}

/// Answers length-prefixed queries on every accepted connection until the task is aborted.
pub(crate) async fn serve_tcp(listener: tokio::net::TcpListener, records: DnsRecords) {
    loop {
        let Ok((mut stream, _)) = listener.accept().await else {
            continue;
        };
        let records = records.clone();
        tokio::spawn(async move {
            loop {
                let Ok(len) = stream.read_u16().await else {
                    return;
                };
                let mut buf = vec![0u8; usize::from(len)];
                if stream.read_exact(&mut buf).await.is_err() {
                    return;
                }
                let Some(reply) = records.answer(&buf) else {
                    return;
                };
                let Ok(reply_len) = u16::try_from(reply.len()) else {
                    return;
                };
                if stream.write_u16(reply_len).await.is_err()
                    || stream.write_all(&reply).await.is_err()
                {
                    return;
                }
            }
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use hickory_proto::op::Query;
    use hickory_proto::rr::Name;

    fn mk_records() -> DnsRecords {
        let records =
            DnsRecords::new([("external.test".to_owned(), Ipv4Addr::new(203, 0, 113, 10))]);
        let mut services = BTreeMap::new();
        services.insert(
            ("default".to_owned(), "kubernetes".to_owned()),
            ServiceAddrs::ClusterIp(Ipv4Addr::new(10, 96, 0, 1)),
        );
        services.insert(
            ("demo".to_owned(), "web".to_owned()),
            ServiceAddrs::Headless(vec![
                Ipv4Addr::new(10, 244, 1, 2),
                Ipv4Addr::new(10, 244, 2, 2),
            ]),
        );
        records.set_services(services);
        records
    }

    #[test]
    fn lookups() {
        let r = mk_records();
        let cases: &[(&str, Lookup)] = &[
            (
                "kubernetes.default.svc.cluster.local.",
                Lookup::Found(vec![Ipv4Addr::new(10, 96, 0, 1)]),
            ),
            (
                "KUBERNETES.default.svc.cluster.local",
                Lookup::Found(vec![Ipv4Addr::new(10, 96, 0, 1)]),
            ),
            ("kubernetes.demo.svc.cluster.local", Lookup::NxDomain),
            (
                "web.demo.svc.cluster.local",
                Lookup::Found(vec![
                    Ipv4Addr::new(10, 244, 1, 2),
                    Ipv4Addr::new(10, 244, 2, 2),
                ]),
            ),
            (
                "10-244-1-7.demo.pod.cluster.local",
                Lookup::Found(vec![Ipv4Addr::new(10, 244, 1, 7)]),
            ),
            ("10-244-1-x.demo.pod.cluster.local", Lookup::NxDomain),
            ("demo.svc.cluster.local", Lookup::Found(vec![])),
            ("nope.svc.cluster.local", Lookup::NxDomain),
            ("svc.cluster.local", Lookup::Found(vec![])),
            (
                "external.test.",
                Lookup::Found(vec![Ipv4Addr::new(203, 0, 113, 10)]),
            ),
            ("test", Lookup::Found(vec![])),
            ("kubernetes.default", Lookup::NxDomain),
            ("example.com", Lookup::NxDomain),
            ("notcluster.local", Lookup::NxDomain),
        ];
        for (name, want) in cases {
            assert_eq!(&r.lookup(name), want, "{name}");
        }
    }

    fn ask(r: &DnsRecords, name: &str, rtype: RecordType) -> Message {
        let mut q = Message::query();
        q.add_query(Query::query(Name::from_ascii(name).unwrap(), rtype));
        Message::from_vec(&r.answer(&q.to_vec().unwrap()).unwrap()).unwrap()
    }

    #[test]
    fn messages() {
        let r = mk_records();
        let m = ask(&r, "kubernetes.default.svc.cluster.local.", RecordType::A);
        assert_eq!(m.metadata.response_code, ResponseCode::NoError);
        assert_eq!(m.answers.len(), 1);
        assert_eq!(m.answers[0].data, RData::A(A(Ipv4Addr::new(10, 96, 0, 1))));
        let m = ask(
            &r,
            "kubernetes.default.svc.cluster.local.",
            RecordType::AAAA,
        );
        assert_eq!(m.metadata.response_code, ResponseCode::NoError);
        assert!(m.answers.is_empty());
        let m = ask(
            &r,
            "kubernetes.default.default.svc.cluster.local.",
            RecordType::A,
        );
        assert_eq!(m.metadata.response_code, ResponseCode::NXDomain);
        assert!(r.answer(b"garbage").is_none());
    }

    #[tokio::test]
    async fn serves_udp_and_tcp_on_loopback() {
        let r = mk_records();
        let udp = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let tcp = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let (udp_addr, tcp_addr) = (udp.local_addr().unwrap(), tcp.local_addr().unwrap());
        let u = tokio::spawn(serve_udp(udp, r.clone()));
        let t = tokio::spawn(serve_tcp(tcp, r));
        let mut q = Message::query();
        q.add_query(Query::query(
            Name::from_ascii("external.test.").unwrap(),
            RecordType::A,
        ));
        let q = q.to_vec().unwrap();

        let client = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
        client.send_to(&q, udp_addr).await.unwrap();
        let mut buf = vec![0u8; 512];
        let n = client.recv(&mut buf).await.unwrap();
        let m = Message::from_vec(&buf[..n]).unwrap();
        assert_eq!(
            m.answers[0].data,
            RData::A(A(Ipv4Addr::new(203, 0, 113, 10)))
        );

        let mut s = tokio::net::TcpStream::connect(tcp_addr).await.unwrap();
        s.write_u16(u16::try_from(q.len()).unwrap()).await.unwrap();
        s.write_all(&q).await.unwrap();
        let n = s.read_u16().await.unwrap();
        let mut buf = vec![0u8; usize::from(n)];
        s.read_exact(&mut buf).await.unwrap();
        let m = Message::from_vec(&buf).unwrap();
        assert_eq!(
            m.answers[0].data,
            RData::A(A(Ipv4Addr::new(203, 0, 113, 10)))
        );
        u.abort();
        t.abort();
    }
}
