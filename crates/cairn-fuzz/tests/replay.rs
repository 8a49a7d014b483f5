//! Every fuzz target, on the stable toolchain: its seeds, every input a
//! fuzzer ever crashed on (`regressions/<target>/`, kept so a fixed crash
//! stays fixed), and a fixed series of mutations of the seeds (a seeded
//! generator, so a failure here replays exactly). `make fuzz` is the
//! coverage-guided search; this is what keeps its findings.

use std::path::Path;

use cairn_fuzz::{TARGETS, seeds::seeds};

/// Mutations tried per target in `make test`.
const MUTATIONS: usize = 20_000;

/// A small, seeded generator (xorshift64*): the same series every run.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

/// One mutation of `input`: bytes flipped, set to edge values, inserted,
/// removed, cut, or a piece of another seed spliced in.
fn mutate(rng: &mut Rng, input: &[u8], others: &[Vec<u8>]) -> Vec<u8> {
    let mut out = input.to_vec();
    for _ in 0..=rng.below(4) {
        let at = rng.below(out.len() + 1);
        let last = out.len().saturating_sub(1);
        match rng.below(6) {
            0 if !out.is_empty() => out[at.min(last)] ^= 1 << rng.below(8),
            1 if !out.is_empty() => {
                out[at.min(last)] = [0x00, 0xff, 0x7f, 0x80, b'-', b'\n'][rng.below(6)]
            }
            2 => out.insert(at, rng.next() as u8),
            3 if at < out.len() => {
                out.remove(at);
            }
            4 => out.truncate(at),
            _ => {
                let other = &others[rng.below(others.len())];
                let from = rng.below(other.len());
                let len = rng.below(other.len() - from.min(other.len()) + 1);
                let piece = other[from..(from + len).min(other.len())].to_vec();
                out.splice(at..at, piece);
            }
        }
    }
    out
}

/// The inputs a fuzzer crashed on for `target`, as kept in the repository.
fn regressions(target: &str) -> Vec<(String, Vec<u8>)> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("regressions")
        .join(target);
    let Ok(entries) = std::fs::read_dir(&dir) else {
        return Vec::new();
    };
    let mut found: Vec<_> = entries
        .filter_map(Result::ok)
        .filter(|e| e.path().is_file())
        .map(|e| {
            let bytes = std::fs::read(e.path()).expect("a kept regression input is readable");
            (e.file_name().to_string_lossy().into_owned(), bytes)
        })
        .collect();
    found.sort();
    found
}

#[test]
fn every_target_has_seeds_and_a_cargo_fuzz_target() {
    let fuzz_dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fuzz/fuzz_targets");
    for target in TARGETS {
        assert!(
            !seeds(target.name).is_empty(),
            "{} has no seeds",
            target.name
        );
        let file = fuzz_dir.join(format!("{}.rs", target.name));
        assert!(file.is_file(), "no cargo-fuzz target {}", file.display());
    }
}

#[test]
fn seeds_regressions_and_mutations_break_no_promise() {
    for target in TARGETS {
        let seeds = seeds(target.name);
        for seed in &seeds {
            (target.run)(seed);
        }
        let kept = regressions(target.name);
        for (_, input) in &kept {
            (target.run)(input);
        }
        let mut rng = Rng(0x9E37_79B9_7F4A_7C15 ^ target.name.len() as u64);
        for n in 0..MUTATIONS {
            let input = mutate(&mut rng, &seeds[n % seeds.len()], &seeds);
            (target.run)(&input);
        }
        println!(
            "{}: {} seeds, {} kept regressions, {MUTATIONS} mutations, no promise broken",
            target.name,
            seeds.len(),
            kept.len()
        );
    }
}

#[test]
fn every_run_job_seed_reaches_an_invocation() {
    // Otherwise the flag and secret checks would hold of nothing.
    for seed in seeds("run_job") {
        assert!(
            cairn_fuzz::run_job_invocation(&seed),
            "a seed stopped early"
        );
    }
}
