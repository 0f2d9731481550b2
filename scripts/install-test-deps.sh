#!/usr/bin/env bash
# Installs what the end-to-end browser tests need: Debian's `chromium` and `chromium-driver`
# (chromedriver at /usr/bin/chromedriver), and fonts for readable screenshots. Never downloads
# a driver or browser build of its own.
# Idempotent and fast when both are installed already; non-interactive.
set -euo pipefail

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
