//! Access-log lines: mod_log_config's `LogFormat` language, parsed once
//! ([`Formatter::parse`]) and applied to each finished request
//! ([`Formatter::format`] on a [`LogRecord`]).
//!
//! Every `%` code of mod_log_config (and mod_logio's `%I %O %S`) is
//! supported, with status conditions (`%400,501{User-agent}i`,
//! `%!200i`), `<`/`>` (original/final request), `\n \t \r \\` escapes,
//! `-` for a missing value and Apache's `\xhh` escaping of control
//! characters, `"` and `\` in request-derived values.  Times are UTC, as
//! in all wsgid logs.  The line is returned without its newline.

#[path = "response/strftime.rs"]
mod strftime;

use std::fmt::Write;
use std::net::SocketAddr;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use http::HeaderMap;

/// `%X`: the state of the connection when the response was done.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum ConnStatus {
    /// `X`: the connection was aborted before the response completed.
    Aborted,
    /// `+`: the connection may be kept alive.
    KeepAlive,
    /// `-`: the connection is closed after the response.
    #[default]
    Close,
}

/// Everything a log line may show about one request.
#[derive(Clone, Debug)]
pub struct LogRecord<'a> {
    /// Client address (`%h`, `%a`, `%{remote}p`).
    pub remote_addr: Option<SocketAddr>,
    /// Address the connection came in on (`%A`, `%{local}p`).
    pub local_addr: Option<SocketAddr>,
    /// The request line as received (`%r`).
    pub request_line: &'a str,
    /// `%m`.
    pub method: &'a str,
    /// The URL path, decoded (`%U`).
    pub uri_path: &'a str,
    /// The query string without `?`, `None` when the URL had no `?` (`%q`).
    pub query: Option<&'a str>,
    /// `HTTP/1.1` etc. (`%H`).
    pub protocol: &'a str,
    /// Status of the original request (`%s`, `%<s`).
    pub status_original: u16,
    /// Status of the final request after internal redirects (`%>s`).
    pub status_final: u16,
    /// Response body bytes sent (`%b`, `%B`).
    pub bytes_sent: u64,
    /// Bytes received, headers included (`%I`).
    pub bytes_in: u64,
    /// Bytes sent, headers included (`%O`).
    pub bytes_out: u64,
    /// `%{Name}i`, `%{Name}C`.
    pub request_headers: &'a HeaderMap,
    /// `%{Name}o`.
    pub response_headers: &'a HeaderMap,
    /// The request's environment (`SetEnv`, `SetEnvIf`, ...) for `%{Name}e`.
    pub env: &'a [(String, String)],
    /// Request notes for `%{Name}n`.
    pub notes: &'a [(String, String)],
    /// Authenticated user (`%u`): `None` unauthenticated.
    pub user: Option<&'a str>,
    /// When the request started (`%t`).
    pub start: SystemTime,
    /// How long it took (`%D`, `%T`, `%{end:...}t`).
    pub duration: Duration,
    /// `%P`.
    pub pid: u32,
    /// `%{tid}P`.
    pub tid: u64,
    /// `ServerName` of the serving virtual host (`%v`).
    pub server_hostname: &'a str,
    /// Server name per `UseCanonicalName` (`%V`).
    pub server_name: &'a str,
    /// The server's canonical port (`%p`).
    pub canonical_port: u16,
    /// The file the request mapped to (`%f`).
    pub filename: Option<&'a str>,
    /// The handler that served it (`%R`).
    pub handler: Option<&'a str>,
    /// Requests served on this connection before this one (`%k`).
    pub keepalive_requests: u32,
    /// `%X`.
    pub conn_status: ConnStatus,
}

/// What one `%` directive prints.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Code {
    Literal(String),
    RemoteHost,
    RemoteAddr,
    LocalAddr,
    RemoteLogname,
    RemoteUser,
    Time(TimeFmt),
    File,
    BytesClf,
    Bytes,
    HeaderIn,
    HeaderOut,
    Note,
    LogId,
    Env,
    ServerName,
    VirtualHost,
    Port,
    PidTid,
    Protocol,
    Method,
    Query,
    ConnStatus,
    Cookie,
    Keepalives,
    RequestLine,
    DurationUs,
    DurationScaled,
    Uri,
    Status,
    Handler,
    BytesIn,
    BytesOut,
    BytesCombined,
    /// Trailers and time-to-first-byte: never known here.
    Unknown,
}

/// `%t` variants.
#[derive(Clone, Debug, PartialEq, Eq)]
enum TimeFmt {
    Clf,
    Custom(String),
    Sec,
    Msec,
    Usec,
    MsecFrac,
    UsecFrac,
}

#[derive(Clone, Debug)]
struct Item {
    code: Code,
    arg: String,
    /// Print only for these statuses (or, negated, for all others).
    conditions: Vec<u16>,
    negate: bool,
    /// Use the original request (`<`) rather than the final one (`>`).
    want_orig: bool,
    /// Whether this item uses the end time (`%{end:...}t`).
    at_end: bool,
}

/// A parsed `LogFormat` string.
#[derive(Clone, Debug)]
pub struct Formatter {
    items: Vec<Item>,
}

/// The literal text up to the next `%`, with mod_log_config's backslash
/// escapes (`\"` too, in case the configuration reader left it).
fn parse_literal(s: &str) -> (String, &str) {
    let end = s.find('%').unwrap_or(s.len());
    let (lit, rest) = s.split_at(end);
    let mut out = String::with_capacity(lit.len());
    let mut chars = lit.chars().peekable();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.peek() {
            Some('\\') => out.push('\\'),
            Some('r') => out.push('\r'),
            Some('n') => out.push('\n'),
            Some('t') => out.push('\t'),
            Some('"') => out.push('"'),
            _ => {
                out.push('\\');
                continue;
            }
        }
        chars.next();
    }
    (out, rest)
}

fn code_of(c: char) -> Option<(Code, bool)> {
    // (code, want_orig default) as registered by mod_log_config/mod_logio.
    Some(match c {
        'h' => (Code::RemoteHost, false),
        'a' => (Code::RemoteAddr, false),
        'A' => (Code::LocalAddr, false),
        'l' => (Code::RemoteLogname, false),
        'u' => (Code::RemoteUser, false),
        't' => (Code::Time(TimeFmt::Clf), false),
        'f' => (Code::File, false),
        'b' => (Code::BytesClf, false),
        'B' => (Code::Bytes, false),
        'i' => (Code::HeaderIn, false),
        'o' => (Code::HeaderOut, false),
        'n' => (Code::Note, false),
        'L' => (Code::LogId, true),
        'e' => (Code::Env, false),
        'V' => (Code::ServerName, false),
        'v' => (Code::VirtualHost, false),
        'p' => (Code::Port, false),
        'P' => (Code::PidTid, false),
        'H' => (Code::Protocol, false),
        'm' => (Code::Method, false),
        'q' => (Code::Query, false),
        'X' => (Code::ConnStatus, false),
        'C' => (Code::Cookie, false),
        'k' => (Code::Keepalives, false),
        'r' => (Code::RequestLine, true),
        'D' => (Code::DurationUs, true),
        'T' => (Code::DurationScaled, true),
        'U' => (Code::Uri, true),
        's' => (Code::Status, true),
        'R' => (Code::Handler, true),
        'I' => (Code::BytesIn, false),
        'O' => (Code::BytesOut, false),
        'S' => (Code::BytesCombined, false),
        _ => return None,
    })
}

/// `%{...}t`: which clock and which format.
fn time_format(arg: &str) -> (TimeFmt, bool) {
    let (fmt, at_end) = if let Some(rest) = arg.strip_prefix("begin") {
        match rest.strip_prefix(':') {
            Some(f) => (f, false),
            None if rest.is_empty() => return (TimeFmt::Clf, false),
            None => (rest, false),
        }
    } else if let Some(rest) = arg.strip_prefix("end") {
        match rest.strip_prefix(':') {
            Some(f) => (f, true),
            None if rest.is_empty() => return (TimeFmt::Clf, true),
            None => (rest, true),
        }
    } else {
        (arg, false)
    };
    let kind = match fmt {
        "" => TimeFmt::Clf,
        "sec" => TimeFmt::Sec,
        "msec" => TimeFmt::Msec,
        "usec" => TimeFmt::Usec,
        "msec_frac" => TimeFmt::MsecFrac,
        "usec_frac" => TimeFmt::UsecFrac,
        other => TimeFmt::Custom(other.to_owned()),
    };
    (kind, at_end)
}

impl Formatter {
    /// Parse a `LogFormat` string; the error is Apache's message.
    pub fn parse(format: &str) -> Result<Formatter, String> {
        let mut items = Vec::new();
        let mut s = format;
        while !s.is_empty() {
            let Some(after) = s.strip_prefix('%') else {
                let (lit, rest) = parse_literal(s);
                items.push(Item::literal(lit));
                s = rest;
                continue;
            };
            if let Some(rest) = after.strip_prefix('%') {
                items.push(Item::literal("%".to_owned()));
                s = rest;
                continue;
            }
            let (item, rest) = Item::parse(after)?;
            items.push(item);
            s = rest;
        }
        Ok(Formatter { items })
    }

    /// The log line for `r`, without a newline.
    pub fn format(&self, r: &LogRecord<'_>) -> String {
        let mut out = String::with_capacity(160);
        for item in &self.items {
            // Conditions test the final status whatever `<`/`>` says.
            let listed = item.conditions.contains(&r.status_final);
            if !item.conditions.is_empty() && listed == item.negate {
                out.push('-');
                continue;
            }
            item.write(&mut out, r);
        }
        out
    }
}

impl Item {
    fn literal(text: String) -> Item {
        Item {
            code: Code::Literal(text),
            arg: String::new(),
            conditions: Vec::new(),
            negate: false,
            want_orig: false,
            at_end: false,
        }
    }

    /// Parse one directive after its `%`; returns the rest of the format.
    fn parse(mut s: &str) -> Result<(Item, &str), String> {
        let mut item = Item::literal(String::new());
        let mut want_orig = None;
        loop {
            let Some(c) = s.chars().next() else {
                return Err("Ran off end of LogFormat parsing args to some directive".to_owned());
            };
            s = &s[c.len_utf8()..];
            match c {
                '!' => item.negate = !item.negate,
                '<' => want_orig = Some(true),
                '>' => want_orig = Some(false),
                ',' => {}
                '{' => {
                    let end = s.find('}').unwrap_or(s.len());
                    item.arg = s[..end].to_owned();
                    s = s[end..].trim_start_matches('}');
                }
                '0'..='9' => {
                    let digits = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
                    let number = format!("{c}{}", &s[..digits]);
                    s = &s[digits..];
                    item.conditions.push(number.parse().unwrap_or(u16::MAX));
                }
                '^' if s.len() >= 2 && s.is_char_boundary(2) => {
                    // Two-letter codes (trailers, time to first byte).
                    if matches!(&s[..2], "ti" | "to" | "FB") {
                        s = &s[2..];
                        item.code = Code::Unknown;
                        item.want_orig = want_orig.unwrap_or(false);
                        return Ok((item, s));
                    }
                    return Err("Unrecognized LogFormat directive %^".to_owned());
                }
                other => {
                    let Some((code, orig_default)) = code_of(other) else {
                        return Err(format!("Unrecognized LogFormat directive %{other}"));
                    };
                    item.code = code;
                    item.want_orig = want_orig.unwrap_or(orig_default);
                    if item.code == Code::Time(TimeFmt::Clf) && !item.arg.is_empty() {
                        let (fmt, at_end) = time_format(&item.arg);
                        item.code = Code::Time(fmt);
                        item.at_end = at_end;
                    }
                    return Ok((item, s));
                }
            }
        }
    }

    fn write(&self, out: &mut String, r: &LogRecord<'_>) {
        let arg = self.arg.as_str();
        let opt = |out: &mut String, v: Option<&str>| match v {
            Some(v) => escape_into(out, v),
            None => write!(out, "-"),
        };
        let _ = match &self.code {
            Code::Literal(text) => {
                out.push_str(text);
                Ok(())
            }
            Code::RemoteHost | Code::RemoteAddr => match r.remote_addr {
                Some(a) => write!(out, "{}", a.ip()),
                None => write!(out, "-"),
            },
            Code::LocalAddr => match r.local_addr {
                Some(a) => write!(out, "{}", a.ip()),
                None => write!(out, "-"),
            },
            Code::RemoteLogname | Code::LogId | Code::Unknown => write!(out, "-"),
            Code::RemoteUser => match r.user {
                None => write!(out, "-"),
                Some("") => write!(out, "\"\""),
                Some(u) => escape_into(out, u),
            },
            Code::Time(fmt) => {
                let t = if self.at_end {
                    r.start + r.duration
                } else {
                    r.start
                };
                write_time(out, fmt, t)
            }
            Code::File => opt(out, r.filename),
            Code::BytesClf if r.bytes_sent == 0 => write!(out, "-"),
            Code::BytesClf | Code::Bytes => write!(out, "{}", r.bytes_sent),
            Code::HeaderIn => opt(out, joined(r.request_headers, arg).as_deref()),
            Code::HeaderOut => opt(out, header_out(r.response_headers, arg).as_deref()),
            Code::Note => opt(out, table_get(r.notes, arg)),
            Code::Env => opt(out, table_get(r.env, arg)),
            Code::ServerName => escape_into(out, r.server_name),
            Code::VirtualHost => escape_into(out, r.server_hostname),
            Code::Port => match arg.to_ascii_lowercase().as_str() {
                "" | "canonical" => write!(out, "{}", r.canonical_port),
                "remote" => write!(out, "{}", r.remote_addr.map_or(0, |a| a.port())),
                "local" => write!(out, "{}", r.local_addr.map_or(0, |a| a.port())),
                _ => write!(out, "{arg}"),
            },
            Code::PidTid => match arg.to_ascii_lowercase().as_str() {
                "" | "pid" => write!(out, "{}", r.pid),
                "tid" => write!(out, "{}", r.tid),
                "hextid" => write!(out, "{:x}", r.tid),
                _ => write!(out, "{arg}"),
            },
            Code::Protocol => escape_into(out, r.protocol),
            Code::Method => escape_into(out, r.method),
            Code::Query => match r.query {
                Some(q) => {
                    out.push('?');
                    escape_into(out, q)
                }
                None => Ok(()),
            },
            Code::ConnStatus => write!(
                out,
                "{}",
                match r.conn_status {
                    ConnStatus::Aborted => 'X',
                    ConnStatus::KeepAlive => '+',
                    ConnStatus::Close => '-',
                }
            ),
            Code::Cookie => opt(out, cookie(r.request_headers, arg).as_deref()),
            Code::Keepalives => write!(out, "{}", r.keepalive_requests),
            Code::RequestLine => escape_into(out, r.request_line),
            Code::DurationUs => write!(out, "{}", r.duration.as_micros()),
            Code::DurationScaled => match arg.to_ascii_lowercase().as_str() {
                "" | "s" => write!(out, "{}", r.duration.as_secs()),
                "ms" => write!(out, "{}", r.duration.as_millis()),
                "us" => write!(out, "{}", r.duration.as_micros()),
                _ => write!(out, "{arg}"),
            },
            Code::Uri => escape_into(out, r.uri_path),
            Code::Status => {
                let s = if self.want_orig {
                    r.status_original
                } else {
                    r.status_final
                };
                if s == 0 {
                    write!(out, "-")
                } else {
                    write!(out, "{s}")
                }
            }
            Code::Handler => opt(out, r.handler),
            Code::BytesIn => write!(out, "{}", r.bytes_in),
            Code::BytesOut => write!(out, "{}", r.bytes_out),
            Code::BytesCombined => write!(out, "{}", r.bytes_in + r.bytes_out),
        };
    }
}

fn write_time(out: &mut String, fmt: &TimeFmt, t: SystemTime) -> std::fmt::Result {
    let us = t.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_micros());
    match fmt {
        TimeFmt::Clf => {
            out.push_str(&wsgid_log::access_log_time(t));
            Ok(())
        }
        TimeFmt::Custom(f) => {
            out.push_str(&strftime::strftime(f, t));
            Ok(())
        }
        TimeFmt::Sec => write!(out, "{}", us / 1_000_000),
        TimeFmt::Msec => write!(out, "{}", us / 1_000),
        TimeFmt::Usec => write!(out, "{us}"),
        TimeFmt::MsecFrac => write!(out, "{:03}", us / 1_000 % 1_000),
        TimeFmt::UsecFrac => write!(out, "{:06}", us % 1_000_000),
    }
}

/// `ap_escape_logitem`: `\"`, `\\`, `\n`-style escapes, `\xhh` for other
/// control bytes and bytes ≥ 0x7f.  Request text is held as latin-1 (one
/// char per byte received), so a char up to U+00FF is escaped as that byte.
fn escape_into(out: &mut String, s: &str) -> std::fmt::Result {
    let mut utf8 = [0u8; 4];
    for c in s.chars() {
        match u8::try_from(u32::from(c)) {
            Ok(b) => escape_byte(out, b)?,
            Err(_) => {
                for &b in c.encode_utf8(&mut utf8).as_bytes() {
                    escape_byte(out, b)?;
                }
            }
        }
    }
    Ok(())
}

fn escape_byte(out: &mut String, b: u8) -> std::fmt::Result {
    match b {
        b'"' | b'\\' => {
            out.push('\\');
            out.push(char::from(b));
        }
        0x08 => out.push_str("\\b"),
        b'\n' => out.push_str("\\n"),
        b'\r' => out.push_str("\\r"),
        b'\t' => out.push_str("\\t"),
        0x0b => out.push_str("\\v"),
        0x20..=0x7e => out.push(char::from(b)),
        _ => write!(out, "\\x{b:02x}")?,
    }
    Ok(())
}

/// Apache's tables: case-insensitive, first entry wins.
fn table_get<'a>(table: &'a [(String, String)], name: &str) -> Option<&'a str> {
    table
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.as_str())
}

/// All values of a header joined with `", "` (how Apache's `headers_in`
/// holds repeated request headers).  Bytes that are not UTF-8 are kept as
/// U+FFFD and then escaped like other non-ASCII bytes.
fn joined(headers: &HeaderMap, name: &str) -> Option<String> {
    let mut values = headers.get_all(name).iter();
    let mut s = String::from_utf8_lossy(values.next()?.as_bytes()).into_owned();
    for v in values {
        s.push_str(", ");
        s.push_str(&String::from_utf8_lossy(v.as_bytes()));
    }
    Some(s)
}

/// `%{Name}o`: `Content-Type` without parameters, every `Set-Cookie`,
/// otherwise the first value.
fn header_out(headers: &HeaderMap, name: &str) -> Option<String> {
    if name.eq_ignore_ascii_case("content-type") {
        let v = headers.get(http::header::CONTENT_TYPE)?;
        let v = String::from_utf8_lossy(v.as_bytes());
        let base = v.split(';').next().unwrap_or("").trim_end();
        return Some(base.to_owned());
    }
    if name.eq_ignore_ascii_case("set-cookie") {
        return joined(headers, name);
    }
    headers
        .get(name)
        .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
}

/// `%{Name}C`: the value of cookie `name` in the `Cookie` header.
fn cookie(headers: &HeaderMap, name: &str) -> Option<String> {
    let all = joined(headers, "cookie")?;
    all.split(';').find_map(|pair| {
        let (k, v) = pair.split_once('=')?;
        let (k, v) = (k.trim(), v.trim());
        (!k.is_empty() && !v.is_empty() && k.eq_ignore_ascii_case(name)).then(|| v.to_owned())
    })
}

#[cfg(test)]
#[path = "response/access_log_tests.rs"]
mod tests;
