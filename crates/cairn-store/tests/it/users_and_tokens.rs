use cairn_store::{
    NewApiToken, NewSession, NewUser, Page, Role, Scope, StoreError, TokenFilter, UserUpdate,
};

use crate::fresh_store;

fn ann() -> NewUser {
    NewUser {
        username: "ann".into(),
        password_hash: "$argon2id$v=19$placeholder".into(),
        role: Role::Admin,
    }
}

#[tokio::test]
async fn usernames_are_unique_ignoring_case() {
    let (store, _dir) = fresh_store().await;
    store.create_user(ann(), 1).await.expect("ann");
    let mut upper = ann();
    upper.username = "ANN".into();
    let err = store.create_user(upper, 1).await.expect_err("taken");
    assert!(
        matches!(err, StoreError::Conflict { what: "user" }),
        "{err}"
    );
    let found = store.user_by_username("Ann").await.expect("lookup");
    assert_eq!(found.map(|u| u.username), Some("ann".to_string()));
}

#[tokio::test]
async fn first_user_can_be_created_only_once() {
    let (store, _dir) = fresh_store().await;
    store.create_first_user(ann(), 1).await.expect("first");
    let mut other = ann();
    other.username = "bob".into();
    let err = store.create_first_user(other, 1).await.expect_err("second");
    assert!(matches!(err, StoreError::Conflict { .. }), "{err}");
}

#[tokio::test]
async fn missing_rows_are_not_found() {
    let (store, _dir) = fresh_store().await;
    let err = store.user(cairn_store::UserId(42)).await.expect_err("none");
    assert!(
        matches!(err, StoreError::NotFound { what: "user" }),
        "{err}"
    );
    let err = store
        .revoke_api_token(cairn_store::ApiTokenId(42), 1)
        .await
        .expect_err("none");
    assert!(matches!(err, StoreError::NotFound { .. }), "{err}");
}

#[tokio::test]
async fn sessions_expire_and_die_with_a_disabled_user() {
    let (store, _dir) = fresh_store().await;
    let user = store.create_user(ann(), 1).await.expect("ann");
    let hash = vec![7u8; 32];
    store
        .create_session(NewSession {
            token_hash: hash.clone(),
            user_id: user.id,
            csrf_token: "csrf".into(),
            now: 100,
            expires_at: 200,
            client_addr: Some("127.0.0.1".into()),
            user_agent: None,
        })
        .await
        .expect("session");
    let live = store
        .session_by_token_hash(hash.clone(), 150)
        .await
        .expect("read");
    assert_eq!(live.map(|s| s.user.id), Some(user.id));
    assert!(
        store
            .session_by_token_hash(hash.clone(), 200)
            .await
            .expect("read")
            .is_none()
    );

    store
        .update_user(
            user.id,
            UserUpdate {
                role: None,
                disabled: Some(true),
            },
            160,
        )
        .await
        .expect("disable");
    assert!(
        store
            .session_by_token_hash(hash, 150)
            .await
            .expect("read")
            .is_none()
    );
}

#[tokio::test]
async fn tokens_list_newest_first_with_paging_and_revocation() {
    let (store, _dir) = fresh_store().await;
    let user = store.create_user(ann(), 1).await.expect("ann");
    let mut ids = Vec::new();
    for n in 0..5u8 {
        let token = store
            .create_api_token(
                NewApiToken {
                    user_id: user.id,
                    name: format!("t{n}"),
                    prefix: format!("p{n}"),
                    token_hash: vec![n; 32],
                    scope: Scope::Read,
                    expires_at: None,
                    created_by: Some(user.id),
                },
                10,
            )
            .await
            .expect("token");
        ids.push(token.id);
    }
    let first = store
        .list_api_tokens(TokenFilter::default(), Page::first(3), 20)
        .await
        .expect("page 1");
    assert_eq!(
        first.items.iter().map(|t| t.id).collect::<Vec<_>>(),
        vec![ids[4], ids[3], ids[2]]
    );
    let second = store
        .list_api_tokens(TokenFilter::default(), Page::after(3, first.next), 20)
        .await
        .expect("page 2");
    assert_eq!(second.items.len(), 2);
    assert!(second.next.is_none());

    store.revoke_api_token(ids[0], 30).await.expect("revoke");
    let active = store
        .list_api_tokens(TokenFilter::default(), Page::first(50), 40)
        .await
        .expect("active");
    assert_eq!(active.items.len(), 4);
    let (token, owner) = store
        .api_token_by_hash(vec![0u8; 32])
        .await
        .expect("lookup")
        .expect("exists");
    assert_eq!(owner.id, user.id);
    assert!(!token.is_active(40));
}
