//! The host's only bindings to the guest contract, generated from
//! `guest-sdk/wit`.

wasmtime::component::bindgen!({
    // One file, not the directory: a WIT directory holds one package, and
    // each contract version is a package of its own.
    path: "../guest-sdk/wit/transform.wit",
    world: "transform",
});
