//! The per-request Python objects (`request_objects.rs`): objects the
//! application kept expire and stay expired; objects nobody kept serve the
//! next requests as if new (no status, header, body or log state carried
//! over).

use super::*;

const KEEPER: &str = r#"
import builtins
KEPT = builtins.__dict__.setdefault("_wsgid_kept_objects", {})

def application(environ, start_response):
    p = environ["PATH_INFO"]
    out = {}
    if p == "/keep":
        KEPT["input"] = environ["wsgi.input"]
        KEPT["errors"] = environ["wsgi.errors"]
        KEPT["start_response"] = start_response
        out["body"] = environ["wsgi.input"].read()
    elif p == "/use-kept":
        for name, call in [
            ("input", lambda: KEPT["input"].read()),
            ("errors", lambda: KEPT["errors"].write("late\n")),
            ("start_response", lambda: KEPT["start_response"]("200 OK", [])),
        ]:
            try:
                call()
                out[name] = "no error"
            except Exception as e:
                out[name] = "%s: %s" % (type(e).__name__, e)
        out["body"] = environ["wsgi.input"].read()
    elif p == "/partial":
        # Reads part of its body and leaves a line unfinished in wsgi.errors.
        out["first"] = environ["wsgi.input"].read(2)
        environ["wsgi.errors"].write("unfinished")
        start_response("201 Created", [("X-Once", "1")])
        return [repr(out).encode()]
    else:
        out["body"] = environ["wsgi.input"].read()
        out["lines"] = environ["wsgi.input"].readlines()
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [repr(out).encode()]
"#;

fn answer(path_info: &str, chunks: &[&str]) -> (u16, Vec<(String, String)>, String) {
    let path = script("request_objects", KEEPER);
    let (req, rx) = request(&path, path_info, body(chunks));
    let events = run(req, rx);
    let (head, data) = complete(&events);
    let headers = head
        .headers()
        .map(|(n, v)| (n.to_owned(), v.to_owned()))
        .collect();
    (
        head.status,
        headers,
        String::from_utf8_lossy(data).into_owned(),
    )
}

#[test]
fn kept_objects_expire_and_fresh_ones_carry_nothing_over() {
    let (status, _, text) = answer("/keep", &["kept body"]);
    assert_eq!(status, 200);
    assert!(text.contains("'body': b'kept body'"), "{text}");
    // Many requests, so that each request thread runs several, with
    // reused objects among them.
    for n in 0..12 {
        let (status, headers, text) = answer("/use-kept", &["new ", "body"]);
        assert_eq!(status, 200, "{n}: {text}");
        assert!(
            text.contains("'input': 'RuntimeError: request object has expired'"),
            "{n}: {text}"
        );
        assert!(
            text.contains("'errors': 'RuntimeError: log object has expired'"),
            "{n}: {text}"
        );
        assert!(
            text.contains("'start_response': 'RuntimeError: request object has expired'"),
            "{n}: {text}"
        );
        assert!(text.contains("'body': b'new body'"), "{n}: {text}");
        assert_eq!(headers, [("Content-Type".into(), "text/plain".into())]);

        let (status, headers, text) = answer("/partial", &["abcdef"]);
        assert_eq!((status, text.as_str()), (201, "{'first': b'ab'}"), "{n}");
        assert_eq!(headers, [("X-Once".into(), "1".into())]);

        // The next request on a thread that just served /partial: its own
        // body whole, no status or headers of the one before.
        let (status, headers, text) = answer("/plain", &["line 1\n", "line 2\n"]);
        assert_eq!(status, 200, "{n}");
        assert_eq!(text, "{'body': b'line 1\\nline 2\\n', 'lines': []}", "{n}");
        assert_eq!(headers, [("Content-Type".into(), "text/plain".into())]);
    }
    // /partial's unfinished line was logged when its request ended, never
    // prefixed to a later request's output.
    assert!(!log_lines("unfinished").is_empty());
    assert!(log_lines("late").is_empty());
}
