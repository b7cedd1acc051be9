//! `wsgi.input` over chunked bodies (oracle case 19) and `wsgi.errors` /
//! `sys.stderr` lines in the error log.

use super::*;

const INPUT: &str = r#"
def application(environ, start_response):
    inp = environ["wsgi.input"]
    p = environ["PATH_INFO"]
    out = {}
    if p == "/read":
        out["read"] = inp.read()
        out["again"] = inp.read()
    elif p == "/read-n":
        parts = []
        while True:
            b = inp.read(4)
            if not b:
                break
            parts.append(b)
        out["parts"] = parts
    elif p == "/readline":
        out["line1"] = inp.readline()
        out["limited"] = inp.readline(3)
        out["rest_of_line"] = inp.readline()
        out["zero"] = inp.read(0)
        out["rest"] = inp.read()
        out["after"] = inp.readline()
    elif p == "/readlines":
        out["lines"] = inp.readlines()
    elif p == "/readlines-hint":
        out["lines"] = inp.readlines(5)
    elif p == "/iterate":
        out["lines"] = [x for x in inp]
    elif p == "/error":
        try:
            inp.read()
        except IOError as e:
            out["first"] = str(e)
        try:
            inp.read(1)
        except OSError as e:
            out["second"] = str(e)
    return reply(start_response, out)
"#;

const LINES: &[&str] = &[
    "fir",
    "st line\nsec",
    "ond line\nth",
    "ird\nlast-no-newline",
];

fn input(path_info: &str, chunks: &[&str]) -> Vec<String> {
    let path = script("input", &format!("{PRELUDE}{INPUT}"));
    let (req, rx) = request(&path, path_info, body(chunks));
    lines(&run(req, rx))
}

#[test]
fn read_all_and_in_blocks_across_chunks() {
    let l = input("/read", &["hello", " ", "body"]);
    assert_line(&l, "read=b'hello body'");
    assert_line(&l, "again=b''");
    let l = input("/read-n", &["abc", "defghi", "j"]);
    assert_line(&l, "parts=[b'abcd', b'efgh', b'ij']");
    let l = input("/read", &[]);
    assert_line(&l, "read=b''");
}

#[test]
fn readline_readlines_and_iteration() {
    let l = input("/readline", LINES);
    assert_line(&l, "line1=b'first line\\n'");
    assert_line(&l, "limited=b'sec'");
    assert_line(&l, "rest_of_line=b'ond line\\n'");
    assert_line(&l, "zero=b''");
    assert_line(&l, "rest=b'third\\nlast-no-newline'");
    assert_line(&l, "after=b''");

    let all = "lines=[b'first line\\n', b'second line\\n', b'third\\n', b'last-no-newline']";
    assert_line(&input("/readlines", LINES), all);
    assert_line(&input("/iterate", LINES), all);
    assert_line(&input("/readlines-hint", LINES), "lines=[b'first line\\n']");
}

#[test]
fn body_errors_raise_ioerror_then_stay_failed() {
    let path = script("input", &format!("{PRELUDE}{INPUT}"));
    let failing = Box::new(ChunkedBody {
        chunks: [Bytes::from_static(b"partial")].into_iter().collect(),
        error: Some(BodyError::Io("Connection reset by peer".into())),
    });
    let (req, rx) = request(&path, "/error", failing);
    let l = lines(&run(req, rx));
    assert_line(
        &l,
        "first='Apache/mod_wsgi request data read error: Connection reset by peer.'",
    );
    assert_line(
        &l,
        "second='Apache/mod_wsgi request data read error: Input is already in error state.'",
    );
}

const ERRORS: &str = r#"
import threading
def application(environ, start_response):
    err = environ["wsgi.errors"]
    err.write("errors-marker-alpha\nerrors-marker-beta")
    err.write("errors-marker-continued\n")
    print("stderr-marker-gamma", file=sys.stderr)
    err.writelines(["errors-marker-delta\n"])
    partial = "errors-marker-unterminated"
    err.write(partial)
    def background():
        print("stderr-marker-thread", file=sys.stderr)
    t = threading.Thread(target=background)
    t.start()
    t.join()
    return reply(start_response, {"ok": True})
"#;

#[test]
fn wsgi_errors_and_stderr_lines_carry_the_client() {
    let path = script("errors", &format!("{PRELUDE}{ERRORS}"));
    let events = get(&path, "/");
    assert_line(&lines(&events), "ok=True");
    let client = "[client 127.0.0.1:5555] ";
    for text in [
        "errors-marker-alpha",
        // Line buffering as TextIOWrapper(line_buffering=True): a write
        // with a newline also flushes its incomplete last line.
        "errors-marker-beta",
        "errors-marker-continued",
        "stderr-marker-gamma",
        "errors-marker-delta",
        // Flushed when the request ended.
        "errors-marker-unterminated",
    ] {
        let found = log_lines(text);
        assert_eq!(found.len(), 1, "{text}: {found:?}");
        assert!(found[0].contains("] [wsgi:error] [pid "), "{}", found[0]);
        assert_eq!(message(&found[0]), format!("{client}{text}"));
    }
    // A thread of the application's own has no request: main log, no peer.
    let thread = log_lines("stderr-marker-thread");
    assert_eq!(thread.len(), 1);
    assert_eq!(message(&thread[0]), "stderr-marker-thread");
}
