//! The access phase: evaluate the merged `Require` expression with
//! mod_authz_core 2.4 semantics and the `RequireAll/Any/None` containers.
//! No `Require` at all grants access (nothing in the prelude denies by
//! default).
//!
//! [`check`] is mod_authz_core's first pass (`access_checker_ex`): the
//! providers that need no user (`all`, `ip`, `host`, `env`, `method`)
//! decide, user-based ones report [`Authz::NeedsUser`].  After
//! authentication (`auth`), [`check_user`] is the second pass
//! (`auth_checker`): `valid-user`, `user` (mod_authz_user), `group`
//! (mod_authz_groupfile, from the `AuthGroupFile` groups) and `wsgi-group`
//! (mod_wsgi's provider, from `groups_for_user`) decide with the user.

use std::net::IpAddr;

use wsgid_config::model::Require;

use crate::request::Request;

/// The result of one authorization provider or container.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Authz {
    Granted,
    Denied,
    /// No opinion (a negation that was not refused, an empty group).
    Neutral,
    /// Needs an authenticated user (`valid-user`, `user`, `group`...).
    NeedsUser,
    /// A provider failed: 500.
    Error,
}

/// What the second pass knows about the authenticated user.
#[derive(Debug, Default)]
pub struct UserFacts {
    pub user: String,
    /// `groups_for_user`'s groups; `None` when there is no group script or
    /// it failed (already logged): `wsgi-group` then denies.
    pub wsgi_groups: Option<Vec<String>>,
    /// The user's groups in `AuthGroupFile`: `Err(why)` when the file
    /// could not be read (`why` as Apache writes the errno), `None` when
    /// no file is configured.
    pub file_groups: Option<Result<Vec<String>, String>>,
    /// Error-log lines the providers write: (module, text).
    pub log: Vec<(&'static str, String)>,
}

/// Evaluate the request's `Require` configuration (first pass).
pub fn check(r: &Request) -> Authz {
    match &r.per_dir.require {
        None => Authz::Granted,
        Some(req) => match eval(req, r, &mut None, true) {
            Authz::Neutral => Authz::Denied,
            other => other,
        },
    }
}

/// Evaluate it again with an authenticated user (second pass).
pub fn check_user(r: &Request, facts: &mut UserFacts) -> Authz {
    let mut facts = Some(facts);
    match &r.per_dir.require {
        None => Authz::Granted,
        Some(req) => match eval(req, r, &mut facts, true) {
            Authz::Neutral | Authz::NeedsUser => Authz::Denied,
            other => other,
        },
    }
}

/// Whether the expression names `wsgi-group` / `group` anywhere.
pub fn mentions(req: &Require, wsgi: bool) -> bool {
    match req {
        Require::WsgiGroup(_) => wsgi,
        Require::Group(_) => !wsgi,
        Require::Not(inner) | Require::Limited(_, inner) => mentions(inner, wsgi),
        Require::All(items) | Require::Any(items) | Require::None(items) => {
            items.iter().any(|i| mentions(i, wsgi))
        }
        _ => false,
    }
}

fn user_provider(req: &Require, r: &Request, facts: &mut UserFacts) -> Authz {
    let uri = crate::uri::latin1(&r.uri);
    let pid = std::process::id();
    match req {
        Require::ValidUser => Authz::Granted,
        Require::User(names) => {
            if names.contains(&facts.user) {
                Authz::Granted
            } else {
                facts.log.push((
                    "authz_user",
                    format!(
                        "AH01663: access to {uri} failed, reason: user '{}' does not meet 'require'ments for \
                         user to be allowed access",
                        facts.user
                    ),
                ));
                Authz::Denied
            }
        }
        Require::Group(wanted) => {
            let file = r
                .per_dir
                .auth_group_file
                .as_ref()
                .map(|p| p.display().to_string())
                .unwrap_or_default();
            let line = match &facts.file_groups {
                None => "AH01664: No group file was specified in the configuration".to_owned(),
                Some(Err(why)) => format!("{why}: AH01665: Could not open group file: {file}"),
                Some(Ok(groups)) if groups.is_empty() => format!(
                    "AH01666: Authorization of user {} to access {uri} failed, reason: user doesn't appear in \
                     group file ({file}).",
                    facts.user
                ),
                Some(Ok(groups)) => {
                    if wanted.iter().any(|w| groups.contains(w)) {
                        return Authz::Granted;
                    }
                    // AH01667 is a debug line.
                    return Authz::Denied;
                }
            };
            facts.log.push(("authz_groupfile", line));
            Authz::Denied
        }
        Require::WsgiGroup(wanted) => match &facts.wsgi_groups {
            None => Authz::Denied,
            Some(groups) if groups.is_empty() => {
                facts.log.push((
                    "wsgi",
                    format!(
                        "mod_wsgi (pid={pid}): Authorization of user '{}' to access '{uri}' failed. User is not \
                         a member of any groups.",
                        facts.user
                    ),
                ));
                Authz::Denied
            }
            Some(groups) => {
                if wanted.iter().any(|w| groups.contains(w)) {
                    Authz::Granted
                } else {
                    facts.log.push((
                        "wsgi",
                        format!(
                            "mod_wsgi (pid={pid}): Authorization of user '{}' to access '{uri}' failed. User is \
                             not a member of designated groups.",
                            facts.user
                        ),
                    ));
                    Authz::Denied
                }
            }
        },
        _ => Authz::Denied,
    }
}

/// mod_authz_core's `apply_authz_sections`: a provider answers Granted or
/// Denied (NeedsUser: `AUTHZ_DENIED_NO_USER`); an AND group skips Neutral
/// answers and stops at the first Denied, an OR group stops at the first
/// Granted; a negation turns Granted into Denied and any denial into
/// Neutral (not being refused is no reason to grant).  A rule limited to
/// other methods than the request's (`<Limit>`) is left out: Granted
/// inside an AND group (`and_group`, also the top level), Neutral inside
/// an OR group.
fn eval(req: &Require, r: &Request, facts: &mut Option<&mut UserFacts>, and_group: bool) -> Authz {
    let yes_no = |b: bool| if b { Authz::Granted } else { Authz::Denied };
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
            match facts {
                Some(f) => user_provider(req, r, f),
                None => Authz::NeedsUser,
            }
        }
        Require::Not(inner) => negate(eval(inner, r, facts, and_group)),
        Require::All(items) => group(items, true, r, facts),
        Require::Any(items) => group(items, false, r, facts),
        Require::None(items) => negate(group(items, false, r, facts)),
        Require::Limited(methods, inner) => {
            if methods.contains(r.method.as_str()) {
                eval(inner, r, facts, and_group)
            } else if and_group {
                Authz::Granted
            } else {
                Authz::Neutral
            }
        }
    }
}

fn negate(result: Authz) -> Authz {
    match result {
        Authz::Granted => Authz::Denied,
        Authz::Denied | Authz::NeedsUser => Authz::Neutral,
        other => other,
    }
}

fn group(items: &[Require], and: bool, r: &Request, facts: &mut Option<&mut UserFacts>) -> Authz {
    let mut result = Authz::Neutral;
    for item in items {
        let child = eval(item, r, facts, and);
        match child {
            Authz::Error => return Authz::Error,
            Authz::Neutral => {}
            _ if and => {
                if child == Authz::Denied {
                    return Authz::Denied;
                }
                if (child == Authz::NeedsUser && result != Authz::Denied)
                    || result == Authz::Neutral
                {
                    result = child;
                }
            }
            _ => {
                if child == Authz::Granted {
                    return Authz::Granted;
                }
                if (child == Authz::NeedsUser && result == Authz::Denied)
                    || result == Authz::Neutral
                {
                    result = child;
                }
            }
        }
    }
    result
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
    use super::*;

    fn with(req: Require) -> Request {
        let mut r = crate::request::test_request("/x", &[("Host", "h")]);
        std::sync::Arc::make_mut(&mut r.per_dir).require = Some(req);
        r
    }

    fn user(name: &str) -> UserFacts {
        UserFacts {
            user: name.to_owned(),
            ..UserFacts::default()
        }
    }

    #[test]
    fn a_rule_limited_to_other_methods_is_left_out() {
        use wsgid_config::method_set::MethodSet;
        let only = |m: &[&str], req: Require| Require::Limited(MethodSet::of(m), Box::new(req));
        let get = |req: Require| {
            let mut r = with(req);
            r.method = http::Method::GET;
            r
        };
        // Inside an OR group: neutral, so the other lines decide.
        let any = Require::Any(vec![
            Require::AllDenied,
            only(&["PUT"], Require::AllGranted),
        ]);
        assert_eq!(check(&get(any.clone())), Authz::Denied);
        let mut put = with(any);
        put.method = http::Method::PUT;
        assert_eq!(check(&put), Authz::Granted);
        // Inside an AND group: granted, so it does not spoil the group.
        let all = Require::All(vec![
            Require::AllGranted,
            only(&["POST"], Require::AllDenied),
        ]);
        assert_eq!(check(&get(all)), Authz::Granted);
        // At the top: granted (nothing applies to the request).
        assert_eq!(
            check(&get(only(&["POST"], Require::ValidUser))),
            Authz::Granted
        );
        // HEAD counts as GET.
        let mut head = with(only(&["GET"], Require::AllDenied));
        head.method = http::Method::HEAD;
        assert_eq!(check(&head), Authz::Denied);
    }

    #[test]
    fn apache_group_semantics() {
        let ip = |s: &str| Require::Ip(vec![s.to_owned()]);
        let not_user = |u: &str| Require::Not(Box::new(Require::User(vec![u.to_owned()])));
        // AND skips a negation that was not refused.
        let r = with(Require::All(vec![
            Require::AllGranted,
            Require::Not(Box::new(ip("10.9.9.9"))),
        ]));
        assert_eq!(check(&r), Authz::Granted);
        // ... and stops at a denial.
        let r = with(Require::All(vec![Require::AllGranted, ip("10.9.9.9")]));
        assert_eq!(check(&r), Authz::Denied);
        // A user rule needs authentication unless something already denied.
        let r = with(Require::All(vec![Require::ValidUser, ip("10.0.0.7")]));
        assert_eq!(check(&r), Authz::NeedsUser);
        let r = with(Require::Any(vec![Require::ValidUser, ip("10.0.0.7")]));
        assert_eq!(check(&r), Authz::Granted);
        // A negated user rule before authentication is neutral.
        let r = with(Require::All(vec![Require::AllGranted, not_user("bob")]));
        assert_eq!(check(&r), Authz::Granted);
        // With the user.
        let r = with(Require::All(vec![Require::ValidUser, not_user("bob")]));
        assert_eq!(check(&r), Authz::NeedsUser);
        assert_eq!(check_user(&r, &mut user("alice")), Authz::Granted);
        let mut bob = user("bob");
        assert_eq!(check_user(&r, &mut bob), Authz::Denied);
        let r = with(Require::None(vec![Require::User(vec!["bob".into()])]));
        assert_eq!(check_user(&r, &mut user("bob")), Authz::Denied);
        // wsgi-group without groups (no script, or it failed) denies.
        let r = with(Require::WsgiGroup(vec!["admins".into()]));
        assert_eq!(check_user(&r, &mut user("a")), Authz::Denied);
        let mut facts = UserFacts {
            wsgi_groups: Some(vec!["users".into(), "admins".into()]),
            ..user("a")
        };
        assert_eq!(check_user(&r, &mut facts), Authz::Granted);
        // An unreadable group file is a denial with Apache's line.
        let r = with(Require::Group(vec!["staff".into()]));
        let mut facts = UserFacts {
            file_groups: Some(Err("(2)No such file or directory".into())),
            ..user("a")
        };
        assert_eq!(check_user(&r, &mut facts), Authz::Denied);
        assert!(
            facts.log[0]
                .1
                .contains("AH01665: Could not open group file")
        );
    }

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
