# Shared helpers for the scripts (sourced, not run).

# Adds the Rust targets the project builds for (RUSTUP_AUTO_INSTALL=0 on CI
# machines means nothing is fetched implicitly).
ensure_rust_targets() {
    local installed
    installed="$(rustup target list --installed 2>/dev/null || true)"
    for t in "$@"; do
        grep -qx "$t" <<<"$installed" || rustup target add "$t" >&2
    done
}
