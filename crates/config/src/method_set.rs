//! The request methods a `<Limit>`/`<LimitExcept>` section restricts its
//! `Require` lines to (Apache's `cmd->limited` method mask).
//!
//! Apache numbers its built-in methods and registers any other name a
//! `<Limit>` lists as an extension method with a number of its own; a
//! mask is a 64-bit set of those numbers, and a request with a method
//! nobody registered counts as `M_INVALID`.  Here the built-in methods
//! are bits and the other names a set that is finite (`<Limit FOO>`) or
//! everything but a finite set (`<LimitExcept FOO>`): the same answers for
//! every request without a process-wide registry, so that a name first
//! seen in an `.htaccess` file needs nothing global.

/// Apache's built-in methods in `M_*` order (httpd.h); `HEAD` is `M_GET`.
const BUILT_IN: [&str; 26] = [
    "GET",
    "PUT",
    "POST",
    "DELETE",
    "CONNECT",
    "OPTIONS",
    "TRACE",
    "PATCH",
    "PROPFIND",
    "PROPPATCH",
    "MKCOL",
    "COPY",
    "MOVE",
    "LOCK",
    "UNLOCK",
    "VERSION-CONTROL",
    "CHECKOUT",
    "UNCHECKOUT",
    "CHECKIN",
    "UPDATE",
    "LABEL",
    "REPORT",
    "MKWORKSPACE",
    "MKACTIVITY",
    "BASELINE-CONTROL",
    "MERGE",
];

const ALL_BUILT_IN: u32 = (1 << BUILT_IN.len()) - 1;

/// Whether `method` is one of Apache's own (`HEAD` included).
pub fn is_built_in(method: &str) -> bool {
    built_in(method).is_some()
}

/// `ap_method_number_of` for the built-in names (case-sensitive, as in
/// Apache: `<Limit get>` names an extension method "get").
fn built_in(method: &str) -> Option<u32> {
    if method == "HEAD" {
        return Some(0);
    }
    BUILT_IN
        .iter()
        .position(|m| *m == method)
        .and_then(|i| u32::try_from(i).ok())
}

/// Names other than the built-in ones.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Others {
    /// Exactly these (sorted, no repeats).
    Only(Vec<String>),
    /// Every name but these (sorted, no repeats).
    AllBut(Vec<String>),
}

/// A set of request methods.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MethodSet {
    built_in: u32,
    others: Others,
}

impl Default for MethodSet {
    fn default() -> Self {
        MethodSet::all()
    }
}

fn sorted(mut v: Vec<String>) -> Vec<String> {
    v.sort();
    v.dedup();
    v
}

impl MethodSet {
    /// Every method (outside any `<Limit>`).
    pub fn all() -> MethodSet {
        MethodSet {
            built_in: ALL_BUILT_IN,
            others: Others::AllBut(Vec::new()),
        }
    }

    /// Exactly the methods named.
    pub fn of<S: AsRef<str>>(names: &[S]) -> MethodSet {
        let mut bits = 0;
        let mut others = Vec::new();
        for name in names {
            match built_in(name.as_ref()) {
                Some(n) => bits |= 1 << n,
                None => others.push(name.as_ref().to_owned()),
            }
        }
        MethodSet {
            built_in: bits,
            others: Others::Only(sorted(others)),
        }
    }

    /// No method.
    pub fn none() -> MethodSet {
        MethodSet::of::<&str>(&[])
    }

    pub fn is_all(&self) -> bool {
        *self == MethodSet::all()
    }

    pub fn is_empty(&self) -> bool {
        self.built_in == 0 && self.others == Others::Only(Vec::new())
    }

    /// Every method not in this set.
    pub fn complement(&self) -> MethodSet {
        MethodSet {
            built_in: !self.built_in & ALL_BUILT_IN,
            others: match &self.others {
                Others::Only(v) => Others::AllBut(v.clone()),
                Others::AllBut(v) => Others::Only(v.clone()),
            },
        }
    }

    pub fn intersect(&self, other: &MethodSet) -> MethodSet {
        use Others::*;
        let others = match (&self.others, &other.others) {
            (Only(a), Only(b)) => Only(a.iter().filter(|x| b.contains(x)).cloned().collect()),
            (Only(a), AllBut(b)) | (AllBut(b), Only(a)) => {
                Only(a.iter().filter(|x| !b.contains(x)).cloned().collect())
            }
            (AllBut(a), AllBut(b)) => AllBut(sorted(a.iter().chain(b).cloned().collect())),
        };
        MethodSet {
            built_in: self.built_in & other.built_in,
            others,
        }
    }

    pub fn union(&self, other: &MethodSet) -> MethodSet {
        self.complement()
            .intersect(&other.complement())
            .complement()
    }

    /// Whether a request with `method` is in the set (`HEAD` counts as
    /// `GET`, as Apache's `M_GET` covers both).
    pub fn contains(&self, method: &str) -> bool {
        match built_in(method) {
            Some(n) => self.built_in & (1 << n) != 0,
            None => match &self.others {
                Others::Only(v) => v.iter().any(|m| m == method),
                Others::AllBut(v) => !v.iter().any(|m| m == method),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::MethodSet;

    #[test]
    fn limit_and_limit_except_sets() {
        let get_post = MethodSet::of(&["GET", "POST"]);
        assert!(get_post.contains("GET") && get_post.contains("HEAD"));
        assert!(get_post.contains("POST"));
        assert!(!get_post.contains("PUT") && !get_post.contains("FOO"));
        let except = get_post.complement();
        assert!(!except.contains("HEAD") && except.contains("DELETE"));
        assert!(
            except.contains("FOO"),
            "unregistered names are in an Except set"
        );
        assert!(MethodSet::all().is_all() && !except.is_all());
        // Names are case-sensitive: "get" is an extension method.
        assert!(!MethodSet::of(&["get"]).contains("GET"));
    }

    #[test]
    fn nesting_intersects_and_containers_unite() {
        let except_get = MethodSet::of(&["GET"]).complement();
        let foo_put = MethodSet::of(&["FOO", "PUT"]);
        let both = except_get.intersect(&foo_put);
        assert_eq!(both, foo_put);
        assert!(
            MethodSet::of(&["GET"])
                .intersect(&MethodSet::of(&["POST"]))
                .is_empty()
        );
        let u = MethodSet::of(&["GET"]).union(&MethodSet::of(&["POST", "BAR"]));
        assert_eq!(u, MethodSet::of(&["POST", "GET", "BAR"]));
        assert!(except_get.union(&MethodSet::of(&["GET"])).is_all());
        let but_a = MethodSet::of(&["A", "B"]).complement();
        let but_b = MethodSet::of(&["B", "C"]).complement();
        assert!(but_a.union(&but_b).contains("A") && !but_a.union(&but_b).contains("B"));
        assert!(!but_a.intersect(&but_b).contains("C"));
    }
}
