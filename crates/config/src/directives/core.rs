//! Core server directives: files and identity (ServerRoot, PidFile, User,
//! ServerName...), the network (Listen, Timeout, KeepAlive...), request
//! limits, read-time directives, and the core directives wsgid accepts
//! without effect or does not implement yet.

use std::net::IpAddr;

use super::{core_flag, one_of};
use crate::builder::Builder;
use crate::model::{AcceptPathInfo, CanonicalName, Listen, ServerSignature, ServerTokens};
use crate::registry::{Action::*, Arity::*, *};

const NET: &str = "network tuning of Apache's own listener; wsgid's front end uses its defaults";

// One row per line reads as a table; rustfmt would explode it.
#[rustfmt::skip]
pub const ROWS: &[Row] = &[
    row("ServerRoot", Take1, RSRC_CONF, GLOBAL_ONLY, "Common directory of server-related files (logs, confs, etc.)", ReadTime),
    row("DefaultRuntimeDir", Take1, RSRC_CONF, GLOBAL_ONLY, "Common directory for run-time files (shared memory, locks, etc.)", Set(runtime_dir)),
    row("PidFile", Take1, RSRC_CONF, 0, "A file for logging the server process ID", Set(pid_file)),
    row("User", Take1, RSRC_CONF, GLOBAL_ONLY, "Effective user id for this server", Set(user)),
    row("Group", Take1, RSRC_CONF, GLOBAL_ONLY, "Effective group id for this server", Set(group)),
    row("Listen", Argv, RSRC_CONF, GLOBAL_ONLY, "A port number or a numeric IP address and a port number, and an optional protocol", Set(listen)),
    row("ServerName", Take1, RSRC_CONF, 0, "The hostname and port of the server", Set(server_name)),
    row("ServerAlias", Raw, RSRC_CONF, 0, "A name or names alternately used to access the server", Set(server_alias)),
    row("ServerAdmin", Take1, RSRC_CONF, 0, "The email address of the server administrator", Set(server_admin)),
    row("DocumentRoot", Take1, RSRC_CONF, 0, "Root directory of the document tree", Set(document_root)),
    row("ServerSignature", Take1, OR_ALL, 0, "En-/disable server signature (on|off|email)", Set(server_signature)),
    row("ServerTokens", Take1, RSRC_CONF, GLOBAL_ONLY, "Determine tokens displayed in the Server: header - Min(imal), Major, Minor, Prod(uctOnly), OS, or Full", Set(server_tokens)),
    row("EnableSendfile", Take1, OR_FILEINFO, 0, "Controls whether sendfile may be used to transmit files", Set(enable_sendfile)),
    row("UseCanonicalName", Take1, RSRC_CONF | ACCESS_CONF, 0, "How to work out the ServerName : Port when constructing URLs", Set(use_canonical_name)),
    row("HostnameLookups", Take1, ACCESS_CONF | RSRC_CONF, 0, "\"on\" to enable, \"off\" to disable reverse DNS lookups, or \"double\" to enable double-reverse DNS lookups", Set(hostname_lookups)),
    row("AccessFileName", Raw, RSRC_CONF, NOT_IN_DIR_CONTEXT, "Name(s) of per-directory config files (default: .htaccess)", Set(access_file_name)),
    // Executed by the reader; the rows give arity and context.
    row("Define", Take12, RSRC_CONF, 0, "Define a variable, optionally to a value.  Same as passing -D to the command line.", ReadTime),
    row("UnDefine", Take1, RSRC_CONF, 0, "Undefine the existence of a variable. Undo a Define.", ReadTime),
    row("Include", Take1, RSRC_CONF | ACCESS_CONF, 0, "Name(s) of the config file(s) to be included; fails if the wildcard does not match at least one file", ReadTime),
    row("IncludeOptional", Take1, RSRC_CONF | ACCESS_CONF, 0, "Name or pattern of the config file(s) to be included; ignored if the file does not exist or the pattern does not match any files", ReadTime),
    // Accepted, without meaning for wsgid.
    row("LoadModule", Take2, RSRC_CONF, GLOBAL_ONLY, "a module name and the name of a shared object file to load it from", Ignored("modules are built into wsgid; the name only feeds <IfModule>")),
    row("LoadFile", Iterate, RSRC_CONF, GLOBAL_ONLY, "shared object file or library to load into the server at runtime", Ignored("wsgid links libpython itself")),
    row("Mutex", Raw, RSRC_CONF, GLOBAL_ONLY, "mutex (or \"default\") and mechanism", Ignored("wsgid uses no cross-process accept or log mutexes")),
    row("EnableMMAP", Take1, OR_FILEINFO, 0, "Controls whether memory-mapping may be used to read files", Ignored("wsgid never memory-maps files it serves")),
    row("ListenBacklog", Take1, RSRC_CONF, GLOBAL_ONLY, "Maximum length of the queue of pending connections, as used by listen(2)", Ignored(NET)),
    row("SendBufferSize", Take1, RSRC_CONF, GLOBAL_ONLY, "Send buffer size in bytes", Ignored(NET)),
    row("ReceiveBufferSize", Take1, RSRC_CONF, GLOBAL_ONLY, "Receive buffer size in bytes", Ignored(NET)),
    row("AcceptFilter", Take2, RSRC_CONF, GLOBAL_ONLY, "Set the Accept Filter to use for a protocol", Ignored(NET)),
    row("ExtendedStatus", Flag, RSRC_CONF, GLOBAL_ONLY, "\"On\" to track extended status information, \"Off\" to disable", Ignored("wsgid has no mod_status scoreboard")),
    row("ScoreBoardFile", Take1, RSRC_CONF, GLOBAL_ONLY, "A file for Apache to maintain runtime process management information", Ignored("wsgid has no scoreboard")),
    row("MaxMemFree", Take1, RSRC_CONF, GLOBAL_ONLY, "Maximum number of 1k blocks a particular child's allocator may hold.", Ignored("APR allocator tuning; wsgid has no APR pools")),
    row("ThreadStackSize", Take1, RSRC_CONF, GLOBAL_ONLY, "Size in bytes of stack used by threads handling client connections", Ignored("front-end threads are tokio's")),
    row("CoreDumpDirectory", Take1, RSRC_CONF, GLOBAL_ONLY, "The location of the directory Apache changes to before dumping core", Ignored("wsgid does not chdir for core dumps")),
    row("LimitXMLRequestBody", Take1, OR_ALL, 0, "Limit (in bytes) on maximum size of an XML-based request body", Ignored("no wsgid module parses XML bodies")),
    row("NameVirtualHost", Take1, RSRC_CONF, 0, "A numeric IP address:port, or the name of a host", Ignored("obsolete since Apache 2.3.11: name-based hosting is automatic")),
    // Known, not implemented yet.
    row("ServerPath", Take1, RSRC_CONF, 0, "The pathname the server can be reached at", Planned("ServerPath")),
    row("ErrorDocument", Take2, OR_FILEINFO, 0, "Change responses for HTTP errors", Set(error_document)),
    row("ForceType", Take1, OR_FILEINFO, 0, "a mime type that overrides other configured type", Set(force_type)),
    row("AddDefaultCharset", Take1, OR_FILEINFO, 0, "The name of the default charset to add to any Content-Type without one or 'Off' to disable", Set(add_default_charset)),
    row("AcceptPathInfo", Take1, OR_FILEINFO, 0, "Set to on or off for PATH_INFO to be accepted by handlers, or default for the per-handler preference", Set(accept_path_info)),
    row("FileETag", Raw, OR_FILEINFO, 0, "Specify components used to construct a file's ETag", Set(file_etag)),
    row("ErrorLogFormat", Take12, RSRC_CONF, 0, "Format string for the ErrorLog", Planned("custom error log formats")),
    row("ChrootDir", Take1, RSRC_CONF, GLOBAL_ONLY, "The directory to chroot(2) into", Planned("chroot")),
    row("Error", Raw, OR_ALL, 0, "Generate error message from within configuration.", Set(error_directive)),
];

fn runtime_dir(b: &mut Builder, a: &Args) -> Result<(), String> {
    b.runtime_dir_arg = Some(a.get(0).to_owned());
    Ok(())
}

fn pid_file(b: &mut Builder, a: &Args) -> Result<(), String> {
    if b.in_vhost() {
        return Err("PidFile directive not allowed in <VirtualHost>".to_owned());
    }
    b.pid_file_arg = Some(a.get(0).to_owned());
    Ok(())
}

fn user(b: &mut Builder, a: &Args) -> Result<(), String> {
    b.cfg.user = Some(a.get(0).to_owned());
    Ok(())
}

fn group(b: &mut Builder, a: &Args) -> Result<(), String> {
    b.cfg.group = Some(a.get(0).to_owned());
    Ok(())
}

fn listen(b: &mut Builder, a: &Args) -> Result<(), String> {
    if a.words.is_empty() || a.words.len() > 2 {
        return Err("Listen requires 1 or 2 arguments.".to_owned());
    }
    if let Some(proto) = a.words.get(1)
        && !proto.eq_ignore_ascii_case("http")
    {
        return Err(format!(
            "Listen: protocol '{proto}' is not implemented yet in wsgid (only http)"
        ));
    }
    let (addr, port) = parse_host_port(a.get(0))?;
    let port = port.ok_or_else(|| "Port must be specified".to_owned())?;
    let addr = match addr.as_deref() {
        None | Some("*") => None,
        Some(h) => Some(h.parse::<IpAddr>().map_err(|_| {
            format!("Listen: host name '{h}' is not supported by wsgid; give a numeric IP address")
        })?),
    };
    // The span is the directive's; the builder knows it only through Args.
    let span = b.current_span.clone();
    b.cfg.listen.push(Listen { addr, port, span });
    Ok(())
}

/// Splits `host:port`, `[v6]:port`, `port` or `host` (apr_parse_addr_port).
pub fn parse_host_port(s: &str) -> Result<(Option<String>, Option<u16>), String> {
    let bad = || "Invalid address or port".to_owned();
    let port_of = |p: &str| p.parse::<u16>().ok().filter(|p| *p != 0).ok_or_else(bad);
    if let Some(v6) = s.strip_prefix('[') {
        let (host, rest) = v6.split_once(']').ok_or_else(bad)?;
        let port = match rest.strip_prefix(':') {
            Some(p) => Some(port_of(p)?),
            None if rest.is_empty() => None,
            None => return Err(bad()),
        };
        return Ok((Some(host.to_owned()), port));
    }
    if s.bytes().all(|c| c.is_ascii_digit()) {
        return Ok((None, Some(port_of(s)?)));
    }
    match s.rsplit_once(':') {
        Some((h, p)) if !h.contains(':') => Ok((Some(h.to_owned()), Some(port_of(p)?))),
        _ => Ok((Some(s.to_owned()), None)),
    }
}

fn server_name(b: &mut Builder, a: &Args) -> Result<(), String> {
    let v = a.get(0);
    // An optional scheme ("https://host:port") only says how to build URLs.
    let rest = v.split_once("://").map_or(v, |(_, r)| r);
    let (host, port) = match rest.rsplit_once(':') {
        // A bare IPv6 address has colons but no port.
        Some((h, _)) if !h.ends_with(']') && h.contains(':') => (rest.to_owned(), None),
        Some((h, p)) => {
            let port = p.parse::<u16>().ok().filter(|p| *p != 0).ok_or_else(|| {
                format!(
                    "The port number \"{p}\" is outside the appropriate range (i.e., 1..65535)."
                )
            })?;
            (h.to_owned(), Some(port))
        }
        None => (rest.to_owned(), None),
    };
    let h = b.host();
    h.server_name = Some(host);
    h.server_port = port;
    Ok(())
}

fn server_alias(b: &mut Builder, a: &Args) -> Result<(), String> {
    if !b.in_vhost() {
        return Err("ServerAlias only used in <VirtualHost>".to_owned());
    }
    b.host()
        .server_aliases
        .extend(a.words.iter().filter(|w| !w.is_empty()).cloned());
    Ok(())
}

fn server_admin(b: &mut Builder, a: &Args) -> Result<(), String> {
    b.host().server_admin = Some(a.get(0).to_owned());
    Ok(())
}

fn document_root(b: &mut Builder, a: &Args) -> Result<(), String> {
    let p = b.server_relative(a.get(0));
    // Apache refuses a main server's DocumentRoot that is not a directory
    // and only warns for a virtual host's (core.c `set_document_root`).
    if !p.is_dir() && !b.in_vhost() {
        return Err(format!(
            "DocumentRoot '{}' is not a directory, or is not readable",
            p.display()
        ));
    }
    if !p.is_dir() {
        let span = b.current_span.clone();
        b.warn(
            format!(
                "AH00112: Warning: DocumentRoot [{}] does not exist",
                p.display()
            ),
            &span,
        );
    }
    b.host().document_root = p;
    b.meta().document_root = true;
    Ok(())
}

fn accept_path_info(b: &mut Builder, a: &Args) -> Result<(), String> {
    let accept = one_of(
        a.get(0),
        &[
            ("on", AcceptPathInfo::On),
            ("off", AcceptPathInfo::Off),
            ("default", AcceptPathInfo::Default),
        ],
        "AcceptPathInfo must be set to on, off or default",
    )?;
    b.per_dir().accept_path_info = Some(accept);
    Ok(())
}

fn file_etag(b: &mut Builder, a: &Args) -> Result<(), String> {
    crate::file_etag::parse(&mut b.per_dir().file_etag, &a.words)
}

/// core.c `set_forcetype`: the type lower-cased; `None` undoes an outer
/// section's.  The core's fixup then sets it over mod_mime's choice.
fn force_type(b: &mut Builder, a: &Args) -> Result<(), String> {
    let t = a.get(0);
    b.per_dir().force_type =
        Some((!t.eq_ignore_ascii_case("none")).then(|| t.to_ascii_lowercase()));
    Ok(())
}

fn server_signature(b: &mut Builder, a: &Args) -> Result<(), String> {
    let v = a.get(0);
    let sig = if v.eq_ignore_ascii_case("on") {
        ServerSignature::On
    } else if v.eq_ignore_ascii_case("off") {
        ServerSignature::Off
    } else if v.eq_ignore_ascii_case("email") {
        ServerSignature::Email
    } else {
        return Err("ServerSignature: use one of: off | on | email".to_owned());
    };
    if b.at_host_level() && !b.in_vhost() {
        b.cfg.server_signature = sig;
    }
    b.per_dir().server_signature = Some(sig);
    Ok(())
}

fn server_tokens(b: &mut Builder, a: &Args) -> Result<(), String> {
    let v = a.get(0).to_ascii_lowercase();
    b.cfg.server_tokens = match v.as_str() {
        "os" => ServerTokens::Os,
        "min" | "minimal" => ServerTokens::Minimal,
        "major" => ServerTokens::Major,
        "minor" => ServerTokens::Minor,
        "prod" | "productonly" => ServerTokens::Prod,
        "full" => ServerTokens::Full,
        _ => {
            return Err(
                "ServerTokens takes 1 argument: 'Prod(uctOnly)', 'Major', 'Minor', 'Min(imal)', 'OS', or 'Full'"
                    .to_owned(),
            );
        }
    };
    Ok(())
}

fn enable_sendfile(b: &mut Builder, a: &Args) -> Result<(), String> {
    let on = core_flag(a.get(0))?;
    if b.at_host_level() && !b.in_vhost() {
        b.cfg.enable_sendfile = on;
    }
    b.per_dir().enable_sendfile = Some(on);
    Ok(())
}

fn add_default_charset(b: &mut Builder, a: &Args) -> Result<(), String> {
    let v = a.get(0);
    b.per_dir().add_default_charset = Some(if v.eq_ignore_ascii_case("off") {
        None
    } else if v.eq_ignore_ascii_case("on") {
        Some("iso-8859-1".to_owned())
    } else {
        Some(v.to_owned())
    });
    Ok(())
}

fn use_canonical_name(b: &mut Builder, a: &Args) -> Result<(), String> {
    let v = a.get(0);
    let c = if v.eq_ignore_ascii_case("on") {
        CanonicalName::On
    } else if v.eq_ignore_ascii_case("off") {
        CanonicalName::Off
    } else if v.eq_ignore_ascii_case("dns") {
        return Err(
            "UseCanonicalName DNS: not implemented yet in wsgid (reverse DNS of the local address)"
                .to_owned(),
        );
    } else {
        return Err("parameter must be 'on', 'off', or 'dns'".to_owned());
    };
    b.per_dir().use_canonical_name = Some(c);
    Ok(())
}

fn hostname_lookups(b: &mut Builder, a: &Args) -> Result<(), String> {
    let v = a.get(0);
    if v.eq_ignore_ascii_case("off") {
        // Off is what wsgid always does (and Apache's default).
        let span = b.current_span.clone();
        b.cfg.ignored.push(("HostnameLookups".to_owned(), span));
        Ok(())
    } else if v.eq_ignore_ascii_case("on") || v.eq_ignore_ascii_case("double") {
        Err("HostnameLookups: not implemented yet in wsgid (reverse DNS lookups)".to_owned())
    } else {
        Err("parameter must be 'on', 'off', or 'double'".to_owned())
    }
}

fn access_file_name(b: &mut Builder, a: &Args) -> Result<(), String> {
    let names: Vec<String> = a.words.iter().filter(|w| !w.is_empty()).cloned().collect();
    if names.is_empty() {
        return Err("AccessFileName requires at least one argument".to_owned());
    }
    b.cfg.access_file_name = names;
    Ok(())
}

/// `set_error_document`: a status Apache knows, then `default`, a full
/// URL (a redirect), a local path (an internal redirect) or a message.
fn error_document(b: &mut Builder, a: &Args) -> Result<(), String> {
    use crate::error_documents::ErrorDocument;
    let code = a.get(0);
    let status = code
        .parse::<u16>()
        .ok()
        .filter(|s| KNOWN_STATUSES.contains(s))
        .ok_or_else(|| format!("Unsupported HTTP response code {code}"))?;
    let msg = a.get(1);
    let is_url = msg.split_once("://").is_some_and(|(scheme, _)| {
        !scheme.is_empty()
            && scheme
                .bytes()
                .all(|c| c.is_ascii_alphanumeric() || b"+-.".contains(&c))
    });
    let doc = if msg.eq_ignore_ascii_case("default") {
        ErrorDocument::Default
    } else if is_url {
        if status == 401 {
            let span = b.current_span.clone();
            b.warn(
                format!(
                    "AH00113: {}:{} cannot use a full URL in a 401 ErrorDocument directive --- ignoring!",
                    span.file.display(),
                    span.line
                ),
                &span,
            );
            return Ok(());
        }
        ErrorDocument::Remote(msg.to_owned())
    } else if msg.starts_with('/') {
        ErrorDocument::Local(msg.to_owned())
    } else {
        ErrorDocument::Text(msg.to_owned())
    };
    b.per_dir().error_documents.push((status, doc));
    Ok(())
}

/// The statuses of Apache's table (`ap_index_of_response` knows them).
const KNOWN_STATUSES: &[u16] = &[
    100, 101, 102, 103, 200, 201, 202, 203, 204, 205, 206, 207, 208, 226, 300, 301, 302, 303, 304,
    305, 306, 307, 308, 400, 401, 402, 403, 404, 405, 406, 407, 408, 409, 410, 411, 412, 413, 414,
    415, 416, 417, 418, 421, 422, 423, 424, 425, 426, 428, 429, 431, 451, 500, 501, 502, 503, 504,
    505, 506, 507, 508, 510, 511,
];

/// core.c `generate_message`: `Error message` stops the configuration
/// there with that message (quotes around it dropped), typically inside an
/// `<IfDefine>` or `<IfModule>` that a site needs.
fn error_directive(_b: &mut Builder, a: &Args) -> Result<(), String> {
    let raw = a.raw.trim();
    if raw.is_empty() {
        return Err("The Error directive was used with no message.".to_owned());
    }
    let quoted = raw.len() >= 2
        && (raw.starts_with('"') || raw.starts_with('\''))
        && raw.ends_with(&raw[..1]);
    Err(if quoted { &raw[1..raw.len() - 1] } else { raw }.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_port_forms() {
        assert_eq!(parse_host_port("80"), Ok((None, Some(80))));
        assert_eq!(
            parse_host_port("1.2.3.4:8080"),
            Ok((Some("1.2.3.4".into()), Some(8080)))
        );
        assert_eq!(
            parse_host_port("[::1]:80"),
            Ok((Some("::1".into()), Some(80)))
        );
        assert_eq!(parse_host_port("*:80"), Ok((Some("*".into()), Some(80))));
        assert_eq!(parse_host_port("host"), Ok((Some("host".into()), None)));
        assert_eq!(
            parse_host_port("1.2.3.4:99999"),
            Err("Invalid address or port".into())
        );
    }
}
