//! The directive table: one [`Row`] per directive wsgid knows (name,
//! arity, where it may appear, what it does), the lookup by name, and the two
//! generic checks Apache applies before any handler runs: the arity check
//! (`invoke_cmd` in server/config.c) and the context check
//! (`ap_check_cmd_context` in server/core.c).  The rows themselves live
//! beside their handlers in `directives/*`.

use std::collections::HashMap;
use std::sync::LazyLock;

use crate::ConfigError;
use crate::builder::Builder;
use crate::directives;
use crate::lexer::{next_word, words};
use crate::syntax::Section;

// ===== where a directive may appear (Apache's req_override bits) =====

pub const OR_LIMIT: u16 = 1;
pub const OR_OPTIONS: u16 = 2;
pub const OR_FILEINFO: u16 = 4;
pub const OR_AUTHCFG: u16 = 8;
pub const OR_INDEXES: u16 = 16;
pub const OR_ALL: u16 = OR_LIMIT | OR_OPTIONS | OR_FILEINFO | OR_AUTHCFG | OR_INDEXES;
pub const ACCESS_CONF: u16 = 64;
pub const RSRC_CONF: u16 = 128;

/// The override mask in effect in the main config and in `<VirtualHost>`:
/// Apache leaves out AuthConfig and Limit there (`ap_process_config_tree`),
/// which is why `Require` outside a section is "not allowed here".
pub const SERVER_OVERRIDE: u16 = (RSRC_CONF | OR_ALL) & !(OR_AUTHCFG | OR_LIMIT);
/// Inside `<Directory>`, `<Location>`, `<Files>` and their Match forms.
pub const SECTION_OVERRIDE: u16 = OR_ALL | ACCESS_CONF;

// ===== extra checks some handlers make (ap_check_cmd_context) =====

pub const NOT_IN_VIRTUALHOST: u8 = 1;
pub const NOT_IN_LIMIT: u8 = 2;
pub const NOT_IN_DIRECTORY: u8 = 4;
pub const NOT_IN_LOCATION: u8 = 8;
pub const NOT_IN_FILES: u8 = 16;
pub const NOT_IN_DIR_CONTEXT: u8 = NOT_IN_LIMIT | NOT_IN_DIRECTORY | NOT_IN_LOCATION | NOT_IN_FILES;
pub const GLOBAL_ONLY: u8 = NOT_IN_VIRTUALHOST | NOT_IN_DIR_CONTEXT;

/// How the arguments are taken (Apache's `cmd_how`).  All of Apache's
/// forms are kept so rows can be copied faithfully, even those no current
/// row uses.
#[cfg_attr(not(test), allow(dead_code))]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Arity {
    NoArgs,
    Take1,
    Take2,
    Take12,
    Take3,
    Take23,
    Take123,
    Take13,
    /// One or more, each handled alone.
    Iterate,
    /// A first word, then one or more.
    Iterate2,
    /// `On` or `Off`.
    Flag,
    /// The handler splits the text itself.
    Raw,
    /// Any number of words.
    Argv,
}

/// A directive handler: gets the checked words, returns Apache's message
/// on error (the caller adds file and line).
pub type SetFn = fn(&mut Builder, &Args) -> Result<(), String>;
/// A section handler: walks its children itself, so it can fail deeper.
pub type SectionFn = fn(&mut Builder, &Section, &Args) -> Result<(), ConfigError>;

/// What happens when a directive is met.
#[derive(Clone, Copy)]
pub enum Action {
    Set(SetFn),
    Section(SectionFn),
    /// Accepted and listed in `ServerConfig::ignored`: the reason is why
    /// it has no meaning for wsgid.
    Ignored(&'static str),
    /// Known, but wsgid does not implement it yet: loading fails.
    Planned(&'static str),
    /// Gone from mod_wsgi/Apache: loading fails with this text.
    Removed(&'static str),
    /// Fully handled while reading (Define, Include, IfModule...).
    ReadTime,
}

/// One directive.
#[derive(Clone, Copy)]
pub struct Row {
    /// Canonical spelling, `<Name` for sections (as Apache's tables).
    pub name: &'static str,
    pub arity: Arity,
    /// Apache's req_override bits.
    pub allowed: u16,
    /// ap_check_cmd_context bits the real handler checks.
    pub forbid: u8,
    /// Apache's help text, appended to arity errors.
    pub help: &'static str,
    pub action: Action,
}

/// Shorthand used by the tables.
pub const fn row(
    name: &'static str,
    arity: Arity,
    allowed: u16,
    forbid: u8,
    help: &'static str,
    action: Action,
) -> Row {
    Row {
        name,
        arity,
        allowed,
        forbid,
        help,
        action,
    }
}

static TABLE: LazyLock<HashMap<String, &'static Row>> = LazyLock::new(|| {
    let mut map = HashMap::new();
    for family in directives::ALL {
        for row in family.iter() {
            map.insert(row.name.to_ascii_lowercase(), row);
        }
    }
    map
});

/// Finds a directive by name, case-insensitively (`<Name` for sections).
pub fn lookup(name: &str) -> Option<&'static Row> {
    TABLE.get(&name.to_ascii_lowercase()).copied()
}

/// Every known name, for suggestions.
pub fn names() -> impl Iterator<Item = &'static str> {
    TABLE.values().map(|r| r.name)
}

/// The arguments of one directive after the arity check.
#[derive(Clone, Debug)]
pub struct Args {
    /// The canonical directive name.
    pub name: &'static str,
    /// The words (for Raw/Argv: all words; for Iterate2 the first is the
    /// leading word).
    pub words: Vec<String>,
    /// The text after the name, for handlers that parse it themselves.
    pub raw: String,
}

impl Args {
    /// The n-th word or `""`.
    pub fn get(&self, n: usize) -> &str {
        self.words.get(n).map_or("", String::as_str)
    }
}

/// Apache's arity check, with its exact messages.
pub fn check_arity(row: &Row, raw: &str) -> Result<Args, String> {
    let name = row.name;
    let help = |what: &str| {
        if row.help.is_empty() {
            format!("{name} {what}")
        } else {
            format!("{name} {what}, {}", row.help)
        }
    };
    let mut rest = raw;
    let words_out: Vec<String> = match row.arity {
        Arity::Raw | Arity::Argv => words(raw),
        Arity::NoArgs => {
            if !raw.is_empty() {
                return Err(format!("{name} takes no arguments"));
            }
            Vec::new()
        }
        Arity::Take1 => {
            let w = next_word(&mut rest);
            if w.is_empty() || !rest.is_empty() {
                return Err(help("takes one argument"));
            }
            vec![w]
        }
        Arity::Take2 => {
            let (a, b) = (next_word(&mut rest), next_word(&mut rest));
            if a.is_empty() || b.is_empty() || !rest.is_empty() {
                return Err(help("takes two arguments"));
            }
            vec![a, b]
        }
        Arity::Take12 => {
            let (a, b) = (next_word(&mut rest), next_word(&mut rest));
            if a.is_empty() || !rest.is_empty() {
                return Err(help("takes 1-2 arguments"));
            }
            if b.is_empty() { vec![a] } else { vec![a, b] }
        }
        Arity::Take3 => {
            let (a, b, c) = (
                next_word(&mut rest),
                next_word(&mut rest),
                next_word(&mut rest),
            );
            if a.is_empty() || b.is_empty() || c.is_empty() || !rest.is_empty() {
                return Err(help("takes three arguments"));
            }
            vec![a, b, c]
        }
        Arity::Take23 => {
            let (a, b) = (next_word(&mut rest), next_word(&mut rest));
            let c = if rest.is_empty() {
                None
            } else {
                Some(next_word(&mut rest))
            };
            if a.is_empty() || b.is_empty() || !rest.is_empty() {
                return Err(help("takes two or three arguments"));
            }
            [Some(a), Some(b), c].into_iter().flatten().collect()
        }
        Arity::Take123 | Arity::Take13 => {
            let a = next_word(&mut rest);
            let b = if rest.is_empty() {
                None
            } else {
                Some(next_word(&mut rest))
            };
            let c = if rest.is_empty() {
                None
            } else {
                Some(next_word(&mut rest))
            };
            let bad13 = row.arity == Arity::Take13
                && b.as_deref().is_some_and(|b| !b.is_empty())
                && c.is_none();
            if a.is_empty() || !rest.is_empty() || bad13 {
                return Err(help(if row.arity == Arity::Take13 {
                    "takes one or three arguments"
                } else {
                    "takes one, two or three arguments"
                }));
            }
            [Some(a), b, c].into_iter().flatten().collect()
        }
        Arity::Iterate => {
            let all = words(raw);
            if all.first().is_none_or(String::is_empty) {
                return Err(help("requires at least one argument"));
            }
            // Apache stops at the first empty word.
            all.into_iter().take_while(|w| !w.is_empty()).collect()
        }
        Arity::Iterate2 => {
            let first = next_word(&mut rest);
            if first.is_empty() || rest.is_empty() {
                return Err(help("requires at least two arguments"));
            }
            let mut v = vec![first];
            v.extend(words(rest).into_iter().take_while(|w| !w.is_empty()));
            v
        }
        Arity::Flag => {
            let w = next_word(&mut rest);
            if !(w.eq_ignore_ascii_case("on") || w.eq_ignore_ascii_case("off")) {
                return Err(format!("{name} must be On or Off"));
            }
            vec![w]
        }
    };
    Ok(Args {
        name,
        words: words_out,
        raw: raw.to_owned(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row_of(arity: Arity) -> Row {
        row("Foo", arity, RSRC_CONF, 0, "some help", Action::ReadTime)
    }

    fn err(arity: Arity, raw: &str) -> String {
        check_arity(&row_of(arity), raw)
            .map(|_| String::new())
            .unwrap_or_else(|e| e)
    }

    fn ok(arity: Arity, raw: &str) -> Vec<String> {
        check_arity(&row_of(arity), raw)
            .map(|a| a.words)
            .unwrap_or_default()
    }

    #[test]
    fn arity_messages_are_apaches() {
        assert_eq!(err(Arity::Take1, ""), "Foo takes one argument, some help");
        assert_eq!(
            err(Arity::Take1, "a b"),
            "Foo takes one argument, some help"
        );
        assert_eq!(err(Arity::Take2, "a"), "Foo takes two arguments, some help");
        assert_eq!(
            err(Arity::Take12, "a b c"),
            "Foo takes 1-2 arguments, some help"
        );
        assert_eq!(
            err(Arity::Take3, "a b"),
            "Foo takes three arguments, some help"
        );
        assert_eq!(
            err(Arity::Take23, "a"),
            "Foo takes two or three arguments, some help"
        );
        assert_eq!(
            err(Arity::Take123, "a b c d"),
            "Foo takes one, two or three arguments, some help"
        );
        assert_eq!(
            err(Arity::Take13, "a b"),
            "Foo takes one or three arguments, some help"
        );
        assert_eq!(
            err(Arity::Iterate, ""),
            "Foo requires at least one argument, some help"
        );
        assert_eq!(
            err(Arity::Iterate2, "a"),
            "Foo requires at least two arguments, some help"
        );
        assert_eq!(err(Arity::Flag, "maybe"), "Foo must be On or Off");
        assert_eq!(err(Arity::NoArgs, "x"), "Foo takes no arguments");
    }

    #[test]
    fn arity_accepts() {
        assert_eq!(ok(Arity::Take1, "\"a b\""), vec!["a b"]);
        assert_eq!(ok(Arity::Take12, "a"), vec!["a"]);
        assert_eq!(ok(Arity::Take12, "a \"\""), vec!["a"]);
        assert_eq!(ok(Arity::Take23, "a b c"), vec!["a", "b", "c"]);
        assert_eq!(ok(Arity::Take13, "a b c"), vec!["a", "b", "c"]);
        assert_eq!(ok(Arity::Iterate2, "h .a .b"), vec!["h", ".a", ".b"]);
        assert_eq!(ok(Arity::Flag, "oN"), vec!["oN"]);
    }

    #[test]
    fn empty_quoted_first_word_is_missing() {
        assert_eq!(
            err(Arity::Take1, "\"\""),
            "Foo takes one argument, some help"
        );
    }

    #[test]
    fn lookup_is_case_insensitive_and_names_are_unique() {
        assert_eq!(
            lookup("wsgiscriptalias").map(|r| r.name),
            Some("WSGIScriptAlias")
        );
        assert_eq!(lookup("<directory").map(|r| r.name), Some("<Directory"));
        let mut all: Vec<String> = directives::ALL
            .iter()
            .flat_map(|f| f.iter().map(|r| r.name.to_ascii_lowercase()))
            .collect();
        let n = all.len();
        all.sort();
        all.dedup();
        assert_eq!(all.len(), n, "duplicate directive rows");
    }
}
