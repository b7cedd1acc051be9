//! Requests made from another one: sub-requests (`ap_sub_req_lookup_uri`)
//! and the requests of internal and error-document redirects, with what
//! they inherit and the `REDIRECT_*` view of the one they came from.

use std::sync::Arc;

use http::Method;
use wsgid_config::model::ScriptAliasOptions;

use crate::uri;

use super::{FileKind, HeadError, PrevRequest, Request, empty_per_dir};

impl Request {
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
}
