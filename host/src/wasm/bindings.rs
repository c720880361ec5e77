//! The host's only bindings to the guest contract, generated from
//! `guest-sdk/wit`: one module per contract version, each from its own file
//! (a WIT directory holds one package, and each version is a package of
//! its own).

wasmtime::component::bindgen!({
    path: "../guest-sdk/wit/transform.wit",
    world: "transform",
});

/// Contract version 2 (`guest-sdk/wit/transform-v2.wit`): version 1 plus
/// lookups in and outputs out.
pub(crate) mod v2 {
    wasmtime::component::bindgen!({
        path: "../guest-sdk/wit/transform-v2.wit",
        world: "transform-v2",
    });
}
