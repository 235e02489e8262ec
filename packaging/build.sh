#!/usr/bin/env bash
# Build the desktop bundle (docs/packaging.md). `make package` runs it; `make package-test` then
# runs the bundle's --self-test.
#   Linux: dist/Glassbox/ (with install.sh and the menu entry and icons in share/) and
#          dist/Glassbox-<version>-linux-<arch>.tar.gz of that folder
#   macOS: dist/Glassbox.app, signed with a Developer ID and notarized when an identity is
#          configured (GLASSBOX_CODESIGN_IDENTITY, GLASSBOX_NOTARY_PROFILE), and
#          dist/Glassbox-<version>-macos-<arch>.zip of it
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PY:-.venv/bin/python}
VERSION=$("$PY" -c 'from app.version import VERSION; print(VERSION)')
ARCH=$(uname -m)

STAMP=dist/.bundle-built  # written last: `make package-test` rebuilds unless it is newer than the sources
rm -f "$STAMP"
"$PY" -m PyInstaller --noconfirm --log-level WARN --distpath dist --workpath build packaging/glassbox.spec

linux_finish() {
  local bundle=dist/Glassbox
  # The Python runtime here may carry its debug information (pyenv builds do: libpython 23 MB ->
  # 5 MB). Only that is stripped: wheels' libraries (numpy.libs, ...) were rewritten by auditwheel,
  # and `strip` breaks their layout ("ELF load command address/offset not page-aligned").
  if command -v strip >/dev/null; then
    find "$bundle/_internal" -type f -name '*.so*' -not -path '*.libs/*' -print0 |
      while IFS= read -r -d '' lib; do
        # (grep reads to the end: with -q, readelf could die of SIGPIPE and pipefail call it a miss)
        if readelf -S "$lib" 2>/dev/null | grep '\.debug_info' >/dev/null; then strip --strip-debug "$lib"; fi
      done
  fi
  mkdir -p "$bundle/share"
  cp packaging/linux/glassbox.desktop resources/glassbox.svg resources/icons/glassbox-*.png "$bundle/share/"
  cp packaging/install-linux.sh "$bundle/install.sh"
  local archive=dist/Glassbox-$VERSION-linux-$ARCH.tar.gz
  tar -C dist -czf "$archive.part" Glassbox
  mv "$archive.part" "$archive"
  echo "archive: $archive ($(du -m "$archive" | cut -f1) MiB); users unpack it and run Glassbox/install.sh"
}

macos_sign_and_notarize() {
  local app=dist/Glassbox.app
  PY=$PY bash packaging/macos-sign.sh "$app"
  local archive=dist/Glassbox-$VERSION-macos-$ARCH.zip
  rm -f "$archive"
  ditto -c -k --keepParent "$app" "$archive"
  echo "archive: $archive ($(du -m "$archive" | cut -f1) MiB)"
}

case "$(uname -s)" in
  Darwin)
    bundle=dist/Glassbox.app
    "$PY" packaging/check_bundle.py "$bundle"
    macos_sign_and_notarize ;;
  *)
    bundle=dist/Glassbox
    "$PY" packaging/check_bundle.py "$bundle"
    linux_finish ;;
esac
touch "$STAMP"
echo "built: $bundle ($(du -sm "$bundle" | cut -f1) MiB)"
