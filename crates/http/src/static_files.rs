//! Apache's default handler: serve a plain file the way httpd 2.4's core
//! `default_handler` plus the byterange filter do.
//!
//! * GET and POST send the file (Apache's core "delivers scripts" to POST
//!   by default; golden 21 confirms it), HEAD sends the same headers only,
//!   OPTIONS answers with `Allow`, other known methods get 405 and unknown
//!   ones 501 (both with `Allow`).
//! * Headers in Apache's order: `Last-Modified`, `ETag` (the components
//!   `FileETag` chose; `MTime Size` by default), `Accept-Ranges: bytes`, `Content-Length`, `Content-Type`.
//! * Conditional requests as `ap_meets_conditions()`: 304 (validators only)
//!   or 412 (an empty body, as Apache sends it for a file; checked against
//!   httpd 2.4.71).
//! * `Range`: one range → 206 with `Content-Range`; several →
//!   `multipart/byteranges`; none satisfiable → Apache's 416 error page.
//!
//! The file is streamed by [`ResponseBody`] in blocks, never read whole.

#[path = "response/conditional.rs"]
mod conditional;
#[path = "response/http_date.rs"]
mod http_date;
#[path = "response/ranges.rs"]
mod ranges;

use std::fs::{File, Metadata};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::SystemTime;

use http::header::{
    ACCEPT_RANGES, ALLOW, CONTENT_LENGTH, CONTENT_RANGE, CONTENT_TYPE, ETAG, HeaderMap,
    HeaderValue, LAST_MODIFIED,
};
use http::request::Parts;
use http::{Method, Response, StatusCode};

use crate::body::ResponseBody;
use crate::error_pages::{PageContext, error_response};
use conditional::{Conditions, Outcome, Validators, header};
use ranges::RangeRequest;

/// The `Allow` value of a static file (`make_allow` for the default
/// handler's methods, with `TraceEnable` on, in Apache's hash order).
pub const ALLOW_VALUE: &str = "GET,POST,OPTIONS,HEAD,TRACE";

/// Why the default handler answers with an Apache error page.
#[derive(Debug, thiserror::Error)]
pub enum StaticError {
    /// The path is a directory (Apache logs AH00129, answers 404).
    #[error("Attempt to serve directory: {}", .0.display())]
    Directory(PathBuf),
    /// The file could not be opened (AH00132, answers 403).
    #[error("file permissions deny server access: {}", .path.display())]
    Forbidden {
        /// The file.
        path: PathBuf,
        /// The open error.
        #[source]
        source: std::io::Error,
    },
    /// A method the default handler refuses (405, with `Allow`).
    #[error("method {0} not allowed for a static file")]
    MethodNotAllowed(String),
    /// A method Apache does not know at all (AH00135, 501 with `Allow`).
    #[error("Invalid method in request {0}")]
    NotImplemented(String),
    /// Every requested range starts past the end of the file (416).
    #[error("no requested range overlaps the file")]
    RangeNotSatisfiable,
}

impl StaticError {
    /// The HTTP status Apache answers with.
    pub fn status(&self) -> u16 {
        match self {
            StaticError::Directory(_) => 404,
            StaticError::Forbidden { .. } => 403,
            StaticError::MethodNotAllowed(_) => 405,
            StaticError::NotImplemented(_) => 501,
            StaticError::RangeNotSatisfiable => 416,
        }
    }

    /// The `Allow` header that goes with the error page, if any.
    pub fn allow(&self) -> Option<&'static str> {
        matches!(
            self,
            StaticError::MethodNotAllowed(_) | StaticError::NotImplemented(_)
        )
        .then_some(ALLOW_VALUE)
    }
}

/// Serve `path` (whose metadata the caller already has) for `req`, with
/// `content_type` from mod_mime's lookup.  Errors become Apache's error
/// pages without a server signature; use [`serve_at`] to build those pages
/// (and log) yourself.
pub fn serve(
    req: &Parts,
    path: &Path,
    meta: &Metadata,
    content_type: Option<&str>,
) -> Response<ResponseBody> {
    match serve_at(
        &req.method,
        &req.headers,
        path,
        meta,
        content_type,
        wsgid_config::file_etag::DEFAULT,
        SystemTime::now(),
    ) {
        Ok(resp) => resp,
        Err(err) => {
            let mut ctx = PageContext::new(req.method.as_str(), req.uri.path());
            ctx.allow = err.allow().map(str::to_owned);
            error_response(err.status(), &ctx)
        }
    }
}

/// Methods Apache registers (`M_GET` ... `M_MERGE`); anything else is
/// `M_INVALID`.
fn is_known_method(m: &Method) -> bool {
    matches!(
        m.as_str(),
        "GET"
            | "HEAD"
            | "PUT"
            | "POST"
            | "DELETE"
            | "CONNECT"
            | "OPTIONS"
            | "TRACE"
            | "PATCH"
            | "PROPFIND"
            | "PROPPATCH"
            | "MKCOL"
            | "COPY"
            | "MOVE"
            | "LOCK"
            | "UNLOCK"
            | "VERSION-CONTROL"
            | "CHECKOUT"
            | "UNCHECKOUT"
            | "CHECKIN"
            | "UPDATE"
            | "LABEL"
            | "REPORT"
            | "MKWORKSPACE"
            | "MKACTIVITY"
            | "BASELINE-CONTROL"
            | "MERGE"
    )
}

fn response(status: StatusCode, headers: HeaderMap, body: ResponseBody) -> Response<ResponseBody> {
    let mut resp = Response::new(body);
    *resp.status_mut() = status;
    *resp.headers_mut() = headers;
    resp
}

fn set_content_type(headers: &mut HeaderMap, content_type: Option<&str>) {
    if let Some(ct) = content_type.and_then(|ct| HeaderValue::from_str(ct).ok()) {
        headers.insert(CONTENT_TYPE, ct);
    }
}

/// [`serve`] with the request time given and errors returned.
pub fn serve_at(
    method: &http::Method,
    req_headers: &http::HeaderMap,
    path: &Path,
    meta: &Metadata,
    content_type: Option<&str>,
    etag_bits: u8,
    now: SystemTime,
) -> Result<Response<ResponseBody>, StaticError> {
    let head = *method == Method::HEAD;
    if !(head || *method == Method::GET || *method == Method::POST) {
        if !is_known_method(method) {
            return Err(StaticError::NotImplemented(method.to_string()));
        }
        if *method != Method::OPTIONS {
            return Err(StaticError::MethodNotAllowed(method.to_string()));
        }
        let mut headers = HeaderMap::new();
        headers.insert(ALLOW, HeaderValue::from_static(ALLOW_VALUE));
        headers.insert(CONTENT_LENGTH, HeaderValue::from(0u64));
        set_content_type(&mut headers, content_type);
        return Ok(response(StatusCode::OK, headers, ResponseBody::empty()));
    }
    if meta.is_dir() {
        return Err(StaticError::Directory(path.to_owned()));
    }
    let file = File::open(path).map_err(|source| StaticError::Forbidden {
        path: path.to_owned(),
        source,
    })?;
    let size = meta.len();
    let validators = Validators::with_etag(
        etag_bits,
        std::os::unix::fs::MetadataExt::ino(meta),
        size,
        meta.modified().unwrap_or(now),
        now,
    );

    let mut headers = HeaderMap::with_capacity(6);
    if let Ok(v) = HeaderValue::from_str(&validators.last_modified) {
        headers.insert(LAST_MODIFIED, v);
    }
    if !validators.etag.is_empty()
        && let Ok(v) = HeaderValue::from_str(&validators.etag)
    {
        headers.insert(ETAG, v);
    }
    headers.insert(ACCEPT_RANGES, HeaderValue::from_static("bytes"));

    let conditions = Conditions {
        headers: req_headers,
        is_get: head || *method == Method::GET,
        v: &validators,
    };
    match conditions.evaluate() {
        Outcome::NotModified => {
            return Ok(response(
                StatusCode::NOT_MODIFIED,
                headers,
                ResponseBody::empty(),
            ));
        }
        Outcome::PreconditionFailed => {
            // Apache sends no body; its length filter then says 0, except
            // for HEAD where the file's length set earlier stays.
            let len = if head { size } else { 0 };
            headers.insert(CONTENT_LENGTH, HeaderValue::from(len));
            set_content_type(&mut headers, content_type);
            return Ok(response(
                StatusCode::PRECONDITION_FAILED,
                headers,
                ResponseBody::empty(),
            ));
        }
        Outcome::Serve => {}
    }

    let range_header =
        header(req_headers, "range").or_else(|| header(req_headers, "request-range"));
    let ranges = match range_header {
        Some(value) if conditions.range_allowed() => ranges::parse(&value, size),
        _ => RangeRequest::Full,
    };
    let body_or_empty = |body: ResponseBody| if head { ResponseBody::empty() } else { body };
    match ranges {
        RangeRequest::Unsatisfiable => Err(StaticError::RangeNotSatisfiable),
        RangeRequest::Full => {
            headers.insert(CONTENT_LENGTH, HeaderValue::from(size));
            set_content_type(&mut headers, content_type);
            let body = if size == 0 {
                ResponseBody::empty()
            } else {
                ResponseBody::file(file, 0, size)
            };
            Ok(response(StatusCode::OK, headers, body_or_empty(body)))
        }
        RangeRequest::Ranges(list) => match list.as_slice() {
            [(first, last)] => {
                let len = last - first + 1;
                headers.insert(CONTENT_LENGTH, HeaderValue::from(len));
                if let Ok(v) = HeaderValue::from_str(&ranges::content_range(*first, *last, size)) {
                    headers.insert(CONTENT_RANGE, v);
                }
                set_content_type(&mut headers, content_type);
                let body = ResponseBody::file(file, *first, len);
                Ok(response(
                    StatusCode::PARTIAL_CONTENT,
                    headers,
                    body_or_empty(body),
                ))
            }
            _ => {
                let boundary = ranges::boundary();
                let (parts, total) =
                    ranges::multipart(Arc::new(file), &list, size, content_type, boundary);
                headers.insert(CONTENT_LENGTH, HeaderValue::from(total));
                let old_client = req_headers.contains_key("request-range")
                    || header(req_headers, "user-agent").is_some_and(|ua| ua.contains("MSIE 3"));
                let kind = if old_client {
                    "multipart/x-byteranges"
                } else {
                    "multipart/byteranges"
                };
                if let Ok(v) = HeaderValue::from_str(&format!("{kind}; boundary={boundary}")) {
                    headers.insert(CONTENT_TYPE, v);
                }
                Ok(response(
                    StatusCode::PARTIAL_CONTENT,
                    headers,
                    body_or_empty(ResponseBody::parts(parts)),
                ))
            }
        },
    }
}

#[cfg(test)]
#[path = "response/static_tests.rs"]
mod tests;
