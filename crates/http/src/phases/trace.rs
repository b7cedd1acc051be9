//! `TRACE`, answered by the core at map-to-storage as httpd 2.4's
//! `ap_send_http_trace` answers it (after translate, before any access
//! check; the handler never sees it): the request head echoed back as
//! `message/http`, under `TraceEnable` (per server, default On):
//!
//! * On: a request with a body is a 413 (AH01595 at info);
//! * Off: a 405 with an empty `Allow`;
//! * Extended: a body of up to 64 KiB is echoed after the head.
//!
//! Header names go back as Apache writes them (`X-Forwarded-For`), since
//! the `http` crate keeps them in lower case; repeated fields are merged
//! with ", " as in Apache's `headers_in`.

use bytes::{Bytes, BytesMut};
use http::header::{ALLOW, CONTENT_LENGTH, CONTENT_TYPE, HeaderValue, TRANSFER_ENCODING};
use http::{Response, StatusCode};
use wsgid_config::model::TraceEnable;
use wsgid_log::{Level, Peer};

use crate::body::ResponseBody;
use crate::conn::BodyIn;
use crate::frontend::Site;
use crate::request::Request;
use crate::response::{self, OutBody, canonical_name, error_page, error_page_noted};
use crate::uri::latin1;

/// The largest body `TraceEnable Extended` echoes.
const EXTENDED_MAX: u64 = 64 * 1024;

/// The answer to a `TRACE` request.
pub async fn answer(site: &Site, r: &Request, mut body: BodyIn) -> Response<OutBody> {
    let chunked = r.headers.contains_key(TRANSFER_ENCODING);
    let length = r
        .headers
        .get(CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok())
        .unwrap_or(0);
    let echoed = match site.host.trace_enable {
        TraceEnable::Off => {
            let mut resp = error_page(site, r, 405, None);
            resp.headers_mut()
                .insert(ALLOW, HeaderValue::from_static(""));
            return resp;
        }
        TraceEnable::On if chunked || length > 0 => {
            site.error_log.log(
                "http",
                Level::Info,
                Peer::Client(r.conn.peer),
                &format!(
                    "AH01595: {} with body is not allowed for {}",
                    r.method,
                    latin1(&r.uri)
                ),
            );
            let note = "TRACE with a request body is not allowed";
            return error_page_noted(site, r, 413, None, Some(note));
        }
        TraceEnable::On => Bytes::new(),
        TraceEnable::Extended if length > EXTENDED_MAX => {
            let note = "Extended TRACE request bodies cannot exceed 64k\n";
            return error_page_noted(site, r, 413, None, Some(note));
        }
        TraceEnable::Extended => match read_body(&mut body).await {
            Some(b) => b,
            None => return error_page(site, r, 413, None),
        },
    };
    let mut echo = BytesMut::with_capacity(512 + echoed.len());
    echo.extend_from_slice(r.the_request.as_bytes());
    echo.extend_from_slice(b"\r\n");
    let mut names: Vec<&http::HeaderName> = Vec::new();
    for name in r.headers.keys() {
        if !names.contains(&name) {
            names.push(name);
        }
    }
    for name in names {
        echo.extend_from_slice(canonical_name(name.as_str()).as_bytes());
        echo.extend_from_slice(b": ");
        echo.extend_from_slice(&crate::request::joined_field(&r.headers, name).unwrap_or_default());
        echo.extend_from_slice(b"\r\n");
    }
    echo.extend_from_slice(b"\r\n");
    echo.extend_from_slice(&echoed);
    let echo = echo.freeze();
    let mut resp = Response::new(OutBody::exact(ResponseBody::full(echo.clone())));
    *resp.status_mut() = StatusCode::OK;
    let headers = resp.headers_mut();
    headers.insert(CONTENT_LENGTH, HeaderValue::from(echo.len()));
    headers.insert(CONTENT_TYPE, HeaderValue::from_static("message/http"));
    response::add_server_header(site, headers);
    resp
}

/// The whole body (dechunked), None when it fails or outgrows
/// [`EXTENDED_MAX`].
async fn read_body(body: &mut BodyIn) -> Option<Bytes> {
    let mut all = BytesMut::new();
    while let Some(data) = body.data().await {
        all.extend_from_slice(&data.ok()?);
        if all.len() as u64 > EXTENDED_MAX {
            return None;
        }
    }
    Some(all.freeze())
}
