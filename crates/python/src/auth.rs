//! Access and authentication scripts: mod_wsgi's `wsgi_allow_access`,
//! `wsgi_check_password`, `wsgi_get_realm_hash` and `wsgi_groups_for_user`.
//!
//! The script is loaded as a WSGI script is (`script::module`: same module
//! name, same reloading), its function is called with the environ mod_wsgi's
//! `Auth_environ` gives (the front end's strings plus the version tuples,
//! the group names, `mod_wsgi.script_reloading` and `wsgi.errors`), and the
//! result is mapped as mod_wsgi maps it.  Every failure is logged here with
//! mod_wsgi's lines and the traceback, and answers [`AuthAnswer::Error`].

use std::sync::Arc;

use pyo3::exceptions::PyTypeError;
use pyo3::prelude::*;
use pyo3::types::{PyBool, PyBytes, PyDict, PyModule, PyString};
use wsgid_log::Level;

use crate::groups::Group;
use crate::log_stream::{LogSink, LogStream, MODULE, RequestLogScope, log_python_error};
use crate::script::{self, ScriptSource};
use crate::{AuthAnswer, AuthCall, AuthKind};

/// Run `call` in `group`'s interpreter (current on this thread) and send
/// the answer.
pub(crate) fn run(py: Python<'_>, group: &Group, call: AuthCall) {
    let AuthCall {
        script,
        application_group,
        script_reloading,
        environ,
        kind,
        client,
        error_log,
        answer,
    } = call;
    let interp = &group.interp;
    let peer = interp.peer(client);
    let display = script.to_string_lossy();
    let name = interp.script_module_name(py, &script);
    let src = ScriptSource {
        path: &script,
        display: &display,
        reloading: script_reloading,
        mtime: None,
        // mod_wsgi asks no `reload_required` about an auth script.
        environ: None,
        application_group: &application_group,
        log: &error_log,
        peer,
    };
    let Some(module) = script::module(py, interp, &name, &src) else {
        let _ = answer.send(AuthAnswer::Error);
        return;
    };
    if kind == AuthKind::Dispatch {
        let reply = crate::dispatch::call(py, &module, &environ, &error_log, peer, &display);
        let _ = answer.send(reply);
        return;
    }
    let function_name = match &kind {
        AuthKind::AllowAccess { .. } => "allow_access",
        AuthKind::CheckPassword { .. } => "check_password",
        AuthKind::RealmHash { .. } => "get_realm_hash",
        AuthKind::GroupsForUser { .. } => "groups_for_user",
        AuthKind::Dispatch => "process_group",
    };
    let function = match module.cast::<PyModule>() {
        Ok(m) => m.dict().get_item(function_name).ok().flatten(),
        Err(_) => module.getattr_opt(function_name).ok().flatten(),
    };
    let pid = std::process::id();
    let Some(function) = function else {
        let what = match kind {
            AuthKind::AllowAccess { .. } => {
                "host access script '{}' does not provide host validator"
            }
            AuthKind::CheckPassword { .. } => {
                "user authentication script '{}' does not provide 'Basic' auth provider"
            }
            AuthKind::RealmHash { .. } => {
                "user authentication script '{}' does not provide 'Digest' auth provider"
            }
            AuthKind::GroupsForUser { .. } | AuthKind::Dispatch => {
                "group authentication script '{}' does not provide group provider"
            }
        };
        let msg = format!(
            "mod_wsgi (pid={pid}): Target WSGI {}.",
            what.replace("{}", &display)
        );
        error_log.log(MODULE, Level::Error, peer, &msg);
        let _ = answer.send(AuthAnswer::Error);
        return;
    };

    let sink = LogSink::shared(error_log.clone(), peer);
    let outcome = {
        let _scope = RequestLogScope::enter(&sink);
        call_function(
            py,
            group,
            &function,
            &environ,
            &application_group,
            script_reloading,
            &sink,
            &kind,
        )
    };
    LogSink::close_shared(&sink);
    let reply = match outcome {
        Ok(Mapped::Answer(a)) => a,
        Ok(Mapped::Complaint(what)) => {
            let msg = format!("mod_wsgi (pid={pid}): {}", what.replace("{}", &display));
            error_log.log(MODULE, Level::Error, peer, &msg);
            match kind {
                // `allow = 0`: denied.
                AuthKind::AllowAccess { .. } => AuthAnswer::Denied,
                _ => AuthAnswer::Error,
            }
        }
        Err(e) => {
            log_python_error(py, &e, &error_log, peer, &display);
            AuthAnswer::Error
        }
    };
    let _ = answer.send(reply);
}

/// A result mapped, or a wrong result that mod_wsgi logs with its own line
/// (`{}` stands for the script).
enum Mapped {
    Answer(AuthAnswer),
    Complaint(&'static str),
}

/// mod_wsgi's `Auth_environ` (and `Dispatch_environ`, the same): the
/// front end's strings plus the version tuples, the group names,
/// `mod_wsgi.script_reloading` and a `wsgi.errors` into the error log.
pub(crate) fn auth_environ<'py>(
    py: Python<'py>,
    group: &Group,
    cgi: &crate::CgiEnv,
    application_group: &str,
    script_reloading: bool,
    sink: &crate::log_stream::SharedSink,
) -> PyResult<Bound<'py, PyDict>> {
    let interp = &group.interp;
    let vars = PyDict::new(py);
    for (k, v) in cgi.iter() {
        vars.set_item(k, v)?;
    }
    vars.set_item("apache.version", interp.apache_version.bind(py))?;
    vars.set_item("mod_wsgi.version", interp.mod_wsgi_version.bind(py))?;
    vars.set_item("mod_wsgi.process_group", "")?;
    vars.set_item("mod_wsgi.application_group", application_group)?;
    vars.set_item("mod_wsgi.script_reloading", i32::from(script_reloading))?;
    let errors = Bound::new(py, LogStream::for_request(Arc::clone(sink)))?;
    vars.set_item("wsgi.errors", &errors)?;
    Ok(vars)
}

#[allow(clippy::too_many_arguments)]
fn call_function(
    py: Python<'_>,
    group: &Group,
    function: &Bound<'_, PyAny>,
    cgi: &crate::CgiEnv,
    application_group: &str,
    script_reloading: bool,
    sink: &crate::log_stream::SharedSink,
    kind: &AuthKind,
) -> PyResult<Mapped> {
    let vars = auth_environ(py, group, cgi, application_group, script_reloading, sink)?;
    let result = match kind {
        AuthKind::AllowAccess { host } => function.call1((vars, host))?,
        AuthKind::CheckPassword { user, password } => function.call1((vars, user, password))?,
        AuthKind::RealmHash { user, realm } => function.call1((vars, user, realm))?,
        AuthKind::GroupsForUser { user } => function.call1((vars, user))?,
        AuthKind::Dispatch => function.call1((vars,))?,
    };
    if result.is_none() {
        return Ok(match kind {
            AuthKind::GroupsForUser { .. } => Mapped::Complaint(GROUPS_TYPE),
            _ => Mapped::Answer(AuthAnswer::NotFound),
        });
    }
    match kind {
        AuthKind::AllowAccess { .. } => Ok(match result.cast::<PyBool>() {
            Ok(b) if b.is_true() => Mapped::Answer(AuthAnswer::Granted),
            Ok(_) => Mapped::Answer(AuthAnswer::Denied),
            Err(_) => Mapped::Complaint(
                "Indicator of host accessibility returned from '{}' must a boolean or None.",
            ),
        }),
        AuthKind::CheckPassword { .. } => {
            if let Ok(b) = result.cast::<PyBool>() {
                return Ok(Mapped::Answer(if b.is_true() {
                    AuthAnswer::Granted
                } else {
                    AuthAnswer::Denied
                }));
            }
            if let Ok(s) = result.cast::<PyString>() {
                return Ok(Mapped::Answer(AuthAnswer::User(s.to_str()?.to_owned())));
            }
            Err(PyTypeError::new_err(
                "Basic auth provider must return True, False None or user name as string",
            ))
        }
        AuthKind::RealmHash { .. } => {
            if let Ok(b) = result.cast::<PyBytes>() {
                return Ok(Mapped::Answer(AuthAnswer::Hash(latin1(b.as_bytes()))));
            }
            if let Ok(s) = result.cast::<PyString>() {
                return match to_latin1(&s.to_string_lossy()) {
                    Some(h) => Ok(Mapped::Answer(AuthAnswer::Hash(h))),
                    None => Err(PyTypeError::new_err(
                        "Digest auth provider must return None or string object, value containing \
                         non 'latin-1' characters found",
                    )),
                };
            }
            Err(PyTypeError::new_err(
                "Digest auth provider must return None or string object",
            ))
        }
        AuthKind::GroupsForUser { .. } | AuthKind::Dispatch => {
            let Ok(items) = result.try_iter() else {
                return Ok(Mapped::Complaint(GROUPS_TYPE));
            };
            let mut groups = Vec::new();
            for item in items {
                let item = item?;
                if let Ok(s) = item.cast::<PyString>() {
                    match to_latin1(&s.to_string_lossy()) {
                        Some(g) => groups.push(g),
                        None => {
                            return Ok(Mapped::Complaint(
                                "Groups for user returned from '{}' must be an iterable sequence of byte \
                                 strings, value containing non 'latin-1' characters found",
                            ));
                        }
                    }
                } else if let Ok(b) = item.cast::<PyBytes>() {
                    groups.push(latin1(b.as_bytes()));
                } else {
                    return Ok(Mapped::Complaint(GROUPS_TYPE));
                }
            }
            Ok(Mapped::Answer(AuthAnswer::Groups(groups)))
        }
    }
}

const GROUPS_TYPE: &str =
    "Groups for user returned from '{}' must be an iterable sequence of byte strings.";

pub(crate) fn latin1(b: &[u8]) -> String {
    b.iter().map(|&c| char::from(c)).collect()
}

/// The text if every character is latin-1 (one byte each on the wire).
pub(crate) fn to_latin1(s: &str) -> Option<String> {
    s.chars()
        .all(|c| u32::from(c) <= 0xFF)
        .then(|| s.to_owned())
}
