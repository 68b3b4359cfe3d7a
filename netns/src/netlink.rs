//! A minimal rtnetlink client: the few requests the fabric makes, without spawning `ip`.
//!
//! A netlink socket belongs to the network namespace it was created in, whichever thread
//! uses it later: [`Netlink::open`] is called on a thread inside the target namespace.

use std::io;
use std::net::Ipv4Addr;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};

/// A MAC address.
pub(crate) type Mac = [u8; 6];

const NLMSG_HDRLEN: usize = 16;
const NLMSG_ERROR: u16 = 2;
const NLM_F_REQUEST: u16 = 0x1;
const NLM_F_ACK: u16 = 0x4;
const NLM_F_REPLACE: u16 = 0x100;
const NLM_F_EXCL: u16 = 0x200;
const NLM_F_CREATE: u16 = 0x400;
const NLM_F_CAPPED: u16 = 0x100;
const NLM_F_ACK_TLVS: u16 = 0x200;
const SOL_NETLINK: libc::c_int = 270;
const NETLINK_CAP_ACK: libc::c_int = 10;
const NETLINK_EXT_ACK: libc::c_int = 11;
const NLMSGERR_ATTR_MSG: u16 = 1;

const RTM_NEWLINK: u16 = 16;
const RTM_GETLINK: u16 = 18;
const RTM_NEWADDR: u16 = 20;
const RTM_NEWROUTE: u16 = 24;
const RTM_DELROUTE: u16 = 25;
const RTM_NEWNEIGH: u16 = 28;

const IFLA_ADDRESS: u16 = 1;
const IFLA_IFNAME: u16 = 3;
const IFLA_LINKINFO: u16 = 18;
const IFLA_NET_NS_FD: u16 = 28;
const IFLA_INFO_KIND: u16 = 1;
const IFLA_INFO_DATA: u16 = 2;
const VETH_INFO_PEER: u16 = 1;
const IFA_ADDRESS: u16 = 1;
const IFA_LOCAL: u16 = 2;
const RTA_DST: u16 = 1;
const RTA_OIF: u16 = 4;
const RTA_GATEWAY: u16 = 5;
const NDA_DST: u16 = 1;
const NDA_LLADDR: u16 = 2;

const RT_TABLE_MAIN: u8 = 254;
const RTPROT_BOOT: u8 = 3;
const RTN_UNICAST: u8 = 1;
const RTN_BLACKHOLE: u8 = 6;
const NUD_PERMANENT: u16 = 0x80;
const IFF_UP: u32 = 0x1;

/// Scope of a route.
#[derive(Clone, Copy)]
pub(crate) enum Scope {
    Universe = 0,
    Link = 253,
}

/// One rtnetlink socket of one namespace.
pub(crate) struct Netlink {
    fd: OwnedFd,
    seq: u32,
}

/// A netlink attribute: header, payload, padding to 4 bytes.
fn attr(ty: u16, data: &[u8]) -> Vec<u8> {
    let len = 4 + data.len();
    let mut out = Vec::with_capacity(len + 3);
    out.extend_from_slice(&(len as u16).to_ne_bytes());
    out.extend_from_slice(&ty.to_ne_bytes());
    out.extend_from_slice(data);
    out.resize(len.next_multiple_of(4), 0);
    out
}

fn ifinfomsg(index: i32, flags: u32, change: u32) -> Vec<u8> {
    let mut out = vec![libc::AF_UNSPEC as u8, 0, 0, 0];
    out.extend_from_slice(&index.to_ne_bytes());
    out.extend_from_slice(&flags.to_ne_bytes());
    out.extend_from_slice(&change.to_ne_bytes());
    out
}

fn rtmsg(dst_len: u8, scope: Scope, kind: u8) -> Vec<u8> {
    let family = libc::AF_INET as u8;
    let mut out = vec![
        family,
        dst_len,
        0,
        0,
        RT_TABLE_MAIN,
        RTPROT_BOOT,
        scope as u8,
        kind,
    ];
    out.extend_from_slice(&0u32.to_ne_bytes());
    out
}

impl Netlink {
    /// A socket of the calling thread's network namespace.
    pub(crate) fn open() -> io::Result<Netlink> {
        // SAFETY: socket(2) with constant arguments; the descriptor is owned right away.
        let fd = unsafe {
            libc::socket(
                libc::AF_NETLINK,
                libc::SOCK_RAW | libc::SOCK_CLOEXEC,
                libc::NETLINK_ROUTE,
            )
        };
        if fd < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: `fd` was just returned by socket(2) and is not owned elsewhere.
        let fd = unsafe { OwnedFd::from_raw_fd(fd) };
        // The kernel always answers; a timeout only guards against a bug turning into a hang.
        let timeout = libc::timeval {
            tv_sec: 10,
            tv_usec: 0,
        };
        // SAFETY: setsockopt with a pointer to a live timeval and its size.
        let rc = unsafe {
            libc::setsockopt(
                fd.as_raw_fd(),
                libc::SOL_SOCKET,
                libc::SO_RCVTIMEO,
                (&raw const timeout).cast(),
                size_of::<libc::timeval>() as libc::socklen_t,
            )
        };
        if rc != 0 {
            return Err(io::Error::last_os_error());
        }
        // Errors with the kernel's explanation ("extended ack"), without an echo of the
        // request. Both are optional: an older kernel just gives the errno.
        for option in [NETLINK_EXT_ACK, NETLINK_CAP_ACK] {
            let on: libc::c_int = 1;
            // SAFETY: setsockopt with a pointer to a live int and its size.
            unsafe {
                libc::setsockopt(
                    fd.as_raw_fd(),
                    SOL_NETLINK,
                    option,
                    (&raw const on).cast(),
                    size_of::<libc::c_int>() as libc::socklen_t,
                );
            }
        }
        Ok(Netlink { fd, seq: 0 })
    }

    /// Sends one request and waits for its acknowledgement; returns the payload of the first
    /// answer that is not the acknowledgement (for `GET` requests).
    fn request(
        &mut self,
        ty: u16,
        flags: u16,
        header: &[u8],
        attrs: &[Vec<u8>],
    ) -> io::Result<Vec<u8>> {
        self.seq = self.seq.wrapping_add(1);
        let seq = self.seq;
        let len = NLMSG_HDRLEN + header.len() + attrs.iter().map(Vec::len).sum::<usize>();
        let mut msg = Vec::with_capacity(len);
        msg.extend_from_slice(&(len as u32).to_ne_bytes());
        msg.extend_from_slice(&ty.to_ne_bytes());
        msg.extend_from_slice(&(flags | NLM_F_REQUEST | NLM_F_ACK).to_ne_bytes());
        msg.extend_from_slice(&seq.to_ne_bytes());
        msg.extend_from_slice(&0u32.to_ne_bytes());
        msg.extend_from_slice(header);
        attrs.iter().for_each(|a| msg.extend_from_slice(a));
        // SAFETY: send(2) of an initialised buffer of the given length.
        let sent = unsafe { libc::send(self.fd.as_raw_fd(), msg.as_ptr().cast(), msg.len(), 0) };
        if sent < 0 {
            return Err(io::Error::last_os_error());
        }
        let mut answer = Vec::new();
        let mut buf = vec![0u8; 32 * 1024];
        loop {
            // SAFETY: recv(2) into a buffer we own, at most its length.
            let n =
                unsafe { libc::recv(self.fd.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len(), 0) };
            if n < 0 {
                let err = io::Error::last_os_error();
                if err.kind() == io::ErrorKind::Interrupted {
                    continue;
                }
                return Err(err);
            }
            let mut rest = &buf[..n as usize];
            while rest.len() >= NLMSG_HDRLEN {
                let len = u32::from_ne_bytes(rest[0..4].try_into().unwrap()) as usize;
                if len < NLMSG_HDRLEN || len > rest.len() {
                    return Err(io::Error::new(
                        io::ErrorKind::InvalidData,
                        "truncated netlink message",
                    ));
                }
                let ty = u16::from_ne_bytes(rest[4..6].try_into().unwrap());
                let msg_flags = u16::from_ne_bytes(rest[6..8].try_into().unwrap());
                let msg_seq = u32::from_ne_bytes(rest[8..12].try_into().unwrap());
                let payload = &rest[NLMSG_HDRLEN..len];
                rest = &rest[len.next_multiple_of(4).min(rest.len())..];
                if msg_seq != seq {
                    continue;
                }
                if ty != NLMSG_ERROR {
                    if answer.is_empty() {
                        answer = payload.to_vec();
                    }
                    continue;
                }
                let code = payload
                    .get(0..4)
                    .map(|b| i32::from_ne_bytes(b.try_into().unwrap()))
                    .ok_or_else(|| {
                        io::Error::new(io::ErrorKind::InvalidData, "short netlink error")
                    })?;
                return if code == 0 {
                    Ok(answer)
                } else {
                    Err(kernel_error(-code, payload, msg_flags))
                };
            }
        }
    }

    /// The index of the link called `name`.
    pub(crate) fn link_index(&mut self, name: &str) -> io::Result<i32> {
        let ifname = attr(IFLA_IFNAME, &nul_terminated(name));
        let answer = self.request(RTM_GETLINK, 0, &ifinfomsg(0, 0, 0), &[ifname])?;
        answer
            .get(4..8)
            .map(|b| i32::from_ne_bytes(b.try_into().unwrap()))
            .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidData, "short link answer"))
    }

    /// Creates a veth pair: `name` here, `peer` directly in the namespace `peer_netns`.
    pub(crate) fn add_veth(
        &mut self,
        name: &str,
        mac: Mac,
        peer: &str,
        peer_mac: Mac,
        peer_netns: RawFd,
    ) -> io::Result<()> {
        let mut peer_info = ifinfomsg(0, 0, 0);
        peer_info.extend(attr(IFLA_IFNAME, &nul_terminated(peer)));
        peer_info.extend(attr(IFLA_ADDRESS, &peer_mac));
        peer_info.extend(attr(IFLA_NET_NS_FD, &(peer_netns as u32).to_ne_bytes()));
        let mut info = attr(IFLA_INFO_KIND, b"veth");
        info.extend(attr(IFLA_INFO_DATA, &attr(VETH_INFO_PEER, &peer_info)));
        let attrs = [
            attr(IFLA_IFNAME, &nul_terminated(name)),
            attr(IFLA_ADDRESS, &mac),
            attr(IFLA_LINKINFO, &info),
        ];
        self.request(
            RTM_NEWLINK,
            NLM_F_CREATE | NLM_F_EXCL,
            &ifinfomsg(0, 0, 0),
            &attrs,
        )
        .map(drop)
    }

    pub(crate) fn set_up(&mut self, index: i32, up: bool) -> io::Result<()> {
        let flags = if up { IFF_UP } else { 0 };
        self.request(RTM_NEWLINK, 0, &ifinfomsg(index, flags, IFF_UP), &[])
            .map(drop)
    }

    /// Adds `ip/prefix` to the link.
    pub(crate) fn add_address(&mut self, index: i32, ip: Ipv4Addr, prefix: u8) -> io::Result<()> {
        let mut header = vec![libc::AF_INET as u8, prefix, 0, Scope::Universe as u8];
        header.extend_from_slice(&index.to_ne_bytes());
        let attrs = [
            attr(IFA_LOCAL, &ip.octets()),
            attr(IFA_ADDRESS, &ip.octets()),
        ];
        self.request(RTM_NEWADDR, NLM_F_CREATE | NLM_F_EXCL, &header, &attrs)
            .map(drop)
    }

    /// Adds a unicast route to `dst/prefix` out of the link, via `gateway` when given.
    pub(crate) fn add_route(
        &mut self,
        dst: Ipv4Addr,
        prefix: u8,
        index: i32,
        gateway: Option<Ipv4Addr>,
        scope: Scope,
    ) -> io::Result<()> {
        let mut attrs = vec![attr(RTA_OIF, &index.to_ne_bytes())];
        if prefix > 0 {
            attrs.push(attr(RTA_DST, &dst.octets()));
        }
        if let Some(gateway) = gateway {
            attrs.push(attr(RTA_GATEWAY, &gateway.octets()));
        }
        let header = rtmsg(prefix, scope, RTN_UNICAST);
        self.request(RTM_NEWROUTE, NLM_F_CREATE | NLM_F_EXCL, &header, &attrs)
            .map(drop)
    }

    /// Adds a default route of type blackhole: packets to unrouted addresses vanish silently.
    pub(crate) fn add_blackhole_default(&mut self) -> io::Result<()> {
        let header = rtmsg(0, Scope::Universe, RTN_BLACKHOLE);
        self.request(RTM_NEWROUTE, NLM_F_CREATE | NLM_F_EXCL, &header, &[])
            .map(drop)
    }

    pub(crate) fn del_route(&mut self, dst: Ipv4Addr, prefix: u8, index: i32) -> io::Result<()> {
        let attrs = [
            attr(RTA_DST, &dst.octets()),
            attr(RTA_OIF, &index.to_ne_bytes()),
        ];
        let header = rtmsg(prefix, Scope::Link, RTN_UNICAST);
        self.request(RTM_DELROUTE, 0, &header, &attrs).map(drop)
    }

    /// Pins `ip` to `mac` on the link (a permanent neighbour entry: no ARP needed).
    pub(crate) fn set_neighbour(&mut self, index: i32, ip: Ipv4Addr, mac: Mac) -> io::Result<()> {
        let mut header = vec![libc::AF_INET as u8, 0, 0, 0];
        header.extend_from_slice(&index.to_ne_bytes());
        header.extend_from_slice(&NUD_PERMANENT.to_ne_bytes());
        header.extend_from_slice(&[0, 0]);
        let attrs = [attr(NDA_DST, &ip.octets()), attr(NDA_LLADDR, &mac)];
        self.request(RTM_NEWNEIGH, NLM_F_CREATE | NLM_F_REPLACE, &header, &attrs)
            .map(drop)
    }
}

/// An error the kernel answered, with its explanation when it gave one.
#[derive(Debug)]
pub(crate) struct KernelError {
    errno: i32,
    message: String,
}

impl std::fmt::Display for KernelError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let os = io::Error::from_raw_os_error(self.errno);
        write!(f, "{os}: {}", self.message)
    }
}

impl std::error::Error for KernelError {}

/// The errno of an error from this module, with or without the kernel's explanation.
pub(crate) fn errno(err: &io::Error) -> Option<i32> {
    err.raw_os_error().or_else(|| {
        err.get_ref()?
            .downcast_ref::<KernelError>()
            .map(|e| e.errno)
    })
}

/// Builds the error of an `NLMSG_ERROR` payload: errno, the (capped) request header, then
/// attributes of which `NLMSGERR_ATTR_MSG` holds the explanation.
fn kernel_error(errno: i32, payload: &[u8], msg_flags: u16) -> io::Error {
    let plain = io::Error::from_raw_os_error(errno);
    if msg_flags & NLM_F_ACK_TLVS == 0 {
        return plain;
    }
    let request_len = if msg_flags & NLM_F_CAPPED != 0 {
        NLMSG_HDRLEN
    } else {
        payload
            .get(4..8)
            .map_or(0, |b| u32::from_ne_bytes(b.try_into().unwrap()) as usize)
    };
    let mut tlvs = payload
        .get(4 + request_len.next_multiple_of(4)..)
        .unwrap_or_default();
    while tlvs.len() >= 4 {
        let len = u16::from_ne_bytes([tlvs[0], tlvs[1]]) as usize;
        let ty = u16::from_ne_bytes([tlvs[2], tlvs[3]]);
        if len < 4 || len > tlvs.len() {
            break;
        }
        if ty == NLMSGERR_ATTR_MSG {
            let text = &tlvs[4..len];
            let text = text.split(|&b| b == 0).next().unwrap_or_default();
            let message = String::from_utf8_lossy(text).into_owned();
            return io::Error::new(plain.kind(), KernelError { errno, message });
        }
        tlvs = &tlvs[len.next_multiple_of(4).min(tlvs.len())..];
    }
    plain
}

fn nul_terminated(s: &str) -> Vec<u8> {
    let mut out = s.as_bytes().to_vec();
    out.push(0);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn attributes_are_padded_to_four_bytes() {
        assert_eq!(
            attr(3, b"eth0\0"),
            [9, 0, 3, 0, b'e', b't', b'h', b'0', 0, 0, 0, 0]
        );
        assert_eq!(attr(1, &[10, 0, 0, 1]).len(), 8);
        assert_eq!(ifinfomsg(7, IFF_UP, IFF_UP).len(), 16);
        assert_eq!(rtmsg(32, Scope::Link, RTN_UNICAST).len(), 12);
    }

    #[test]
    fn kernel_errors_carry_the_explanation_and_errno() {
        let mut payload = (-libc::EEXIST).to_ne_bytes().to_vec();
        payload.extend_from_slice(&[0; NLMSG_HDRLEN]);
        payload.extend(attr(NLMSGERR_ATTR_MSG, b"Nexthop device is not up\0"));
        let err = kernel_error(libc::EEXIST, &payload, NLM_F_CAPPED | NLM_F_ACK_TLVS);
        assert_eq!(err.kind(), io::ErrorKind::AlreadyExists);
        assert_eq!(errno(&err), Some(libc::EEXIST));
        assert!(
            err.to_string().ends_with(": Nexthop device is not up"),
            "{err}"
        );
        let plain = kernel_error(libc::ENODEV, &payload, NLM_F_CAPPED);
        assert_eq!(errno(&plain), Some(libc::ENODEV));
    }
}
