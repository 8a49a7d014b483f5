//! Compiles the wire contract in `proto/cairn/v1/` with protox (pure Rust, so
//! no machine needs `protoc`) and hands the descriptor set to tonic-prost-build.
//! The descriptor set is also kept in OUT_DIR for gRPC server reflection.

use std::path::{Path, PathBuf};
use std::{env, fs};

use prost::Message;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    // Watch the whole folder so a new .proto file is picked up, and the
    // migrations too: the store embeds them and must be rebuilt when one lands.
    println!("cargo:rerun-if-changed=proto");
    println!("cargo:rerun-if-changed=migrations");

    let include = Path::new("proto");
    let protos = proto_files(&include.join("cairn/v1"))?;
    let descriptors = protox::compile(&protos, [include])?;

    let out_dir = PathBuf::from(env::var_os("OUT_DIR").ok_or("OUT_DIR is not set")?);
    let descriptor_path = out_dir.join("cairn_descriptor.bin");
    fs::write(&descriptor_path, descriptors.encode_to_vec())?;

    tonic_prost_build::configure()
        .build_server(true)
        .build_client(true)
        .file_descriptor_set_path(&descriptor_path)
        .skip_protoc_run()
        .compile_protos(&protos, &[include.to_path_buf()])?;
    Ok(())
}

/// Every `.proto` file of the package, sorted so builds are reproducible.
fn proto_files(dir: &Path) -> std::io::Result<Vec<PathBuf>> {
    let mut files = Vec::new();
    for entry in fs::read_dir(dir)? {
        let path = entry?.path();
        if path.extension().is_some_and(|ext| ext == "proto") {
            files.push(path);
        }
    }
    files.sort();
    Ok(files)
}
