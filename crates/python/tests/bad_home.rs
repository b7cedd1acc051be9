//! `WSGIPythonHome` naming a directory that does not exist: mod_wsgi's
//! warning is logged, and start-up fails cleanly instead of aborting.

use wsgid_log::{ErrorLog, Level};
use wsgid_python::{PythonConfig, PythonError, PythonHost};

#[test]
fn missing_home_warns_and_fails() {
    let dir = tempfile::tempdir().expect("tempdir");
    let log_path = dir.path().join("error.log");
    let log = ErrorLog::open(&log_path, Level::Info).expect("log");
    let home = dir.path().join("no-such-python");
    let cfg = PythonConfig {
        python_home: Some(home.clone()),
        threads: 1,
        ..PythonConfig::default()
    };
    let result = PythonHost::start(cfg, log);
    assert!(matches!(result, Err(PythonError::Init(_))), "{result:?}");
    let text = std::fs::read_to_string(&log_path).expect("log");
    let expected = format!("[wsgi:warn] [pid {}:tid ", std::process::id());
    assert!(text.contains(&expected), "{text}");
    assert!(
        text.contains(&format!(
            "(2)No such file or directory: mod_wsgi (pid={}): Unable to stat Python home {}. Python interpreter may \
             not be able to be initialized correctly. Verify the supplied path and access permissions for whole of \
             the path.",
            std::process::id(),
            home.display()
        )),
        "{text}"
    );
}
