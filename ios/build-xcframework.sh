#!/usr/bin/env bash
# Builds GridlineFFI.xcframework (static library for iOS devices and the simulator) and copies
# the generated Swift bindings into Sources/GridlineFFI. Needs macOS with Xcode and the Rust
# targets aarch64-apple-ios, aarch64-apple-ios-sim and x86_64-apple-ios (rustup target add …).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(dirname "$here")"
target="${CARGO_TARGET_DIR:-$root/target}"
build="$here/build"
cd "$root"
for t in aarch64-apple-ios aarch64-apple-ios-sim x86_64-apple-ios; do
    cargo build --locked --release -p gridline-ffi --target "$t"
done
# Bindings and the header, from the host build of the same sources (library mode).
bindings/generate.sh --release
rm -rf "$build" && mkdir -p "$build/headers" "$build/sim"
cp bindings/generated/swift/gridline_ffiFFI.h "$build/headers/"
cp bindings/generated/swift/gridline_ffiFFI.modulemap "$build/headers/module.modulemap"
lipo -create "$target/aarch64-apple-ios-sim/release/libgridline_ffi.a" "$target/x86_64-apple-ios/release/libgridline_ffi.a" \
    -output "$build/sim/libgridline_ffi.a"
xcodebuild -create-xcframework \
    -library "$target/aarch64-apple-ios/release/libgridline_ffi.a" -headers "$build/headers" \
    -library "$build/sim/libgridline_ffi.a" -headers "$build/headers" \
    -output "$build/GridlineFFI.xcframework"
cp bindings/generated/swift/GridlineFFI.swift "$here/Sources/GridlineFFI/"
echo "build-xcframework.sh: ios/build/GridlineFFI.xcframework and Sources/GridlineFFI/GridlineFFI.swift ready"
