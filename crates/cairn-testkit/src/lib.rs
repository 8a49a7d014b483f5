//! Test support: a real Cairn server (gRPC, web UI, probes) in process on a
//! loopback port, with its own temp data dir, and clients for it.
//!
//! The listener is bound before the server task starts, so a test never waits
//! on a fixed sleep for the server to come up.

#![forbid(unsafe_code)]

pub mod agents;
pub mod fleet;
pub mod jobs;
mod process;
mod server;

pub use process::ChildGuard;
pub use server::{TEST_PASSWORD, TestServer};
