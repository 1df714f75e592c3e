//! The mailbox pages: compose with an attachment to a second local user, who
//! reads it and downloads the attachment, while the sender's sent folder shows
//! the delivery state; HTML is sanitized; C-CDA attachments are summarized;
//! nobody sees another user's mailbox.

use axum::http::StatusCode;
use hisp::store::users::Role;

use super::Portal;
use crate::smtp::wait_for;

/// A small C-CDA document.
const CCD: &str = r#"<?xml version="1.0" encoding="UTF-8"?>
<ClinicalDocument xmlns="urn:hl7-org:v3">
  <code code="34133-9" displayName="Summarization of Episode Note"/>
  <title>Transition of Care Summary</title>
  <effectiveTime value="20261120093000-0500"/>
  <recordTarget><patientRole><id root="2.16.840.1.113883.19.5" extension="MRN-77"/>
    <patient><name><given>Ada</given><family>Lovelace</family></name>
      <administrativeGenderCode code="F"/><birthTime value="19801210"/></patient>
  </patientRole></recordTarget>
  <component><structuredBody>
    <component><section><title>Medications</title><text><list><item>Sertraline 50 mg daily</item></list></text></section></component>
  </structuredBody></component>
</ClinicalDocument>"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn compose_attach_deliver_read_download_and_track_on_every_engine() {
    for p in Portal::all().await {
        let e = p.engine();
        let _workers = p.start_workers();
        let alice = p.address("alice", Role::Provider).await;
        let bob = p.address("bob", Role::Provider).await;
        let ca = p.sign_in(&alice.to_string()).await;
        let cb = p.sign_in(&bob.to_string()).await;

        let form = p.get(Some(&ca), "/compose").await;
        assert_eq!(form.status, StatusCode::OK, "{e}");
        assert!(
            form.body.contains(&bob.to_string()),
            "{e}: the directory offers bob"
        );

        // Bad recipients and a missing subject are explained, not sent.
        let bad = p
            .post_multipart(
                &ca,
                "/compose",
                &[
                    ("from", &alice.to_string()),
                    ("to", "not an address"),
                    ("subject", "x"),
                ],
                &[],
            )
            .await;
        assert_eq!(bad.status, StatusCode::BAD_REQUEST, "{e}");
        assert!(bad.body.contains("is not a Direct address"), "{e}");
        let exe = p
            .post_multipart(
                &ca,
                "/compose",
                &[
                    ("from", &alice.to_string()),
                    ("to", &bob.to_string()),
                    ("subject", "x"),
                ],
                &[("attachment", "tool.exe", b"MZ")],
            )
            .await;
        assert_eq!(exe.status, StatusCode::BAD_REQUEST, "{e}");
        // Sending as an address one does not own is not possible.
        let spoof = p
            .post_multipart(
                &cb,
                "/compose",
                &[
                    ("from", &alice.to_string()),
                    ("to", &bob.to_string()),
                    ("subject", "x"),
                ],
                &[],
            )
            .await;
        assert_eq!(spoof.status, StatusCode::NOT_FOUND, "{e}");

        let sent = p
            .post_multipart(
                &ca,
                "/compose",
                &[
                    ("from", &alice.to_string()),
                    ("to", &bob.to_string()),
                    ("subject", "Referral for A. L."),
                    ("body", "Please see the attached summary."),
                ],
                &[
                    ("attachment", "summary.xml", CCD.as_bytes()),
                    ("attachment", "note.pdf", b"%PDF-1.4 test"),
                ],
            )
            .await;
        assert_eq!(sent.status, StatusCode::SEE_OTHER, "{e}: {}", sent.body);
        assert!(sent.location().starts_with("/mail?folder=sent"), "{e}");

        // It arrives in bob's inbox through the agent (signed, encrypted, checked).
        let id = wait_for(60, "bob's inbox", || async {
            let page = p.get(Some(&cb), "/mail").await;
            page.body.contains("Referral for A. L.").then(|| {
                let at = page.body.find("href=\"/mail/").expect("link") + 12;
                page.body[at..at + page.body[at..].find('?').expect("?")].to_string()
            })
        })
        .await;
        let inbox = p.get(Some(&cb), "/mail").await;
        assert!(inbox.body.contains("1 unread"), "{e}: {}", inbox.body);

        let msg = p.get(Some(&cb), &format!("/mail/{id}")).await;
        assert_eq!(msg.status, StatusCode::OK, "{e}");
        assert!(msg.body.contains("Please see the attached summary."), "{e}");
        assert!(
            msg.body.contains("Transition of Care Summary"),
            "{e}: CDA summarized"
        );
        assert!(msg.body.contains("Ada Lovelace"), "{e}");
        assert!(msg.body.contains("Sertraline 50 mg daily"), "{e}");
        assert!(msg.body.contains("note.pdf"), "{e}");
        let read = p.get(Some(&cb), "/mail").await;
        assert!(
            !read.body.contains("unread</span>"),
            "{e}: opened means read"
        );

        let pdf = p.get(Some(&cb), &format!("/mail/{id}/attachments/1")).await;
        assert_eq!(pdf.status, StatusCode::OK, "{e}");
        assert_eq!(pdf.bytes, b"%PDF-1.4 test", "{e}");
        assert!(
            pdf.headers["content-disposition"]
                .to_str()
                .expect("cd")
                .starts_with("attachment; filename=\"note.pdf\""),
            "{e}"
        );
        assert_eq!(
            p.get(Some(&cb), &format!("/mail/{id}/attachments/9"))
                .await
                .status,
            StatusCode::NOT_FOUND,
            "{e}"
        );

        // Alice cannot open bob's message, by id or by naming his mailbox.
        assert_eq!(
            p.get(Some(&ca), &format!("/mail/{id}")).await.status,
            StatusCode::NOT_FOUND,
            "{e}"
        );
        let q = hisp::web::urlencode(&bob.to_string());
        for path in [
            format!("/mail?address={q}"),
            format!("/mail/{id}?address={q}"),
            format!("/mail/{id}/attachments/0?address={q}"),
            format!("/mail/status?address={q}"),
        ] {
            assert_eq!(
                p.get(Some(&ca), &path).await.status,
                StatusCode::NOT_FOUND,
                "{e} {path}"
            );
        }

        // Alice's sent folder: the message, and bob's state moving to dispatched.
        let sent_page = p.get(Some(&ca), "/mail?folder=sent").await;
        assert!(sent_page.body.contains("Referral for A. L."), "{e}");
        assert!(sent_page.body.contains("data-live-status"), "{e}");
        wait_for(60, "dispatched", || async {
            let s = p.get(Some(&ca), "/mail/status").await;
            s.body.contains("\"state\":\"dispatched\"").then_some(())
        })
        .await;
        let sent_page = p.get(Some(&ca), "/mail?folder=sent").await;
        assert!(
            sent_page.body.contains(">dispatched<"),
            "{e}: {}",
            sent_page.body
        );

        // Both the view and the download are in the audit log.
        let mut conn = p.env.hisp.conn().await.expect("conn");
        let actions: Vec<String> =
            sqlx::query_scalar("SELECT action FROM audit_log WHERE actor = $1")
                .bind(bob.to_string())
                .fetch_all(&mut *conn)
                .await
                .expect("audit");
        assert!(
            actions.iter().any(|a| a == "mailbox.view"),
            "{e}: {actions:?}"
        );
        assert!(actions.iter().any(|a| a == "mailbox.attachment"), "{e}");

        // Search by subject and date.
        let hit = p.get(Some(&cb), "/mail?q=referral").await;
        assert!(hit.body.contains("Referral for A. L."), "{e}");
        let miss = p.get(Some(&cb), "/mail?q=nothing-like-this").await;
        assert!(!miss.body.contains("Referral for A. L."), "{e}");
        let old = p.get(Some(&cb), "/mail?until=2000-01-01").await;
        assert!(!old.body.contains("Referral for A. L."), "{e}");
        let bad_date = p.get(Some(&cb), "/mail?since=yesterday").await;
        assert!(bad_date.body.contains("Use the format"), "{e}");

        // Reply is prefilled.
        let reply = p.get(Some(&cb), &format!("/compose?reply={id}")).await;
        assert!(reply.body.contains("Re: Referral for A. L."), "{e}");
        assert!(reply.body.contains(&alice.to_string()), "{e}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn html_mail_is_sanitized_and_served_with_a_strict_policy() {
    let p = Portal::new(crate::harness::sqlite_env().await).await;
    let _workers = p.start_workers();
    let alice = p.address("alice", Role::Provider).await;
    let bob = p.address("bob", Role::Provider).await;
    let html = "<p>Hello <b>Bob</b></p><img src=\"https://tracker.example/p.gif\"><script>alert(1)</script><a href=\"javascript:alert(2)\">x</a>";
    let raw = format!(
        "From: {alice}\r\nTo: {bob}\r\nSubject: html\r\nMIME-Version: 1.0\r\nContent-Type: multipart/alternative; boundary=b1\r\n\r\n--b1\r\nContent-Type: text/plain\r\n\r\nHello Bob\r\n--b1\r\nContent-Type: text/html\r\n\r\n{html}\r\n--b1--\r\n"
    );
    p.state
        .gw
        .submit(&hisp::smtp::submit::Submission {
            mail_from: &alice,
            rcpts: std::slice::from_ref(&bob),
            message: raw.as_bytes(),
            actor: "test",
            sent_copy: true,
            final_delivery: hisp::smtp::submit::FinalDelivery::Always,
        })
        .await
        .expect("submit");
    p.state.gw.inbound_ready.notify_one();
    let cb = p.sign_in(&bob.to_string()).await;
    let id = wait_for(60, "delivered", || async {
        let page = p.get(Some(&cb), "/mail").await;
        page.body.find("href=\"/mail/").map(|at| {
            let at = at + 12;
            page.body[at..at + page.body[at..].find('?').expect("?")].to_string()
        })
    })
    .await;
    let msg = p.get(Some(&cb), &format!("/mail/{id}")).await;
    assert!(msg.body.contains("Hello <b>Bob</b>"), "{}", msg.body);
    assert!(!msg.body.contains("tracker.example"));
    assert!(!msg.body.contains("alert(1)"));
    assert!(!msg.body.contains("javascript:"));
    let csp = msg.headers["content-security-policy"]
        .to_str()
        .expect("csp");
    assert!(csp.contains("img-src 'self' data:"), "{csp}");
}

#[tokio::test]
async fn address_book_adds_and_removes_contacts() {
    let p = Portal::new(crate::harness::sqlite_env().await).await;
    let alice = p.address("alice", Role::Provider).await;
    let c = p.sign_in(&alice.to_string()).await;
    let bad = p
        .post(
            Some(&c),
            "/contacts",
            &[("name", "Dr X"), ("address", "nope")],
        )
        .await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST);
    assert!(bad.body.contains("is not a Direct address"));
    let ok = p
        .post(
            Some(&c),
            "/contacts",
            &[("name", "Dr Remote"), ("address", "dr@remote.example")],
        )
        .await;
    assert_eq!(ok.status, StatusCode::SEE_OTHER);
    let dup = p
        .post(
            Some(&c),
            "/contacts",
            &[("name", "Again"), ("address", "dr@remote.example")],
        )
        .await;
    assert!(dup.body.contains("already"), "{}", dup.body);
    let page = p.get(Some(&c), "/contacts").await;
    assert!(page.body.contains("Dr Remote"));
    assert!(
        page.body.contains(&alice.to_string()),
        "the local directory is listed"
    );
    let at = page.body.find("action=\"/contacts/").expect("remove form") + 18;
    let id = &page.body[at..at + page.body[at..].find('/').expect("/")];
    let gone = p
        .post(Some(&c), &format!("/contacts/{id}/delete"), &[])
        .await;
    assert_eq!(gone.status, StatusCode::SEE_OTHER);
    assert!(
        !p.get(Some(&c), "/contacts")
            .await
            .body
            .contains("Dr Remote")
    );
    // Another user cannot remove it.
    let bob = p.address("bob", Role::Provider).await;
    let cb = p.sign_in(&bob.to_string()).await;
    p.post(
        Some(&c),
        "/contacts",
        &[("name", "Keep"), ("address", "k@remote.example")],
    )
    .await;
    let page = p.get(Some(&c), "/contacts").await;
    let at = page.body.find("action=\"/contacts/").expect("remove form") + 18;
    let id = &page.body[at..at + page.body[at..].find('/').expect("/")];
    assert_eq!(
        p.post(Some(&cb), &format!("/contacts/{id}/delete"), &[])
            .await
            .status,
        StatusCode::NOT_FOUND
    );
}

#[tokio::test]
async fn every_role_reaches_its_own_mailbox_pages_and_nobody_elses() {
    for p in Portal::all().await {
        let e = p.engine();
        let prov = p.address("prov", Role::Provider).await;
        let care = p.address("care", Role::CareManager).await;
        let adm = p.address("adm", Role::Admin).await;
        p.user("root", Role::Admin).await;
        let other = p.address("other", Role::Provider).await;
        let q = hisp::web::urlencode(&other.to_string());
        // A message in the other practice's inbox.
        let mut tx = p.env.hisp.store.begin().await.expect("tx");
        let theirs = p
            .env
            .hisp
            .file(
                &mut tx,
                &other,
                hisp::mailbox::INBOX,
                format!("From: x@y.test\r\nTo: {other}\r\nSubject: private\r\n\r\nhi\r\n")
                    .as_bytes(),
                hisp::mailbox::Origin {
                    kind: "test",
                    id: None,
                },
            )
            .await
            .expect("file")
            .expect("filed");
        tx.commit().await.expect("commit");
        for user in [prov.to_string(), care.to_string(), adm.to_string()] {
            let c = p.sign_in(&user).await;
            for path in [
                "/mail",
                "/mail?folder=sent",
                "/mail/status",
                "/compose",
                "/contacts",
                "/password",
                "/mfa/enroll",
            ] {
                let r = p.get(Some(&c), path).await;
                assert_eq!(r.status, StatusCode::OK, "{e} {user} {path}: {}", r.body);
            }
            // Another practice's mailbox, by any route, is not there.
            for path in [
                format!("/mail?address={q}"),
                format!("/mail/status?address={q}"),
                format!("/compose?address={q}"),
                format!("/mail/{theirs}"),
                format!("/mail/{theirs}/attachments/0"),
                format!("/mail/{theirs}?address={q}"),
                format!("/compose?reply={theirs}"),
            ] {
                let r = p.get(Some(&c), &path).await;
                assert_eq!(r.status, StatusCode::NOT_FOUND, "{e} {user} {path}");
            }
        }
        // An admin with no address has no mailbox, and is told so.
        let root = p.sign_in("root").await;
        let r = p.get(Some(&root), "/mail").await;
        assert_eq!(r.status, StatusCode::OK, "{e}");
        assert!(
            r.body.contains("Ask your administrator to issue one"),
            "{e}"
        );
        assert_eq!(
            p.get(Some(&root), "/compose").await.status,
            StatusCode::NOT_FOUND,
            "{e}"
        );
    }
}

/// The message ids a folder page links to, in page order.
fn message_ids(page: &str) -> Vec<i64> {
    page.match_indices("<a href=\"/mail/")
        .filter_map(|(at, m)| {
            let rest = &page[at + m.len()..];
            rest[..rest.find('?')?].parse().ok()
        })
        .collect()
}

/// Every page of a folder listing from `url` on, following "Older messages".
async fn all_pages(p: &Portal, c: &super::Client, mut url: String) -> Vec<Vec<i64>> {
    let mut pages = Vec::new();
    loop {
        let r = p.get(Some(c), &url).await;
        assert_eq!(
            r.status,
            StatusCode::OK,
            "{}: {url}: {}",
            p.engine(),
            r.body
        );
        pages.push(message_ids(&r.body));
        let Some(end) = r.body.find("\" rel=\"next\">Older messages</a>") else {
            return pages;
        };
        let start = r.body[..end].rfind("href=\"").expect("href") + "href=\"".len();
        url = r.body[start..end].replace("&amp;", "&");
    }
}

#[tokio::test]
async fn a_folder_is_listed_a_page_at_a_time_and_searched_across_pages() {
    for p in Portal::all().await {
        let e = p.engine();
        let prov = p.address("prov", Role::Provider).await;
        let c = p.sign_in(&prov.to_string()).await;
        // 600 messages: lab results only among the oldest 150 (so a search
        // for them reads past the first chunk of 500), referrals otherwise.
        let mut tx = p.env.hisp.store.begin().await.expect("tx");
        let mut ids = Vec::new();
        for i in 0..600 {
            let subject = if i < 150 && i % 3 == 0 {
                "Lab result"
            } else {
                "Referral"
            };
            let raw =
                format!("From: x@y.test\r\nTo: {prov}\r\nSubject: {subject} {i}\r\n\r\nhi\r\n");
            let origin = hisp::mailbox::Origin {
                kind: "test",
                id: None,
            };
            let id = p
                .env
                .hisp
                .file(&mut tx, &prov, hisp::mailbox::INBOX, raw.as_bytes(), origin)
                .await
                .expect("file")
                .expect("filed");
            ids.push((id, subject));
        }
        tx.commit().await.expect("commit");
        ids.reverse();
        let newest_first: Vec<i64> = ids.iter().map(|(id, _)| *id).collect();
        let with = |subject: &str| -> Vec<i64> {
            ids.iter()
                .filter(|(_, s)| *s == subject)
                .map(|(id, _)| *id)
                .collect()
        };

        let r = p.get(Some(&c), "/mail").await;
        assert!(
            r.body.contains("600 unread"),
            "{e}: the folder's count, not the page's"
        );
        // Exactly six pages: the sixth has no "Older" link to an empty page.
        let pages = all_pages(&p, &c, "/mail".into()).await;
        let sizes: Vec<usize> = pages.iter().map(Vec::len).collect();
        assert_eq!(sizes, [100; 6], "{e}");
        assert_eq!(
            pages.concat(),
            newest_first,
            "{e}: each message once, newest first"
        );

        // A search that fills several pages keeps its words in the link.
        let pages = all_pages(&p, &c, "/mail?q=referral".into()).await;
        let sizes: Vec<usize> = pages.iter().map(Vec::len).collect();
        assert_eq!(sizes, [100, 100, 100, 100, 100, 50], "{e}");
        assert_eq!(pages.concat(), with("Referral"), "{e}");
        // A sparse search, on both sides of the first chunk's edge.
        let pages = all_pages(&p, &c, "/mail?q=lab".into()).await;
        assert_eq!(pages.concat(), with("Lab result"), "{e}");
        assert_eq!(pages.len(), 1, "{e}");

        // Past the oldest, and a cursor that is not an id.
        let oldest = newest_first.last().copied().expect("messages");
        let r = p.get(Some(&c), &format!("/mail?before={oldest}")).await;
        assert_eq!(r.status, StatusCode::OK, "{e}");
        assert!(r.body.contains("No older messages"), "{e}");
        for bad in ["0", "-1", "x"] {
            for path in ["/mail", "/mail/status"] {
                let r = p.get(Some(&c), &format!("{path}?before={bad}")).await;
                assert_eq!(
                    r.status,
                    StatusCode::BAD_REQUEST,
                    "{e}: {path} before={bad}"
                );
            }
        }
    }
}
