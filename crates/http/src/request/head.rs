//! Building a [`Request`] from a parsed request head: the target kept as
//! sent, the path normalised and %-decoded before any phase runs (as
//! `ap_process_request_internal` does), the host name checked, and why a
//! head is refused.

use std::fmt::Write as _;
use std::sync::Arc;
use std::time::SystemTime;

use http::{HeaderMap, Version};
use wsgid_config::model::ScriptAliasOptions;

use crate::uri::{self, PathError};
use crate::vhost;

use super::{ConnInfo, FileKind, Request, empty_per_dir, expectation, joined_field, version_str};

/// The request target exactly as sent, kept in the head's extensions when
/// `http::Uri` only took an escaped copy of it (bytes over 0x7f).
#[derive(Clone, Debug)]
pub struct RawTarget(pub bytes::Bytes);

/// A protocol other than HTTP/1.0 and 1.1 as sent on the request line
/// (kept in the head's extensions; `Version` cannot hold `HTTP/1.2`).
#[derive(Clone, Debug)]
pub struct ProtocolSent(pub String);

/// Why a request head could not be turned into a [`Request`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HeadError {
    /// 400: HTTP/1.1 without a host name (AH00569, logged at debug).
    NoHostname,
    /// 400: a Host value (repeated ones merged with ", ") that is no host
    /// name (AH00550, logged at debug).
    MalformedHost(String),
    /// 400: a path that normalises above the root (AH10244).
    InvalidPath,
    /// 404 for `%2F`/`%00` in the path (logged at info as AH00026).
    NotFound(PathError),
    /// 417: an `Expect` other than `100-continue` (logged at info as AH00570).
    ExpectationFailed,
}

/// A path-form target with bytes `http::Uri` refuses (obs-text), as sent:
/// Apache keeps them.
fn raw_target(parts: &http::request::Parts) -> Option<&[u8]> {
    parts
        .extensions
        .get::<RawTarget>()
        .filter(|r| r.0.starts_with(b"/"))
        .map(|r| &r.0[..])
}

/// The request target's path (not normalised or decoded) and query: the
/// raw target's when there is one, else the parsed target's.
fn target_path(parts: &http::request::Parts) -> (&[u8], Option<String>) {
    match raw_target(parts) {
        Some(raw) => match raw.iter().position(|&b| b == b'?') {
            Some(q) => (&raw[..q], Some(uri::latin1(&raw[q + 1..]))),
            None => (raw, None),
        },
        None => (
            parts.uri.path().as_bytes(),
            parts.uri.query().map(str::to_owned),
        ),
    }
}

impl Request {
    /// Build the context from a request head.  The path is normalised and
    /// decoded here, before any phase runs, as `ap_process_request_internal`
    /// does.
    pub fn from_head(
        parts: &http::request::Parts,
        conn: Arc<ConnInfo>,
    ) -> Result<Request, (Box<Request>, HeadError)> {
        Request::with_headers(parts, parts.headers.clone(), conn)
    }

    /// [`Request::from_head`] that moves the headers out of `parts` instead
    /// of copying them (the request's path: one map fewer per request).
    pub fn take_head(
        parts: &mut http::request::Parts,
        conn: Arc<ConnInfo>,
    ) -> Result<Request, (Box<Request>, HeadError)> {
        let headers = std::mem::take(&mut parts.headers);
        Request::with_headers(parts, headers, conn)
    }

    fn with_headers(
        parts: &http::request::Parts,
        mut headers: HeaderMap,
        conn: Arc<ConnInfo>,
    ) -> Result<Request, (Box<Request>, HeadError)> {
        let target = &parts.uri;
        let raw = raw_target(parts);
        let unparsed_uri = match raw {
            Some(raw) => uri::latin1(raw),
            None => original_uri(target),
        };
        // The request line shows the target as sent (absolute form too).
        let version = parts.version;
        let protocol_sent = parts
            .extensions
            .get::<ProtocolSent>()
            .map(|p| Box::from(p.0.as_str()));
        let protocol = protocol_sent.as_deref().unwrap_or(version_str(version));
        // An HTTP/0.9 request line has no protocol (Apache logs it so).
        // Built in one allocation: this runs for every request.
        let mut the_request = String::with_capacity(
            parts.method.as_str().len() + unparsed_uri.len() + protocol.len() + 2,
        );
        the_request.push_str(parts.method.as_str());
        the_request.push(' ');
        if raw.is_none() && target.authority().is_some() {
            // Absolute form: the whole target, not just its path.
            let _ = write!(the_request, "{target}");
        } else {
            the_request.push_str(&unparsed_uri);
        }
        if version != Version::HTTP_09 {
            the_request.push(' ');
            the_request.push_str(protocol);
        }
        let mut hostname = None;
        let mut host_port = None;
        let mut error = None;

        // An absolute-form target overrides the Host header (RFC 7230 5.4);
        // Apache rewrites the header so that HTTP_HOST shows the target's.
        if let Some(auth) = target.authority()
            && let Ok(v) = http::HeaderValue::from_str(auth.as_str())
        {
            headers.insert(http::header::HOST, v);
        }
        let host_values: Vec<&http::HeaderValue> =
            headers.get_all(http::header::HOST).iter().collect();
        match host_values.as_slice() {
            [] => {}
            // An empty field is no host name either.
            [one] if one.is_empty() => {}
            [one] => match one.to_str().ok().map(vhost::parse_host) {
                Some(Ok((h, p))) => {
                    hostname = (!h.is_empty()).then_some(h);
                    host_port = p;
                }
                _ => error = Some(HeadError::MalformedHost(uri::latin1(one.as_bytes()))),
            },
            // Apache merges repeated fields, and "a, b" is no host name.
            _ => {
                let merged = joined_field(&headers, &http::header::HOST).unwrap_or_default();
                error = Some(HeadError::MalformedHost(uri::latin1(&merged)));
            }
        }
        if error.is_none() && hostname.is_none() && version == Version::HTTP_11 {
            error = Some(HeadError::NoHostname);
        }
        // ap_check_request_header, after the Host checks: the only
        // expectation Apache meets is 100-continue.
        if error.is_none()
            && expectation(&headers).is_some_and(|e| !e.eq_ignore_ascii_case("100-continue"))
        {
            error = Some(HeadError::ExpectationFailed);
        }

        let (path, args) = target_path(parts);
        let uri = if uri::is_plain_path(path) {
            // Nothing to normalise or decode (nearly every request).
            path.to_vec()
        } else {
            Request::decode_path(path, &mut error)
        };

        let r = Request {
            conn,
            method: parts.method.clone(),
            version,
            protocol_sent,
            the_request,
            unparsed_uri,
            args,
            headers,
            hostname,
            host_port,
            host: 0,
            uri,
            filename: None,
            path_info: Vec::new(),
            kind: FileKind::Missing,
            meta: None,
            handler: None,
            alias_forced: false,
            wsgi_notes: ScriptAliasOptions::default(),
            context: None,
            per_dir: empty_per_dir(),
            env: Vec::new(),
            content_type: None,
            content_languages: Vec::new(),
            content_encoding: None,
            start: SystemTime::now(),
            walk_memo: None,
            alias_target_len: None,
            is_sub: false,
            user: None,
            auth_type: None,
            err_headers: Vec::new(),
            headers_in_table: false,
            rewrite_redirect: None,
            rewrite_end: false,
            rewrite_forced: None,
            redirects: 0,
            prev: None,
            status: 200,
        };
        match error {
            Some(e) => Err((Box::new(r), e)),
            None => Ok(r),
        }
    }

    /// The request's path as `AllowEncodedSlashes On` (`decode`) or
    /// `NoDecode` of its virtual host takes it; `None` when it is refused
    /// all the same (`%00`, a bad escape).
    pub fn path_allowing_slashes(parts: &http::request::Parts, decode: bool) -> Option<Vec<u8>> {
        let (path, _) = target_path(parts);
        let normal = uri::normalize(path)?;
        uri::unescape_path_keep_slashes(&normal, decode).ok()
    }

    /// The path normalised and %-decoded, with the error that refuses it
    /// (`ap_normalize_path`, then `ap_unescape_url`).
    pub(super) fn decode_path(path: &[u8], error: &mut Option<HeadError>) -> Vec<u8> {
        match uri::normalize(path) {
            None => {
                error.get_or_insert(HeadError::InvalidPath);
                path.to_vec()
            }
            Some(normal) => match uri::unescape_path(&normal) {
                Ok(decoded) => decoded,
                Err(PathError::BadRequest) => {
                    error.get_or_insert(HeadError::InvalidPath);
                    normal
                }
                Err(e) => {
                    error.get_or_insert(HeadError::NotFound(e));
                    normal
                }
            },
        }
    }
}

/// REQUEST_URI as Apache computes it: the target as sent on the request
/// line (an absolute-form target keeps only its path and query).
fn original_uri(target: &http::Uri) -> String {
    target
        .path_and_query()
        .map_or_else(|| target.to_string(), |pq| pq.as_str().to_owned())
}
