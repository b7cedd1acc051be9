//! Read-time state: `Define`/`UnDefine`/`-D` names and variables, `${VAR}`
//! substitution, the set of loaded modules, and the tests behind
//! `<IfDefine>` and `<IfModule>`.  Apache evaluates all of these while it
//! reads the files (EXEC_ON_READ), in file order, and so does the reader.

use std::collections::BTreeMap;

/// Modules wsgid provides itself (or whose directives its table knows), as
/// (module symbol, source file) pairs: `<IfModule>` accepts either spelling,
/// as Apache's `find_module` does.  They count as loaded even without a
/// `LoadModule` line, because in wsgid they are compiled in.
const BUILTIN_MODULES: &[(&str, &str)] = &[
    ("core_module", "core.c"),
    ("http_module", "http_core.c"),
    ("so_module", "mod_so.c"),
    ("mpm_event_module", "event.c"),
    ("unixd_module", "mod_unixd.c"),
    ("wsgi_module", "mod_wsgi.c"),
    ("alias_module", "mod_alias.c"),
    ("mime_module", "mod_mime.c"),
    ("env_module", "mod_env.c"),
    ("dir_module", "mod_dir.c"),
    ("log_config_module", "mod_log_config.c"),
    ("authz_core_module", "mod_authz_core.c"),
    ("authz_host_module", "mod_authz_host.c"),
    ("authz_user_module", "mod_authz_user.c"),
    ("authn_core_module", "mod_authn_core.c"),
    ("authn_file_module", "mod_authn_file.c"),
    ("auth_basic_module", "mod_auth_basic.c"),
    ("auth_digest_module", "mod_auth_digest.c"),
    ("setenvif_module", "mod_setenvif.c"),
    ("rewrite_module", "mod_rewrite.c"),
    ("headers_module", "mod_headers.c"),
    ("version_module", "mod_version.c"),
];

/// The Apache release `<IfVersion>` compares with: the one whose behaviour
/// wsgid follows (the same as `apache.version` in the environ, which
/// `wsgid_python` keeps as its `APACHE_VERSION`).
pub const APACHE_VERSION: (u32, u32, u32) = (2, 4, 57);

/// `<IfVersion [[!]operator] version>` (mod_version, which Debian's Apache
/// has built in): whether [`APACHE_VERSION`] satisfies the test.  `words`
/// are the section's arguments without the closing `>`.  Errors are
/// mod_version's messages.
pub fn version_holds(words: &[String]) -> Result<bool, String> {
    let (op, version) = match words {
        [version] => ("=", version.as_str()),
        [op, version] => (op.as_str(), version.as_str()),
        _ => return Err("<IfVersion> takes one or two arguments".to_owned()),
    };
    let (negate, op) = match op.strip_prefix('!') {
        Some(op) => (true, op),
        None => (false, op),
    };
    let (major, minor, patch) = APACHE_VERSION;
    let current = format!("{major}.{minor}.{patch}");
    let regex_match = |re: &str| {
        regex::Regex::new(re)
            .map(|r| r.is_match(&current))
            .map_err(|_| "Cannot compile regular expression.".to_owned())
    };
    let compare = || -> Result<std::cmp::Ordering, String> {
        let bad = || {
            "Version appears to be invalid. It must have the format \
             major[.minor[.patch]] where major, minor and patch are numbers."
                .to_owned()
        };
        let mut parts = [0u32; 3];
        let pieces: Vec<&str> = version.split('.').collect();
        if pieces.len() > 3 {
            return Err(bad());
        }
        for (slot, piece) in parts.iter_mut().zip(&pieces) {
            if piece.is_empty() || !piece.bytes().all(|b| b.is_ascii_digit()) {
                return Err(bad());
            }
            *slot = piece.parse().map_err(|_| bad())?;
        }
        Ok((major, minor, patch).cmp(&(parts[0], parts[1], parts[2])))
    };
    use std::cmp::Ordering::{Equal, Greater, Less};
    let holds = match op {
        "=" | "==" => match version.strip_prefix('/') {
            Some(re) => match re.strip_suffix('/') {
                Some(re) => regex_match(re)?,
                None => return Err("Missing delimiting / of regular expression.".to_owned()),
            },
            None => compare()? == Equal,
        },
        "~" => regex_match(version)?,
        "<" => compare()? == Less,
        "<=" => compare()? != Greater,
        ">" => compare()? == Greater,
        ">=" => compare()? != Less,
        other => return Err(format!("unrecognized operator '{other}'")),
    };
    Ok(holds != negate)
}

/// Everything the reader has learnt so far that later lines depend on.
#[derive(Clone, Debug, Default)]
pub struct ReadState {
    /// Defined names, `-D` first, in definition order (Apache's
    /// `ap_server_config_defines`).
    pub defines: Vec<String>,
    /// `Define NAME value` variables for `${NAME}`.
    pub vars: BTreeMap<String, String>,
    /// `LoadModule` symbols and their guessed source file names.
    pub loaded: Vec<(String, String)>,
}

impl ReadState {
    pub fn new(cli_defines: &[String]) -> Self {
        let mut state = ReadState::default();
        for d in cli_defines {
            // `-D NAME=value` is not Apache syntax, but wsgid's CLI passes
            // `-D` through; treat the whole word as a name, as httpd does.
            state.define(d, None);
        }
        state
    }

    /// `Define NAME [value]`.
    pub fn define(&mut self, name: &str, value: Option<&str>) {
        if !self.defines.iter().any(|d| d == name) {
            self.defines.push(name.to_owned());
        }
        if let Some(v) = value {
            self.vars.insert(name.to_owned(), v.to_owned());
        }
    }

    /// `UnDefine NAME`.
    pub fn undefine(&mut self, name: &str) {
        self.defines.retain(|d| d != name);
        self.vars.remove(name);
    }

    /// `<IfDefine [!]NAME>` without the `!`.
    pub fn is_defined(&self, name: &str) -> bool {
        self.defines.iter().any(|d| d == name)
    }

    /// Records `LoadModule symbol path`.
    pub fn load_module(&mut self, symbol: &str) {
        let stem = symbol.strip_suffix("_module").unwrap_or(symbol);
        self.loaded
            .push((symbol.to_owned(), format!("mod_{stem}.c")));
    }

    /// `<IfModule [!]name>` without the `!`: by symbol (`wsgi_module`) or by
    /// source file (`mod_wsgi.c`), case-sensitively as in Apache.
    pub fn has_module(&self, name: &str) -> bool {
        BUILTIN_MODULES
            .iter()
            .any(|(sym, file)| *sym == name || *file == name)
            || self
                .loaded
                .iter()
                .any(|(sym, file)| sym == name || file == name)
    }

    /// Apache's `ap_resolve_env` over a whole line: `${NAME}` becomes the
    /// `Define`d value, else the environment variable, else the default
    /// of `${NAME?=default}`; an unknown name stays as written and, unless
    /// it contains `:` (mod_rewrite's `${map:key}`), gives a warning.
    pub fn resolve(&self, line: &str, warnings: &mut Vec<String>) -> String {
        if !line.contains("${") {
            return line.to_owned();
        }
        let mut out = String::with_capacity(line.len());
        let mut rest = line;
        while let Some(start) = rest.find("${") {
            out.push_str(&rest[..start]);
            let after = &rest[start + 2..];
            let Some(end) = after.find('}') else {
                out.push_str(&rest[start..]);
                return out;
            };
            let spec = &after[..end];
            let (name, default) = match spec.find("?=") {
                Some(i) => (&spec[..i], Some(&spec[i + 2..])),
                None => (spec, None),
            };
            if let Some(v) = self.vars.get(name) {
                out.push_str(v);
            } else if let Some(v) = std::env::var_os(name) {
                // The process environment is part of Apache's lookup; it is
                // the one place this crate reads it.
                out.push_str(&v.to_string_lossy());
            } else if let Some(d) = default {
                out.push_str(d);
            } else {
                if !name.contains(':') {
                    warnings.push(format!(
                        "AH00111: Config variable ${{{name}}} is not defined"
                    ));
                }
                out.push_str(&rest[start..start + 2 + end + 1]);
            }
            rest = &after[end + 1..];
        }
        out.push_str(rest);
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn substitution_uses_defines_then_default_then_literal() {
        let mut st = ReadState::new(&[]);
        st.define("ROOT", Some("/srv"));
        let mut w = Vec::new();
        assert_eq!(
            st.resolve("DocumentRoot ${ROOT}/www", &mut w),
            "DocumentRoot /srv/www"
        );
        assert_eq!(
            st.resolve("X ${WSGID_SURELY_UNSET_1?=dflt}", &mut w),
            "X dflt"
        );
        assert!(w.is_empty());
        assert_eq!(
            st.resolve("X ${WSGID_SURELY_UNSET_2} y", &mut w),
            "X ${WSGID_SURELY_UNSET_2} y"
        );
        assert_eq!(
            w,
            vec!["AH00111: Config variable ${WSGID_SURELY_UNSET_2} is not defined"]
        );
    }

    #[test]
    fn map_references_and_unterminated_stay_silent() {
        let st = ReadState::new(&[]);
        let mut w = Vec::new();
        assert_eq!(
            st.resolve("R ${map:key} ${open", &mut w),
            "R ${map:key} ${open"
        );
        assert!(w.is_empty());
    }

    #[test]
    fn define_undefine_and_cli_defines() {
        let mut st = ReadState::new(&["FOREGROUND".to_owned()]);
        assert!(st.is_defined("FOREGROUND"));
        st.define("X", Some("1"));
        assert!(st.is_defined("X"));
        st.undefine("X");
        assert!(!st.is_defined("X"));
        assert!(!st.vars.contains_key("X"));
    }

    #[test]
    fn if_version_compares_numbers_and_regexes_with_2_4_57() {
        let holds = |args: &[&str]| {
            let words: Vec<String> = args.iter().map(|s| (*s).to_owned()).collect();
            version_holds(&words)
        };
        assert_eq!(holds(&[">=", "2.4"]), Ok(true));
        assert_eq!(holds(&["<", "2.4"]), Ok(false));
        assert_eq!(holds(&["2.4.57"]), Ok(true));
        assert_eq!(holds(&["2.4"]), Ok(false));
        assert_eq!(holds(&["!=", "2.4"]), Ok(true));
        assert_eq!(holds(&["<=", "2.4.57"]), Ok(true));
        assert_eq!(holds(&[">", "2"]), Ok(true));
        assert_eq!(holds(&["=", "/^2\\.4\\./"]), Ok(true));
        assert_eq!(holds(&["!~", "^2\\.2"]), Ok(true));
        assert_eq!(
            holds(&["=", "/^2"]),
            Err("Missing delimiting / of regular expression.".to_owned())
        );
        assert_eq!(
            holds(&["<>", "2.4"]),
            Err("unrecognized operator '<>'".to_owned())
        );
        assert!(holds(&[">=", "2.x"]).is_err());
    }

    #[test]
    fn modules_by_symbol_or_file() {
        let mut st = ReadState::new(&[]);
        assert!(st.has_module("wsgi_module"));
        assert!(st.has_module("mod_wsgi.c"));
        assert!(!st.has_module("WSGI_module"));
        assert!(!st.has_module("mod_nonexistent_oracle.c"));
        st.load_module("php_module");
        assert!(st.has_module("php_module") && st.has_module("mod_php.c"));
    }
}
