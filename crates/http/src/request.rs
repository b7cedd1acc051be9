//! The per-request context carried through every phase: wsgid's version of
//! Apache's `request_rec`.  It holds what the client sent (method, target,
//! headers), what the phases computed (decoded URI, file name, PATH_INFO,
//! handler, merged per-directory config, environment table) and the
//! connection facts the environ needs.  Building it from the parsed request
//! head is the only parsing done here; the phases fill in the rest.

use std::fmt::Write as _;
use std::fs::Metadata;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::SystemTime;

use http::{HeaderMap, Method, Version};
use wsgid_config::model::{PerDir, ScriptAliasOptions};

use crate::uri::{self, PathError};
use crate::vhost;

/// Facts about the connection a request arrived on.
#[derive(Clone, Debug)]
pub struct ConnInfo {
    pub peer: SocketAddr,
    pub local: SocketAddr,
    /// The listener's configured host (`""` for a wildcard `Listen 80`),
    /// for `mod_wsgi.listener_host` (shared: the request context clones
    /// this per request).
    pub listener_host: Arc<str>,
    /// Connection number, for request ids.
    pub id: u64,
    /// The addresses and ports as the environ writes them, formatted once
    /// per connection rather than for every request on it.
    pub peer_ip: Box<str>,
    pub peer_port: Box<str>,
    pub local_ip: Box<str>,
}

impl ConnInfo {
    pub fn new(peer: SocketAddr, local: SocketAddr, listener_host: Arc<str>, id: u64) -> ConnInfo {
        ConnInfo {
            peer,
            local,
            listener_host,
            id,
            peer_ip: canonical_ip(peer.ip()).into(),
            peer_port: peer.port().to_string().into(),
            local_ip: canonical_ip(local.ip()).into(),
        }
    }
}

/// An address as Apache writes it: IPv4-mapped IPv6 addresses as IPv4.
pub fn canonical_ip(ip: std::net::IpAddr) -> String {
    match ip {
        std::net::IpAddr::V6(v6) => v6
            .to_ipv4_mapped()
            .map_or_else(|| v6.to_string(), |v4| v4.to_string()),
        v4 => v4.to_string(),
    }
}

/// What the file-system walk found at `filename`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FileKind {
    /// Nothing there (`APR_NOFILE`).
    Missing,
    File,
    Dir,
    /// Exists but is neither (socket, fifo...).
    Other,
}

/// Apache's `request_rec`, reduced to what wsgid's phases use.
#[derive(Debug)]
pub struct Request {
    /// Shared with the connection (cloning it is one reference count).
    pub conn: Arc<ConnInfo>,
    pub method: Method,
    pub version: Version,
    /// The protocol as sent when it is none of HTTP/0.9, 1.0 and 1.1
    /// (`HTTP/1.2`, `HTTP/2.0`: Apache serves them as HTTP/1.1 but shows
    /// them as sent).
    pub protocol_sent: Option<Box<str>>,
    /// The request line as received, for logs (`%r`) and REQUEST_URI.
    pub the_request: String,
    /// The request target as sent (`REQUEST_URI`).
    pub unparsed_uri: String,
    /// The query string, without `?` (None when absent).
    pub args: Option<String>,
    /// Request headers; `Host` already rewritten from an absolute-form target.
    pub headers: HeaderMap,
    /// Lower-cased host name from the target or `Host` (`r->hostname`).
    pub hostname: Option<String>,
    /// Port given in the `Host` header or absolute target.
    pub host_port: Option<u16>,
    /// Index of the serving host (0: main server).
    pub host: usize,
    /// The decoded, normalised path (`r->uri`); bytes, may be non-UTF-8.
    pub uri: Vec<u8>,
    /// File-system target from translate (`r->filename`).
    pub filename: Option<PathBuf>,
    /// Extra path after the file (`r->path_info`).
    pub path_info: Vec<u8>,
    pub kind: FileKind,
    pub meta: Option<Metadata>,
    /// Handler name (`r->handler`): `wsgi-script`, or None for the default.
    /// Borrowed for the built-in names (no allocation per request).
    pub handler: Option<std::borrow::Cow<'static, str>>,
    /// A WSGIScriptAlias chose the handler (`alias-forced-type` note):
    /// ExecCGI is then not required.
    pub alias_forced: bool,
    /// Options of the WSGIScriptAlias that matched (request notes).
    pub wsgi_notes: ScriptAliasOptions,
    /// `CONTEXT_PREFIX` / `CONTEXT_DOCUMENT_ROOT` set by a prefix `Alias`.
    pub context: Option<(String, String)>,
    /// The merged per-directory configuration for this request.
    /// The merged per-directory configuration (shared: merges are
    /// memoised per site).
    pub per_dir: std::sync::Arc<PerDir>,
    /// `r->subprocess_env`: SetEnvIf, RewriteRule `[E=]`, SetEnv/PassEnv
    /// entries (in order; a name set again keeps its place).
    pub env: Vec<(String, String)>,
    /// Content type chosen by mod_mime (static files).
    pub content_type: Option<String>,
    /// mod_mime's languages and encoding (`AddLanguage`, `DefaultLanguage`,
    /// `AddEncoding`): the http header filter's `Content-Language` and
    /// `Content-Encoding` of the response (see `response::add_metadata`).
    pub content_languages: Vec<String>,
    pub content_encoding: Option<String>,
    pub start: SystemTime,
    /// The last file-system walk of this request (shared with its
    /// sub-requests): PATH_TRANSLATED's sub-request usually walks the very
    /// path the main request walked, and a walk costs `stat` calls.
    pub walk_memo: Option<Arc<WalkMemo>>,
    /// A sub-request (`r->main != NULL`): header_parser hooks skip it.
    pub is_sub: bool,
    /// Length of the alias target at the start of `filename` when an
    /// Alias/WSGIScriptAlias translated the URI: the walk tries that path
    /// first, since a script file target is the common case.
    pub alias_target_len: Option<usize>,
    /// The authenticated user (`r->user`, REMOTE_USER, `%u`).
    pub user: Option<String>,
    /// The authentication scheme that set `user` (`r->ap_auth_type`,
    /// AUTH_TYPE): the configured `AuthType` as written.
    pub auth_type: Option<String>,
    /// Headers for the error page (`r->err_headers_out`): the
    /// `WWW-Authenticate` challenge of a 401.
    pub err_headers: Vec<(http::HeaderName, http::HeaderValue)>,
    /// `RequestHeader` rules ran: `headers` then holds Apache's
    /// `headers_in` table itself (repeated lines already joined by the
    /// read, one value per line the rules added), not the lines as sent.
    pub headers_in_table: bool,
    /// mod_rewrite's per-directory internal redirect (its `redirect:` file
    /// name and `redirect-handler`): the URI, with its query, that the
    /// handler phase redirects to.
    pub rewrite_redirect: Option<String>,
    /// A rule with `[END]` matched: per-directory rules no longer run, in
    /// this request or the ones its internal redirects make (Apache keeps
    /// the mark in the pool they share).
    pub rewrite_end: bool,
    /// A server-level `RewriteRule` with `[H=…]` / `[T=…]`: the handler and
    /// content type mod_rewrite's type checker applies (its notes).
    pub rewrite_forced: Option<Box<Forced>>,
    /// The internal redirects that led to this request (the length of
    /// Apache's `r->prev` chain).
    pub redirects: u32,
    /// What `ap_add_common_vars` reads of the request this one was
    /// redirected from (`r->prev`): REDIRECT_URL, REDIRECT_QUERY_STRING,
    /// REDIRECT_REMOTE_USER.
    pub prev: Option<Arc<PrevRequest>>,
    /// `r->status` before the handler: 200, or the error an ErrorDocument
    /// request was made for (the next redirect's REDIRECT_STATUS).
    pub status: u16,
}

/// The request an internal redirect came from, as the environment of the
/// one it made shows it.
#[derive(Debug)]
pub struct PrevRequest {
    pub uri: Vec<u8>,
    pub args: Option<String>,
    /// The nearest user along the `r->prev` chain.
    pub user: Option<String>,
}

/// A file-system walk's input and result (see `phases::walk::storage`).
#[derive(Debug)]
pub struct WalkMemo {
    pub input: PathBuf,
    pub filename: PathBuf,
    pub path_info: Vec<u8>,
    pub kind: FileKind,
    pub meta: Option<Metadata>,
}

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

/// A request field as Apache's `headers_in` holds it: every line of `name`
/// joined with ", " (`None` when there is none).
pub fn joined_field(headers: &HeaderMap, name: &http::HeaderName) -> Option<Vec<u8>> {
    let mut values = headers.get_all(name).iter();
    let mut joined = values.next()?.as_bytes().to_vec();
    for more in values {
        joined.extend_from_slice(b", ");
        joined.extend_from_slice(more.as_bytes());
    }
    Some(joined)
}

/// The request's `Expect` field as Apache sees it: repeated fields merged
/// with ", ", `None` when absent or empty.
pub fn expectation(headers: &http::HeaderMap) -> Option<String> {
    let mut merged = String::new();
    for value in headers.get_all(http::header::EXPECT) {
        if !merged.is_empty() {
            merged.push_str(", ");
        }
        merged.push_str(&uri::latin1(value.as_bytes()));
    }
    (!merged.is_empty()).then_some(merged)
}

/// The merged configuration of a request before its walk: one shared empty
/// `PerDir` (a fresh one per request and sub-request was an allocation and a
/// large initialisation each).
fn empty_per_dir() -> Arc<PerDir> {
    static EMPTY: std::sync::OnceLock<Arc<PerDir>> = std::sync::OnceLock::new();
    Arc::clone(EMPTY.get_or_init(Arc::default))
}

/// `RewriteRule [H=handler,T=type]` of a server-level rule.
#[derive(Debug, Clone, Default)]
pub struct Forced {
    pub handler: Option<String>,
    pub mime_type: Option<String>,
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

    /// The name the handler is chosen by (`ap_invoke_handler`): the
    /// handler, else the content type without its parameters, so that a
    /// type such as mod_wsgi's `application/x-httpd-wsgi` (from AddType or
    /// ForceType) runs a script.  `r.handler` itself stays unset, as
    /// Apache restores it (`%R` logs `-` for a static file).
    pub fn handler_name(&self) -> Option<&str> {
        self.handler.as_deref().or_else(|| {
            self.content_type
                .as_deref()
                .map(|t| t.split(';').next().unwrap_or_default().trim_end())
        })
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
    fn decode_path(path: &[u8], error: &mut Option<HeadError>) -> Vec<u8> {
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

    /// A sub-request for another URI on the same connection and host, as
    /// `ap_sub_req_lookup_uri` makes it (for DirectoryIndex,
    /// FallbackResource and PATH_TRANSLATED); also the start of the
    /// requests internal redirects make.
    pub fn sub_request(&self, uri: Vec<u8>) -> Request {
        Request {
            conn: self.conn.clone(),
            method: Method::GET,
            version: self.version,
            protocol_sent: self.protocol_sent.clone(),
            the_request: self.the_request.clone(),
            unparsed_uri: self.unparsed_uri.clone(),
            args: None,
            // `make_sub_request` copies the headers (per-directory rewrite
            // conditions read them); a sub-request that becomes the request
            // keeps the parent's.
            headers: self.headers.clone(),
            hostname: self.hostname.clone(),
            host_port: self.host_port,
            host: self.host,
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
            // `make_sub_request` copies the parent's subprocess_env.
            env: self.env.clone(),
            content_type: None,
            content_languages: Vec::new(),
            content_encoding: None,
            start: self.start,
            walk_memo: self.walk_memo.clone(),
            alias_target_len: None,
            is_sub: true,
            // A sub-request runs with the main request's credentials.
            user: self.user.clone(),
            auth_type: self.auth_type.clone(),
            err_headers: Vec::new(),
            headers_in_table: false,
            rewrite_redirect: None,
            rewrite_end: false,
            rewrite_forced: None,
            redirects: 0,
            prev: None,
            status: 200,
        }
    }

    /// The request `ap_die` makes for an `ErrorDocument` path (its
    /// `ap_internal_redirect`): a GET (a HEAD stays one) of `uri`, with
    /// `REDIRECT_REQUEST_METHOD` and the 401 challenge kept.
    pub fn error_redirect(&self, uri: Vec<u8>, args: Option<String>, status: u16) -> Request {
        let method = if self.method == Method::HEAD {
            Method::HEAD
        } else {
            Method::GET
        };
        let mut r = self.redirected(uri, args, method, status, true);
        r.status = status;
        r
    }

    /// The request `ap_internal_redirect` makes for mod_rewrite's redirect
    /// handler: `target` (a decoded URL-path, latin-1, and its query) with
    /// this request's method, headers and body.  The path is %-decoded and
    /// normalised again as a request's is; a bad one comes back with the
    /// error Apache answers it with.
    pub fn internal_redirect(&self, target: &str) -> (Request, Option<HeadError>) {
        let (path, args) = match target.split_once('?') {
            Some((p, q)) => (p, Some(q.to_owned())),
            None => (target, None),
        };
        let mut error = None;
        let uri = Request::decode_path(&uri::from_latin1(path), &mut error);
        let r = self.redirected(uri, args, self.method.clone(), self.status, false);
        (r, error)
    }

    /// `internal_internal_redirect`: the same headers (Content-Length
    /// included: an ErrorDocument application sees CONTENT_LENGTH with
    /// nothing left to read), the environment renamed `REDIRECT_*` with
    /// `REDIRECT_STATUS` (and `REDIRECT_REQUEST_METHOD` for `ap_die`),
    /// authentication to do again, `[END]` and the redirect count carried.
    fn redirected(
        &self,
        uri: Vec<u8>,
        args: Option<String>,
        method: Method,
        status: u16,
        from_error: bool,
    ) -> Request {
        let mut env: Vec<(String, String)> = self
            .env
            .iter()
            .map(|(k, v)| (format!("REDIRECT_{k}"), v.clone()))
            .collect();
        if from_error {
            env.push((
                "REDIRECT_REQUEST_METHOD".into(),
                self.method.as_str().into(),
            ));
        }
        env.push(("REDIRECT_STATUS".into(), status.to_string()));
        let mut r = self.sub_request(uri);
        r.method = method;
        r.args = args;
        r.headers_in_table = self.headers_in_table;
        r.env = env;
        r.is_sub = false;
        r.user = None;
        r.auth_type = None;
        r.walk_memo = None;
        r.err_headers = self.err_headers.clone();
        r.rewrite_end = self.rewrite_end;
        r.redirects = self.redirects + 1;
        r.prev = Some(Arc::new(PrevRequest {
            uri: self.uri.clone(),
            args: self.args.clone(),
            user: self
                .user
                .clone()
                .or_else(|| self.prev.as_ref().and_then(|p| p.user.clone())),
        }));
        r
    }

    /// `apr_table_set(r->subprocess_env, key, value)`.
    pub fn set_env(&mut self, key: &str, value: String) {
        match self.env.iter_mut().find(|(k, _)| k == key) {
            Some(slot) => slot.1 = value,
            None => self.env.push((key.to_owned(), value)),
        }
    }

    /// `apr_table_unset(r->subprocess_env, key)`.
    pub fn unset_env(&mut self, key: &str) {
        self.env.retain(|(k, _)| k != key);
    }

    /// A request header's first value as latin-1 text (`apr_table_get`).
    pub fn header_str(&self, name: &str) -> Option<String> {
        self.headers.get(name).map(|v| uri::latin1(v.as_bytes()))
    }

    /// The file name followed by PATH_INFO, as Apache prints it in
    /// "File does not exist" lines.
    pub fn filename_with_path_info(&self) -> String {
        let mut s = self.filename_str();
        s.push_str(&uri::latin1(&self.path_info));
        s
    }

    /// The file name as the environ carries it: its bytes as latin-1, as
    /// mod_wsgi decodes CGI values (empty when translate set none).
    pub fn filename_latin1(&self) -> std::borrow::Cow<'_, str> {
        use std::os::unix::ffi::OsStrExt;
        self.filename
            .as_ref()
            .map(|p| uri::latin1_cow(p.as_os_str().as_bytes()))
            .unwrap_or_default()
    }

    /// The file name as a string for log lines (empty when translate set none).
    pub fn filename_str(&self) -> String {
        self.filename
            .as_ref()
            .map(|p| p.to_string_lossy().into_owned())
            .unwrap_or_default()
    }

    /// `SERVER_PROTOCOL`, `%H`: the protocol as the client sent it.
    pub fn protocol(&self) -> &str {
        self.protocol_sent
            .as_deref()
            .unwrap_or(version_str(self.version))
    }

    pub fn is_head(&self) -> bool {
        self.method == Method::HEAD
    }
}

/// `SERVER_PROTOCOL` text.
pub fn version_str(v: Version) -> &'static str {
    match v {
        Version::HTTP_09 => "HTTP/0.9",
        Version::HTTP_10 => "HTTP/1.0",
        Version::HTTP_2 => "HTTP/2.0",
        Version::HTTP_3 => "HTTP/3.0",
        _ => "HTTP/1.1",
    }
}

/// REQUEST_URI as Apache computes it: the target as sent on the request
/// line (an absolute-form target keeps only its path and query).
fn original_uri(target: &http::Uri) -> String {
    target
        .path_and_query()
        .map_or_else(|| target.to_string(), |pq| pq.as_str().to_owned())
}

/// A request built from a target and headers, for the phases' unit tests
/// (peer 10.0.0.7:5555, local 127.0.0.1:80).
#[cfg(test)]
pub(crate) fn test_request(target: &str, headers: &[(&'static str, &'static str)]) -> Request {
    let mut b = http::Request::builder().uri(target);
    for (k, v) in headers {
        b = b.header(*k, *v);
    }
    let (parts, ()) = b.body(()).expect("request").into_parts();
    let conn = Arc::new(ConnInfo::new(
        ([10, 0, 0, 7], 5555).into(),
        ([127, 0, 0, 1], 80).into(),
        "".into(),
        1,
    ));
    match Request::from_head(&parts, conn) {
        Ok(r) => r,
        Err((r, _)) => *r,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn head(raw_target: &str, host: Option<&str>, version: Version) -> http::request::Parts {
        let mut b = http::Request::builder().uri(raw_target).version(version);
        if let Some(h) = host {
            b = b.header("Host", h);
        }
        b.body(()).expect("request").into_parts().0
    }

    fn conn() -> Arc<ConnInfo> {
        Arc::new(ConnInfo::new(
            "127.0.0.1:5555".parse().expect("addr"),
            "127.0.0.1:8000".parse().expect("addr"),
            "127.0.0.1".into(),
            1,
        ))
    }

    #[test]
    fn decoded_uri_and_raw_request_uri() {
        let r = Request::from_head(
            &head(
                "/app/./x/../y?q=1",
                Some("localhost:8000"),
                Version::HTTP_11,
            ),
            conn(),
        )
        .expect("ok");
        assert_eq!(r.uri, b"/app/y");
        assert_eq!(r.unparsed_uri, "/app/./x/../y?q=1");
        assert_eq!(r.args.as_deref(), Some("q=1"));
        assert_eq!(r.hostname.as_deref(), Some("localhost"));
        assert_eq!(r.host_port, Some(8000));
    }

    #[test]
    fn encoded_slash_is_404_and_missing_host_is_400() {
        let e = Request::from_head(&head("/app/a%2Fb", Some("h"), Version::HTTP_11), conn())
            .err()
            .map(|e| e.1);
        assert_eq!(e, Some(HeadError::NotFound(PathError::EncodedSlash)));
        let e = Request::from_head(&head("/app", None, Version::HTTP_11), conn())
            .err()
            .map(|e| e.1);
        assert_eq!(e, Some(HeadError::NoHostname));
        let r = Request::from_head(&head("/app", None, Version::HTTP_10), conn())
            .expect("1.0 without Host");
        assert_eq!(r.hostname, None);
    }

    #[test]
    fn absolute_target_replaces_host() {
        let r = Request::from_head(
            &head(
                "http://two.example:81/app",
                Some("one.example"),
                Version::HTTP_11,
            ),
            conn(),
        )
        .expect("ok");
        assert_eq!(r.hostname.as_deref(), Some("two.example"));
        assert_eq!(r.host_port, Some(81));
        assert_eq!(
            r.headers.get("host").and_then(|v| v.to_str().ok()),
            Some("two.example:81")
        );
        assert_eq!(r.unparsed_uri, "/app");
    }
}
