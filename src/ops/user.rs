//! Users: logins with argon2id password hashes.

use argon2::{Argon2, PasswordHasher, PasswordVerifier};

use super::{Hisp, OpsError};
use crate::store::users::{self, Role, UserRow};

/// Characters of generated passwords: no look-alikes (0/O, 1/l/I).
const ALPHABET: &[u8] = b"abcdefghijkmnopqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789";

/// Shortest password a user may choose.
pub const MIN_PASSWORD_LEN: usize = 12;

/// An argon2id PHC string for `password`.
pub fn hash_password(password: &str) -> Result<String, OpsError> {
    Argon2::default()
        .hash_password(password.as_bytes())
        .map(|h| h.to_string())
        .map_err(|e| OpsError::Invalid(format!("cannot hash the password: {e}")))
}

/// True when `password` matches the PHC string.
pub fn verify_password(password: &str, phc: &str) -> bool {
    Argon2::default()
        .verify_password(password.as_bytes(), phc)
        .is_ok()
}

/// A random 20-character password.
pub fn generate_password() -> Result<String, OpsError> {
    let mut bytes = [0u8; 20];
    openssl::rand::rand_bytes(&mut bytes).map_err(|e| OpsError::Invalid(e.to_string()))?;
    Ok(bytes
        .iter()
        .map(|b| char::from(ALPHABET[usize::from(*b) % ALPHABET.len()]))
        .collect())
}

/// Refuse passwords too weak to keep.
pub fn check_strength(password: &str) -> Result<(), OpsError> {
    if password.chars().count() < MIN_PASSWORD_LEN {
        return Err(OpsError::Invalid(format!(
            "the password is too short: use at least {MIN_PASSWORD_LEN} characters"
        )));
    }
    Ok(())
}

/// A chosen password (checked), or a generated one-time password.
pub struct NewPassword {
    /// The argon2id hash to store.
    pub hash: String,
    /// The generated password, to print once; None when the caller chose one.
    pub generated: Option<String>,
}

/// Hash `chosen`, or generate and hash a one-time password.
pub async fn new_password(chosen: Option<String>) -> Result<NewPassword, OpsError> {
    let (plain, generated) = match chosen {
        Some(p) => {
            check_strength(&p)?;
            (p, None)
        }
        None => {
            let p = generate_password()?;
            (p.clone(), Some(p))
        }
    };
    let hash = super::blocking(move || hash_password(&plain)).await?;
    Ok(NewPassword { hash, generated })
}

impl Hisp {
    /// Add a login that owns no address (an admin, say).
    pub async fn user_add(
        &self,
        username: &str,
        role: Role,
        password: Option<String>,
        actor: &str,
    ) -> Result<(UserRow, Option<String>), OpsError> {
        let name = username.trim();
        if name.is_empty() || name.len() > 254 || name.chars().any(char::is_whitespace) {
            return Err(OpsError::Invalid(format!(
                "'{username}' is not a valid user name (no spaces, 1 to 254 characters)"
            )));
        }
        let pw = new_password(password).await?;
        let mut tx = self.store.begin().await?;
        let user = users::insert(
            &mut tx,
            name,
            &pw.hash,
            role,
            pw.generated.is_some(),
            self.now(),
        )
        .await?;
        self.audit(&mut tx, actor, "user.add", name, role.as_str())
            .await?;
        tx.commit().await?;
        Ok((user, pw.generated))
    }

    /// Set a user's password (chosen, or a generated one-time one).
    pub async fn user_passwd(
        &self,
        username: &str,
        password: Option<String>,
        actor: &str,
    ) -> Result<Option<String>, OpsError> {
        let pw = new_password(password).await?;
        let mut tx = self.store.begin().await?;
        let user = users::find(&mut tx, username)
            .await?
            .ok_or_else(|| OpsError::Invalid(format!("user {username} not found")))?;
        users::set_password(&mut tx, user.id, &pw.hash, pw.generated.is_some()).await?;
        self.audit(&mut tx, actor, "user.passwd", username, "")
            .await?;
        tx.commit().await?;
        Ok(pw.generated)
    }

    /// Check a login: the user when the password matches and the user is enabled.
    pub async fn authenticate(
        &self,
        username: &str,
        password: &str,
    ) -> Result<Option<UserRow>, OpsError> {
        let mut conn = self.conn().await?;
        let Some(hash) = users::password_hash(&mut conn, username).await? else {
            return Ok(None);
        };
        let user = users::find(&mut conn, username).await?;
        drop(conn);
        let pw = password.to_string();
        let ok = super::blocking(move || Ok(verify_password(&pw, &hash))).await?;
        Ok(user.filter(|u| ok && u.enabled))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashes_verify_and_differ() {
        let a = hash_password("correct horse battery").expect("hash");
        let b = hash_password("correct horse battery").expect("hash");
        assert!(a.starts_with("$argon2id$"));
        assert_ne!(a, b, "salted");
        assert!(verify_password("correct horse battery", &a));
        assert!(!verify_password("wrong", &a));
        assert!(!verify_password("x", "not a phc string"));
    }

    #[test]
    fn generated_passwords_are_strong() {
        let p = generate_password().expect("gen");
        assert_eq!(p.len(), 20);
        assert!(check_strength(&p).is_ok());
        assert!(check_strength("short").is_err());
    }
}
