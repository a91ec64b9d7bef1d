//! The Gongji wire contracts (`gongji.v1`), generated at build time from the
//! `.proto` files next to this crate, plus the encoded descriptor set that
//! servers publish through gRPC reflection.

#![allow(clippy::all, missing_docs)]

/// Messages and services of package `gongji.v1`.
pub mod v1 {
    tonic::include_proto!("gongji.v1");
}

/// The services of `gongji.v1` once more, as server traits whose every RPC
/// answers `UNIMPLEMENTED` unless overridden: for stand-in servers that do
/// only what a benchmark or a test needs (the real servers implement
/// [`v1`]'s traits, where the compiler insists on every RPC).
pub mod stubs {
    include!(concat!(env!("OUT_DIR"), "/stubs/gongji.v1.rs"));
}

/// The encoded `FileDescriptorSet` of every Gongji proto and its imports,
/// with comments, for the reflection service.
pub const FILE_DESCRIPTOR_SET: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/gongji_descriptor.bin"));
