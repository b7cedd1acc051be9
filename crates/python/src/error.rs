//! `PythonError`: why the Python host could not start.
//!
//! Only start-up can fail as a whole; failures while serving a request are
//! per request (logged, and answered with `ResponseEvent::Failed`/`Abort`).

/// A failure to bring up the embedded Python runtime or its request threads.
#[derive(Debug, thiserror::Error)]
pub enum PythonError {
    /// CPython can be initialised only once per process.
    #[error("the Python runtime was already started in this process")]
    AlreadyStarted,
    /// `Py_InitializeFromConfig` (or its configuration) failed.
    #[error("Python initialisation failed: {0}")]
    Init(String),
    /// A Python-level start-up step raised (the text includes the traceback).
    #[error("Python start-up failed: {0}")]
    Setup(String),
    /// An OS thread could not be spawned.
    #[error("cannot start Python thread: {0}")]
    Thread(#[source] std::io::Error),
    /// The runtime thread ended before reporting whether start-up worked.
    #[error("the Python runtime thread exited during start-up")]
    RuntimeThreadLost,
    /// Work was offered to a host that is shutting down.
    #[error("the Python host is shutting down")]
    ShuttingDown,
}
