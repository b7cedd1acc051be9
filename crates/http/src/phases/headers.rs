//! mod_headers at request time: `RequestHeader` rules edit the request's
//! headers in the fixups (so the environ's `HTTP_*` see them), and
//! `Header` rules edit the response head, as `ap_headers_output_filter`
//! and `ap_headers_error_filter` do:
//!
//! * a response from a handler (a WSGI application's, whatever its
//!   status; a static file, a 304 included) gets the `always` rules on
//!   `err_headers_out` and the `onsuccess` rules on its own headers;
//! * a response Apache generates (error pages, redirects) gets only the
//!   `always` rules: `onsuccess` headers never reach it.
//!
//! `err_headers_out` goes out before `headers_out`.  Operations follow
//! APR's tables: `set` replaces every value, `append` joins onto the first
//! value with `", "`, `merge` appends only a value not already among the
//! first value's comma-separated tokens, `add` adds a line, `edit`
//! rewrites every value of the name.  `Server` and `Date` are the core's:
//! what rules do to them is undone, as Apache's header filter does.

use std::time::{SystemTime, UNIX_EPOCH};

use http::header::{DATE, SERVER};
use http::{HeaderMap, HeaderName, HeaderValue};
use wsgid_config::header_rules::{FormatPiece, HeaderAction, HeaderRule};
use wsgid_config::model::PerDir;

use crate::request::Request;
use crate::uri::latin1_bytes;

/// `RequestHeader` rules of the merged configuration, on `r.headers`.
pub fn fixup_request(r: &mut Request) {
    if r.per_dir.request_headers.is_empty() {
        return;
    }
    let per_dir = std::sync::Arc::clone(&r.per_dir);
    let sent = std::mem::take(&mut r.headers);
    let mut headers = if r.headers_in_table {
        sent
    } else {
        joined(sent)
    };
    apply(r, &per_dir.request_headers, &mut headers, None);
    r.headers = headers;
    r.headers_in_table = true;
}

/// The request's header lines as Apache's `headers_in` holds them after
/// the read: one entry per name, repeated lines joined with `", "`.
fn joined(sent: HeaderMap) -> HeaderMap {
    let mut out = HeaderMap::with_capacity(sent.keys_len());
    for name in sent.keys() {
        if let Some(v) = crate::request::joined_field(&sent, name)
            && let Ok(v) = HeaderValue::from_bytes(&v)
        {
            out.append(name.clone(), v);
        }
    }
    out
}

/// `Header` rules on a response head: `generated` for a response the
/// server made itself (an error page or a redirect); `err_headers` are
/// the request's `err_headers_out` (the 401 challenge).  `server` is the
/// virtual host's own configuration, which a request that ended before
/// its sections were merged (a `Redirect`, a refused URI) runs with, as
/// Apache's `lookup_defaults`.
pub fn output(
    server: &PerDir,
    r: &Request,
    headers: &mut HeaderMap,
    err_headers: &[(HeaderName, HeaderValue)],
    generated: bool,
) {
    let has_rules = |pd: &PerDir| !pd.headers_always.is_empty() || !pd.headers_onsuccess.is_empty();
    // Merging only adds rules to the server's: a merged configuration
    // without any had none to inherit.
    let pd = if has_rules(&r.per_dir) {
        &*r.per_dir
    } else {
        server
    };
    if !has_rules(pd) {
        for (name, value) in err_headers {
            headers.append(name.clone(), value.clone());
        }
        return;
    }
    let server = headers.get(SERVER).cloned();
    let date = headers.get(DATE).cloned();
    let mut out = std::mem::take(headers);
    let mut err = HeaderMap::new();
    if generated {
        // ap_send_error_response: err_headers_out becomes the page's
        // headers_out, and err_headers_out starts empty.
        for (name, value) in err_headers {
            out.append(name.clone(), value.clone());
        }
    } else {
        for (name, value) in err_headers {
            err.append(name.clone(), value.clone());
        }
    }
    apply(r, &pd.headers_always, &mut err, Some(&mut out));
    if !generated {
        apply(r, &pd.headers_onsuccess, &mut out, None);
    }
    // err_headers_out first, then headers_out (apr_table_overlay).
    let mut last = None;
    for (name, value) in err.into_iter().chain(out) {
        if let Some(n) = name {
            last = Some(n);
        }
        if let Some(n) = &last {
            headers.append(n.clone(), value);
        }
    }
    for (name, kept) in [(SERVER, server), (DATE, date)] {
        headers.remove(&name);
        if let Some(v) = kept {
            headers.insert(name, v);
        }
    }
}

/// Run `rules` on `table`; `echo` copies request headers into `echo_to`
/// (`r->headers_out`) when given, else into `table`.
fn apply(
    r: &Request,
    rules: &[HeaderRule],
    table: &mut HeaderMap,
    mut echo_to: Option<&mut HeaderMap>,
) {
    for rule in rules {
        if let Some(c) = &rule.condition {
            let set = env(r, &c.var).is_some();
            if set == c.negated {
                continue;
            }
        }
        if rule.action == HeaderAction::Echo {
            let target = match echo_to.as_deref_mut() {
                Some(t) => t,
                None => &mut *table,
            };
            echo(r, rule, target);
            continue;
        }
        let Ok(name) = HeaderName::from_bytes(rule.name.as_bytes()) else {
            continue;
        };
        match rule.action {
            HeaderAction::Set => {
                if let Some(v) = value(r, rule) {
                    table.insert(name, v);
                }
            }
            HeaderAction::SetIfEmpty => {
                if !table.contains_key(&name)
                    && let Some(v) = value(r, rule)
                {
                    table.insert(name, v);
                }
            }
            HeaderAction::Add => {
                if let Some(v) = value(r, rule) {
                    table.append(name, v);
                }
            }
            HeaderAction::Append => {
                let text = format(r, &rule.value);
                merge_into_first(table, name, &text);
            }
            HeaderAction::Merge => {
                let text = format(r, &rule.value);
                let present = table
                    .get(&name)
                    .is_some_and(|v| has_token(v.as_bytes(), text.as_bytes()));
                if !present {
                    merge_into_first(table, name, &text);
                }
            }
            HeaderAction::Unset => {
                table.remove(&name);
            }
            HeaderAction::Edit | HeaderAction::EditAll => edit(rule, table, name),
            HeaderAction::Echo => {}
        }
    }
}

/// `apr_table_mergen`: `", value"` onto the first value, else a new line.
fn merge_into_first(table: &mut HeaderMap, name: HeaderName, text: &str) {
    let joined = match table.get(&name) {
        Some(first) => {
            let mut v = first.as_bytes().to_vec();
            v.extend_from_slice(b", ");
            v.extend_from_slice(&latin1_bytes(text));
            v
        }
        None => latin1_bytes(text),
    };
    let Ok(joined) = HeaderValue::from_bytes(&joined) else {
        return;
    };
    let rest: Vec<HeaderValue> = table.get_all(&name).iter().skip(1).cloned().collect();
    table.insert(name.clone(), joined);
    for v in rest {
        table.append(name.clone(), v);
    }
}

/// mod_headers' token scan for `merge`: comma-separated, leading blanks
/// skipped, quoted strings kept whole, compared exactly.
fn has_token(value: &[u8], token: &[u8]) -> bool {
    let mut i = 0;
    while i < value.len() {
        while i < value.len() && value[i].is_ascii_whitespace() {
            i += 1;
        }
        let start = i;
        while i < value.len() && value[i] != b',' {
            let quote = value[i] == b'"';
            i += 1;
            if quote {
                while i < value.len() {
                    i += 1;
                    if value[i - 1] == b'"' {
                        break;
                    }
                }
            }
        }
        if &value[start..i] == token {
            return true;
        }
        if i < value.len() {
            i += 1;
        }
    }
    false
}

/// `edit` / `edit*` on every value of the name (they move to the end of
/// the table, as mod_headers unsets and re-adds them).
fn edit(rule: &HeaderRule, table: &mut HeaderMap, name: HeaderName) {
    let Some(re) = &rule.regex else {
        return;
    };
    let values: Vec<HeaderValue> = table.get_all(&name).iter().cloned().collect();
    if values.is_empty() {
        return;
    }
    table.remove(&name);
    for v in values {
        let text = crate::uri::latin1(v.as_bytes());
        let edited = edit_value(
            re,
            &rule.substitution,
            &text,
            rule.action == HeaderAction::EditAll,
        );
        if let Ok(v) = HeaderValue::from_bytes(&latin1_bytes(&edited)) {
            table.append(name.clone(), v);
        }
    }
}

/// `process_regexp`: the first match replaced, or (`all`) every match.
fn edit_value(re: &regex::Regex, subs: &str, value: &str, all: bool) -> String {
    let mut out = String::with_capacity(value.len());
    let mut at = 0;
    while let Some(caps) = re.captures_at(value, at) {
        let Some(m) = caps.get(0) else {
            break;
        };
        out.push_str(&value[at..m.start()]);
        expand(subs, &caps, &mut out);
        if m.end() == m.start() {
            // An empty match would match again at once: keep one
            // character and go on.
            match value[m.end()..].chars().next() {
                Some(c) => {
                    out.push(c);
                    at = m.end() + c.len_utf8();
                }
                None => {
                    at = value.len();
                    break;
                }
            }
        } else {
            at = m.end();
        }
        if !all || at > value.len() {
            break;
        }
    }
    out.push_str(&value[at.min(value.len())..]);
    out
}

/// `ap_pregsub`: `$0`..`$9` and `&` (the whole match) are replaced, `\x`
/// is `x`.
fn expand(subs: &str, caps: &regex::Captures<'_>, out: &mut String) {
    let mut chars = subs.chars().peekable();
    while let Some(c) = chars.next() {
        let group = match c {
            '&' => Some(0),
            '$' => chars.peek().and_then(|d| d.to_digit(10)).inspect(|_| {
                chars.next();
            }),
            _ => None,
        };
        match group {
            Some(n) => {
                if let Some(m) = caps.get(n as usize) {
                    out.push_str(m.as_str());
                }
            }
            None if c == '\\' && chars.peek().is_some() => {
                if let Some(next) = chars.next() {
                    out.push(next);
                }
            }
            None => out.push(c),
        }
    }
}

/// `echo`: the request headers whose names match, unchanged.
fn echo(r: &Request, rule: &HeaderRule, target: &mut HeaderMap) {
    let Some(re) = &rule.regex else {
        return;
    };
    for (name, value) in &r.headers {
        // The names as sent are not kept (`http` lower-cases them): the
        // pattern sees them in their canonical case (`X-Forwarded-For`),
        // the way clients send them.
        if re.is_match(&crate::response::canonical_name(name.as_str())) {
            target.append(name.clone(), value.clone());
        }
    }
}

fn value(r: &Request, rule: &HeaderRule) -> Option<HeaderValue> {
    HeaderValue::from_bytes(&latin1_bytes(&format(r, &rule.value))).ok()
}

/// `process_tags`.
fn format(r: &Request, pieces: &[FormatPiece]) -> String {
    let mut out = String::new();
    for p in pieces {
        match p {
            FormatPiece::Text(t) => out.push_str(t),
            FormatPiece::Duration => {
                let d = SystemTime::now()
                    .duration_since(r.start)
                    .map_or(0, |d| d.as_micros());
                out.push_str("D=");
                out.push_str(itoa::Buffer::new().format(d));
            }
            FormatPiece::Time => {
                let t = r
                    .start
                    .duration_since(UNIX_EPOCH)
                    .map_or(0, |d| d.as_micros());
                out.push_str("t=");
                out.push_str(itoa::Buffer::new().format(t));
            }
            // unwrap_header: line breaks in a variable become blanks.
            FormatPiece::Env(name) => match env(r, name) {
                Some(v) => out.extend(
                    v.chars()
                        .map(|c| if c == '\r' || c == '\n' { ' ' } else { c }),
                ),
                None => out.push_str("(null)"),
            },
            FormatPiece::Ssl(_) => out.push_str("(null)"),
        }
    }
    out
}

/// The request's environment variable (`r->subprocess_env`).
fn env<'a>(r: &'a Request, name: &str) -> Option<&'a str> {
    r.env
        .iter()
        .rev()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}

#[cfg(test)]
mod tests {
    use super::{edit_value, has_token};

    #[test]
    fn merge_tokens_as_mod_headers_scans_them() {
        assert!(has_token(b"a, b", b"b"));
        assert!(has_token(b"a,b", b"a"));
        assert!(!has_token(b"a , b", b"a"));
        assert!(has_token(b"\"x,y\", z", b"\"x,y\""));
        assert!(!has_token(b"ab", b"a"));
    }

    #[test]
    fn edit_replaces_the_first_or_every_match() {
        let re = regex::Regex::new("([a-z])").expect("regex");
        assert_eq!(edit_value(&re, "<$1>", "a, b", false), "<a>, b");
        assert_eq!(edit_value(&re, "<$1>", "a, b", true), "<a>, <b>");
        assert_eq!(edit_value(&re, "[&]\\$1", "a", false), "[a]$1");
        let empty = regex::Regex::new("x*").expect("regex");
        assert_eq!(edit_value(&empty, "-", "ab", true), "-a-b-");
    }
}
