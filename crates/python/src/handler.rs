//! Serving one request on a request thread: load the script, find the
//! callable, create the per-request objects, build the environ, run the
//! application, and expire the objects afterwards.
//!
//! This is mod_wsgi's `wsgi_execute_script` without the Apache parts: the
//! front end has already mapped the URL, checked the file exists and built
//! the CGI variables.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use pyo3::prelude::*;
use pyo3::types::{PyModule, PyString};
use wsgid_log::Level;

use crate::adapter::{Adapter, send_event};
use crate::environ::{self, KeyCache, PythonSide};
use crate::input::Input;
use crate::interp::Interpreter;
use crate::log_stream::{LogSink, LogStream, MODULE, RequestLogScope};
use crate::response::{self, ErrorTarget};
use crate::script::{self, ScriptSource};
use crate::{ResponseEvent, WsgiRequest};

/// The state one request thread keeps between requests.
pub(crate) struct Worker {
    interp: Arc<Interpreter>,
    keys: KeyCache,
    /// `mod_wsgi.thread_id`.
    thread_id: u64,
    /// `mod_wsgi.thread_requests`.
    requests: u64,
    /// The last script served and its module name (saves the interpreter's
    /// shared name cache a lock and a hash per request).
    last_script: Option<(PathBuf, Py<PyString>)>,
}

impl Worker {
    pub(crate) fn new(interp: Arc<Interpreter>, thread_id: u64) -> Worker {
        Worker {
            interp,
            keys: KeyCache::default(),
            thread_id,
            requests: 0,
            last_script: None,
        }
    }

    fn module_name<'py>(&mut self, py: Python<'py>, script: &Path) -> Bound<'py, PyString> {
        if let Some((path, name)) = &self.last_script
            && path.as_os_str() == script.as_os_str()
        {
            return name.bind(py).clone();
        }
        let name = self.interp.script_module_name(py, script);
        self.last_script = Some((script.to_path_buf(), name.clone().unbind()));
        name
    }

    /// Serve `req`; every outcome is reported through `req.events`.
    pub(crate) fn handle(&mut self, py: Python<'_>, req: WsgiRequest) {
        self.requests += 1;
        let interp = Arc::clone(&self.interp);
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
        } = req;
        let peer = interp.peer(client);
        let display = script.to_string_lossy();
        let src = ScriptSource {
            path: &script,
            display: &display,
            reloading: script_reloading,
            mtime: script_mtime.and_then(script::micros),
            application_group: &application_group,
            log: &error_log,
            peer,
        };
        let errors = ErrorTarget {
            log: &error_log,
            peer,
            script: &display,
        };

        let module_name = self.module_name(py, &script);
        let Some(module) = script::module(py, &interp, &module_name, &src) else {
            send_event(py, &events, ResponseEvent::Failed(500));
            return;
        };
        let app = match lookup(&module, &callable) {
            Ok(Some(app)) => app,
            Ok(None) => {
                let pid = std::process::id();
                let msg = format!(
                    "mod_wsgi (pid={pid}): Target WSGI script '{display}' does not contain WSGI application '{callable}'."
                );
                error_log.log(MODULE, Level::Error, peer, &msg);
                send_event(py, &events, ResponseEvent::Failed(404));
                return;
            }
            Err(e) => {
                errors.python_error(py, &e);
                send_event(py, &events, ResponseEvent::Failed(500));
                return;
            }
        };

        let sink = LogSink::shared(error_log.clone(), peer);
        let objects = (|| -> PyResult<_> {
            let adapter = Bound::new(
                py,
                Adapter::new(
                    events.clone(),
                    error_log.clone(),
                    peer,
                    interp.keys.write.clone_ref(py),
                ),
            )?;
            let input = Bound::new(py, Input::new(body))?;
            let errors_obj = Bound::new(py, LogStream::for_request(Arc::clone(&sink)))?;
            let script_start = SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map_or(0, |d| d.as_micros());
            let side = PythonSide {
                url_scheme,
                application_group: &application_group,
                callable: &callable,
                input: input.as_any(),
                errors: errors_obj.as_any(),
                script_start,
                total_requests,
                thread_id: self.thread_id,
                thread_requests: self.requests,
            };
            let env = environ::build(py, &interp, &mut self.keys, &cgi, &side)?;
            Ok((adapter, input, errors_obj, env))
        })();
        let (adapter, input, errors_obj, env) = match objects {
            Ok(objects) => objects,
            Err(e) => {
                errors.python_error(py, &e);
                send_event(py, &events, ResponseEvent::Failed(500));
                return;
            }
        };

        {
            let _scope = RequestLogScope::enter(&sink);
            response::run(py, &interp, &app, env, &adapter, &events, &errors);
        }

        // Objects the application kept must not reach a finished request.
        if let Ok(mut a) = adapter.try_borrow_mut() {
            a.expire();
        }
        if let Ok(mut i) = input.try_borrow_mut() {
            i.expire();
        }
        drop(errors_obj);
        LogSink::close_shared(&sink);
    }
}

/// The WSGI callable: a global of the script module (mod_wsgi looks in the
/// module dict, so a module-level `__getattr__` does not count).
fn lookup<'py>(module: &Bound<'py, PyAny>, callable: &str) -> PyResult<Option<Bound<'py, PyAny>>> {
    match module.cast::<PyModule>() {
        Ok(m) => m.dict().get_item(callable),
        Err(_) => module.getattr_opt(callable),
    }
}
