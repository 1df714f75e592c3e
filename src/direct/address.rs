//! Direct addresses and domains: parsed once at the edge, trusted downstream.
//!
//! A Direct address is an RFC 5321 mailbox (`local@domain`). We accept the
//! conservative subset real HISPs issue: a dot-atom local part of at most 64
//! octets and a DNS domain of at most 253 octets, each label 1–63 LDH characters.
//! Both are stored lower-cased in the domain and as given (lower-cased) in the
//! local part, since Direct addresses are compared case-insensitively in practice.

use std::fmt;
use std::str::FromStr;

/// Why a string is not a Direct address or domain.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AddressError {
    /// No `@`, or more than one.
    #[error("'{0}' is not an address: it needs exactly one '@'")]
    At(String),
    /// Empty, over-long or badly formed local part.
    #[error("'{input}' has a bad local part: {why}")]
    Local { input: String, why: &'static str },
    /// Empty, over-long or badly formed domain.
    #[error("'{input}' is not a valid domain: {why}")]
    Domain { input: String, why: &'static str },
}

/// A DNS domain name, lower-cased, without a trailing dot.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Domain(String);

impl Domain {
    /// Parse and normalize a domain name.
    pub fn parse(input: &str) -> Result<Self, AddressError> {
        let bad = |why| AddressError::Domain {
            input: input.to_string(),
            why,
        };
        let name = input
            .strip_suffix('.')
            .unwrap_or(input)
            .to_ascii_lowercase();
        if name.is_empty() {
            return Err(bad("it is empty"));
        }
        if name.len() > 253 {
            return Err(bad("it is longer than 253 characters"));
        }
        if !name.contains('.') {
            return Err(bad("it needs at least two labels (like example.org)"));
        }
        for label in name.split('.') {
            if label.is_empty() {
                return Err(bad("it has an empty label"));
            }
            if label.len() > 63 {
                return Err(bad("a label is longer than 63 characters"));
            }
            if !label
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-')
            {
                return Err(bad("only letters, digits, '-' and '.' are allowed"));
            }
            if label.starts_with('-') || label.ends_with('-') {
                return Err(bad("a label starts or ends with '-'"));
            }
        }
        Ok(Self(name))
    }

    /// The name as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Domain {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl FromStr for Domain {
    type Err = AddressError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

/// A Direct address (`local@domain`), lower-cased.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct DirectAddress {
    /// The part before '@'.
    local: String,
    /// The part after '@'.
    domain: Domain,
}

impl DirectAddress {
    /// Parse and normalize an address.
    pub fn parse(input: &str) -> Result<Self, AddressError> {
        let trimmed = input.trim();
        let mut parts = trimmed.split('@');
        let (Some(local), Some(domain), None) = (parts.next(), parts.next(), parts.next()) else {
            return Err(AddressError::At(input.to_string()));
        };
        let bad = |why| AddressError::Local {
            input: input.to_string(),
            why,
        };
        if local.is_empty() {
            return Err(bad("it is empty"));
        }
        if local.len() > 64 {
            return Err(bad("it is longer than 64 characters"));
        }
        if local.starts_with('.') || local.ends_with('.') || local.contains("..") {
            return Err(bad("dots may not start, end or repeat"));
        }
        const SPECIALS: &[u8] = b"!#$%&'*+-/=?^_`{|}~.";
        if !local
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || SPECIALS.contains(&b))
        {
            return Err(bad(
                "only letters, digits and !#$%&'*+-/=?^_`{|}~. are allowed",
            ));
        }
        Ok(Self {
            local: local.to_ascii_lowercase(),
            domain: Domain::parse(domain)?,
        })
    }

    /// The local part.
    pub fn local(&self) -> &str {
        &self.local
    }

    /// The domain.
    pub fn domain(&self) -> &Domain {
        &self.domain
    }

    /// The DNS owner name of this address's CERT records (AS §5: '@' becomes '.').
    pub fn dns_name(&self) -> String {
        format!("{}.{}", self.local, self.domain)
    }
}

impl fmt::Display for DirectAddress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}@{}", self.local, self.domain)
    }
}

impl FromStr for DirectAddress {
    type Err = AddressError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_and_normalizes() {
        let a = DirectAddress::parse("Jo.Smith@Direct.Example.ORG").expect("valid");
        assert_eq!(a.to_string(), "jo.smith@direct.example.org");
        assert_eq!(a.dns_name(), "jo.smith.direct.example.org");
        assert_eq!(
            Domain::parse("example.org.").expect("valid").as_str(),
            "example.org"
        );
    }

    #[test]
    fn refuses_malformed() {
        let long = format!("{}@x.org", "a".repeat(65));
        for bad in [
            "alice@@x.org",
            "alice",
            "alice@",
            "@x.org",
            "al ice@x.org",
            "alice@x",
            "a..b@x.org",
            ".a@x.org",
            "alice@-x.org",
            "alice@x..org",
            "alice@x_y.org",
            long.as_str(),
        ] {
            assert!(
                DirectAddress::parse(bad).is_err(),
                "{bad} should be refused"
            );
        }
        assert!(Domain::parse(&format!("{}.org", "a".repeat(64))).is_err());
    }
}
