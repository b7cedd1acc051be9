#!/bin/bash
# Run the integration suite against real Apache httpd 2.4 + mod_wsgi instead
# of wsgid, to check the suite's own expectations (Debian: apt-get install
# apache2 libapache2-mod-wsgi-py3; run as root):
#
#     WSGID_TEST_SUBJECT=$PWD/tests/apache-shim.sh cargo test --test tests
#
# It accepts the `[-t] -f CONF [-D NAME]...` form the tests use, loads the
# modules with -C (so line numbers in CONF stay as they are), runs the
# workers as www-data and makes the test directory readable for them.
# Expected failures: what is wsgid's own (-V, start-server, WSGIDaemonProcess
# refused, WSGIPythonExecutable wording, error texts without "wsgid"), and
# environ::application_group_names_and_interpreter_sharing now and then:
# mod_wsgi 4.9.4 on Python 3.11 may run a %{GLOBAL} request in a
# sub-interpreter on a thread that first served one (CPython gh-59956; the
# oracle harness works around it with a warm-up, this shim does not).
set -u
args=(); conf=""; test=""
while [ $# -gt 0 ]; do
  case "$1" in
    -f) conf="$2"; shift 2;;
    -t) test=1; shift;;
    -D) args+=(-D "$2"); shift 2;;
    *) args+=("$1"); shift;;
  esac
done
if [ -z "$conf" ]; then echo "apache-shim: only the -f form is supported" >&2; exit 2; fi
case "$conf" in /*) ;; *) conf="$PWD/$conf";; esac
dir=$(dirname "$conf")
case "$dir" in /tmp/*) chmod -R a+rwX "$dir";; esac   # only the tests' own directories
M=/usr/lib/apache2/modules
C=()
for m in mpm_event authz_core authz_host authz_user authn_core authn_file auth_basic alias mime env setenvif rewrite dir wsgi; do
  C+=(-C "LoadModule ${m}_module $M/mod_${m}.so")
done
C+=(-C "User www-data" -C "Group www-data" -C "Mutex file:$dir default")
if [ -n "$test" ]; then exec /usr/sbin/apache2 "${C[@]}" -t -f "$conf" "${args[@]}"; fi
exec /usr/sbin/apache2 "${C[@]}" -f "$conf" -D FOREGROUND "${args[@]}"
