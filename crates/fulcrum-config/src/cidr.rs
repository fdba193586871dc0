//! CIDR blocks (`10.0.0.0/8`, `2001:db8::/32`, or a bare address for one host): the type the
//! model holds and the decoder for lists of them (`trusted_proxies`).

use std::fmt;
use std::net::IpAddr;

use crate::decode::{self, Ctx, Value, Where};

/// An IPv4 or IPv6 network: an address with its host bits zero and a prefix length.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Cidr {
    addr: IpAddr,
    prefix: u8,
}

impl Cidr {
    /// The network `addr/prefix`; `None` when the prefix is too long for the family or `addr`
    /// has host bits set (`10.0.0.1/8`).
    pub fn new(addr: IpAddr, prefix: u8) -> Option<Cidr> {
        let c = Cidr { addr, prefix };
        (prefix <= c.max_prefix() && c.mask(addr) == Some(addr)).then_some(c)
    }

    /// The network's address (host bits zero).
    pub fn addr(&self) -> IpAddr {
        self.addr
    }

    /// The prefix length.
    pub fn prefix(&self) -> u8 {
        self.prefix
    }

    fn max_prefix(&self) -> u8 {
        if self.addr.is_ipv4() {
            32
        } else {
            128
        }
    }

    /// `ip` with the bits past the prefix cleared, when it is of this network's family.
    fn mask(&self, ip: IpAddr) -> Option<IpAddr> {
        match (self.addr, ip) {
            (IpAddr::V4(_), IpAddr::V4(ip)) => {
                let bits = u32::from(ip);
                let mask = u32::MAX
                    .checked_shl(32 - u32::from(self.prefix))
                    .unwrap_or(0);
                Some(IpAddr::V4((bits & mask).into()))
            }
            (IpAddr::V6(_), IpAddr::V6(ip)) => {
                let bits = u128::from(ip);
                let mask = u128::MAX
                    .checked_shl(128 - u32::from(self.prefix))
                    .unwrap_or(0);
                Some(IpAddr::V6((bits & mask).into()))
            }
            _ => None,
        }
    }

    /// Whether `ip` is in this network. An IPv4-mapped IPv6 address (`::ffff:10.1.2.3`, what
    /// a dual-stack socket reports for an IPv4 client) counts as its IPv4 address.
    pub fn contains(&self, ip: IpAddr) -> bool {
        self.mask(ip.to_canonical()) == Some(self.addr)
    }
}

impl fmt::Display for Cidr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.addr, self.prefix)
    }
}

/// `"10.0.0.0/8"`, `"2001:db8::/32"` or `"192.0.2.7"` (one host).
pub(crate) fn parse(raw: &str) -> Result<Cidr, String> {
    let (ip, prefix) = match raw.split_once('/') {
        Some((ip, p)) => (ip, Some(p)),
        None => (raw, None),
    };
    let ip: IpAddr = ip
        .parse()
        .map_err(|_| format!("{ip:?} is not an IP address"))?;
    let max = if ip.is_ipv4() { 32 } else { 128 };
    let prefix = match prefix {
        None => max,
        Some(p) => match p.parse::<u8>() {
            Ok(n) if n <= max && p.bytes().all(|b| b.is_ascii_digit()) => n,
            _ => return Err(format!("the prefix length must be 0 to {max}")),
        },
    };
    match Cidr::new(ip, prefix) {
        Some(c) => Ok(c),
        None => {
            let network = Cidr { addr: ip, prefix }
                .mask(ip)
                .map_or_else(String::new, |n| format!("{n}/{prefix}"));
            Err(format!("host bits are set (the network is {network})"))
        }
    }
}

/// A list of CIDR strings, each error at its own element.
pub(crate) fn list(ctx: &mut Ctx<'_>, v: &Value<'_>, at: Where) -> Option<Vec<Cidr>> {
    let items = decode::array(
        ctx,
        v,
        &at,
        "an array of CIDR strings, e.g. [\"10.0.0.0/8\"]",
    )?;
    let mut out = Some(Vec::with_capacity(items.len()));
    for (i, item) in items.iter().enumerate() {
        let at = at.index(i);
        let c = decode::string(ctx, item, at.clone()).and_then(|raw| match parse(&raw) {
            Ok(c) => Some(c),
            Err(why) => {
                let msg = format!(
                    "invalid CIDR {raw:?}: {why} (expected e.g. \"10.0.0.0/8\", \
                     \"2001:db8::/32\" or one address)"
                );
                ctx.error(&item.span(), &at, msg);
                None
            }
        });
        out = out.zip(c).map(|(mut all, c)| {
            all.push(c);
            all
        });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn parses_and_contains_both_families() {
        let v4 = parse("10.0.0.0/8").unwrap();
        assert!(v4.contains(ip("10.200.3.4")));
        assert!(!v4.contains(ip("11.0.0.1")));
        assert!(
            v4.contains(ip("::ffff:10.1.2.3")),
            "IPv4-mapped counts as IPv4"
        );
        assert!(!v4.contains(ip("::1")));
        let v6 = parse("2001:db8::/32").unwrap();
        assert!(v6.contains(ip("2001:db8:ffff::1")));
        assert!(!v6.contains(ip("2001:db9::1")));
        assert!(!v6.contains(ip("10.0.0.1")));
        let one = parse("192.0.2.7").unwrap();
        assert_eq!(one.to_string(), "192.0.2.7/32");
        assert!(one.contains(ip("192.0.2.7")) && !one.contains(ip("192.0.2.8")));
        let all = parse("0.0.0.0/0").unwrap();
        assert!(all.contains(ip("203.0.113.1")));
        assert!(parse("::/0").unwrap().contains(ip("2001:db8::1")));
        assert_eq!(parse("::1").unwrap().to_string(), "::1/128");
    }

    #[test]
    fn refuses_bad_prefixes_and_host_bits() {
        assert!(parse("10.0.0.0/33").unwrap_err().contains("0 to 32"));
        assert!(parse("::/129").unwrap_err().contains("0 to 128"));
        assert!(parse("10.0.0.0/+8").is_err());
        assert!(parse("10.0.0.0/").is_err());
        assert!(parse("example.com/8")
            .unwrap_err()
            .contains("not an IP address"));
        assert_eq!(
            parse("10.1.2.3/8").unwrap_err(),
            "host bits are set (the network is 10.0.0.0/8)"
        );
    }
}
