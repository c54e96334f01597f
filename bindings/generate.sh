#!/usr/bin/env bash
# Builds the gridline-ffi library and generates its Kotlin, Swift and Python bindings into
# bindings/generated/{kotlin,swift,python} (git-ignored; never committed).
#
#   bindings/generate.sh              # debug build (what the tests use)
#   bindings/generate.sh --release    # release build (what apps ship)
#
# The library is also copied next to the Python module, which loads it from its own folder.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(dirname "$here")"
profile=debug
cargo_flags=()
if [[ "${1:-}" == "--release" ]]; then
    profile=release
    cargo_flags+=(--release)
fi
target="${CARGO_TARGET_DIR:-$root/target}"
case "$(uname -s)" in
    Darwin) lib="$target/$profile/libgridline_ffi.dylib" ;;
    *) lib="$target/$profile/libgridline_ffi.so" ;;
esac

cd "$root"
cargo build --locked -p gridline-ffi --features cli "${cargo_flags[@]}"

out="$here/generated"
rm -rf "$out"
mkdir -p "$out"
# Library mode: the bindings are read from the metadata compiled into the library itself.
# Run from the crate dir so uniffi finds bindings/uniffi.toml.
cd "$here"
for language in kotlin swift python; do
    "$target/$profile/uniffi-bindgen" generate "$lib" --language "$language" \
        --out-dir "$out/$language" --no-format
done
cp "$lib" "$out/python/"
echo "generate.sh: $profile library $(basename "$lib"); bindings in ${out#"$root"/}/{kotlin,swift,python}"
