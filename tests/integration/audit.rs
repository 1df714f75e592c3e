//! The audit chain and the sealing promise, checked against the real database.

use hisp::audit::{self, Verdict};
use hisp::direct::DirectAddress;
use hisp::ops::address::NewAddress;
use hisp::store::certs;
use hisp::store::users::Role;
use sqlx::Executor;

use crate::harness::{self, envs, sqlite_env};

async fn add_jo(h: &hisp::ops::Hisp) {
    let req = NewAddress {
        address: DirectAddress::parse("jo@direct.example.org").expect("address"),
        name: None,
        role: Role::Provider,
        password: Some("sealed-secret-password-123".into()),
        single_use: Some(true),
    };
    h.address_add(req, "test").await.expect("add");
}

#[tokio::test]
async fn chain_verifies_and_names_the_altered_row_on_every_engine() {
    for env in envs().await {
        let h = &env.hisp;
        add_jo(h).await;
        let mut conn = h.conn().await.expect("conn");
        let Verdict::Intact { rows } = audit::verify(&mut conn).await.expect("verify") else {
            panic!("fresh chain should verify ({})", env.engine);
        };
        assert!(rows >= 4, "setup and the address add are audited: {rows}");
        let entries = audit::page(&mut conn, 0, 100).await.expect("page");
        assert!(
            entries
                .iter()
                .any(|e| e.action == "address.add" && e.subject == "jo@direct.example.org")
        );

        // The table refuses edits outright.
        let refused = conn
            .execute("UPDATE audit_log SET actor = 'mallory' WHERE seq = 2")
            .await;
        assert!(refused.is_err(), "append-only trigger ({})", env.engine);

        // Someone with raw database access disables that and edits row 2.
        let drop = if env.engine == "sqlite" {
            "DROP TRIGGER audit_log_no_update"
        } else {
            "ALTER TABLE audit_log DISABLE TRIGGER audit_log_no_change"
        };
        conn.execute(drop).await.expect("drop trigger");
        conn.execute("UPDATE audit_log SET detail = 'nothing to see' WHERE seq = 2")
            .await
            .expect("tamper");
        assert_eq!(
            audit::verify(&mut conn).await.expect("verify"),
            Verdict::Broken {
                seq: 2,
                why: "its contents do not match its hash (the row was altered)".into()
            },
            "{}",
            env.engine
        );
    }
}

#[tokio::test]
async fn removing_the_newest_rows_is_caught() {
    let env = sqlite_env().await;
    let mut conn = env.hisp.conn().await.expect("conn");
    conn.execute("DROP TRIGGER audit_log_no_delete")
        .await
        .expect("drop trigger");
    let last: i64 = sqlx::query_scalar("SELECT MAX(seq) FROM audit_log")
        .fetch_one(&mut *conn)
        .await
        .expect("max");
    conn.execute(sqlx::AssertSqlSafe(format!(
        "DELETE FROM audit_log WHERE seq = {last}"
    )))
    .await
    .expect("delete");
    match audit::verify(&mut conn).await.expect("verify") {
        Verdict::Broken { seq, why } => {
            assert_eq!(seq, last);
            assert!(why.contains("removed"), "{why}");
        }
        Verdict::Intact { .. } => panic!("a truncated chain must not verify"),
    }
}

#[tokio::test]
async fn audit_verify_command_names_the_broken_row() {
    let env = sqlite_env().await;
    let out = harness::ok(&env.hisp(&["audit", "verify"]));
    assert!(out.contains("audit log intact"), "{out}");
    let mut conn = env.hisp.conn().await.expect("conn");
    conn.execute("DROP TRIGGER audit_log_no_update")
        .await
        .expect("drop");
    conn.execute("UPDATE audit_log SET actor = 'mallory' WHERE seq = 3")
        .await
        .expect("tamper");
    drop(conn);
    env.hisp.store.close().await;
    harness::fails(
        &env.hisp(&["audit", "verify"]),
        1,
        "audit log broken at row 3",
    );
}

/// The database file (and its WAL) holds no private key, PEM or DER, and no
/// plaintext of a sealed value.
#[tokio::test]
async fn database_file_discloses_no_key_or_sealed_plaintext() {
    let env = sqlite_env().await;
    let h = &env.hisp;
    add_jo(h).await;
    let mut conn = h.conn().await.expect("conn");
    let rows = certs::list(&mut conn).await.expect("certs");
    assert_eq!(rows.len(), 3, "org cert + single-use pair");
    let mut secrets: Vec<Vec<u8>> = Vec::new();
    for row in &rows {
        let key = certs::private_key(&h.store, row).expect("unseal");
        secrets.push(key.private_key_to_pkcs8().expect("pkcs8"));
        secrets.push(key.private_key_to_der().expect("der"));
        let rsa = key.rsa().expect("rsa");
        secrets.push(rsa.d().to_vec());
        secrets.push(rsa.p().expect("p").to_vec());
    }
    let ca = h.ca().await.expect("ca");
    secrets.push(ca.key.private_key_to_pkcs8().expect("ca key"));
    // A sealed value of our own, through the same sealer.
    let plain = b"PHI: Jane Doe, DOB 1970-01-01, admitted to 4 West".to_vec();
    let sealed = h.store.sealer().seal("test:phi", &plain).expect("seal");
    sqlx::query("INSERT INTO crl_entries (serial, revoked_at, reason) VALUES ('X', 0, $1)")
        .bind(hisp::store::seal::hex_encode(&sealed))
        .execute(&mut *conn)
        .await
        .expect("store sealed");
    secrets.push(plain);
    drop(conn);

    let data = env.dir.path().join("hisp-data");
    let mut bytes = Vec::new();
    for name in ["hisp.db", "hisp.db-wal"] {
        if let Ok(b) = std::fs::read(data.join(name)) {
            bytes.extend(b);
        }
    }
    assert!(bytes.len() > 10_000, "database files were read");
    for needle in [&b"PRIVATE KEY"[..], b"BEGIN RSA"] {
        assert!(
            !bytes.windows(needle.len()).any(|w| w == needle),
            "PEM key marker in the database"
        );
    }
    for secret in &secrets {
        let probe = &secret[..secret.len().min(64)];
        assert!(
            !bytes.windows(probe.len()).any(|w| w == probe),
            "secret bytes found in the database file"
        );
    }
    // And the public parts are there, so the search itself works.
    let cert = &rows[0].cert_der[..64];
    assert!(
        bytes.windows(cert.len()).any(|w| w == cert),
        "certificate DER should be stored in clear"
    );
}

/// Verifying from a checkpoint: the rows after it are recomputed, and the
/// checkpoint's own row must still carry the hash it had; a chain rebuilt
/// under it (even one that verifies on its own) is refused.
#[tokio::test]
async fn a_checkpoint_verifies_what_follows_and_refuses_a_rewritten_chain_on_every_engine() {
    for env in envs().await {
        let h = &env.hisp;
        let mut conn = h.conn().await.expect("conn");
        let (verdict, cp) = audit::verify_since(&mut conn, None).await.expect("verify");
        let cp = cp.expect("an intact chain gives a checkpoint");
        assert_eq!(verdict, Verdict::Intact { rows: cp.seq }, "{}", env.engine);
        drop(conn);
        add_jo(h).await;
        let mut conn = h.conn().await.expect("conn");
        let (verdict, next) = audit::verify_since(&mut conn, Some(&cp))
            .await
            .expect("verify");
        let next = next.expect("still intact");
        assert!(next.seq > cp.seq, "{}", env.engine);
        assert_eq!(verdict, Verdict::Intact { rows: next.seq });
        assert_eq!(
            audit::verify(&mut conn).await.expect("verify"),
            Verdict::Intact { rows: next.seq },
            "a full check agrees"
        );
        // The checkpoint's row no longer carries the hash it was verified with.
        let drop = if env.engine == "sqlite" {
            "DROP TRIGGER audit_log_no_update"
        } else {
            "ALTER TABLE audit_log DISABLE TRIGGER audit_log_no_change"
        };
        conn.execute(drop).await.expect("drop trigger");
        sqlx::query("UPDATE audit_log SET hash = 'rewritten' WHERE seq = $1")
            .bind(cp.seq)
            .execute(&mut *conn)
            .await
            .expect("rewrite");
        let (verdict, none) = audit::verify_since(&mut conn, Some(&cp))
            .await
            .expect("verify");
        assert!(none.is_none());
        assert!(
            matches!(verdict, Verdict::Broken { seq, .. } if seq == cp.seq),
            "{}: {verdict:?}",
            env.engine
        );
    }
}
