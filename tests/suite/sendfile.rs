//! `EnableSendfile On`: static files and `wsgi.file_wrapper` files leave
//! through sendfile(2) in every framing the writer uses (Content-Length,
//! chunked, byte ranges, keep-alive after them), with the same bytes and
//! the same truncation rules as the block-read path.

use crate::support::{TestServer, server};

const APP: &str = r#"
import os

HERE = os.path.dirname(os.path.abspath(__file__))

def application(environ, start_response):
    p = environ["PATH_INFO"]
    name = os.path.join(HERE, "big.bin")
    text = [("Content-Type", "application/octet-stream")]
    if p == "/whole":
        start_response("200 OK", text)
        return environ["wsgi.file_wrapper"](open(name, "rb"), 65536)
    if p == "/short-cl":
        start_response("200 OK", text + [("Content-Length", "1000")])
        return environ["wsgi.file_wrapper"](open(name, "rb"))
    if p == "/long-cl":
        start_response("200 OK", text + [("Content-Length", str(os.path.getsize(name) + 10))])
        return environ["wsgi.file_wrapper"](open(name, "rb"))
    if p == "/from-middle":
        f = open(name, "rb")
        f.seek(1000)
        start_response("200 OK", text)
        return environ["wsgi.file_wrapper"](f)
    start_response("404 Not Found", text)
    return [b"?"]
"#;

/// 3 MiB + 7 bytes of a non-repeating pattern: several sendfile calls and
/// a socket buffer that fills, so the writer waits on it.
fn big() -> Vec<u8> {
    (0..(3 << 20) + 7u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect()
}

fn site() -> TestServer {
    server(
        "\
EnableSendfile On
Alias /static/ @DIR@/static/
<Directory @DIR@/static>
    Require all granted
</Directory>
WSGIScriptAlias /f @DIR@/f.wsgi
",
    )
    .file("f.wsgi", APP)
    .file("big.bin", big())
    .file("static/big.bin", big())
    .file("static/notes.txt", "plain notes\n")
    .start()
}

#[test]
fn file_wrapper_files_are_sent_whole_in_each_framing() {
    let s = site();
    let data = big();
    let r = s.get("/f/whole");
    assert_eq!(r.status, 200, "{}", r.describe());
    assert!(!r.truncated, "{}", r.describe());
    assert_eq!(r.body.len(), data.len());
    assert!(r.body == data, "body differs from the file");

    let r = s.get("/f/from-middle");
    assert_eq!(r.status, 200, "{}", r.describe());
    assert!(
        r.body == data[1000..],
        "the file's own offset is where it starts"
    );

    // The application's Content-Length cuts the file, as mod_wsgi does.
    let r = s.get("/f/short-cl");
    assert_eq!(r.header("Content-Length"), Some("1000"));
    assert!(r.body == data[..1000], "{}", r.describe());

    // A Content-Length beyond the file: the response ends short.
    let r = s.get("/f/long-cl");
    assert_eq!(r.status, 200, "{}", r.describe());
    assert!(r.truncated, "{}", r.describe());
    assert!(r.body == data, "what the file holds is sent");
}

#[test]
fn static_files_and_ranges_go_out_whole_and_keep_the_connection() {
    let s = site();
    let data = big();
    let mut c = s.connect();
    let get = |c: &mut crate::support::http::Conn, path: &str, extra: &str| {
        c.send(format!(
            "GET {path} HTTP/1.1\r\nHost: localhost:{}\r\n{extra}\r\n",
            s.port()
        ));
        c.read_response(false)
    };
    let r = get(&mut c, "/static/big.bin", "");
    assert_eq!(r.status, 200, "{}", r.describe());
    assert_eq!(
        r.header("Content-Length"),
        Some(data.len().to_string().as_str())
    );
    assert!(r.body == data, "body differs from the file");

    // The same connection carries the next requests.
    let r = get(
        &mut c,
        "/static/big.bin",
        "Range: bytes=1048570-1048599\r\n",
    );
    assert_eq!(r.status, 206, "{}", r.describe());
    assert!(r.body == data[1_048_570..1_048_600]);

    let r = get(&mut c, "/static/notes.txt", "Range: bytes=0-4,6-10\r\n");
    assert_eq!(r.status, 206, "{}", r.describe());
    let text = r.text();
    assert!(
        text.contains("Content-range: bytes 0-4/12\r\n\r\nplain\r\n")
            && text.contains("Content-range: bytes 6-10/12\r\n\r\nnotes\r\n"),
        "multipart body: {text:?}"
    );

    let r = get(&mut c, "/static/notes.txt", "");
    assert_eq!(r.text(), "plain notes\n");
}

#[test]
fn head_sends_no_file_bytes() {
    let s = site();
    let r = s.request(format!(
        "HEAD /static/big.bin HTTP/1.1\r\nHost: localhost:{}\r\nConnection: close\r\n\r\n",
        s.port()
    ));
    assert_eq!(r.status, 200, "{}", r.describe());
    assert!(r.body.is_empty());
}
