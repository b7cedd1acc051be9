//! mod_setenvif's `match_headers`: tests each `SetEnvIf` line against the
//! request and sets or unsets variables in `r.env` (subprocess_env).  The
//! caller runs it twice, as Apache does: server-level lines in
//! post_read_request, per-directory lines in header_parser.

use wsgid_config::model::{EnvAttribute, SetEnvIf};

use crate::request::Request;
use crate::uri::latin1;

/// Apply `lines` in order to `r`.
pub fn run(lines: &[SetEnvIf], r: &mut Request) {
    for line in lines {
        // A value that is absent tests as the empty string, so `^$` matches.
        let val = attribute(&line.attribute, r).unwrap_or_default();
        let Some(caps) = line.regex.captures(&val) else {
            continue;
        };
        let groups: Vec<&str> = (0..caps.len())
            .map(|i| caps.get(i).map_or("", |m| m.as_str()))
            .collect();
        for (name, value) in &line.actions {
            match value {
                Some(v) => r.set_env(name, pregsub(v, &groups)),
                None => r.unset_env(name),
            }
        }
    }
}

/// The value a line tests (None: absent).
fn attribute(attr: &EnvAttribute, r: &Request) -> Option<String> {
    match attr {
        // No HostnameLookups: the remote host is its address.
        EnvAttribute::RemoteAddr | EnvAttribute::RemoteHost => Some(r.conn.peer.ip().to_string()),
        EnvAttribute::ServerAddr => Some(r.conn.local.ip().to_string()),
        // No authentication has run before these hooks.
        EnvAttribute::RemoteUser => None,
        EnvAttribute::RequestUri => Some(latin1(&r.uri)),
        EnvAttribute::RequestMethod => Some(r.method.as_str().to_owned()),
        EnvAttribute::RequestProtocol => Some(r.protocol().to_owned()),
        EnvAttribute::Header(name) => r.header_str(name).or_else(|| {
            r.env
                .iter()
                .find(|(k, _)| k == name)
                .map(|(_, v)| v.clone())
        }),
        // The last header whose name matches.
        EnvAttribute::HeaderRegex(re) => r
            .headers
            .iter()
            .filter(|(k, _)| re.is_match(k.as_str()))
            .last()
            .map(|(_, v)| latin1(v.as_bytes())),
    }
}

/// `ap_pregsub`: `$0`..`$9` and `&` (the whole match); `\c` is `c`.
pub fn pregsub(template: &str, groups: &[&str]) -> String {
    let mut out = String::new();
    let mut chars = template.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\\' if chars
                .peek()
                .is_some_and(|&n| n == '$' || n == '&' || n == '\\') =>
            {
                if let Some(n) = chars.next() {
                    out.push(n);
                }
            }
            '&' => out.push_str(groups.first().copied().unwrap_or("")),
            '$' if chars.peek().is_some_and(char::is_ascii_digit) => {
                let d = chars.next().and_then(|d| d.to_digit(10)).unwrap_or(0) as usize;
                out.push_str(groups.get(d).copied().unwrap_or(""));
            }
            _ => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use wsgid_config::model::EnvAttribute;

    fn request(headers: &[(&'static str, &'static str)]) -> Request {
        crate::request::test_request("/p/q?x=1", headers)
    }

    fn line(attr: EnvAttribute, re: &str, actions: &[(&str, Option<&str>)]) -> SetEnvIf {
        SetEnvIf {
            attribute: attr,
            regex: regex::RegexBuilder::new(re)
                .case_insensitive(true)
                .build()
                .expect("regex"),
            actions: actions
                .iter()
                .map(|(k, v)| ((*k).to_owned(), v.map(str::to_owned)))
                .collect(),
        }
    }

    fn get<'a>(r: &'a Request, k: &str) -> Option<&'a str> {
        r.env.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str())
    }

    #[test]
    fn header_capture_and_unset() {
        let mut r = request(&[("User-Agent", "OracleBot/42"), ("Host", "h")]);
        r.set_env("GONE", "1".into());
        run(
            &[line(
                EnvAttribute::Header("user-agent".into()),
                "^OracleBot/([0-9]+)",
                &[("BOT", Some("yes")), ("V", Some("$1-&")), ("GONE", None)],
            )],
            &mut r,
        );
        assert_eq!(get(&r, "BOT"), Some("yes"));
        assert_eq!(get(&r, "V"), Some("42-OracleBot/42"));
        assert_eq!(get(&r, "GONE"), None);
    }

    #[test]
    fn special_attributes() {
        let mut r = request(&[("Host", "h"), ("X-Flag", "ON")]);
        run(
            &[
                line(EnvAttribute::RemoteAddr, r"^10\.", &[("A", Some("1"))]),
                line(EnvAttribute::ServerAddr, r"^127\.", &[("S", Some("1"))]),
                line(EnvAttribute::RequestUri, "^/p/q$", &[("U", Some("1"))]),
                line(EnvAttribute::RequestMethod, "^get$", &[("M", Some("1"))]),
                line(EnvAttribute::RequestProtocol, "HTTP/1", &[("P", Some("1"))]),
                line(
                    EnvAttribute::Header("Missing".into()),
                    "^$",
                    &[("E", Some("1"))],
                ),
                line(
                    EnvAttribute::HeaderRegex(regex::Regex::new("^x-").expect("regex")),
                    "^on$",
                    &[("R", Some("1"))],
                ),
                // A variable set above is visible by name.
                line(
                    EnvAttribute::Header("U".into()),
                    "^1$",
                    &[("VIA_ENV", Some("1"))],
                ),
            ],
            &mut r,
        );
        for k in ["A", "S", "U", "M", "P", "E", "R", "VIA_ENV"] {
            assert_eq!(get(&r, k), Some("1"), "{k}");
        }
    }
}
