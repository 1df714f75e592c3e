//! What one discovery did, step by step, in words a HISP admin reads: which
//! names were asked, what came back and how, which LDAP servers were tried,
//! and each certificate's verdict. `hisp discover` prints [`Report::lines`];
//! tests read the fields.

use openssl::x509::X509;

use super::dns::SrvRecord;
use super::ldap::Attempt;
use crate::direct::DirectAddress;

/// Where certificates were looked for, in AS §5 order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Place {
    /// DNS CERT at `local.domain`.
    DnsAddress,
    /// DNS CERT at the domain.
    DnsDomain,
    /// LDAP `(mail=<address>)`.
    LdapAddress,
    /// LDAP `(mail=<domain>)`.
    LdapDomain,
}

/// One certificate found and its verdict.
#[derive(Debug, Clone)]
pub struct Judged {
    /// The certificate.
    pub cert: X509,
    /// `CN=… serial …`.
    pub label: String,
    /// Ok when usable; else why it was dropped (certificate, check, detail).
    pub verdict: Result<(), String>,
}

/// One place looked at.
#[derive(Debug, Clone)]
pub struct Step {
    /// Which place.
    pub place: Place,
    /// What was asked: `DNS CERT jo.example.org`, `LDAP (mail=jo@example.org)`.
    pub query: String,
    /// True when the answer came from the cache.
    pub cached: bool,
    /// How the answer was had (TCP retry, IPKIX fetches, the LDAP server).
    pub notes: Vec<String>,
    /// Records or values that held no usable certificate data.
    pub problems: Vec<String>,
    /// Why the lookup itself failed, when it did (nothing is cached then).
    pub error: Option<String>,
    /// The certificates found, judged.
    pub certs: Vec<Judged>,
}

impl Step {
    /// True when at least one certificate here is usable.
    pub fn has_usable(&self) -> bool {
        self.certs.iter().any(|j| j.verdict.is_ok())
    }
}

/// One thing discovery did.
#[derive(Debug, Clone)]
pub enum Event {
    /// A place looked at.
    Place(Step),
    /// The SRV lookup for LDAP servers: the records in the order tried.
    Srv {
        /// `_ldap._tcp.<domain>`.
        name: String,
        /// The ordered records, or why the lookup failed.
        result: Result<Vec<SrvRecord>, String>,
        /// True when from the cache.
        cached: bool,
    },
    /// An LDAP server tried.
    Server(Attempt),
    /// `[discovery] ldap = false`.
    LdapOff,
}

/// The whole discovery for one address.
#[derive(Debug, Clone)]
pub struct Report {
    /// The address looked up.
    pub address: DirectAddress,
    /// The anchor set certificates were judged against.
    pub anchor_set: String,
    /// What was done, in order.
    pub events: Vec<Event>,
}

impl Report {
    /// The places looked at.
    pub fn steps(&self) -> impl Iterator<Item = &Step> {
        self.events.iter().filter_map(|e| match e {
            Event::Place(s) => Some(s),
            _ => None,
        })
    }

    /// Every certificate found, usable or not (what the agent is given).
    pub fn found(&self) -> Vec<X509> {
        self.steps()
            .flat_map(|s| s.certs.iter().map(|j| j.cert.clone()))
            .collect()
    }

    /// The usable certificates.
    pub fn usable(&self) -> Vec<X509> {
        self.steps()
            .flat_map(|s| s.certs.iter())
            .filter(|j| j.verdict.is_ok())
            .map(|j| j.cert.clone())
            .collect()
    }

    /// The LDAP servers tried, in order.
    pub fn servers(&self) -> Vec<&Attempt> {
        self.events
            .iter()
            .filter_map(|e| match e {
                Event::Server(a) => Some(a),
                _ => None,
            })
            .collect()
    }

    /// The report as lines for an admin.
    pub fn lines(&self) -> Vec<String> {
        let mut out = vec![format!(
            "Discovering certificates for {} (trust judged by the {})",
            self.address, self.anchor_set
        )];
        for e in &self.events {
            match e {
                Event::Place(s) => step_lines(s, &mut out),
                Event::Srv {
                    name,
                    result,
                    cached,
                } => out.push(srv_line(name, result, *cached)),
                Event::Server(a) => out.push(server_line(a)),
                Event::LdapOff => out.push("LDAP: not consulted ([discovery] ldap = false)".into()),
            }
        }
        let servers = self.servers();
        if !servers.is_empty() && servers.iter().all(|a| a.result.is_err()) {
            out.push("LDAP: no server could be used, so nothing was searched".into());
        }
        let usable = self.usable().len();
        out.push(match usable {
            0 => "Result: no usable certificate".to_string(),
            1 => "Result: 1 usable certificate".to_string(),
            n => format!("Result: {n} usable certificates"),
        });
        out
    }
}

fn step_lines(s: &Step, out: &mut Vec<String>) {
    let what = match (&s.error, s.certs.len()) {
        (Some(e), _) => format!("lookup failed: {e}"),
        (None, 0) => "no certificates".to_string(),
        (None, 1) => "1 certificate".to_string(),
        (None, n) => format!("{n} certificates"),
    };
    let mut how = s.notes.clone();
    if s.cached {
        how.push("cached".into());
    }
    let how = if how.is_empty() {
        String::new()
    } else {
        format!(" ({})", how.join("; "))
    };
    out.push(format!("{}: {what}{how}", s.query));
    out.extend(s.problems.iter().map(|p| format!("  ! {p}")));
    for j in &s.certs {
        out.push(match &j.verdict {
            Ok(()) => format!("  - {}: usable", j.label),
            Err(why) => format!("  - {}: dropped: {why}", j.label),
        });
    }
}

fn srv_line(name: &str, result: &Result<Vec<SrvRecord>, String>, cached: bool) -> String {
    let cached = if cached { " (cached)" } else { "" };
    match result {
        Err(e) => format!("LDAP: the SRV lookup of {name} failed: {e}"),
        Ok(r) if r.is_empty() => format!("LDAP: no {name} SRV records{cached}"),
        Ok(r) => {
            let list: Vec<String> = r
                .iter()
                .map(|s| {
                    format!(
                        "{}:{} (priority {}, weight {})",
                        s.target, s.port, s.priority, s.weight
                    )
                })
                .collect();
            format!(
                "LDAP: {name} names {} server{}{cached}; trying in RFC 2782 order: {}",
                r.len(),
                if r.len() == 1 { "" } else { "s" },
                list.join(", ")
            )
        }
    }
}

fn server_line(a: &Attempt) -> String {
    let at = a.addr.map(|x| format!(" ({x})")).unwrap_or_default();
    match &a.result {
        Ok(what) => format!("LDAP server {}{at}: connected; {what}", a.target),
        Err(why) => format!("LDAP server {}{at}: passed over: {why}", a.target),
    }
}
