//! The directory memo (`ops::directory`): lookups are answered from memory
//! while `directory_generation` stands, and every write to the tables behind
//! them moves it, whoever writes (this process, the CLI in another process, a
//! raw statement), on both engines.

use hisp::direct::DirectAddress;
use hisp::ops::address::NewAddress;
use hisp::store::anchors::Direction;
use hisp::store::domains;
use hisp::store::users::Role;

use crate::harness::{envs, ok};
use crate::testpki::TestPki;

const JO: &str = "jo@direct.example.org";

fn addr(s: &str) -> DirectAddress {
    DirectAddress::parse(s).expect("address")
}

fn jo() -> NewAddress {
    NewAddress {
        address: addr(JO),
        name: Some("Jo".into()),
        role: Role::Provider,
        password: None,
        single_use: Some(false),
    }
}

#[tokio::test]
async fn memo_sees_what_another_process_changed() {
    for env in envs().await {
        let h = &env.hisp;
        let added = h.address_add(jo(), "test").await.expect("jo");
        let serial = added.certs[0].serial.clone();
        // Fill the memo: jo is enabled, with keys and an identity.
        let certs = h.local_certs(&addr(JO)).await.expect("certs");
        assert_eq!(certs.map(|c| c.len()), Some(1), "{}", env.engine);
        assert_eq!(h.local_keys(&addr(JO)).await.expect("keys").len(), 2);
        h.signing_identity(&addr(JO)).await.expect("identity");

        // The CLI, another process with its own memo, revokes jo's certificate.
        ok(&env.hisp(&["cert", "revoke", &serial]));
        let keys = h.local_keys(&addr(JO)).await.expect("keys");
        assert_eq!(
            keys.len(),
            1,
            "{}: only the domain's key is left",
            env.engine
        );
        assert_eq!(
            h.local_certs(&addr(JO))
                .await
                .expect("certs")
                .map(|c| c.len()),
            Some(0),
            "{}",
            env.engine
        );

        // ...and disables jo: the next lookup here must say so.
        ok(&env.hisp(&["address", "disable", JO]));
        let err = h.signing_identity(&addr(JO)).await.expect_err("disabled");
        assert!(
            err.to_string().contains("disabled"),
            "{}: {err}",
            env.engine
        );
        let mut look = h.lookup().await.expect("lookup");
        let row = look.address(&addr(JO)).await.expect("row").expect("jo");
        assert!(!row.enabled, "{}", env.engine);

        // A domain added by the CLI is ours at once.
        let other = hisp::direct::Domain::parse("second.example.org").expect("domain");
        assert!(look.domain(&other).await.expect("domain").is_none());
        ok(&env.hisp(&["domain", "add", "second.example.org"]));
        let mut look = h.lookup().await.expect("lookup");
        assert!(
            look.domain(&other).await.expect("domain").is_some(),
            "{}",
            env.engine
        );
    }
}

#[tokio::test]
async fn anchors_and_ca_follow_the_tables() {
    for env in envs().await {
        let h = &env.hisp;
        let pki = TestPki::new("http://127.0.0.1:9", h.now());
        let d = env.domain();
        let before = h.anchor_set(&d, Direction::Outgoing).await.expect("set");
        let ca = h.ca_cert().await.expect("ca");
        let added = h
            .anchor_add(&d, &pki.root.cert, false, true, "test")
            .await
            .expect("anchor");
        let after = h.anchor_set(&d, Direction::Outgoing).await.expect("set");
        assert_eq!(after.len(), before.len() + 1, "{}", env.engine);
        assert_eq!(
            h.anchor_set(&d, Direction::Incoming)
                .await
                .expect("set")
                .len(),
            h.anchor_set(&d, Direction::Incoming)
                .await
                .expect("again")
                .len()
        );
        // A raw statement, as another tool would make it, also moves the counter.
        let mut conn = h.conn().await.expect("conn");
        sqlx::query("UPDATE anchors SET outgoing = 0 WHERE id = $1")
            .bind(added.id)
            .execute(&mut *conn)
            .await
            .expect("update");
        drop(conn);
        let now = h.anchor_set(&d, Direction::Outgoing).await.expect("set");
        assert_eq!(now.len(), before.len(), "{}", env.engine);
        assert_eq!(
            h.ca_cert().await.expect("ca").to_der().ok(),
            ca.to_der().ok()
        );
    }
}

#[tokio::test]
async fn every_directory_write_moves_the_counter() {
    for env in envs().await {
        let h = &env.hisp;
        h.address_add(jo(), "test").await.expect("jo");
        let pki = TestPki::new("http://127.0.0.1:9", h.now());
        h.anchor_add(&env.domain(), &pki.root.cert, true, true, "test")
            .await
            .expect("anchor");
        let mut conn = h.conn().await.expect("conn");
        let statements = [
            "UPDATE domains SET created_at = created_at + 1",
            "UPDATE addresses SET display_name = 'Jo S.'",
            "UPDATE certificates SET subject = subject",
            "UPDATE anchors SET incoming = incoming",
            "UPDATE ca SET cert_der = cert_der",
            "DELETE FROM anchors",
        ];
        for sql in statements {
            let g0 = domains::directory_generation(&mut conn).await.expect("gen");
            sqlx::query(sql).execute(&mut *conn).await.expect(sql);
            let g1 = domains::directory_generation(&mut conn).await.expect("gen");
            assert!(g1 > g0, "{}: {sql} left the counter at {g0}", env.engine);
        }
        // The CRL's bookkeeping on the CA row is not a directory change.
        let g0 = domains::directory_generation(&mut conn).await.expect("gen");
        sqlx::query("UPDATE ca SET crl_number = crl_number + 1")
            .execute(&mut *conn)
            .await
            .expect("crl");
        let g1 = domains::directory_generation(&mut conn).await.expect("gen");
        assert_eq!(g0, g1, "{}", env.engine);
    }
}
