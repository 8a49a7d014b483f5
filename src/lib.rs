//! Cairn's wire contract: the types and services generated from
//! `proto/cairn/v1/*.proto`, and the hand-written conversions beside them.
//!
//! Protobuf types stop at the service boundary: the store and the core use
//! their own types, and convert through this crate.

#![forbid(unsafe_code)]

/// The generated code of package `cairn.v1`.
pub mod v1 {
    #![allow(missing_docs, missing_debug_implementations, clippy::all)]
    tonic::include_proto!("cairn.v1");
}

mod bearer;
pub mod convert;

pub use bearer::Bearer;

/// The encoded descriptor set of every Cairn proto file, for gRPC reflection.
pub const FILE_DESCRIPTOR_SET: &[u8] = tonic::include_file_descriptor_set!("cairn_descriptor");
