//! The HTTP connection and request-line rules: `Timeout`, `KeepAlive*`,
//! `LimitRequest*`, `TraceEnable`, `AllowEncodedSlashes`, `Protocols`,
//! `ProtocolsHonorOrder`, `HttpProtocolOptions`.

use super::{atoi, number, one_of, timeout};
use crate::builder::Builder;
use crate::model::{EncodedSlashes, RecursionLimit, TraceEnable};
use crate::registry::{Action::*, Arity::*, *};

// One row per line reads as a table; rustfmt would explode it.
#[rustfmt::skip]
pub const ROWS: &[Row] = &[
    row("Timeout", Take1, RSRC_CONF, 0, "Timeout duration (sec)", Set(set_timeout)),
    row("KeepAlive", Flag, RSRC_CONF, 0, "Whether persistent connections should be On or Off", Set(keep_alive)),
    row("KeepAliveTimeout", Take1, RSRC_CONF, 0, "Keep-Alive timeout duration (sec)", Set(keep_alive_timeout)),
    row("MaxKeepAliveRequests", Take1, RSRC_CONF, 0, "Maximum number of Keep-Alive requests per connection, or 0 for infinite", Set(max_keep_alive)),
    row("LimitRequestLine", Take1, RSRC_CONF, GLOBAL_ONLY, "Limit on maximum size of an HTTP request line", Set(limit_line)),
    row("LimitRequestFieldsize", Take1, RSRC_CONF, GLOBAL_ONLY, "Limit on maximum size of an HTTP request header field", Set(limit_field_size)),
    row("LimitRequestFields", Take1, RSRC_CONF, GLOBAL_ONLY, "Limit (0 = unlimited) on max number of header fields in a request message", Set(limit_fields)),
    row("LimitInternalRecursion", Take12, RSRC_CONF, 0, "maximum recursion depth of internal redirects and subrequests", Set(recursion_limit)),
    row("TraceEnable", Take1, RSRC_CONF, 0, "'on' (default), 'off' or 'extended' to trace request body content", Set(trace_enable)),
    row("AllowEncodedSlashes", Take1, RSRC_CONF, 0, "Allow URLs containing '/' encoded as '%2F'", Set(allow_encoded_slashes)),
    row("Protocols", Iterate, RSRC_CONF, 0, "Controls which protocols are allowed", Set(protocols)),
    row("ProtocolsHonorOrder", Take1, RSRC_CONF, 0, "'off' (default) or 'on' to respect given order of protocols, by default the client specified order determines selection", Set(protocols_honor_order)),
    row("HttpProtocolOptions", Iterate, RSRC_CONF, 0, "'Allow0.9' or 'Require1.0' (default); 'RegisteredMethods' or 'LenientMethods' (default); 'Unsafe' or 'Strict' (default). Sets HTTP acceptance rules", Set(http_protocol_options)),
];

fn set_timeout(b: &mut Builder, a: &Args) -> Result<(), String> {
    let t = timeout("Timeout", a.get(0))?;
    if !b.in_vhost() {
        b.cfg.timeout = t;
    }
    b.host().timeout = t;
    b.meta().timeout = true;
    Ok(())
}

fn keep_alive(b: &mut Builder, a: &Args) -> Result<(), String> {
    let on = a.get(0).eq_ignore_ascii_case("on");
    if !b.in_vhost() {
        b.cfg.keep_alive = on;
    }
    b.host().keep_alive = on;
    b.meta().keep_alive = true;
    Ok(())
}

fn keep_alive_timeout(b: &mut Builder, a: &Args) -> Result<(), String> {
    let t = timeout("KeepAliveTimeout", a.get(0))?;
    if !b.in_vhost() {
        b.cfg.keep_alive_timeout = t;
    }
    b.host().keep_alive_timeout = t;
    b.meta().keep_alive_timeout = true;
    Ok(())
}

fn max_keep_alive(b: &mut Builder, a: &Args) -> Result<(), String> {
    // Apache uses atoi(): junk reads as 0 (unlimited); be stricter.
    let n = number::<u32>("MaxKeepAliveRequests", a.get(0))?;
    if !b.in_vhost() {
        b.cfg.max_keep_alive_requests = n;
    }
    b.host().max_keep_alive_requests = n;
    b.meta().max_keep_alive_requests = true;
    Ok(())
}

fn limit_line(b: &mut Builder, a: &Args) -> Result<(), String> {
    b.cfg.limit_request_line = number("LimitRequestLine", a.get(0))?;
    Ok(())
}

fn limit_field_size(b: &mut Builder, a: &Args) -> Result<(), String> {
    b.cfg.limit_request_field_size = number("LimitRequestFieldsize", a.get(0))?;
    Ok(())
}

fn limit_fields(b: &mut Builder, a: &Args) -> Result<(), String> {
    b.cfg.limit_request_fields = number("LimitRequestFields", a.get(0))?;
    Ok(())
}

/// `LimitInternalRecursion redirects [subrequests]` (`set_recursion_limit`,
/// whose `atoi` reads a leading number and takes anything else as 0).
/// With one number, it limits both, as in Apache.
fn recursion_limit(b: &mut Builder, a: &Args) -> Result<(), String> {
    let span = b.current_span.clone();
    // One limit: positive, with Apache's warning when below 4.
    let mut limit = |word: &str, warning: &str| -> Result<u32, String> {
        let n = atoi(word);
        if n <= 0 {
            return Err("The recursion limit must be greater than zero.".to_owned());
        }
        if n < 4 {
            b.warn(warning.to_owned(), &span);
        }
        Ok(u32::try_from(n).unwrap_or(u32::MAX))
    };
    let redirects = limit(
        a.get(0),
        "AH00119: Limiting internal redirects to very low numbers may cause normal requests to fail.",
    )?;
    let subrequests = if a.words.len() > 1 {
        limit(
            a.get(1),
            "AH00120: Limiting the subrequest depth to a very low level may cause normal requests to fail.",
        )?
    } else {
        redirects
    };
    b.host().recursion_limit = RecursionLimit {
        redirects,
        subrequests,
    };
    b.meta().recursion_limit = true;
    Ok(())
}

fn trace_enable(b: &mut Builder, a: &Args) -> Result<(), String> {
    let t = one_of(
        a.get(0),
        &[
            ("on", TraceEnable::On),
            ("off", TraceEnable::Off),
            ("extended", TraceEnable::Extended),
        ],
        "TraceEnable must be one of 'on', 'off', or 'extended'",
    )?;
    b.host().trace_enable = t;
    b.meta().trace_enable = true;
    Ok(())
}

fn allow_encoded_slashes(b: &mut Builder, a: &Args) -> Result<(), String> {
    let e = one_of(
        a.get(0),
        &[
            ("on", EncodedSlashes::On),
            ("off", EncodedSlashes::Off),
            ("nodecode", EncodedSlashes::NoDecode),
        ],
        "AllowEncodedSlashes must be On, Off, or NoDecode",
    )?;
    b.host().encoded_slashes = e;
    b.meta().encoded_slashes = true;
    Ok(())
}

/// `Protocols`: wsgid speaks `http/1.1` only, as Apache does without a
/// module that provides another protocol (no mod_http2: `h2`/`h2c` are
/// then never chosen, and HTTP/1.1 is served even when the list leaves it
/// out).  A protocol wsgid cannot speak is a startup warning rather than
/// silence.
fn protocols(b: &mut Builder, a: &Args) -> Result<(), String> {
    let span = b.current_span.clone();
    for p in a.words.iter().filter(|w| !w.is_empty()) {
        if !p.eq_ignore_ascii_case("http/1.1") {
            b.warn(
                format!(
                    "Protocols: '{}' is not available in wsgid (no HTTP/2); connections speak http/1.1, \
                     as Apache's do without a module that provides it (line {} of {})",
                    p.to_ascii_lowercase(),
                    span.line,
                    span.file.display()
                ),
                &span,
            );
        }
    }
    Ok(())
}

/// `ProtocolsHonorOrder`: with one protocol there is no order to honour;
/// the value is checked as Apache checks it, then the line is ignored.
fn protocols_honor_order(b: &mut Builder, a: &Args) -> Result<(), String> {
    let v = a.get(0);
    if !v.eq_ignore_ascii_case("on") && !v.eq_ignore_ascii_case("off") {
        return Err("ProtocolsHonorOrder must be 'on' or 'off'".to_owned());
    }
    let span = b.current_span.clone();
    b.cfg.ignored.push(("ProtocolsHonorOrder".to_owned(), span));
    Ok(())
}

/// core.c `set_http_protocol_options`: each word sets a bit, a pair of
/// opposites is refused (also across lines).  `Unsafe` (lenient request
/// line and header parsing) is not implemented; inside `<VirtualHost>` it
/// is refused too, because wsgid reads request lines with the server's
/// settings (Apache uses the address's default virtual host's).
fn http_protocol_options(b: &mut Builder, a: &Args) -> Result<(), String> {
    const WORDS: [&str; 6] = [
        "Allow0.9",
        "Require1.0",
        "Strict",
        "Unsafe",
        "RegisteredMethods",
        "LenientMethods",
    ];
    if b.in_vhost() {
        return Err(
            "HttpProtocolOptions inside <VirtualHost>: not implemented yet in wsgid (request lines are read with the server's settings)"
                .to_owned(),
        );
    }
    for word in a.words.iter().filter(|w| !w.is_empty()) {
        let Some(known) = WORDS.iter().find(|k| k.eq_ignore_ascii_case(word)) else {
            return Err("HttpProtocolOptions accepts 'Unsafe' or 'Strict' (default), 'RegisteredMethods' or 'LenientMethods' (default), and 'Require1.0' or 'Allow0.9' (default)".to_owned());
        };
        b.http_protocol_words.push(known);
        let seen = |w: &str| b.http_protocol_words.contains(&w);
        for (one, other) in [
            ("Allow0.9", "Require1.0"),
            ("Strict", "Unsafe"),
            ("RegisteredMethods", "LenientMethods"),
        ] {
            if seen(one) && seen(other) {
                return Err(format!(
                    "HttpProtocolOptions '{one}' and '{other}' are mutually exclusive"
                ));
            }
        }
        if *known == "Unsafe" {
            return Err("HttpProtocolOptions Unsafe: not implemented yet in wsgid (lenient request parsing)".to_owned());
        }
    }
    b.cfg.registered_methods_only = b.http_protocol_words.contains(&"RegisteredMethods");
    b.cfg.require_http10 = b.http_protocol_words.contains(&"Require1.0");
    Ok(())
}
