//! Sub-interpreters and the thread states that run code in them.
//!
//! pyo3's safe layer knows one interpreter: `Python::attach` gives a thread
//! a thread state of the *main* interpreter (through the `PyGILState` API).
//! Application groups need more: each group is a sub-interpreter, and each
//! request thread needs one thread state per interpreter it serves, which it
//! swaps in for the length of a request.  That is what this file does, with
//! the same CPython calls mod_wsgi makes (`newInterpreterObject`,
//! `wsgi_acquire_interpreter`, `Interpreter_dealloc` in wsgi_interp.c).
//!
//! Every sub-interpreter is created with the *legacy* configuration
//! (`Py_NewInterpreter`): it shares the main interpreter's GIL and object
//! allocator.  That is what mod_wsgi does, what C extensions written for
//! mod_wsgi expect, and what makes it sound for pyo3's `#[pyclass]` type
//! objects (created once per process) to be used from every interpreter:
//! with one GIL nothing runs concurrently, and objects are freed into the
//! one allocator whichever interpreter drops them.  Own-GIL interpreters
//! (PEP 684) would break both assumptions and are not used.
//!
//! Invariants the safe API below keeps:
//! - a [`ThreadSwitch`] belongs to one OS thread (it is `!Send`) and only
//!   swaps between thread states it created on that thread;
//! - a switch away from home holds a strong reference to the interpreter
//!   it is in, and a [`SubInterpreter`] can only be destroyed by value, so
//!   no thread can be inside (or parked in) an interpreter being destroyed;
//! - the request thread goes home ([`ThreadSwitch::leave`]) before pyo3's
//!   `attach` scope ends, so pyo3 releases the state it acquired.

use std::marker::PhantomData;
use std::ptr::NonNull;
use std::sync::Arc;

use pyo3::prelude::*;
use pyo3_ffi as sys;

/// A sub-interpreter created by [`SubInterpreter::create`].  Dropping it
/// without [`SubInterpreter::destroy`] leaks it (Python finalisation still
/// tears the process down).
#[derive(Debug)]
pub(crate) struct SubInterpreter {
    raw: NonNull<sys::PyInterpreterState>,
    /// `PyInterpreterState_GetID`: unique for the life of the process (never
    /// reused), so it can key per-thread tables safely.
    id: i64,
}

// SAFETY: the pointer is an opaque handle that is only passed to CPython
// while the calling thread holds the (shared) GIL; CPython serialises every
// use of it.
unsafe impl Send for SubInterpreter {}
// SAFETY: as above; `&SubInterpreter` gives no unsynchronised access.
unsafe impl Sync for SubInterpreter {}

impl SubInterpreter {
    /// Create a sub-interpreter (legacy configuration: shared GIL and
    /// allocator) and run `set_up` inside it, on a thread state that then
    /// stays this thread's thread state for the new interpreter (`switch`
    /// records it).  The caller is back on its own thread state afterwards.
    /// `Err` when CPython could not create the interpreter.
    pub(crate) fn create<R>(
        py: Python<'_>,
        switch: &mut ThreadSwitch,
        set_up: impl FnOnce(Python<'_>) -> R,
    ) -> Result<(SubInterpreter, R), String> {
        switch.leave(py);
        // SAFETY: the GIL is held (`py`) by this thread, whose current
        // thread state is its home state (just switched there).  As
        // mod_wsgi does, the current state is swapped out first;
        // Py_NewInterpreter then creates the interpreter plus a thread state
        // and makes it current, or returns NULL having restored nothing, in
        // which case the saved state is swapped back in.
        let (saved, tstate) = unsafe {
            let saved = sys::PyThreadState_Swap(std::ptr::null_mut());
            let tstate = sys::Py_NewInterpreter();
            (saved, tstate)
        };
        let Some(tstate) = NonNull::new(tstate) else {
            // SAFETY: `saved` is this thread's state that was current above.
            unsafe { sys::PyThreadState_Swap(saved) };
            return Err("Py_NewInterpreter() failed".to_owned());
        };
        // SAFETY: `tstate` is current and valid (just created); its
        // interpreter pointer is non-null for a live thread state.
        let raw = unsafe { sys::PyThreadState_GetInterpreter(tstate.as_ptr()) };
        let Some(raw) = NonNull::new(raw) else {
            // SAFETY: as above.
            unsafe { sys::PyThreadState_Swap(saved) };
            return Err("new thread state has no interpreter".to_owned());
        };
        // SAFETY: `raw` is a live interpreter.
        let id = unsafe { sys::PyInterpreterState_GetID(raw.as_ptr()) };
        // SAFETY: the GIL is held with the new interpreter's state current,
        // which is what the token stands for while `set_up` runs.
        let result = set_up(unsafe { Python::assume_attached() });
        // SAFETY: back to the state that was current on entry (the GIL stays
        // with this thread: on 3.12+ the swap releases and retakes it).
        unsafe { sys::PyThreadState_Swap(saved) };
        switch.states.push((id, tstate));
        Ok((SubInterpreter { raw, id }, result))
    }

    /// Destroy the interpreter, as mod_wsgi does: run `before_end` inside it
    /// (to drop cached objects), clear and delete every thread state other
    /// threads created for it, then `Py_EndInterpreter` (atexit callbacks,
    /// waits for the interpreter's non-daemon threads).  Taking `self` by
    /// value guarantees no switch holds it (a switch inside an interpreter
    /// holds a strong reference), so none of its thread states is current
    /// or parked anywhere.  Other threads'
    /// switches keep a stale entry for the id, which is never looked up
    /// again (ids are not reused).
    pub(crate) fn destroy(
        self,
        py: Python<'_>,
        switch: &mut ThreadSwitch,
        before_end: impl FnOnce(Python<'_>),
    ) {
        switch.leave(py);
        let own = switch.take(self.id);
        // SAFETY: the GIL is held by this thread with its home state current
        // (just switched there).  `own` (if any) is
        // this thread's state for the interpreter; otherwise a new one is
        // made.  No state of this interpreter is current on any thread (see
        // above), so each may be cleared (with itself current, so that
        // finalisers see the right interpreter) and deleted (with another
        // one current, as PyThreadState_Delete requires).  The chain is
        // walked with `next` read before each deletion.  Py_EndInterpreter
        // is given the last remaining state, current; afterwards no state
        // is current and the home state is swapped back in.
        unsafe {
            let tstate = match own {
                Some(t) => t.as_ptr(),
                None => sys::PyThreadState_New(self.raw.as_ptr()),
            };
            if tstate.is_null() {
                // Cannot enter it: leave it to process exit.
                return;
            }
            let home = sys::PyThreadState_Swap(tstate);
            before_end(Python::assume_attached());
            let mut iter = sys::PyInterpreterState_ThreadHead(self.raw.as_ptr());
            while !iter.is_null() {
                let next = sys::PyThreadState_Next(iter);
                if iter != tstate {
                    sys::PyThreadState_Swap(iter);
                    sys::PyThreadState_Clear(iter);
                    sys::PyThreadState_Swap(tstate);
                    sys::PyThreadState_Delete(iter);
                }
                iter = next;
            }
            sys::Py_EndInterpreter(tstate);
            sys::PyThreadState_Swap(home);
        }
    }
}

/// One OS thread's thread states for the sub-interpreters it serves, its
/// home state (the main interpreter's, from pyo3's `Python::attach`), and
/// which of them is current.
///
/// A thread stays in the interpreter of its last request until a request
/// for another group arrives: consecutive requests of one group then cost
/// no swap, and the thread waits for work (GIL released by pyo3's
/// `detach`, which saves and restores whatever state is current) with that
/// interpreter's state, so its GIL requests reach a running thread of the
/// same interpreter (CPython before 3.13 files a GIL drop request with the
/// requester's interpreter only).
#[derive(Debug)]
pub(crate) struct ThreadSwitch {
    home: NonNull<sys::PyThreadState>,
    states: Vec<(i64, NonNull<sys::PyThreadState>)>,
    /// The interpreter whose state is current (None: home).  Holding a
    /// strong reference keeps it from being destroyed meanwhile.
    current: Option<(Arc<SubInterpreter>, NonNull<sys::PyThreadState>)>,
    /// Thread states are bound to the OS thread that made them.
    _not_send: PhantomData<*mut ()>,
}

impl ThreadSwitch {
    /// For the calling thread, which is attached to the main interpreter
    /// (its current thread state becomes the home state).
    pub(crate) fn new(_py: Python<'_>) -> Option<ThreadSwitch> {
        // SAFETY: the GIL is held (`_py`), so a current thread state exists
        // and PyThreadState_Get returns it (it aborts only when there is
        // none, which `_py` rules out).
        let home = NonNull::new(unsafe { sys::PyThreadState_Get() })?;
        Some(ThreadSwitch {
            home,
            states: Vec::new(),
            current: None,
            _not_send: PhantomData,
        })
    }

    fn take(&mut self, id: i64) -> Option<NonNull<sys::PyThreadState>> {
        let i = self.states.iter().position(|(k, _)| *k == id)?;
        Some(self.states.swap_remove(i).1)
    }

    /// Make this thread's state for `target` current (`None`: the home
    /// state), creating it on first use.  False if CPython could not
    /// allocate a thread state (the current state is then unchanged).
    pub(crate) fn switch_to(
        &mut self,
        _py: Python<'_>,
        target: Option<&Arc<SubInterpreter>>,
    ) -> bool {
        let same = match (&self.current, target) {
            (None, None) => true,
            (Some((cur, _)), Some(t)) => cur.id == t.id,
            _ => false,
        };
        if same {
            return true;
        }
        let next = match target {
            None => None,
            Some(interp) => {
                let tstate = match self.states.iter().find(|(k, _)| *k == interp.id) {
                    Some((_, t)) => *t,
                    None => {
                        // SAFETY: `interp` is alive (a strong reference is
                        // held, and destruction needs the value).  The new
                        // state is bound to this thread, the only one that
                        // uses it.
                        let Some(t) =
                            NonNull::new(unsafe { sys::PyThreadState_New(interp.raw.as_ptr()) })
                        else {
                            return false;
                        };
                        self.states.push((interp.id, t));
                        t
                    }
                };
                Some((Arc::clone(interp), tstate))
            }
        };
        let to = next.as_ref().map_or(self.home, |(_, t)| *t);
        // SAFETY: the GIL is held by this thread (`_py`) with the state
        // `self` says is current (home, or `self.current`'s, which is alive
        // because of the reference held).  `to` is this thread's own state
        // for a live interpreter sharing the GIL, so the GIL stays with
        // this thread across the swap.
        unsafe { sys::PyThreadState_Swap(to.as_ptr()) };
        self.current = next;
        true
    }

    /// Back to the home state (before pyo3's `attach` scope ends, and
    /// before this thread destroys an interpreter).
    pub(crate) fn leave(&mut self, py: Python<'_>) {
        self.switch_to(py, None);
    }
}

impl Drop for ThreadSwitch {
    fn drop(&mut self) {
        let Some((_, tstate)) = self.current.take() else {
            return;
        };
        // A switch dropped while away from home (a panic unwound past
        // `leave`): go home if, and only if, this thread still has that
        // state current, which means it holds the GIL; otherwise leave the
        // state alone (pyo3 would then find the thread not attached and
        // CPython reports the mismatch rather than corrupting memory).
        // SAFETY: PyThreadState_GetUnchecked only reads this thread's
        // current state pointer; swapping our own current state for our
        // own home state with the GIL held is valid (see `switch_to`).
        unsafe {
            if sys::compat::PyThreadState_GetUnchecked() == tstate.as_ptr() {
                sys::PyThreadState_Swap(self.home.as_ptr());
            }
        }
    }
}
