//! Apache httpd 2.4's built-in error documents and status lines.
//!
//! Apache answers errors it generates itself (404 from the translate phase,
//! 403 from `Require`, 500 when a WSGI script fails before `start_response`,
//! redirects from mod_dir, ...) with a small HTML page built by
//! `ap_send_error_response()` (modules/http/http_protocol.c): the status line
//! as `<title>`, the reason phrase as `<h1>`, a status-specific paragraph
//! (`get_canned_error_string()`), the optional `ServerSignature` line and a
//! fixed trailer, served as `text/html; charset=iso-8859-1`.  This module
//! reproduces those pages byte for byte; the conformance goldens pin their
//! lengths (404 = 236 bytes, 403 = 239, 500 = 572 with the prelude's
//! `ServerAdmin`).

use bytes::Bytes;
use http::header::{ALLOW, CONTENT_LENGTH, CONTENT_TYPE, HeaderValue, LOCATION};
use http::{Response, StatusCode};

use crate::body::ResponseBody;

/// The `Content-Type` of every built-in error page.
pub const ERROR_CONTENT_TYPE: &str = "text/html; charset=iso-8859-1";

/// Since httpd 2.4.63 (PR 62989) the pages declare HTML 4.01 (before: 2.0).
const DOCTYPE: &str = "<!DOCTYPE HTML PUBLIC \"-//W3C//DTD HTML 4.01//EN\" \"http://www.w3.org/TR/html4/strict.dtd\">\n";

/// `ServerAdmin` when the configuration names none (Apache's default).
pub const DEFAULT_SERVER_ADMIN: &str = "[no address given]";

/// What an error page may quote from the request and the server config.
///
/// Build it with [`PageContext::new`] and set the optional fields that apply;
/// every field is plain text, the page HTML-escapes what it quotes.
#[derive(Clone, Debug, Default)]
pub struct PageContext {
    /// The request method (quoted by 405, 411, 413, 501).  A `HEAD` request
    /// gets the headers of the page but no body.
    pub method: String,
    /// The request URI path (kept for logging; Apache 2.4's pages no longer
    /// quote it).
    pub uri: String,
    /// `Location` of a 3xx answer (absolute URL as sent in the header).
    pub location: Option<String>,
    /// The `ServerSignature` line including its `<address>` markup, or
    /// `None` for `ServerSignature Off`.
    pub signature: Option<String>,
    /// The `Allow` header of a 405/501 answer.
    pub allow: Option<String>,
    /// `ServerAdmin` of the serving virtual host (quoted by the 500 page);
    /// empty means [`DEFAULT_SERVER_ADMIN`].
    pub server_admin: String,
    /// Apache's `error-notes` request note (appended by 400, 403, 411, 414,
    /// 417, 451, 501, 502 pages).
    pub error_notes: Option<String>,
    /// The request's `Expect` header, quoted by the 417 page.
    pub expect: Option<String>,
    /// The status the `ErrorDocument` of this error met in turn (the page
    /// says so, and no document is tried again).
    pub recursive: Option<u16>,
}

impl PageContext {
    /// A context with the request method and URI path and nothing else.
    pub fn new(method: impl Into<String>, uri: impl Into<String>) -> PageContext {
        PageContext {
            method: method.into(),
            uri: uri.into(),
            ..PageContext::default()
        }
    }
}

/// Apache's reason phrase for `status` (the `status_lines` table), or `None`
/// for a code Apache does not know.
pub fn reason_phrase(status: u16) -> Option<&'static str> {
    Some(match status {
        100 => "Continue",
        101 => "Switching Protocols",
        102 => "Processing",
        200 => "OK",
        201 => "Created",
        202 => "Accepted",
        203 => "Non-Authoritative Information",
        204 => "No Content",
        205 => "Reset Content",
        206 => "Partial Content",
        207 => "Multi-Status",
        208 => "Already Reported",
        226 => "IM Used",
        300 => "Multiple Choices",
        301 => "Moved Permanently",
        302 => "Found",
        303 => "See Other",
        304 => "Not Modified",
        305 => "Use Proxy",
        307 => "Temporary Redirect",
        308 => "Permanent Redirect",
        400 => "Bad Request",
        401 => "Unauthorized",
        402 => "Payment Required",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        406 => "Not Acceptable",
        407 => "Proxy Authentication Required",
        408 => "Request Timeout",
        409 => "Conflict",
        410 => "Gone",
        411 => "Length Required",
        412 => "Precondition Failed",
        413 => "Request Entity Too Large",
        414 => "Request-URI Too Long",
        415 => "Unsupported Media Type",
        416 => "Requested Range Not Satisfiable",
        417 => "Expectation Failed",
        421 => "Misdirected Request",
        422 => "Unprocessable Entity",
        423 => "Locked",
        424 => "Failed Dependency",
        426 => "Upgrade Required",
        428 => "Precondition Required",
        429 => "Too Many Requests",
        431 => "Request Header Fields Too Large",
        451 => "Unavailable For Legal Reasons",
        500 => "Internal Server Error",
        501 => "Not Implemented",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        504 => "Gateway Timeout",
        505 => "HTTP Version Not Supported",
        506 => "Variant Also Negotiates",
        507 => "Insufficient Storage",
        508 => "Loop Detected",
        510 => "Not Extended",
        511 => "Network Authentication Required",
        _ => return None,
    })
}

/// HTML-escape `s` as `ap_escape_html` does (`<`, `>`, `&`, `"`).
pub fn escape_html(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '&' => out.push_str("&amp;"),
            '"' => out.push_str("&quot;"),
            _ => out.push(c),
        }
    }
    out
}

/// `prefix`, the `error-notes` note if any, then `suffix` (Apache's
/// `add_optional_notes`).  The note is inserted verbatim, as Apache does.
fn with_notes(prefix: &str, ctx: &PageContext, suffix: &str) -> String {
    let notes = ctx.error_notes.as_deref().unwrap_or("");
    let mut s = String::with_capacity(prefix.len() + notes.len() + suffix.len());
    s.push_str(prefix);
    s.push_str(notes);
    s.push_str(suffix);
    s
}

/// The status-specific paragraph (`get_canned_error_string`).
fn canned_text(status: u16, ctx: &PageContext) -> String {
    let method = || escape_html(&ctx.method);
    let location = || escape_html(ctx.location.as_deref().unwrap_or(""));
    match status {
        301 | 302 | 307 | 308 => {
            format!(
                "<p>The document has moved <a href=\"{}\">here</a>.</p>\n",
                location()
            )
        }
        303 => format!(
            "<p>The answer to your request is located <a href=\"{}\">here</a>.</p>\n",
            location()
        ),
        305 => "<p>This resource is only accessible through the proxy\n<br />\n\
                You will need to configure your client to use that proxy.</p>\n"
            .to_owned(),
        401 | 407 => "<p>This server could not verify that you\n\
                      are authorized to access the document\n\
                      requested.  Either you supplied the wrong\n\
                      credentials (e.g., bad password), or your\n\
                      browser doesn't understand how to supply\n\
                      the credentials required.</p>\n"
            .to_owned(),
        400 => with_notes(
            "<p>Your browser sent a request that this server could not understand.<br />\n",
            ctx,
            "</p>\n",
        ),
        403 => with_notes(
            "<p>You don't have permission to access this resource.",
            ctx,
            "</p>\n",
        ),
        404 => "<p>The requested URL was not found on this server.</p>\n".to_owned(),
        405 => format!(
            "<p>The requested method {} is not allowed for this URL.</p>\n",
            method()
        ),
        406 => "<p>An appropriate representation of the requested resource \
                could not be found on this server.</p>\n"
            .to_owned(),
        300 => String::new(),
        411 => with_notes(
            &format!(
                "<p>A request of the requested method {} requires a valid Content-length.<br />\n",
                method()
            ),
            ctx,
            "</p>\n",
        ),
        412 => {
            "<p>The precondition on the request for this URL evaluated to false.</p>\n".to_owned()
        }
        501 => with_notes(
            &format!("<p>{} not supported for current URL.<br />\n", method()),
            ctx,
            "</p>\n",
        ),
        502 => with_notes(
            "<p>The proxy server received an invalid\r\nresponse from an upstream server.<br />\r\n",
            ctx,
            "</p>\n",
        ),
        506 => "<p>A variant for the requested resource\n<pre>\n\n</pre>\n\
                is itself a negotiable resource. This indicates a configuration error.</p>\n"
            .to_owned(),
        408 => "<p>Server timeout waiting for the HTTP request from the client.</p>\n".to_owned(),
        410 => "<p>The requested resource is no longer available on this server \
                and there is no forwarding address.\n\
                Please remove all references to this resource.</p>\n"
            .to_owned(),
        413 => format!(
            "The requested resource does not allow request data with {} requests, \
             or the amount of data provided in\nthe request exceeds the capacity limit.\n",
            method()
        ),
        414 => with_notes(
            "<p>The requested URL's length exceeds the capacity\nlimit for this server.<br />\n",
            ctx,
            "</p>\n",
        ),
        415 => "<p>The supplied request data is not in a format\n\
                acceptable for processing by this resource.</p>\n"
            .to_owned(),
        416 => "<p>None of the range-specifier values in the Range\n\
                request-header field overlap the current extent\n\
                of the selected resource.</p>\n"
            .to_owned(),
        417 => {
            let lead = match &ctx.expect {
                Some(expect) => format!(
                    "<p>The expectation given in the Expect request-header\n\
                     field could not be met by this server.\n\
                     The client sent<pre>\n    Expect: {}\n</pre>\n",
                    escape_html(expect)
                ),
                None => "<p>No expectation was seen, the Expect request-header \n\
                         field was not presented by the client.\n"
                    .to_owned(),
            };
            with_notes(
                &lead,
                ctx,
                "</p><p>Only the 100-continue expectation is supported.</p>\n",
            )
        }
        422 => "<p>The server understands the media type of the\n\
                request entity, but was unable to process the\n\
                contained instructions.</p>\n"
            .to_owned(),
        423 => "<p>The requested resource is currently locked.\n\
                The lock must be released or proper identification\n\
                given before the method can be applied.</p>\n"
            .to_owned(),
        424 => "<p>The method could not be performed on the resource\n\
                because the requested action depended on another\n\
                action and that other action failed.</p>\n"
            .to_owned(),
        426 => "<p>The requested resource can only be retrieved\n\
                using SSL.  The server is willing to upgrade the current\n\
                connection to SSL, but your client doesn't support it.\n\
                Either upgrade your client, or try requesting the page\n\
                using https://\n"
            .to_owned(),
        428 => "<p>The request is required to be conditional.</p>\n".to_owned(),
        429 => {
            "<p>The user has sent too many requests\nin a given amount of time.</p>\n".to_owned()
        }
        431 => "<p>The server refused this request because\n\
                the request header fields are too large.</p>\n"
            .to_owned(),
        507 => "<p>The method could not be performed on the resource\n\
                because the server is unable to store the\n\
                representation needed to successfully complete the\n\
                request.  There is insufficient free space left in\n\
                your storage allocation.</p>\n"
            .to_owned(),
        503 => "<p>The server is temporarily unable to service your\n\
                request due to maintenance downtime or capacity\n\
                problems. Please try again later.</p>\n"
            .to_owned(),
        504 => "<p>The gateway did not receive a timely response\n\
                from the upstream server or application.</p>\n"
            .to_owned(),
        508 => "<p>The server terminated an operation because\n\
                it encountered an infinite loop.</p>\n"
            .to_owned(),
        510 => "<p>A mandatory extension policy in the request is not\n\
                accepted by the server for this resource.</p>\n"
            .to_owned(),
        511 => "<p>The client needs to authenticate to gain\nnetwork access.</p>\n".to_owned(),
        421 => "<p>The client needs a new connection for this\n\
                request as the requested host name does not match\n\
                the Server Name Indication (SNI) in use for this\n\
                connection.</p>\n"
            .to_owned(),
        451 => with_notes(
            "<p>Access to this URL has been denied for legal reasons.<br />\n",
            ctx,
            "</p>\n",
        ),
        _ => {
            let admin = if ctx.server_admin.is_empty() {
                DEFAULT_SERVER_ADMIN
            } else {
                &ctx.server_admin
            };
            format!(
                "<p>The server encountered an internal error or\n\
                 misconfiguration and was unable to complete\n\
                 your request.</p>\n\
                 <p>Please contact the server administrator at \n \
                 {} to inform them of the time this error occurred,\n \
                 and the actions you performed just before this error.</p>\n\
                 <p>More information about this error may be available\n\
                 in the server error log.</p>\n",
                escape_html(admin)
            )
        }
    }
}

/// The reason phrase and the HTML page Apache sends for `status`.
///
/// A status Apache does not know gets the 500 page, as in
/// `ap_index_of_response()`.  The page does not depend on the method; use
/// [`error_response`] for a complete response (which drops the body for
/// `HEAD`).
pub fn error_body(status: u16, ctx: &PageContext) -> (&'static str, String) {
    let (status, reason) = match reason_phrase(status) {
        Some(reason) => (status, reason),
        None => (500, "Internal Server Error"),
    };
    let mut text = canned_text(status, ctx);
    if let Some(again) = ctx.recursive {
        let again_reason = reason_phrase(again).unwrap_or("Internal Server Error");
        text.push_str(&format!(
            "<p>Additionally, a {again} {again_reason}\nerror was encountered while trying to use an ErrorDocument to handle the request.</p>\n"
        ));
    }
    let signature = ctx
        .signature
        .as_deref()
        .map(|s| format!("<hr>\n{s}"))
        .unwrap_or_default();
    let html = format!(
        "{DOCTYPE}<html><head>\n<title>{status} {reason}</title>\n</head><body>\n\
         <h1>{reason}</h1>\n{text}{signature}</body></html>\n"
    );
    (reason, html)
}

/// A complete error response: status, `Content-Type`, `Content-Length`,
/// `Location` for redirects, `Allow` for 405/501, and the page (no body for
/// `HEAD` requests and for 204/304, as Apache).
pub fn error_response(status: u16, ctx: &PageContext) -> Response<ResponseBody> {
    let header_only = matches!(status, 204 | 304);
    let body = if header_only || ctx.method == "HEAD" {
        None
    } else {
        Some(error_body(status, ctx).1)
    };
    let mut resp = Response::new(ResponseBody::empty());
    *resp.status_mut() = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let headers = resp.headers_mut();
    let value = |v: Option<&str>| v.and_then(|v| HeaderValue::from_str(v).ok());
    if let Some(loc) = value(ctx.location.as_deref())
        && ((300..400).contains(&status) || status == 201)
    {
        headers.insert(LOCATION, loc);
    }
    if let Some(allow) = value(ctx.allow.as_deref())
        && matches!(status, 405 | 501)
    {
        headers.insert(ALLOW, allow);
    }
    if header_only {
        return resp;
    }
    if let Some(html) = body {
        headers.insert(CONTENT_LENGTH, HeaderValue::from(html.len()));
        *resp.body_mut() = ResponseBody::full(Bytes::from(html));
    }
    resp.headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static(ERROR_CONTENT_TYPE));
    resp
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ctx() -> PageContext {
        PageContext {
            server_admin: "webmaster@localhost".into(),
            ..PageContext::new("GET", "/x")
        }
    }

    /// Content-Length values recorded from Apache 2.4 in the oracle goldens.
    #[test]
    fn page_lengths_match_goldens() {
        assert_eq!(error_body(404, &ctx()).1.len(), 236);
        assert_eq!(error_body(403, &ctx()).1.len(), 239);
        assert_eq!(error_body(500, &ctx()).1.len(), 572);
        assert_eq!(error_body(401, &ctx()).1.len(), 421);
        let mut c = ctx();
        c.method = "POST".into();
        assert_eq!(error_body(411, &c).1.len(), 279);
    }

    #[test]
    fn redirect_pages_match_goldens() {
        // Goldens: 280 / 282 bytes with `http://localhost:PORT/...`; the
        // harness used a 5-digit port.
        let mut c = ctx();
        c.location = Some("http://localhost:12345/wsgi/sub/".into());
        assert_eq!(error_body(301, &c).1.len(), 280);
        c.location = Some("http://localhost:12345/static/sub/".into());
        assert_eq!(error_body(301, &c).1.len(), 282);
    }

    #[test]
    fn exact_404_page() {
        let (reason, html) = error_body(404, &ctx());
        assert_eq!(reason, "Not Found");
        assert_eq!(
            html,
            "<!DOCTYPE HTML PUBLIC \"-//W3C//DTD HTML 4.01//EN\" \"http://www.w3.org/TR/html4/strict.dtd\">\n\
             <html><head>\n\
             <title>404 Not Found</title>\n</head><body>\n<h1>Not Found</h1>\n\
             <p>The requested URL was not found on this server.</p>\n</body></html>\n"
        );
    }

    #[test]
    fn unknown_status_gets_the_500_page() {
        let (reason, html) = error_body(418, &ctx());
        assert_eq!(reason, "Internal Server Error");
        assert!(html.contains("<title>500 Internal Server Error</title>"));
        assert!(html.contains("webmaster@localhost"));
    }

    #[test]
    fn default_admin_and_escaping() {
        let mut c = PageContext::new("G<E>T", "/");
        let (_, html) = error_body(500, &c);
        assert!(html.contains("at \n [no address given] to inform"));
        let (_, html) = error_body(405, &c);
        assert!(html.contains("method G&lt;E&gt;T is not allowed"));
        c.location = Some("/a\"b".into());
        let (_, html) = error_body(302, &c);
        assert!(html.contains("href=\"/a&quot;b\""));
    }

    #[test]
    fn signature_and_notes() {
        let mut c = ctx();
        c.signature = Some("<address>Apache Server at localhost Port 80</address>\n".into());
        c.error_notes = Some("bad header".into());
        let (_, html) = error_body(400, &c);
        assert!(html.ends_with(
            "understand.<br />\nbad header</p>\n<hr>\n<address>Apache Server at localhost Port 80</address>\n</body></html>\n"
        ));
    }

    #[test]
    fn response_headers() {
        let mut c = ctx();
        c.method = "PUT".into();
        c.allow = Some("GET,POST,OPTIONS,HEAD,TRACE".into());
        let resp = error_response(405, &c);
        assert_eq!(resp.status(), 405);
        assert_eq!(resp.headers()[CONTENT_TYPE], ERROR_CONTENT_TYPE);
        assert_eq!(resp.headers()[ALLOW], "GET,POST,OPTIONS,HEAD,TRACE");
        let len: usize = resp.headers()[CONTENT_LENGTH]
            .to_str()
            .map_or(0, |v| v.parse().unwrap_or(0));
        assert_eq!(len, error_body(405, &c).1.len());

        c.location = Some("http://h/x/".into());
        let resp = error_response(301, &c);
        assert_eq!(resp.headers()[LOCATION], "http://h/x/");

        c.method = "HEAD".into();
        let resp = error_response(404, &c);
        assert!(resp.headers().get(CONTENT_LENGTH).is_none());
        assert!(http_body::Body::is_end_stream(resp.body()));
        assert!(
            error_response(304, &c)
                .headers()
                .get(CONTENT_TYPE)
                .is_none()
        );
    }
}
