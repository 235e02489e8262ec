#!/usr/bin/env bash
# The Python the Makefile builds .venv with (tests/packaging/test_python_env.py runs it with fake
# Pythons on PATH).
#
#   scripts/python-env.sh find        print the first suitable Python, or say in one line how to get one
#   scripts/python-env.sh venv DIR    make sure DIR is a venv of a suitable Python: keep it when it is,
#                                     else remove it and create it again; a failed creation is removed
#
# Suitable: Python 3.11 or newer; on an Apple-silicon Mac, an arm64 one (MLX has no x86_64 macOS wheels,
# and the system's /usr/bin/python3 is 3.9). Tried in order: $PYTHON when set, then python3.13,
# python3.12, python3.11, python3.
set -u

MIN_MINOR=11

apple_silicon() {
  [ "$(uname -s)" = Darwin ] && [ "$(sysctl -n hw.optional.arm64 2>/dev/null)" = 1 ]
}

# "3.12 arm64" for a working Python, nothing otherwise
describe() {
  "$1" -c 'import platform, sys; print("%d.%d %s" % (sys.version_info[0], sys.version_info[1], platform.machine()))' \
    2>/dev/null
}

suitable() {  # suitable "3.12 arm64"
  local version=${1%% *} machine=${1#* }
  local major=${version%%.*} minor=${version#*.}
  [ "$major" = 3 ] && [ "$minor" -ge "$MIN_MINOR" ] 2>/dev/null || return 1
  if apple_silicon && [ "$machine" != arm64 ]; then return 1; fi
  return 0
}

how_to_get_one() {
  if apple_silicon; then
    echo "brew install python@3.12 (https://brew.sh), or the macOS installer from https://www.python.org/downloads/"
  elif [ "$(uname -s)" = Darwin ]; then
    echo "brew install python@3.12, or https://www.python.org/downloads/"
  else
    echo "sudo apt-get install python3.11 python3.11-venv (or your distribution's python3.11+), or https://www.python.org/downloads/"
  fi
}

find_python() {
  local candidates=(python3.13 python3.12 python3.11 python3) tried=() candidate path description
  [ -n "${PYTHON:-}" ] && candidates=("$PYTHON")
  for candidate in "${candidates[@]}"; do
    path=$(command -v "$candidate" 2>/dev/null) || continue
    description=$(describe "$path")
    if [ -n "$description" ] && suitable "$description"; then
      echo "$path"
      return 0
    fi
    tried+=("$candidate ${description:-does not run}")
  done
  local need="Python 3.$MIN_MINOR+"
  apple_silicon && need="$need for arm64"
  local found="found none"
  [ ${#tried[@]} -gt 0 ] && found="found: $(IFS=,; echo "${tried[*]}" | sed 's/,/, /g')"
  echo "error: Glassbox needs $need ($found); get one: $(how_to_get_one), then run make again (or make PYTHON=/path/to/python3.12)" >&2
  return 1
}

make_venv() {
  local dir=$1 description python
  if [ -x "$dir/bin/python" ]; then
    description=$(describe "$dir/bin/python")
    if [ -n "$description" ] && suitable "$description"; then
      return 0
    fi
    echo "note: $dir was made with ${description:-a Python that no longer runs}; making it again" >&2
    rm -rf "$dir"
  fi
  python=$(find_python) || return 1
  echo "creating $dir with $python ($(describe "$python"))" >&2
  if ! "$python" -m venv "$dir"; then
    rm -rf "$dir"
    echo "error: $python -m venv $dir failed (Debian/Ubuntu: sudo apt-get install python3-venv); removed $dir" >&2
    return 1
  fi
}

case "${1:-}" in
  find) find_python ;;
  venv) [ -n "${2:-}" ] || { echo "usage: $0 venv DIR" >&2; exit 2; }; make_venv "$2" ;;
  *) echo "usage: $0 find | venv DIR" >&2; exit 2 ;;
esac
