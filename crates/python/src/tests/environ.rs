//! The environ is the same whether it was built entry by entry or copied
//! from the previous request's (`environ/cache.rs`): a run of requests whose
//! names and values change in every way the cache distinguishes, each
//! checked against the environ it should see.

use super::{body, complete, request_with, script};
use crate::{CgiEnv, ResponseEvent};

/// Answers the string entries in dict order, one `key=value` per line
/// (the per-request `mod_wsgi.script_start` left out), and mutates the
/// environ afterwards, as applications may.
const DUMP: &str = r#"
def application(environ, start_response):
    out = ''.join('%s=%s\n' % (k, v) for k, v in environ.items()
                  if isinstance(v, str) and k != 'mod_wsgi.script_start')
    environ['HTTP_HOST'] = 'changed by the app'
    environ['ADDED_BY_APP'] = '1'
    del environ['REQUEST_METHOD']
    start_response('200 OK', [('Content-Type', 'text/plain')])
    return [out.encode()]
"#;

fn dump(script: &std::path::Path, pairs: &[(&str, &str)], group: &str) -> String {
    let environ: CgiEnv = pairs.iter().copied().collect();
    let (req, rx) = request_with(script, environ, group, body(&[]));
    let events: Vec<ResponseEvent> = super::run(req, rx);
    String::from_utf8_lossy(complete(&events).1).into_owned()
}

/// What `dump` should answer: the pairs in first-seen order with the last
/// value of a repeated name, without PATH and HTTPS, then the Python side.
fn expected(pairs: &[(&str, &str)], group: &str) -> String {
    let mut order: Vec<&str> = Vec::new();
    let mut values = std::collections::HashMap::new();
    for &(k, v) in pairs {
        if k == "PATH" || k == "HTTPS" {
            continue;
        }
        if values.insert(k, v).is_none() {
            order.push(k);
        }
    }
    values.insert("mod_wsgi.application_group", group);
    values.insert("mod_wsgi.callable_object", "application");
    let mut out = String::new();
    for k in &order {
        out.push_str(&format!("{k}={}\n", values[k]));
    }
    for k in ["mod_wsgi.application_group", "mod_wsgi.callable_object"] {
        if !order.contains(&k) {
            out.push_str(&format!("{k}={}\n", values[k]));
        }
    }
    out.push_str("wsgi.url_scheme=http\n");
    out
}

#[test]
fn copied_environs_equal_built_ones() {
    let path = script("environ_cache", DUMP);
    let base: Vec<(&str, &str)> = vec![
        ("HTTP_HOST", "example.org"),
        ("HTTP_ACCEPT", "*/*"),
        ("PATH", "/usr/bin"),
        ("REMOTE_PORT", "1000"),
        ("REQUEST_METHOD", "GET"),
        ("PATH_INFO", "/a"),
        ("mod_wsgi.application_group", "g"),
    ];
    let mut cases: Vec<(Vec<(&str, &str)>, &str)> = Vec::new();
    // The same request five times (on each of the two request threads,
    // the second one makes the template and the later ones are copies).
    for _ in 0..5 {
        cases.push((base.clone(), "g"));
    }
    // Values change, names do not.
    let mut v = base.clone();
    v[3].1 = "1001";
    v[5].1 = "/b";
    cases.push((v.clone(), "g"));
    v[3].1 = "";
    cases.push((v, "g"));
    // A name more, a name less, the same names in another order.
    let mut more = base.clone();
    more.push(("HTTP_COOKIE", "a=b"));
    cases.push((more.clone(), "g"));
    cases.push((more, "g"));
    cases.push((base[1..].to_vec(), "g"));
    let mut swapped = base.clone();
    swapped.swap(0, 1);
    cases.push((swapped.clone(), "g"));
    cases.push((swapped, "g"));
    // A repeated name: the later value wins, also in the request after.
    let mut twice = base.clone();
    twice.push(("HTTP_HOST", "second.example.org"));
    cases.push((twice.clone(), "g"));
    twice[0].1 = "first.example.org";
    cases.push((twice, "g"));
    // The front end's copy of a Python-side value changes, or the group.
    cases.push((base.clone(), "g"));
    let mut group = base.clone();
    group[6].1 = "other";
    cases.push((group, "g"));
    cases.push((base.clone(), "h"));
    cases.push((base.clone(), "h"));
    // Two request threads serve these in any order; run the list twice so
    // that each thread sees most transitions.
    for _ in 0..2 {
        for (pairs, group) in &cases {
            assert_eq!(
                dump(&path, pairs, group),
                expected(pairs, group),
                "{pairs:?}"
            );
        }
    }
}

/// Long values that change with every request: the cache keeps replaced
/// values' bytes until they outweigh the live ones, then compacts; every
/// environ must still be the request's own.
#[test]
fn long_changing_values_stay_right_across_compactions() {
    let path = script("environ_cache_long", DUMP);
    for n in 0..40 {
        let cookie = format!("{n}-{}", "c".repeat(3000 + n));
        let agent = format!("agent {}", n % 3);
        let pairs = vec![
            ("HTTP_HOST", "example.org"),
            ("HTTP_COOKIE", cookie.as_str()),
            ("HTTP_USER_AGENT", agent.as_str()),
            ("REQUEST_METHOD", "GET"),
            ("mod_wsgi.application_group", "g"),
        ];
        assert_eq!(dump(&path, &pairs, "g"), expected(&pairs, "g"), "{n}");
    }
}
