#!/usr/bin/env bash
# VisPrompt for Krita: Linux installer.
#
# Runs from the unpacked installer (the makeself .run file unpacks itself and calls it;
# options go after "--":  ./visprompt-linux.run -- --dry-run). Installs, for this user only:
#   - the backend server bundle into  PREFIX/server/   (PREFIX defaults to
#     ${XDG_DATA_HOME:-~/.local/share}/visprompt, where the plugin looks for it),
#   - the Krita plugin into  <krita>/pykrita/  and its actions into  <krita>/actions/  for
#     the standard Krita (~/.local/share/krita) and the Flatpak one when it is present
#     (~/.var/app/org.kde.krita/data/krita),
#   - enable_visual_prompt=true in the [python] section of kritarc,
#   - backend.json {"executable": ...} in the visprompt config folder, and the plugin's
#     krita_plugin.json {"backend_path": ...} when the plugin cannot find the backend on
#     its own (custom --prefix, Flatpak Krita) and the user has none yet.
# Everything it creates or changes is listed in PREFIX/install-manifest.txt, which
# PREFIX/uninstall.sh reverses exactly. Running it again replaces the previous install.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
VERSION="$(cat "$HERE/VERSION" 2>/dev/null || echo unknown)"
MODULE=visual_prompt
EXE=visprompt-server
DATA_HOME="${XDG_DATA_HOME:-$HOME/.local/share}"
CONFIG_HOME="${XDG_CONFIG_HOME:-$HOME/.config}"
FLATPAK_APP="$HOME/.var/app/org.kde.krita"
DEFAULT_PREFIX="$DATA_HOME/visprompt"
PREFIX="$DEFAULT_PREFIX"
DRY_RUN=0
QUIET=0
FLATPAK=auto
KRITA_DIRS=()

usage() {
    cat <<EOF
VisPrompt $VERSION installer for Linux (per user, no root needed)

Options:
  --prefix DIR      install the backend into DIR (default: $DEFAULT_PREFIX)
  --dry-run         print what would be done, change nothing
  --no-flatpak      do not install into the Flatpak Krita even if it is present
  --krita-dir DIR   Krita resource folder to install the plugin into (repeatable;
                    replaces the automatic choice of standard + Flatpak folders)
  --kritarc FILE    kritarc to enable the plugin in (repeatable; use with --krita-dir,
                    which otherwise installs without enabling)
  --uninstall       remove a previous installation (same as PREFIX/uninstall.sh)
  --quiet           print only warnings and errors
  -h, --help        this help
EOF
}

KRITARCS=()
UNINSTALL=0
while [ $# -gt 0 ]; do
    case "$1" in
        --prefix) PREFIX="${2:?--prefix needs a folder}"; shift 2 ;;
        --prefix=*) PREFIX="${1#--prefix=}"; shift ;;
        --dry-run) DRY_RUN=1; shift ;;
        --no-flatpak) FLATPAK=no; shift ;;
        --krita-dir) KRITA_DIRS+=("${2:?--krita-dir needs a folder}"); shift 2 ;;
        --kritarc) KRITARCS+=("${2:?--kritarc needs a file}"); shift 2 ;;
        --uninstall) UNINSTALL=1; shift ;;
        --quiet) QUIET=1; shift ;;
        -h|--help) usage; exit 0 ;;
        *) echo "unknown option: $1 (see --help)" >&2; exit 2 ;;
    esac
done

PREFIX="$(realpath -m -- "$PREFIX")"
MANIFEST="$PREFIX/install-manifest.txt"
ENTRIES=()

say() { [ "$QUIET" = 1 ] || printf '%s\n' "$*"; }
warn() { printf 'warning: %s\n' "$*" >&2; }
act() {  # act DESCRIPTION COMMAND...: run it, or only describe it in a dry run
    local what="$1"; shift
    if [ "$DRY_RUN" = 1 ]; then say "would $what"; else say "$what"; "$@"; fi
}
record() { ENTRIES+=("$(printf '%s\t' "$@")"); }

mkdir_rec() {  # create a folder and every missing parent, recording each one created
    local target="$1" missing=() p="$1"
    while [ ! -d "$p" ]; do missing=("$p" "${missing[@]}"); p="$(dirname "$p")"; done
    for p in "${missing[@]}"; do
        act "create $p" mkdir "$p"
        record dir "$p"
    done
    [ -d "$target" ] || [ "$DRY_RUN" = 1 ]
}

copy_tree() {  # copy_tree SRC DEST: DEST (a folder) becomes a copy of SRC, owned by us
    act "install $2" cp -a -- "$1" "$2"
    record tree "$2"
}

copy_file() {
    act "install $2" cp -- "$1" "$2"
    record file "$2"
}

ini_get() {  # ini_get FILE SECTION KEY: print the value, exit 1 when absent
    awk -v s="[$2]" -v k="$3" '
        /^[ \t]*\[/ { gsub(/[ \t\r]/, ""); sec = $0; next }
        sec == s { i = index($0, "="); if (i && substr($0, 1, i - 1) == k) {
            print substr($0, i + 1); found = 1; exit } }
        END { exit found ? 0 : 1 }' "$1"
}

ini_set() {  # ini_set FILE SECTION KEY VALUE: set or add the key, keep everything else
    local tmp="$1.visprompt-tmp"
    awk -v s="[$2]" -v k="$3" -v v="$4" '
        function put() { if (!done) { print k "=" v; done = 1 } }
        /^[ \t]*\[/ { h = $0; gsub(/[ \t\r]/, "", h); if (sec == s) put(); sec = h; print; next }
        sec == s { i = index($0, "="); if (i && substr($0, 1, i - 1) == k) { put(); next } }
        { print }
        END { if (sec == s) put(); else if (!done) { print ""; print s; put() } }' "$1" > "$tmp"
    cat "$tmp" > "$1" && rm -f "$tmp"
}

sha() { sha256sum "$1" | cut -d' ' -f1; }

write_json_file() {  # write_json_file PATH JSON: create a settings file we own
    if [ "$DRY_RUN" = 1 ]; then say "would write $1"; return; fi
    say "write $1"
    printf '%s\n' "$2" > "$1"
    record file-if-unchanged "$1" "$(sha "$1")"
}

json_str() {  # a JSON string literal (paths may hold quotes or backslashes)
    local s="${1//\\/\\\\}"; s="${s//\"/\\\"}"; printf '"%s"' "$s"
}

# --------------------------------------------------------------------------- checks

if [ "$UNINSTALL" = 1 ]; then
    args=(--manifest "$MANIFEST")
    [ "$DRY_RUN" = 1 ] && args+=(--dry-run)
    [ "$QUIET" = 1 ] && args+=(--quiet)
    exec bash "$HERE/uninstall.sh" "${args[@]}"
fi

[ -x "$HERE/server/$EXE" ] || { echo "broken installer: $HERE/server/$EXE missing" >&2; exit 1; }
if [ ! -f "$HERE/plugin/$MODULE.desktop" ] || [ ! -d "$HERE/plugin/$MODULE" ]; then
    echo "broken installer: plugin files missing" >&2
    exit 1
fi
case "$PREFIX" in
    /|"$HOME"|/usr|/usr/*|/bin|/etc|/etc/*) echo "refusing --prefix $PREFIX" >&2; exit 2 ;;
esac

if [ ${#KRITA_DIRS[@]} -eq 0 ]; then
    KRITA_DIRS=("$DATA_HOME/krita")
    KRITARCS=("$CONFIG_HOME/kritarc")
    CONFIG_DIRS=("$CONFIG_HOME/visprompt")
    if [ "$FLATPAK" != no ] && [ -d "$FLATPAK_APP" ]; then
        say "Flatpak Krita found: installing the plugin there too"
        KRITA_DIRS+=("$FLATPAK_APP/data/krita")
        KRITARCS+=("$FLATPAK_APP/config/kritarc")
        CONFIG_DIRS+=("$FLATPAK_APP/config/visprompt")
    fi
else
    CONFIG_DIRS=("$CONFIG_HOME/visprompt")
fi

say "Installing VisPrompt $VERSION"
if command -v pgrep > /dev/null && pgrep -x krita > /dev/null; then
    warn "Krita is running: close it before using the plugin (restart it after installing)"
fi
if [ -f "$MANIFEST" ]; then
    say "a previous installation was found: removing it first"
    up=(--manifest "$MANIFEST" --quiet)
    [ "$DRY_RUN" = 1 ] && up+=(--dry-run)
    bash "$HERE/uninstall.sh" "${up[@]}"
elif [ -e "$PREFIX/server" ]; then
    echo "$PREFIX/server exists but was not installed by this installer; remove it first" >&2
    exit 1
fi

# --------------------------------------------------------------------------- backend

mkdir_rec "$PREFIX"
copy_tree "$HERE/server" "$PREFIX/server"
copy_file "$HERE/uninstall.sh" "$PREFIX/uninstall.sh"
SERVER="$PREFIX/server/$EXE"

# --------------------------------------------------------------------------- plugin

for kdir in "${KRITA_DIRS[@]}"; do
    mkdir_rec "$kdir/pykrita"
    if [ -e "$kdir/pykrita/$MODULE" ]; then
        act "remove the plugin already in $kdir/pykrita" rm -rf -- "$kdir/pykrita/$MODULE"
    fi
    copy_file "$HERE/plugin/$MODULE.desktop" "$kdir/pykrita/$MODULE.desktop"
    copy_tree "$HERE/plugin/$MODULE" "$kdir/pykrita/$MODULE"
    if [ -f "$HERE/plugin/$MODULE.action" ]; then
        mkdir_rec "$kdir/actions"
        copy_file "$HERE/plugin/$MODULE.action" "$kdir/actions/$MODULE.action"
    fi
done

for rc in "${KRITARCS[@]}"; do
    if [ ! -f "$rc" ]; then
        mkdir_rec "$(dirname "$rc")"
        previous="<no file>"
        [ "$DRY_RUN" = 1 ] || : > "$rc"
    elif previous="$(ini_get "$rc" python "enable_$MODULE")"; then
        :
    else
        previous="<no key>"
    fi
    act "enable the plugin in $rc" ini_set "$rc" python "enable_$MODULE" true
    record kritarc "$rc" "$previous"
done

# --------------------------------------------------------------------------- settings

for cdir in "${CONFIG_DIRS[@]}"; do
    mkdir_rec "$cdir"
    write_json_file "$cdir/backend.json" \
        "{\"executable\": $(json_str "$SERVER"), \"version\": \"$VERSION\", \"installed_by\": \"visprompt-linux-installer\"}"
    needs_path=0
    [ "$PREFIX" != "$DEFAULT_PREFIX" ] && needs_path=1
    [ "$cdir" != "$CONFIG_HOME/visprompt" ] && needs_path=1
    if [ "$needs_path" = 1 ]; then
        if [ -e "$cdir/krita_plugin.json" ]; then
            warn "$cdir/krita_plugin.json exists: set the backend path to $SERVER in the docker's settings"
        else
            write_json_file "$cdir/krita_plugin.json" "{\"backend_path\": $(json_str "$SERVER")}"
        fi
    fi
done

# --------------------------------------------------------------------------- manifest

if [ "$DRY_RUN" = 1 ]; then
    say "would write $MANIFEST with ${#ENTRIES[@]} entries"
    exit 0
fi
{
    printf '# visprompt install manifest v1\tversion=%s\tdate=%s\n' "$VERSION" "$(date -u +%FT%TZ)"
    printf '%s\n' "${ENTRIES[@]}"
} > "$MANIFEST.tmp"
mv -f "$MANIFEST.tmp" "$MANIFEST"

say ""
say "VisPrompt $VERSION is installed."
say "  backend:   $SERVER"
say "  plugin:    ${KRITA_DIRS[*]/%//pykrita/$MODULE}"
say "  uninstall: $PREFIX/uninstall.sh"
say "Restart Krita, then open Settings > Dockers > Visual Prompt."
