//! Repositories: where hosts back up to. The URL (which can carry
//! credentials), the password and the backend environment are sealed at rest
//! and only ever leave the server inside a job sent to an approved host.

use std::collections::BTreeMap;

use cairn_restic::RepoAccess;
use cairn_seal::{SealContext, Sealer};
use cairn_store::{
    HostId, JobFilter, Outcome, Page, PageOf, Repository, RepositoryFields, RepositoryId, Scope,
    SealedSecrets, Store, StoreError,
};

use crate::audit::Auditor;
use crate::auth::Principal;
use crate::clock::Clock;
use crate::error::{ServiceError, ServiceResult};
use crate::fleet::Fleet;

mod redact;

pub use redact::redact_url;

/// A repository to create.
#[derive(Clone)]
pub struct NewRepository {
    pub name: String,
    pub url: String,
    pub password: String,
    pub env: BTreeMap<String, String>,
}

impl std::fmt::Debug for NewRepository {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NewRepository")
            .field("name", &self.name)
            .field("url", &redact_url(&self.url))
            .field("env", &self.env.keys().collect::<Vec<_>>())
            .finish_non_exhaustive()
    }
}

/// Changes to a repository; `None` and empty leave things as they are.
#[derive(Clone, Default)]
pub struct RepositoryUpdate {
    pub name: Option<String>,
    pub url: Option<String>,
    pub password: Option<String>,
    pub set_env: BTreeMap<String, String>,
    pub unset_env: Vec<String>,
}

impl std::fmt::Debug for RepositoryUpdate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RepositoryUpdate")
            .field("name", &self.name)
            .field("url", &self.url.as_deref().map(redact_url))
            .field("password", &self.password.as_ref().map(|_| "<redacted>"))
            .field("set_env", &self.set_env.keys().collect::<Vec<_>>())
            .field("unset_env", &self.unset_env)
            .finish()
    }
}

fn check_name(name: &str) -> ServiceResult<()> {
    if name.trim().is_empty() || name.chars().count() > 64 || name.chars().any(char::is_control) {
        return Err(ServiceError::invalid(
            "name",
            "must be 1 to 64 printable characters",
        ));
    }
    Ok(())
}

fn check_secrets(url: &str, password: &str, env: &BTreeMap<String, String>) -> ServiceResult<()> {
    if url.trim().is_empty() {
        return Err(ServiceError::invalid("url", "must not be empty"));
    }
    cairn_restic::check_repository_url(url)
        .map_err(|e| ServiceError::invalid("url", e.to_string()))?;
    // What the console and the API show is the URL with every credential
    // as `***`: pasted back, it would store `***` as the credential.
    if url.contains("***") {
        return Err(ServiceError::invalid(
            "url",
            "holds *** where a credential was hidden: type the URL with its real credentials, or leave it empty to keep the stored one",
        ));
    }
    if password.is_empty() || password.len() > 4096 || password.contains(['\n', '\r', '\0']) {
        return Err(ServiceError::invalid(
            "password",
            "must be 1 to 4096 bytes on one line",
        ));
    }
    for (name, value) in env {
        cairn_restic::check_env(name, value)
            .map_err(|e| ServiceError::invalid("env", e.to_string()))?;
    }
    Ok(())
}

/// The repository service; cheap to clone.
#[derive(Debug, Clone)]
pub struct Repos {
    store: Store,
    clock: Clock,
    auditor: Auditor,
    sealer: Sealer,
    fleet: Fleet,
}

fn seal_all(
    sealer: &Sealer,
    id: RepositoryId,
    url: &str,
    password: &str,
    env: &BTreeMap<String, String>,
) -> Result<SealedSecrets, StoreError> {
    let seal = |column: &str, value: &[u8]| {
        sealer
            .seal(SealContext::new("repositories", id.0, column), value)
            .map_err(|e| StoreError::Seal(e.to_string()))
    };
    let env_json = serde_json::to_vec(env).map_err(|e| StoreError::Seal(e.to_string()))?;
    Ok(SealedSecrets {
        url: seal("url_sealed", url.as_bytes())?,
        password: seal("password_sealed", password.as_bytes())?,
        env: if env.is_empty() {
            None
        } else {
            Some(seal("env_sealed", &env_json)?)
        },
    })
}

fn open_all(
    sealer: &Sealer,
    id: RepositoryId,
    sealed: &SealedSecrets,
) -> Result<(String, String, BTreeMap<String, String>), StoreError> {
    let open = |column: &str, value: &[u8]| {
        sealer
            .open_string(SealContext::new("repositories", id.0, column), value)
            .map_err(|e| StoreError::Seal(format!("repository {id} {column}: {e}")))
    };
    let env = match &sealed.env {
        Some(env) => serde_json::from_str(&open("env_sealed", env)?)
            .map_err(|e| StoreError::Seal(e.to_string()))?,
        None => BTreeMap::new(),
    };
    Ok((
        open("url_sealed", &sealed.url)?,
        open("password_sealed", &sealed.password)?,
        env,
    ))
}

impl Repos {
    pub(crate) fn new(
        store: Store,
        clock: Clock,
        auditor: Auditor,
        sealer: Sealer,
        fleet: Fleet,
    ) -> Self {
        Self {
            store,
            clock,
            auditor,
            sealer,
            fleet,
        }
    }

    /// The hosts (or just `host`) with a schedule on the repository: they
    /// lose those schedules when the repository goes (or leaves them).
    async fn scheduled_hosts(
        &self,
        id: RepositoryId,
        host: Option<HostId>,
    ) -> ServiceResult<Vec<HostId>> {
        let mut hosts: Vec<HostId> = self
            .store
            .list_schedules(host)
            .await?
            .into_iter()
            .filter(|s| s.repository_id == id)
            .map(|s| s.host_id)
            .collect();
        hosts.sort_unstable_by_key(|h| h.0);
        hosts.dedup();
        Ok(hosts)
    }

    /// Tells each host its schedule set changed (a connected agent gets it
    /// now, the others when they connect).
    async fn push_schedules(&self, hosts: &[HostId]) -> ServiceResult<()> {
        for host in hosts {
            self.fleet.push_schedules(*host).await?;
        }
        Ok(())
    }

    /// Repositories, optionally those a host may use.
    pub async fn list(
        &self,
        p: &Principal,
        host: Option<HostId>,
        page: Page,
    ) -> ServiceResult<PageOf<Repository>> {
        p.require(Scope::Read)?;
        Ok(self.store.list_repositories(host, page).await?)
    }

    /// One repository.
    pub async fn get(&self, p: &Principal, id: RepositoryId) -> ServiceResult<Repository> {
        p.require(Scope::Read)?;
        Ok(self.store.repository(id).await?)
    }

    /// Creates a repository (its secrets sealed). Needs admin.
    pub async fn create(&self, p: &Principal, new: NewRepository) -> ServiceResult<Repository> {
        self.auditor
            .authorize(
                p,
                Scope::Admin,
                "repository.create",
                Some(format!("name:{}", new.name)),
            )
            .await?;
        check_name(&new.name)?;
        check_secrets(&new.url, &new.password, &new.env)?;
        let fields = RepositoryFields {
            name: new.name.trim().to_string(),
            url_redacted: redact_url(&new.url),
            env_keys: new.env.keys().cloned().collect(),
        };
        let sealer = self.sealer.clone();
        let repo = self
            .store
            .create_repository(fields, self.clock.now(), move |id| {
                seal_all(&sealer, id, &new.url, &new.password, &new.env)
            })
            .await?;
        self.auditor
            .record(
                p,
                "repository.create",
                Some(format!("repository:{}", repo.id)),
                Outcome::Success,
                Some(repo.url_redacted.clone()),
            )
            .await;
        Ok(repo)
    }

    /// Changes a repository. Needs admin.
    pub async fn update(
        &self,
        p: &Principal,
        id: RepositoryId,
        update: RepositoryUpdate,
    ) -> ServiceResult<Repository> {
        let target = Some(format!("repository:{id}"));
        self.auditor
            .authorize(p, Scope::Admin, "repository.update", target.clone())
            .await?;
        if let Some(name) = &update.name {
            check_name(name)?;
        }
        let current = self.store.repository(id).await?;
        let (url, password, mut env) =
            open_all(&self.sealer, id, &self.store.repository_secrets(id).await?)?;
        let url = update.url.clone().unwrap_or(url);
        let password = update.password.clone().unwrap_or(password);
        for key in &update.unset_env {
            env.remove(key);
        }
        env.extend(update.set_env.clone());
        check_secrets(&url, &password, &env)?;
        let fields = RepositoryFields {
            name: update
                .name
                .clone()
                .map(|n| n.trim().to_string())
                .unwrap_or(current.name),
            url_redacted: redact_url(&url),
            env_keys: env.keys().cloned().collect(),
        };
        let sealer = self.sealer.clone();
        let repo = self
            .store
            .update_repository(id, fields, self.clock.now(), move |_| {
                seal_all(&sealer, id, &url, &password, &env)
            })
            .await?;
        let changed = [
            update.name.as_ref().map(|_| "name"),
            update.url.as_ref().map(|_| "url"),
            update.password.as_ref().map(|_| "password"),
            (!update.set_env.is_empty() || !update.unset_env.is_empty()).then_some("env"),
        ];
        let detail = changed.into_iter().flatten().collect::<Vec<_>>().join(", ");
        self.auditor
            .record(
                p,
                "repository.update",
                target,
                Outcome::Success,
                Some(detail),
            )
            .await;
        Ok(repo)
    }

    /// Deletes a repository (its data stays where it is). Needs admin.
    pub async fn delete(&self, p: &Principal, id: RepositoryId) -> ServiceResult<()> {
        let target = Some(format!("repository:{id}"));
        self.auditor
            .authorize(p, Scope::Admin, "repository.delete", target.clone())
            .await?;
        let busy = JobFilter {
            repository: Some(id),
            active_only: true,
            ..Default::default()
        };
        if let Some(job) = self
            .store
            .list_jobs(busy, Page::first(1))
            .await?
            .items
            .first()
        {
            return Err(ServiceError::FailedPrecondition(format!(
                "job {} on this repository has not finished: wait for it or cancel it first",
                job.id
            )));
        }
        let hosts = self.scheduled_hosts(id, None).await?;
        let repo = self.store.delete_repository(id).await?;
        self.push_schedules(&hosts).await?;
        self.auditor
            .record(
                p,
                "repository.delete",
                target,
                Outcome::Success,
                Some(repo.name),
            )
            .await;
        Ok(())
    }

    /// Lets a host use a repository. Needs admin: the host is then sent the
    /// repository's password and backend keys with every job, which an
    /// operator may not read.
    pub async fn assign(
        &self,
        p: &Principal,
        id: RepositoryId,
        host: HostId,
    ) -> ServiceResult<Repository> {
        let target = Some(format!("repository:{id} host:{host}"));
        self.auditor
            .authorize(p, Scope::Admin, "repository.assign", target.clone())
            .await?;
        let repo = self
            .store
            .assign_repository(id, host, self.clock.now())
            .await?;
        self.auditor
            .record(p, "repository.assign", target, Outcome::Success, None)
            .await;
        Ok(repo)
    }

    /// Stops a host from using a repository. Needs operate.
    pub async fn unassign(
        &self,
        p: &Principal,
        id: RepositoryId,
        host: HostId,
    ) -> ServiceResult<Repository> {
        let target = Some(format!("repository:{id} host:{host}"));
        self.auditor
            .authorize(p, Scope::Operate, "repository.unassign", target.clone())
            .await?;
        let hosts = self.scheduled_hosts(id, Some(host)).await?;
        let repo = self.store.unassign_repository(id, host).await?;
        self.push_schedules(&hosts).await?;
        self.auditor
            .record(p, "repository.unassign", target, Outcome::Success, None)
            .await;
        Ok(repo)
    }

    /// The repository's secrets, opened, for a job about to be sent to a
    /// host. Never for an API response.
    pub(crate) async fn access(&self, id: RepositoryId) -> ServiceResult<RepoAccess> {
        let sealed = self.store.repository_secrets(id).await?;
        let (url, password, env) = open_all(&self.sealer, id, &sealed)?;
        Ok(RepoAccess {
            url,
            password,
            env: env.into_iter().collect(),
        })
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_url_with_its_credentials_masked_is_refused() {
        let env = BTreeMap::new();
        for masked in [
            "rest:https://ann:***@h:8000/r",
            "s3:https://AKIA:***@minio:9000/b",
        ] {
            let err = super::check_secrets(masked, "pw", &env).expect_err(masked);
            assert!(err.to_string().contains("***"), "{err}");
        }
        super::check_secrets("rest:https://ann:real@h:8000/r", "pw", &env).expect("a real URL");
    }

    use super::*;

    #[test]
    fn urls_lose_their_passwords() {
        assert_eq!(
            redact_url("rest:https://ann:s3cret@backup:8000/repo"),
            "rest:https://ann:***@backup:8000/repo"
        );
        assert_eq!(
            redact_url("rest:http://127.0.0.1:8000/"),
            "rest:http://127.0.0.1:8000/"
        );
        assert_eq!(
            redact_url("s3:s3.amazonaws.com/bucket"),
            "s3:s3.amazonaws.com/bucket"
        );
        assert_eq!(redact_url("/srv/restic"), "/srv/restic");
        assert!(!redact_url("rest:https://a:p@ss@h/r").contains("p@ss"));
    }

    #[test]
    fn every_url_form_loses_its_credentials() {
        for (url, secret, kept) in [
            (
                "sftp://ann:pw1@host:22//srv/repo",
                "pw1",
                "sftp://ann:***@host:22//srv/repo",
            ),
            (
                "s3:https://AKIA:k2@minio:9000/bucket",
                "k2",
                "s3:https://AKIA:***@minio:9000/bucket",
            ),
            (
                "rclone::s3,access_key_id=AKIA,secret_access_key=k3:bucket/path",
                "k3",
                "rclone::s3,access_key_id=***,secret_access_key=***:bucket/path",
            ),
            (
                "rclone:remote,password='k4:with,colon':dir/a=b",
                "k4",
                "rclone:remote,password=***:dir/a=b",
            ),
            (
                "rclone::webdav,url='https://u:k5@dav/',pass=\"k\"\"6\":p",
                "k5",
                "rclone::webdav,url=***,pass=***:p",
            ),
            (
                "rest:https://h/repo?token=k7&x=1",
                "k7",
                "rest:https://h/repo?token=***&x=***",
            ),
            ("rclone:remote:plain/path", "", "rclone:remote:plain/path"),
            (
                "rest:https://ghp_0123456789abcdefghijklmnopqrstuvwxyz@h/r",
                "ghp_0123",
                "rest:https://***@h/r",
            ),
            ("sftp:ann@host:/srv/repo", "", "sftp:ann@host:/srv/repo"),
        ] {
            let shown = redact_url(url);
            assert_eq!(shown, kept, "{url}");
            if !secret.is_empty() {
                assert!(!shown.contains(secret), "{url} → {shown}");
            }
        }
    }
}
