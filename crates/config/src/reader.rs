//! Reads configuration text into the syntax tree, doing on the way what
//! Apache does while reading (its EXEC_ON_READ directives): `${VAR}`
//! substitution, `Define`/`UnDefine`, `Include`/`IncludeOptional`,
//! `LoadModule` (to learn module names), `ServerRoot` (so later includes
//! resolve against it) and the `<IfModule>`/`<IfDefine>`/`<IfDirective>`/
//! `<IfSection>`/`<IfFile>` conditionals.  False conditional blocks are skipped
//! unparsed, as Apache's `ap_soak_end_container` does, so unknown
//! directives inside them are not errors.

use std::fs;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::ConfigError;
use crate::conditional::ReadState;
use crate::include;
use crate::lexer::{Line, logical_lines, next_word};
use crate::model::Span;
use crate::registry::{self, check_arity};
use crate::syntax::{Directive, Node, Section};

/// Apache's AP_MAX_INCLUDE_DEPTH.
const MAX_INCLUDE_DEPTH: usize = 128;

/// The result of reading the whole configuration.
#[derive(Debug)]
pub struct ReadOutput {
    pub nodes: Vec<Node>,
    pub state: ReadState,
    /// The last `ServerRoot` seen (or the starting one).
    pub server_root: PathBuf,
    /// Warnings to log at startup (undefined `${VAR}`...).
    pub warnings: Vec<(String, Span)>,
}

pub struct Reader {
    state: ReadState,
    server_root: PathBuf,
    warnings: Vec<(String, Span)>,
    /// Files being read, outermost first, for cycle detection.
    open_files: Vec<PathBuf>,
}

/// An open block on the way down.
struct Frame {
    /// As written (without `<`).
    name: String,
    /// Canonical name for messages (`Directory`), as Apache stores it.
    canonical: String,
    raw_args: String,
    span: Span,
    /// True for a satisfied `<IfModule>`-style block: its children are
    /// spliced into the parent when it closes.
    transparent: bool,
    children: Vec<Node>,
}

impl Reader {
    pub fn new(server_root: PathBuf, defines: &[String]) -> Self {
        Reader {
            state: ReadState::new(defines),
            server_root,
            warnings: Vec::new(),
            open_files: Vec::new(),
        }
    }

    pub fn finish(self, nodes: Vec<Node>) -> ReadOutput {
        ReadOutput {
            nodes,
            state: self.state,
            server_root: self.server_root,
            warnings: self.warnings,
        }
    }

    /// Reads one file (the main file, or an included one).
    pub fn read_file(&mut self, path: &Path) -> Result<Vec<Node>, ConfigError> {
        let bytes = fs::read(path).map_err(|source| ConfigError::Open {
            path: path.to_path_buf(),
            source,
        })?;
        // Config files are byte strings for Apache; non-UTF-8 bytes can only
        // matter inside values, where U+FFFD makes the problem visible.
        let text = String::from_utf8_lossy(&bytes);
        self.read_text(&text, path)
    }

    /// Reads configuration text that claims to come from `origin`.
    pub fn read_text(&mut self, text: &str, origin: &Path) -> Result<Vec<Node>, ConfigError> {
        let key = fs::canonicalize(origin).unwrap_or_else(|_| origin.to_path_buf());
        self.open_files.push(key);
        let file = Arc::new(origin.to_path_buf());
        let lines = logical_lines(text);
        let result = self.read_lines(&lines, &file);
        self.open_files.pop();
        result
    }

    fn read_lines(
        &mut self,
        lines: &[Line],
        file: &Arc<PathBuf>,
    ) -> Result<Vec<Node>, ConfigError> {
        let mut top: Vec<Node> = Vec::new();
        let mut stack: Vec<Frame> = Vec::new();
        let mut i = 0;
        while i < lines.len() {
            let line = &lines[i];
            i += 1;
            let span = Span {
                file: file.clone(),
                line: line.line,
            };
            let mut warnings = Vec::new();
            let text = self.state.resolve(&line.text, &mut warnings);
            self.warnings
                .extend(warnings.into_iter().map(|w| (w, span.clone())));
            let mut rest = text.as_str();
            let mut name = next_word(&mut rest);
            if name.is_empty() {
                continue;
            }
            if let Some(close) = name.strip_prefix("</") {
                let Some(close) = close.strip_suffix('>') else {
                    return Err(ConfigError::read(
                        &span,
                        &name,
                        format!("{name}> directive missing closing '>'"),
                    ));
                };
                let Some(frame) = stack.pop() else {
                    return Err(ConfigError::read(
                        &span,
                        &name,
                        format!("</{close}> without matching <{close}> section"),
                    ));
                };
                if !close.eq_ignore_ascii_case(&frame.name) {
                    return Err(ConfigError::read(
                        &span,
                        &name,
                        format!("Expected </{}> but saw </{close}>", frame.canonical),
                    ));
                }
                let parent = stack.last_mut().map_or(&mut top, |f| &mut f.children);
                if frame.transparent {
                    parent.extend(frame.children);
                } else {
                    parent.push(Node::Section(Section {
                        name: frame.name,
                        raw_args: frame.raw_args,
                        span: frame.span,
                        children: frame.children,
                    }));
                }
                continue;
            }
            if let Some(stripped) = name.strip_suffix('>') {
                name = stripped.to_owned();
            }
            let is_section = name.starts_with('<');
            if is_section && rest.is_empty() {
                rest = ">";
            }
            let lower = name.to_ascii_lowercase();
            let parent_section = stack
                .iter()
                .rev()
                .find(|f| !f.transparent)
                .map(|f| f.canonical.clone());
            let children = match stack.last_mut() {
                Some(f) => &mut f.children,
                None => &mut top,
            };
            match lower.as_str() {
                "define" | "undefine" => {
                    self.define(&lower, rest, &span, parent_section.as_deref())?;
                }
                "include" | "includeoptional" => {
                    let nodes = self.include(&lower, rest, &span)?;
                    children.extend(nodes);
                }
                "<ifmodule" | "<ifdefine" | "<ifdirective" | "<ifsection" | "<iffile"
                | "<ifversion" => {
                    let (canonical, holds) = self.condition(&lower, rest, &span)?;
                    if holds {
                        stack.push(Frame {
                            name: name[1..].to_owned(),
                            canonical,
                            raw_args: String::new(),
                            span,
                            transparent: true,
                            children: Vec::new(),
                        });
                    } else {
                        i = soak(lines, i, &canonical, file, &span)?;
                    }
                }
                _ => {
                    if lower == "loadmodule" {
                        self.load_module(rest, &span)?;
                    } else if lower == "serverroot" {
                        self.server_root_now(rest, &span)?;
                    }
                    if is_section {
                        let canonical = registry::lookup(&name)
                            .map_or(&name[1..], |r| &r.name[1..])
                            .to_owned();
                        let raw_args = match rest.rfind('>') {
                            Some(end) => rest[..end].trim().to_owned(),
                            None if registry::lookup(&name).is_some() => {
                                return Err(ConfigError::read(
                                    &span,
                                    &name,
                                    format!("<{canonical}> directive missing closing '>'"),
                                ));
                            }
                            None => rest.to_owned(),
                        };
                        stack.push(Frame {
                            name: name[1..].to_owned(),
                            canonical,
                            raw_args,
                            span,
                            transparent: false,
                            children: Vec::new(),
                        });
                    } else {
                        children.push(Node::Directive(Directive {
                            name,
                            raw_args: rest.to_owned(),
                            span,
                        }));
                    }
                }
            }
        }
        if !stack.is_empty() {
            // Apache lists every open block, innermost first.
            let msg = stack
                .iter()
                .rev()
                .map(|f| {
                    format!(
                        "{}:{}: <{}> was not closed.",
                        f.span.file.display(),
                        f.span.line,
                        f.canonical
                    )
                })
                .collect::<Vec<_>>()
                .join("\n");
            let innermost = &stack[stack.len() - 1];
            return Err(ConfigError::read(
                &stack[0].span,
                &format!("<{}", innermost.canonical),
                msg,
            ));
        }
        Ok(top)
    }

    fn define(
        &mut self,
        lower: &str,
        rest: &str,
        span: &Span,
        parent: Option<&str>,
    ) -> Result<(), ConfigError> {
        let Some(row) = registry::lookup(lower) else {
            return Ok(());
        };
        let args = check_arity(row, rest).map_err(|m| ConfigError::read(span, row.name, m))?;
        if let Some(p) = parent
            && !p.eq_ignore_ascii_case("VirtualHost")
        {
            return Err(ConfigError::read(
                span,
                row.name,
                format!("{} is not valid in <{p} context", row.name),
            ));
        }
        let name = args.get(0);
        if name.contains(':') {
            return Err(ConfigError::read(
                span,
                row.name,
                "Variable name must not contain ':'",
            ));
        }
        if lower == "define" {
            self.state
                .define(name, args.words.get(1).map(String::as_str));
        } else {
            self.state.undefine(name);
        }
        Ok(())
    }

    fn include(&mut self, lower: &str, rest: &str, span: &Span) -> Result<Vec<Node>, ConfigError> {
        let Some(row) = registry::lookup(lower) else {
            return Ok(Vec::new());
        };
        let args = check_arity(row, rest).map_err(|m| ConfigError::read(span, row.name, m))?;
        let optional = lower == "includeoptional";
        let files = include::expand(&self.server_root, args.get(0), optional)
            .map_err(|m| ConfigError::read(span, row.name, m))?;
        let mut nodes = Vec::new();
        for f in files {
            let key = fs::canonicalize(&f).unwrap_or_else(|_| f.clone());
            if self.open_files.contains(&key) {
                return Err(ConfigError::read(
                    span,
                    row.name,
                    format!(
                        "{}: {} includes itself (directly or through other files)",
                        row.name,
                        f.display()
                    ),
                ));
            }
            if self.open_files.len() >= MAX_INCLUDE_DEPTH {
                return Err(ConfigError::read(
                    span,
                    row.name,
                    format!(
                        "Exceeded the maximum include directory nesting level of {MAX_INCLUDE_DEPTH}. \
                         You have probably a recursion somewhere."
                    ),
                ));
            }
            let bytes = fs::read(&f).map_err(|e| {
                ConfigError::read(
                    span,
                    row.name,
                    format!(
                        "Could not open configuration file {}: {}",
                        f.display(),
                        include::io_text(&e)
                    ),
                )
            })?;
            nodes.extend(self.read_text(&String::from_utf8_lossy(&bytes), &f)?);
        }
        Ok(nodes)
    }

    /// Evaluates a conditional section's test; returns its canonical name.
    fn condition(
        &mut self,
        lower: &str,
        rest: &str,
        span: &Span,
    ) -> Result<(String, bool), ConfigError> {
        let canonical = registry::lookup(lower).map_or(lower, |r| r.name)[1..].to_owned();
        let Some(end) = rest.rfind('>') else {
            return Err(ConfigError::read(
                span,
                lower,
                format!("<{canonical}> directive missing closing '>'"),
            ));
        };
        let inner = &rest[..end];
        if lower == "<ifversion" {
            let mut words = Vec::new();
            let mut r = inner;
            loop {
                let w = next_word(&mut r);
                if w.is_empty() {
                    break;
                }
                words.push(w);
            }
            let holds = crate::conditional::version_holds(&words)
                .map_err(|m| ConfigError::read(span, lower, m))?;
            return Ok((canonical, holds));
        }
        let (negate, mut inner) = match inner.strip_prefix('!') {
            Some(s) => (true, s),
            None => (false, inner),
        };
        let arg = next_word(&mut inner);
        if arg.is_empty() {
            return Err(ConfigError::read(
                span,
                lower,
                format!("<{canonical}> directive requires additional arguments"),
            ));
        }
        let holds = match lower {
            "<ifmodule" => self.state.has_module(&arg),
            "<ifdefine" => self.state.is_defined(&arg),
            // Relative to ServerRoot, like every other path Apache checks.
            "<iffile" => include::server_root_relative(&self.server_root, &arg).exists(),
            "<ifsection" => {
                let a = if arg.starts_with('<') {
                    arg.clone()
                } else {
                    format!("<{arg}")
                };
                registry::lookup(&a).is_some()
            }
            _ => registry::lookup(&arg).is_some(),
        };
        Ok((canonical, holds != negate))
    }

    fn load_module(&mut self, rest: &str, span: &Span) -> Result<(), ConfigError> {
        if let Some(row) = registry::lookup("LoadModule") {
            let args = check_arity(row, rest).map_err(|m| ConfigError::read(span, row.name, m))?;
            self.state.load_module(args.get(0));
        }
        Ok(())
    }

    fn server_root_now(&mut self, rest: &str, span: &Span) -> Result<(), ConfigError> {
        if let Some(row) = registry::lookup("ServerRoot") {
            let args = check_arity(row, rest).map_err(|m| ConfigError::read(span, row.name, m))?;
            let p = PathBuf::from(args.get(0));
            let p = if p.is_absolute() {
                p
            } else {
                self.server_root.join(p)
            };
            if !p.is_dir() {
                return Err(ConfigError::read(
                    span,
                    row.name,
                    "ServerRoot must be a valid directory",
                ));
            }
            self.server_root = p;
        }
        Ok(())
    }
}

/// Skips a false conditional block starting after line `from`; returns the
/// index of the line after its end tag.  Nested blocks are matched by name
/// only (Apache's `ap_soak_end_container`; nothing inside is substituted).
fn soak(
    lines: &[Line],
    from: usize,
    name: &str,
    file: &Arc<PathBuf>,
    open: &Span,
) -> Result<usize, ConfigError> {
    let mut stack: Vec<String> = vec![name.to_owned()];
    let mut i = from;
    while i < lines.len() {
        let mut rest = lines[i].text.as_str();
        let word = next_word(&mut rest);
        i += 1;
        let Some(tag) = word.strip_prefix('<') else {
            continue;
        };
        if let Some(close) = tag.strip_prefix('/') {
            // Apache drops the last character, whatever it is.
            let mut close = close.to_owned();
            close.pop();
            let expected = stack.pop().unwrap_or_default();
            if !close.eq_ignore_ascii_case(&expected) {
                let span = Span {
                    file: file.clone(),
                    line: lines[i - 1].line,
                };
                return Err(ConfigError::read(
                    &span,
                    &word,
                    format!("Expected </{expected}> but saw </{close}>"),
                ));
            }
            if stack.is_empty() {
                return Ok(i);
            }
        } else {
            let opened = if rest.is_empty() {
                tag.strip_suffix('>').unwrap_or(tag)
            } else {
                tag
            };
            stack.push(opened.to_owned());
        }
    }
    let outer = stack.first().cloned().unwrap_or_default();
    Err(ConfigError::read(
        open,
        name,
        format!("Expected </{outer}> before end of configuration"),
    ))
}
