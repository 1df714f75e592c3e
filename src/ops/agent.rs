//! The agent with the store behind it: who signs for a sender, which keys a
//! local recipient holds, which anchors apply, which algorithms a destination
//! gets; then `direct::outgoing` and `direct::incoming`.

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use openssl::pkey::{PKey, Private};
use openssl::x509::X509;

use super::directory::Lookup;
use super::{Hisp, OpsError};
use crate::direct::incoming::{self, IncomingError, LocalKey, LocalRecipient, Opened};
use crate::direct::outgoing::{self, Outcome, Recipient, Signer};
use crate::direct::smime::{ContentCipher, KeyTransport};
use crate::direct::{DirectAddress, Domain};
use crate::store::anchors::Direction;
use crate::store::certs::{self, CertRow};

/// A boxed certificate lookup.
pub type CertFuture<'a> = Pin<Box<dyn Future<Output = Vec<X509>> + Send + 'a>>;

/// Finds certificates for addresses this HISP does not host (DNS CERT and LDAP
/// discovery plug in here).
pub trait CertSource: Send + Sync {
    /// Every certificate found for `address` (valid or not; the agent judges).
    fn certs<'a>(&'a self, address: &'a DirectAddress) -> CertFuture<'a>;
}

/// No remote lookup: every remote recipient has no certificate (5.7.31).
#[derive(Debug, Default)]
pub struct NoRemote;

impl CertSource for NoRemote {
    fn certs<'a>(&'a self, _address: &'a DirectAddress) -> CertFuture<'a> {
        Box::pin(async { Vec::new() })
    }
}

/// Fixed certificates per address (tests, and statically configured peers).
#[derive(Debug, Default)]
pub struct StaticCerts(pub HashMap<DirectAddress, Vec<X509>>);

impl CertSource for StaticCerts {
    fn certs<'a>(&'a self, address: &'a DirectAddress) -> CertFuture<'a> {
        let found = self.0.get(address).cloned().unwrap_or_default();
        Box::pin(async move { found })
    }
}

/// The certificate, key and chain a sender signs with.
#[derive(Debug)]
pub struct Identity {
    /// The digitalSignature certificate.
    pub cert: X509,
    /// Its key.
    pub key: PKey<Private>,
    /// Intermediates and our CA, for the SignedData.
    pub chain: Vec<X509>,
}

fn signs(c: &CertRow) -> bool {
    c.usage == "dual" || c.usage == "signing"
}

fn enciphers(c: &CertRow) -> bool {
    c.usage == "dual" || c.usage == "encipherment"
}

impl Hisp {
    /// The sender's signing identity: a current address-bound digitalSignature
    /// certificate, else the domain's organization-bound one.
    pub async fn signing_identity(&self, from: &DirectAddress) -> Result<Identity, OpsError> {
        let mut look = self.lookup().await?;
        self.identity_in(&mut look, from).await
    }

    async fn identity_in(
        &self,
        look: &mut Lookup<'_>,
        from: &DirectAddress,
    ) -> Result<Identity, OpsError> {
        let now = self.now();
        let domain = look.domain_row(from.domain()).await?;
        let own = match look.address(from).await? {
            Some(a) if a.enabled => look.certs(domain.id, Some(a.id)).await?,
            Some(_) => return Err(OpsError::Invalid(format!("address {from} is disabled"))),
            None => Arc::default(),
        };
        let org = look.certs(domain.id, None).await?;
        let row = own
            .iter()
            .rev()
            .chain(org.iter().rev())
            .find(|c| signs(c) && c.is_current(now))
            .ok_or_else(|| {
                OpsError::Invalid(format!(
                    "no current signing certificate for {from} or {}",
                    from.domain()
                ))
            })?;
        let chain = match &row.chain_pem {
            Some(pem) => crate::store::parsed::x509_stack(pem.as_bytes())
                .map_err(|e| OpsError::Invalid(e.to_string()))?,
            None => vec![look.ca_cert().await?],
        };
        Ok(Identity {
            cert: row.cert()?,
            key: certs::private_key(&self.store, row)?,
            chain,
        })
    }

    /// The encryption certificates of a local address; None when not hosted here.
    pub async fn local_certs(
        &self,
        address: &DirectAddress,
    ) -> Result<Option<Vec<X509>>, OpsError> {
        let mut look = self.lookup().await?;
        local_certs_in(&mut look, address).await
    }

    /// Every key that may open mail for `address`: its own (except signing-only
    /// and revoked) and its domain's organization-bound ones.
    pub async fn local_keys(&self, address: &DirectAddress) -> Result<Vec<LocalKey>, OpsError> {
        let mut look = self.lookup().await?;
        self.local_keys_in(&mut look, address).await
    }

    async fn local_keys_in(
        &self,
        look: &mut Lookup<'_>,
        address: &DirectAddress,
    ) -> Result<Vec<LocalKey>, OpsError> {
        let domain = look.domain_row(address.domain()).await?;
        let org = look.certs(domain.id, None).await?;
        let own = match look.address(address).await? {
            Some(a) => look.certs(domain.id, Some(a.id)).await?,
            None => Arc::default(),
        };
        org.iter()
            .chain(own.iter())
            .filter(|c| enciphers(c) && c.revoked_at.is_none())
            .map(|c| {
                Ok(LocalKey {
                    cert: c.cert()?,
                    key: certs::private_key(&self.store, c)?,
                })
            })
            .collect()
    }

    /// The algorithms toward a destination domain (`[agent]` and its per-domain table).
    pub fn send_algorithms(
        &self,
        domain: &Domain,
    ) -> Result<(ContentCipher, KeyTransport), OpsError> {
        let agent = &self.config.agent;
        let per = agent.domains.get(domain.as_str());
        let cipher = per
            .and_then(|p| p.cipher.as_deref())
            .unwrap_or(&agent.cipher);
        let transport = per
            .and_then(|p| p.key_transport.as_deref())
            .unwrap_or(&agent.key_transport);
        let transport = if transport == "pkcs1v15" {
            "rsa-pkcs1v15"
        } else {
            transport
        };
        Ok((
            cipher.parse().map_err(|_| OpsError::Invalid(format!("[agent] cipher '{cipher}' is not one of aes-128-cbc, aes-192-cbc, aes-256-cbc, aes-128-gcm, aes-256-gcm")))?,
            transport.parse().map_err(|_| OpsError::Invalid(format!("[agent] key_transport '{transport}' is not pkcs1v15 or rsa-oaep-sha256")))?,
        ))
    }

    /// Sign and encrypt `message` from `from` to each recipient; local
    /// recipients' certificates come from the store, remote ones from `remote`.
    pub async fn outgoing(
        &self,
        message: &[u8],
        from: &DirectAddress,
        to: &[DirectAddress],
        remote: &dyn CertSource,
    ) -> Result<Vec<Outcome>, OpsError> {
        let mut look = self.lookup().await?;
        self.outgoing_in(&mut look, message, from, to, remote).await
    }

    /// [`Hisp::outgoing`] within a lookup session the caller already holds
    /// (one directory read for everything a message needs).
    pub async fn outgoing_in(
        &self,
        look: &mut Lookup<'_>,
        message: &[u8],
        from: &DirectAddress,
        to: &[DirectAddress],
        remote: &dyn CertSource,
    ) -> Result<Vec<Outcome>, OpsError> {
        let id = self.identity_in(look, from).await?;
        let domain = look.domain_row(from.domain()).await?;
        let anchors = look.anchors(domain.id, Direction::Outgoing).await?;
        let mut recipients = Vec::with_capacity(to.len());
        for addr in to {
            let local = local_certs_in(look, addr).await?;
            let certs = match local {
                Some(local) => local,
                None => remote.certs(addr).await,
            };
            let (cipher, transport) = self.send_algorithms(addr.domain())?;
            recipients.push(Recipient {
                address: addr.clone(),
                certs,
                cipher,
                transport,
            });
        }
        let signer = Signer {
            cert: &id.cert,
            key: &id.key,
            chain: &id.chain,
        };
        let set = format!("outgoing anchors of {}", from.domain());
        outgoing::prepare(
            message,
            &signer,
            &recipients,
            &anchors,
            &set,
            &self.validator,
        )
        .await
        .map_err(|e| OpsError::Invalid(e.to_string()))
    }

    /// Decrypt, verify and judge a received message for local recipients.
    pub async fn incoming(
        &self,
        raw: &[u8],
        to: &[DirectAddress],
    ) -> Result<Result<Opened, IncomingError>, OpsError> {
        let mut look = self.lookup().await?;
        self.incoming_in(&mut look, raw, to).await
    }

    /// [`Hisp::incoming`] within a lookup session the caller already holds.
    pub async fn incoming_in(
        &self,
        look: &mut Lookup<'_>,
        raw: &[u8],
        to: &[DirectAddress],
    ) -> Result<Result<Opened, IncomingError>, OpsError> {
        let mut keys = Vec::new();
        let mut recipients = Vec::new();
        for addr in to {
            let domain = look.domain_row(addr.domain()).await?;
            let anchors = look.anchors(domain.id, Direction::Incoming).await?;
            recipients.push(LocalRecipient {
                address: addr.clone(),
                anchors: anchors.to_vec(),
                anchor_set: format!("incoming anchors of {}", addr.domain()),
            });
        }
        for addr in to {
            for k in self.local_keys_in(look, addr).await? {
                if !keys
                    .iter()
                    .any(|x: &LocalKey| x.cert.to_der().ok() == k.cert.to_der().ok())
                {
                    keys.push(k);
                }
            }
        }
        Ok(incoming::open(raw, &keys, &recipients, &self.validator).await)
    }
}

/// The encryption certificates of a local address; None when its domain is
/// not hosted here.
async fn local_certs_in(
    look: &mut Lookup<'_>,
    address: &DirectAddress,
) -> Result<Option<Vec<X509>>, OpsError> {
    let Some(domain) = look.domain(address.domain()).await? else {
        return Ok(None);
    };
    let Some(a) = look.address(address).await? else {
        return Ok(Some(Vec::new()));
    };
    if !a.enabled {
        return Ok(Some(Vec::new()));
    }
    let rows = look.certs(domain.id, Some(a.id)).await?;
    Ok(Some(
        rows.iter()
            .filter(|c| enciphers(c) && c.revoked_at.is_none())
            .map(CertRow::cert)
            .collect::<Result<_, _>>()?,
    ))
}
