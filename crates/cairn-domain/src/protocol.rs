//! The agent ↔ server protocol version, and the window of agent versions a
//! server accepts. Adding an optional field to the wire needs no new
//! version (protobuf skips what it does not know); a change one side must
//! understand for the other to work does, and moves the window.

/// The protocol version this build speaks, as an agent and as a server.
pub const PROTOCOL_VERSION: u32 = 1;

/// The oldest agent protocol version this server accepts. Agents from the
/// releases before it must be upgraded first.
pub const OLDEST_AGENT_PROTOCOL: u32 = 1;

/// An agent's protocol version as its `Hello` gives it: 0 from agents that
/// predate the field, which speak version 1.
pub fn agent_protocol(announced: u32) -> u32 {
    announced.max(1)
}

/// Why a server turns an agent away.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Incompatible {
    /// The agent is older than the server accepts.
    #[error(
        "the agent speaks protocol {agent}, older than this server accepts ({oldest} to {newest}): upgrade the agent"
    )]
    TooOld {
        agent: u32,
        oldest: u32,
        newest: u32,
    },
    /// The agent is newer than the server.
    #[error(
        "the agent speaks protocol {agent}, newer than this server knows ({oldest} to {newest}): upgrade the server"
    )]
    TooNew {
        agent: u32,
        oldest: u32,
        newest: u32,
    },
}

/// Whether a server that speaks `newest` and accepts agents from `oldest` on
/// takes an agent that announced `announced`.
pub fn check_agent(announced: u32, oldest: u32, newest: u32) -> Result<(), Incompatible> {
    let agent = agent_protocol(announced);
    if agent < oldest {
        Err(Incompatible::TooOld {
            agent,
            oldest,
            newest,
        })
    } else if agent > newest {
        Err(Incompatible::TooNew {
            agent,
            oldest,
            newest,
        })
    } else {
        Ok(())
    }
}

/// [`check_agent`] against this build's window.
pub fn check_agent_here(announced: u32) -> Result<(), Incompatible> {
    check_agent(announced, OLDEST_AGENT_PROTOCOL, PROTOCOL_VERSION)
}

/// Why this build turns away a host whose agent last announced `announced`,
/// as shown to operators; `None` within the window. A host that never said
/// hello (0 on record) has nothing to say yet.
pub fn incompatibility_here(announced: u32) -> Option<String> {
    match announced {
        0 => None,
        announced => check_agent_here(announced).err().map(|why| why.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_window_admits_its_versions_and_names_the_side_to_upgrade() {
        assert_eq!(check_agent(2, 2, 3), Ok(()));
        assert_eq!(check_agent(3, 2, 3), Ok(()));
        let old = check_agent(1, 2, 3).expect_err("too old");
        assert!(
            old.to_string().contains("protocol 1") && old.to_string().contains("upgrade the agent")
        );
        let new = check_agent(4, 2, 3).expect_err("too new");
        assert!(
            new.to_string().contains("protocol 4")
                && new.to_string().contains("upgrade the server")
        );
        // An agent from before the field speaks version 1.
        assert_eq!(check_agent(0, 1, 1), Ok(()));
        assert!(matches!(
            check_agent(0, 2, 3),
            Err(Incompatible::TooOld { agent: 1, .. })
        ));
        assert_eq!(check_agent_here(PROTOCOL_VERSION), Ok(()));
        assert_eq!(
            check_agent_here(0),
            Ok(()),
            "today's window takes every agent released"
        );
    }
}
