//! Endpoint URLs: absolute `http`/`https` URLs with a host.

use super::ParseError;
use std::fmt;
use std::net::IpAddr;

/// A URL Hookline may POST to. Whether its address may be reached is decided at send time.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(transparent)]
pub struct EndpointUrl(String);

impl EndpointUrl {
    /// Longest accepted URL, in bytes.
    pub const MAX_LEN: usize = 65_536;

    /// Parses and normalises an endpoint URL.
    ///
    /// # Errors
    /// A [`ParseError`] for relative URLs, other schemes, missing hosts, credentials in the
    /// URL or an oversize string.
    pub fn parse(s: &str) -> Result<Self, ParseError> {
        if s.len() > Self::MAX_LEN {
            return Err(ParseError(format!(
                "url is {} bytes long; the limit is {}",
                s.len(),
                Self::MAX_LEN
            )));
        }
        let url = url::Url::parse(s).map_err(|e| ParseError(format!("url is not valid: {e}")))?;
        if !matches!(url.scheme(), "http" | "https") {
            return Err(ParseError(format!(
                "url scheme must be http or https, not {:?}",
                url.scheme()
            )));
        }
        if url.host_str().is_none_or(str::is_empty) {
            return Err(ParseError("url must have a host".into()));
        }
        if !url.username().is_empty() || url.password().is_some() {
            return Err(ParseError(
                "url must not contain credentials; use endpoint headers instead".into(),
            ));
        }
        Ok(Self(url.into()))
    }

    /// Wraps a value read back from the store.
    pub fn from_trusted(s: String) -> Self {
        Self(s)
    }

    /// The URL as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The host, if it is an IP address. Parsing has already normalised odd spellings
    /// (`0x7f000001`, `2130706433`, `0177.0.0.1`, `127.1`, `[::ffff:7f00:1]`) to addresses.
    pub fn host_ip(&self) -> Option<IpAddr> {
        ip_host(&url::Url::parse(&self.0).ok()?)
    }
}

/// The host of a parsed URL, if it is an IP address.
pub fn ip_host(url: &url::Url) -> Option<IpAddr> {
    match url.host()? {
        url::Host::Ipv4(v4) => Some(v4.into()),
        url::Host::Ipv6(v6) => Some(v6.into()),
        url::Host::Domain(_) => None,
    }
}

impl fmt::Display for EndpointUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_http_and_https() {
        assert!(EndpointUrl::parse("https://example.com/hook").is_ok());
        assert!(EndpointUrl::parse("http://127.0.0.1:9000/x?y=1").is_ok());
    }

    #[test]
    fn refuses_other_schemes_relative_urls_and_credentials() {
        for bad in [
            "ftp://example.com",
            "/relative",
            "example.com",
            "https://user:pw@example.com",
            "file:///etc/passwd",
        ] {
            assert!(EndpointUrl::parse(bad).is_err(), "{bad} was accepted");
        }
    }

    #[test]
    fn odd_spellings_of_an_address_are_ip_hosts() {
        for (raw, ip) in [
            ("http://0x7f000001/", "127.0.0.1"),
            ("http://2130706433/", "127.0.0.1"),
            ("http://017700000001/", "127.0.0.1"),
            ("http://0177.0.0.1/", "127.0.0.1"),
            ("http://127.1/", "127.0.0.1"),
            ("http://127.0.0.1./", "127.0.0.1"),
            ("http://0/", "0.0.0.0"),
            ("http://[::ffff:127.0.0.1]/", "::ffff:7f00:1"),
            ("http://[0:0:0:0:0:ffff:7f00:1]/", "::ffff:7f00:1"),
            ("https://[fe80::1]:8443/x", "fe80::1"),
        ] {
            let url = EndpointUrl::parse(raw).unwrap_or_else(|e| panic!("{raw}: {e}"));
            assert_eq!(
                url.host_ip(),
                Some(ip.parse().expect("an address")),
                "{raw}"
            );
        }
        for name in [
            "http://localhost/",
            "https://example.com/",
            "http://127.0.0.1.nip.io/",
        ] {
            assert_eq!(
                EndpointUrl::parse(name).expect("valid").host_ip(),
                None,
                "{name}"
            );
        }
    }
}
