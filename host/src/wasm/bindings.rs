//! The host's only bindings to the guest contract, generated from
//! `guest-sdk/wit`.

wasmtime::component::bindgen!({
    path: "../guest-sdk/wit",
    world: "transform",
});
