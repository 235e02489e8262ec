#!/usr/bin/env bash
# Install Glassbox for this user, with no root and no Python: the bundle, a launcher in the
# applications menu and the icon.
#
#   packaging/install-linux.sh              from a source checkout, after `make package`
#   ./install.sh                            from the folder unpacked from Glassbox-*-linux-*.tar.gz
#   ... --uninstall                         remove what it installed (conversations and models stay)
#
# Where: the bundle in ${XDG_DATA_HOME:-~/.local/share}/glassbox-app/, the menu entry in
# .../applications/glassbox.desktop, the icons in .../icons/hicolor/, and `glassbox` in ~/.local/bin.
# Conversations, settings and models are elsewhere (README.md, "Where things live") and stay.
set -euo pipefail

if [ "$(uname -s)" = Darwin ]; then
  echo "error: this installs the Linux bundle; on macOS drag dist/Glassbox.app into Applications" >&2
  exit 1
fi
here=$(cd "$(dirname "$0")" && pwd)
data_home=${XDG_DATA_HOME:-$HOME/.local/share}
app_dir=$data_home/glassbox-app
bin_dir=$HOME/.local/bin
desktop_file=$data_home/applications/glassbox.desktop
icon_sizes="16 24 32 48 64 128 256 512"

refresh_caches() {  # menus pick the entry up without them, only later; neither is required
  command -v update-desktop-database >/dev/null && update-desktop-database -q "$data_home/applications" || true
  command -v gtk-update-icon-cache >/dev/null && gtk-update-icon-cache -q -t "$data_home/icons/hicolor" || true
}

if [ "${1:-}" = "--uninstall" ]; then
  rm -rf "$app_dir" "$desktop_file" "$data_home/icons/hicolor/scalable/apps/glassbox.svg"
  for size in $icon_sizes; do rm -f "$data_home/icons/hicolor/${size}x${size}/apps/glassbox.png"; done
  [ -L "$bin_dir/glassbox" ] && rm -f "$bin_dir/glassbox"
  refresh_caches
  echo "Glassbox removed (your conversations, settings and models are kept)"
  exit 0
fi

# The bundle: this script's own folder when it was unpacked with it, else a checkout's dist/Glassbox.
if [ -x "$here/Glassbox" ] && [ -d "$here/_internal" ]; then
  bundle=$here
elif [ -x "$here/../dist/Glassbox/Glassbox" ]; then
  bundle=$(cd "$here/../dist/Glassbox" && pwd)
else
  echo "error: no Glassbox bundle beside this script or in dist/Glassbox (run \`make package\` first)" >&2
  exit 1
fi
# Its resources: the share/ folder build.sh puts in the bundle, or the checkout's own files.
if [ -f "$bundle/share/glassbox.desktop" ]; then
  share=$bundle/share
else
  share=$(mktemp -d)
  trap 'rm -rf "$share"' EXIT
  cp "$here/linux/glassbox.desktop" "$here/../resources/glassbox.svg" "$share/"
  cp "$here/../resources/icons/"glassbox-*.png "$share/"
fi

if [ "$bundle" != "$app_dir" ]; then
  rm -rf "$app_dir.new"
  mkdir -p "$(dirname "$app_dir")"
  cp -a "$bundle" "$app_dir.new"
  rm -rf "$app_dir"
  mv "$app_dir.new" "$app_dir"
fi

mkdir -p "$data_home/applications" "$data_home/icons/hicolor/scalable/apps" "$bin_dir"
for size in $icon_sizes; do
  mkdir -p "$data_home/icons/hicolor/${size}x${size}/apps"
  cp "$share/glassbox-$size.png" "$data_home/icons/hicolor/${size}x${size}/apps/glassbox.png"
done
cp "$share/glassbox.svg" "$data_home/icons/hicolor/scalable/apps/glassbox.svg"
# Exec holds the path quoted (a home folder may have spaces): inside the quotes `"`, `` ` ``, `$`
# and `\` take a backslash, then every backslash is doubled (string escaping) and `%` becomes `%%`,
# as the Desktop Entry specification asks.
exe=$app_dir/Glassbox
quoted=${exe//\\/\\\\}
quoted=${quoted//\"/\\\"}
quoted=${quoted//\`/\\\`}
quoted=${quoted//\$/\\\$}
quoted=${quoted//\\/\\\\}
quoted=${quoted//%/%%}
while IFS= read -r line; do
  case $line in
    Exec=@EXEC@) printf 'Exec="%s"\n' "$quoted" ;;
    TryExec=@EXEC@) printf 'TryExec=%s\n' "${exe//\\/\\\\}" ;;
    *) printf '%s\n' "$line" ;;
  esac
done < "$share/glassbox.desktop" > "$desktop_file.new"
mv "$desktop_file.new" "$desktop_file"
ln -sfn "$app_dir/Glassbox" "$bin_dir/glassbox"
refresh_caches
echo "Glassbox installed: $app_dir"
echo "  menu entry $desktop_file; command $bin_dir/glassbox"
# the installed copy of this script: the unpacked archive or the checkout may be gone by then
echo "  remove with: $app_dir/install.sh --uninstall"
case ":$PATH:" in
  *":$bin_dir:"*) ;;
  *) echo "  note: $bin_dir is not on your PATH, so \`glassbox\` runs only by its full path (the menu entry works)" ;;
esac
