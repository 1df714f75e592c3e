//! Direct addresses: issuing one creates the mailbox record, a login that owns
//! it, and its certificate(s), all in one transaction.

use super::{Hisp, OpsError};
use crate::direct::DirectAddress;
use crate::pki::Subject;
use crate::store::addresses::{self, AddressRow};
use crate::store::certs::{self, CertRow};
use crate::store::users::{self, Role, UserRow};
use crate::store::{StoreError, domains};

/// What to issue.
#[derive(Debug, Clone)]
pub struct NewAddress {
    /// The address.
    pub address: DirectAddress,
    /// The person's or service's name (the certificate's CN).
    pub name: Option<String>,
    /// The login's role.
    pub role: Role,
    /// A chosen password; None generates a one-time password.
    pub password: Option<String>,
    /// Issue a single-use pair; None takes `[pki] single_use_certs`.
    pub single_use: Option<bool>,
}

/// What was issued.
#[derive(Debug)]
pub struct AddressIssued {
    /// The address row.
    pub address: AddressRow,
    /// The login that owns it.
    pub user: UserRow,
    /// Its certificates.
    pub certs: Vec<CertRow>,
    /// The generated one-time password, to print once.
    pub generated_password: Option<String>,
}

/// An address with its owner and certificates, for `show`.
#[derive(Debug)]
pub struct AddressDetail {
    /// The address row.
    pub address: AddressRow,
    /// Its owner.
    pub user: Option<UserRow>,
    /// Its certificates.
    pub certs: Vec<CertRow>,
}

impl Hisp {
    /// Issue a Direct address.
    pub async fn address_add(
        &self,
        req: NewAddress,
        actor: &str,
    ) -> Result<AddressIssued, OpsError> {
        let addr = &req.address;
        if let Some(name) = &req.name
            && (name.trim().is_empty() || name.len() > 128 || name.chars().any(char::is_control))
        {
            return Err(OpsError::Invalid(format!(
                "--name '{name}' must be 1 to 128 printable characters"
            )));
        }
        let mut conn = self.conn().await?;
        let domain = domains::find(&mut conn, addr.domain())
            .await?
            .ok_or_else(|| {
                OpsError::Invalid(format!(
                    "domain {} is not served here: add it first with `hisp domain add {}`",
                    addr.domain(),
                    addr.domain()
                ))
            })?;
        if addresses::find(&mut conn, addr).await?.is_some() {
            return Err(OpsError::Store(StoreError::Duplicate(format!(
                "address {addr}"
            ))));
        }
        if users::find(&mut conn, &addr.to_string()).await?.is_some() {
            return Err(OpsError::Store(StoreError::Duplicate(format!(
                "user {addr}"
            ))));
        }
        drop(conn);
        let pw = super::user::new_password(req.password.clone()).await?;
        let single_use = req.single_use.unwrap_or(self.config.pki.single_use_certs);
        let subject = Subject::Address {
            address: addr.clone(),
            name: req.name.clone(),
        };
        let issued = self.issue(subject, super::cert::usages(single_use)).await?;

        let now = self.now();
        let mut tx = self.store.begin().await?;
        let user = users::insert(
            &mut tx,
            &addr.to_string(),
            &pw.hash,
            req.role,
            pw.generated.is_some(),
            now,
        )
        .await?;
        let address = addresses::insert(
            &mut tx,
            addr,
            domain.id,
            req.name.as_deref(),
            Some(user.id),
            now,
        )
        .await?;
        let certs = self
            .store_issued(&mut tx, domain.id, Some(address.id), &issued)
            .await?;
        let detail = format!("role={} certs={}", req.role, certs.len());
        crate::store::dns::bump(&mut tx).await?;
        self.audit(&mut tx, actor, "address.add", &addr.to_string(), &detail)
            .await?;
        tx.commit().await?;
        Ok(AddressIssued {
            address,
            user,
            certs,
            generated_password: pw.generated,
        })
    }

    /// Every address (of one domain, when given).
    pub async fn address_list(
        &self,
        domain: Option<&crate::direct::Domain>,
    ) -> Result<Vec<AddressRow>, OpsError> {
        let mut conn = self.conn().await?;
        let domain_id = match domain {
            Some(d) => Some(domains::get(&mut conn, d).await?.id),
            None => None,
        };
        Ok(addresses::list(&mut conn, domain_id).await?)
    }

    /// An address with its owner and certificates.
    pub async fn address_show(&self, addr: &DirectAddress) -> Result<AddressDetail, OpsError> {
        let mut conn = self.conn().await?;
        let address = addresses::get(&mut conn, addr).await?;
        let user = match address.owner_user_id {
            Some(id) => Some(users::by_id(&mut conn, id).await?),
            None => None,
        };
        let certs = certs::for_owner(&mut conn, address.domain_id, Some(address.id)).await?;
        Ok(AddressDetail {
            address,
            user,
            certs,
        })
    }

    /// Those of `addrs` that are enabled addresses here (one query).
    pub async fn enabled_of(
        &self,
        addrs: &[DirectAddress],
    ) -> Result<Vec<DirectAddress>, OpsError> {
        let mut conn = self.conn().await?;
        enabled_in(&mut conn, addrs).await
    }

    /// Disable an address and the login that owns only it. Its certificates stay
    /// but are no longer published or used. Its roster is kept but alerts no
    /// one (it still serves as evidence of identity for consent): no alert
    /// is filed or sent to it, nor a digest, from the moment this commits
    /// (`store::addresses::set_enabled`).
    pub async fn address_disable(&self, addr: &DirectAddress, actor: &str) -> Result<(), OpsError> {
        let mut tx = self.store.begin().await?;
        let row = addresses::get(&mut tx, addr).await?;
        if !row.enabled {
            return Err(OpsError::Invalid(format!(
                "address {addr} is already disabled"
            )));
        }
        addresses::set_enabled(&mut tx, row.id, false).await?;
        // The login goes with its last enabled address: a user whose every
        // address is disabled would otherwise still read their alerts,
        // rosters and mail in the portal.
        // An admin's login stays (it is not a practice's, and the last
        // admin must not be locked out), as `address_remove` keeps it.
        let mut detail = "";
        if let Some(uid) = row.owner_user_id
            && addresses::count_enabled_owned(&mut tx, uid).await? == 0
        {
            let user = users::by_id(&mut tx, uid).await?;
            if user.enabled && user.role != Role::Admin {
                users::set_enabled(&mut tx, uid, false).await?;
                detail = "its login disabled with it";
            }
        }
        crate::store::dns::bump(&mut tx).await?;
        self.audit(&mut tx, actor, "address.disable", &addr.to_string(), detail)
            .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Enable a disabled address again, with its login when that is
    /// disabled (only `address_disable` disables logins). Alerts resume with
    /// the next event; none decided while it was disabled is sent.
    pub async fn address_enable(&self, addr: &DirectAddress, actor: &str) -> Result<(), OpsError> {
        let mut tx = self.store.begin().await?;
        let row = addresses::get(&mut tx, addr).await?;
        if row.enabled {
            return Err(OpsError::Invalid(format!(
                "address {addr} is already enabled"
            )));
        }
        addresses::set_enabled(&mut tx, row.id, true).await?;
        let mut detail = "";
        if let Some(uid) = row.owner_user_id
            && !users::by_id(&mut tx, uid).await?.enabled
        {
            users::set_enabled(&mut tx, uid, true).await?;
            detail = "its login enabled with it";
        }
        crate::store::dns::bump(&mut tx).await?;
        self.audit(&mut tx, actor, "address.enable", &addr.to_string(), detail)
            .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Remove an address: its certificates are revoked (and listed on the CRL)
    /// and deleted, and its login goes too when it owns nothing else.
    pub async fn address_remove(&self, addr: &DirectAddress, actor: &str) -> Result<(), OpsError> {
        let mut tx = self.store.begin().await?;
        // The change counter first, as a roster import holds it before it
        // checks the owner (PostgreSQL): an import racing this removal
        // either commits first, and its entries are retired below, or
        // finds the address gone.
        crate::store::notify::generation_held(&mut tx, self.store.engine()).await?;
        let row = addresses::get(&mut tx, addr).await?;
        let held = crate::store::mailbox::count_all(&mut tx, row.id).await?;
        if held > 0 {
            // Mail is a record the practice may have to keep: never dropped silently.
            return Err(OpsError::Invalid(format!(
                "{addr} still holds {held} message(s): disable it instead (`hisp address disable {addr}`)"
            )));
        }
        let owned = certs::for_owner(&mut tx, row.domain_id, Some(row.id)).await?;
        self.revoke_all_in(&mut tx, &owned, "cessationOfOperation")
            .await?;
        for cert in &owned {
            certs::delete(&mut tx, cert.id).await?;
        }
        addresses::delete(&mut tx, row.id).await?;
        // What it held as a subscriber leaves its name, so an address issued
        // again under the same name starts with none of the old practice's
        // patients, alerts, delivery mode or API keys. Its roster entries
        // go to a tombstone owner no address can have: they alert no one,
        // but still say who the patient is (an opt-out recorded under the
        // practice's own number keeps holding for the other subscribers)
        // until they age out. Workers reload (the counter moves).
        let owner = addr.to_string();
        let now = self.now();
        let tomb = format!("removed:{now}:{owner}");
        let retired = crate::store::notify::retire_subscriber(&mut tx, &owner, &tomb).await?;
        let (narrowed, revoked) =
            crate::store::web::forget_key_address(&mut tx, &owner, now).await?;
        // The login goes with its last address, and is disabled with its
        // last enabled one (it still owns a disabled one's mail); an
        // admin's stays.
        if let Some(uid) = row.owner_user_id {
            let user = users::by_id(&mut tx, uid).await?;
            if user.role != Role::Admin {
                if addresses::count_owned(&mut tx, uid).await? == 0 {
                    users::delete(&mut tx, uid).await?;
                } else if user.enabled && addresses::count_enabled_owned(&mut tx, uid).await? == 0 {
                    users::set_enabled(&mut tx, uid, false).await?;
                }
            }
        }
        crate::store::dns::bump(&mut tx).await?;
        let detail = format!(
            "roster entries ({}) and sent alerts ({}) kept under {tomb}; {} unsent alert(s) \
             withdrawn; {narrowed} API key(s) narrowed, {revoked} revoked",
            retired.entries, retired.alerts, retired.unsent
        );
        self.audit(&mut tx, actor, "address.remove", &addr.to_string(), &detail)
            .await?;
        tx.commit().await?;
        Ok(())
    }
}

/// Those of `addrs` that are enabled addresses here, on `conn` (one query).
pub async fn enabled_in(
    conn: &mut sqlx::AnyConnection,
    addrs: &[DirectAddress],
) -> Result<Vec<DirectAddress>, OpsError> {
    let stored: Vec<String> = addrs.iter().map(ToString::to_string).collect();
    let enabled = addresses::enabled_among(conn, &stored).await?;
    Ok(addrs
        .iter()
        .filter(|a| enabled.contains(&a.to_string()))
        .cloned()
        .collect())
}
