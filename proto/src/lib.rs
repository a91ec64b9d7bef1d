//! The Gongji wire contracts (`gongji.v1`), generated at build time from the
//! `.proto` files next to this crate, plus the encoded descriptor set that
//! servers publish through gRPC reflection.

#![allow(clippy::all, missing_docs)]

/// Messages and services of package `gongji.v1`.
pub mod v1 {
    tonic::include_proto!("gongji.v1");
}

/// The encoded `FileDescriptorSet` of every Gongji proto and its imports,
/// with comments, for the reflection service.
pub const FILE_DESCRIPTOR_SET: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/gongji_descriptor.bin"));
