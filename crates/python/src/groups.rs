//! Application groups: one Python interpreter each, created in this process
//! the first time a request names the group, as mod_wsgi's
//! `wsgi_acquire_interpreter` does.
//!
//! `%{GLOBAL}` (the empty name) is the main interpreter; every other name
//! gets a sub-interpreter ([`crate::ffi::SubInterpreter`]) set up like the
//! main one (`runtime::set_up_interpreter`).  A group replaced by the
//! `Interpreter` reload mechanism is *retired*: new requests get a fresh
//! interpreter, and the old one is destroyed by the first request thread
//! that finds nobody inside it any more (an in-flight request holds a strong
//! reference; the registry holds the only other one).
//!
//! Locking: the registry's mutex is only ever waited for with the GIL
//! released (a thread holding the GIL while blocked on it could deadlock
//! with the creator, which runs Python code with the mutex held).

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError, TryLockError};

use pyo3::prelude::*;
use pyo3::types::PyString;
use wsgid_log::{ErrorLog, Level, Peer};

use crate::environ::KeyCache;
use crate::ffi::{SubInterpreter, ThreadSwitch};
use crate::interp::Interpreter;
use crate::log_stream::{MODULE, format_exception};
use crate::{ImportScript, PythonConfig};
use crate::{runtime, script};

/// What one request thread keeps for one interpreter between requests.
/// Kept in the group (not the thread) so that it is dropped inside its
/// interpreter before that interpreter is destroyed.
#[derive(Default)]
pub(crate) struct ThreadCache {
    pub keys: KeyCache,
    /// The last script served and its module name.
    pub last_script: Option<(std::path::PathBuf, Py<PyString>)>,
    /// The last request's callable name and its Python string.
    pub callable_name: Option<(String, Py<PyString>)>,
    /// The previous request's Python objects, when nothing kept them.
    pub spare: Option<crate::request_objects::Spare>,
}

/// One application group's interpreter.
pub(crate) struct Group {
    /// The group name (`""` for `%{GLOBAL}`).
    pub name: String,
    pub interp: Interpreter,
    /// `None` for the main interpreter.
    /// Request threads parked in the interpreter hold clones (see
    /// `ThreadSwitch`).
    sub: Option<Arc<SubInterpreter>>,
    /// One cache per request thread (indexed by thread number).
    threads: Box<[Mutex<ThreadCache>]>,
    /// Set when the `Interpreter` reload mechanism replaced this group.
    retired: AtomicBool,
}

impl Group {
    fn new(
        name: String,
        interp: Interpreter,
        sub: Option<SubInterpreter>,
        threads: usize,
    ) -> Group {
        Group {
            name,
            interp,
            sub: sub.map(Arc::new),
            threads: (0..threads.max(1))
                .map(|_| Mutex::new(ThreadCache::default()))
                .collect(),
            retired: AtomicBool::new(false),
        }
    }

    /// The main interpreter's group.
    pub(crate) fn main(interp: Interpreter, threads: usize) -> Group {
        Group::new(String::new(), interp, None, threads)
    }

    pub(crate) fn sub(&self) -> Option<&Arc<SubInterpreter>> {
        self.sub.as_ref()
    }

    pub(crate) fn is_retired(&self) -> bool {
        self.retired.load(Ordering::Acquire)
    }

    /// This request thread's cache (uncontended: only the thread itself
    /// locks its slot, and teardown runs when no thread uses the group).
    pub(crate) fn thread_cache(&self, thread: usize) -> MutexGuard<'_, ThreadCache> {
        let slot = &self.threads[thread % self.threads.len()];
        slot.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The interpreter handle, and everything else (the Python objects,
    /// to be dropped inside that interpreter).
    fn split(self) -> (Option<Arc<SubInterpreter>>, GroupObjects) {
        (
            self.sub,
            GroupObjects {
                name: self.name,
                _interp: self.interp,
                _threads: self.threads,
            },
        )
    }
}

/// A group's Python objects, without its interpreter handle.
struct GroupObjects {
    name: String,
    _interp: Interpreter,
    _threads: Box<[Mutex<ThreadCache>]>,
}

/// Destroy `group`'s sub-interpreter (nobody may be inside it), dropping
/// its cached objects inside it first.  The main interpreter's group is
/// just dropped (Python finalisation ends that interpreter).
pub(crate) fn destroy(py: Python<'_>, switch: &mut ThreadSwitch, group: Group, log: &ErrorLog) {
    let (sub, objects) = group.split();
    let Some(sub) = sub else {
        drop(objects);
        return;
    };
    let pid = std::process::id();
    let Ok(sub) = Arc::try_unwrap(sub) else {
        // A thread is still parked in it (cannot happen at shutdown, when
        // every request thread has exited): leave it to process exit.
        log.log(
            MODULE,
            Level::Warn,
            Peer::None,
            &format!(
                "mod_wsgi (pid={pid}): Interpreter '{}' still in use; not destroyed.",
                objects.name
            ),
        );
        return;
    };
    log.log(
        MODULE,
        Level::Info,
        Peer::None,
        &format!(
            "mod_wsgi (pid={pid}): Destroy interpreter '{}'.",
            objects.name
        ),
    );
    sub.destroy(py, switch, move |_| drop(objects));
}

/// Every group this process has created.
pub(crate) struct Groups {
    main: Arc<Group>,
    named: Mutex<HashMap<String, Arc<Group>>>,
    /// Groups replaced by an `Interpreter` reload, awaiting destruction.
    retired: Mutex<Vec<Arc<Group>>>,
    any_retired: AtomicBool,
    cfg: PythonConfig,
    log: ErrorLog,
}

impl Groups {
    pub(crate) fn new(main: Arc<Group>, cfg: PythonConfig, log: ErrorLog) -> Groups {
        Groups {
            main,
            named: Mutex::new(HashMap::new()),
            retired: Mutex::new(Vec::new()),
            any_retired: AtomicBool::new(false),
            cfg,
            log,
        }
    }

    pub(crate) fn main(&self) -> &Arc<Group> {
        &self.main
    }

    /// The group called `name`, creating its interpreter if this process
    /// has none yet.  Called on a request thread attached to the main
    /// interpreter (`switch`'s home).  `None` when the interpreter could not
    /// be created or set up (logged).
    pub(crate) fn get(
        &self,
        py: Python<'_>,
        switch: &mut ThreadSwitch,
        name: &str,
    ) -> Option<Arc<Group>> {
        if name.is_empty() {
            return Some(Arc::clone(&self.main));
        }
        let mut named = lock_detached(py, &self.named);
        if let Some(group) = named.get(name) {
            return Some(Arc::clone(group));
        }
        let group = Arc::new(self.create(py, switch, name)?);
        named.insert(name.to_owned(), Arc::clone(&group));
        Some(group)
    }

    fn create(&self, py: Python<'_>, switch: &mut ThreadSwitch, name: &str) -> Option<Group> {
        let pid = std::process::id();
        self.log.log(
            MODULE,
            Level::Info,
            Peer::None,
            &format!("mod_wsgi (pid={pid}): Create interpreter '{name}'."),
        );
        let created = SubInterpreter::create(py, switch, |py| {
            runtime::set_up_interpreter(py, &self.cfg, &self.log, name)
                .map_err(|e| format_exception(py, &e).unwrap_or_else(|_| e.to_string()))
        });
        let failed = match created {
            Ok((sub, Ok(interp))) => {
                return Some(Group::new(
                    name.to_owned(),
                    interp,
                    Some(sub),
                    self.cfg.threads,
                ));
            }
            Ok((sub, Err(why))) => {
                sub.destroy(py, switch, |_| {});
                why
            }
            Err(why) => why,
        };
        self.log.log(
            MODULE,
            Level::Error,
            Peer::None,
            &format!(
                "mod_wsgi (pid={pid}): Cannot create interpreter '{name}': {}",
                failed.trim_end()
            ),
        );
        None
    }

    /// Run the `WSGIImportScript`s, in order, each in its group's
    /// interpreter (created now if needed) on the calling thread: the
    /// runtime thread, Python's main thread, before any request.
    pub(crate) fn import_scripts(
        &self,
        py: Python<'_>,
        switch: &mut ThreadSwitch,
        scripts: &[ImportScript],
    ) {
        for s in scripts {
            let Some(group) = self.get(py, switch, &s.application_group) else {
                let pid = std::process::id();
                self.log.log(
                    MODULE,
                    Level::Crit,
                    Peer::None,
                    &format!(
                        "mod_wsgi (pid={pid}): Cannot acquire interpreter '{}'.",
                        s.application_group
                    ),
                );
                continue;
            };
            match group.sub() {
                None => {
                    script::import(py, &group.interp, &s.path, &group.name, &self.log);
                }
                Some(sub) => {
                    if switch.switch_to(py, Some(sub)) {
                        script::import(py, &group.interp, &s.path, &group.name, &self.log);
                    }
                    switch.leave(py);
                }
            }
        }
    }

    /// The `Interpreter` reload mechanism: forget `group` so that the next
    /// request creates a fresh interpreter; the old one is destroyed once
    /// no request uses it.  A no-op for the main interpreter (the
    /// specification: `%{GLOBAL}` always reloads as `Module`).
    pub(crate) fn retire(&self, py: Python<'_>, group: &Arc<Group>) {
        if group.sub.is_none() || group.retired.swap(true, Ordering::AcqRel) {
            return;
        }
        let mut named = lock_detached(py, &self.named);
        if named
            .get(&group.name)
            .is_some_and(|g| Arc::ptr_eq(g, group))
        {
            named.remove(&group.name);
        }
        drop(named);
        let mut retired = lock_detached(py, &self.retired);
        retired.push(Arc::clone(group));
        self.any_retired.store(true, Ordering::Release);
    }

    /// Whether some replaced interpreter awaits destruction.
    pub(crate) fn has_retired(&self) -> bool {
        self.any_retired.load(Ordering::Acquire)
    }

    /// Destroy retired interpreters nobody is inside any more.  Cheap when
    /// there are none; called by request threads between requests.
    pub(crate) fn reap(&self, py: Python<'_>, switch: &mut ThreadSwitch) {
        if !self.any_retired.load(Ordering::Acquire) {
            return;
        }
        let idle = {
            let mut retired = lock_detached(py, &self.retired);
            let mut idle = Vec::new();
            let mut busy = Vec::new();
            for group in retired.drain(..) {
                // Only the registry's reference left: no request holds it
                // and no thread is parked in its interpreter (threads find
                // groups through the registry only, so none can come back).
                let parked = group.sub.as_ref().is_some_and(|s| Arc::strong_count(s) > 1);
                match Arc::try_unwrap(group) {
                    Ok(group) if !parked => idle.push(group),
                    Ok(group) => busy.push(Arc::new(group)),
                    Err(group) => busy.push(group),
                }
            }
            self.any_retired.store(!busy.is_empty(), Ordering::Release);
            *retired = busy;
            idle
        };
        for group in idle {
            self.destroy(py, switch, group);
        }
    }

    fn destroy(&self, py: Python<'_>, switch: &mut ThreadSwitch, group: Group) {
        destroy(py, switch, group, &self.log);
    }

    /// Every interpreter, for shutdown: the named and retired groups, which
    /// the caller destroys before finalising Python.
    pub(crate) fn drain(&self) -> Vec<Group> {
        let mut all: Vec<Arc<Group>> = self
            .named
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .drain()
            .map(|(_, g)| g)
            .collect();
        all.append(&mut self.retired.lock().unwrap_or_else(PoisonError::into_inner));
        all.into_iter()
            .filter_map(|g| Arc::try_unwrap(g).ok())
            .collect()
    }
}

/// Lock `m`, waiting (if at all) with the GIL released.
fn lock_detached<'a, T: Send>(py: Python<'_>, m: &'a Mutex<T>) -> MutexGuard<'a, T> {
    loop {
        match m.try_lock() {
            Ok(guard) => return guard,
            Err(TryLockError::Poisoned(p)) => return p.into_inner(),
            Err(TryLockError::WouldBlock) => py.detach(|| drop(m.lock())),
        }
    }
}
