//! What the API does: a message sent and read at a second local address
//! (JSON and multipart), tracking, ack and delete; rosters, alerts, consent,
//! addresses and keys, with their audit entries.

use super::*;

#[tokio::test]
async fn a_message_sent_through_the_api_is_read_at_a_second_local_address() {
    for p in Portal::all().await {
        let e = p.engine();
        let w = world(&p).await;
        let pdf = b"%PDF-1.4 test attachment \x00\x01\x02".to_vec();
        let b64 = openssl::base64::encode_block(&pdf);
        let r = call(
            &p,
            Method::POST,
            "/api/v1/messages",
            Auth::Key(&w.prov.1),
            json_body(json!({
                "from": addr("prov"), "to": [addr("other")], "subject": "Discharge summary",
                "body": "Line one.\nLine two.",
                "attachments": [{"name": "summary.pdf", "data_base64": b64}],
            })),
        )
        .await;
        assert_eq!(r.status, StatusCode::ACCEPTED, "{e}: {}", r.body);
        let sent = parsed(&r);
        let mid = sent["message_id"].as_str().expect("mid").to_string();
        assert_eq!(sent["queued"], json!([addr("other")]), "{e}");
        let status_url = r.location().to_string();
        assert_eq!(
            status_url,
            format!("/api/v1/messages/{}/status", enc(&mid)),
            "{e}"
        );

        // The multipart form sends the same way.
        let boundary = "api-test-7f";
        let mut form = Vec::new();
        for (k, v) in [
            ("from", addr("prov")),
            ("to", addr("other")),
            ("subject", "Images".into()),
        ] {
            form.extend_from_slice(
                format!(
                    "--{boundary}\r\nContent-Disposition: form-data; name=\"{k}\"\r\n\r\n{v}\r\n"
                )
                .as_bytes(),
            );
        }
        form.extend_from_slice(format!("--{boundary}\r\nContent-Disposition: form-data; name=\"attachment\"; filename=\"x.png\"\r\nContent-Type: image/png\r\n\r\n").as_bytes());
        form.extend_from_slice(b"\x89PNG\r\n\x1a\nfake");
        form.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
        let ctype: &'static str = "multipart/form-data; boundary=api-test-7f";
        let r = call(
            &p,
            Method::POST,
            "/api/v1/messages",
            Auth::Key(&w.prov.1),
            Some((ctype, form)),
        )
        .await;
        assert_eq!(r.status, StatusCode::ACCEPTED, "{e}: {}", r.body);

        drain(&p).await;

        let other = enc(&addr("other"));
        let inbox = parsed(
            &call(
                &p,
                Method::GET,
                &format!("/api/v1/messages?address={other}"),
                Auth::Key(&w.other.1),
                None,
            )
            .await,
        );
        let row = inbox
            .as_array()
            .expect("inbox")
            .iter()
            .find(|m| m["message_id"] == mid.as_str())
            .cloned()
            .expect("delivered");
        assert_eq!(row["subject"], "Discharge summary", "{e}");
        assert_eq!(row["from"], addr("prov"), "{e}");
        assert_eq!(row["seen"], false, "{e}");
        let id = row["id"].as_i64().expect("id");
        let before = audit(&p).await.len();
        let r = call(
            &p,
            Method::GET,
            &format!("/api/v1/messages/{id}?address={other}"),
            Auth::Key(&w.other.1),
            None,
        )
        .await;
        assert_eq!(r.status, StatusCode::OK, "{e}: {}", r.body);
        let m = parsed(&r);
        assert!(
            m["text"].as_str().is_some_and(|t| t.contains("Line two.")),
            "{e}: {m}"
        );
        assert_eq!(m["attachments"][0]["name"], "summary.pdf", "{e}");
        assert_eq!(
            m["attachments"][0]["content_type"], "application/pdf",
            "{e}"
        );
        let data = openssl::base64::decode_block(
            m["attachments"][0]["data_base64"].as_str().expect("b64"),
        )
        .expect("decode");
        assert_eq!(data, pdf, "{e}: the attachment arrives byte for byte");
        assert!(
            m["headers"]
                .as_array()
                .expect("headers")
                .iter()
                .any(|h| h["name"] == "Subject"),
            "{e}"
        );
        // Reading is audited, as the key; it does not mark the message read.
        let log = audit(&p).await;
        assert_eq!(log.len(), before + 1, "{e}");
        assert_eq!(
            log.last(),
            Some(&(
                format!("api-key:{}", w.other.0),
                "mailbox.view".into(),
                addr("other")
            )),
            "{e}"
        );
        let again = parsed(
            &call(
                &p,
                Method::GET,
                &format!("/api/v1/messages?address={other}"),
                Auth::Key(&w.other.1),
                None,
            )
            .await,
        );
        let seen = |v: &Value| {
            v.as_array()
                .expect("list")
                .iter()
                .find(|m| m["id"] == id)
                .map(|m| m["seen"].clone())
        };
        assert_eq!(seen(&again), Some(json!(false)), "{e}");
        let r = call(
            &p,
            Method::POST,
            &format!("/api/v1/messages/{id}/ack?address={other}"),
            Auth::Key(&w.other.1),
            None,
        )
        .await;
        assert_eq!(r.status, StatusCode::NO_CONTENT, "{e}");
        let acked = parsed(
            &call(
                &p,
                Method::GET,
                &format!("/api/v1/messages?address={other}"),
                Auth::Key(&w.other.1),
                None,
            )
            .await,
        );
        assert_eq!(seen(&acked), Some(json!(true)), "{e}");
        // The multipart message's file kept its type.
        let png = inbox
            .as_array()
            .expect("inbox")
            .iter()
            .find(|m| m["subject"] == "Images")
            .cloned()
            .expect("images");
        let m = parsed(
            &call(
                &p,
                Method::GET,
                &format!("/api/v1/messages/{}?address={other}", png["id"]),
                Auth::Key(&w.other.1),
                None,
            )
            .await,
        );
        assert_eq!(m["attachments"][0]["content_type"], "image/png", "{e}: {m}");

        // The sender sees the recipient's delivery state.
        let st = parsed(&call(&p, Method::GET, &status_url, Auth::Key(&w.prov.1), None).await);
        assert_eq!(st["message_id"], mid.as_str(), "{e}");
        let rcpt = &st["recipients"][0];
        assert_eq!(rcpt["recipient"], addr("other"), "{e}");
        assert_eq!(rcpt["state"], "delivered", "{e}: {st}");
        assert!(rcpt["dispatched_at"].is_i64(), "{e}: {st}");
        assert!(
            rcpt["events"].as_array().is_some_and(|v| !v.is_empty()),
            "{e}: {st}"
        );
        // Angle brackets may be left out of the path.
        let bare = mid.trim_matches(|c| c == '<' || c == '>');
        let r = call(
            &p,
            Method::GET,
            &format!("/api/v1/messages/{}/status", enc(bare)),
            Auth::Key(&w.prov.1),
            None,
        )
        .await;
        assert_eq!(r.status, StatusCode::OK, "{e}");

        // Deleting is audited, and the message is gone.
        let r = call(
            &p,
            Method::DELETE,
            &format!("/api/v1/messages/{id}?address={other}"),
            Auth::Key(&w.other.1),
            None,
        )
        .await;
        assert_eq!(r.status, StatusCode::NO_CONTENT, "{e}");
        assert_eq!(
            audit(&p).await.last().map(|r| r.1.as_str()),
            Some("mailbox.delete"),
            "{e}"
        );
        let r = call(
            &p,
            Method::GET,
            &format!("/api/v1/messages/{id}?address={other}"),
            Auth::Key(&w.other.1),
            None,
        )
        .await;
        assert_problem(&r, StatusCode::NOT_FOUND, "not-found", e);
    }
}

#[tokio::test]
async fn care_and_admin_operations_do_what_the_cli_does() {
    for p in Portal::all().await {
        let e = p.engine();
        let w = world(&p).await;
        let ck = Auth::Key(&w.care.1);
        let ak = Auth::Key(&w.admin.1);
        let care = enc(&addr("care"));

        // The roster report lists the bad row; the good one is applied and listed.
        let r = call(
            &p,
            Method::POST,
            "/api/v1/rosters",
            ck,
            Some(("text/csv", CSV.as_bytes().to_vec())),
        )
        .await;
        let report = parsed(&r);
        assert_eq!(r.status, StatusCode::OK, "{e}: {report}");
        assert_eq!(
            (report["rows"].as_u64(), report["applied"].as_u64()),
            (Some(2), Some(1)),
            "{e}: {report}"
        );
        assert_eq!(report["problems"][0]["row"], 3, "{e}: {report}");
        assert_eq!(
            report["problems"][0]["column"], "birth_date",
            "{e}: {report}"
        );
        let entries = parsed(
            &call(
                &p,
                Method::GET,
                &format!("/api/v1/rosters?owner={care}"),
                ck,
                None,
            )
            .await,
        );
        assert_eq!(entries[0]["patient"]["family"], "Doe", "{e}: {entries}");
        assert_eq!(
            entries[0]["patient"]["identifiers"][0]["id"], "MRN-1",
            "{e}"
        );
        let strict = call(
            &p,
            Method::POST,
            "/api/v1/rosters?strict=true&replace=true",
            ck,
            Some(("text/csv", CSV.as_bytes().to_vec())),
        )
        .await;
        assert_eq!(parsed(&strict)["applied"], 0, "{e}");
        let log = audit(&p).await;
        let actor = format!("api-key:{}", w.care.0);
        assert!(
            log.contains(&(actor.clone(), "roster.import".into(), addr("care"))),
            "{e}"
        );
        assert!(
            log.contains(&(actor.clone(), "roster.view".into(), addr("care"))),
            "{e}"
        );

        // An alert's text is a view of PHI.
        let r = parsed(
            &call(
                &p,
                Method::GET,
                &format!("/api/v1/alerts/{}", w.alert),
                ck,
                None,
            )
            .await,
        );
        assert!(
            r["summary"]
                .as_str()
                .is_some_and(|s| s.contains("DOE, JANE")),
            "{e}: {r}"
        );
        assert!(
            audit(&p).await.contains(&(
                actor.clone(),
                "alert.view".into(),
                format!("alert {}", w.alert)
            )),
            "{e}"
        );
        let filtered =
            parsed(&call(&p, Method::GET, "/api/v1/alerts?status=completed", ck, None).await);
        assert_eq!(filtered, json!([]), "{e}");
        let filtered = parsed(
            &call(
                &p,
                Method::GET,
                "/api/v1/alerts?status=new&event=admit",
                ck,
                None,
            )
            .await,
        );
        assert_eq!(filtered.as_array().map(Vec::len), Some(1), "{e}");
        // A filter sent blank (as a form sends an empty field) is no filter.
        let blank = parsed(
            &call(
                &p,
                Method::GET,
                "/api/v1/alerts?status=new&event=&subscriber=",
                ck,
                None,
            )
            .await,
        );
        assert_eq!(blank, filtered, "{e}");

        // Consent holds for every practice. A care manager relays an
        // opt-out for a patient on their own roster, and nothing else: an
        // opt-in releases sensitive data to every subscriber, and a patient
        // on no roster of theirs is not theirs to decide for (404, so the
        // answer tells nothing of other practices' patients). The registry
        // spans every practice, so only an admin lists it (audited).
        let jane = |decision: &str, id: Option<(&str, &str)>| {
            let mut body = json!({"decision": decision, "family": "Doe", "given": "Jane",
                "birth_date": "1950-01-01", "sex": "F"});
            if let Some((id, authority)) = id {
                body["patient_id"] = id.into();
                body["authority"] = authority.into();
            }
            body
        };
        let by_id = |id: &str, authority: &str| json!({"decision": "opt-out", "patient_id": id, "authority": authority});
        // The hospital merged Jane's older MRN-0 into MRN-1 (an A40): the
        // care manager may give the number on her older papers.
        let h = &p.env.hisp;
        let mut conn = h.conn().await.expect("conn");
        let old_mrn = ("MRN-0".to_string(), "GENERAL".to_string());
        let mrn = ("MRN-1".to_string(), "GENERAL".to_string());
        let now = h.now();
        hisp::store::notify::record_merge(&mut conn, h.store.sealer(), &old_mrn, &mrn, now)
            .await
            .expect("merge");
        drop(conn);
        let cases = [
            // An opt-in is the admin's.
            (
                ck,
                jane("opt-in", Some(("MRN-7", "NORTH"))),
                StatusCode::FORBIDDEN,
                "",
            ),
            // On none of the care manager's rosters.
            (ck, by_id("MRN-9", "GENERAL"), StatusCode::NOT_FOUND, ""),
            // Another practice's patient under their identifier, with the
            // names of one on this roster: the identifier decides.
            (
                ck,
                jane("opt-out", Some(("VICTIM1", "SOUTH"))),
                StatusCode::NOT_FOUND,
                "",
            ),
            // This roster's identifier with another patient's names, birth
            // date or sex: the decision matches by them too, and would stop
            // that patient's alerts at every practice.
            (
                ck,
                json!({"decision": "opt-out", "patient_id": "MRN-1", "authority": "GENERAL",
                    "family": "Roe", "given": "Ann", "birth_date": "1970-01-01", "sex": "F"}),
                StatusCode::NOT_FOUND,
                "",
            ),
            (
                ck,
                json!({"decision": "opt-out", "patient_id": "MRN-1", "authority": "GENERAL",
                    "birth_date": "1950-01-02"}),
                StatusCode::NOT_FOUND,
                "",
            ),
            (
                ck,
                json!({"decision": "opt-out", "patient_id": "MRN-1", "authority": "GENERAL",
                    "sex": "M"}),
                StatusCode::NOT_FOUND,
                "",
            ),
            // By the roster's own identifier (alone, or with the names the
            // roster holds for it), or by the roster's names.
            (ck, by_id("MRN-1", "GENERAL"), StatusCode::CREATED, ""),
            (
                ck,
                jane("opt-out", Some(("MRN-1", "GENERAL"))),
                StatusCode::CREATED,
                "",
            ),
            (ck, jane("opt-out", None), StatusCode::CREATED, ""),
            // An opt-in by demographics alone could be another person's.
            (
                ak,
                jane("opt-in", None),
                StatusCode::BAD_REQUEST,
                "assigning authority",
            ),
            (
                ak,
                jane("opt-in", Some(("MRN-7", "NORTH"))),
                StatusCode::CREATED,
                "",
            ),
            // Under the number the hospital retired for the roster's.
            (ck, by_id("MRN-0", "GENERAL"), StatusCode::CREATED, ""),
        ];
        for (who, body, status, says) in cases {
            let r = call(
                &p,
                Method::POST,
                "/api/v1/consents",
                who,
                json_body(body.clone()),
            )
            .await;
            assert_eq!(r.status, status, "{e}: {body}: {}", r.body);
            assert!(r.body.contains(says), "{e}: {}", r.body);
        }
        // A placeholder id names no one: refused, saying why.
        let r = call(
            &p,
            Method::POST,
            "/api/v1/consents",
            ck,
            json_body(json!({
            "decision": "opt-out", "patient_id": "999-99-9999", "authority": "SSA"})),
        )
        .await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{e}: {}", r.body);
        assert!(r.body.contains("placeholder"), "{e}: {}", r.body);
        let refused = call(&p, Method::GET, "/api/v1/consents", ck, None).await;
        assert_eq!(refused.status, StatusCode::FORBIDDEN, "{e}");
        let list = parsed(&call(&p, Method::GET, "/api/v1/consents", ak, None).await);
        // The decision under the retired number holds for the roster's.
        let under_old = list
            .as_array()
            .expect("list")
            .iter()
            .find(|c| c["patient"]["identifiers"][0]["id"] == "MRN-0")
            .unwrap_or_else(|| panic!("{e}: {list}"));
        let ids = under_old["patient"]["identifiers"].as_array().expect("ids");
        assert!(ids.iter().any(|i| i["id"] == "MRN-1"), "{e}: {under_old}");
        assert_eq!(list[1]["patient"]["birth_date"], "19500101", "{e}: {list}");
        assert_eq!(list[1]["patient"]["sex"], "F", "{e}");
        let admin_actor = format!("api-key:{}", w.admin.0);
        assert!(
            audit(&p)
                .await
                .iter()
                .any(|r| r.0 == admin_actor && r.1 == "consent.view"),
            "{e}"
        );

        // An admin issues an address, gets its one-time password, disables it.
        let r = call(
            &p,
            Method::POST,
            "/api/v1/addresses",
            ak,
            json_body(json!({"address": addr("ann"), "role": "care-manager"})),
        )
        .await;
        let issued = parsed(&r);
        assert_eq!(r.status, StatusCode::CREATED, "{e}: {issued}");
        assert_eq!(issued["role"], "care-manager", "{e}");
        assert!(
            issued["generated_password"]
                .as_str()
                .is_some_and(|s| s.len() >= 12),
            "{e}"
        );
        assert!(
            !issued["certificates"].as_array().expect("certs").is_empty(),
            "{e}"
        );
        let r = call(
            &p,
            Method::POST,
            &format!("/api/v1/addresses/{}/disable", enc(&addr("ann"))),
            ak,
            None,
        )
        .await;
        assert_eq!(parsed(&r)["enabled"], false, "{e}");
        let r = call(
            &p,
            Method::POST,
            &format!("/api/v1/addresses/{}/disable", enc(&addr("ann"))),
            ak,
            None,
        )
        .await;
        assert_problem(&r, StatusCode::CONFLICT, "conflict", e);
        // ...and enables it again; twice is a conflict too.
        let r = call(
            &p,
            Method::POST,
            &format!("/api/v1/addresses/{}/enable", enc(&addr("ann"))),
            ak,
            None,
        )
        .await;
        assert_eq!(r.status, StatusCode::OK, "{e}: {}", parsed(&r));
        assert_eq!(parsed(&r)["enabled"], true, "{e}");
        let r = call(
            &p,
            Method::POST,
            &format!("/api/v1/addresses/{}/enable", enc(&addr("ann"))),
            ak,
            None,
        )
        .await;
        assert_problem(&r, StatusCode::CONFLICT, "conflict", e);
        let certs = parsed(&call(&p, Method::GET, "/api/v1/certificates", ak, None).await);
        assert!(
            certs
                .as_array()
                .expect("certs")
                .iter()
                .any(|c| c["owner"] == addr("ann")),
            "{e}"
        );
        let domains = parsed(&call(&p, Method::GET, "/api/v1/domains", ak, None).await);
        assert_eq!(domains[0]["name"], DOMAIN, "{e}");
        let anchors = parsed(
            &call(
                &p,
                Method::GET,
                &format!("/api/v1/anchors?domain={DOMAIN}"),
                ak,
                None,
            )
            .await,
        );
        assert_eq!(anchors[0]["domain"], DOMAIN, "{e}");
        let r = call(
            &p,
            Method::GET,
            "/api/v1/anchors?domain=unknown.example.org",
            ak,
            None,
        )
        .await;
        assert_problem(&r, StatusCode::NOT_FOUND, "not-found", e);

        // Keys made through the API work at once, and stop at revocation.
        let r = call(
            &p,
            Method::POST,
            "/api/v1/api-keys",
            ak,
            json_body(json!({
            "name": "EHR", "role": "provider", "addresses": [addr("prov")]})),
        )
        .await;
        let made = parsed(&r);
        let new_key = made["key"].as_str().expect("key").to_string();
        assert!(new_key.starts_with("hisp_") && new_key.len() == 69, "{e}");
        let listed = parsed(&call(&p, Method::GET, "/api/v1/api-keys", ak, None).await);
        assert!(
            !listed.to_string().contains(&new_key),
            "{e}: keys are never shown again"
        );
        let prov = enc(&addr("prov"));
        let r = call(
            &p,
            Method::GET,
            &format!("/api/v1/messages?address={prov}"),
            Auth::Key(&new_key),
            None,
        )
        .await;
        assert_eq!(r.status, StatusCode::OK, "{e}");
        let r = call(
            &p,
            Method::DELETE,
            &format!("/api/v1/api-keys/{}", made["id"]),
            ak,
            None,
        )
        .await;
        assert_eq!(r.status, StatusCode::NO_CONTENT, "{e}");
        let r = call(
            &p,
            Method::GET,
            &format!("/api/v1/messages?address={prov}"),
            Auth::Key(&new_key),
            None,
        )
        .await;
        assert_problem(&r, StatusCode::UNAUTHORIZED, "unauthorized", e);
        let log = audit(&p).await;
        let admin = format!("api-key:{}", w.admin.0);
        assert!(
            log.contains(&(
                admin.clone(),
                "apikey.create".into(),
                format!("api-key:{}", made["id"])
            )),
            "{e}"
        );
        assert!(
            log.contains(&(
                admin,
                "apikey.revoke".into(),
                format!("api-key:{}", made["id"])
            )),
            "{e}"
        );
    }
}

/// A folder is listed a page at a time: `limit` messages, and the `Link`
/// header of each full page leads to the next, older one, to the end.
#[tokio::test]
async fn a_folder_is_listed_a_page_at_a_time() {
    for p in Portal::all().await {
        let e = p.engine();
        let w = world(&p).await;
        let h = &p.env.hisp;
        let other = hisp::direct::DirectAddress::parse(&addr("other")).expect("address");
        let mut conn = h.conn().await.expect("conn");
        let row = hisp::store::addresses::get(&mut conn, &other)
            .await
            .expect("address row");
        drop(conn);
        let mut tx = h.store.begin().await.expect("tx");
        for i in 0..7 {
            let raw = format!(
                "From: {}\r\nSubject: page test {i}\r\n\r\nx\r\n",
                addr("prov")
            );
            let origin = hisp::mailbox::Origin {
                kind: "test",
                id: Some(i),
            };
            h.file_in(
                &mut tx,
                row.id,
                hisp::mailbox::INBOX,
                raw.as_bytes(),
                origin,
            )
            .await
            .expect("file");
        }
        tx.commit().await.expect("commit");

        let mut url = format!("/api/v1/messages?address={}&limit=3", enc(&addr("other")));
        let mut subjects = Vec::new();
        let mut pages = 0;
        loop {
            let r = call(&p, Method::GET, &url, Auth::Key(&w.other.1), None).await;
            assert_eq!(r.status, StatusCode::OK, "{e}: {}", r.body);
            pages += 1;
            let page = parsed(&r);
            let page = page.as_array().expect("array");
            assert!(page.len() <= 3, "{e}");
            subjects.extend(
                page.iter()
                    .map(|m| m["subject"].as_str().expect("subject").to_string()),
            );
            let Some(link) = r.headers.get(header::LINK) else {
                break;
            };
            let link = link.to_str().expect("ascii");
            assert!(link.ends_with("; rel=\"next\""), "{e}: {link}");
            url = link
                .strip_prefix('<')
                .and_then(|l| l.split_once('>'))
                .map(|(u, _)| u.to_string())
                .expect("a URL in angle brackets");
        }
        // The seven filed here come first (newest first), once each, then
        // what the world set up before them.
        let want: Vec<String> = (0..7).rev().map(|i| format!("page test {i}")).collect();
        assert_eq!(subjects[..7], want[..], "{e}: newest first, each once");
        assert!(
            subjects[7..].iter().all(|s| !s.starts_with("page test")),
            "{e}"
        );
        // Full pages of 3 until the last: only a full page links onward (a
        // last page that happens to be full is followed by an empty one).
        assert_eq!(pages, subjects.len() / 3 + 1, "{e}: {subjects:?}");

        for bad in ["limit=0", "limit=1001", "before=0"] {
            let r = call(
                &p,
                Method::GET,
                &format!("/api/v1/messages?address={}&{bad}", enc(&addr("other"))),
                Auth::Key(&w.other.1),
                None,
            )
            .await;
            assert_eq!(r.status, StatusCode::BAD_REQUEST, "{e}: {bad}: {}", r.body);
        }
    }
}

/// The alert worklist pages like the mailbox: only what the caller may see,
/// `limit` at a time, the `Link` header leading on (filters kept) to the end.
#[tokio::test]
async fn the_alert_worklist_is_listed_a_page_at_a_time() {
    for p in Portal::all().await {
        let e = p.engine();
        let w = world(&p).await;
        let mut mine = vec![w.alert];
        for i in 0..6 {
            mine.push(alert(&p, "care", &format!("PAGE-{i}")).await);
            // Someone else's, interleaved: never shown, never counted.
            alert(&p, "care2", &format!("OTHER-{i}")).await;
        }
        mine.reverse();

        let mut url = "/api/v1/alerts?limit=2&event=admit".to_string();
        let mut ids = Vec::new();
        let mut pages = 0;
        loop {
            let r = call(&p, Method::GET, &url, Auth::Key(&w.care.1), None).await;
            assert_eq!(r.status, StatusCode::OK, "{e}: {}", r.body);
            pages += 1;
            let page = parsed(&r);
            let page = page.as_array().expect("array");
            assert!(page.len() <= 2, "{e}");
            ids.extend(page.iter().map(|a| a["id"].as_i64().expect("id")));
            let Some(link) = r.headers.get(header::LINK) else {
                break;
            };
            let link = link.to_str().expect("ascii");
            assert!(link.contains("event=admit"), "{e}: filters kept: {link}");
            url = link
                .strip_prefix('<')
                .and_then(|l| l.split_once('>'))
                .map(|(u, _)| u.to_string())
                .expect("a URL in angle brackets");
        }
        assert_eq!(
            ids, mine,
            "{e}: the caller's alerts, newest first, each once"
        );
        // Seven alerts two at a time: three full pages, then the last one.
        assert_eq!(pages, 4, "{e}");

        for bad in ["limit=0", "limit=1001", "before=-3"] {
            let r = call(
                &p,
                Method::GET,
                &format!("/api/v1/alerts?{bad}"),
                Auth::Key(&w.care.1),
                None,
            )
            .await;
            assert_eq!(r.status, StatusCode::BAD_REQUEST, "{e}: {bad}: {}", r.body);
        }
    }
}
