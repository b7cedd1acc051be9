//! mod_wsgi 4.9's directives (except the script aliases, in `alias`):
//! the interpreter-wide settings, the per-directory request settings, and
//! the rows of the directives that wsgid does not implement yet (auth
//! scripts...).  `WSGIDaemonProcess` is in `daemon`.

use std::net::IpAddr;
use std::path::PathBuf;

use super::alias::parse_option;
use super::wsgi_flag;
use crate::builder::Builder;
use crate::lexer::{next_word, words};
use crate::model::{
    AuthScript, CallableSpec, GroupSpec, HandlerScript, ImportScript, MapHeadToGet, ReloadMechanism,
};
use crate::registry::{Action::*, Arity::*, *};

// One row per line reads as a table; rustfmt would explode it.
#[rustfmt::skip]
pub const ROWS: &[Row] = &[
    row("WSGIDaemonProcess", Raw, RSRC_CONF, 0, "Specify details of daemon processes to start.", Set(super::daemon::daemon_process)),
    row("WSGIProcessGroup", Take1, ACCESS_CONF | RSRC_CONF, 0, "Name of the WSGI process group.", Set(process_group)),
    row("WSGIRestrictProcess", Raw, ACCESS_CONF | RSRC_CONF, 0, "Limit selectable WSGI process groups.", Set(restrict_process)),
    row("WSGISocketPrefix", Take1, RSRC_CONF, GLOBAL_ONLY, "Path prefix for the daemon process sockets.", Set(socket_prefix)),
    row("WSGISocketRotation", Take1, RSRC_CONF, GLOBAL_ONLY, "Enable/Disable rotation of daemon process sockets.", Ignored("wsgid's daemon sockets carry no generation number: they are never rotated, a graceful restart keeps them")),
    row("WSGIAcceptMutex", Take1, RSRC_CONF, GLOBAL_ONLY, "Set accept mutex type for daemon processes.", Ignored("the processes of a daemon group accept from one shared socket without a mutex (the kernel hands each connection to one of them)")),
    row("WSGIIgnoreActivity", Take1, OR_FILEINFO, 0, "Enable/Disable reset of inactvity timeout.", Set(ignore_activity)),
    row("WSGIImportScript", Raw, RSRC_CONF, 0, "Location of WSGI import script.", Set(import_script)),
    row("WSGIDispatchScript", Raw, ACCESS_CONF | RSRC_CONF, 0, "Location of WSGI dispatch script.", Set(dispatch_script)),
    row("WSGIHandlerScript", Raw, ACCESS_CONF | RSRC_CONF, 0, "Location of WSGI handler script file.", Set(handler_script)),
    row("WSGIAccessScript", Raw, OR_AUTHCFG, 0, "Location of WSGI host access script file.", Set(access_script)),
    row("WSGIAuthUserScript", Raw, OR_AUTHCFG, 0, "Location of WSGI user auth script file.", Set(auth_user_script)),
    row("WSGIAuthGroupScript", Raw, OR_AUTHCFG, 0, "Location of WSGI group auth script file.", Set(auth_group_script)),
    row("WSGIUserAuthoritative", Take1, OR_AUTHCFG, 0, "Enable/Disable as being authoritative on users.", Ignored("mod_wsgi 4.9 answers as an Apache 2.4 authentication provider, where this has no effect")),
    row("WSGIGroupAuthoritative", Take1, OR_AUTHCFG, 0, "Enable/Disable as being authoritative on groups.", Set(group_authoritative)),
    row("WSGIRestrictEmbedded", Take1, RSRC_CONF, GLOBAL_ONLY, "Enable/Disable use of embedded mode.", Set(restrict_embedded)),
    row("WSGIRestrictStdin", Take1, RSRC_CONF, GLOBAL_ONLY, "Enable/Disable restrictions on use of STDIN.", Set(restrict_stdin)),
    row("WSGIRestrictStdout", Take1, RSRC_CONF, GLOBAL_ONLY, "Enable/Disable restrictions on use of STDOUT.", Set(restrict_stdout)),
    row("WSGIRestrictSignal", Take1, RSRC_CONF, GLOBAL_ONLY, "Enable/Disable restrictions on use of signal().", Set(restrict_signal)),
    row("WSGIPassApacheRequest", Take1, ACCESS_CONF | RSRC_CONF, 0, "Enable/Disable Apache request object.", Set(pass_apache_request)),
    row("WSGIServerMetrics", Take1, RSRC_CONF, 0, "Enabled/Disable access to server metrics.", Set(server_metrics)),
    row("WSGIVerboseDebugging", Take1, RSRC_CONF, GLOBAL_ONLY, "Enable/Disable verbose debugging messages.", Set(verbose_debugging)),
    row("WSGILazyInitialization", Take1, RSRC_CONF, GLOBAL_ONLY, "Enable/Disable lazy Python initialisation.", Set(lazy_initialization)),
    row("WSGIPythonExecutable", Take1, RSRC_CONF, GLOBAL_ONLY, "Python executable absolute path name.", Removed("WSGIPythonExecutable was removed in mod_wsgi 2.0; use WSGIPythonHome instead")),
    row("WSGIReloadMechanism", Take1, OR_FILEINFO, 0, "Defines what is reloaded when a reload is triggered.", Set(reload_mechanism)),
    row("WSGIApplicationGroup", Take1, ACCESS_CONF | RSRC_CONF, 0, "Application interpreter group.", Set(application_group)),
    row("WSGICallableObject", Take1, OR_FILEINFO, 0, "Name of entry point in WSGI script file.", Set(callable_object)),
    row("WSGIPassAuthorization", Take1, OR_FILEINFO, 0, "Enable/Disable WSGI authorization.", Set(pass_authorization)),
    row("WSGIScriptReloading", Take1, OR_FILEINFO, 0, "Enable/Disable script reloading mechanism.", Set(script_reloading)),
    row("WSGIErrorOverride", Take1, OR_FILEINFO, 0, "Enable/Disable overriding of error pages.", Set(error_override)),
    row("WSGIChunkedRequest", Take1, OR_FILEINFO, 0, "Enable/Disable support for chunked requests.", Set(chunked_request)),
    row("WSGIMapHEADToGET", Take1, OR_FILEINFO, 0, "Enable/Disable mapping of HEAD to GET.", Set(map_head_to_get)),
    row("WSGIEnableSendfile", Take1, OR_FILEINFO, 0, "Enable/Disable support for kernel sendfile.", Set(enable_sendfile)),
    row("WSGITrustedProxyHeaders", Raw, OR_FILEINFO, 0, "Specify a list of trusted proxy headers.", Set(trusted_proxy_headers)),
    row("WSGITrustedProxies", Raw, OR_FILEINFO, 0, "Specify a list of trusted proxies.", Set(trusted_proxies)),
    row("WSGIPythonOptimize", Take1, RSRC_CONF, GLOBAL_ONLY, "Set level of Python compiler optimisations.", Set(python_optimize)),
    row("WSGIPythonHome", Take1, RSRC_CONF, GLOBAL_ONLY, "Python prefix/exec_prefix absolute path names.", Set(python_home)),
    row("WSGIPythonPath", Take1, RSRC_CONF, GLOBAL_ONLY, "Python module search path.", Set(python_path)),
    row("WSGIPythonEggs", Take1, RSRC_CONF, GLOBAL_ONLY, "Python eggs cache directory.", Set(python_eggs)),
    row("WSGIPythonWarnings", Take1, RSRC_CONF, GLOBAL_ONLY, "Control Python warning messages.", Set(python_warnings)),
    row("WSGIPythonHashSeed", Take1, RSRC_CONF, GLOBAL_ONLY, "Python hash seed.", Set(python_hash_seed)),
    row("WSGIDontWriteBytecode", Take1, RSRC_CONF, GLOBAL_ONLY, "Enable/Disable writing of byte code.", Set(dont_write_bytecode)),
    row("WSGIDestroyInterpreter", Take1, RSRC_CONF, GLOBAL_ONLY, "Enable/Disable destruction of Python interpreter.", Set(destroy_interpreter)),
    row("WSGICaseSensitivity", Take1, RSRC_CONF, GLOBAL_ONLY, "Define whether file system is case sensitive.", Set(case_sensitivity)),
];

/// `WSGIProcessGroup name|%{GLOBAL}|%{ENV:VAR}`: not checked against the
/// defined groups here (mod_wsgi checks at request time: "No WSGI daemon
/// process called '...' has been configured").
fn process_group(b: &mut Builder, a: &Args) -> Result<(), String> {
    b.per_dir().wsgi.process_group = Some(GroupSpec::parse(a.get(0)));
    Ok(())
}

/// `WSGIRestrictProcess group...` (`%{GLOBAL}` stands for embedded mode).
fn restrict_process(b: &mut Builder, a: &Args) -> Result<(), String> {
    let list = words(&a.raw)
        .into_iter()
        .map(|w| if w == "%{GLOBAL}" { String::new() } else { w })
        .collect();
    b.per_dir().wsgi.restrict_process = Some(list);
    Ok(())
}

fn ignore_activity(b: &mut Builder, a: &Args) -> Result<(), String> {
    b.per_dir().wsgi.ignore_activity = Some(wsgi_flag(a.name, a.get(0))?);
    Ok(())
}

fn restrict_embedded(b: &mut Builder, a: &Args) -> Result<(), String> {
    let v = a.get(0);
    b.cfg.wsgi.restrict_embedded = if v.eq_ignore_ascii_case("on") {
        true
    } else if v.eq_ignore_ascii_case("off") {
        false
    } else {
        return Err("WSGIRestrictEmbedded must be one of: Off | On".to_owned());
    };
    Ok(())
}

/// `WSGIImportScript path process-group=... application-group=...`, parsed
/// as mod_wsgi's `wsgi_add_import_script` does (both options required).
/// The process group must be `%{GLOBAL}` or a daemon group defined
/// earlier and usable from here (mod_wsgi's messages otherwise).
fn import_script(b: &mut Builder, a: &Args) -> Result<(), String> {
    let mut rest = a.raw.as_str();
    let path = next_word(&mut rest);
    if path.is_empty() {
        return Err("Location of import script not supplied.".to_owned());
    }
    let (mut application_group, mut process_group) = (None, None);
    while !rest.trim_start().is_empty() {
        let (option, value) = parse_option(&mut rest)
            .ok_or_else(|| "Invalid option to WSGI import script definition.".to_owned())?;
        match option.as_str() {
            "application-group" if value.is_empty() => {
                return Err("Invalid name for WSGI application group.".to_owned());
            }
            "application-group" => application_group = Some(value),
            "process-group" if value.is_empty() => {
                return Err("Invalid name for WSGI process group.".to_owned());
            }
            "process-group" => process_group = Some(value),
            _ => return Err("Invalid option to WSGI import script definition.".to_owned()),
        }
    }
    let application_group =
        application_group.ok_or_else(|| "Name of WSGI application group required.".to_owned())?;
    let process_group =
        process_group.ok_or_else(|| "Name of WSGI process group required.".to_owned())?;
    let process_group = if process_group == "%{GLOBAL}" {
        String::new()
    } else {
        process_group
    };
    super::daemon::check_group_usable(b, &process_group)?;
    let application_group = if application_group == "%{GLOBAL}" {
        String::new()
    } else {
        application_group
    };
    b.cfg.wsgi.import_scripts.push(ImportScript {
        path: PathBuf::from(path),
        process_group,
        application_group,
    });
    Ok(())
}

fn socket_prefix(b: &mut Builder, a: &Args) -> Result<(), String> {
    b.cfg.wsgi.socket_prefix = Some(b.server_relative(a.get(0)));
    Ok(())
}

fn application_group(b: &mut Builder, a: &Args) -> Result<(), String> {
    b.per_dir().wsgi.application_group = Some(GroupSpec::parse(a.get(0)));
    Ok(())
}

fn callable_object(b: &mut Builder, a: &Args) -> Result<(), String> {
    b.per_dir().wsgi.callable_object = Some(CallableSpec::parse(a.get(0)));
    Ok(())
}

/// `WSGIAccessScript` & co.: `path [application-group=name]`, parsed as
/// mod_wsgi's `wsgi_set_access_script` and siblings (`what` names the
/// script in the messages: "access", "auth user", "auth group").
fn auth_script(a: &Args, what: &str) -> Result<AuthScript, String> {
    let mut rest = a.raw.as_str();
    let path = next_word(&mut rest);
    if path.is_empty() {
        return Err(format!("Location of {what} script not supplied."));
    }
    let invalid = || format!("Invalid option to WSGI {what} script definition.");
    let mut application_group = GroupSpec::Global;
    while !rest.trim_start().is_empty() {
        let (option, value) = parse_option(&mut rest).ok_or_else(invalid)?;
        match option.as_str() {
            "application-group" if value.is_empty() => {
                return Err("Invalid name for WSGI application group.".to_owned());
            }
            "application-group" => application_group = GroupSpec::parse(&value),
            _ => return Err(invalid()),
        }
    }
    Ok(AuthScript {
        path: PathBuf::from(path),
        application_group,
    })
}

/// `WSGILazyInitialization On` (mod_wsgi's default) is how wsgid always
/// works: Python starts only in the processes that run it, never in the
/// master.  `Off` (Python initialised in the parent before it forks) is
/// refused.
fn lazy_initialization(_b: &mut Builder, a: &Args) -> Result<(), String> {
    if wsgi_flag("WSGILazyInitialization", a.get(0))? {
        Ok(())
    } else {
        Err("WSGILazyInitialization Off: not implemented in wsgid (Python is never initialised in the master process)".to_owned())
    }
}

/// A switch whose default (`Off`) is what wsgid does, and whose `On` it
/// does not offer: `Off` is accepted (mod_wsgi-express writes it into every
/// configuration), `On` is an error that says so.
fn off_only(name: &str, value: &str, missing: &str) -> Result<(), String> {
    if wsgi_flag(name, value)? {
        Err(format!("{name} On: not implemented in wsgid ({missing})"))
    } else {
        Ok(())
    }
}

fn server_metrics(_b: &mut Builder, a: &Args) -> Result<(), String> {
    off_only(
        "WSGIServerMetrics",
        a.get(0),
        "mod_wsgi.server_metrics() always returns None, as mod_wsgi's does with Off",
    )
}

fn verbose_debugging(_b: &mut Builder, a: &Args) -> Result<(), String> {
    off_only(
        "WSGIVerboseDebugging",
        a.get(0),
        "no verbose debugging messages",
    )
}

fn pass_apache_request(_b: &mut Builder, a: &Args) -> Result<(), String> {
    off_only(
        "WSGIPassApacheRequest",
        a.get(0),
        "there is no Apache request object in wsgid",
    )
}

/// `wsgi_add_handler_script`.
fn handler_script(b: &mut Builder, a: &Args) -> Result<(), String> {
    let mut rest = a.raw.as_str();
    let name = next_word(&mut rest);
    if name.is_empty() {
        return Err("Name for handler script not supplied.".to_owned());
    }
    let script = next_word(&mut rest);
    if script.is_empty() {
        return Err("Location of handler script not supplied.".to_owned());
    }
    let invalid = || "Invalid option to WSGI handler script definition.".to_owned();
    let mut h = HandlerScript {
        name,
        script: PathBuf::from(script),
        process_group: None,
        application_group: None,
        pass_authorization: None,
    };
    while !rest.trim_start().is_empty() {
        let (option, value) = parse_option(&mut rest).ok_or_else(invalid)?;
        match option.as_str() {
            "process-group" if value.is_empty() => {
                return Err("Invalid name for WSGI process group.".to_owned());
            }
            "process-group" => h.process_group = Some(GroupSpec::parse(&value)),
            "application-group" if value.is_empty() => {
                return Err("Invalid name for WSGI application group.".to_owned());
            }
            "application-group" => h.application_group = Some(GroupSpec::parse(&value)),
            "pass-authorization" if value.eq_ignore_ascii_case("on") => {
                h.pass_authorization = Some(true);
            }
            "pass-authorization" if value.eq_ignore_ascii_case("off") => {
                h.pass_authorization = Some(false);
            }
            "pass-authorization" => {
                return Err("Invalid value for authorization flag.".to_owned());
            }
            _ => return Err(invalid()),
        }
    }
    let scripts = &mut b.per_dir().wsgi.handler_scripts;
    scripts.retain(|old| old.name != h.name);
    scripts.push(h);
    Ok(())
}

fn dispatch_script(b: &mut Builder, a: &Args) -> Result<(), String> {
    b.per_dir().wsgi.dispatch_script = Some(auth_script(a, "dispatch")?);
    Ok(())
}

fn access_script(b: &mut Builder, a: &Args) -> Result<(), String> {
    b.per_dir().wsgi.access_script = Some(auth_script(a, "access")?);
    Ok(())
}

fn auth_user_script(b: &mut Builder, a: &Args) -> Result<(), String> {
    b.per_dir().wsgi.auth_user_script = Some(auth_script(a, "auth user")?);
    Ok(())
}

fn auth_group_script(b: &mut Builder, a: &Args) -> Result<(), String> {
    b.per_dir().wsgi.auth_group_script = Some(auth_script(a, "auth group")?);
    Ok(())
}

fn group_authoritative(b: &mut Builder, a: &Args) -> Result<(), String> {
    let v = a.get(0);
    let on = if v.eq_ignore_ascii_case("on") {
        true
    } else if v.eq_ignore_ascii_case("off") {
        false
    } else {
        return Err("WSGIGroupAuthoritative must be one of: Off | On".to_owned());
    };
    b.per_dir().wsgi.group_authoritative = Some(on);
    Ok(())
}

fn pass_authorization(b: &mut Builder, a: &Args) -> Result<(), String> {
    b.per_dir().wsgi.pass_authorization = Some(wsgi_flag(a.name, a.get(0))?);
    Ok(())
}

fn script_reloading(b: &mut Builder, a: &Args) -> Result<(), String> {
    b.per_dir().wsgi.script_reloading = Some(wsgi_flag(a.name, a.get(0))?);
    Ok(())
}

/// The specification's values: `Module` and `Interpreter` (1.X), `Process`
/// (2.0).  mod_wsgi 3.0 removed the directive; wsgid follows the
/// specification.
fn reload_mechanism(b: &mut Builder, a: &Args) -> Result<(), String> {
    let v = a.get(0);
    let m = if v.eq_ignore_ascii_case("Module") {
        ReloadMechanism::Module
    } else if v.eq_ignore_ascii_case("Interpreter") {
        ReloadMechanism::Interpreter
    } else if v.eq_ignore_ascii_case("Process") {
        ReloadMechanism::Process
    } else {
        return Err(
            "WSGIReloadMechanism must be one of: Module | Interpreter | Process.".to_owned(),
        );
    };
    b.per_dir().wsgi.reload_mechanism = Some(m);
    Ok(())
}

fn error_override(b: &mut Builder, a: &Args) -> Result<(), String> {
    b.per_dir().wsgi.error_override = Some(wsgi_flag(a.name, a.get(0))?);
    Ok(())
}

fn chunked_request(b: &mut Builder, a: &Args) -> Result<(), String> {
    b.per_dir().wsgi.chunked_request = Some(wsgi_flag(a.name, a.get(0))?);
    Ok(())
}

fn enable_sendfile(b: &mut Builder, a: &Args) -> Result<(), String> {
    b.per_dir().wsgi.enable_sendfile = Some(wsgi_flag(a.name, a.get(0))?);
    Ok(())
}

fn map_head_to_get(b: &mut Builder, a: &Args) -> Result<(), String> {
    let v = a.get(0);
    let m = if v.eq_ignore_ascii_case("on") {
        MapHeadToGet::On
    } else if v.eq_ignore_ascii_case("off") {
        MapHeadToGet::Off
    } else if v.eq_ignore_ascii_case("auto") {
        MapHeadToGet::Auto
    } else {
        return Err("WSGIMapHEADToGET must be one of: Off | On | Auto".to_owned());
    };
    b.per_dir().wsgi.map_head_to_get = Some(m);
    Ok(())
}

fn trusted_proxy_headers(b: &mut Builder, a: &Args) -> Result<(), String> {
    let list = words(&a.raw);
    b.per_dir()
        .wsgi
        .trusted_proxy_headers
        .get_or_insert_with(Vec::new)
        .extend(list);
    Ok(())
}

/// An address or `addr/bits` / `addr/mask` subnet (apr_ipsubnet_create).
fn valid_proxy(s: &str) -> bool {
    let (ip, mask) = match s.split_once('/') {
        Some((i, m)) => (i, Some(m)),
        None => (s, None),
    };
    let Ok(addr) = ip.parse::<IpAddr>() else {
        return false;
    };
    match mask {
        None => true,
        Some(m) => match m.parse::<u8>() {
            Ok(bits) => bits <= if addr.is_ipv4() { 32 } else { 128 },
            Err(_) => addr.is_ipv4() && m.parse::<std::net::Ipv4Addr>().is_ok(),
        },
    }
}

fn trusted_proxies(b: &mut Builder, a: &Args) -> Result<(), String> {
    let list = words(&a.raw);
    if let Some(bad) = list.iter().find(|p| !valid_proxy(p)) {
        return Err(format!(
            "Unable to parse trusted proxy IP address/subnet of \"{bad}\"."
        ));
    }
    b.per_dir()
        .wsgi
        .trusted_proxies
        .get_or_insert_with(Vec::new)
        .extend(list);
    Ok(())
}

fn python_optimize(b: &mut Builder, a: &Args) -> Result<(), String> {
    let n: u8 = a
        .get(0)
        .parse()
        .map_err(|_| format!("WSGIPythonOptimize \"{}\" must be 0, 1 or 2", a.get(0)))?;
    if n > 2 {
        return Err(format!("WSGIPythonOptimize \"{n}\" must be 0, 1 or 2"));
    }
    b.cfg.wsgi.python_optimize = n;
    Ok(())
}

fn python_home(b: &mut Builder, a: &Args) -> Result<(), String> {
    b.cfg.wsgi.python_home = Some(PathBuf::from(a.get(0)));
    Ok(())
}

fn python_path(b: &mut Builder, a: &Args) -> Result<(), String> {
    // Each directive replaces the list (mod_wsgi keeps one string); the
    // directories are ':'-separated.
    b.cfg.wsgi.python_path = a
        .get(0)
        .split(':')
        .filter(|p| !p.is_empty())
        .map(PathBuf::from)
        .collect();
    Ok(())
}

fn python_eggs(b: &mut Builder, a: &Args) -> Result<(), String> {
    b.cfg.wsgi.python_eggs = Some(PathBuf::from(a.get(0)));
    Ok(())
}

fn python_warnings(b: &mut Builder, a: &Args) -> Result<(), String> {
    b.cfg.wsgi.python_warnings.push(a.get(0).to_owned());
    Ok(())
}

fn python_hash_seed(b: &mut Builder, a: &Args) -> Result<(), String> {
    let v = a.get(0);
    if v != "random" && v.parse::<u32>().is_err() {
        return Err(
            "WSGIPythonHashSeed must be \"random\" or an integer in range [0; 4294967295]"
                .to_owned(),
        );
    }
    b.cfg.wsgi.python_hash_seed = Some(v.to_owned());
    Ok(())
}

fn dont_write_bytecode(b: &mut Builder, a: &Args) -> Result<(), String> {
    b.cfg.wsgi.dont_write_bytecode = wsgi_flag(a.name, a.get(0))?;
    Ok(())
}

fn destroy_interpreter(b: &mut Builder, a: &Args) -> Result<(), String> {
    b.cfg.wsgi.destroy_interpreter = wsgi_flag(a.name, a.get(0))?;
    Ok(())
}

fn restrict_stdin(b: &mut Builder, a: &Args) -> Result<(), String> {
    b.cfg.wsgi.restrict_stdin = wsgi_flag(a.name, a.get(0))?;
    Ok(())
}

fn restrict_stdout(b: &mut Builder, a: &Args) -> Result<(), String> {
    b.cfg.wsgi.restrict_stdout = wsgi_flag(a.name, a.get(0))?;
    Ok(())
}

fn restrict_signal(b: &mut Builder, a: &Args) -> Result<(), String> {
    b.cfg.wsgi.restrict_signal = wsgi_flag(a.name, a.get(0))?;
    Ok(())
}

fn case_sensitivity(b: &mut Builder, a: &Args) -> Result<(), String> {
    b.cfg.wsgi.case_sensitivity = wsgi_flag(a.name, a.get(0))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn proxies() {
        assert!(valid_proxy("10.0.0.1"));
        assert!(valid_proxy("10.0.0.0/8"));
        assert!(valid_proxy("10.0.0.0/255.0.0.0"));
        assert!(valid_proxy("::1/128"));
        assert!(!valid_proxy("10.0.0.0/33"));
        assert!(!valid_proxy("proxy.example"));
    }
}
