//! The access phase: evaluate the merged `Require` expression with
//! mod_authz_core 2.4 semantics for the providers that need no user
//! (`all`, `ip`, `host`, `env`, `method`) and the `RequireAll/Any/None`
//! containers.  No `Require` at all grants access (nothing in the prelude
//! denies by default).  User-based providers report [`Authz::NeedsUser`];
//! authentication itself is not this module's job.

use std::net::IpAddr;

use wsgid_config::model::Require;

use crate::request::Request;

/// The result of one authorization provider or container.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Authz {
    Granted,
    Denied,
    /// Did not apply (e.g. `Require ip` for another address).
    Neutral,
    /// Needs an authenticated user (`valid-user`, `user`, `group`...).
    NeedsUser,
}

/// Evaluate the request's `Require` configuration.
pub fn check(r: &Request) -> Authz {
    match &r.per_dir.require {
        None => Authz::Granted,
        Some(req) => match eval(req, r) {
            Authz::Neutral => Authz::Denied,
            other => other,
        },
    }
}

fn eval(req: &Require, r: &Request) -> Authz {
    let yes_no = |b: bool| if b { Authz::Granted } else { Authz::Neutral };
    match req {
        Require::AllGranted => Authz::Granted,
        Require::AllDenied => Authz::Denied,
        Require::Ip(list) => yes_no(list.iter().any(|spec| ip_matches(spec, r.conn.peer.ip()))),
        // Without HostnameLookups the only names Apache can confirm are the
        // loopback ones; anything else does not match.
        Require::Host(list) => {
            yes_no(r.conn.peer.ip().is_loopback() && list.iter().any(|h| h == "localhost"))
        }
        Require::Env(vars) => yes_no(vars.iter().any(|v| r.env.iter().any(|(k, _)| k == v))),
        Require::Method(methods) => yes_no(
            methods
                .iter()
                .any(|m| m.eq_ignore_ascii_case(r.method.as_str())),
        ),
        Require::ValidUser | Require::User(_) | Require::Group(_) | Require::WsgiGroup(_) => {
            Authz::NeedsUser
        }
        Require::Not(inner) => match eval(inner, r) {
            Authz::Granted => Authz::Denied,
            Authz::Denied | Authz::Neutral => Authz::Neutral,
            Authz::NeedsUser => Authz::NeedsUser,
        },
        Require::All(items) => {
            let mut result = Authz::Granted;
            for item in items {
                match eval(item, r) {
                    Authz::Granted => {}
                    Authz::Denied => return Authz::Denied,
                    Authz::Neutral => result = Authz::Neutral,
                    Authz::NeedsUser if result == Authz::Granted => result = Authz::NeedsUser,
                    Authz::NeedsUser => {}
                }
            }
            result
        }
        Require::Any(items) => {
            let mut result = Authz::Neutral;
            for item in items {
                match eval(item, r) {
                    Authz::Granted => return Authz::Granted,
                    Authz::Denied if result == Authz::Neutral => result = Authz::Denied,
                    Authz::NeedsUser => result = Authz::NeedsUser,
                    _ => {}
                }
            }
            result
        }
        Require::None(items) => {
            for item in items {
                if eval(item, r) == Authz::Granted {
                    return Authz::Denied;
                }
            }
            Authz::Neutral
        }
    }
}

/// `Require ip` forms: full address, CIDR (`10.0.0.0/8`), netmask
/// (`10.0.0.0/255.0.0.0`) or a partial IPv4 prefix (`10.1`).
pub fn ip_matches(spec: &str, ip: IpAddr) -> bool {
    let ip = match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(IpAddr::V6(v6), IpAddr::V4),
        v4 => v4,
    };
    if let Some((net, mask)) = spec.split_once('/') {
        let Ok(net) = net.parse::<IpAddr>() else {
            return false;
        };
        let bits = match (mask.parse::<u8>(), mask.parse::<IpAddr>()) {
            (Ok(b), _) => Some(b),
            (_, Ok(IpAddr::V4(m))) => Some(u32::from(m).count_ones() as u8),
            _ => None,
        };
        return bits.is_some_and(|b| in_prefix(net, ip, b));
    }
    if let Ok(exact) = spec.parse::<IpAddr>() {
        return exact == ip;
    }
    // Partial dotted IPv4: "10.1" matches 10.1.x.x.
    let parts: Vec<&str> = spec.trim_end_matches('.').split('.').collect();
    let IpAddr::V4(v4) = ip else { return false };
    let octets = v4.octets();
    !parts.is_empty()
        && parts.len() <= 4
        && parts
            .iter()
            .zip(octets)
            .all(|(p, o)| p.parse::<u8>().is_ok_and(|v| v == o))
}

fn in_prefix(net: IpAddr, ip: IpAddr, bits: u8) -> bool {
    match (net, ip) {
        (IpAddr::V4(n), IpAddr::V4(a)) if bits <= 32 => {
            let mask = if bits == 0 {
                0
            } else {
                u32::MAX << (32 - u32::from(bits))
            };
            u32::from(n) & mask == u32::from(a) & mask
        }
        (IpAddr::V6(n), IpAddr::V6(a)) if bits <= 128 => {
            let mask = if bits == 0 {
                0
            } else {
                u128::MAX << (128 - u32::from(bits))
            };
            u128::from(n) & mask == u128::from(a) & mask
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::ip_matches;

    #[test]
    fn ip_forms() {
        let lo = "127.0.0.1".parse().expect("ip");
        assert!(ip_matches("127.0.0.1", lo));
        assert!(ip_matches("127.0", lo));
        assert!(ip_matches("127.0.0.0/8", lo));
        assert!(ip_matches("127.0.0.0/255.0.0.0", lo));
        assert!(!ip_matches("10.0.0.0/8", lo));
        assert!(!ip_matches("12", lo));
        assert!(ip_matches("::1", "::1".parse().expect("ip")));
        assert!(ip_matches(
            "127.0.0.1",
            "::ffff:127.0.0.1".parse().expect("ip")
        ));
    }
}
