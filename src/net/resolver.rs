//! The delivery client's DNS resolver: resolves with the system resolver and keeps only the
//! addresses the policy allows. The connector connects to exactly what this returns.

use super::address;
use super::range::Blocked;
use hyper_util::client::legacy::connect::dns::Name;
use ipnet::IpNet;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

/// Why the address policy stopped a request before anything was sent.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refused {
    /// The URL's host is an IP address outside the policy.
    #[error("{0}")]
    Literal(Blocked),
    /// Every address the host name resolved to is outside the policy.
    #[error("{name} resolves only to blocked addresses: {}", list(.blocked))]
    Name {
        /// The host name.
        name: String,
        /// Each address it resolved to, and why it was refused.
        blocked: Vec<Blocked>,
    },
}

fn list(blocked: &[Blocked]) -> String {
    blocked
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}

/// A resolver (for the connector, a `Service` of host names) that drops every address
/// [`address::check`] refuses.
#[derive(Debug, Clone)]
pub struct PolicyResolver {
    allowed: Arc<[IpNet]>,
}

/// What a lookup fails with: an I/O error of the system resolver, or [`Refused`].
pub type LookupError = Box<dyn std::error::Error + Send + Sync>;

impl PolicyResolver {
    /// A resolver that also lets through addresses in `allowed`.
    pub fn new(allowed: &[IpNet]) -> Self {
        Self {
            allowed: allowed.into(),
        }
    }

    /// The addresses of `name` that the policy allows, with port 0 (the connector puts the
    /// URL's port on them).
    ///
    /// # Errors
    /// If the system resolver fails, or [`Refused`] if the policy allows none of them.
    pub async fn lookup(&self, name: &str) -> Result<Vec<SocketAddr>, LookupError> {
        let found = tokio::net::lookup_host((name, 0)).await?;
        Ok(screen(name, found, &self.allowed)?)
    }
}

impl tower::Service<Name> for PolicyResolver {
    type Response = std::vec::IntoIter<SocketAddr>;
    type Error = LookupError;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, LookupError>> + Send>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), LookupError>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, name: Name) -> Self::Future {
        let resolver = self.clone();
        Box::pin(async move { Ok(resolver.lookup(name.as_str()).await?.into_iter()) })
    }
}

/// The addresses `name` resolved to that the policy allows, in the resolver's order, with
/// duplicates removed. No addresses in, none out.
///
/// # Errors
/// [`Refused::Name`] listing every address if the policy allows none of them.
fn screen(
    name: &str,
    found: impl IntoIterator<Item = SocketAddr>,
    allowed: &[IpNet],
) -> Result<Vec<SocketAddr>, Refused> {
    let mut kept = Vec::new();
    let mut blocked = Vec::new();
    for addr in found {
        match address::check(addr.ip(), allowed) {
            Ok(()) if !kept.contains(&addr) => kept.push(addr),
            Ok(()) => {}
            Err(b) if !blocked.contains(&b) => blocked.push(b),
            Err(_) => {}
        }
    }
    if kept.is_empty() && !blocked.is_empty() {
        return Err(Refused::Name {
            name: name.to_owned(),
            blocked,
        });
    }
    if !blocked.is_empty() {
        tracing::debug!(host = name, dropped = %list(&blocked), "dropped blocked addresses");
    }
    Ok(kept)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn addrs(list: &[&str]) -> Vec<SocketAddr> {
        list.iter()
            .map(|a| SocketAddr::new(a.parse().unwrap(), 0))
            .collect()
    }

    #[test]
    fn blocked_addresses_are_dropped_and_the_rest_kept_in_order() {
        let found = addrs(&[
            "10.0.0.1",
            "93.184.215.14",
            "::1",
            "2606:2800:21f::1",
            "93.184.215.14",
        ]);
        let kept = screen("example.com", found, &[]).unwrap();
        assert_eq!(kept, addrs(&["93.184.215.14", "2606:2800:21f::1"]));
    }

    #[test]
    fn a_name_with_only_blocked_addresses_is_refused_with_each_reason() {
        let err = screen("evil.example", addrs(&["169.254.169.254", "fd00::1"]), &[]).unwrap_err();
        assert_eq!(
            err.to_string(),
            "evil.example resolves only to blocked addresses: 169.254.169.254 is a link-local \
             address (the cloud instance metadata service), fd00::1 is a unique local address \
             (fc00::/7)"
        );
    }

    #[test]
    fn allowed_subnets_keep_their_addresses() {
        let allowed: Vec<IpNet> = vec!["127.0.0.0/8".parse().unwrap()];
        let kept = screen("localhost", addrs(&["::1", "127.0.0.1"]), &allowed).unwrap();
        assert_eq!(kept, addrs(&["127.0.0.1"]));
    }

    #[tokio::test]
    async fn localhost_resolves_to_nothing_usable_without_an_allowance() {
        let resolver = PolicyResolver::new(&[]);
        let err = match resolver.lookup("localhost").await {
            Ok(addrs) => panic!("resolved to {addrs:?}"),
            Err(e) => e,
        };
        let refused = err.downcast_ref::<Refused>().unwrap();
        assert!(
            refused
                .to_string()
                .contains("127.0.0.1 is a loopback address"),
            "{refused}"
        );

        let allowed: Vec<IpNet> = vec!["127.0.0.0/8".parse().unwrap()];
        let resolver = PolicyResolver::new(&allowed);
        let got = resolver.lookup("localhost").await.unwrap();
        assert!(!got.is_empty());
        assert!(
            got.iter().all(|a| a.ip().is_loopback() && a.is_ipv4()),
            "{got:?}"
        );
    }
}
