//! Which IP addresses Hookline may send to: globally routable unicast ones, plus whatever
//! the operator opened with `HOOKLINE_ALLOWED_SUBNETS`.
//!
//! The classification is a pure function of the address. IPv6 forms that carry an IPv4
//! address (v4-mapped, v4-compatible, 6to4, NAT64) are judged by that IPv4 address, because
//! that is where the packets end up.

use super::range::{Blocked, Embedding, Range};
use ipnet::IpNet;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// Whether Hookline may send to `ip`: it is globally reachable, or it (or the IPv4 address
/// it carries) is inside one of the `allowed` subnets.
///
/// # Errors
/// [`Blocked`] saying which non-global range the address is in.
pub fn check(ip: IpAddr, allowed: &[IpNet]) -> Result<(), Blocked> {
    let Some(blocked) = classify(ip) else {
        return Ok(());
    };
    let opened = |addr: IpAddr| allowed.iter().any(|net| net.contains(&addr));
    if opened(ip) || blocked.via.is_some_and(|(_, v4)| opened(v4.into())) {
        return Ok(());
    }
    Err(blocked)
}

/// Why `ip` is not globally reachable, or `None` if it is.
pub fn classify(ip: IpAddr) -> Option<Blocked> {
    match ip {
        IpAddr::V4(v4) => classify_v4(v4).map(|range| Blocked {
            addr: ip,
            range,
            via: None,
        }),
        IpAddr::V6(v6) => classify_v6(v6),
    }
}

/// Non-global IPv4 ranges, most specific first: the first match names the range.
const V4_RANGES: &[(Ipv4Addr, u8, Range)] = &[
    (Ipv4Addr::new(0, 0, 0, 0), 32, Range::Unspecified),
    (Ipv4Addr::new(0, 0, 0, 0), 8, Range::ThisNetwork),
    (Ipv4Addr::new(10, 0, 0, 0), 8, Range::Private),
    (Ipv4Addr::new(100, 64, 0, 0), 10, Range::SharedCgnat),
    (Ipv4Addr::new(127, 0, 0, 0), 8, Range::Loopback),
    (Ipv4Addr::new(169, 254, 169, 254), 32, Range::CloudMetadata),
    (Ipv4Addr::new(169, 254, 0, 0), 16, Range::LinkLocal),
    (Ipv4Addr::new(172, 16, 0, 0), 12, Range::Private),
    (Ipv4Addr::new(192, 0, 0, 0), 24, Range::ProtocolAssignments),
    (Ipv4Addr::new(192, 0, 2, 0), 24, Range::Documentation),
    (Ipv4Addr::new(192, 88, 99, 0), 24, Range::Reserved),
    (Ipv4Addr::new(192, 168, 0, 0), 16, Range::Private),
    (Ipv4Addr::new(198, 18, 0, 0), 15, Range::Benchmarking),
    (Ipv4Addr::new(198, 51, 100, 0), 24, Range::Documentation),
    (Ipv4Addr::new(203, 0, 113, 0), 24, Range::Documentation),
    (Ipv4Addr::new(224, 0, 0, 0), 4, Range::Multicast),
    (Ipv4Addr::new(255, 255, 255, 255), 32, Range::Broadcast),
    (Ipv4Addr::new(240, 0, 0, 0), 4, Range::Reserved),
];

/// Non-global IPv6 ranges that carry no IPv4 address, most specific first.
const V6_RANGES: &[(Ipv6Addr, u8, Range)] = &[
    (v6(0x64, 0xff9b, 1), 48, Range::LocalNat64),
    (v6(0x100, 0, 0), 64, Range::Discard),
    (v6(0x2001, 0, 0), 32, Range::Teredo),
    (v6(0x2001, 2, 0), 48, Range::Benchmarking),
    (v6(0x2001, 0xdb8, 0), 32, Range::Documentation),
    (v6(0x2001, 0, 0), 23, Range::ProtocolAssignments),
    (v6(0x3fff, 0, 0), 20, Range::Documentation),
    (AWS_METADATA_V6, 128, Range::CloudMetadata),
    (v6(0xfc00, 0, 0), 7, Range::UniqueLocal),
    (v6(0xfe80, 0, 0), 10, Range::LinkLocal),
    (v6(0xfec0, 0, 0), 10, Range::SiteLocal),
    (v6(0xff00, 0, 0), 8, Range::Multicast),
];

/// The instance metadata service of AWS over IPv6.
const AWS_METADATA_V6: Ipv6Addr = Ipv6Addr::new(0xfd00, 0xec2, 0, 0, 0, 0, 0, 0x254);

/// An IPv6 prefix from its first three groups.
const fn v6(a: u16, b: u16, c: u16) -> Ipv6Addr {
    Ipv6Addr::new(a, b, c, 0, 0, 0, 0, 0)
}

/// The global unicast space; every other IPv6 address is reserved or special.
const V6_GLOBAL_UNICAST: (Ipv6Addr, u8) = (v6(0x2000, 0, 0), 3);

fn classify_v4(ip: Ipv4Addr) -> Option<Range> {
    let bits = ip.to_bits();
    V4_RANGES
        .iter()
        .find(|(base, len, _)| same_prefix_v4(bits, base.to_bits(), *len))
        .map(|(_, _, range)| *range)
}

fn classify_v6(ip: Ipv6Addr) -> Option<Blocked> {
    let bits = ip.to_bits();
    let blocked = |range| Blocked {
        addr: ip.into(),
        range,
        via: None,
    };
    if ip.is_unspecified() {
        return Some(blocked(Range::Unspecified));
    }
    if ip.is_loopback() {
        return Some(blocked(Range::Loopback));
    }
    if let Some((embedding, v4)) = embedded_v4(bits) {
        return classify_v4(v4).map(|range| Blocked {
            addr: ip.into(),
            range,
            via: Some((embedding, v4)),
        });
    }
    if let Some((_, _, range)) = V6_RANGES
        .iter()
        .find(|(base, len, _)| same_prefix_v6(bits, base.to_bits(), *len))
    {
        return Some(blocked(*range));
    }
    let (global, len) = V6_GLOBAL_UNICAST;
    (!same_prefix_v6(bits, global.to_bits(), len)).then(|| blocked(Range::Reserved))
}

/// The IPv4 address an IPv6 address carries, for the forms that deliver to it.
fn embedded_v4(bits: u128) -> Option<(Embedding, Ipv4Addr)> {
    // Truncation is the point: the low 32 bits are the IPv4 address.
    let low = Ipv4Addr::from_bits(bits as u32);
    let mapped = Ipv6Addr::new(0, 0, 0, 0, 0, 0xffff, 0, 0).to_bits();
    let nat64 = v6(0x64, 0xff9b, 0).to_bits();
    let six_to_four = v6(0x2002, 0, 0).to_bits();
    if same_prefix_v6(bits, mapped, 96) {
        Some((Embedding::Mapped, low))
    } else if same_prefix_v6(bits, 0, 96) {
        Some((Embedding::Compatible, low))
    } else if same_prefix_v6(bits, nat64, 96) {
        Some((Embedding::Nat64, low))
    } else if same_prefix_v6(bits, six_to_four, 16) {
        Some((
            Embedding::SixToFour,
            Ipv4Addr::from_bits((bits >> 80) as u32),
        ))
    } else {
        None
    }
}

fn same_prefix_v4(a: u32, b: u32, len: u8) -> bool {
    let mask = u32::MAX.checked_shl(32 - u32::from(len)).unwrap_or(0);
    a & mask == b & mask
}

fn same_prefix_v6(a: u128, b: u128, len: u8) -> bool {
    let mask = u128::MAX.checked_shl(128 - u32::from(len)).unwrap_or(0);
    a & mask == b & mask
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    fn nets(list: &[&str]) -> Vec<IpNet> {
        list.iter().map(|n| n.parse().unwrap()).collect()
    }

    #[test]
    fn every_non_global_ipv4_range_is_blocked_and_named() {
        for (addr, range) in [
            ("0.0.0.0", Range::Unspecified),
            ("0.1.2.3", Range::ThisNetwork),
            ("0.255.255.255", Range::ThisNetwork),
            ("127.0.0.1", Range::Loopback),
            ("127.255.255.254", Range::Loopback),
            ("10.0.0.1", Range::Private),
            ("10.255.255.255", Range::Private),
            ("172.16.0.1", Range::Private),
            ("172.31.255.255", Range::Private),
            ("192.168.1.1", Range::Private),
            ("169.254.0.1", Range::LinkLocal),
            ("169.254.169.254", Range::CloudMetadata),
            ("100.64.0.1", Range::SharedCgnat),
            ("100.127.255.255", Range::SharedCgnat),
            ("224.0.0.1", Range::Multicast),
            ("239.255.255.250", Range::Multicast),
            ("255.255.255.255", Range::Broadcast),
            ("192.0.2.1", Range::Documentation),
            ("198.51.100.7", Range::Documentation),
            ("203.0.113.9", Range::Documentation),
            ("198.18.0.1", Range::Benchmarking),
            ("198.19.255.255", Range::Benchmarking),
            ("240.0.0.1", Range::Reserved),
            ("255.255.255.254", Range::Reserved),
            ("192.0.0.1", Range::ProtocolAssignments),
            ("192.0.0.170", Range::ProtocolAssignments),
            ("192.88.99.1", Range::Reserved),
        ] {
            let blocked = check(ip(addr), &[]).unwrap_err();
            assert_eq!(blocked.range, range, "{addr}");
            assert_eq!(blocked.via, None, "{addr}");
        }
    }

    #[test]
    fn every_non_global_ipv6_range_is_blocked_and_named() {
        for (addr, range) in [
            ("::", Range::Unspecified),
            ("::1", Range::Loopback),
            ("fc00::1", Range::UniqueLocal),
            ("fdff:ffff::1", Range::UniqueLocal),
            ("fd00:ec2::254", Range::CloudMetadata),
            ("fe80::1", Range::LinkLocal),
            ("febf::1", Range::LinkLocal),
            ("fec0::1", Range::SiteLocal),
            ("ff02::1", Range::Multicast),
            ("ff0e::1", Range::Multicast),
            ("2001:db8::1", Range::Documentation),
            ("3fff::1", Range::Documentation),
            ("2001::1", Range::Teredo),
            ("2001:0:4136:e378:8000:63bf:3fff:fdd2", Range::Teredo),
            ("2001:2::1", Range::Benchmarking),
            ("2001:10::1", Range::ProtocolAssignments),
            ("100::1", Range::Discard),
            ("100::ffff:ffff:ffff:ffff", Range::Discard),
            ("64:ff9b:1::a00:1", Range::LocalNat64),
            ("::ffff:0:a00:1", Range::Reserved),
            ("4000::1", Range::Reserved),
            ("5f00::1", Range::Reserved),
            ("1::1", Range::Reserved),
        ] {
            let blocked = check(ip(addr), &[]).unwrap_err();
            assert_eq!(blocked.range, range, "{addr}");
            assert_eq!(blocked.via, None, "{addr}");
        }
    }

    #[test]
    fn ipv6_forms_carrying_a_private_ipv4_are_judged_by_it() {
        for (addr, embedding, v4, range) in [
            (
                "::ffff:127.0.0.1",
                Embedding::Mapped,
                "127.0.0.1",
                Range::Loopback,
            ),
            (
                "::ffff:7f00:1",
                Embedding::Mapped,
                "127.0.0.1",
                Range::Loopback,
            ),
            (
                "::ffff:169.254.169.254",
                Embedding::Mapped,
                "169.254.169.254",
                Range::CloudMetadata,
            ),
            (
                "::ffff:0.0.0.0",
                Embedding::Mapped,
                "0.0.0.0",
                Range::Unspecified,
            ),
            (
                "::10.0.0.1",
                Embedding::Compatible,
                "10.0.0.1",
                Range::Private,
            ),
            (
                "::127.0.0.1",
                Embedding::Compatible,
                "127.0.0.1",
                Range::Loopback,
            ),
            ("::2", Embedding::Compatible, "0.0.0.2", Range::ThisNetwork),
            (
                "2002:a00:1::",
                Embedding::SixToFour,
                "10.0.0.1",
                Range::Private,
            ),
            (
                "2002:7f00:1:5::9",
                Embedding::SixToFour,
                "127.0.0.1",
                Range::Loopback,
            ),
            (
                "2002:c0a8:101::1",
                Embedding::SixToFour,
                "192.168.1.1",
                Range::Private,
            ),
            (
                "64:ff9b::a00:1",
                Embedding::Nat64,
                "10.0.0.1",
                Range::Private,
            ),
            (
                "64:ff9b::169.254.169.254",
                Embedding::Nat64,
                "169.254.169.254",
                Range::CloudMetadata,
            ),
            (
                "64:ff9b::100.64.0.1",
                Embedding::Nat64,
                "100.64.0.1",
                Range::SharedCgnat,
            ),
        ] {
            let blocked = check(ip(addr), &[]).unwrap_err();
            assert_eq!(blocked.range, range, "{addr}");
            assert_eq!(
                blocked.via,
                Some((embedding, v4.parse().unwrap())),
                "{addr}"
            );
        }
    }

    #[test]
    fn ipv6_forms_carrying_a_public_ipv4_are_allowed() {
        for addr in [
            "::ffff:8.8.8.8",
            "::ffff:808:808",
            "::8.8.8.8",
            "2002:808:808::1",
            "64:ff9b::1.1.1.1",
        ] {
            assert_eq!(check(ip(addr), &[]), Ok(()), "{addr}");
        }
    }

    #[test]
    fn global_addresses_pass() {
        for addr in [
            "8.8.8.8",
            "1.1.1.1",
            "9.255.255.255",
            "11.0.0.1",
            "100.63.255.255",
            "100.128.0.1",
            "169.253.255.255",
            "172.15.255.255",
            "172.32.0.1",
            "192.0.1.255",
            "192.0.3.1",
            "192.167.255.255",
            "192.169.0.1",
            "198.17.255.255",
            "198.20.0.1",
            "223.255.255.255",
            "2606:4700:4700::1111",
            "2001:4860:4860::8888",
            "2a00:1450:4001:82b::200e",
            "2c0f:fb50:4003::1",
            "2001:200::1",
        ] {
            assert_eq!(check(ip(addr), &[]), Ok(()), "{addr}");
            assert_eq!(classify(ip(addr)), None, "{addr}");
        }
    }

    #[test]
    fn allowed_subnets_open_exactly_their_ranges() {
        let allowed = nets(&["127.0.0.0/8", "10.1.0.0/16", "fd12::/16"]);
        for addr in ["127.0.0.1", "127.9.9.9", "10.1.2.3", "fd12::7"] {
            assert_eq!(check(ip(addr), &allowed), Ok(()), "{addr}");
        }
        for addr in [
            "10.2.0.1",
            "192.168.0.1",
            "::1",
            "fd13::1",
            "169.254.169.254",
        ] {
            assert!(check(ip(addr), &allowed).is_err(), "{addr}");
        }
    }

    #[test]
    fn an_allowed_ipv4_subnet_also_opens_the_ipv6_forms_that_carry_it() {
        let allowed = nets(&["10.0.0.0/8"]);
        for addr in ["::ffff:10.0.0.1", "2002:a00:1::", "64:ff9b::a00:1"] {
            assert_eq!(check(ip(addr), &allowed), Ok(()), "{addr}");
        }
        assert!(check(ip("::ffff:127.0.0.1"), &allowed).is_err());
    }

    #[test]
    fn the_refusal_names_the_address_and_its_range() {
        let text = |addr: &str| check(ip(addr), &[]).unwrap_err().to_string();
        assert_eq!(text("127.0.0.1"), "127.0.0.1 is a loopback address");
        assert_eq!(
            text("169.254.169.254"),
            "169.254.169.254 is a link-local address (the cloud instance metadata service)"
        );
        assert_eq!(
            text("::ffff:7f00:1"),
            "::ffff:127.0.0.1 is an IPv4-mapped address for 127.0.0.1, a loopback address"
        );
        assert_eq!(
            text("2002:a00:1::"),
            "2002:a00:1:: is a 6to4 address for 10.0.0.1, a private address (RFC 1918)"
        );
    }
}
