//! The raw CPython and libc calls the host needs that pyo3's safe API does not
//! offer, each behind a safe function.  This is the only file in the
//! workspace with `unsafe` code.
//!
//! It does not decide anything: callers choose what to initialise, which
//! module to execute and which descriptor to duplicate.  Sub-interpreters
//! and per-thread thread states are in `subinterp.rs`; `bytes` objects
//! filled in place (request bodies) in `filling.rs`.

mod filling;
mod subinterp;

pub use filling::Filling;
pub(crate) use filling::bytes_filled;
pub(crate) use subinterp::{SubInterpreter, ThreadSwitch};

use std::ffi::{CStr, CString, c_char};
use std::fs::File;
use std::io;
use std::mem::MaybeUninit;
use std::os::fd::{FromRawFd, OwnedFd, RawFd};
use std::path::{Path, PathBuf};
use std::ptr::NonNull;

use pyo3::prelude::*;
use pyo3::types::PyModule;
use pyo3_ffi as sys;

/// What `Py_InitializeFromConfig` is given (the `WSGIPython*` directives).
#[derive(Debug, Default)]
pub(crate) struct InitOptions {
    /// `PyConfig.home` (PYTHONHOME), for a Python installation.
    pub home: Option<CString>,
    /// `PyConfig.program_name`: `<venv>/bin/python` when `WSGIPythonHome`
    /// names a venv, which is how mod_wsgi makes getpath find `pyvenv.cfg`.
    pub program_name: Option<CString>,
    /// `PyConfig.optimization_level` (`WSGIPythonOptimize`).
    pub optimize: i32,
    /// `PyConfig.hash_seed` (`WSGIPythonHashSeed`); None: random.
    pub hash_seed: Option<u32>,
    /// `PyConfig.write_bytecode = 0` (`WSGIDontWriteBytecode On`).
    pub dont_write_bytecode: bool,
}

/// The main thread state created by `Py_Initialize`, saved while the GIL is
/// released.  It stays on the thread that initialised Python (it is neither
/// `Send` nor `Sync`), which is the thread that must finalise it.
#[derive(Debug)]
pub(crate) struct MainThreadState(NonNull<sys::PyThreadState>);

/// Make glibc's `malloc` (which CPython uses for its raw and large
/// allocations, such as a request body's `bytes`) keep one arena for all
/// threads instead of one per request thread.  Each per-thread arena holds
/// on to its own freed memory: with eight request threads that was 1–1.7 MiB
/// of resident memory per process under a 64 KiB-POST load.  Python
/// allocates with the GIL held, so the shared arena's lock is not contended.
/// Call before the request threads start.  Rust's own allocations go to
/// mimalloc and are not affected.
pub(crate) fn one_malloc_arena() {
    // SAFETY: mallopt only sets a tunable of glibc's allocator; M_ARENA_MAX
    // with a positive value is always accepted and takes effect for arenas
    // created afterwards.
    unsafe {
        libc::mallopt(libc::M_ARENA_MAX, 1);
    }
}

/// Whether the CPython runtime is initialised in this process.
pub(crate) fn is_initialized() -> bool {
    // SAFETY: Py_IsInitialized may be called at any time, even before
    // initialisation (documented in "Initializing and finalizing").
    unsafe { sys::Py_IsInitialized() != 0 }
}

/// Initialise CPython without Python signal handlers (`Py_InitializeEx(0)`
/// semantics, environment variables honoured as in mod_wsgi), then release
/// the GIL.  The calling thread becomes Python's main thread.
pub(crate) fn initialize(opts: &InitOptions) -> Result<MainThreadState, String> {
    if is_initialized() {
        return Err("Python is already initialised".into());
    }
    let mut config = MaybeUninit::<sys::PyConfig>::uninit();
    // SAFETY: PyConfig_InitPythonConfig fully initialises the struct it is
    // given (pre-initialisation API, callable before Py_Initialize).
    unsafe { sys::PyConfig_InitPythonConfig(config.as_mut_ptr()) };
    // SAFETY: initialised just above.
    let config_ref = unsafe { config.assume_init_mut() };
    config_ref.install_signal_handlers = 0;
    config_ref.parse_argv = 0;
    config_ref.optimization_level = opts.optimize;
    if let Some(seed) = opts.hash_seed {
        config_ref.use_hash_seed = 1;
        config_ref.hash_seed = libc::c_ulong::from(seed);
    }
    if opts.dont_write_bytecode {
        config_ref.write_bytecode = 0;
    }

    let result = set_strings(config_ref, opts).and_then(|()| {
        // SAFETY: config is a valid, initialised PyConfig; the runtime is
        // not initialised (checked above, and the host serialises start-up).
        let status = unsafe { sys::Py_InitializeFromConfig(config_ref) };
        check_status(status)
    });
    // SAFETY: config was initialised by PyConfig_InitPythonConfig and is not
    // used afterwards; Clear frees the strings it owns.
    unsafe { sys::PyConfig_Clear(config_ref) };
    result?;

    // SAFETY: Py_InitializeFromConfig succeeded, so this thread holds the GIL
    // with the main thread state; SaveThread releases it and returns that
    // (non-null) state.
    let tstate = unsafe { sys::PyEval_SaveThread() };
    NonNull::new(tstate)
        .map(MainThreadState)
        .ok_or_else(|| "PyEval_SaveThread returned no thread state".to_string())
}

fn set_strings(config: &mut sys::PyConfig, opts: &InitOptions) -> Result<(), String> {
    if let Some(home) = &opts.home {
        let field: *mut *mut libc::wchar_t = &mut config.home;
        // SAFETY: `field` points into the initialised config; the string is a
        // valid NUL-terminated C string that CPython decodes and copies.
        let status = unsafe { sys::PyConfig_SetBytesString(config, field, home.as_ptr()) };
        check_status(status)?;
    }
    if let Some(program) = &opts.program_name {
        let field: *mut *mut libc::wchar_t = &mut config.program_name;
        // SAFETY: as above.
        let status = unsafe { sys::PyConfig_SetBytesString(config, field, program.as_ptr()) };
        check_status(status)?;
    }
    Ok(())
}

fn check_status(status: sys::PyStatus) -> Result<(), String> {
    // SAFETY: PyStatus_Exception only inspects the struct passed by value.
    if unsafe { sys::PyStatus_Exception(status) } == 0 {
        return Ok(());
    }
    if status.err_msg.is_null() {
        return Err(format!("exit status {}", status.exitcode));
    }
    // SAFETY: a non-null err_msg of a PyStatus is a static NUL-terminated
    // string (CPython only stores literals there).
    let msg = unsafe { CStr::from_ptr(status.err_msg) };
    Err(msg.to_string_lossy().into_owned())
}

impl MainThreadState {
    /// Re-attach the main thread state and run `Py_FinalizeEx` (threading
    /// shutdown, atexit callbacks, module teardown).  No Python code may run
    /// in this process afterwards.  Returns false if finalisation reported an
    /// error (for example flushing buffered data failed).
    pub(crate) fn finalize(self) -> bool {
        // SAFETY: `self.0` is the main thread state saved by `initialize` on
        // this same thread (the type is !Send); no other thread state of this
        // thread is attached, so restoring it is valid.  Every request thread
        // has been joined by the caller, so finalisation does not race with
        // them.
        unsafe {
            sys::PyEval_RestoreThread(self.0.as_ptr());
            sys::Py_FinalizeEx() == 0
        }
    }
}

/// `Py_GetVersion()`: the version of the libpython actually loaded.
pub(crate) fn version_string() -> String {
    // SAFETY: Py_GetVersion may be called before initialisation and returns
    // a pointer to a static NUL-terminated string.
    let ptr = unsafe { sys::Py_GetVersion() };
    if ptr.is_null() {
        return String::new();
    }
    // SAFETY: non-null static C string (see above).
    unsafe { CStr::from_ptr(ptr) }
        .to_string_lossy()
        .into_owned()
}

/// The file the libpython in use was loaded from (the soname trap: another
/// installation's library with the same soname can be picked up silently).
pub(crate) fn library_path() -> Option<PathBuf> {
    let mut info = MaybeUninit::<libc::Dl_info>::uninit();
    let symbol = sys::Py_GetVersion as *const libc::c_void;
    // SAFETY: dladdr only reads the address and writes into `info`.
    let found = unsafe { libc::dladdr(symbol, info.as_mut_ptr()) };
    if found == 0 {
        return None;
    }
    // SAFETY: dladdr returned non-zero, so it filled `info`.
    let info = unsafe { info.assume_init() };
    if info.dli_fname.is_null() {
        return None;
    }
    // SAFETY: dli_fname is a NUL-terminated path owned by the dynamic loader.
    let name = unsafe { CStr::from_ptr(info.dli_fname) };
    Some(PathBuf::from(name.to_string_lossy().into_owned()))
}

/// Duplicate a descriptor that a live Python file object owns, with
/// close-on-exec set.  The copy shares the file offset, so readers must use
/// positional reads.
pub(crate) fn dup_fd(fd: RawFd) -> io::Result<File> {
    if fd < 0 {
        return Err(io::Error::from_raw_os_error(libc::EBADF));
    }
    // SAFETY: fcntl(F_DUPFD_CLOEXEC) has no memory-safety preconditions; an
    // invalid descriptor just fails with EBADF.
    let new_fd = unsafe { libc::fcntl(fd, libc::F_DUPFD_CLOEXEC, 0) };
    if new_fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: `new_fd` was just created by fcntl and is owned by nobody else.
    let owned = unsafe { OwnedFd::from_raw_fd(new_fd) };
    Ok(File::from(owned))
}

/// `PyImport_ExecCodeModuleEx`: create module `name` in `sys.modules`, set
/// `__file__` (and the loader attributes CPython adds) to `path`, execute
/// `code` in it.  On failure CPython removes the module again.
pub(crate) fn exec_code_module<'py>(
    py: Python<'py>,
    name: &CStr,
    code: &Bound<'py, PyAny>,
    path: &Path,
) -> PyResult<Bound<'py, PyModule>> {
    let path = CString::new(path.as_os_str().as_encoded_bytes())
        .map_err(|_| pyo3::exceptions::PyValueError::new_err("script path contains a NUL byte"))?;
    let name_ptr: *const c_char = name.as_ptr();
    // SAFETY: the GIL is held (`py`), `code` is a live code object reference,
    // both strings are valid NUL-terminated C strings.  The call returns a
    // new reference or NULL with an exception set, which
    // from_owned_ptr_or_err turns into a PyErr.
    let module = unsafe {
        let ptr = sys::PyImport_ExecCodeModuleEx(name_ptr, code.as_ptr(), path.as_ptr());
        Bound::from_owned_ptr_or_err(py, ptr)?
    };
    Ok(module.cast_into::<PyModule>()?)
}

unsafe extern "C" {
    /// `_PyDict_NewPresized` (exported by libpython 3.8-3.13; pyo3-ffi
    /// leaves private functions out).
    fn _PyDict_NewPresized(minused: sys::Py_ssize_t) -> *mut sys::PyObject;
}

/// An empty dict with room for `entries` items without resizing.
pub(crate) fn dict_with_capacity(
    py: Python<'_>,
    entries: usize,
) -> PyResult<Bound<'_, pyo3::types::PyDict>> {
    let entries = sys::Py_ssize_t::try_from(entries).unwrap_or(sys::Py_ssize_t::MAX);
    // SAFETY: the GIL is held (`py`); the function takes a plain size and
    // returns a new reference to a dict, or NULL with an exception set
    // (turned into a PyErr by from_owned_ptr_or_err).
    let dict = unsafe { Bound::from_owned_ptr_or_err(py, _PyDict_NewPresized(entries))? };
    Ok(dict.cast_into::<pyo3::types::PyDict>()?)
}

/// A bytes object holding `parts` one after the other, copied once (no
/// zero-filling first, as `PyBytes::new_with` does).
pub(crate) fn bytes_from_parts<'py>(
    py: Python<'py>,
    parts: &[bytes::Bytes],
) -> PyResult<Bound<'py, pyo3::types::PyBytes>> {
    let total: usize = parts.iter().map(bytes::Bytes::len).sum();
    let size = sys::Py_ssize_t::try_from(total)
        .map_err(|_| pyo3::exceptions::PyOverflowError::new_err("request data too large"))?;
    // SAFETY: the GIL is held (`py`).  With a NULL source,
    // PyBytes_FromStringAndSize returns a new, uninitialised bytes object of
    // `size` bytes (or NULL with an exception set, turned into a PyErr).
    let obj = unsafe {
        Bound::from_owned_ptr_or_err(py, sys::PyBytes_FromStringAndSize(std::ptr::null(), size))?
    };
    // SAFETY: `obj` is the bytes object just created, so PyBytes_AsString
    // returns its buffer of `total` (+1 NUL) writable bytes; nobody else
    // holds a reference yet.  The parts are copied end to end and sum to
    // exactly `total`, so every byte is written before Python sees it.
    unsafe {
        let mut dst = sys::PyBytes_AsString(obj.as_ptr()).cast::<u8>();
        for part in parts {
            std::ptr::copy_nonoverlapping(part.as_ptr(), dst, part.len());
            dst = dst.add(part.len());
        }
    }
    Ok(obj.cast_into::<pyo3::types::PyBytes>()?)
}

/// The object's reference count (whether anything besides the caller's
/// reference holds it: `request_objects.rs` reuses only such objects).
pub(crate) fn refcount(obj: &Bound<'_, PyAny>) -> isize {
    // SAFETY: `obj` is a live object (a `Bound` holds a strong reference
    // and proves the thread is attached), so reading its header's count
    // is valid.
    unsafe { sys::Py_REFCNT(obj.as_ptr()) }
}
