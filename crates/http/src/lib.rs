//! wsgid-http: the HTTP/1.1 front end and Apache's request phases.
//!
//! A request goes through the phases in Apache's order: translate (Alias,
//! WSGIScriptAlias, DocumentRoot → file name, SCRIPT_NAME, PATH_INFO), walk
//! (merge Directory/Location/Files sections), access (Require), handler
//! (wsgi-script in the Python host, static file, error), log (CustomLog).
//!
//! The binary builds a [`FrontEnd`] from the configuration and calls
//! [`FrontEnd::serve`] with its listening sockets.
#![forbid(unsafe_code)]

// Response side: bodies, static files, error pages, MIME types, access-log lines.
pub mod access_log;
pub mod body;
pub mod error_pages;
pub mod mime;
pub mod static_files;

// Request side: connections, request context, phases, environ.
pub mod conn;
pub mod daemon_client;
pub mod driver;
pub mod environ;
pub mod error_document;
pub mod frontend;
pub mod head_scan;
pub mod htpasswd;
pub mod meta_cache;
pub mod phases;
pub mod proxy;
pub mod request;
pub mod request_body;
pub mod response;
pub mod server;
pub mod uri;
pub mod vhost;
pub mod wildcard;

pub use frontend::{FrontEnd, HttpError, Logs, PipedLogs};
