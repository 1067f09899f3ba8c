//! What a refusal says: the non-global ranges, the IPv6 forms that carry an IPv4 address,
//! and [`Blocked`], an address with the reason it is refused.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr};

/// What the operator is told to change when an address is refused.
pub const POLICY_HINT: &str =
    "Hookline does not send to non-global addresses unless HOOKLINE_ALLOWED_SUBNETS allows them";

/// A range of addresses that is not globally reachable, so Hookline does not send to it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Range {
    /// `0.0.0.0`, `::`.
    Unspecified,
    /// `0.0.0.0/8`: "this network".
    ThisNetwork,
    /// `127.0.0.0/8`, `::1`.
    Loopback,
    /// `10.0.0.0/8`, `172.16.0.0/12`, `192.168.0.0/16` (RFC 1918).
    Private,
    /// `100.64.0.0/10`: carrier-grade NAT (RFC 6598).
    SharedCgnat,
    /// `169.254.169.254` and `fd00:ec2::254`: the instance metadata services of clouds.
    CloudMetadata,
    /// `169.254.0.0/16`, `fe80::/10`.
    LinkLocal,
    /// `192.0.0.0/24`, `2001::/23`: IETF protocol assignments.
    ProtocolAssignments,
    /// `192.0.2.0/24`, `198.51.100.0/24`, `203.0.113.0/24`, `2001:db8::/32`, `3fff::/20`.
    Documentation,
    /// `198.18.0.0/15`, `2001:2::/48`.
    Benchmarking,
    /// `224.0.0.0/4`, `ff00::/8`.
    Multicast,
    /// `255.255.255.255`.
    Broadcast,
    /// `240.0.0.0/4`, the deprecated 6to4 relay anycast `192.88.99.0/24`, and IPv6 outside
    /// the global unicast space `2000::/3` not named otherwise.
    Reserved,
    /// `fc00::/7` (RFC 4193).
    UniqueLocal,
    /// `fec0::/10`, deprecated.
    SiteLocal,
    /// `100::/64`: discard-only (RFC 6666).
    Discard,
    /// `2001::/32`: Teredo tunnels, whose far end cannot be checked.
    Teredo,
    /// `64:ff9b:1::/48`: local-use NAT64 (RFC 8215).
    LocalNat64,
}

impl Range {
    /// How the range reads after "… is": `a loopback address`.
    pub fn describe(self) -> &'static str {
        match self {
            Self::Unspecified => "the unspecified address",
            Self::ThisNetwork => "a \"this network\" address (0.0.0.0/8)",
            Self::Loopback => "a loopback address",
            Self::Private => "a private address (RFC 1918)",
            Self::SharedCgnat => "a carrier-grade NAT address (100.64.0.0/10)",
            Self::CloudMetadata => "a link-local address (the cloud instance metadata service)",
            Self::LinkLocal => "a link-local address",
            Self::ProtocolAssignments => "an IETF protocol assignment address",
            Self::Documentation => "a documentation address",
            Self::Benchmarking => "a benchmarking address",
            Self::Multicast => "a multicast address",
            Self::Broadcast => "the broadcast address",
            Self::Reserved => "a reserved address",
            Self::UniqueLocal => "a unique local address (fc00::/7)",
            Self::SiteLocal => "a site-local address",
            Self::Discard => "a discard-only address (100::/64)",
            Self::Teredo => "a Teredo tunnel address",
            Self::LocalNat64 => "a local-use NAT64 address (64:ff9b:1::/48)",
        }
    }
}

/// How an IPv6 address carries an IPv4 one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Embedding {
    /// `::ffff:a.b.c.d`.
    Mapped,
    /// `::a.b.c.d` (deprecated).
    Compatible,
    /// `2002:aabb:ccdd::/48`.
    SixToFour,
    /// `64:ff9b::a.b.c.d` (RFC 6052).
    Nat64,
}

impl Embedding {
    fn describe(self) -> &'static str {
        match self {
            Self::Mapped => "an IPv4-mapped address",
            Self::Compatible => "an IPv4-compatible address",
            Self::SixToFour => "a 6to4 address",
            Self::Nat64 => "a NAT64 address",
        }
    }
}

/// An address Hookline refuses to send to, and why.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Blocked {
    /// The address as given.
    pub addr: IpAddr,
    /// The non-global range it (or the IPv4 address it carries) is in.
    pub range: Range,
    /// The IPv4 address it carries, if it is judged by that.
    pub via: Option<(Embedding, Ipv4Addr)>,
}

impl fmt::Display for Blocked {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.via {
            None => write!(f, "{} is {}", self.addr, self.range.describe()),
            Some((embedding, v4)) => write!(
                f,
                "{} is {} for {v4}, {}",
                self.addr,
                embedding.describe(),
                self.range.describe()
            ),
        }
    }
}

impl std::error::Error for Blocked {}
