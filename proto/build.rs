//! Compiles the contracts in `gongji/v1` with protox (pure Rust; no system
//! `protoc`) and writes both the generated code and the encoded descriptor set
//! that the servers publish through gRPC reflection.

use std::{env, fs, path::PathBuf};

const PROTOS: &[&str] = &[
    "gongji/v1/common.proto",
    "gongji/v1/province_node.proto",
    "gongji/v1/province_link.proto",
    "gongji/v1/national_hub.proto",
];

fn main() -> Result<(), Box<dyn std::error::Error>> {
    for proto in PROTOS {
        println!("cargo:rerun-if-changed={proto}");
    }
    let descriptors = protox::compile(PROTOS, ["."])?;
    let out_dir = PathBuf::from(env::var("OUT_DIR")?);
    fs::write(out_dir.join("gongji_descriptor.bin"), prost::Message::encode_to_vec(&descriptors))?;
    tonic_prost_build::configure().compile_fds(descriptors.clone())?;

    // The same services again, every RPC answering UNIMPLEMENTED unless a
    // server overrides it (the benchmark's do-nothing baseline), reusing
    // the messages generated above.
    let stubs = out_dir.join("stubs");
    fs::create_dir_all(&stubs)?;
    tonic_prost_build::configure()
        .build_client(false)
        .generate_default_stubs(true)
        .extern_path(".gongji.v1", "crate::v1")
        .out_dir(&stubs)
        .compile_fds(descriptors)?;
    Ok(())
}
