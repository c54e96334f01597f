//! The uniffi bindings generator, pinned to the uniffi version the library is built with.

fn main() {
    uniffi::uniffi_bindgen_main()
}
