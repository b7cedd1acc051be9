//! The front end without Python: static files, mod_dir redirects, Apache
//! error pages and their log lines, over a real socket.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::sync::Arc;

use wsgid_http::{FrontEnd, Logs};

/// Start a front end for `conf` (ServerRoot and paths inside `dir`) and
/// return its port and the shutdown trigger.
fn start(
    dir: &std::path::Path,
    extra: &str,
) -> (
    u16,
    tokio::sync::oneshot::Sender<()>,
    std::thread::JoinHandle<()>,
) {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("addr").port();
    let conf = format!(
        "ServerRoot {d}\nListen 127.0.0.1:{port}\nServerName localhost\nErrorLog {d}/error.log\nLogLevel info\n\
         DocumentRoot {d}/htdocs\n{extra}\n",
        d = dir.display()
    );
    let path = dir.join("httpd.conf");
    std::fs::write(&path, conf).expect("write conf");
    let cfg = Arc::new(wsgid_config::load(&path, &[]).expect("config"));
    let logs = Logs::open(&cfg, None).expect("logs");
    let front = Arc::new(FrontEnd::new(cfg, logs, None).expect("front end"));
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let handle = std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .expect("rt");
        rt.block_on(async move {
            front
                .serve(vec![listener], async move {
                    let _ = rx.await;
                    Some(wsgid_http::server::SHUTDOWN_GRACE)
                })
                .await
                .expect("serve");
        });
    });
    (port, tx, handle)
}

fn get(port: u16, raw: &str) -> String {
    let mut s = TcpStream::connect(("127.0.0.1", port)).expect("connect");
    s.write_all(raw.as_bytes()).expect("write");
    let mut out = String::new();
    s.read_to_string(&mut out).expect("read");
    out
}

#[test]
fn static_redirect_and_errors() {
    let dir = tempfile::tempdir().expect("tempdir");
    let d = dir.path();
    std::fs::create_dir_all(d.join("htdocs/sub")).expect("mkdir");
    std::fs::write(d.join("htdocs/sub/index.html"), "sub index\n").expect("write");
    std::fs::write(d.join("htdocs/a.txt"), "plain\n").expect("write");
    let (port, stop, handle) = start(d, "<Files \"secret.txt\">\nRequire all denied\n</Files>\n");
    std::fs::write(d.join("htdocs/secret.txt"), "no\n").expect("write");

    let r = get(
        port,
        "GET /a.txt HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n",
    );
    assert!(r.starts_with("HTTP/1.1 200 OK\r\n"), "{r}");
    assert!(
        r.to_ascii_lowercase().contains("content-length: 6\r\n"),
        "{r}"
    );
    assert!(r.ends_with("plain\n"), "{r}");

    let r = get(
        port,
        "GET /sub HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n",
    );
    assert!(r.starts_with("HTTP/1.1 301 Moved Permanently\r\n"), "{r}");
    assert!(
        r.to_ascii_lowercase()
            .contains("location: http://localhost/sub/\r\n"),
        "{r}"
    );

    let r = get(
        port,
        "GET /sub/ HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n",
    );
    assert!(r.ends_with("sub index\n"), "{r}");

    let r = get(
        port,
        "GET /missing HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n",
    );
    assert!(r.starts_with("HTTP/1.1 404 Not Found\r\n"), "{r}");
    assert!(r.contains("<title>404 Not Found</title>"), "{r}");

    let r = get(
        port,
        "GET /secret.txt HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n",
    );
    assert!(r.starts_with("HTTP/1.1 403 Forbidden\r\n"), "{r}");

    let r = get(
        port,
        "GET /a%2Fb HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n",
    );
    assert!(r.starts_with("HTTP/1.1 404 Not Found\r\n"), "{r}");

    let r = get(
        port,
        "GET /../x HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n",
    );
    assert!(r.starts_with("HTTP/1.1 400 Bad Request\r\n"), "{r}");

    let r = get(port, "GET /a.txt HTTP/1.1\r\nConnection: close\r\n\r\n");
    assert!(
        r.starts_with("HTTP/1.1 400 Bad Request\r\n"),
        "HTTP/1.1 without Host: {r}"
    );

    let _ = stop.send(());
    handle.join().expect("server thread");
    let log = std::fs::read_to_string(d.join("error.log")).expect("error log");
    assert!(log.contains("[core:info] [pid "), "{log}");
    assert!(log.contains("AH00128: File does not exist: "), "{log}");
    assert!(
        log.contains("[authz_core:error]")
            && log.contains("AH01630: client denied by server configuration: "),
        "{log}"
    );
    assert!(
        log.contains("AH00026: found %2f (encoded '/') in URI path (/a%2Fb), returning 404"),
        "{log}"
    );
}
