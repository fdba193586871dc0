//! Batched datagram I/O on Linux: `recvmmsg(2)` and `sendmmsg(2)`, many datagrams per system
//! call, on a tokio `UdpSocket`.
//!
//! Each batch allocates its buffers, addresses and message headers once and points the headers
//! into them afresh before each call (a few stores per datagram). Calls never block
//! (`MSG_DONTWAIT`) and run inside the socket's `try_io`, so `EAGAIN` clears tokio's readiness
//! and the caller awaits `readable()` / `writable()` as for `try_recv_from`.
//!
//! Must not: hold policy (what to do with a datagram or an error is the caller's), or read past
//! what the kernel said it wrote.

use crate::udp::batch::{Datagram, Flushed, Queue};
use std::io;
use std::mem;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV4, SocketAddrV6};
use std::os::fd::AsRawFd;
use std::ptr;
use tokio::io::Interest;
use tokio::net::UdpSocket;

/// The most datagrams one call takes (the kernel's `UIO_MAXIOV`).
const MAX_BATCH: usize = 1024;

/// Room for one datagram's control messages: an `IP_PKTINFO` or `IPV6_PKTINFO` (at most 40
/// bytes with its header on 64-bit), aligned as the kernel's `cmsghdr`.
#[repr(C, align(8))]
#[derive(Clone, Copy)]
struct Control([u8; CONTROL_LEN]);

const CONTROL_LEN: usize = 64;

/// The kernel's `cmsghdr`: `size_t cmsg_len; int cmsg_level; int cmsg_type;`, data after it
/// at `size_t` alignment (`CMSG_LEN` / `CMSG_SPACE`). Read and written by hand, as bytes.
const CMSG_HDR: usize = mem::size_of::<libc::cmsghdr>();

fn cmsg_align(len: usize) -> usize {
    let a = mem::size_of::<usize>();
    len.div_ceil(a) * a
}

/// Ask the kernel to tell, for every datagram `socket` receives, the address it was sent to
/// (`IP_PKTINFO` / `IPV6_RECVPKTINFO`): a socket bound to a wildcard address needs it to
/// answer from that address ([`SendBatch::push_from`]).
pub fn ask_destination(socket: &UdpSocket) -> io::Result<()> {
    let fd = socket.as_raw_fd();
    let on: libc::c_int = 1;
    let set = |level: libc::c_int, name: libc::c_int| {
        // SAFETY: `on` is a live c_int and the length given is its size; the kernel only
        // reads it.
        let r = unsafe {
            libc::setsockopt(
                fd,
                level,
                name,
                ptr::from_ref(&on).cast(),
                mem::size_of::<libc::c_int>() as libc::socklen_t,
            )
        };
        super::cvt(r).map(drop)
    };
    if socket.local_addr()?.is_ipv4() {
        set(libc::IPPROTO_IP, libc::IP_PKTINFO)
    } else {
        set(libc::IPPROTO_IPV6, libc::IPV6_RECVPKTINFO)?;
        // IPv4 clients of a dual-stack socket (v4-mapped) are told by IP_PKTINFO; a v6-only
        // socket may refuse it, which changes nothing.
        let _ = set(libc::IPPROTO_IP, libc::IP_PKTINFO);
        Ok(())
    }
}

/// The local address a datagram came to, the one to answer from, in `control` (the first `len`
/// bytes the kernel wrote): an `IP_PKTINFO` message's `ipi_spec_dst` (the header's destination
/// for unicast; for a broadcast or multicast datagram the receiving interface's address, which
/// a reply may leave from) or an `IPV6_PKTINFO` message's `ipi6_addr` (not when multicast).
fn destination(control: &[u8], len: usize) -> Option<IpAddr> {
    let control = control.get(..len.min(control.len()))?;
    let mut at = 0;
    while let Some(head) = control.get(at..at + CMSG_HDR) {
        let (len_bytes, rest) = head.split_at(mem::size_of::<usize>());
        let cmsg_len = usize::from_ne_bytes(len_bytes.try_into().ok()?);
        let level = libc::c_int::from_ne_bytes(rest.get(..4)?.try_into().ok()?);
        let kind = libc::c_int::from_ne_bytes(rest.get(4..8)?.try_into().ok()?);
        if cmsg_len < CMSG_HDR {
            return None;
        }
        let data = control.get(at + CMSG_HDR..at + cmsg_len)?;
        match (level, kind) {
            // in_pktinfo: int ipi_ifindex; in_addr ipi_spec_dst; in_addr ipi_addr.
            (libc::IPPROTO_IP, libc::IP_PKTINFO) => {
                let addr: [u8; 4] = data.get(4..8)?.try_into().ok()?;
                let addr = Ipv4Addr::from(addr);
                return (!addr.is_unspecified()).then_some(IpAddr::V4(addr));
            }
            // in6_pktinfo: in6_addr ipi6_addr; unsigned ipi6_ifindex.
            (libc::IPPROTO_IPV6, libc::IPV6_PKTINFO) => {
                let addr: [u8; 16] = data.get(..16)?.try_into().ok()?;
                let addr = Ipv6Addr::from(addr);
                return (!addr.is_multicast() && !addr.is_unspecified())
                    .then_some(IpAddr::V6(addr));
            }
            _ => {}
        }
        at += cmsg_align(cmsg_len);
    }
    None
}

/// Writes into `control` the message that sends a datagram from `source` (`IP_PKTINFO` with
/// `ipi_spec_dst`, or `IPV6_PKTINFO` with `ipi6_addr`; interface 0: the route's); its length
/// (`CMSG_SPACE`).
fn source_control(control: &mut Control, source: IpAddr) -> usize {
    let (level, kind, data): (libc::c_int, libc::c_int, [u8; 20]) = match source {
        IpAddr::V4(a) => {
            let mut d = [0u8; 20];
            d[4..8].copy_from_slice(&a.octets()); // ipi_spec_dst
            (libc::IPPROTO_IP, libc::IP_PKTINFO, d)
        }
        IpAddr::V6(a) => {
            let mut d = [0u8; 20];
            d[..16].copy_from_slice(&a.octets()); // ipi6_addr
            (libc::IPPROTO_IPV6, libc::IPV6_PKTINFO, d)
        }
    };
    let data_len = match source {
        IpAddr::V4(_) => mem::size_of::<libc::in_pktinfo>(),
        IpAddr::V6(_) => mem::size_of::<libc::in6_pktinfo>(),
    };
    let c = &mut control.0;
    c.fill(0);
    let ulen = mem::size_of::<usize>();
    c[..ulen].copy_from_slice(&(CMSG_HDR + data_len).to_ne_bytes());
    c[ulen..ulen + 4].copy_from_slice(&level.to_ne_bytes());
    c[ulen + 4..ulen + 8].copy_from_slice(&kind.to_ne_bytes());
    c[CMSG_HDR..CMSG_HDR + data_len].copy_from_slice(&data[..data_len]);
    CMSG_HDR + cmsg_align(data_len)
}

/// The control bytes the kernel wrote (`msg_controllen` is `size_t` in glibc, `socklen_t` in
/// musl).
#[allow(clippy::unnecessary_cast)]
fn controllen(h: &libc::msghdr) -> usize {
    h.msg_controllen as usize
}

/// A socket address as the kernel reads and writes it: IPv4 or IPv6.
#[repr(C)]
#[derive(Clone, Copy)]
union RawAddr {
    v4: libc::sockaddr_in,
    v6: libc::sockaddr_in6,
}

const RAW_ADDR_LEN: libc::socklen_t = mem::size_of::<RawAddr>() as libc::socklen_t;

impl RawAddr {
    fn zeroed() -> Self {
        // SAFETY: both members are plain C structs of integers, for which all zeroes is valid.
        unsafe { mem::zeroed() }
    }

    /// `addr` and its length, as `sendmsg` wants them (as std converts them).
    fn encode(addr: SocketAddr) -> (Self, libc::socklen_t) {
        match addr {
            SocketAddr::V4(a) => {
                let v4 = libc::sockaddr_in {
                    sin_family: libc::AF_INET as libc::sa_family_t,
                    sin_port: a.port().to_be(),
                    sin_addr: libc::in_addr {
                        s_addr: u32::from(*a.ip()).to_be(),
                    },
                    sin_zero: [0; 8],
                };
                let len = mem::size_of::<libc::sockaddr_in>() as libc::socklen_t;
                (RawAddr { v4 }, len)
            }
            SocketAddr::V6(a) => {
                let v6 = libc::sockaddr_in6 {
                    sin6_family: libc::AF_INET6 as libc::sa_family_t,
                    sin6_port: a.port().to_be(),
                    sin6_flowinfo: a.flowinfo(),
                    sin6_addr: libc::in6_addr {
                        s6_addr: a.ip().octets(),
                    },
                    sin6_scope_id: a.scope_id(),
                };
                let len = mem::size_of::<libc::sockaddr_in6>() as libc::socklen_t;
                (RawAddr { v6 }, len)
            }
        }
    }

    /// The address the kernel wrote, `len` bytes of it; `None` for any other family.
    fn decode(&self, len: libc::socklen_t) -> Option<SocketAddr> {
        let len = len as usize;
        // SAFETY: every member is integers only, so any bytes are a valid value of each; the
        // family field sits at the same offset in both, and we read the member it names, and
        // only when the kernel wrote at least that member's size.
        unsafe {
            match libc::c_int::from(self.v4.sin_family) {
                libc::AF_INET if len >= mem::size_of::<libc::sockaddr_in>() => {
                    let a = self.v4;
                    let ip = Ipv4Addr::from(u32::from_be(a.sin_addr.s_addr));
                    Some(SocketAddrV4::new(ip, u16::from_be(a.sin_port)).into())
                }
                libc::AF_INET6 if len >= mem::size_of::<libc::sockaddr_in6>() => {
                    let a = self.v6;
                    let ip = Ipv6Addr::from(a.sin6_addr.s6_addr);
                    let port = u16::from_be(a.sin6_port);
                    Some(SocketAddrV6::new(ip, port, a.sin6_flowinfo, a.sin6_scope_id).into())
                }
                _ => None,
            }
        }
    }
}

fn empty_header() -> libc::mmsghdr {
    // SAFETY: a C struct of integers and raw pointers, for which all zeroes (null pointers,
    // zero lengths) is valid; some libcs give it private padding fields, so no struct literal.
    unsafe { mem::zeroed() }
}

fn empty_iovec() -> libc::iovec {
    libc::iovec {
        iov_base: ptr::null_mut(),
        iov_len: 0,
    }
}

/// Up to `count` received datagrams of up to `size` bytes each, and their senders: filled by
/// [`recv`](Self::recv), read with [`iter`](Self::iter) until the next `recv`.
pub struct RecvBatch {
    size: usize,
    /// `count` buffers of `size` bytes, back to back.
    buf: Vec<u8>,
    addrs: Vec<RawAddr>,
    /// Rebuilt before each call to point into `buf` and `addrs`; their pointers mean nothing
    /// between calls. `headers[i]` keeps what the kernel said of datagram `i`.
    iovecs: Vec<libc::iovec>,
    headers: Vec<libc::mmsghdr>,
    /// One per buffer when the destination is asked for ([`with_destination`](Self::with_destination)),
    /// else none.
    controls: Vec<Control>,
    /// Datagrams received by the last `recv`.
    len: usize,
}

// SAFETY: the raw pointers in `iovecs` and `headers` are set, from `&mut self`, at the start of
// every call that uses them and point only into heap blocks this value owns; nothing reads them
// between calls, so no thread can see them stale.
unsafe impl Send for RecvBatch {}

impl RecvBatch {
    /// A batch of `count` buffers of `size` bytes (`count` taken into 1..=1024, `size` at least
    /// 1), all allocated here and reused by every `recv`. A datagram longer than `size` is
    /// received truncated and says so.
    pub fn new(count: usize, size: usize) -> Self {
        let count = count.clamp(1, MAX_BATCH);
        let size = size.max(1);
        Self {
            size,
            buf: vec![0u8; count * size],
            addrs: vec![RawAddr::zeroed(); count],
            iovecs: vec![empty_iovec(); count],
            headers: (0..count).map(|_| empty_header()).collect(),
            controls: Vec::new(),
            len: 0,
        }
    }

    /// Each datagram also tells the address it was sent to ([`Datagram::local`]), on a socket
    /// that was told to report it ([`ask_destination`]).
    pub fn with_destination(mut self) -> Self {
        self.controls = vec![Control([0; CONTROL_LEN]); self.headers.len()];
        self
    }

    /// Receives what is waiting, up to the batch's count, without blocking: the number of
    /// datagrams, at least 1, or `WouldBlock` when there are none (await `readable()`). The
    /// previous batch's datagrams are gone.
    pub fn recv(&mut self, socket: &UdpSocket) -> io::Result<usize> {
        self.len = 0;
        let fd = socket.as_raw_fd();
        let received = socket.try_io(Interest::READABLE, || self.recvmmsg(fd))?;
        self.len = received;
        Ok(received)
    }

    fn recvmmsg(&mut self, fd: libc::c_int) -> io::Result<usize> {
        let size = self.size;
        let mut controls = self.controls.iter_mut();
        for (((chunk, addr), iov), header) in self
            .buf
            .chunks_exact_mut(size)
            .zip(self.addrs.iter_mut())
            .zip(self.iovecs.iter_mut())
            .zip(self.headers.iter_mut())
        {
            iov.iov_base = chunk.as_mut_ptr().cast();
            iov.iov_len = size;
            header.msg_hdr.msg_name = ptr::from_mut(addr).cast();
            header.msg_hdr.msg_namelen = RAW_ADDR_LEN;
            header.msg_hdr.msg_iov = iov;
            header.msg_hdr.msg_iovlen = 1;
            header.msg_hdr.msg_flags = 0;
            header.msg_len = 0;
            match controls.next() {
                Some(c) => {
                    header.msg_hdr.msg_control = ptr::from_mut(c).cast();
                    header.msg_hdr.msg_controllen = CONTROL_LEN as _;
                }
                None => {
                    header.msg_hdr.msg_control = ptr::null_mut();
                    header.msg_hdr.msg_controllen = 0;
                }
            }
        }
        let vlen = self.headers.len() as libc::c_uint;
        loop {
            // SAFETY: `headers` holds `vlen` headers just pointed at one `RawAddr` of
            // RAW_ADDR_LEN bytes, one iovec of `size` bytes inside `buf` and either no control
            // buffer or one `Control` of CONTROL_LEN bytes each, all owned by self and
            // borrowed mutably for the call; a null timeout is allowed.
            let n = unsafe {
                libc::recvmmsg(
                    fd,
                    self.headers.as_mut_ptr(),
                    vlen,
                    libc::MSG_DONTWAIT as _,
                    ptr::null_mut(),
                )
            };
            match super::cvt(n) {
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
                Ok(n) => return Ok((n as usize).min(self.headers.len())),
            }
        }
    }

    /// Datagrams the last [`recv`](Self::recv) took.
    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The most datagrams one `recv` takes.
    pub fn count(&self) -> usize {
        self.headers.len()
    }

    /// The longest datagram received whole.
    pub fn size(&self) -> usize {
        self.size
    }

    /// Datagram `i` of the last `recv`.
    pub fn get(&self, i: usize) -> Option<Datagram<'_>> {
        if i >= self.len {
            return None;
        }
        let header = self.headers.get(i)?;
        let peer = self.addrs.get(i)?.decode(header.msg_hdr.msg_namelen)?;
        let start = i * self.size;
        let len = (header.msg_len as usize).min(self.size);
        Some(Datagram {
            peer,
            data: self.buf.get(start..start + len)?,
            truncated: header.msg_hdr.msg_flags & libc::MSG_TRUNC != 0,
            local: self
                .controls
                .get(i)
                .and_then(|c| destination(&c.0, controllen(&header.msg_hdr))),
        })
    }

    /// The datagrams of the last `recv`, in arrival order (one whose sender is not IPv4 or IPv6,
    /// which a UDP socket never reports, is skipped).
    pub fn iter(&self) -> impl Iterator<Item = Datagram<'_>> + '_ {
        (0..self.len).filter_map(|i| self.get(i))
    }
}

/// Datagrams queued for several destinations, sent with as few `sendmmsg` calls as the kernel
/// allows by [`flush`](Self::flush).
pub struct SendBatch {
    queue: Queue,
    /// Rebuilt from `queue` before each call; they point into it.
    addrs: Vec<RawAddr>,
    iovecs: Vec<libc::iovec>,
    headers: Vec<libc::mmsghdr>,
    /// The source of each datagram queued with one ([`push_from`](Self::push_from)).
    controls: Vec<Control>,
}

// SAFETY: as for `RecvBatch`: the pointers are set, from `&mut self`, before every call that
// uses them, point only into heap blocks this value owns, and are not read between calls.
unsafe impl Send for SendBatch {}

impl SendBatch {
    /// A batch of up to `max` datagrams (taken into 1..=1024).
    pub fn new(max: usize) -> Self {
        let max = max.clamp(1, MAX_BATCH);
        Self {
            queue: Queue::new(max),
            addrs: vec![RawAddr::zeroed(); max],
            iovecs: vec![empty_iovec(); max],
            headers: (0..max).map(|_| empty_header()).collect(),
            controls: vec![Control([0; CONTROL_LEN]); max],
        }
    }

    /// Queues `payload` for `dest`; `false` (and nothing queued) when the batch is full.
    #[must_use = "a full batch queues nothing: flush it first"]
    pub fn push(&mut self, dest: SocketAddr, payload: &[u8]) -> bool {
        self.queue.push(dest, payload)
    }

    /// [`push`](Self::push), sent from `source` when given (the address a client sent to, on
    /// a socket bound to a wildcard address); the kernel's choice otherwise.
    #[must_use = "a full batch queues nothing: flush it first"]
    pub fn push_from(&mut self, dest: SocketAddr, source: Option<IpAddr>, payload: &[u8]) -> bool {
        self.queue.push_from(dest, source, payload)
    }

    /// Datagrams queued and not yet sent.
    pub fn len(&self) -> usize {
        self.queue.len()
    }

    pub fn is_empty(&self) -> bool {
        self.queue.len() == 0
    }

    pub fn is_full(&self) -> bool {
        self.queue.is_full()
    }

    /// Drops what is still queued (a caller that must not wait for `writable()`): how many
    /// datagrams and payload bytes that was.
    pub fn clear(&mut self) -> (usize, usize) {
        self.queue.clear()
    }

    /// Sends what is queued, in order, without blocking. What the socket cannot take now stays
    /// queued (await `writable()` and flush again); a datagram the kernel refuses (no route,
    /// too long, a bad address) is dropped, counted and reported, and the rest still go. An
    /// error is taken to be the first queued datagram's (the kernel reports no other), so a
    /// socket that fails outright refuses them all, one per call.
    pub fn flush(&mut self, socket: &UdpSocket) -> Flushed {
        let fd = socket.as_raw_fd();
        let mut flushed = Flushed::default();
        while !self.queue.is_empty() {
            match socket.try_io(Interest::WRITABLE, || self.sendmmsg(fd)) {
                Ok(0) => break,
                Ok(sent) => {
                    flushed.sent += sent;
                    self.queue.consume(sent);
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                // sendmmsg fails only when the first message does: that one is refused.
                Err(e) => {
                    flushed.refused(self.queue.dest(0), e);
                    self.queue.consume(1);
                }
            }
        }
        flushed
    }

    fn sendmmsg(&mut self, fd: libc::c_int) -> io::Result<usize> {
        let mut n = 0;
        for ((((dest, source, payload), addr), (iov, header)), control) in self
            .queue
            .iter_from()
            .zip(self.addrs.iter_mut())
            .zip(self.iovecs.iter_mut().zip(self.headers.iter_mut()))
            .zip(self.controls.iter_mut())
        {
            match source {
                Some(source) => {
                    let len = source_control(control, source);
                    header.msg_hdr.msg_control = ptr::from_mut(control).cast();
                    header.msg_hdr.msg_controllen = len as _;
                }
                None => {
                    header.msg_hdr.msg_control = ptr::null_mut();
                    header.msg_hdr.msg_controllen = 0;
                }
            }
            let (raw, len) = RawAddr::encode(dest);
            *addr = raw;
            // The kernel only reads through these pointers (`sendmsg` takes a const message).
            iov.iov_base = payload.as_ptr().cast_mut().cast();
            iov.iov_len = payload.len();
            header.msg_hdr.msg_name = ptr::from_mut(addr).cast();
            header.msg_hdr.msg_namelen = len;
            header.msg_hdr.msg_iov = iov;
            header.msg_hdr.msg_iovlen = 1;
            header.msg_len = 0;
            n += 1;
        }
        loop {
            // SAFETY: the first `n` headers were just filled, each naming an address in `addrs`
            // of the length given, one iovec over a payload inside `queue` and no control
            // buffer or one `Control` holding the length given, all owned by self and borrowed
            // mutably (so unchanged) for the call.
            let sent = unsafe {
                libc::sendmmsg(
                    fd,
                    self.headers.as_mut_ptr(),
                    n as libc::c_uint,
                    libc::MSG_DONTWAIT as _,
                )
            };
            match super::cvt(sent) {
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
                Ok(sent) => return Ok((sent as usize).min(n)),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A control message as the kernel writes one: header, then `data`.
    fn cmsg(level: libc::c_int, kind: libc::c_int, data: &[u8]) -> Vec<u8> {
        let mut c = (CMSG_HDR + data.len()).to_ne_bytes().to_vec();
        c.extend_from_slice(&level.to_ne_bytes());
        c.extend_from_slice(&kind.to_ne_bytes());
        c.resize(CMSG_HDR, 0);
        c.extend_from_slice(data);
        c.resize(CMSG_HDR + cmsg_align(data.len()), 0);
        c
    }

    #[test]
    fn the_local_address_is_read_from_pktinfo_messages() {
        // A broadcast: the header says 255.255.255.255, the interface is 10.0.0.5.
        let mut v4 = [0u8; 12];
        v4[4..8].copy_from_slice(&[10, 0, 0, 5]);
        v4[8..12].copy_from_slice(&[255, 255, 255, 255]);
        let c = cmsg(libc::IPPROTO_IP, libc::IP_PKTINFO, &v4);
        assert_eq!(destination(&c, c.len()), Some("10.0.0.5".parse().unwrap()));
        // After another message, which is skipped.
        let mut two = cmsg(libc::SOL_SOCKET, libc::SO_TIMESTAMP, &[0; 16]);
        two.extend_from_slice(&c);
        assert_eq!(
            destination(&two, two.len()),
            Some("10.0.0.5".parse().unwrap())
        );
        assert_eq!(destination(&c, CMSG_HDR + 11), None, "cut inside its data");
        assert_eq!(destination(&c, 0), None);
        let mut v6 = [0u8; 20];
        v6[..16].copy_from_slice(&"2001:db8::7".parse::<Ipv6Addr>().unwrap().octets());
        let c = cmsg(libc::IPPROTO_IPV6, libc::IPV6_PKTINFO, &v6);
        assert_eq!(
            destination(&c, c.len()),
            Some("2001:db8::7".parse().unwrap())
        );
        v6[..16].copy_from_slice(&"ff02::1".parse::<Ipv6Addr>().unwrap().octets());
        let c = cmsg(libc::IPPROTO_IPV6, libc::IPV6_PKTINFO, &v6);
        assert_eq!(
            destination(&c, c.len()),
            None,
            "a multicast group is no source"
        );
        // A length below the header's own ends the walk instead of looping.
        let mut bad = c.clone();
        bad[..mem::size_of::<usize>()].copy_from_slice(&1usize.to_ne_bytes());
        assert_eq!(destination(&bad, bad.len()), None);
    }

    #[test]
    fn the_source_message_is_what_the_kernel_reads() {
        let mut c = Control([0xff; CONTROL_LEN]);
        let len = source_control(&mut c, "127.0.0.2".parse().unwrap());
        assert_eq!(
            len,
            CMSG_HDR + cmsg_align(mem::size_of::<libc::in_pktinfo>())
        );
        let mut data = [0u8; 12];
        data[4..8].copy_from_slice(&[127, 0, 0, 2]);
        assert_eq!(
            &c.0[..len],
            &cmsg(libc::IPPROTO_IP, libc::IP_PKTINFO, &data)[..]
        );
    }

    #[test]
    fn addresses_survive_encode_and_decode() {
        let addrs: [SocketAddr; 4] = [
            "127.0.0.1:9".parse().unwrap(),
            "10.1.2.3:65535".parse().unwrap(),
            "[::1]:53".parse().unwrap(),
            SocketAddrV6::new("fe80::1".parse().unwrap(), 4242, 0, 3).into(),
        ];
        for addr in addrs {
            let (raw, len) = RawAddr::encode(addr);
            assert_eq!(raw.decode(len), Some(addr));
            assert_eq!(raw.decode(len - 1), None, "a short address is refused");
        }
        assert_eq!(RawAddr::zeroed().decode(RAW_ADDR_LEN), None, "family 0");
    }
}
