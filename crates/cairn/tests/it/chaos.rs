//! What the fault tests share: how many cycles to run (`make test`'s short
//! series, or `CAIRN_CHAOS_CYCLES` from `make chaos`), a seeded source of
//! random moments that prints its seed, the figures each suite prints, and
//! the checks run on a killed server's data dir.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::{Command, Output};

/// The cycles to run: `CAIRN_CHAOS_CYCLES` if set, else `short`.
pub fn cycles(short: u32) -> u32 {
    match std::env::var("CAIRN_CHAOS_CYCLES") {
        Ok(text) => text
            .parse()
            .unwrap_or_else(|_| panic!("CAIRN_CHAOS_CYCLES is not a count: {text:?}")),
        Err(_) => short,
    }
}

/// A small deterministic generator (xorshift64*): the same seed gives the
/// same moments, so a failing series can be replayed.
#[derive(Debug)]
pub struct Seeded {
    seed: u64,
    state: u64,
}

impl Seeded {
    /// Seeded from `CAIRN_CHAOS_SEED`, or from the clock (and printed).
    pub fn from_env() -> Seeded {
        let seed = match std::env::var("CAIRN_CHAOS_SEED") {
            Ok(text) => text
                .parse()
                .unwrap_or_else(|_| panic!("CAIRN_CHAOS_SEED is not a number: {text:?}")),
            Err(_) => std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(1, |d| d.as_nanos() as u64),
        };
        println!("chaos seed: {seed} (CAIRN_CHAOS_SEED={seed} replays it)");
        Seeded {
            seed,
            state: seed | 1,
        }
    }

    pub fn seed(&self) -> u64 {
        self.seed
    }

    /// A number in `0..bound`.
    pub fn below(&mut self, bound: u64) -> u64 {
        self.state ^= self.state >> 12;
        self.state ^= self.state << 25;
        self.state ^= self.state >> 27;
        self.state.wrapping_mul(0x2545_f491_4f6c_dd1d) % bound.max(1)
    }
}

/// What a fault suite prints when it ends (and what the book quotes).
#[derive(Debug)]
pub struct Figures {
    pub suite: &'static str,
    pub seed: u64,
    pub cycles: u32,
    pub jobs: usize,
    pub acknowledged: usize,
    pub records_lost: usize,
    pub run_twice: usize,
    pub states: BTreeMap<&'static str, usize>,
}

impl Figures {
    pub fn new(suite: &'static str, seed: u64) -> Figures {
        Figures {
            suite,
            seed,
            cycles: 0,
            jobs: 0,
            acknowledged: 0,
            records_lost: 0,
            run_twice: 0,
            states: BTreeMap::new(),
        }
    }
}

impl std::fmt::Display for Figures {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{}: {} cycles (seed {}), {} jobs ({} acknowledged), {} acknowledged records lost, \
             {} jobs run twice, terminal states {:?}",
            self.suite,
            self.cycles,
            self.seed,
            self.jobs,
            self.acknowledged,
            self.records_lost,
            self.run_twice,
            self.states
        )
    }
}

/// `PRAGMA integrity_check` on a database no process holds open (the server
/// was just killed): `"ok"`, or what SQLite found.
pub fn integrity_check(db: &Path) -> String {
    let connection = rusqlite::Connection::open(db).expect("open the killed server's database");
    let rows: Vec<String> = {
        let mut statement = connection
            .prepare("PRAGMA integrity_check")
            .expect("prepare integrity_check");
        statement
            .query_map([], |row| row.get::<_, String>(0))
            .expect("integrity_check")
            .collect::<Result<_, _>>()
            .expect("integrity_check rows")
    };
    rows.join("; ")
}

/// `cairn admin --data-dir <data> create-user <name>` (role admin, the test
/// password): a command that opens the server's data dir, key and database,
/// and ends.
pub fn create_user(data: &Path, name: &str) -> Output {
    let password = data.with_extension("password");
    std::fs::create_dir_all(data.parent().expect("a parent")).expect("parent dir");
    std::fs::write(&password, cairn_testkit::TEST_PASSWORD).expect("password file");
    admin(data)
        .args(["create-user", "--username", name, "--role", "admin"])
        .arg("--password-file")
        .arg(&password)
        .output()
        .expect("cairn admin create-user runs")
}

/// An admin account and an admin-scope token on a data dir, made with
/// `cairn admin` before the server first starts; returns the token.
pub fn admin_token(data: &Path) -> String {
    let user = create_user(data, "ops");
    assert!(
        user.status.success(),
        "{}",
        String::from_utf8_lossy(&user.stderr)
    );
    let token = admin(data)
        .args([
            "create-token",
            "--user",
            "ops",
            "--name",
            "chaos",
            "--scope",
            "admin",
        ])
        .output()
        .expect("cairn admin create-token");
    assert!(
        token.status.success(),
        "{}",
        String::from_utf8_lossy(&token.stderr)
    );
    String::from_utf8_lossy(&token.stdout).trim().to_string()
}

/// `cairn admin --data-dir <data>`, quiet, with no terminal to prompt on.
fn admin(data: &Path) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_cairn"));
    command
        .arg("admin")
        .arg("--data-dir")
        .arg(data)
        .env("CAIRN_LOG_LEVEL", "error")
        .stdin(std::process::Stdio::null());
    command
}
