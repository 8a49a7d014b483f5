//! Test support: a real Cairn server (gRPC, web UI, probes) in process on a
//! loopback port, with its own temp data dir, and clients for it.
//!
//! The listener is bound before the server task starts, so a test never waits
//! on a fixed sleep for the server to come up.

#![forbid(unsafe_code)]

pub mod agents;
mod data;
pub mod fleet;
pub mod gateway;
pub mod jobs;
mod process;
pub mod receivers;
pub mod rest;
mod server;
mod server_process;
mod wait;

pub use data::noise;
pub use process::{ChildGuard, command_lines, restic_pid_on, restic_running_on};
pub use server::{Reachable, TEST_PASSWORD, TestServer};
pub use server_process::ServerProcess;
pub use wait::{eventually, poll_pause};
