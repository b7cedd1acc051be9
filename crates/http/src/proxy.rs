//! WSGITrustedProxyHeaders / WSGITrustedProxies, as mod_wsgi's
//! `wsgi_process_proxy_headers`: when the peer is a trusted proxy (or no
//! proxy list is given), the listed headers rewrite REMOTE_ADDR, HTTP_HOST,
//! SERVER_NAME, SERVER_PORT, SCRIPT_NAME and HTTPS; every header of a
//! listed class that was not used is removed from the environment, so an
//! untrusted client cannot spoof them.

use wsgid_config::model::WsgiPerDir;

use crate::environ::EnvTable;

const CLIENT: &[&str] = &["HTTP_X_FORWARDED_FOR", "HTTP_X_CLIENT_IP", "HTTP_X_REAL_IP"];
const SCHEME: &[&str] = &[
    "HTTP_X_FORWARDED_HTTPS",
    "HTTP_X_FORWARDED_PROTO",
    "HTTP_X_FORWARDED_SCHEME",
    "HTTP_X_FORWARDED_SSL",
    "HTTP_X_HTTPS",
    "HTTP_X_SCHEME",
];
const HOST: &[&str] = &["HTTP_X_FORWARDED_HOST", "HTTP_X_HOST"];
const SCRIPT: &[&str] = &["HTTP_X_SCRIPT_NAME", "HTTP_X_FORWARDED_SCRIPT_NAME"];

/// A header name as written in the directive → its environ key.
pub fn env_key(header: &str) -> String {
    let upper = header.to_ascii_uppercase().replace('-', "_");
    if upper.starts_with("HTTP_") {
        upper
    } else {
        format!("HTTP_{upper}")
    }
}

fn is_trusted(ip: &str, proxies: &[String]) -> bool {
    ip.parse().is_ok_and(|ip| {
        proxies
            .iter()
            .any(|p| crate::phases::access::ip_matches(p, ip))
    })
}

/// Rewrite `e` from the trusted headers of `w` (no-op without the directive).
pub fn apply_trusted_headers(e: &mut EnvTable, w: &WsgiPerDir) {
    let Some(headers) = &w.trusted_proxy_headers else {
        return;
    };
    let names: Vec<String> = headers.iter().map(|h| env_key(h)).collect();
    let trusted_peer = match &w.trusted_proxies {
        Some(list) => e.get("REMOTE_ADDR").is_some_and(|ip| is_trusted(ip, list)),
        None => true,
    };
    let mut used: Vec<String> = Vec::new();
    if trusted_peer {
        for name in &names {
            let Some(value) = e.get(name).map(str::to_owned) else {
                continue;
            };
            match name.as_str() {
                "HTTP_X_FORWARDED_FOR" => {
                    forwarded_for(e, w.trusted_proxies.as_deref(), &value);
                    used.push(name.clone());
                }
                "HTTP_X_CLIENT_IP" | "HTTP_X_REAL_IP" => {
                    e.set("REMOTE_ADDR", value);
                    used.push(name.clone());
                }
                "HTTP_X_FORWARDED_HOST" | "HTTP_X_HOST" => {
                    e.set("HTTP_HOST", value);
                    used.push(name.clone());
                }
                "HTTP_X_FORWARDED_SERVER" => e.set("SERVER_NAME", value),
                "HTTP_X_FORWARDED_PORT" => e.set("SERVER_PORT", value),
                "HTTP_X_SCRIPT_NAME" | "HTTP_X_FORWARDED_SCRIPT_NAME" => {
                    e.set("mod_wsgi.mount_point", value.clone());
                    e.set("SCRIPT_NAME", value);
                    used.push(name.clone());
                }
                "HTTP_X_FORWARDED_PROTO" | "HTTP_X_FORWARDED_SCHEME" | "HTTP_X_SCHEME" => {
                    if value.eq_ignore_ascii_case("https") {
                        e.set("HTTPS", "1");
                    } else if value.eq_ignore_ascii_case("http") {
                        e.unset("HTTPS");
                    }
                    used.push(name.clone());
                }
                "HTTP_X_FORWARDED_HTTPS" | "HTTP_X_FORWARDED_SSL" | "HTTP_X_HTTPS" => {
                    let v = value.to_ascii_lowercase();
                    if matches!(v.as_str(), "on" | "true" | "1") {
                        e.set("HTTPS", "1");
                    } else if matches!(v.as_str(), "off" | "false" | "0") {
                        e.unset("HTTPS");
                    }
                    used.push(name.clone());
                }
                _ => {}
            }
        }
    }
    // Drop every header of a class named in the directive except the one
    // actually used (mod_wsgi keeps at most one per class).
    for class in [CLIENT, SCHEME, HOST, SCRIPT] {
        if names.iter().any(|n| class.contains(&n.as_str())) {
            for h in class {
                if !used.iter().any(|u| u == h) {
                    e.unset(h);
                }
            }
        }
    }
}

/// X-Forwarded-For: walk from the right while the hops are trusted
/// proxies; the first untrusted one is the client.
fn forwarded_for(e: &mut EnvTable, proxies: Option<&[String]>, value: &str) {
    let items: Vec<&str> = value
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .collect();
    let Some(last) = items.last() else { return };
    let Some(proxies) = proxies else {
        // No proxy list: the left-most address is the client.
        if let Some(first) = items.first() {
            e.set("REMOTE_ADDR", *first);
        }
        return;
    };
    let mut first = None;
    for i in (0..items.len()).rev() {
        if !is_trusted(items[i], proxies) {
            break;
        }
        first = Some(i);
    }
    match first {
        Some(f) => {
            let client = f.saturating_sub(1);
            e.set("REMOTE_ADDR", items[client]);
            e.set("HTTP_X_FORWARDED_FOR", items[client..].join(", "));
        }
        None => {
            e.set("REMOTE_ADDR", *last);
            e.set("HTTP_X_FORWARDED_FOR", *last);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table(pairs: &[(&str, &str)]) -> EnvTable {
        EnvTable(
            pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        )
    }

    #[test]
    fn trusted_peer_rewrites_and_untrusted_strips() {
        let w = WsgiPerDir {
            trusted_proxy_headers: Some(vec!["X-Forwarded-For".into(), "X-Forwarded-Proto".into()]),
            trusted_proxies: Some(vec!["127.0.0.1".into()]),
            ..WsgiPerDir::default()
        };
        let mut e = table(&[
            ("REMOTE_ADDR", "127.0.0.1"),
            ("HTTP_X_FORWARDED_FOR", "10.0.0.9, 127.0.0.1"),
            ("HTTP_X_FORWARDED_PROTO", "https"),
            ("HTTP_X_REAL_IP", "6.6.6.6"),
        ]);
        apply_trusted_headers(&mut e, &w);
        assert_eq!(e.get("REMOTE_ADDR"), Some("10.0.0.9"));
        assert_eq!(e.get("HTTPS"), Some("1"));
        assert_eq!(e.get("HTTP_X_REAL_IP"), None);

        let mut e = table(&[
            ("REMOTE_ADDR", "10.9.9.9"),
            ("HTTP_X_FORWARDED_FOR", "1.2.3.4"),
        ]);
        apply_trusted_headers(&mut e, &w);
        assert_eq!(e.get("REMOTE_ADDR"), Some("10.9.9.9"));
        assert_eq!(e.get("HTTP_X_FORWARDED_FOR"), None);
    }
}
