//! The admin command line through the real binary, checked with the real
//! `openssl` command line; and bad input, which must change nothing.

use crate::harness::{self, Env, envs, fails, ok, openssl, sqlite_env};

/// Certificates of an owner as JSON rows.
fn certs_json(env: &Env, owner: &str) -> Vec<serde_json::Value> {
    let out = ok(&env.hisp(&["cert", "list", "--owner", owner, "--json"]));
    serde_json::from_str::<serde_json::Value>(&out)
        .expect("json")
        .as_array()
        .expect("array")
        .clone()
}

fn audit_rows(env: &Env) -> usize {
    let out = ok(&env.hisp(&["audit", "list", "--limit", "100000", "--json"]));
    serde_json::from_str::<serde_json::Value>(&out)
        .expect("json")
        .as_array()
        .expect("array")
        .len()
}

/// Acceptance: `hisp address add` gives a certificate `openssl verify` accepts,
/// with the rfc822Name SAN, key usage, EKU, CRL DP and AIA (and policies).
#[tokio::test]
async fn address_add_issues_certificates_openssl_accepts_on_every_engine() {
    for mut env in envs().await {
        env.vars.push((
            "HISP_PKI_POLICIES".into(),
            "[\"1.3.6.1.4.1.41179.0.1.2\", \"1.3.6.1.4.1.41179.1.3\"]".into(),
        ));
        let out = ok(&env.hisp(&[
            "address",
            "add",
            "jo@direct.example.org",
            "--name",
            "Jo Smith",
        ]));
        assert!(out.contains("one-time password: "), "{out}");
        let dir = env.dir.path();
        std::fs::write(dir.join("ca.pem"), ok(&env.hisp(&["ca", "export"]))).expect("ca");
        let certs = certs_json(&env, "jo@direct.example.org");
        assert_eq!(certs.len(), 1);
        let serial = certs[0]["serial"].as_str().expect("serial");
        std::fs::write(
            dir.join("jo.pem"),
            ok(&env.hisp(&["cert", "export", serial])),
        )
        .expect("cert");
        assert!(
            ok(&openssl(dir, &["verify", "-CAfile", "ca.pem", "jo.pem"])).contains("jo.pem: OK")
        );
        let text = ok(&openssl(dir, &["x509", "-in", "jo.pem", "-noout", "-text"]));
        for needle in [
            "Subject: CN = Jo Smith",
            "email:jo@direct.example.org",
            "Digital Signature, Key Encipherment",
            "E-mail Protection",
            "X509v3 CRL Distribution Points",
            "URI:http://127.0.0.1:8080/pki/ca.crl",
            "CA Issuers - URI:http://127.0.0.1:8080/pki/ca.cer",
            "Policy: 1.3.6.1.4.1.41179.0.1.2",
            "Policy: 1.3.6.1.4.1.41179.1.3",
            "Public-Key: (2048 bit)",
            "Signature Algorithm: sha256WithRSAEncryption",
        ] {
            assert!(
                text.contains(needle),
                "'{needle}' missing ({}):\n{text}",
                env.engine
            );
        }
        assert!(!text.contains("emailAddress"), "no emailAddress in Subject");

        ok(&env.hisp(&[
            "address",
            "add",
            "sam@direct.example.org",
            "--single-use-certs",
        ]));
        let pair = certs_json(&env, "sam@direct.example.org");
        assert_eq!(pair.len(), 2, "{}", env.engine);
        let mut usages = Vec::new();
        for c in &pair {
            let pem = ok(&env.hisp(&["cert", "export", c["serial"].as_str().expect("serial")]));
            std::fs::write(dir.join("sam.pem"), pem).expect("write");
            ok(&openssl(dir, &["verify", "-CAfile", "ca.pem", "sam.pem"]));
            let text = ok(&openssl(
                dir,
                &["x509", "-in", "sam.pem", "-noout", "-ext", "keyUsage"],
            ));
            usages.push(text.lines().last().expect("usage line").trim().to_string());
        }
        assert_eq!(
            usages,
            ["Digital Signature", "Key Encipherment"],
            "{}",
            env.engine
        );

        let show: serde_json::Value = serde_json::from_str(&ok(&env.hisp(&[
            "address",
            "show",
            "sam@direct.example.org",
            "--json",
        ])))
        .expect("json");
        assert_eq!(show["certificates"].as_array().expect("certs").len(), 2);
        assert_eq!(show["login"]["username"], "sam@direct.example.org");
        let list: serde_json::Value =
            serde_json::from_str(&ok(&env.hisp(&["address", "list", "--json"]))).expect("json");
        assert_eq!(list.as_array().expect("array").len(), 2);
    }
}

#[tokio::test]
async fn password_stdin_sets_the_login_password() {
    let env = sqlite_env().await;
    let out = env.hisp_stdin(
        &[
            "address",
            "add",
            "jo@direct.example.org",
            "--password-stdin",
        ],
        Some("correct horse battery staple\n"),
    );
    let text = ok(&out);
    assert!(!text.contains("one-time password"), "{text}");
    assert!(
        env.hisp
            .authenticate("jo@direct.example.org", "correct horse battery staple")
            .await
            .expect("auth")
            .is_some()
    );
    let short = env.hisp_stdin(&["user", "add", "ops", "--password-stdin"], Some("short\n"));
    fails(&short, 1, "too short");
    let out = ok(&env.hisp(&["user", "passwd", "jo@direct.example.org"]));
    assert!(
        out.contains("one-time password for jo@direct.example.org"),
        "{out}"
    );
}

/// Make a PKCS#12 for jo from another CA with the real `openssl pkcs12`.
fn make_p12(env: &Env, password: &str) -> std::path::PathBuf {
    let h = &env.hisp;
    let other = hisp::pki::CaKeys::generate("Accredited CA", h.now(), 30).expect("ca");
    let subject = hisp::pki::Subject::Address {
        address: hisp::direct::DirectAddress::parse("jo@direct.example.org").expect("address"),
        name: Some("Jo".into()),
    };
    let issued = hisp::pki::issue(
        &other,
        &subject,
        hisp::pki::Usage::Dual,
        &hisp::pki::Profile::new("http://ca.example.net"),
        h.now(),
    )
    .expect("issue");
    let dir = env.dir.path();
    std::fs::write(
        dir.join("ext.pem"),
        hisp::pki::cert_pem(&issued.cert).expect("pem"),
    )
    .expect("write");
    std::fs::write(
        dir.join("ext.key"),
        hisp::pki::key_pem(&issued.key).expect("pem"),
    )
    .expect("write");
    std::fs::write(
        dir.join("other-ca.pem"),
        hisp::pki::cert_pem(&other.cert).expect("pem"),
    )
    .expect("write");
    ok(&openssl(
        dir,
        &[
            "pkcs12",
            "-export",
            "-in",
            "ext.pem",
            "-inkey",
            "ext.key",
            "-certfile",
            "other-ca.pem",
            "-out",
            "jo.p12",
            "-passout",
            &format!("pass:{password}"),
        ],
    ));
    dir.join("jo.p12")
}

#[tokio::test]
async fn cert_import_p12_with_password_from_stdin() {
    let env = sqlite_env().await;
    ok(&env.hisp(&["address", "add", "jo@direct.example.org"]));
    let p12 = make_p12(&env, "p12-secret");
    let p12 = p12.to_str().expect("path");
    let before = audit_rows(&env);
    fails(
        &env.hisp_stdin(
            &[
                "cert",
                "import",
                "jo@direct.example.org",
                "--p12",
                p12,
                "--password-stdin",
            ],
            Some("wrong\n"),
        ),
        1,
        "password",
    );
    std::fs::write(
        env.dir.path().join("corrupt.p12"),
        b"\x30\x82\x01\x00garbage",
    )
    .expect("write");
    let corrupt = env.dir.path().join("corrupt.p12");
    fails(
        &env.hisp_stdin(
            &[
                "cert",
                "import",
                "jo@direct.example.org",
                "--p12",
                corrupt.to_str().expect("path"),
                "--password-stdin",
            ],
            Some("x\n"),
        ),
        1,
        "PKCS#12",
    );
    fails(
        &env.hisp_stdin(
            &[
                "cert",
                "import",
                "sam@direct.example.org",
                "--p12",
                p12,
                "--password-stdin",
            ],
            Some("p12-secret\n"),
        ),
        1,
        "address sam@direct.example.org not found",
    );
    assert_eq!(audit_rows(&env), before, "failed imports change nothing");
    let out = ok(&env.hisp_stdin(
        &[
            "cert",
            "import",
            "jo@direct.example.org",
            "--p12",
            p12,
            "--password-stdin",
        ],
        Some("p12-secret\n"),
    ));
    assert!(out.contains("imported"), "{out}");
    let certs = certs_json(&env, "jo@direct.example.org");
    assert_eq!(
        certs.iter().filter(|c| c["source"] == "imported").count(),
        1
    );
}

/// Bad input: one clear line, exit 1 (2 for bad usage), and nothing changes.
#[tokio::test]
async fn bad_input_gives_one_line_and_changes_nothing() {
    let env = sqlite_env().await;
    ok(&env.hisp(&["address", "add", "jo@direct.example.org"]));
    let before = audit_rows(&env);
    let long = format!("{}@direct.example.org", "a".repeat(65));
    let cases: Vec<(Vec<&str>, i32, &str)> = vec![
        (
            vec!["address", "add", "alice@@x.org"],
            1,
            "needs exactly one '@'",
        ),
        (
            vec!["address", "add", "@direct.example.org"],
            1,
            "bad local part",
        ),
        (vec!["address", "add", "alice@"], 1, "not a valid domain"),
        (
            vec!["address", "add", "al ice@direct.example.org"],
            1,
            "bad local part",
        ),
        (vec!["address", "add", &long], 1, "longer than 64"),
        (
            vec!["address", "add", "bob@unknown.example.org"],
            1,
            "domain unknown.example.org is not served here",
        ),
        (
            vec!["address", "add", "jo@direct.example.org"],
            1,
            "address jo@direct.example.org already exists",
        ),
        (
            vec![
                "address",
                "add",
                "bob@direct.example.org",
                "--role",
                "wizard",
            ],
            2,
            "unknown role 'wizard'",
        ),
        (
            vec!["address", "remove", "nobody@direct.example.org"],
            1,
            "address nobody@direct.example.org not found",
        ),
        (
            vec!["domain", "add", "direct.example.org"],
            1,
            "already exists",
        ),
        (
            vec!["domain", "remove", "direct.example.org"],
            1,
            "still has 1 address",
        ),
        (
            vec!["cert", "revoke", "00DEADBEEF"],
            1,
            "certificate 00DEADBEEF not found",
        ),
        (vec!["address", "frobnicate"], 2, "unrecognized subcommand"),
        (
            vec!["cert", "import", "jo@direct.example.org"],
            2,
            "give --p12 FILE",
        ),
    ];
    for (args, code, needle) in cases {
        let out = env.hisp(&args);
        fails(&out, code, needle);
    }
    assert_eq!(audit_rows(&env), before, "no bad input changed anything");
}

#[tokio::test]
async fn broken_environment_is_named() {
    let env = sqlite_env().await;
    let dir = env.dir.path();
    // An unknown config key.
    let bad_config = dir.join("bad.toml");
    std::fs::write(&bad_config, "[server]\nhostnme = \"x.example.org\"\n").expect("write");
    fails(
        &harness::run_hisp(dir, &bad_config, &[], &["domain", "list"], None),
        1,
        "unknown field `hostnme`",
    );
    fails(
        &harness::run_hisp(dir, &bad_config, &[], &["config", "check"], None),
        1,
        "hostnme",
    );
    // An unknown override.
    let vars = vec![("HISP_SERVER_HOSTNME".to_string(), "x".to_string())];
    fails(
        &harness::run_hisp(dir, &env.config_path, &vars, &["domain", "list"], None),
        1,
        "HISP_SERVER_HOSTNME",
    );
    // A missing config.
    fails(
        &harness::run_hisp(dir, &dir.join("none.toml"), &[], &["domain", "list"], None),
        1,
        "no config at",
    );
    // An unreachable PostgreSQL (nothing listens on port 1).
    let vars = vec![(
        "HISP_SERVER_DATABASE_URL".to_string(),
        "postgres://hisp:pw@127.0.0.1:1/hisp".to_string(),
    )];
    let out = harness::run_hisp(dir, &env.config_path, &vars, &["domain", "list"], None);
    fails(
        &out,
        1,
        "cannot open the database postgres://hisp:***@127.0.0.1:1/hisp",
    );
    assert!(
        !harness::stderr(&out).contains(":pw@"),
        "the password is never printed"
    );
    // A missing master key.
    let key = dir.join("hisp-data").join("master.key");
    std::fs::rename(&key, dir.join("moved.key")).expect("move key");
    fails(
        &env.hisp(&["domain", "list"]),
        1,
        "cannot read the master key file",
    );
    std::fs::write(&key, "not hex").expect("write");
    fails(
        &env.hisp(&["domain", "list"]),
        1,
        "is not a hisp master key",
    );
    // A different master key opens nothing.
    std::fs::write(&key, "11".repeat(32)).expect("write");
    ok(&env.hisp(&["ca", "export"]));
    let wrong = env.hisp(&["address", "add", "new@direct.example.org"]);
    fails(&wrong, 1, "did not open: wrong master key");
}
