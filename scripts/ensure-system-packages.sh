#!/usr/bin/env bash
# Makes sure the programs minigrad's diagrams and tests run exist, installing Debian's package
# when we may (root, or password-less sudo), else saying which package to install.
#
#   bash scripts/ensure-system-packages.sh dot:graphviz chromium:chromium
#
# Each argument is `command:debian-package`; a command already on PATH is left alone.
set -euo pipefail

missing_cmds=()
missing_pkgs=()
for pair in "$@"; do
  cmd=${pair%%:*} pkg=${pair#*:}
  command -v "$cmd" >/dev/null 2>&1 || { missing_cmds+=("$cmd"); missing_pkgs+=("$pkg"); }
done
((${#missing_pkgs[@]})) || exit 0

apt=()
if command -v apt-get >/dev/null 2>&1; then
  if [ "$(id -u)" = 0 ]; then
    apt=(env DEBIAN_FRONTEND=noninteractive apt-get)
  elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
    apt=(sudo DEBIAN_FRONTEND=noninteractive apt-get)
  fi
fi
if ((${#apt[@]})); then
  echo "Installing ${missing_pkgs[*]} (apt-get install ${missing_pkgs[*]}) ..."
  "${apt[@]}" update -qq && "${apt[@]}" install -y -qq "${missing_pkgs[@]}" >/dev/null
fi

still=()
for i in "${!missing_cmds[@]}"; do
  command -v "${missing_cmds[$i]}" >/dev/null 2>&1 || still+=("${missing_pkgs[$i]}")
done
((${#still[@]})) || exit 0

for pkg in "${still[@]}"; do
  case "$pkg" in
    graphviz) why="Graphviz's \`dot\` draws minigrad's diagrams"
              other="Fedora: sudo dnf install graphviz · conda: conda install -c conda-forge graphviz · Homebrew: brew install graphviz" ;;
    chromium) why="a headless Chromium opens the step-through page and the docs site in the browser tests"
              other="Fedora: sudo dnf install chromium · Homebrew: brew install --cask chromium" ;;
    *)        why="minigrad's set-up needs it"; other="" ;;
  esac
  {
    echo "minigrad: the package \`$pkg\` is not installed and could not be installed here ($why)."
    echo "  Debian/Ubuntu:  sudo apt-get install $pkg"
    [ -n "$other" ] && echo "  $other"
    echo "Install it, then run the command again."
  } >&2
done
exit 1
