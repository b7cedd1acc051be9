//! The syntax tree: directives and `<Section>` blocks exactly as written,
//! after includes and `<IfModule>`/`<IfDefine>` have been resolved by the
//! reader, but before any meaning is attached (that is `builder`'s job).

use std::fmt;

use crate::model::Span;

/// One element of a configuration file.
#[derive(Clone, Debug)]
pub enum Node {
    Directive(Directive),
    Section(Section),
}

/// `Name arg arg...` on one logical line.
#[derive(Clone, Debug)]
pub struct Directive {
    /// The name as written (case preserved for messages).
    pub name: String,
    /// Everything after the name, `${VAR}` already substituted; handlers that
    /// take raw arguments (Apache's RAW_ARGS) re-split it themselves.
    pub raw_args: String,
    pub span: Span,
}

/// `<Name args>` ... `</Name>`.
#[derive(Clone, Debug)]
pub struct Section {
    /// The name without `<` as written (`Directory`, `ifmodule`...).
    pub name: String,
    /// The text between the name and the closing `>`.
    pub raw_args: String,
    /// The line of the opening tag.
    pub span: Span,
    pub children: Vec<Node>,
}

impl Node {
    pub fn span(&self) -> &Span {
        match self {
            Node::Directive(d) => &d.span,
            Node::Section(s) => &s.span,
        }
    }
}

/// Writes the tree back as configuration text, one directive per line and
/// sections indented (used by `wsgid -t -D DUMP_CONFIG`-style output and in
/// tests).  The arguments are printed as they were after substitution.
pub struct Dump<'a>(pub &'a [Node]);

impl fmt::Display for Dump<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        dump(f, self.0, 0)
    }
}

fn dump(f: &mut fmt::Formatter<'_>, nodes: &[Node], depth: usize) -> fmt::Result {
    for node in nodes {
        let pad = "    ".repeat(depth);
        match node {
            Node::Directive(d) if d.raw_args.is_empty() => writeln!(f, "{pad}{}", d.name)?,
            Node::Directive(d) => writeln!(f, "{pad}{} {}", d.name, d.raw_args)?,
            Node::Section(s) => {
                if s.raw_args.is_empty() {
                    writeln!(f, "{pad}<{}>", s.name)?;
                } else {
                    writeln!(f, "{pad}<{} {}>", s.name, s.raw_args)?;
                }
                dump(f, &s.children, depth + 1)?;
                writeln!(f, "{pad}</{}>", s.name)?;
            }
        }
    }
    Ok(())
}
