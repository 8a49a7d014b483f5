//! The migrations are embedded with include_dir, which cannot tell cargo that
//! it read them; without this a new migration would not be embedded.
fn main() {
    println!("cargo:rerun-if-changed=../../migrations");
}
