//! Tests of the static file handler against what Apache answered in
//! golden 21 and what its default handler and byterange filter do.

use std::io::Write;
use std::time::Duration;

use http::Request;
use http_body_util::BodyExt;

use super::*;

struct Fixture {
    _dir: tempfile::TempDir,
    path: PathBuf,
}

fn fixture(content: &[u8]) -> Fixture {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("notes.txt");
    let mut f = File::create(&path).expect("create");
    f.write_all(content).expect("write");
    Fixture { _dir: dir, path }
}

fn parts(method: &str, headers: &[(&str, &str)]) -> Parts {
    let mut b = Request::builder().method(method).uri("/static/notes.txt");
    for (k, v) in headers {
        b = b.header(*k, *v);
    }
    b.body(()).expect("request").into_parts().0
}

/// Serve with the request an hour after the file's mtime (strong ETag).
fn get(fx: &Fixture, method: &str, headers: &[(&str, &str)]) -> Response<ResponseBody> {
    let meta = std::fs::metadata(&fx.path).expect("stat");
    let now = meta.modified().expect("mtime") + Duration::from_secs(3600);
    let p = parts(method, headers);
    match serve_at(
        &p.method,
        &p.headers,
        &fx.path,
        &meta,
        Some("text/plain"),
        wsgid_config::file_etag::DEFAULT,
        now,
    ) {
        Ok(r) => r,
        Err(e) => error_response(e.status(), &PageContext::new(method, "/static/notes.txt")),
    }
}

async fn body(resp: Response<ResponseBody>) -> Vec<u8> {
    resp.into_body()
        .collect()
        .await
        .expect("body")
        .to_bytes()
        .to_vec()
}

fn hdr<'a>(resp: &'a Response<ResponseBody>, name: &str) -> Option<&'a str> {
    resp.headers().get(name).and_then(|v| v.to_str().ok())
}

#[tokio::test]
async fn plain_get_as_golden_21() {
    let fx = fixture(b"plain notes\n");
    let resp = get(&fx, "GET", &[]);
    assert_eq!(resp.status(), 200);
    assert_eq!(hdr(&resp, "content-length"), Some("12"));
    assert_eq!(hdr(&resp, "content-type"), Some("text/plain"));
    assert_eq!(hdr(&resp, "accept-ranges"), Some("bytes"));
    let etag = hdr(&resp, "etag").expect("etag");
    assert!(etag.starts_with("\"c-") && etag.ends_with('"'), "{etag}");
    assert!(hdr(&resp, "last-modified").is_some_and(|v| v.ends_with(" GMT")));
    let names: Vec<&str> = resp.headers().keys().map(|k| k.as_str()).collect();
    assert_eq!(
        names,
        [
            "last-modified",
            "etag",
            "accept-ranges",
            "content-length",
            "content-type"
        ]
    );
    assert_eq!(body(resp).await, b"plain notes\n");
}

#[tokio::test]
async fn head_post_options_and_other_methods() {
    let fx = fixture(b"plain notes\n");
    let resp = get(&fx, "HEAD", &[]);
    assert_eq!(
        (resp.status().as_u16(), hdr(&resp, "content-length")),
        (200, Some("12"))
    );
    assert!(body(resp).await.is_empty());

    let resp = get(&fx, "POST", &[]);
    assert_eq!(resp.status(), 200);
    assert_eq!(body(resp).await, b"plain notes\n");

    let resp = get(&fx, "OPTIONS", &[]);
    assert_eq!(
        (resp.status().as_u16(), hdr(&resp, "allow")),
        (200, Some(ALLOW_VALUE))
    );
    assert_eq!(hdr(&resp, "content-length"), Some("0"));

    let resp = get(&fx, "PUT", &[]);
    assert_eq!(resp.status(), 405);
    let resp = get(&fx, "BREW", &[]);
    assert_eq!(resp.status(), 501);
    let meta = std::fs::metadata(&fx.path).expect("stat");
    let resp = serve(&parts("DELETE", &[]), &fx.path, &meta, None);
    assert_eq!(
        (resp.status().as_u16(), hdr(&resp, "allow")),
        (405, Some(ALLOW_VALUE))
    );
    let html = String::from_utf8(body(resp).await).expect("utf-8");
    assert!(html.contains("The requested method DELETE is not allowed for this URL."));
}

#[tokio::test]
async fn single_range_as_golden_21() {
    let fx = fixture(b"plain notes\n");
    let resp = get(&fx, "GET", &[("range", "bytes=0-4")]);
    assert_eq!(resp.status(), 206);
    assert_eq!(hdr(&resp, "content-range"), Some("bytes 0-4/12"));
    assert_eq!(hdr(&resp, "content-length"), Some("5"));
    assert_eq!(body(resp).await, b"plain");
    let resp = get(&fx, "GET", &[("range", "bytes=-6")]);
    assert_eq!(body(resp).await, b"notes\n");
}

#[tokio::test]
async fn multiple_ranges_multipart() {
    let fx = fixture(b"plain notes\n");
    let resp = get(&fx, "GET", &[("range", "bytes=0-1,6-7")]);
    assert_eq!(resp.status(), 206);
    let b = ranges::boundary();
    assert_eq!(
        hdr(&resp, "content-type"),
        Some(format!("multipart/byteranges; boundary={b}").as_str())
    );
    let len: usize = hdr(&resp, "content-length")
        .and_then(|v| v.parse().ok())
        .expect("length");
    let got = body(resp).await;
    let want = format!(
        "\r\n--{b}\r\nContent-type: text/plain\r\nContent-range: bytes 0-1/12\r\n\r\npl\
         \r\n--{b}\r\nContent-type: text/plain\r\nContent-range: bytes 6-7/12\r\n\r\nno\r\n--{b}--\r\n"
    );
    assert_eq!(String::from_utf8_lossy(&got), want);
    assert_eq!(len, want.len());
    let resp = get(&fx, "GET", &[("request-range", "bytes=0-1,6-7")]);
    assert!(hdr(&resp, "content-type").is_some_and(|v| v.starts_with("multipart/x-byteranges")));
}

#[tokio::test]
async fn unsatisfiable_and_ignored_ranges() {
    let fx = fixture(b"plain notes\n");
    let resp = get(&fx, "GET", &[("range", "bytes=50-60")]);
    assert_eq!(resp.status(), 416);
    assert!(resp.headers().get("content-range").is_none());
    assert_eq!(
        hdr(&resp, "content-type"),
        Some(crate::error_pages::ERROR_CONTENT_TYPE)
    );
    let resp = get(&fx, "GET", &[("range", "bytes=junk")]);
    assert_eq!(resp.status(), 200);
    assert_eq!(body(resp).await, b"plain notes\n");
    let resp = get(
        &fx,
        "GET",
        &[("range", "bytes=0-4"), ("if-range", "\"stale\"")],
    );
    assert_eq!(resp.status(), 200);
    let empty = fixture(b"");
    let resp = get(&empty, "GET", &[("range", "bytes=0-4")]);
    assert_eq!(
        (resp.status().as_u16(), hdr(&resp, "content-length")),
        (200, Some("0"))
    );
}

#[tokio::test]
async fn conditional_requests() {
    let fx = fixture(b"plain notes\n");
    let first = get(&fx, "GET", &[]);
    let etag = hdr(&first, "etag").expect("etag").to_owned();
    let lm = hdr(&first, "last-modified").expect("lm").to_owned();

    let resp = get(&fx, "GET", &[("if-none-match", &etag)]);
    assert_eq!(resp.status(), 304);
    assert!(resp.headers().get("content-length").is_none());
    assert!(resp.headers().get("content-type").is_none());
    assert_eq!(hdr(&resp, "etag"), Some(etag.as_str()));
    assert!(body(resp).await.is_empty());

    assert_eq!(
        get(&fx, "HEAD", &[("if-modified-since", &lm)]).status(),
        304
    );
    assert_eq!(
        get(&fx, "GET", &[("if-none-match", "\"other\"")]).status(),
        200
    );

    let resp = get(&fx, "GET", &[("if-match", "\"other\"")]);
    assert_eq!(resp.status(), 412);
    assert_eq!(hdr(&resp, "content-length"), Some("0"));
    assert!(body(resp).await.is_empty());
    assert_eq!(get(&fx, "POST", &[("if-none-match", &etag)]).status(), 412);
    let resp = get(&fx, "HEAD", &[("if-match", "\"other\"")]);
    assert_eq!(
        (resp.status().as_u16(), hdr(&resp, "content-length")),
        (412, Some("12"))
    );
}

#[test]
fn directory_and_unopenable_file() {
    let fx = fixture(b"x");
    let dir = fx.path.parent().expect("parent").to_owned();
    let meta = std::fs::metadata(&dir).expect("stat");
    let err = serve_at(
        &Method::GET,
        &HeaderMap::new(),
        &dir,
        &meta,
        None,
        wsgid_config::file_etag::DEFAULT,
        SystemTime::now(),
    )
    .expect_err("directory");
    assert_eq!(err.status(), 404);
    let meta = std::fs::metadata(&fx.path).expect("stat");
    let gone = dir.join("missing.txt");
    let err = serve_at(
        &Method::GET,
        &HeaderMap::new(),
        &gone,
        &meta,
        None,
        wsgid_config::file_etag::DEFAULT,
        SystemTime::now(),
    )
    .expect_err("missing");
    assert_eq!(err.status(), 403);
}
