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
//! - [`ThreadSwitch::enter`] returns a guard that swaps back to the thread's
//!   home (main-interpreter) thread state when dropped, so pyo3 never sees a
//!   sub-interpreter's thread state outside a request;
//! - a [`SubInterpreter`] can only be destroyed by value, so nobody can be
//!   inside it (entering borrows it for the guard's lifetime).

use std::marker::PhantomData;
use std::ptr::NonNull;

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
        _py: Python<'_>,
        switch: &mut ThreadSwitch,
        set_up: impl FnOnce(Python<'_>) -> R,
    ) -> Result<(SubInterpreter, R), String> {
        // SAFETY: the GIL is held (`_py`) by this thread, whose current
        // thread state is its home state (a `ThreadSwitch` guard is never
        // alive across this call: `switch` is borrowed mutably).  As
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
    /// value guarantees no guard of [`ThreadSwitch::enter`] is alive for it,
    /// so none of its thread states is current anywhere.  Other threads'
    /// switches keep a stale entry for the id, which is never looked up
    /// again (ids are not reused).
    pub(crate) fn destroy(
        self,
        _py: Python<'_>,
        switch: &mut ThreadSwitch,
        before_end: impl FnOnce(Python<'_>),
    ) {
        let own = switch.take(self.id);
        // SAFETY: the GIL is held by this thread with its home state current
        // (no guard alive: `switch` is borrowed mutably).  `own` (if any) is
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

/// One OS thread's thread states for the sub-interpreters it serves, and its
/// home state (the main interpreter's, from pyo3's `Python::attach`).
#[derive(Debug)]
pub(crate) struct ThreadSwitch {
    home: NonNull<sys::PyThreadState>,
    states: Vec<(i64, NonNull<sys::PyThreadState>)>,
    /// Thread states are bound to the OS thread that made them.
    _not_send: PhantomData<*mut ()>,
}

impl ThreadSwitch {
    /// For the calling thread, which is attached to the main interpreter
    /// (its current thread state becomes the home state).
    pub(crate) fn new(_py: Python<'_>) -> Option<ThreadSwitch> {
        // SAFETY: the GIL is held (`_py`), so a current thread state exists;
        // PyThreadState_GetUnchecked would also do, PyThreadState_Get
        // aborts only when there is none, which `_py` rules out.
        let home = NonNull::new(unsafe { sys::PyThreadState_Get() })?;
        Some(ThreadSwitch {
            home,
            states: Vec::new(),
            _not_send: PhantomData,
        })
    }

    fn take(&mut self, id: i64) -> Option<NonNull<sys::PyThreadState>> {
        let i = self.states.iter().position(|(k, _)| *k == id)?;
        Some(self.states.swap_remove(i).1)
    }

    /// Make this thread's thread state for `interp` current (creating it on
    /// first use) until the guard is dropped.  `None` if CPython could not
    /// allocate a thread state.
    pub(crate) fn enter<'a>(
        &'a mut self,
        _py: Python<'_>,
        interp: &'a SubInterpreter,
    ) -> Option<Entered<'a>> {
        let tstate = match self.states.iter().find(|(k, _)| *k == interp.id) {
            Some((_, t)) => *t,
            None => {
                // SAFETY: `interp.raw` is alive (borrowed `SubInterpreter`,
                // which can only be destroyed by value).  The new state is
                // bound to this thread, which is the only one that uses it.
                let t = NonNull::new(unsafe { sys::PyThreadState_New(interp.raw.as_ptr()) })?;
                self.states.push((interp.id, t));
                t
            }
        };
        // SAFETY: the GIL is held by this thread with its home state current
        // (guards cannot nest: `self` is borrowed mutably by the guard);
        // `tstate` belongs to this thread and to a live interpreter that
        // shares the GIL, so swapping it in keeps the GIL with this thread.
        unsafe { sys::PyThreadState_Swap(tstate.as_ptr()) };
        Some(Entered {
            home: self.home,
            _switch: PhantomData,
        })
    }
}

/// While alive, a sub-interpreter's thread state is current on this thread.
pub(crate) struct Entered<'a> {
    home: NonNull<sys::PyThreadState>,
    _switch: PhantomData<&'a mut ThreadSwitch>,
}

impl Entered<'_> {
    /// The token for code running in the entered interpreter.
    pub(crate) fn py(&self) -> Python<'_> {
        // SAFETY: the GIL is held by this thread (entering required it and
        // nothing in between releases it without restoring it: pyo3's
        // `detach` saves and restores the current state), and the current
        // state is the entered one.
        unsafe { Python::assume_attached() }
    }
}

impl Drop for Entered<'_> {
    fn drop(&mut self) {
        // SAFETY: the GIL is held by this thread with the entered state
        // current (see `py`); the home state is this thread's own.
        unsafe { sys::PyThreadState_Swap(self.home.as_ptr()) };
    }
}
