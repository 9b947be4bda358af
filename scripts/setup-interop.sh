#!/usr/bin/env bash
# Installs the interop tests' Python clients (Telethon and pyrofork, pinned) into a venv
# under target/. Idempotent; a no-op when the venv is already complete.
set -euo pipefail
cd "$(dirname "$0")/.."
venv=target/interop-venv
req=tests/interop/requirements.txt
stamp="$venv/.requirements"
if [ -x "$venv/bin/python" ] && [ -f "$stamp" ] && cmp -s "$req" "$stamp"; then
    exit 0
fi
mkdir -p target
python3 -m venv "$venv"
"$venv/bin/pip" install --quiet --disable-pip-version-check -r "$req"
cp "$req" "$stamp"
echo "interop venv ready: $("$venv/bin/python" -c 'import telethon; import pyrogram; print("telethon", telethon.__version__, "pyrofork", pyrogram.__version__)')"
