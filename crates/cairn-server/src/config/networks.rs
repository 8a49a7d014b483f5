//! [`Networks`]: a list of IP networks written the usual way
//! (`10.0.0.0/8, 192.168.1.5, fd00::/8`), for settings that trust callers by
//! their address. A bare address is a network of one.

use std::fmt;
use std::net::IpAddr;

/// One network: an address and how many of its leading bits must match.
#[derive(Clone, Copy, PartialEq, Eq)]
struct Network {
    base: IpAddr,
    prefix: u8,
}

impl Network {
    fn parse(text: &str) -> Result<Network, String> {
        if text.contains(char::is_whitespace) {
            return Err(format!("{text:?}: separate networks with commas"));
        }
        let (address, prefix) = match text.split_once('/') {
            Some((address, prefix)) => (address, Some(prefix)),
            None => (text, None),
        };
        let base: IpAddr = address
            .parse()
            .map_err(|_| format!("{text:?} is not an IP address or network (e.g. 10.0.0.0/8)"))?;
        let width = if base.is_ipv4() { 32 } else { 128 };
        let prefix = match prefix {
            None => width,
            Some(p) => match p.parse::<u8>() {
                Ok(n) if n <= width => n,
                _ => return Err(format!("{text:?}: the prefix must be 0 to {width}")),
            },
        };
        // `10.1.2.3/8` is most likely a typo for a host or for `10.0.0.0/8`:
        // say so rather than guess which.
        if mask(bits(base), width, prefix) != mask(bits(base), width, width) {
            return Err(format!(
                "{text:?} has bits set past its /{prefix} prefix (did you mean a single address, or the network's first one?)"
            ));
        }
        Ok(Network { base, prefix })
    }

    fn contains(&self, address: IpAddr) -> bool {
        let address = address.to_canonical();
        let width = if self.base.is_ipv4() { 32 } else { 128 };
        if address.is_ipv4() != self.base.is_ipv4() {
            return false;
        }
        mask(bits(address), width, self.prefix) == mask(bits(self.base), width, self.prefix)
    }
}

/// The address as one number, IPv4 in the low 32 bits.
fn bits(address: IpAddr) -> u128 {
    match address {
        IpAddr::V4(v4) => u128::from(u32::from(v4)),
        IpAddr::V6(v6) => u128::from(v6),
    }
}

/// `value` with only its leading `prefix` bits (of `width`) kept.
fn mask(value: u128, width: u8, prefix: u8) -> u128 {
    if prefix == 0 {
        return 0;
    }
    let keep = u128::MAX << (128 - u32::from(prefix));
    (value << (128 - u32::from(width))) & keep
}

impl fmt::Display for Network {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.base, self.prefix)
    }
}

/// Networks a setting trusts; empty trusts nobody.
#[derive(Clone, PartialEq, Eq, Default)]
pub struct Networks(Vec<Network>);

impl Networks {
    /// Parses a comma-separated list; an empty text is an empty list.
    pub fn parse(text: &str) -> Result<Networks, String> {
        text.split(',')
            .map(str::trim)
            .filter(|part| !part.is_empty())
            .map(Network::parse)
            .collect::<Result<Vec<_>, _>>()
            .map(Networks)
    }

    /// Loopback, v4 and v6.
    pub fn loopback() -> Networks {
        Networks::parse("127.0.0.0/8, ::1").unwrap_or_default()
    }

    /// Every address.
    pub fn everyone() -> Networks {
        Networks::parse("0.0.0.0/0, ::/0").unwrap_or_default()
    }

    /// Whether `address` (an IPv4-mapped v6 address counts as its v4 self)
    /// is in one of the networks.
    pub fn contains(&self, address: IpAddr) -> bool {
        self.0.iter().any(|n| n.contains(address))
    }
}

impl fmt::Debug for Networks {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list()
            .entries(self.0.iter().map(ToString::to_string))
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(text: &str) -> IpAddr {
        text.parse().expect("an address")
    }

    #[test]
    fn networks_hold_their_addresses_and_no_others() {
        let nets = Networks::parse("10.0.0.0/8, 192.168.1.5 ,fd00::/8").expect("parses");
        assert!(nets.contains(ip("10.255.0.1")));
        assert!(nets.contains(ip("192.168.1.5")));
        assert!(
            nets.contains(ip("::ffff:10.1.1.1")),
            "v4-mapped counts as v4"
        );
        assert!(nets.contains(ip("fd12::1")));
        assert!(!nets.contains(ip("11.0.0.1")));
        assert!(!nets.contains(ip("192.168.1.6")));
        assert!(!nets.contains(ip("fe80::1")));
        assert!(Networks::loopback().contains(ip("127.0.0.2")));
        assert!(Networks::loopback().contains(ip("::1")));
        assert!(!Networks::loopback().contains(ip("10.0.0.1")));
        assert!(Networks::everyone().contains(ip("203.0.113.9")));
        assert!(Networks::everyone().contains(ip("2001:db8::1")));
        assert!(
            !Networks::parse("")
                .expect("empty")
                .contains(ip("127.0.0.1"))
        );
        assert_eq!(
            format!("{:?}", Networks::parse("10.0.0.0/8,::1").expect("parses")),
            r#"["10.0.0.0/8", "::1/128"]"#
        );
    }

    #[test]
    fn bad_networks_say_what_is_wrong() {
        for (text, says) in [
            ("10.0.0.0/33", "prefix must be 0 to 32"),
            ("::/129", "prefix must be 0 to 128"),
            ("10.1.2.3/8", "bits set past its /8"),
            ("example.com", "not an IP address"),
            ("10.0.0.0/x", "prefix must be"),
            ("10.0.0.0/8 11.0.0.0/8", "separate networks with commas"),
        ] {
            let err = Networks::parse(text).expect_err(text);
            assert!(err.contains(says), "{text}: {err}");
        }
    }
}
