#!/usr/bin/env bash
# The macOS signing steps after PyInstaller built dist/Glassbox.app (docs/packaging.md, "macOS");
# packaging/build.sh runs it. Each step runs only when it is configured, and says so when not:
#
#   GLASSBOX_CODESIGN_IDENTITY  "Developer ID Application: Name (TEAMID)": glassbox.spec has signed
#                               every binary and the .app with it (hardened runtime, entitlements);
#                               here the signature is verified as Gatekeeper will
#   GLASSBOX_NOTARY_PROFILE     a `xcrun notarytool store-credentials` profile: the signed .app is
#                               sent to Apple's notary service, the ticket stapled, Gatekeeper asked
#
#   packaging/macos-sign.sh dist/Glassbox.app
#
# Exits non-zero with a line saying why when a configured step fails, or when notarization is asked
# for an app that is not signed with a Developer ID (Apple refuses it; better to say so here).
# tests/packaging/test_macos_sign.py runs it with stand-ins for codesign, ditto, xcrun and spctl.
set -euo pipefail
app=$1
PY=${PY:-.venv/bin/python}

if [ -z "${GLASSBOX_CODESIGN_IDENTITY:-}" ]; then
  if [ -n "${GLASSBOX_NOTARY_PROFILE:-}" ]; then
    echo "error: GLASSBOX_NOTARY_PROFILE is set but GLASSBOX_CODESIGN_IDENTITY is not: Apple notarizes only" \
      "an app signed with a Developer ID (docs/packaging.md)" >&2
    exit 1
  fi
  echo "macOS: not signed with a Developer ID (set GLASSBOX_CODESIGN_IDENTITY, docs/packaging.md): this"
  echo "       Mac runs it; Gatekeeper refuses a downloaded copy elsewhere"
  exit 0
fi

codesign --verify --deep --strict --verbose=2 "$app"
if [ -z "${GLASSBOX_NOTARY_PROFILE:-}" ]; then
  echo "macOS: signed, not notarized (set GLASSBOX_NOTARY_PROFILE to a \`notarytool store-credentials\` profile)"
  exit 0
fi

dist=$(dirname "$app")
upload=$dist/Glassbox-notarize.zip
ditto -c -k --keepParent "$app" "$upload"
# (its exit status is not the verdict: the JSON's "status" is, read below whatever the exit status)
xcrun notarytool submit "$upload" --keychain-profile "$GLASSBOX_NOTARY_PROFILE" --wait \
  --output-format json > "$dist/notarization.json" || true
rm -f "$upload"
field() {  # a field of notarytool's answer, "unknown" when there is no readable answer
  "$PY" -c 'import json, sys
try:
    print(json.load(open(sys.argv[1])).get(sys.argv[2]) or "unknown")
except (OSError, ValueError):
    print("unknown")' "$dist/notarization.json" "$1"
}
status=$(field status)
if [ "$status" != "Accepted" ]; then
  echo "error: notarization $status; Apple's log: xcrun notarytool log $(field id) --keychain-profile $GLASSBOX_NOTARY_PROFILE" >&2
  exit 1
fi
xcrun stapler staple "$app"
spctl --assess --type execute --verbose=2 "$app"
echo "macOS: signed, notarized and stapled"
