//! The per-request context carried through every phase: wsgid's version of
//! Apache's `request_rec`.  It holds what the client sent (method, target,
//! headers), what the phases computed (decoded URI, file name, PATH_INFO,
//! handler, merged per-directory config, environment table) and the
//! connection facts the environ needs.  Building it from the parsed request
//! head (`head`) is the only parsing done here; the phases fill in the
//! rest.  `derived`: the requests made from another one (sub-requests,
//! internal and error-document redirects).

use std::fs::Metadata;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::SystemTime;

use http::{HeaderMap, Method, Version};
use wsgid_config::model::{PerDir, ScriptAliasOptions};

use crate::uri;

mod derived;
mod head;

pub use head::{HeadError, ProtocolSent, RawTarget};

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
    use crate::uri::PathError;

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
