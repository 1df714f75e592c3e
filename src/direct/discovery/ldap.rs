//! The LDAP side of discovery (AS 1.2 §5): connect to the servers SRV named,
//! in order, failing over to the next when one cannot be reached or refuses;
//! bind anonymously; read the base DNs from the root DSE's `namingContexts`;
//! search `(mail=<value>)` under each and collect `userCertificate` values.
//!
//! Entries are parsed here from the raw BER, not with `SearchEntry::construct`
//! (which panics on a malformed entry): nothing an LDAP server sends can
//! panic hisp.

use std::net::SocketAddr;
use std::time::Duration;

use ldap3::asn1::StructureTag;
use ldap3::{Ldap, LdapConnAsync, LdapConnSettings, Scope, ldap_escape};

use super::dns::{SrvRecord, Stub};

/// How long a connection may take to open.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// How long one bind or search may take.
const OP_TIMEOUT: Duration = Duration::from_secs(10);
/// The most certificate values kept from one search.
const MAX_VALUES: usize = 100;
/// The attributes asked for: AS §5 "userCertificate" and its ";binary" form.
const CERT_ATTRS: [&str; 2] = ["userCertificate", "userCertificate;binary"];

/// A connection to one server, bound anonymously, with its base DNs.
pub struct Session {
    /// The connection.
    ldap: Ldap,
    /// Where it goes.
    pub addr: SocketAddr,
    /// The root DSE's namingContexts.
    pub bases: Vec<String>,
}

impl std::fmt::Debug for Session {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Session")
            .field("addr", &self.addr)
            .field("bases", &self.bases)
            .finish()
    }
}

/// An attribute: its description and its values.
type Attribute = (String, Vec<Vec<u8>>);

/// One server tried.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attempt {
    /// The SRV target and port, `ldap.example.org:389`.
    pub target: String,
    /// The address connected to, when the name resolved.
    pub addr: Option<SocketAddr>,
    /// What happened: what the server offered, or why it was passed over.
    pub result: Result<String, String>,
}

/// Connect to the first server in `targets` (already in RFC 2782 order) that
/// works, recording every attempt.
pub async fn connect_first(targets: &[SrvRecord], dns: &Stub) -> (Option<Session>, Vec<Attempt>) {
    let mut attempts = Vec::new();
    for t in targets {
        let target = format!("{}:{}", t.target, t.port);
        let ips = match dns.ips(&t.target).await {
            Ok(ips) if !ips.is_empty() => ips,
            Ok(_) => {
                attempts.push(failed(&target, None, "its name has no A or AAAA record"));
                continue;
            }
            Err(e) => {
                attempts.push(failed(&target, None, &format!("cannot resolve it: {e}")));
                continue;
            }
        };
        for ip in ips {
            let addr = SocketAddr::new(ip, t.port);
            match open(addr).await {
                Ok(session) => {
                    let offered = format!(
                        "anonymous bind accepted; base DNs: {}",
                        if session.bases.is_empty() {
                            "none listed".to_string()
                        } else {
                            session.bases.join(", ")
                        }
                    );
                    attempts.push(Attempt {
                        target,
                        addr: Some(addr),
                        result: Ok(offered),
                    });
                    return (Some(session), attempts);
                }
                Err(why) => attempts.push(failed(&target, Some(addr), &why)),
            }
        }
    }
    (None, attempts)
}

fn failed(target: &str, addr: Option<SocketAddr>, why: &str) -> Attempt {
    Attempt {
        target: target.to_string(),
        addr,
        result: Err(why.to_string()),
    }
}

/// Connect, bind anonymously, and read the root DSE.
pub async fn open(addr: SocketAddr) -> Result<Session, String> {
    let settings = LdapConnSettings::new().set_conn_timeout(CONNECT_TIMEOUT);
    let (conn, mut ldap) = LdapConnAsync::with_settings(settings, &format!("ldap://{addr}"))
        .await
        .map_err(|e| format!("unreachable: {e}"))?;
    tokio::spawn(async move {
        if let Err(e) = conn.drive().await {
            tracing::debug!(%e, "LDAP connection ended");
        }
    });
    // AS §5: bind anonymously (RFC 4513 §5.1.1: empty name and password).
    ldap.with_timeout(OP_TIMEOUT)
        .simple_bind("", "")
        .await
        .and_then(|r| r.success())
        .map_err(|e| format!("refused the anonymous bind: {e}"))?;
    // AS §5: the base DNs are the root DSE's namingContexts (RFC 4512 §5.1).
    let root = ldap
        .with_timeout(OP_TIMEOUT)
        .search("", Scope::Base, "(objectClass=*)", vec!["namingContexts"])
        .await
        .map_err(|e| format!("cannot read the root DSE: {e}"))?;
    let bases = root
        .0
        .into_iter()
        .filter_map(|e| entry(e.0))
        .flat_map(|(_, attrs)| attrs)
        .filter(|(name, _)| name.eq_ignore_ascii_case("namingContexts"))
        .flat_map(|(_, values)| values)
        .map(|v| String::from_utf8_lossy(&v).into_owned())
        .collect();
    Ok(Session { ldap, addr, bases })
}

impl Session {
    /// Every `userCertificate` value of entries with `mail=value`, under every
    /// base DN, with the DN each came from.
    pub async fn search_mail(&mut self, value: &str) -> Result<Vec<(String, Vec<u8>)>, String> {
        let filter = format!("(mail={})", ldap_escape(value));
        let mut found = Vec::new();
        for base in self.bases.clone() {
            let result = self
                .ldap
                .with_timeout(OP_TIMEOUT)
                .search(&base, Scope::Subtree, &filter, CERT_ATTRS.to_vec())
                .await
                .map_err(|e| format!("search {filter} under {base} failed: {e}"))?;
            // 0 success, 4 sizeLimitExceeded (take what came), 32 noSuchObject.
            if !matches!(result.1.rc, 0 | 4 | 32) {
                return Err(format!(
                    "search {filter} under {base} answered {} {}",
                    result.1.rc, result.1.text
                ));
            }
            for (dn, attrs) in result.0.into_iter().filter_map(|e| entry(e.0)) {
                let values = attrs
                    .into_iter()
                    .filter(|(name, _)| is_cert_attr(name))
                    .flat_map(|(_, v)| v);
                found.extend(values.map(|v| (dn.clone(), v)));
            }
        }
        found.truncate(MAX_VALUES);
        Ok(found)
    }

    /// Unbind and drop the connection.
    pub async fn close(mut self) {
        let _ = self.ldap.unbind().await;
    }
}

/// `userCertificate`, with or without options such as `;binary`.
fn is_cert_attr(name: &str) -> bool {
    let base = name.split(';').next().unwrap_or(name);
    base.eq_ignore_ascii_case("userCertificate") || base == "2.5.4.36"
}

/// The DN and attributes of a SearchResultEntry (RFC 4511 §4.5.2), or None
/// when it is malformed.
fn entry(tag: StructureTag) -> Option<(String, Vec<Attribute>)> {
    let mut parts = tag.match_id(4)?.expect_constructed()?.into_iter();
    let dn = String::from_utf8_lossy(&parts.next()?.expect_primitive()?).into_owned();
    let mut attrs = Vec::new();
    for attribute in parts.next()?.expect_constructed()? {
        let mut pa = attribute.expect_constructed()?.into_iter();
        let name = String::from_utf8_lossy(&pa.next()?.expect_primitive()?).into_owned();
        let values = pa
            .next()?
            .expect_constructed()?
            .into_iter()
            .filter_map(StructureTag::expect_primitive)
            .collect();
        attrs.push((name, values));
    }
    Some((dn, attrs))
}

#[cfg(test)]
mod tests {
    use super::*;
    use ldap3::asn1::{PL, TagClass};

    fn prim(id: u64, v: &[u8]) -> StructureTag {
        StructureTag {
            class: TagClass::Universal,
            id,
            payload: PL::P(v.to_vec()),
        }
    }

    fn cons(class: TagClass, id: u64, inner: Vec<StructureTag>) -> StructureTag {
        StructureTag {
            class,
            id,
            payload: PL::C(inner),
        }
    }

    #[test]
    fn reads_entries_and_survives_malformed_ones() {
        let attr = cons(
            TagClass::Universal,
            16,
            vec![
                prim(4, b"userCertificate;binary"),
                cons(TagClass::Universal, 17, vec![prim(4, &[0x30, 0x00])]),
            ],
        );
        let good = cons(
            TagClass::Application,
            4,
            vec![
                prim(4, b"cn=jo,dc=x"),
                cons(TagClass::Universal, 16, vec![attr]),
            ],
        );
        let (dn, attrs) = entry(good).expect("entry");
        assert_eq!(dn, "cn=jo,dc=x");
        assert_eq!(attrs[0].0, "userCertificate;binary");
        assert_eq!(attrs[0].1, [vec![0x30, 0x00]]);

        for bad in [
            prim(4, b"x"),
            cons(TagClass::Application, 5, vec![]),
            cons(TagClass::Application, 4, vec![]),
            cons(TagClass::Application, 4, vec![prim(4, b"dn")]),
            cons(
                TagClass::Application,
                4,
                vec![prim(4, b"dn"), prim(4, b"a")],
            ),
            cons(
                TagClass::Application,
                4,
                vec![
                    prim(4, b"dn"),
                    cons(TagClass::Universal, 16, vec![prim(4, b"a")]),
                ],
            ),
        ] {
            assert!(entry(bad).is_none());
        }
    }

    #[test]
    fn knows_the_certificate_attribute() {
        for name in ["userCertificate", "usercertificate;binary", "2.5.4.36"] {
            assert!(is_cert_attr(name), "{name}");
        }
        for name in ["mail", "userSMIMECertificate", "cACertificate;binary"] {
            assert!(!is_cert_attr(name), "{name}");
        }
    }
}
