//! Conversions between the service layer's types and protobuf messages, in
//! one place.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use cairn_proto::v1 as pb;
use cairn_store::{
    ActorKind, ApiToken, AuditFilter, AuditRecord, Outcome, Page, Role, Scope, User,
};

pub(crate) use cairn_proto::convert::timestamp;

use crate::ServiceError;

pub(crate) fn role_to_pb(role: Role) -> pb::Role {
    match role {
        Role::Viewer => pb::Role::Viewer,
        Role::Operator => pb::Role::Operator,
        Role::Admin => pb::Role::Admin,
    }
}

pub(crate) fn role_from_pb(value: i32) -> Result<Role, ServiceError> {
    match pb::Role::try_from(value) {
        Ok(pb::Role::Viewer) => Ok(Role::Viewer),
        Ok(pb::Role::Operator) => Ok(Role::Operator),
        Ok(pb::Role::Admin) => Ok(Role::Admin),
        _ => Err(ServiceError::invalid(
            "role",
            "must be viewer, operator or admin",
        )),
    }
}

pub(crate) fn scope_to_pb(scope: Scope) -> pb::Scope {
    match scope {
        Scope::Read => pb::Scope::Read,
        Scope::Operate => pb::Scope::Operate,
        Scope::Admin => pb::Scope::Admin,
    }
}

pub(crate) fn scope_from_pb(value: i32) -> Result<Scope, ServiceError> {
    match pb::Scope::try_from(value) {
        Ok(pb::Scope::Read) => Ok(Scope::Read),
        Ok(pb::Scope::Operate) => Ok(Scope::Operate),
        Ok(pb::Scope::Admin) => Ok(Scope::Admin),
        _ => Err(ServiceError::invalid(
            "scope",
            "must be read, operate or admin",
        )),
    }
}

pub(crate) fn user_to_pb(user: &User) -> pb::User {
    pb::User {
        id: user.id.0,
        username: user.username.clone(),
        role: role_to_pb(user.role) as i32,
        disabled: user.disabled,
        created_at: Some(timestamp(user.created_at)),
        last_login_at: user.last_login_at.map(timestamp),
    }
}

pub(crate) fn token_to_pb(token: &ApiToken) -> pb::ApiToken {
    pb::ApiToken {
        id: token.id.0,
        user_id: token.user_id.0,
        username: token.username.clone(),
        name: token.name.clone(),
        scope: scope_to_pb(token.scope) as i32,
        prefix: token.prefix.clone(),
        created_at: Some(timestamp(token.created_at)),
        expires_at: token.expires_at.map(timestamp),
        last_used_at: token.last_used_at.map(timestamp),
        revoked_at: token.revoked_at.map(timestamp),
    }
}

/// Page tokens are opaque to clients: a versioned, encoded cursor.
pub(crate) fn page_from_pb(page: Option<pb::PageRequest>) -> Result<Page, ServiceError> {
    let page = page.unwrap_or_default();
    if page.page_token.is_empty() {
        return Ok(Page::first(page.page_size));
    }
    let cursor = URL_SAFE_NO_PAD
        .decode(&page.page_token)
        .ok()
        .and_then(|bytes| String::from_utf8(bytes).ok())
        .and_then(|text| text.strip_prefix("v1:").and_then(|n| n.parse::<i64>().ok()))
        .ok_or_else(|| ServiceError::invalid("page_token", "not a token this server issued"))?;
    Ok(Page::after(page.page_size, Some(cursor)))
}

pub(crate) fn page_to_pb(next: Option<i64>) -> pb::PageResponse {
    pb::PageResponse {
        next_page_token: next
            .map(|cursor| URL_SAFE_NO_PAD.encode(format!("v1:{cursor}")))
            .unwrap_or_default(),
    }
}

/// An audit record as the API shows it.
pub(crate) fn audit_to_pb(r: &AuditRecord) -> pb::AuditEvent {
    let e = &r.entry;
    pb::AuditEvent {
        id: r.id.0,
        time: Some(timestamp(r.at)),
        actor: Some(pb::AuditActor {
            kind: actor_kind_to_pb(e.actor_kind) as i32,
            id: e.actor_id.unwrap_or(0),
            name: e.actor_name.clone(),
        }),
        source_address: e.source_addr.clone().unwrap_or_default(),
        action: e.action.clone(),
        target: e.target.clone().unwrap_or_default(),
        outcome: outcome_to_pb(e.outcome) as i32,
        detail: e.detail.clone().unwrap_or_default(),
    }
}

fn actor_kind_to_pb(kind: ActorKind) -> pb::ActorKind {
    match kind {
        ActorKind::User => pb::ActorKind::User,
        ActorKind::ApiToken => pb::ActorKind::ApiToken,
        ActorKind::Agent => pb::ActorKind::Agent,
        ActorKind::System => pb::ActorKind::System,
        ActorKind::Cli => pb::ActorKind::Cli,
        ActorKind::Anonymous => pb::ActorKind::Anonymous,
    }
}

fn outcome_to_pb(outcome: Outcome) -> pb::AuditOutcome {
    match outcome {
        Outcome::Success => pb::AuditOutcome::Success,
        Outcome::Denied => pb::AuditOutcome::Denied,
        Outcome::Failed => pb::AuditOutcome::Failed,
    }
}

/// The filter of a `ListAuditEvents` request; unknown enum values and bad
/// times are refused by name, never read as "no filter".
pub(crate) fn audit_filter_from_pb(
    r: &pb::ListAuditEventsRequest,
) -> Result<AuditFilter, ServiceError> {
    let actor_kind = match pb::ActorKind::try_from(r.actor_kind) {
        Ok(pb::ActorKind::Unspecified) => None,
        Ok(pb::ActorKind::User) => Some(ActorKind::User),
        Ok(pb::ActorKind::ApiToken) => Some(ActorKind::ApiToken),
        Ok(pb::ActorKind::Agent) => Some(ActorKind::Agent),
        Ok(pb::ActorKind::System) => Some(ActorKind::System),
        Ok(pb::ActorKind::Cli) => Some(ActorKind::Cli),
        Ok(pb::ActorKind::Anonymous) => Some(ActorKind::Anonymous),
        Err(_) => {
            return Err(ServiceError::invalid(
                "actor_kind",
                "not a known actor kind",
            ));
        }
    };
    let outcome = match pb::AuditOutcome::try_from(r.outcome) {
        Ok(pb::AuditOutcome::Unspecified) => None,
        Ok(pb::AuditOutcome::Success) => Some(Outcome::Success),
        Ok(pb::AuditOutcome::Denied) => Some(Outcome::Denied),
        Ok(pb::AuditOutcome::Failed) => Some(Outcome::Failed),
        Err(_) => return Err(ServiceError::invalid("outcome", "not a known outcome")),
    };
    let time = |field: &'static str, t: &Option<prost_types::Timestamp>| match t {
        None => Ok(None),
        Some(t) => cairn_proto::convert::millis(t)
            .map(Some)
            .ok_or_else(|| ServiceError::invalid(field, "not a valid time")),
    };
    let text = |s: &str| (!s.is_empty()).then(|| s.to_string());
    Ok(AuditFilter {
        actor_kind,
        actor_id: (r.actor_id != 0).then_some(r.actor_id),
        action_prefix: text(&r.action_prefix),
        target: text(&r.target),
        outcome,
        since: time("since", &r.since)?,
        until: time("until", &r.until)?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn page_tokens_round_trip_and_garbage_is_refused() {
        let token = page_to_pb(Some(42)).next_page_token;
        let page = page_from_pb(Some(pb::PageRequest {
            page_size: 10,
            page_token: token,
        }))
        .expect("page");
        assert_eq!(page, Page::after(10, Some(42)));
        assert!(
            page_from_pb(Some(pb::PageRequest {
                page_size: 0,
                page_token: "garbage!".into()
            }))
            .is_err()
        );
        assert_eq!(page_to_pb(None).next_page_token, "");
    }
}
