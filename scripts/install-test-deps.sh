#!/usr/bin/env bash
# Installs what the end-to-end tests need, pinned, and nothing the tests would download later:
# - Debian's `chromium` and `chromium-driver` (chromedriver at /usr/bin/chromedriver) and fonts
#   for readable screenshots; never a browser or driver build of its own;
# - keycloak-js, Keycloak's SPA adapter, by version and SHA-256 from the npm registry into
#   .test-deps/ (tests/it/browser_keycloak_js.rs);
# - @keycloak/keycloak-admin-client, exactly as tests/clients/node/package-lock.json pins it;
# - python-keycloak, as tests/clients/python/requirements.txt pins it, in .test-deps/python.
# Idempotent and fast when everything is installed already; non-interactive.
set -euo pipefail
cd "$(dirname "$0")/.."

KEYCLOAK_JS_VERSION=26.2.4
KEYCLOAK_JS_SHA256=1e52998fd8f44dc15293df6af88f0bae57248e503617930067cb802ebe9665c9

say() { echo "install-test-deps: $*"; }

# Installs Debian packages that are missing (as root, or through sudo).
apt_install() {
    local missing=()
    for p in "$@"; do
        if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
            missing+=("$p")
        fi
    done
    if [ ${#missing[@]} -eq 0 ]; then
        say "$* already installed"
        return
    fi
    if ! command -v apt-get >/dev/null 2>&1; then
        echo "install-test-deps: apt-get not found; install ${missing[*]} by hand (Debian packages)" >&2
        exit 1
    fi
    local sudo=()
    if [ "$(id -u)" -ne 0 ]; then
        if command -v sudo >/dev/null 2>&1; then
            sudo=(sudo)
        else
            echo "install-test-deps: need root (or sudo) to install ${missing[*]}" >&2
            exit 1
        fi
    fi
    say "installing ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    "${sudo[@]}" apt-get update -q
    "${sudo[@]}" apt-get install -y -q --no-install-recommends "${missing[@]}"
}

install_browser() {
    apt_install chromium chromium-driver fonts-liberation
    for bin in chromium chromedriver; do
        command -v "$bin" >/dev/null 2>&1 || { echo "install-test-deps: $bin is still missing" >&2; exit 1; }
    done
    say "$(chromium --version 2>/dev/null || true); $(chromedriver --version 2>/dev/null || true)"
}

install_keycloak_js() {
    local dest=".test-deps/keycloak-js-$KEYCLOAK_JS_VERSION"
    if [ -f "$dest/lib/keycloak.js" ]; then
        say "keycloak-js $KEYCLOAK_JS_VERSION already installed"
        return
    fi
    local tmp
    tmp=$(mktemp -d)
    local url="https://registry.npmjs.org/keycloak-js/-/keycloak-js-$KEYCLOAK_JS_VERSION.tgz"
    say "fetching $url"
    curl -sSfL --retry 3 -o "$tmp/keycloak-js.tgz" "$url"
    echo "$KEYCLOAK_JS_SHA256  $tmp/keycloak-js.tgz" | sha256sum -c --quiet -
    mkdir -p "$dest"
    tar xzf "$tmp/keycloak-js.tgz" -C "$dest" --strip-components=1
    rm -rf "$tmp"
    say "keycloak-js $KEYCLOAK_JS_VERSION in $dest"
}

install_node_clients() {
    local dir=tests/clients/node
    if cmp -s "$dir/package-lock.json" "$dir/node_modules/.lock-installed" 2>/dev/null; then
        say "node client libraries already installed"
        return
    fi
    # Debian's nodejs and npm, unless Node.js (with npm) is there already.
    command -v npm >/dev/null 2>&1 || apt_install nodejs npm
    (cd "$dir" && npm ci --silent --no-audit --no-fund)
    cp "$dir/package-lock.json" "$dir/node_modules/.lock-installed"
    say "node client libraries in $dir/node_modules"
}

install_python_clients() {
    local venv=.test-deps/python
    local requirements=tests/clients/python/requirements.txt
    if cmp -s "$requirements" "$venv/.requirements-installed" 2>/dev/null; then
        say "python client libraries already installed"
        return
    fi
    python3 -m venv "$venv" 2>/dev/null || { apt_install python3-venv; python3 -m venv "$venv"; }
    "$venv/bin/pip" install -q --disable-pip-version-check -r "$requirements"
    cp "$requirements" "$venv/.requirements-installed"
    say "python client libraries in $venv"
}

install_browser
install_keycloak_js
install_node_clients
install_python_clients
