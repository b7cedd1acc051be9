//! Virtual host selection, as Apache's `vhost.c` does it for name-based
//! hosts: the connection's local address and port pick the candidate
//! `<VirtualHost>` blocks (exact IP before `*`, `_default_` last); the
//! `Host` name then picks one by `ServerName`/`ServerAlias`, and the first
//! candidate is the default.  No candidate at all means the main server.
//!
//! Host header validation (Apache's `fix_hostname`) lives here too, since
//! its result is what the name match uses.

use std::net::{IpAddr, SocketAddr};

use wsgid_config::model::{VhostAddr, VirtualHost};

use crate::wildcard::fnmatch;

/// One `<VirtualHost>` reduced to what selection needs.
#[derive(Debug)]
struct Entry {
    addrs: Vec<VhostAddr>,
    /// `ServerName` (lower-case, without port), then aliases (lower-case).
    names: Vec<String>,
}

/// The compiled selection table; host index 0 is the main server and
/// virtual host `i` (file order) is index `i + 1`.
#[derive(Debug, Default)]
pub struct VhostTable {
    entries: Vec<Entry>,
}

/// How well a vhost address matches the local socket address.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum AddrMatch {
    None,
    Wildcard,
    Exact,
}

fn addr_match(a: &VhostAddr, local: SocketAddr) -> AddrMatch {
    if a.port.is_some_and(|p| p != local.port()) {
        return AddrMatch::None;
    }
    match a.ip {
        Some(ip) if same_ip(ip, local.ip()) => AddrMatch::Exact,
        Some(_) => AddrMatch::None,
        None => AddrMatch::Wildcard,
    }
}

fn same_ip(a: IpAddr, b: IpAddr) -> bool {
    let canon = |ip: IpAddr| match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(IpAddr::V6(v6), IpAddr::V4),
        v4 => v4,
    };
    canon(a) == canon(b)
}

impl VhostTable {
    /// Build the table.  `_default_` addresses arrive as `ip: None` in the
    /// config model and so rank with `*`.
    pub fn new(vhosts: &[VirtualHost]) -> VhostTable {
        let entries = vhosts
            .iter()
            .map(|v| {
                let mut names = Vec::new();
                if let Some(n) = &v.host.server_name {
                    names.push(strip_port(n).to_ascii_lowercase());
                }
                names.extend(v.host.server_aliases.iter().map(|a| a.to_ascii_lowercase()));
                Entry {
                    addrs: v.addrs.clone(),
                    names,
                }
            })
            .collect();
        VhostTable { entries }
    }

    /// The host index serving a request that arrived on `local` with the
    /// (validated, lower-case, port-less) `hostname`.
    pub fn select(&self, local: SocketAddr, hostname: Option<&str>) -> usize {
        // The best address match level decides the candidate set: IP-based
        // vhosts shadow `*` ones on the same address, as in Apache.
        let level = |e: &Entry| {
            e.addrs
                .iter()
                .map(|a| addr_match(a, local))
                .max()
                .unwrap_or(AddrMatch::None)
        };
        let best = self
            .entries
            .iter()
            .map(level)
            .max()
            .unwrap_or(AddrMatch::None);
        if best == AddrMatch::None {
            return 0;
        }
        let candidates: Vec<usize> = (0..self.entries.len())
            .filter(|&i| level(&self.entries[i]) == best)
            .collect();
        if let Some(host) = hostname {
            let host = host.as_bytes();
            for &i in &candidates {
                if self.entries[i]
                    .names
                    .iter()
                    .any(|n| fnmatch(n.as_bytes(), host, false, true))
                {
                    return i + 1;
                }
            }
        }
        candidates.first().map_or(0, |&i| i + 1)
    }
}

fn strip_port(name: &str) -> &str {
    if name.starts_with('[') {
        return name.find(']').map_or(name, |e| &name[..=e]);
    }
    match name.rsplit_once(':') {
        Some((h, p)) if p.bytes().all(|b| b.is_ascii_digit()) => h,
        _ => name,
    }
}

/// A `Host` header Apache refuses with 400.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BadHost;

/// A `Host` value split and checked as Apache's `fix_hostname` does:
/// lower-cased name, optional port, trailing dot removed.  `Err` means 400.
pub fn parse_host(value: &str) -> Result<(String, Option<u16>), BadHost> {
    let value = value.trim();
    if value.is_empty() {
        return Ok((String::new(), None));
    }
    let (host, port) = if let Some(rest) = value.strip_prefix('[') {
        let end = rest.find(']').ok_or(BadHost)?;
        let host = &value[..end + 2];
        let tail = &rest[end + 1..];
        let port = match tail.strip_prefix(':') {
            Some(p) => Some(p),
            None if tail.is_empty() => None,
            None => return Err(BadHost),
        };
        (host, port)
    } else {
        match value.rsplit_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (value, None),
        }
    };
    let port = match port {
        Some("") => None,
        Some(p) => Some(p.parse::<u16>().map_err(|_| BadHost)?),
        None => None,
    };
    let valid = host.starts_with('[')
        || host
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_'));
    if !valid || host.contains("..") {
        return Err(BadHost);
    }
    let host = host.strip_suffix('.').unwrap_or(host);
    Ok((host.to_ascii_lowercase(), port))
}

#[cfg(test)]
mod tests {
    use super::*;
    use wsgid_config::model::Host;

    fn vhost(
        name: &str,
        aliases: &[&str],
        ip: Option<&str>,
        port: Option<u16>,
        template: &Host,
    ) -> VirtualHost {
        let mut host = template.clone();
        host.server_name = Some(name.into());
        host.server_aliases = aliases.iter().map(|s| s.to_string()).collect();
        VirtualHost {
            addrs: vec![VhostAddr {
                ip: ip.map(|s| s.parse().expect("ip")),
                port,
            }],
            host,
            span: wsgid_config::model::Span {
                file: std::sync::Arc::new("t".into()),
                line: 1,
            },
        }
    }

    #[test]
    fn parse_host_values() {
        assert_eq!(
            parse_host("ONE.Example:8080"),
            Ok(("one.example".into(), Some(8080)))
        );
        assert_eq!(parse_host("two.example"), Ok(("two.example".into(), None)));
        assert_eq!(parse_host("[::1]:80"), Ok(("[::1]".into(), Some(80))));
        assert_eq!(parse_host("example.org."), Ok(("example.org".into(), None)));
        assert!(parse_host("bad host").is_err());
        assert!(parse_host("a:99999").is_err());
    }

    #[test]
    fn selection_by_name_then_default() {
        let template = test_host();
        let vhosts = vec![
            vhost("one.example", &[], None, Some(8000), &template),
            vhost(
                "two.example",
                &["www.two.example", "*.wild.example"],
                None,
                Some(8000),
                &template,
            ),
        ];
        let t = VhostTable::new(&vhosts);
        let local: SocketAddr = "127.0.0.1:8000".parse().expect("addr");
        assert_eq!(t.select(local, Some("two.example")), 2);
        assert_eq!(t.select(local, Some("x.wild.example")), 2);
        assert_eq!(t.select(local, Some("unknown")), 1);
        assert_eq!(t.select(local, None), 1);
        let other: SocketAddr = "127.0.0.1:9000".parse().expect("addr");
        assert_eq!(t.select(other, Some("two.example")), 0);
    }

    #[test]
    fn exact_ip_shadows_wildcard() {
        let template = test_host();
        let vhosts = vec![
            vhost("star.example", &[], None, Some(80), &template),
            vhost("ip.example", &[], Some("127.0.0.1"), Some(80), &template),
        ];
        let t = VhostTable::new(&vhosts);
        let local: SocketAddr = "127.0.0.1:80".parse().expect("addr");
        assert_eq!(t.select(local, Some("star.example")), 2);
    }

    /// A main-server `Host` from the config crate's parser.
    fn test_host() -> Host {
        let text = "ServerName localhost\n";
        wsgid_config::parse_str(text, std::path::Path::new("/t.conf"), &[])
            .expect("config")
            .main
    }
}
