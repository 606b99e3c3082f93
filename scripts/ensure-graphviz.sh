#!/usr/bin/env bash
# Makes sure Graphviz's `dot` binary exists: installs Debian's package when we may, else says how.
set -euo pipefail
command -v dot >/dev/null 2>&1 && exit 0

if command -v apt-get >/dev/null 2>&1; then
  if [ "$(id -u)" = 0 ]; then
    echo "Installing Graphviz (apt-get install graphviz) ..."
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq graphviz >/dev/null
  elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
    echo "Installing Graphviz (sudo apt-get install graphviz) ..."
    sudo apt-get update -qq && sudo DEBIAN_FRONTEND=noninteractive apt-get install -y -qq graphviz >/dev/null
  fi
fi
command -v dot >/dev/null 2>&1 && exit 0

cat >&2 <<'MSG'
minigrad needs Graphviz's `dot` program to draw diagrams, and it is not installed.
Install it, then run the command again:
  Debian/Ubuntu:  sudo apt-get install graphviz
  Fedora:         sudo dnf install graphviz
  conda:          conda install -c conda-forge graphviz
  Homebrew:       brew install graphviz
MSG
exit 1
