//! One request's way from its parsed head to its response: the phases
//! (`phases::process`), internal and error-document redirects, and the
//! handler's answer (a WSGI application in this process or a daemon
//! process group, a static file, or the core's method answers).  What the
//! phases decide is in `phases/`; how WSGI responses are framed is in
//! `response.rs`.

use std::sync::Arc;
use std::time::SystemTime;

use http::header::{ALLOW, CONNECTION, CONTENT_LENGTH, HeaderValue};
use http::{Method, Response, StatusCode};
use wsgid_log::{Level, Peer};

use crate::body::ResponseBody;
use crate::conn::BodyIn;
use crate::error_document;
use crate::frontend::{FrontEnd, Site};
use crate::head_scan::{self, Rejection};
use crate::phases::handler::{self, SubmitError};
use crate::phases::{self, Outcome};
use crate::request::{ConnInfo, HeadError, Request};
use crate::request_body::IncomingBody;
use crate::response::{self, OutBody, error_page};
use crate::static_files::{self, StaticError};
use crate::uri::{PathError, latin1};
use wsgid_config::error_documents::ErrorDocument;
use wsgid_config::model::EncodedSlashes;

impl FrontEnd {
    /// Run one request through the phases and produce its response.
    /// `refused`: the head was read but cannot be served.
    pub(crate) async fn handle(
        &self,
        conn: &Arc<ConnInfo>,
        parts: http::request::Parts,
        body: BodyIn,
        refused: Option<Rejection>,
        nth: u32,
    ) -> Response<OutBody> {
        let refused = refused.or_else(|| head_scan::check_merged(&parts.headers, self.limits()));
        if let Some(rej) = refused {
            let (mut r, mut resp) = self.refuse_parsed(conn, &parts, &rej);
            r.method = parts.method;
            let site = self.site(r.host);
            if let Some(record) = crate::phases::log::AccessRecord::new(site, &r, &resp) {
                resp.body_mut().set_log(record);
            }
            return resp;
        }
        let mut parts = parts;
        // A head refused by `ap_check_request_header` (417 here; its 400s
        // close anyway) ends the connection, as `ap_read_request` does.
        let mut closes = false;
        let (mut r, outcome) = match Request::take_head(&mut parts, conn.clone()) {
            Ok(mut r) => {
                r.host = self.vhosts.select(conn.local, r.hostname.as_deref());
                let outcome = phases::process(self, &mut r).await;
                (r, outcome)
            }
            Err((mut r, e)) => {
                r.host = self.vhosts.select(conn.local, r.hostname.as_deref());
                // `AllowEncodedSlashes` is the virtual host's: known now.
                let slashes = self.site(r.host).host.encoded_slashes;
                let decode = match slashes {
                    EncodedSlashes::Off => None,
                    EncodedSlashes::On => Some(true),
                    EncodedSlashes::NoDecode => Some(false),
                };
                let allowed = match (&e, decode) {
                    (HeadError::NotFound(PathError::EncodedSlash), Some(decode)) => {
                        Request::path_allowing_slashes(&parts, decode)
                    }
                    _ => None,
                };
                if let Some(uri) = allowed {
                    r.uri = uri;
                    let outcome = phases::process(self, &mut r).await;
                    (*r, outcome)
                } else {
                    closes = matches!(e, HeadError::ExpectationFailed);
                    let outcome = self.head_error(&r, e);
                    (*r, outcome)
                }
            }
        };
        // mod_rewrite's internal redirects: the last request they make
        // answers (the log still shows the first one's URL).
        let (last, outcome) = match outcome {
            Outcome::InternalRedirect(target) => {
                let (last, outcome) = self.internal_redirects(&r, &target).await;
                (Some(last), outcome)
            }
            outcome => (None, outcome),
        };
        let fin = last.as_ref().unwrap_or(&r);
        let site = self.site(fin.host);
        let mut resp = self.respond(site, fin, outcome, body, &parts.method).await;
        dir_response_settings(fin, &mut resp);
        // ErrorDocument (a redirected request's response carries its own
        // per-directory settings).
        if resp
            .extensions()
            .get::<response::ServerGenerated>()
            .is_some()
            && let Some(doc) = error_document::lookup(site, fin, resp.status().as_u16())
        {
            resp = match doc {
                ErrorDocument::Local(path) => self.error_redirect(site, fin, resp, path).await,
                doc => error_document::answer(site, fin, resp, doc),
            };
        }
        // mod_headers' `Header` rules, with err_headers_out (the 401
        // challenge).
        let generated = resp
            .extensions()
            .get::<response::ServerGenerated>()
            .is_some();
        phases::headers::output(
            &site.host.per_dir,
            fin,
            resp.headers_mut(),
            &fin.err_headers,
            generated,
        );
        let max = self.cfg.max_keep_alive_requests;
        if closes || max != 0 && nth >= max {
            resp.headers_mut()
                .insert(CONNECTION, HeaderValue::from_static("close"));
        }
        r.method = parts.method;
        let site = self.site(r.host);
        let record =
            crate::phases::log::AccessRecord::new(site, &r, &resp).map(|record| match &last {
                Some(last) => record.redirected(last),
                None => record,
            });
        if let Some(record) = record {
            resp.body_mut().set_log(record);
        }
        resp
    }

    /// mod_rewrite's redirect handler (`ap_internal_redirect`): the request
    /// for `target` goes through every phase, and so on while each one
    /// redirects again, up to `LimitInternalRecursion` (then Apache's 500
    /// and AH00124).  The last request and what its phases decided.
    async fn internal_redirects(&self, r: &Request, target: &str) -> (Request, Outcome) {
        let (mut current, mut error) = r.internal_redirect(target);
        loop {
            if let Some(e) = error.take() {
                let outcome = self.head_error(&current, e);
                return (current, outcome);
            }
            let outcome = Box::pin(phases::process(self, &mut current)).await;
            let Outcome::InternalRedirect(next) = outcome else {
                return (current, outcome);
            };
            let site = self.site(current.host);
            let limit = site.host.recursion_limit.redirects;
            if current.redirects >= limit {
                site.error_log.log(
                    "core",
                    Level::Error,
                    Peer::Client(current.conn.peer),
                    &format!(
                        "AH00124: Request exceeded the limit of {limit} internal redirects due to probable \
                         configuration error. Use 'LimitInternalRecursion' to increase the limit if necessary. \
                         Use 'LogLevel debug' to get a backtrace."
                    ),
                );
                return (current, Outcome::Error(500));
            }
            (current, error) = current.internal_redirect(&next);
        }
    }

    /// The response for what the phases decided.
    async fn respond(
        &self,
        site: &Site,
        r: &Request,
        outcome: Outcome,
        body: BodyIn,
        method: &Method,
    ) -> Response<OutBody> {
        match outcome {
            Outcome::Wsgi => self.run_wsgi(site, r, body).await,
            Outcome::Static => serve_static(site, r, method),
            Outcome::Redirect(code, location) => error_page(site, r, code, Some(location)),
            Outcome::Error(code) => error_page(site, r, code, None),
            Outcome::ServerOptions => server_options(site),
            Outcome::Trace => phases::trace::answer(site, r, body).await,
            // Callers follow redirects first (`handle`, `error_redirect`);
            // should one get here, it is followed all the same.
            Outcome::InternalRedirect(target) => {
                let (last, outcome) = self.internal_redirects(r, &target).await;
                let site = self.site(last.host);
                let mut resp = Box::pin(self.respond(site, &last, outcome, body, method)).await;
                dir_response_settings(&last, &mut resp);
                resp
            }
        }
    }

    /// `ErrorDocument /path`: the request is redirected internally to the
    /// path (`ap_die`'s `ap_internal_redirect`).  A handler's answer there
    /// is the response (a static file keeps the error's status, an
    /// application sets its own); any error there gives the first error's
    /// own page, which says so.
    async fn error_redirect(
        &self,
        site: &Site,
        r: &Request,
        page: Response<OutBody>,
        path: &str,
    ) -> Response<OutBody> {
        let status = page.status().as_u16();
        let (uri, args) = match path.split_once('?') {
            Some((u, q)) => (u, Some(q.to_owned())),
            None => (path, None),
        };
        let mut again = r.error_redirect(uri.as_bytes().to_vec(), args, status);
        if page
            .extensions()
            .get::<response::ErrorOverridden>()
            .is_some()
        {
            self.pass_cgi_variables(site, r, &mut again);
        }
        let outcome = Box::pin(phases::process(self, &mut again)).await;
        // The document's own rewrites are followed here, so that the
        // request that answers is known.
        let (again, outcome) = match outcome {
            Outcome::InternalRedirect(target) => {
                Box::pin(self.internal_redirects(&again, &target)).await
            }
            outcome => (again, outcome),
        };
        let method = again.method.clone();
        // The static file handler sends the status it is given (the
        // error's); an application sets its own.
        let keeps_status = matches!(outcome, Outcome::Static);
        let doc_site = self.site(again.host);
        let mut resp =
            Box::pin(self.respond(doc_site, &again, outcome, BodyIn::empty(), &method)).await;
        let failed = resp
            .extensions()
            .get::<response::ServerGenerated>()
            .map(|_| resp.status().as_u16());
        match failed {
            Some(code) => error_document::recursive_page(site, r, status, code),
            None => {
                if keeps_status && resp.status() == StatusCode::OK {
                    *resp.status_mut() = page.status();
                }
                // The redirected request's own per-directory settings.
                dir_response_settings(&again, &mut resp);
                resp
            }
        }
    }

    /// The original request's CGI variables as `REDIRECT_*` (after a
    /// daemon's error was overridden; see `response::ErrorOverridden`).
    fn pass_cgi_variables(&self, site: &Site, r: &Request, again: &mut Request) {
        let settings = crate::environ::wsgi_settings(site, r);
        let inputs = crate::environ::EnvInputs {
            settings: &settings,
            path_translated: phases::path_translated(self, r),
            request_id: String::new(),
            server_software: &site.server_banner,
        };
        let (cgi, _) = crate::environ::build(site, r, &inputs);
        for (k, v) in cgi.iter() {
            let name = format!("REDIRECT_{k}");
            if !again.env.iter().any(|(n, _)| *n == name) {
                again.env.push((name, v.to_owned()));
            }
        }
    }

    /// Log a request head refused before the phases, and give its status.
    fn head_error(&self, r: &Request, e: HeadError) -> Outcome {
        let site = self.site(r.host);
        let peer = Peer::Client(r.conn.peer);
        match e {
            // ap_check_request_header's refusals are debug lines in Apache.
            HeadError::NoHostname => {
                site.error_log.log(
                    "core",
                    Level::Debug,
                    peer,
                    &format!(
                        "AH00569: client sent HTTP/1.1 request without hostname (see RFC2616 section 14.23): {}",
                        latin1(&r.uri)
                    ),
                );
                Outcome::Error(400)
            }
            HeadError::MalformedHost(host) => {
                site.error_log.log(
                    "core",
                    Level::Debug,
                    peer,
                    &format!("AH00550: Client sent malformed Host header: {host}"),
                );
                Outcome::Error(400)
            }
            HeadError::InvalidPath => {
                site.error_log.log(
                    "core",
                    Level::Error,
                    peer,
                    &format!("AH10244: invalid URI path ({})", r.unparsed_uri),
                );
                Outcome::Error(400)
            }
            // Apache says "%2f" for a %00 too: ap_unescape_url refuses both
            // the same way.
            HeadError::NotFound(PathError::EncodedSlash | PathError::NulByte) => {
                site.error_log.log(
                    "core",
                    Level::Info,
                    peer,
                    &format!(
                        "AH00026: found %2f (encoded '/') in URI path ({}), returning 404",
                        r.unparsed_uri
                    ),
                );
                Outcome::Error(404)
            }
            HeadError::NotFound(_) => Outcome::Error(404),
            HeadError::ExpectationFailed => {
                site.error_log.log(
                    "core",
                    Level::Info,
                    peer,
                    &format!(
                        "AH00570: client sent an unrecognized expectation value of Expect: {}",
                        crate::request::expectation(&r.headers).unwrap_or_default()
                    ),
                );
                Outcome::Error(417)
            }
        }
    }

    /// The WSGI handler: body checks, hand-off, response.
    async fn run_wsgi(&self, site: &Site, r: &Request, body: BodyIn) -> Response<OutBody> {
        let mut settings = crate::environ::wsgi_settings(site, r);
        if let Some(script) = &r.per_dir.wsgi.dispatch_script {
            match phases::auth::dispatch(self, site, r, script, &settings).await {
                Some(chosen) => crate::environ::apply_dispatch(site, r, &mut settings, chosen),
                None => return error_page(site, r, 500, None),
            }
        }
        let content_length = match handler::check_body(site, r, &settings) {
            Ok(length) => length,
            Err(status) => return error_page(site, r, status, None),
        };
        let expects_continue = r
            .headers
            .get(http::header::EXPECT)
            .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"100-continue"));
        let body = IncomingBody::prepare(
            body,
            content_length,
            expects_continue,
            handler::limit_request_body(r),
            self.cfg.timeout,
            // An empty group is this process's Python (embedded mode).
            settings.process_group.is_empty(),
        )
        .await;
        // mod_wsgi honours WSGIErrorOverride for responses from a daemon
        // process only (`wsgi_execute_remote`); in embedded mode the
        // application's error page goes out as it is.
        let error_override = settings.error_override && !settings.process_group.is_empty();
        let write_timeout = self
            .cfg
            .wsgi
            .daemon(&settings.process_group)
            .map(|group| crate::daemon_client::response_write_timeout(&self.cfg, group))
            .filter(|t| *t != self.cfg.timeout);
        match handler::submit(self, r, settings, body) {
            Ok(rx) => {
                let mut resp = response::from_events(site, r, error_override, rx).await;
                if let Some(t) = write_timeout {
                    resp.extensions_mut().insert(response::WriteTimeout(t));
                }
                resp
            }
            Err(SubmitError::NoPython) => {
                site.error_log.log(
                    "wsgi",
                    Level::Error,
                    Peer::Client(r.conn.peer),
                    &format!(
                        "No Python interpreter available to run WSGI script: {}",
                        r.filename_str()
                    ),
                );
                error_page(site, r, 500, None)
            }
            Err(SubmitError::ShuttingDown) => error_page(site, r, 503, None),
        }
    }
}

/// What `r`'s per-directory configuration does to its response:
/// `EnableSendfile` (Off by default, as in Apache 2.4: static files and
/// `wsgi.file_wrapper` files go out with sendfile(2)) and
/// `AddDefaultCharset`.
fn dir_response_settings(r: &Request, resp: &mut Response<OutBody>) {
    resp.body_mut()
        .set_sendfile(r.per_dir.enable_sendfile.unwrap_or(false));
    response::add_metadata(r, resp);
    if let Some(Some(charset)) = &r.per_dir.add_default_charset {
        response::add_default_charset(resp.headers_mut(), charset);
    }
}

/// The default handler: a static file, or the method answers that do not
/// need one.
fn serve_static(site: &Site, r: &Request, method: &http::Method) -> Response<OutBody> {
    let Some(meta) = &r.meta else {
        return method_answer(site, r);
    };
    let Some(path) = &r.filename else {
        return error_page(site, r, 404, None);
    };
    match static_files::serve_at(
        method,
        &r.headers,
        path,
        meta,
        r.content_type.as_deref(),
        r.per_dir.file_etag.effective(),
        SystemTime::now(),
    ) {
        Ok(resp) => {
            let (mut head, body) = resp.into_parts();
            response::add_server_header(site, &mut head.headers);
            Response::from_parts(head, OutBody::exact(body))
        }
        Err(e) => {
            let peer = Peer::Client(r.conn.peer);
            match &e {
                StaticError::Directory(p) => site.error_log.log(
                    "core",
                    Level::Info,
                    peer,
                    &format!("AH00129: Attempt to serve directory: {}", p.display()),
                ),
                StaticError::Forbidden { path, source } => site.error_log.log(
                    "core",
                    Level::Error,
                    peer,
                    &format!(
                        "({source}): AH00132: file permissions deny server access: {}",
                        path.display()
                    ),
                ),
                StaticError::NotImplemented(_) => site.error_log.log(
                    "core",
                    Level::Error,
                    peer,
                    &format!("AH00135: Invalid method in request {}", r.the_request),
                ),
                StaticError::MethodNotAllowed(_) | StaticError::RangeNotSatisfiable => {}
            }
            let mut resp = error_page(site, r, e.status(), None);
            if let Some(allow) = e.allow() {
                resp.headers_mut()
                    .insert(ALLOW, HeaderValue::from_static(allow));
            }
            resp
        }
    }
}

/// OPTIONS and refused methods on a URL with no file behind it.
fn method_answer(site: &Site, r: &Request) -> Response<OutBody> {
    let allow = HeaderValue::from_static(static_files::ALLOW_VALUE);
    if r.method == Method::OPTIONS {
        let mut resp = Response::new(OutBody::exact(ResponseBody::empty()));
        *resp.status_mut() = StatusCode::OK;
        resp.headers_mut().insert(ALLOW, allow);
        resp.headers_mut()
            .insert(CONTENT_LENGTH, HeaderValue::from(0u64));
        response::add_server_header(site, resp.headers_mut());
        return resp;
    }
    let mut resp = error_page(site, r, 405, None);
    resp.headers_mut().insert(ALLOW, allow);
    resp
}

/// `OPTIONS *`: the server's "pong", 200 with an empty body and no `Allow`.
fn server_options(site: &Site) -> Response<OutBody> {
    let mut resp = Response::new(OutBody::exact(ResponseBody::empty()));
    resp.headers_mut()
        .insert(CONTENT_LENGTH, HeaderValue::from(0u64));
    response::add_server_header(site, resp.headers_mut());
    resp
}
