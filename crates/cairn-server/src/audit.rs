//! Writing the audit log from the service layer.

use cairn_store::{ActorKind, AuditEntry, Outcome, Store};

use crate::auth::{Principal, Via};
use crate::clock::Clock;

/// Appends audit entries. A failure to audit is logged loudly but does not
/// undo the action it records (the action already happened).
#[derive(Debug, Clone)]
pub struct Auditor {
    store: Store,
    clock: Clock,
}

/// Who acted, as the audit log names them.
#[derive(Debug, Clone)]
pub struct Actor {
    pub kind: ActorKind,
    pub id: Option<i64>,
    pub name: String,
    pub source: Option<String>,
}

impl Actor {
    /// Someone not signed in, e.g. a failed login for `username`.
    pub fn anonymous(username: &str, source: Option<String>) -> Actor {
        Actor {
            kind: ActorKind::Anonymous,
            id: None,
            name: username.to_string(),
            source,
        }
    }
}

impl From<&Principal> for Actor {
    fn from(p: &Principal) -> Actor {
        let (kind, id, name) = match &p.via {
            Via::Session { .. } => (ActorKind::User, Some(p.user.id.0), p.user.username.clone()),
            Via::ApiToken { token_id, name, .. } => (
                ActorKind::ApiToken,
                Some(token_id.0),
                format!("{} (token {name})", p.user.username),
            ),
            Via::Cli => (ActorKind::Cli, None, "cairn admin (local)".to_string()),
            Via::System => (ActorKind::System, None, "cairn server".to_string()),
        };
        Actor {
            kind,
            id,
            name,
            source: p.source.clone(),
        }
    }
}

impl Auditor {
    pub(crate) fn new(store: Store, clock: Clock) -> Self {
        Self { store, clock }
    }

    /// Refuses `p` unless it may do `need`, auditing the refusal of `action`
    /// on `target`. Every service function that changes or reveals something
    /// administrative starts with this.
    pub async fn authorize(
        &self,
        p: &Principal,
        need: cairn_store::Scope,
        action: &str,
        target: Option<String>,
    ) -> crate::ServiceResult<()> {
        let result = p.require(need);
        if result.is_err() {
            self.record(
                p,
                action,
                target,
                Outcome::Denied,
                Some(format!("needs {need}")),
            )
            .await;
        }
        result
    }

    /// Records `action` on `target` by `actor`, with its outcome.
    pub async fn record(
        &self,
        actor: impl Into<Actor>,
        action: &str,
        target: Option<String>,
        outcome: Outcome,
        detail: Option<String>,
    ) {
        let actor = actor.into();
        let entry = AuditEntry {
            actor_kind: actor.kind,
            actor_id: actor.id,
            actor_name: actor.name,
            source_addr: actor.source,
            action: action.to_string(),
            target,
            outcome,
            detail,
        };
        if let Err(err) = self.store.append_audit(entry, self.clock.now()).await {
            tracing::error!(%action, error = %err, "could not write the audit log");
        }
    }
}
