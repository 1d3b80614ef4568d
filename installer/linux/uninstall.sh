#!/usr/bin/env bash
# VisPrompt for Krita: Linux uninstaller. Reverses install-manifest.txt exactly:
# removes the files and folders the installer created (folders only when empty, so the
# downloaded models and anything else of yours stay), restores kritarc's
# enable_visual_prompt to what it was, and keeps settings files you have changed since.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
MANIFEST="$HERE/install-manifest.txt"
DRY_RUN=0
QUIET=0
while [ $# -gt 0 ]; do
    case "$1" in
        --manifest) MANIFEST="${2:?--manifest needs a file}"; shift 2 ;;
        --dry-run) DRY_RUN=1; shift ;;
        --quiet) QUIET=1; shift ;;
        -h|--help) echo "usage: uninstall.sh [--dry-run] [--quiet] [--manifest FILE]"; exit 0 ;;
        *) echo "unknown option: $1" >&2; exit 2 ;;
    esac
done

say() { [ "$QUIET" = 1 ] || printf '%s\n' "$*"; }
act() {
    local what="$1"; shift
    if [ "$DRY_RUN" = 1 ]; then say "would $what"; else say "$what"; "$@"; fi
}

ini_del() {  # ini_del FILE SECTION KEY
    local tmp="$1.visprompt-tmp"
    awk -v s="[$2]" -v k="$3" '
        /^[ \t]*\[/ { h = $0; gsub(/[ \t\r]/, "", h); sec = h; print; next }
        sec == s { i = index($0, "="); if (i && substr($0, 1, i - 1) == k) next }
        { print }' "$1" > "$tmp"
    cat "$tmp" > "$1" && rm -f "$tmp"
}

ini_set() {  # same as the installer's
    local tmp="$1.visprompt-tmp"
    awk -v s="[$2]" -v k="$3" -v v="$4" '
        function put() { if (!done) { print k "=" v; done = 1 } }
        /^[ \t]*\[/ { h = $0; gsub(/[ \t\r]/, "", h); if (sec == s) put(); sec = h; print; next }
        sec == s { i = index($0, "="); if (i && substr($0, 1, i - 1) == k) { put(); next } }
        { print }
        END { if (sec == s) put(); else if (!done) { print ""; print s; put() } }' "$1" > "$tmp"
    cat "$tmp" > "$1" && rm -f "$tmp"
}

only_blank_or_empty_python() {  # true when a kritarc we created holds nothing else
    ! grep -qvE '^[[:space:]]*(\[python\])?[[:space:]]*$' "$1"
}

restore_kritarc() {  # restore_kritarc FILE PREVIOUS
    local rc="$1" previous="$2" key=enable_visual_prompt
    [ -f "$rc" ] || return 0
    case "$previous" in
        "<no key>") act "remove $key from $rc" ini_del "$rc" python "$key" ;;
        "<no file>")
            act "remove $key from $rc" ini_del "$rc" python "$key"
            if [ "$DRY_RUN" = 0 ] && only_blank_or_empty_python "$rc"; then
                act "remove $rc (created by the installer)" rm -f -- "$rc"
            fi ;;
        *) act "restore $key=$previous in $rc" ini_set "$rc" python "$key" "$previous" ;;
    esac
}

if [ ! -f "$MANIFEST" ]; then
    echo "no installation manifest at $MANIFEST: nothing to uninstall" >&2
    exit 1
fi
head -n1 "$MANIFEST" | grep -q '^# visprompt install manifest v1' \
    || { echo "$MANIFEST is not a VisPrompt install manifest" >&2; exit 1; }

mapfile -t LINES < <(tail -n +2 "$MANIFEST")
act "remove $MANIFEST" rm -f -- "$MANIFEST"
kept=()
for (( i=${#LINES[@]}-1; i>=0; i-- )); do
    IFS=$'\t' read -r kind path extra _ <<< "${LINES[$i]}"
    [ -n "$path" ] || continue
    case "$path" in /|"$HOME"|"$HOME/"|/usr|/etc) echo "refusing to remove $path" >&2; continue ;; esac
    case "$kind" in
        tree) [ -e "$path" ] && act "remove $path" rm -rf -- "$path" ;;
        file) [ -e "$path" ] || [ -L "$path" ] && act "remove $path" rm -f -- "$path" ;;
        file-if-unchanged)
            if [ -f "$path" ]; then
                if [ "$(sha256sum "$path" | cut -d' ' -f1)" = "$extra" ]; then
                    act "remove $path" rm -f -- "$path"
                else
                    kept+=("$path (changed since it was installed)")
                fi
            fi ;;
        dir)
            if [ -d "$path" ]; then
                if [ "$DRY_RUN" = 1 ]; then say "would remove $path if empty"
                elif rmdir -- "$path" 2>/dev/null; then say "remove $path"
                else kept+=("$path (holds files the installer did not put there)")
                fi
            fi ;;
        kritarc) restore_kritarc "$path" "$extra" ;;
        *) echo "unknown manifest entry: ${LINES[$i]}" >&2 ;;
    esac
done
for k in "${kept[@]}"; do say "kept $k"; done
say "VisPrompt is uninstalled."
