//! WSGI scripts that several topics use.  Most tests write their own tiny
//! script inline; these are the ones whose answer format the support code
//! parses (`key=value` lines, see `Response::kv`).
//!
//! Python strings in the environ are WSGI "bytes as latin-1", so values are
//! encoded back to latin-1 on the way out: the test sees the original bytes.

/// Answers every environ key as `key=value` (sorted), plus `@pid=` (the
/// worker's pid) and `@tid=` (the thread id).  Non-`str` values become
/// `!TYPE:REPR` (e.g. `wsgi.multithread=!bool:True`).
pub const ENVIRON: &str = r#"
import os, threading

def _line(k, v):
    if isinstance(v, str):
        s = v
    else:
        s = "!" + type(v).__name__ + ":" + repr(v)
    return k + "=" + s.replace("\\", "\\\\").replace("\n", "\\n")

def application(environ, start_response):
    lines = [_line(k, environ[k]) for k in sorted(environ)]
    lines.append("@pid=%d" % os.getpid())
    lines.append("@tid=%d" % threading.get_ident())
    body = ("\n".join(lines) + "\n").encode("latin-1", "backslashreplace")
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", str(len(body)))])
    return [body]
"#;

/// Answers `text` as `text/plain` with a Content-Length.
pub fn text_app(text: &str) -> String {
    format!(
        r#"
def application(environ, start_response):
    body = {text:?}.encode("utf-8")
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", str(len(body)))])
    return [body]
"#
    )
}

/// Answers `pid=N` (the worker process serving the request).
pub const PID: &str = r#"
import os

def application(environ, start_response):
    body = ("pid=%d\n" % os.getpid()).encode()
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", str(len(body)))])
    return [body]
"#;
