//! Which addresses a feed's messages may come from (`feed add --allow-from`,
//! `feed allow`): network prefixes in CIDR form. A feed is known by the
//! MSH-4 its messages name, which anyone who reaches the MLLP port can
//! write; a feed with prefixes takes messages only from peers inside one.
//! No I/O.

use std::fmt;
use std::net::IpAddr;
use std::str::FromStr;

/// One network prefix: `192.0.2.0/24`, `2001:db8::/32`, or one address
/// (`192.0.2.7`, read as `/32` or `/128`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Prefix {
    net: IpAddr,
    len: u8,
}

impl Prefix {
    /// Whether `ip` is inside this prefix. An IPv4 peer reached over an
    /// IPv6 socket (`::ffff:192.0.2.7`) is read as its IPv4 address.
    pub fn contains(&self, ip: IpAddr) -> bool {
        match (self.net, ip.to_canonical()) {
            (IpAddr::V4(net), IpAddr::V4(ip)) => {
                let mask = mask(32, self.len);
                u128::from(u32::from(ip)) & mask == u128::from(u32::from(net))
            }
            (IpAddr::V6(net), IpAddr::V6(ip)) => {
                u128::from(ip) & mask(128, self.len) == u128::from(net)
            }
            _ => false,
        }
    }
}

/// The mask of a `len`-bit prefix of a `bits`-bit address (`len <= bits`),
/// in the low `bits` bits.
fn mask(bits: u8, len: u8) -> u128 {
    if len == 0 {
        return 0;
    }
    let ones = if len >= 128 {
        u128::MAX
    } else {
        (1u128 << len) - 1
    };
    ones << bits.saturating_sub(len)
}

impl FromStr for Prefix {
    type Err = String;

    /// A prefix whose address has bits set past its length
    /// (`192.0.2.7/24`) is refused, naming the prefix it may have meant: a
    /// typo there would otherwise allow a network nobody chose.
    fn from_str(s: &str) -> Result<Self, String> {
        let s = s.trim();
        let (addr, len) = match s.split_once('/') {
            Some((a, l)) => (a, Some(l)),
            None => (s, None),
        };
        let shown: String = s.chars().take(60).collect();
        let given: IpAddr = addr
            .parse()
            .map_err(|_| format!("{shown:?} is not an IP address or CIDR prefix"))?;
        let net = given.to_canonical();
        if net != given && len.is_some() {
            return Err(format!(
                "{shown:?}: write an IPv4 prefix in IPv4 form ({net}/…)"
            ));
        }
        let bits: u8 = if net.is_ipv4() { 32 } else { 128 };
        let len = match len {
            None => bits,
            // Digits only: `u8`'s parse also takes a leading `+`.
            Some(l) => Some(l)
                .filter(|l| !l.is_empty() && l.bytes().all(|b| b.is_ascii_digit()))
                .and_then(|l| l.parse::<u8>().ok())
                .filter(|l| *l <= bits)
                .ok_or_else(|| format!("{shown:?}: the prefix length must be 0 to {bits}"))?,
        };
        let value = match net {
            IpAddr::V4(v4) => u128::from(u32::from(v4)),
            IpAddr::V6(v6) => u128::from(v6),
        };
        let masked = value & mask(bits, len);
        if masked != value {
            let meant = Prefix {
                net: match net {
                    IpAddr::V4(_) => IpAddr::V4(u32::try_from(masked).unwrap_or(0).into()),
                    IpAddr::V6(_) => IpAddr::V6(masked.into()),
                },
                len,
            };
            return Err(format!(
                "{shown:?} has address bits past its /{len}: the network is {meant}"
            ));
        }
        Ok(Prefix { net, len })
    }
}

impl fmt::Display for Prefix {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.net, self.len)
    }
}

/// A feed's prefixes; none allows every address (a feed registered without
/// `--allow-from`, and every feed registered before it existed).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Allowed(Vec<Prefix>);

impl Allowed {
    /// Every address.
    pub fn any() -> Self {
        Self(Vec::new())
    }

    /// The prefixes of `given` (each item may itself list several,
    /// comma-separated), each once, in order.
    pub fn parse<S: AsRef<str>>(given: &[S]) -> Result<Self, String> {
        let mut out: Vec<Prefix> = Vec::new();
        for item in given {
            for part in item.as_ref().split(',') {
                if part.trim().is_empty() {
                    continue;
                }
                let p: Prefix = part.parse()?;
                if !out.contains(&p) {
                    out.push(p);
                }
            }
        }
        Ok(Self(out))
    }

    /// As stored in `feeds.allow_from` (`None`: any address). A stored
    /// value that does not read allows nothing: it was written by this
    /// code, so it is damage, and a damaged allow-list must not open the
    /// feed to everyone.
    pub fn from_stored(stored: Option<&str>) -> Result<Self, String> {
        match stored {
            None => Ok(Self::any()),
            Some(s) => {
                let a = Self::parse(&[s])?;
                if a.0.is_empty() {
                    return Err("an empty allow-list".into());
                }
                Ok(a)
            }
        }
    }

    /// The stored form: `None` for any address.
    pub fn stored(&self) -> Option<String> {
        (!self.0.is_empty()).then(|| self.to_string())
    }

    /// Whether every address is allowed.
    pub fn is_any(&self) -> bool {
        self.0.is_empty()
    }

    /// Whether a peer at `ip` may send this feed's messages.
    pub fn permits(&self, ip: IpAddr) -> bool {
        self.0.is_empty() || self.0.iter().any(|p| p.contains(ip))
    }

    /// The prefixes as text, one per item.
    pub fn prefixes(&self) -> Vec<String> {
        self.0.iter().map(ToString::to_string).collect()
    }
}

impl fmt::Display for Allowed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.prefixes().join(","))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().expect("ip")
    }

    #[test]
    fn prefixes_hold_the_addresses_under_them_and_no_others() {
        let p: Prefix = "192.0.2.0/24".parse().expect("prefix");
        assert!(p.contains(ip("192.0.2.0")));
        assert!(p.contains(ip("192.0.2.255")));
        assert!(!p.contains(ip("192.0.3.0")));
        assert!(!p.contains(ip("192.0.1.255")));
        // An IPv4 peer on a dual-stack socket.
        assert!(p.contains(ip("::ffff:192.0.2.9")));
        assert!(!p.contains(ip("2001:db8::1")));
        let one: Prefix = "10.1.2.3".parse().expect("one address");
        assert_eq!(one.to_string(), "10.1.2.3/32");
        assert!(one.contains(ip("10.1.2.3")));
        assert!(!one.contains(ip("10.1.2.4")));
        let all: Prefix = "0.0.0.0/0".parse().expect("all v4");
        assert!(all.contains(ip("203.0.113.200")));
        assert!(!all.contains(ip("::1")));
        let v6: Prefix = "2001:db8::/32".parse().expect("v6");
        assert!(v6.contains(ip("2001:db8:ffff::1")));
        assert!(!v6.contains(ip("2001:db9::1")));
        let v6one: Prefix = "::1".parse().expect("v6 one");
        assert_eq!(v6one.to_string(), "::1/128");
        assert!(v6one.contains(ip("::1")));
        assert!(!v6one.contains(ip("127.0.0.1")));
        let odd: Prefix = "172.16.0.0/12".parse().expect("/12");
        assert!(odd.contains(ip("172.31.255.255")));
        assert!(!odd.contains(ip("172.32.0.0")));
        // A mapped prefix is its IPv4 form.
        let mapped = "::ffff:192.0.2.0/24".parse::<Prefix>();
        assert!(mapped.is_err(), "a /24 of the mapped form would be a /120");
        let mapped: Prefix = "::ffff:192.0.2.7".parse().expect("mapped");
        assert_eq!(mapped.to_string(), "192.0.2.7/32");
    }

    #[test]
    fn a_prefix_that_does_not_read_is_refused_with_what_was_meant() {
        let e = "192.0.2.7/24".parse::<Prefix>().expect_err("host bits");
        assert!(e.contains("192.0.2.0/24"), "{e}");
        for bad in [
            "",
            "10.0.0.0/33",
            "::/129",
            "10.0.0/8",
            "host.example",
            "10.0.0.0/",
            "10.0.0.0/-1",
            "10.0.0.0/ 8",
            "10.0.0.0/+8",
        ] {
            assert!(bad.parse::<Prefix>().is_err(), "{bad:?}");
        }
    }

    #[test]
    fn an_allow_list_is_any_address_when_empty_and_reads_back_as_stored() {
        let any = Allowed::any();
        assert!(any.permits(ip("203.0.113.9")));
        assert_eq!(any.stored(), None);
        let a = Allowed::parse(&["192.0.2.0/24, 10.0.0.5", "192.0.2.0/24", "2001:db8::/48"])
            .expect("list");
        assert_eq!(
            a.prefixes(),
            ["192.0.2.0/24", "10.0.0.5/32", "2001:db8::/48"]
        );
        assert!(a.permits(ip("10.0.0.5")));
        assert!(a.permits(ip("192.0.2.200")));
        assert!(!a.permits(ip("10.0.0.6")));
        assert!(!a.permits(ip("127.0.0.1")));
        let stored = a.stored().expect("stored");
        assert_eq!(Allowed::from_stored(Some(&stored)), Ok(a));
        assert_eq!(Allowed::from_stored(None), Ok(Allowed::any()));
        // Damage never opens a feed to everyone.
        assert!(Allowed::from_stored(Some("")).is_err());
        assert!(Allowed::from_stored(Some("garbage")).is_err());
    }
}
