#!/usr/bin/env bash
# Installs what the end-to-end browser tests need: Debian's `chromium` and `chromium-driver`
# (chromedriver at /usr/bin/chromedriver), and fonts for readable screenshots. Never downloads
# a driver or browser build of its own. Then Keycloak's own SPA adapter, keycloak-js, pinned by
# version and SHA-256, from the npm registry into .test-deps/ (tests/it/browser_keycloak_js.rs).
# Idempotent and fast when everything is installed already; non-interactive.
set -euo pipefail
cd "$(dirname "$0")/.."

KEYCLOAK_JS_VERSION=26.2.4
KEYCLOAK_JS_SHA256=1e52998fd8f44dc15293df6af88f0bae57248e503617930067cb802ebe9665c9

install_keycloak_js() {
    local dest=".test-deps/keycloak-js-$KEYCLOAK_JS_VERSION"
    if [ -f "$dest/lib/keycloak.js" ]; then
        echo "install-test-deps: keycloak-js $KEYCLOAK_JS_VERSION already installed"
        return
    fi
    local tmp
    tmp=$(mktemp -d)
    local url="https://registry.npmjs.org/keycloak-js/-/keycloak-js-$KEYCLOAK_JS_VERSION.tgz"
    echo "install-test-deps: fetching $url"
    curl -sSfL --retry 3 -o "$tmp/keycloak-js.tgz" "$url"
    echo "$KEYCLOAK_JS_SHA256  $tmp/keycloak-js.tgz" | sha256sum -c --quiet -
    mkdir -p "$dest"
    tar xzf "$tmp/keycloak-js.tgz" -C "$dest" --strip-components=1
    rm -rf "$tmp"
    echo "install-test-deps: keycloak-js $KEYCLOAK_JS_VERSION in $dest"
}
install_keycloak_js

packages=(chromium chromium-driver fonts-liberation)

missing=()
for p in "${packages[@]}"; do
    if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
        missing+=("$p")
    fi
done

if [ ${#missing[@]} -eq 0 ]; then
    echo "install-test-deps: ${packages[*]} already installed"
    exit 0
fi

if ! command -v apt-get >/dev/null 2>&1; then
    echo "install-test-deps: apt-get not found; install ${missing[*]} by hand (Debian packages)" >&2
    exit 1
fi

sudo=()
if [ "$(id -u)" -ne 0 ]; then
    if command -v sudo >/dev/null 2>&1; then
        sudo=(sudo)
    else
        echo "install-test-deps: need root (or sudo) to install ${missing[*]}" >&2
        exit 1
    fi
fi

echo "install-test-deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
"${sudo[@]}" apt-get update -q
"${sudo[@]}" apt-get install -y -q --no-install-recommends "${missing[@]}"

for bin in chromium chromedriver; do
    command -v "$bin" >/dev/null 2>&1 || { echo "install-test-deps: $bin is still missing" >&2; exit 1; }
done
echo "install-test-deps: $(chromium --version 2>/dev/null || true); $(chromedriver --version 2>/dev/null || true)"
