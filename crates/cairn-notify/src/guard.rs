//! The SSRF guard: which addresses a notification may go to.
//!
//! A channel's URL is typed by an operator, but the server sits inside the
//! operator's network: a URL pointing at loopback, a private range or a cloud
//! metadata endpoint would let whoever can edit a channel probe (or act on)
//! what only the server can reach. So every destination is parsed the way a
//! browser parses it (the `url` crate's WHATWG host parser turns `127.1`,
//! `0x7f000001`, `2130706433` and `0177.0.0.1` into `127.0.0.1`), its name
//! resolved, and *every* address checked; the connection is then pinned to
//! the addresses checked, so a second DNS answer cannot swap them
//! (rebinding).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use crate::error::Refused;

/// The operator's policy for outgoing requests.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Policy {
    /// Lets notifications go to loopback, private, link-local and other
    /// non-public addresses (`allow_private_notification_targets`).
    pub allow_private: bool,
}

/// Why an address is not public, as a phrase ("a loopback address").
pub fn non_public_reason(ip: IpAddr) -> Option<&'static str> {
    match ip {
        IpAddr::V4(v4) => v4_reason(v4),
        IpAddr::V6(v6) => v6_reason(v6),
    }
}

fn v4_reason(ip: Ipv4Addr) -> Option<&'static str> {
    let [a, b, c, _] = ip.octets();
    Some(match (a, b, c) {
        _ if ip == Ipv4Addr::new(169, 254, 169, 254) => "a cloud metadata address",
        _ if ip.is_broadcast() => "the broadcast address",
        (0, _, _) => "an unspecified (\"this network\") address",
        (127, _, _) => "a loopback address",
        (10, _, _) | (192, 168, _) => "a private address",
        (172, 16..=31, _) => "a private address",
        (169, 254, _) => "a link-local address",
        (100, 64..=127, _) => "a carrier-grade NAT (shared) address",
        (192, 0, 0) => "an IETF protocol assignment address",
        (192, 0, 2) | (198, 51, 100) | (203, 0, 113) => "a documentation address",
        (198, 18..=19, _) => "a benchmarking address",
        (224..=239, _, _) => "a multicast address",
        (240..=255, _, _) => "a reserved address",
        _ => return None,
    })
}

fn v6_reason(ip: Ipv6Addr) -> Option<&'static str> {
    // An IPv4 address in IPv6 clothing is judged as the IPv4 address:
    // mapped (::ffff:a.b.c.d), the NAT64 well-known prefix (64:ff9b::/96)
    // and 6to4 (2002:aabb:ccdd::) reach that IPv4 host.
    if let Some(v4) = ip.to_ipv4_mapped() {
        return v4_reason(v4);
    }
    let seg = ip.segments();
    if seg[..6] == [0x64, 0xff9b, 0, 0, 0, 0] {
        return v4_reason(embedded_v4(seg[6], seg[7]));
    }
    if seg[0] == 0x2002 {
        return v4_reason(embedded_v4(seg[1], seg[2]));
    }
    Some(match seg {
        _ if ip.is_loopback() => "a loopback address",
        _ if ip.is_unspecified() => "an unspecified address",
        // IPv4-compatible (::a.b.c.d, deprecated): judged as the IPv4 address.
        [0, 0, 0, 0, 0, 0, hi, lo] => return v4_reason(embedded_v4(hi, lo)),
        // SIIT (::ffff:0:a.b.c.d): the IPv4 address behind a translator.
        [0, 0, 0, 0, 0xffff, 0, hi, lo] => return v4_reason(embedded_v4(hi, lo)),
        [0x64, 0xff9b, 1, ..] => "a local-use NAT64 address",
        // Teredo tunnels to whatever IPv4 host its server relays to.
        [0x2001, 0, ..] => "a Teredo tunnel address",
        [s, ..] if s & 0xfe00 == 0xfc00 => "a unique-local (private) address",
        [s, ..] if s & 0xffc0 == 0xfe80 => "a link-local address",
        [s, ..] if s & 0xffc0 == 0xfec0 => "a site-local (private) address",
        [s, ..] if s & 0xff00 == 0xff00 => "a multicast address",
        [0x2001, 0xdb8, ..] => "a documentation address",
        [0x100, 0, 0, 0, ..] => "a discard-only address",
        _ => return None,
    })
}

fn embedded_v4(hi: u16, lo: u16) -> Ipv4Addr {
    let [a, b] = hi.to_be_bytes();
    let [c, d] = lo.to_be_bytes();
    Ipv4Addr::new(a, b, c, d)
}

impl Policy {
    /// Refuses `ip` unless it is public or the policy allows private targets.
    pub fn check_ip(&self, ip: IpAddr) -> Result<(), Refused> {
        match non_public_reason(ip) {
            Some(reason) if !self.allow_private => Err(Refused::NotPublic {
                address: ip.to_string(),
                reason,
            }),
            _ => Ok(()),
        }
    }

    /// Parses a destination URL (http or https only) and checks its host if
    /// it is an address. A name is checked when resolved ([`Policy::resolve`]).
    pub fn parse_url(&self, text: &str) -> Result<url::Url, Refused> {
        let url = url::Url::parse(text.trim()).map_err(|e| Refused::BadUrl(e.to_string()))?;
        if !matches!(url.scheme(), "http" | "https") {
            return Err(Refused::BadUrl(format!(
                "the scheme {:?} is not http or https",
                url.scheme()
            )));
        }
        match url.host() {
            Some(url::Host::Ipv4(ip)) => self.check_ip(IpAddr::V4(ip))?,
            Some(url::Host::Ipv6(ip)) => self.check_ip(IpAddr::V6(ip))?,
            Some(url::Host::Domain(_)) => {}
            None => return Err(Refused::BadUrl("it has no host".into())),
        }
        Ok(url)
    }

    /// Resolves `host` and checks every address it resolves to: one bad
    /// address refuses the name (the resolver could hand out any of them).
    pub async fn resolve(&self, host: &str, port: u16) -> Result<Vec<SocketAddr>, Refused> {
        let bare = host.trim_start_matches('[').trim_end_matches(']');
        if let Ok(ip) = bare.parse::<IpAddr>() {
            self.check_ip(ip)?;
            return Ok(vec![SocketAddr::new(ip, port)]);
        }
        let addrs: Vec<SocketAddr> = tokio::net::lookup_host((bare, port))
            .await
            .map_err(|e| Refused::Unresolved {
                host: bare.to_string(),
                reason: e.to_string(),
            })?
            .collect();
        if addrs.is_empty() {
            return Err(Refused::Unresolved {
                host: bare.to_string(),
                reason: "no address".into(),
            });
        }
        for addr in &addrs {
            self.check_ip(addr.ip()).map_err(|e| e.for_name(bare))?;
        }
        Ok(addrs)
    }

    /// Checks a URL as at save time: its spelling, and its name's addresses
    /// when the name resolves now. A name that does not resolve yet is let
    /// through: it is checked again at every send.
    pub async fn check_url(&self, text: &str) -> Result<url::Url, Refused> {
        let url = self.parse_url(text)?;
        if let (Some(url::Host::Domain(name)), Some(port)) =
            (url.host(), url.port_or_known_default())
        {
            match self.resolve(name, port).await {
                Ok(_) | Err(Refused::Unresolved { .. }) => {}
                Err(refused) => return Err(refused),
            }
        }
        Ok(url)
    }

    /// Checks an SMTP host name as at save time (see [`Policy::check_url`]).
    pub async fn check_host(&self, host: &str, port: u16) -> Result<(), Refused> {
        let parsed = url::Host::parse(host.trim()).map_err(|e| Refused::BadUrl(e.to_string()))?;
        match parsed {
            url::Host::Ipv4(ip) => self.check_ip(IpAddr::V4(ip)),
            url::Host::Ipv6(ip) => self.check_ip(IpAddr::V6(ip)),
            url::Host::Domain(name) => match self.resolve(&name, port).await {
                Ok(_) | Err(Refused::Unresolved { .. }) => Ok(()),
                Err(refused) => Err(refused),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const STRICT: Policy = Policy {
        allow_private: false,
    };
    const OPEN: Policy = Policy {
        allow_private: true,
    };

    fn refusal(url: &str) -> String {
        match STRICT.parse_url(url) {
            Err(e) => e.to_string(),
            Ok(u) => panic!("{url} was let through as {u}"),
        }
    }

    #[test]
    fn every_spelling_of_loopback_is_refused_with_its_reason() {
        for spelling in [
            "http://127.0.0.1/",
            "http://127.1/",
            "http://0x7f000001/",
            "http://2130706433/",
            "http://0177.0.0.1/",
            "http://0x7f.1/",
            "http://[::1]/",
            "http://[::ffff:127.0.0.1]/",
            "http://[::ffff:7f00:1]/",
            "http://[::127.0.0.1]/",
            "http://[64:ff9b::7f00:1]/",
            "http://[2002:7f00:1::]/",
            "http://[::ffff:0:127.0.0.1]/",
        ] {
            let why = refusal(spelling);
            assert!(why.contains("loopback"), "{spelling}: {why}");
            assert!(why.contains("allow_private_notification_targets"), "{why}");
        }
        assert_eq!(
            refusal("http://127.1/"),
            "127.0.0.1 is a loopback address; set allow_private_notification_targets to allow it"
        );
    }

    #[test]
    fn private_link_local_cgnat_metadata_and_odd_ranges_are_refused() {
        for (url, word) in [
            ("http://169.254.169.254/latest/meta-data", "metadata"),
            ("http://10.0.0.1/", "private"),
            ("http://172.16.5.4/", "private"),
            ("http://192.168.1.1/", "private"),
            ("http://100.64.0.1/", "carrier-grade"),
            ("http://169.254.1.1/", "link-local"),
            ("http://0.0.0.0/", "unspecified"),
            ("http://255.255.255.255/", "broadcast"),
            ("http://224.0.0.1/", "multicast"),
            ("http://192.0.2.1/", "documentation"),
            ("http://[fd00::1]/", "unique-local"),
            ("http://[fe80::1]/", "link-local"),
            ("http://[::]/", "unspecified"),
            ("http://[ff02::1]/", "multicast"),
            ("http://[2001:db8::1]/", "documentation"),
            ("http://[::ffff:10.0.0.1]/", "private"),
            ("http://[::ffff:169.254.169.254]/", "metadata"),
        ] {
            let why = refusal(url);
            assert!(why.contains(word), "{url}: {why}");
        }
    }

    #[test]
    fn public_addresses_pass_and_allow_private_lets_everything_through() {
        for url in [
            "https://93.184.215.14/",
            "https://[2606:4700::1111]/",
            "https://hooks.example.com/x",
            "http://172.32.0.1/",
            "http://100.128.0.1/",
        ] {
            STRICT.parse_url(url).expect(url);
        }
        for url in ["http://127.1/", "http://[::1]/", "http://169.254.169.254/"] {
            OPEN.parse_url(url).expect(url);
        }
    }

    #[test]
    fn only_http_urls_with_a_host_are_destinations() {
        for url in [
            "ftp://example.com/",
            "file:///etc/passwd",
            "not a url",
            "http://",
        ] {
            assert!(STRICT.parse_url(url).is_err(), "{url}");
        }
    }

    #[tokio::test]
    async fn a_name_resolving_to_loopback_is_refused_and_named() {
        let why = STRICT
            .check_url("http://localhost:9/hook")
            .await
            .expect_err("localhost refused")
            .to_string();
        assert!(why.starts_with("localhost resolves to "), "{why}");
        assert!(why.contains("loopback"), "{why}");
        let addrs = OPEN.resolve("localhost", 9).await.expect("allowed");
        assert!(addrs.iter().all(|a| a.ip().is_loopback()));
        STRICT
            .check_host("localhost", 25)
            .await
            .expect_err("an SMTP host on loopback too");
    }
}
