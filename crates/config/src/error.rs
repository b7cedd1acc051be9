//! The one error type of this crate, printed the way Apache prints
//! configuration errors so that people (and scripts) used to `apachectl -t`
//! recognise them.

use std::fmt;
use std::path::PathBuf;

use crate::model::Span;

/// A configuration that cannot be loaded.
///
/// `Display` mirrors Apache: a syntax error is
/// `AH00526: Syntax error on line N of FILE:` followed by the message on its
/// own line (that is what `ap_process_resource_config` logs), optionally
/// followed by a "did you mean" hint on a further line.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// A directive (or section) is wrong; `message` is Apache's text.
    #[error("{}", SyntaxDisplay { span, message, hint })]
    Syntax {
        span: Span,
        /// The directive as written (`<Directory`, `WSGIScriptAlias`, ...).
        directive: String,
        message: String,
        /// Extra line, e.g. `Did you mean 'WSGIScriptAlias'?`.
        hint: Option<String>,
    },
    /// A structural error found while *reading* the files (sections not
    /// closed or closed without opening, Include failures, errors of the
    /// directives Apache executes on read such as `Define` and
    /// `<IfModule>`).  Apache reports these from `ap_build_config` on one
    /// line: `Syntax error on line N of FILE: message`.
    #[error("Syntax error on line {} of {}: {message}", span.line, span.file.display())]
    Read {
        span: Span,
        directive: String,
        message: String,
    },
    /// The main configuration file cannot be read (Apache: "Could not open
    /// configuration file").
    #[error("Could not open configuration file {}: {source}", path.display())]
    Open {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

impl ConfigError {
    /// A syntax error at `span` about `directive`.
    pub fn syntax(span: &Span, directive: &str, message: impl Into<String>) -> Self {
        ConfigError::Syntax {
            span: span.clone(),
            directive: directive.to_owned(),
            message: message.into(),
            hint: None,
        }
    }

    /// A read-time error at `span` (see [`ConfigError::Read`]).
    pub fn read(span: &Span, directive: &str, message: impl Into<String>) -> Self {
        ConfigError::Read {
            span: span.clone(),
            directive: directive.to_owned(),
            message: message.into(),
        }
    }

    /// Where the error is, when it is tied to a line.
    pub fn span(&self) -> Option<&Span> {
        match self {
            ConfigError::Syntax { span, .. } | ConfigError::Read { span, .. } => Some(span),
            ConfigError::Open { .. } => None,
        }
    }

    /// The bare message (without the `AH00526` header).
    pub fn message(&self) -> String {
        match self {
            ConfigError::Syntax { message, .. } | ConfigError::Read { message, .. } => {
                message.clone()
            }
            other => other.to_string(),
        }
    }
}

struct SyntaxDisplay<'a> {
    span: &'a Span,
    message: &'a str,
    hint: &'a Option<String>,
}

impl fmt::Display for SyntaxDisplay<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "AH00526: Syntax error on line {} of {}:\n{}",
            self.span.line,
            self.span.file.display(),
            self.message
        )?;
        if let Some(hint) = self.hint {
            write!(f, "\n{hint}")?;
        }
        Ok(())
    }
}

impl fmt::Display for Span {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.file.display(), self.line)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    #[test]
    fn syntax_error_looks_like_apache() {
        let span = Span {
            file: Arc::new(PathBuf::from("/etc/httpd.conf")),
            line: 12,
        };
        let err = ConfigError::syntax(&span, "Foo", "Invalid command 'Foo'");
        assert_eq!(
            err.to_string(),
            "AH00526: Syntax error on line 12 of /etc/httpd.conf:\nInvalid command 'Foo'"
        );
    }

    #[test]
    fn hint_goes_on_its_own_line() {
        let span = Span {
            file: Arc::new(PathBuf::from("a.conf")),
            line: 1,
        };
        let err = ConfigError::Syntax {
            span,
            directive: "X".into(),
            message: "m".into(),
            hint: Some("Did you mean 'Y'?".into()),
        };
        assert_eq!(
            err.to_string(),
            "AH00526: Syntax error on line 1 of a.conf:\nm\nDid you mean 'Y'?"
        );
    }
}
