//! The shape of the key table: [`KeySpec`], and `config_table!`, which turns
//! one declaration per key into everything that needs the key — the [`KEYS`]
//! list (layering, the example file, the binary's flags), the typed value, its
//! parser, and its field in [`ServerConfig`] with a derived `Debug`.
//!
//! A key is declared as
//!
//! ```text
//! /// One line of help (the example file and `--help`).
//! field listen: SocketAddr = "127.0.0.1:8080",
//!     env "CAIRN_LISTEN", flag "listen" "ADDR", parse parse::socket_addr;
//! ```
//!
//! - `field` puts the value in `ServerConfig` as it is; `input` keeps it for
//!   `derive`, which computes the `derived` fields from several keys.
//! - The default is a string literal (parsed like any other value), or
//!   `unset`, which makes the value an `Option`.
//! - `flag LONG VALUE_NAME` takes a value; `switch LONG VALUE_NAME` may also be
//!   given bare, meaning `true`; `secret` has no flag (argv is visible to every
//!   user), takes a `_FILE` form, and its type must be [`Secret`], whose
//!   `Debug` is redacted. The env and flag names are spelled out so they can
//!   be grepped for; a test checks they follow the key's name.
//!
//! [`KEYS`]: super::KEYS
//! [`ServerConfig`]: super::ServerConfig

use crate::auth::Secret;

/// One setting: its names in each layer and whether it is a secret.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KeySpec {
    /// The TOML key, e.g. `data_dir`.
    pub name: &'static str,
    /// The environment variable, e.g. `CAIRN_DATA_DIR`.
    pub env: &'static str,
    /// The command-line flag; `None` for secrets.
    pub flag: Option<FlagSpec>,
    /// Whether the value is a secret (never printed; also takes `_FILE`).
    pub secret: bool,
    /// The default, as text; `None` when unset by default.
    pub default: Option<&'static str>,
    /// One line for the example file and `--help`.
    pub help: &'static str,
}

/// A key's command-line flag.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FlagSpec {
    /// The long name without its dashes, e.g. `data-dir`.
    pub long: &'static str,
    /// What the value is, for `--help`, e.g. `DIR`.
    pub value_name: &'static str,
    /// Whether the flag may be given bare, meaning `true` (`--plaintext`).
    pub bare_means_true: bool,
}

impl KeySpec {
    /// The flag as typed, e.g. `--data-dir`; `None` for secrets.
    pub fn flag_text(&self) -> Option<String> {
        self.flag.map(|flag| format!("--{}", flag.long))
    }

    /// The environment variable naming a file that holds the secret, e.g.
    /// `CAIRN_SETUP_TOKEN_FILE`; `None` for keys that are not secrets.
    pub fn env_file(&self) -> Option<String> {
        self.secret.then(|| format!("{}_FILE", self.env))
    }
}

/// Implemented by the types a `secret` key may have: only ones that cannot
/// show their value by formatting.
pub(super) trait SecretValue {}

impl SecretValue for Secret {}

macro_rules! config_table {
    (
        derived {
            $( $(#[doc = $dhelp:literal])+ $dname:ident : $dty:ty, )*
        }
        keys {
            $(
                $(#[doc = $help:literal])+
                $role:ident $name:ident : $ty:ty = $default:tt,
                env $env:literal, $kind:ident $($long:literal $value_name:literal)?,
                parse $parse:expr;
            )*
        }
    ) => {
        /// Every server setting, in the order the example file lists them.
        pub const KEYS: &[KeySpec] = &[$(
            KeySpec {
                name: stringify!($name),
                env: $env,
                flag: config_table!(@flag $kind $($long $value_name)?),
                secret: config_table!(@secret $kind),
                default: config_table!(@default $default),
                help: concat!($($help),+).trim_ascii(),
            },
        )*];

        /// Every key's value, parsed and checked on its own.
        struct Keys {
            $( $(#[doc = $help])+ $name: config_table!(@ty $default $ty), )*
        }

        impl Keys {
            fn from_layers(layers: &Layers) -> Result<Keys, ConfigError> {
                Ok(Keys {
                    $( $name: config_table!(@take $default, layers, stringify!($name), $parse), )*
                })
            }
        }

        /// The fields computed from several keys.
        struct Derived {
            $( $dname: $dty, )*
        }

        $( config_table!(@check $kind $ty); )*

        config_table!(@config
            [$( $(#[doc = $dhelp])+ pub $dname: $dty, )*] [] [$($dname)*]
            $( $role [$(#[doc = $help])+] $name [config_table!(@ty $default $ty)] )*
        );
    };

    (@flag flag $long:literal $value_name:literal) => {
        Some(FlagSpec { long: $long, value_name: $value_name, bare_means_true: false })
    };
    (@flag switch $long:literal $value_name:literal) => {
        Some(FlagSpec { long: $long, value_name: $value_name, bare_means_true: true })
    };
    (@flag secret) => { None };
    (@secret secret) => { true };
    (@secret $kind:ident) => { false };
    (@default unset) => { None };
    (@default $default:literal) => { Some($default) };
    (@ty unset $ty:ty) => { Option<$ty> };
    (@ty $default:literal $ty:ty) => { $ty };
    (@take unset, $layers:ident, $name:expr, $parse:expr) => { $layers.optional($name, $parse)? };
    (@take $default:literal, $layers:ident, $name:expr, $parse:expr) => {
        $layers.required($name, $parse)?
    };
    // A secret's type must redact itself: this fails to compile otherwise.
    (@check secret $ty:ty) => {
        const _: () = {
            fn redacts<T: SecretValue>() {}
            let _ = redacts::<$ty>;
        };
    };
    (@check $kind:ident $ty:ty) => {};

    // Collects the `field` keys (the `input` ones stay in `Keys`), then
    // emits the struct and its assembly.
    (@config [$($decl:tt)*] [$($field:ident)*] [$($dname:ident)*]
        field [$($doc:tt)*] $name:ident [$ty:ty] $($rest:tt)*) => {
        config_table!(@config [$($decl)* $($doc)* pub $name: $ty,] [$($field)* $name] [$($dname)*]
            $($rest)*);
    };
    (@config [$($decl:tt)*] [$($field:ident)*] [$($dname:ident)*]
        input [$($doc:tt)*] $name:ident [$ty:ty] $($rest:tt)*) => {
        config_table!(@config [$($decl)*] [$($field)*] [$($dname)*] $($rest)*);
    };
    (@config [$($decl:tt)*] [$($field:ident)*] [$($dname:ident)*]) => {
        /// The server's settings, parsed and checked. Its `Debug` is derived:
        /// secrets are [`Secret`]s, which redact themselves.
        #[derive(Clone, Debug)]
        pub struct ServerConfig {
            $($decl)*
        }

        fn assemble(keys: Keys, derived: Derived) -> ServerConfig {
            ServerConfig {
                $( $dname: derived.$dname, )*
                $( $field: keys.$field, )*
            }
        }
    };
}

pub(super) use config_table;
