#!/usr/bin/env bash
# Installs everything coursehub needs on a fresh machine, idempotently:
#   - a Python venv in .venv with coursehub and its test extras,
#   - configurable-http-proxy from npm into node_modules/,
#   - with --browser, Debian's chromium for the browser tests,
#   - with --postgres, Debian's postgresql server binaries (tests start their own servers).
# Re-running is cheap: each step is skipped when its inputs have not changed.
set -euo pipefail
cd "$(dirname "$0")/.."

want_browser=0
want_postgres=0
for arg in "$@"; do
  case "$arg" in
    --browser) want_browser=1 ;;
    --postgres) want_postgres=1 ;;
    *) echo "bootstrap.sh: unknown option $arg (known: --browser, --postgres)" >&2; exit 2 ;;
  esac
done

apt_install() {
  local sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "$@" >/dev/null
}

say() { printf '==> %s\n' "$*"; }

python=${PYTHON:-python3}
if ! "$python" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
  echo "coursehub needs Python 3.11 or newer; '$python' is $("$python" --version 2>&1)." >&2
  echo "Set PYTHON=/path/to/python3.11 and run again." >&2
  exit 1
fi

stamp=.venv/.coursehub-installed
if [ ! -x .venv/bin/python ]; then
  say "creating the Python venv in .venv"
  "$python" -m venv .venv
fi
if [ ! -f "$stamp" ] || [ pyproject.toml -nt "$stamp" ]; then
  say "installing coursehub and its Python packages into .venv"
  .venv/bin/python -m pip install --quiet --upgrade pip
  .venv/bin/python -m pip install --quiet -e '.[test]'
  touch "$stamp"
fi

if ! command -v npm >/dev/null 2>&1; then
  say "installing Node.js and npm from Debian's packages (needed for configurable-http-proxy)"
  apt_install nodejs npm
fi
if [ ! -x node_modules/.bin/configurable-http-proxy ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  say "installing configurable-http-proxy from npm into node_modules/"
  npm ci --no-audit --no-fund --loglevel=error
fi

if [ "$want_browser" -eq 1 ] && [ ! -x /usr/bin/chromium ]; then
  say "installing Debian's chromium for the browser tests"
  apt_install chromium
fi
if [ "$want_postgres" -eq 1 ] && ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; then
  say "installing Debian's postgresql for the tests (they start their own throw-away servers)"
  apt_install postgresql
fi
say "ready"
