//! Writes the seed corpus of every fuzz target under the folder given, one
//! folder per target (`make fuzz` starts each fuzzer from it).

use std::path::PathBuf;
use std::process::ExitCode;

fn main() -> ExitCode {
    let Some(dir) = std::env::args_os().nth(1).map(PathBuf::from) else {
        eprintln!("usage: cairn-fuzz-seeds <corpus dir>");
        return ExitCode::from(2);
    };
    for target in cairn_fuzz::TARGETS {
        let folder = dir.join(target.name);
        if let Err(err) = std::fs::create_dir_all(&folder) {
            eprintln!("cannot create {}: {err}", folder.display());
            return ExitCode::FAILURE;
        }
        for (n, seed) in cairn_fuzz::seeds::seeds(target.name).iter().enumerate() {
            let path = folder.join(format!("seed-{n}"));
            if let Err(err) = std::fs::write(&path, seed) {
                eprintln!("cannot write {}: {err}", path.display());
                return ExitCode::FAILURE;
            }
        }
    }
    ExitCode::SUCCESS
}
