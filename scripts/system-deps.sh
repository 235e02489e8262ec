#!/usr/bin/env bash
# Install the Debian packages named on the command line that are missing, when we can (root + apt).
# Otherwise say what is missing and carry on: the engine works without OpenBLAS, only slower.
set -u
missing=()
for pkg in "$@"; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done
[ ${#missing[@]} -eq 0 ] && exit 0
if ! command -v apt-get >/dev/null 2>&1; then
  exit 0  # not Debian/Ubuntu (macOS needs none of these)
fi
if [ "$(id -u)" != 0 ]; then
  echo "note: missing system packages: ${missing[*]} (sudo apt-get install ${missing[*]})" >&2
  exit 0
fi
echo "installing system packages: ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get install -y -q "${missing[@]}" >/dev/null 2>&1 \
  || { apt-get update -q >/dev/null 2>&1 && apt-get install -y -q "${missing[@]}" >/dev/null 2>&1; } \
  || echo "note: could not install ${missing[*]}" >&2
exit 0
