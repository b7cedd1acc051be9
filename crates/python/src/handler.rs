//! Serving one request on a request thread: load the script, find the
//! callable, create the per-request objects, build the environ, run the
//! application, and expire the objects afterwards.
//!
//! This is mod_wsgi's `wsgi_execute_script` without the Apache parts: the
//! front end has already mapped the URL, checked the file exists and built
//! the CGI variables.

use std::collections::HashMap;
use std::path::Path;
use std::sync::{Arc, Weak};
use std::time::{SystemTime, UNIX_EPOCH};

use pyo3::prelude::*;
use pyo3::types::{PyModule, PyString};
use wsgid_log::Level;

use crate::adapter::send_event;
use crate::environ::{self, PythonSide};
use crate::ffi::ThreadSwitch;
use crate::groups::{Group, Groups, ThreadCache};
use crate::interp::Interpreter;
use crate::log_stream::{MODULE, RequestLogScope};
use crate::request_objects::RequestObjects;
use crate::response::{self, ErrorTarget};
use crate::script::{self, ScriptSource};
use crate::{ReloadMechanism, ResponseEvent, WsgiRequest};

/// The state one request thread keeps between requests.
pub(crate) struct Worker {
    groups: Arc<Groups>,
    /// This thread's thread states, one per sub-interpreter it served.
    switch: ThreadSwitch,
    /// Groups this thread has served, by name: weak, so that a retired
    /// group is destroyed even if this thread never asks for it again.
    known: HashMap<String, Weak<Group>>,
    /// This thread's number (its cache slot in every group).
    index: usize,
    /// `mod_wsgi.thread_id`.
    thread_id: u64,
    /// `mod_wsgi.thread_requests`.
    requests: u64,
}

impl Worker {
    pub(crate) fn new(py: Python<'_>, groups: Arc<Groups>, index: usize) -> Option<Worker> {
        Some(Worker {
            groups,
            switch: ThreadSwitch::new(py)?,
            known: HashMap::new(),
            index,
            thread_id: index as u64,
            requests: 0,
        })
    }

    /// The live group called `name`: this thread's view first, then the
    /// registry (which creates the interpreter on first use).
    fn group(&mut self, py: Python<'_>, name: &str) -> Option<Arc<Group>> {
        if name.is_empty() {
            return Some(Arc::clone(self.groups.main()));
        }
        if let Some(group) = self.known.get(name).and_then(Weak::upgrade)
            && !group.is_retired()
        {
            return Some(group);
        }
        let group = self.groups.get(py, &mut self.switch, name)?;
        self.known.insert(name.to_owned(), Arc::downgrade(&group));
        Some(group)
    }

    /// Serve `req`; every outcome is reported through `req.events`.
    pub(crate) fn handle(&mut self, py: Python<'_>, req: WsgiRequest) {
        self.requests += 1;
        let mut req = req;
        // At most one retry: after an `Interpreter` reload the fresh
        // interpreter loads the script anew, whatever it finds (another
        // request may have loaded a newer file there meanwhile).
        for may_reload in [true, false] {
            let Some(group) = self.group(py, &req.application_group) else {
                send_event(py, &req.events, ResponseEvent::Failed(500));
                return;
            };
            let thread = ThreadFacts {
                index: self.index,
                thread_id: self.thread_id,
                requests: self.requests,
            };
            // The thread stays in this interpreter after the request (see
            // `ThreadSwitch`).
            if !self.switch.switch_to(py, group.sub()) {
                let pid = std::process::id();
                req.error_log.log(
                    MODULE,
                    Level::Error,
                    wsgid_log::Peer::None,
                    &format!(
                        "mod_wsgi (pid={pid}): Cannot acquire interpreter '{}': no thread state could be created.",
                        group.name
                    ),
                );
                send_event(py, &req.events, ResponseEvent::Failed(500));
                return;
            }
            let outcome = serve(py, &group, thread, req, may_reload);
            match outcome {
                Served::Done => break,
                Served::ReloadInterpreter(back) => {
                    self.groups.retire(py, &group);
                    req = *back;
                }
            }
        }
        self.groups.reap(py, &mut self.switch);
    }

    /// Run an access or authentication script call in its group's
    /// interpreter; the answer goes back on `call.answer`.
    pub(crate) fn auth(&mut self, py: Python<'_>, call: crate::AuthCall) {
        let Some(group) = self.group(py, &call.application_group) else {
            let _ = call.answer.send(crate::AuthAnswer::Error);
            return;
        };
        if !self.switch.switch_to(py, group.sub()) {
            let _ = call.answer.send(crate::AuthAnswer::Error);
            return;
        }
        crate::auth::run(py, &group, call);
        self.groups.reap(py, &mut self.switch);
    }

    /// Between requests: leave an interpreter that was replaced, so that
    /// it can be destroyed, and destroy what nobody uses any more.
    pub(crate) fn idle(&mut self, py: Python<'_>) {
        if self.groups.has_retired() {
            self.switch.leave(py);
            self.groups.reap(py, &mut self.switch);
        }
    }

    /// Back to the main interpreter's thread state, before the thread
    /// detaches from Python for good.
    pub(crate) fn leave(&mut self, py: Python<'_>) {
        self.switch.leave(py);
    }
}

/// The facts about the serving thread a request needs.
#[derive(Clone, Copy)]
struct ThreadFacts {
    index: usize,
    thread_id: u64,
    requests: u64,
}

/// How `serve` ended.
enum Served {
    Done,
    /// The script changed and the `Interpreter` reload mechanism applies:
    /// the request, untouched, to be served in a fresh interpreter.
    ReloadInterpreter(Box<WsgiRequest>),
}

fn module_name<'py>(
    py: Python<'py>,
    interp: &Interpreter,
    cache: &mut ThreadCache,
    script: &Path,
) -> Bound<'py, PyString> {
    if let Some((path, name)) = &cache.last_script
        && path.as_os_str() == script.as_os_str()
    {
        return name.bind(py).clone();
    }
    let name = interp.script_module_name(py, script);
    cache.last_script = Some((script.to_path_buf(), name.clone().unbind()));
    name
}

/// Serve `req` in `group`'s interpreter, which is current on this thread.
fn serve(
    py: Python<'_>,
    group: &Group,
    thread: ThreadFacts,
    req: WsgiRequest,
    may_reload: bool,
) -> Served {
    let interp = &group.interp;
    let mut cache = group.thread_cache(thread.index);
    let module_name = module_name(py, interp, &mut cache, &req.script);
    if may_reload
        && req.script_reloading
        && req.reload == ReloadMechanism::Interpreter
        && group.sub().is_some()
        && script::changed(py, interp, &module_name, &req.script, req.script_mtime)
    {
        return Served::ReloadInterpreter(Box::new(req));
    }
    let total_requests = interp.count_request();
    let WsgiRequest {
        script,
        callable,
        application_group,
        script_reloading,
        script_mtime,
        environ: cgi,
        url_scheme,
        body,
        client,
        error_log,
        events,
        ..
    } = req;
    let peer = interp.peer(client);
    let display = script.to_string_lossy();
    let src = ScriptSource {
        path: &script,
        display: &display,
        reloading: script_reloading,
        mtime: script_mtime.and_then(script::micros),
        environ: Some(&cgi),
        application_group: &application_group,
        log: &error_log,
        peer,
    };
    let errors = ErrorTarget {
        log: &error_log,
        peer,
        script: &display,
    };

    let Some(module) = script::module(py, interp, &module_name, &src) else {
        send_event(py, &events, ResponseEvent::Failed(500));
        return Served::Done;
    };
    let app = match lookup(&module, &callable_key(py, &mut cache, &callable)) {
        Ok(Some(app)) => app,
        Ok(None) => {
            let pid = std::process::id();
            let msg = format!(
                "mod_wsgi (pid={pid}): Target WSGI script '{display}' does not contain WSGI application '{callable}'."
            );
            error_log.log(MODULE, Level::Error, peer, &msg);
            send_event(py, &events, ResponseEvent::Failed(404));
            return Served::Done;
        }
        Err(e) => {
            errors.python_error(py, &e);
            send_event(py, &events, ResponseEvent::Failed(500));
            return Served::Done;
        }
    };

    let objects = (|| -> PyResult<_> {
        let objects = RequestObjects::new(
            py,
            cache.spare.take(),
            &events,
            &error_log,
            peer,
            &interp.keys.write,
            body,
        )?;
        let script_start = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_micros());
        let side = PythonSide {
            url_scheme,
            application_group: &application_group,
            callable: &callable,
            input: objects.input.as_any(),
            errors: objects.errors.as_any(),
            script_start,
            total_requests,
            thread_id: thread.thread_id,
            thread_requests: thread.requests,
        };
        let env = environ::build(py, interp, &mut cache.keys, &cgi, &side)?;
        Ok((objects, env))
    })();
    drop(cache);
    let (objects, env) = match objects {
        Ok(objects) => objects,
        Err(e) => {
            errors.python_error(py, &e);
            send_event(py, &events, ResponseEvent::Failed(500));
            return Served::Done;
        }
    };

    {
        let _scope = RequestLogScope::enter(&objects.sink);
        response::run(py, interp, &app, env, &objects.adapter, &events, &errors);
    }

    // Objects the application kept must not reach a finished request;
    // the others serve the next request on this thread.
    if let Some(spare) = objects.finish() {
        group.thread_cache(thread.index).spare = Some(spare);
    }
    Served::Done
}

/// The WSGI callable: a global of the script module (mod_wsgi looks in the
/// module dict, so a module-level `__getattr__` does not count).
fn lookup<'py>(
    module: &Bound<'py, PyAny>,
    callable: &Bound<'py, PyString>,
) -> PyResult<Option<Bound<'py, PyAny>>> {
    match module.cast::<PyModule>() {
        Ok(m) => m.dict().get_item(callable),
        Err(_) => module.getattr_opt(callable),
    }
}

/// The callable's name as a Python string, kept from the thread's last
/// request in this interpreter (a new string per request, hashed for the
/// module dict lookup, was ~1% of a daemon process's CPU per hello).
fn callable_key<'py>(
    py: Python<'py>,
    cache: &mut ThreadCache,
    callable: &str,
) -> Bound<'py, PyString> {
    if let Some((name, key)) = &cache.callable_name
        && name == callable
    {
        return key.bind(py).clone();
    }
    let key = PyString::new(py, callable);
    cache.callable_name = Some((callable.to_owned(), key.clone().unbind()));
    key
}
