//! Response mechanics: results, close(), write(), file_wrapper, exceptions,
//! validation, Content-Length (the behaviours of oracle case 18).

use super::*;

const RESP: &str = r#"
import builtins, sys
STATE = builtins.__dict__.setdefault("_wsgid_test_state", {"closed": []})
text = [("Content-Type", "text/plain")]

class Closing:
    def __init__(self, name, chunks):
        self.name, self.chunks = name, chunks
    def __iter__(self):
        return iter(self.chunks)
    def close(self):
        STATE["closed"].append(self.name)

def gen_finally(name):
    try:
        yield b"g1;"
        yield b""
        yield b"g2;"
    finally:
        STATE["closed"].append(name)

def application(environ, start_response):
    p = environ["PATH_INFO"]
    if p == "/list":
        start_response("200 OK", text)
        return [b"one;", b"two;", b"three"]
    if p == "/tuple-large":
        start_response("200 OK", text)
        return (b"x" * 70000,)
    if p == "/empty":
        start_response("200 OK", text)
        return []
    if p == "/closing":
        start_response("200 OK", text)
        return Closing("closing-iterable", [b"x", b"y"])
    if p == "/gen":
        start_response("200 OK", text + [("X-Gen", "yes")])
        return gen_finally("gen-finally")
    if p == "/closed":
        start_response("200 OK", text)
        return [", ".join(STATE["closed"]).encode()]
    if p == "/write":
        write = start_response("200 OK", text)
        write(b"w1;")
        write(b"w2;")
        return [b"returned"]
    if p == "/cl-long":
        start_response("200 OK", text + [("Content-Length", "3")])
        return [b"hello", b" world"]
    if p == "/cl-short":
        start_response("200 OK", text + [("Content-Length", "10")])
        return [b"hello"]
    if p == "/cl-bad":
        start_response("200 OK", text + [("Content-Length", "ten")])
        return [b"hello"]
    if p == "/exc-info":
        start_response("200 OK", text + [("X-First", "1")])
        try:
            raise ValueError("replaced")
        except ValueError:
            start_response("500 Replaced Error", [("X-Second", "2")], sys.exc_info())
        return [b"error page from app"]
    if p == "/exc-info-late":
        def g():
            start_response("200 OK", text)
            yield b"partial;"
            try:
                raise ValueError("late-exc-marker")
            except ValueError:
                start_response("500 Too Late", text, sys.exc_info())
            yield b"not reached"
        return g()
    if p == "/twice":
        start_response("200 OK", text)
        start_response("201 Created", text)
        return [b"twice"]
    if p == "/raise":
        raise RuntimeError("raise-marker-1")
    if p == "/raise-in-iter":
        def g():
            start_response("200 OK", text)
            yield b"before;"
            raise RuntimeError("iter-marker-2")
        return g()
    if p == "/no-start":
        return [b"never"]
    if p == "/bad-status":
        start_response("200", text)
        return [b"x"]
    if p == "/bad-header":
        start_response("200 OK", text + [("X-Bad", "a\r\nInjected: yes")])
        return [b"x"]
    if p == "/bad-header-type":
        start_response("200 OK", [("X-Bad", 1)])
        return [b"x"]
    if p == "/headers-tuple":
        start_response("200 OK", tuple(text))
        return [b"x"]
    if p == "/str-body":
        start_response("200 OK", text)
        return ["a str"]
    if p == "/none":
        start_response("200 OK", text)
        return None
    if p == "/latin1":
        start_response("299 Custom Reason", text + [("X-Latin1", "caf\u00e9")])
        return [b"ok"]
    start_response("404 Not Found", text)
    return [b"no such test"]
"#;

fn resp() -> PathBuf {
    static PATH: OnceLock<PathBuf> = OnceLock::new();
    PATH.get_or_init(|| script("resp", RESP)).clone()
}

#[test]
fn exact_list_is_one_complete_event() {
    let events = get(&resp(), "/list");
    let (head, body) = complete(&events);
    assert_eq!((head.status, head.reason()), (200, "OK"));
    assert_eq!(header(head, "content-type"), Some("text/plain"));
    assert_eq!(
        header(head, "content-length"),
        None,
        "mod_wsgi adds no Content-Length"
    );
    assert_eq!(body, b"one;two;three");

    let events = get(&resp(), "/tuple-large");
    let (_, body) = complete(&events);
    assert_eq!(body.len(), 70000);

    let events = get(&resp(), "/empty");
    let (_, body) = complete(&events);
    assert!(body.is_empty());
}

#[test]
fn iterables_stream_and_are_closed() {
    let events = get(&resp(), "/closing");
    let (_, body, last) = streamed(&events);
    assert_eq!(body, b"xy");
    assert!(matches!(last, ResponseEvent::End));

    let events = get(&resp(), "/gen");
    let (head, body, last) = streamed(&events);
    assert_eq!(header(head, "x-gen"), Some("yes"));
    assert_eq!(body, b"g1;g2;");
    assert!(matches!(last, ResponseEvent::End));
    // Two chunks: the empty item sent nothing.
    assert_eq!(events.len(), 4, "{events:?}");

    // close() ran before the final event, so the next request sees it.
    let events = get(&resp(), "/closed");
    let (_, body) = complete(&events);
    let closed = String::from_utf8_lossy(body).into_owned();
    assert!(
        closed.contains("closing-iterable") && closed.contains("gen-finally"),
        "{closed}"
    );
}

#[test]
fn write_sends_head_then_data() {
    let events = get(&resp(), "/write");
    let (head, body, last) = streamed(&events);
    assert_eq!(head.status, 200);
    assert_eq!(body, b"w1;w2;returned");
    assert!(matches!(last, ResponseEvent::End));
}

#[test]
fn content_length_truncates_and_short_bodies_abort() {
    let events = get(&resp(), "/cl-long");
    let (head, body) = complete(&events);
    assert_eq!(header(head, "content-length"), Some("3"));
    assert_eq!(body, b"hel");

    let events = get(&resp(), "/cl-short");
    let (_, body, last) = streamed(&events);
    assert_eq!(body, b"hello");
    assert!(matches!(last, ResponseEvent::Abort), "{events:?}");

    let events = get(&resp(), "/cl-bad");
    assert!(
        matches!(events.as_slice(), [ResponseEvent::Failed(500)]),
        "{events:?}"
    );
    assert!(!log_lines("ValueError: invalid content length").is_empty());
}

#[test]
fn exc_info_replaces_before_output_and_reraises_after() {
    let events = get(&resp(), "/exc-info");
    let (head, body) = complete(&events);
    assert_eq!((head.status, head.reason()), (500, "Replaced Error"));
    assert_eq!(header(head, "x-second"), Some("2"));
    assert_eq!(header(head, "x-first"), None);
    assert_eq!(body, b"error page from app");

    let events = get(&resp(), "/exc-info-late");
    let (_, body, last) = streamed(&events);
    assert_eq!(body, b"partial;");
    assert!(matches!(last, ResponseEvent::Abort));
    let lines = log_lines("ValueError: late-exc-marker");
    assert_eq!(
        message(&lines[0]),
        "[client 127.0.0.1:5555] ValueError: late-exc-marker"
    );

    let events = get(&resp(), "/twice");
    let (head, _) = complete(&events);
    assert_eq!((head.status, head.reason()), (201, "Created"));
}

#[test]
fn exceptions_before_and_after_the_head() {
    let events = get(&resp(), "/raise");
    assert!(
        matches!(events.as_slice(), [ResponseEvent::Failed(500)]),
        "{events:?}"
    );
    let exc = log_lines("RuntimeError: raise-marker-1");
    assert_eq!(exc.len(), 1);
    let occurred = log_lines("Exception occurred processing WSGI script");
    assert!(
        occurred
            .iter()
            .any(|l| l.contains("resp.wsgi") && l.contains("[wsgi:error] [pid "))
    );
    assert!(
        !log_lines("in application").is_empty(),
        "traceback frames are logged"
    );

    let events = get(&resp(), "/raise-in-iter");
    let (_, body, last) = streamed(&events);
    assert_eq!(body, b"before;");
    assert!(matches!(last, ResponseEvent::Abort));
    assert!(!log_lines("RuntimeError: iter-marker-2").is_empty());

    let events = get(&resp(), "/no-start");
    assert!(matches!(events.as_slice(), [ResponseEvent::Failed(500)]));
    assert!(!log_lines("RuntimeError: response has not been started").is_empty());
}

#[test]
fn invalid_status_headers_and_items_fail_with_500() {
    for (path, text) in [
        ("/bad-status", "ValueError: no space following status code"),
        (
            "/bad-header",
            "ValueError: carriage return/line feed character present in header value",
        ),
        (
            "/bad-header-type",
            "TypeError: expected unicode object, value of type int found",
        ),
        (
            "/headers-tuple",
            "TypeError: start_response() argument 2 must be list, not tuple",
        ),
        (
            "/str-body",
            "TypeError: sequence of byte string values expected, value of type str found",
        ),
        ("/none", "TypeError: 'NoneType' object is not iterable"),
    ] {
        let events = get(&resp(), path);
        assert!(
            matches!(events.as_slice(), [ResponseEvent::Failed(500)]),
            "{path}: {events:?}"
        );
        assert!(!log_lines(text).is_empty(), "{path}: no log line {text:?}");
    }
}

#[test]
fn odd_status_and_latin1_headers_pass_through() {
    let events = get(&resp(), "/latin1");
    let (head, _) = complete(&events);
    assert_eq!((head.status, head.reason()), (299, "Custom Reason"));
    assert_eq!(header(head, "x-latin1"), Some("caf\u{e9}"));
}

const FILES: &str = r#"
import builtins
STATE = builtins.__dict__.setdefault("_wsgid_fw_state", [])
DATA = os.path.join(os.path.dirname(__file__), "fw-data.txt")

class NotAFile:
    def __init__(self):
        self.f = open(DATA, "rb")
    def read(self, n=-1):
        return self.f.read(n)
    def close(self):
        STATE.append("filelike-closed")
        self.f.close()

def application(environ, start_response):
    p = environ["PATH_INFO"]
    if p == "/native":
        f = open(DATA, "rb")
        f.read(4)
        start_response("200 OK", [("Content-Type", "text/plain")])
        return environ["wsgi.file_wrapper"](f, 8)
    if p == "/native-cl":
        start_response("200 OK", [("Content-Length", "5")])
        return environ["wsgi.file_wrapper"](open(DATA, "rb"))
    if p == "/iterated":
        start_response("200 OK", [("Content-Type", "text/plain")])
        return environ["wsgi.file_wrapper"](NotAFile(), 16)
    if p == "/state":
        return reply(start_response, {"state": STATE})
"#;

#[test]
fn file_wrapper_uses_the_native_path_for_regular_files() {
    let data = harness().dir.path().join("fw-data.txt");
    std::fs::write(&data, b"file wrapper content: 0123456789").expect("write data");
    let path = script("files", &format!("{PRELUDE}{FILES}"));

    let events = get(&path, "/native");
    let [
        ResponseEvent::Head(head),
        ResponseEvent::File { file, offset, len },
        ResponseEvent::End,
    ] = events.as_slice()
    else {
        panic!("expected Head, File, End: {events:?}");
    };
    assert_eq!((*offset, *len), (4, Some(28)));
    assert_eq!(header(head, "content-length"), Some("28"));
    let mut buf = [0u8; 8];
    std::os::unix::fs::FileExt::read_exact_at(file, &mut buf, *offset).expect("read dup");
    assert_eq!(&buf, b" wrapper");

    let events = get(&path, "/native-cl");
    let [
        ResponseEvent::Head(head),
        ResponseEvent::File { len, .. },
        ResponseEvent::End,
    ] = events.as_slice()
    else {
        panic!("expected Head, File, End: {events:?}");
    };
    assert_eq!((header(head, "content-length"), *len), (Some("5"), Some(5)));

    let events = get(&path, "/iterated");
    let (_, body, last) = streamed(&events);
    assert_eq!(body, b"file wrapper content: 0123456789");
    assert!(matches!(last, ResponseEvent::End));
    let state = lines(&get(&path, "/state"));
    assert_line(&state, "state=['filelike-closed']");
}

const ENDLESS: &str = r#"
import time
MARK = os.path.join(os.path.dirname(__file__), "endless-closed")
class Endless:
    def __iter__(self):
        while True:
            yield b"x" * 1024
    def close(self):
        open(MARK, "w").close()

def application(environ, start_response):
    start_response("200 OK", [])
    return Endless()
"#;

#[test]
fn a_gone_client_stops_iteration_and_close_runs() {
    let path = script("endless", &format!("{PRELUDE}{ENDLESS}"));
    let mark = harness().dir.path().join("endless-closed");
    let (req, rx) = request(&path, "/", body(&[]));
    drop(rx);
    harness().host.submit(req).expect("submit");
    for _ in 0..500 {
        if mark.exists() {
            return;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    panic!("close() was not called after the client went away");
}

#[test]
fn many_small_requests_round_trip() {
    let path = script(
        "hello",
        "def application(e, s):\n    s('200 OK', [('Content-Type', 'text/plain')])\n    return [b'Hello, World!']\n",
    );
    let started = std::time::Instant::now();
    for _ in 0..500 {
        let events = get(&path, "/");
        assert_eq!(complete(&events).1, b"Hello, World!");
    }
    eprintln!("500 requests in {:?}", started.elapsed());
}
