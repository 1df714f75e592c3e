//! A real browser against the real server: Debian's Chromium, driven through
//! chromedriver (WebDriver) with fantoccini. Skipped, saying so, when
//! chromedriver is not installed; `.ci/run` installs it.
//!
//! Alice signs in with her password and a TOTP code, composes a message with an
//! attachment to Bob; Bob signs in (enrolling his second factor from the QR
//! page's key), reads it and downloads the attachment; Alice's sent folder
//! shows the delivery state turn to `dispatched` without a reload. Screenshots
//! of each step go to `target/browser-screenshots/` for review.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use fantoccini::{Client, ClientBuilder, Locator};
use hisp::direct::DirectAddress;
use hisp::ops::address::NewAddress;
use hisp::store::users::Role;
use hisp::web::totp::{self, Secret};
use serde_json::json;

use crate::smtp::{Node, wait_for};

/// chromedriver, killed on drop.
struct Driver {
    child: Child,
    port: u16,
}

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn chromedriver() -> Option<PathBuf> {
    ["/usr/bin/chromedriver", "/usr/lib/chromium/chromedriver"]
        .iter()
        .map(PathBuf::from)
        .find(|p| p.exists())
}

fn start_driver(bin: &Path) -> Driver {
    let port = TcpListener::bind("127.0.0.1:0")
        .expect("port")
        .local_addr()
        .expect("addr")
        .port();
    let child = Command::new(bin)
        .arg(format!("--port={port}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("chromedriver starts");
    Driver { child, port }
}

/// A headless Chromium session downloading into `downloads`.
async fn browser(driver: &Driver, downloads: &Path) -> Client {
    let mut caps = serde_json::Map::new();
    caps.insert(
        "goog:chromeOptions".into(),
        json!({
            "binary": "/usr/bin/chromium",
            "args": [
                "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                "--disable-quic", "--no-first-run", "--disable-background-networking",
                "--disable-component-update", "--disable-sync", "--window-size=1280,900",
            ],
            "prefs": {
                "download.default_directory": downloads.to_str().expect("utf8 path"),
                "download.prompt_for_download": false,
            },
        }),
    );
    let url = format!("http://127.0.0.1:{}", driver.port);
    for _ in 0..50 {
        if let Ok(c) = ClientBuilder::native()
            .capabilities(caps.clone())
            .connect(&url)
            .await
        {
            return c;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    panic!("cannot start a Chromium session through chromedriver");
}

/// Save a screenshot under target/browser-screenshots.
pub async fn shot(c: &Client, name: &str) {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/browser-screenshots");
    std::fs::create_dir_all(&dir).expect("screenshot dir");
    let png = c.screenshot().await.expect("screenshot");
    std::fs::write(dir.join(format!("{name}.png")), png).expect("write screenshot");
}

async fn fill(c: &Client, id: &str, value: &str) {
    let el = c.find(Locator::Id(id)).await.expect(id);
    el.clear().await.expect("clear");
    el.send_keys(value).await.expect("type");
}

async fn click(c: &Client, css: &str) {
    c.find(Locator::Css(css))
        .await
        .expect(css)
        .click()
        .await
        .expect("click");
}

fn code(secret: &Secret) -> String {
    totp::format_code(totp::code_at(secret, hisp::clock::system().now()))
}

async fn sign_in(c: &Client, base: &str, user: &str, password: &str) {
    c.goto(&format!("{base}/signin")).await.expect("goto");
    fill(c, "username", user).await;
    fill(c, "password", password).await;
    click(c, "form[action='/signin'] button").await;
}

async fn body(c: &Client) -> String {
    c.find(Locator::Css("body"))
        .await
        .expect("body")
        .text()
        .await
        .expect("text")
}

const PASSWORD: &str = "correct horse battery";

async fn issue(node: &Node, local: &str) -> DirectAddress {
    issue_as(node, local, Role::Provider).await
}

async fn issue_as(node: &Node, local: &str, role: Role) -> DirectAddress {
    let addr = DirectAddress::parse(&format!("{local}@{}", node.domain)).expect("addr");
    node.hisp
        .address_add(
            NewAddress {
                address: addr.clone(),
                name: Some(format!("Dr {local}")),
                role,
                password: Some(PASSWORD.into()),
                single_use: None,
            },
            "test",
        )
        .await
        .expect("issue");
    addr
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_browser_signs_in_with_totp_sends_reads_downloads_and_sees_dispatched() {
    let Some(bin) = chromedriver() else {
        assert!(
            std::env::var_os("CI").is_none(),
            "CI must install chromium-driver (.ci/run does)"
        );
        println!("skipped: chromedriver is not installed (.ci/run installs chromium-driver)");
        return;
    };
    let mut node = Node::new("browser.test", false, None).await;
    node.set("HISP_HTTP_REQUIRE_MFA", "true");
    node.start().await;
    let base = format!("http://{}", node.http);
    let alice = issue(&node, "alice").await;
    let bob = issue(&node, "bob").await;
    // Alice has enrolled already: her secret is known to the test.
    let alice_secret = Secret::generate().expect("secret");
    {
        let mut tx = node.hisp.store.begin().await.expect("tx");
        let user = hisp::store::users::find(&mut tx, &alice.to_string())
            .await
            .expect("find")
            .expect("alice");
        hisp::store::web::set_totp(
            &mut tx,
            node.hisp.store.sealer(),
            user.id,
            Some(alice_secret.as_bytes()),
        )
        .await
        .expect("totp");
        tx.commit().await.expect("commit");
    }

    let driver = start_driver(&bin);
    let downloads = tempfile::tempdir().expect("downloads");
    let a = browser(&driver, downloads.path()).await;

    // 1. Alice: password, then her code.
    sign_in(&a, &base, &alice.to_string(), PASSWORD).await;
    a.wait()
        .at_most(Duration::from_secs(30))
        .for_element(Locator::Id("code"))
        .await
        .expect("code page");
    shot(&a, "01-totp").await;
    fill(&a, "code", &code(&alice_secret)).await;
    click(&a, "form[action='/mfa'] button").await;
    a.wait()
        .at_most(Duration::from_secs(30))
        .for_element(Locator::Css("a.button[href^='/compose']"))
        .await
        .expect("inbox");
    shot(&a, "02-inbox-empty").await;

    // 2. Compose with an attachment.
    click(&a, "a.button[href^='/compose']").await;
    a.wait()
        .at_most(Duration::from_secs(30))
        .for_element(Locator::Id("to"))
        .await
        .expect("compose");
    fill(&a, "to", &bob.to_string()).await;
    fill(&a, "subject", "Intake summary").await;
    fill(&a, "body", "Hello Bob, the intake summary is attached.").await;
    let file = downloads.path().join("upload").join("intake.pdf");
    std::fs::create_dir_all(file.parent().expect("dir")).expect("dir");
    std::fs::write(&file, b"%PDF-1.4 intake summary").expect("file");
    a.find(Locator::Id("attachment"))
        .await
        .expect("file input")
        .send_keys(file.to_str().expect("path"))
        .await
        .expect("attach");
    shot(&a, "03-compose").await;
    click(&a, "form.compose button[type='submit']").await;
    a.wait()
        .at_most(Duration::from_secs(30))
        .for_element(Locator::Css("[data-live-status]"))
        .await
        .expect("sent folder");
    shot(&a, "04-sent").await;

    // 3. Bob: password, enrollment from the page's key, inbox, message, download.
    let b = browser(&driver, downloads.path()).await;
    sign_in(&b, &base, &bob.to_string(), PASSWORD).await;
    let key = b
        .wait()
        .at_most(Duration::from_secs(30))
        .for_element(Locator::Id("secret"))
        .await
        .expect("enrollment page")
        .text()
        .await
        .expect("key");
    assert!(
        b.find(Locator::Css(".qr svg")).await.is_ok(),
        "a QR code is shown"
    );
    shot(&b, "05-enroll").await;
    let bob_secret = Secret::from_base32(&key).expect("base32 key");
    fill(&b, "code", &code(&bob_secret)).await;
    click(&b, "form[action='/mfa/enroll'] button").await;
    b.wait()
        .at_most(Duration::from_secs(30))
        .for_element(Locator::Css("a.button[href^='/compose']"))
        .await
        .expect("bob's inbox");
    wait_for(60, "the message in bob's inbox", || async {
        b.refresh().await.ok()?;
        body(&b).await.contains("Intake summary").then_some(())
    })
    .await;
    shot(&b, "06-inbox").await;
    b.find(Locator::LinkText("Intake summary"))
        .await
        .expect("message link")
        .click()
        .await
        .expect("open");
    b.wait()
        .at_most(Duration::from_secs(30))
        .for_element(Locator::Css("ul.attachments"))
        .await
        .expect("message");
    assert!(body(&b).await.contains("the intake summary is attached"));
    shot(&b, "07-message").await;
    b.find(Locator::LinkText("intake.pdf"))
        .await
        .expect("attachment link")
        .click()
        .await
        .expect("download");
    let saved = downloads.path().join("intake.pdf");
    wait_for(30, "the download", || async {
        std::fs::read(&saved)
            .ok()
            .filter(|d| d == b"%PDF-1.4 intake summary")
    })
    .await;

    // 4. Alice's sent folder turns to dispatched, without a reload.
    wait_for(60, "dispatched in alice's sent folder", || async {
        let el = a.find(Locator::Css("[data-track]")).await.ok()?;
        (el.text().await.ok()? == "dispatched").then_some(())
    })
    .await;
    shot(&a, "08-sent-dispatched").await;

    // 5. A care manager uploads a roster with a bad row and sees the report,
    //    then an admission from a hospital feed lands in the worklist.
    let carol = issue_as(&node, "carol", Role::CareManager).await;
    node.hisp
        .feed_add(
            "1",
            "Good Health Hospital",
            false,
            &hisp::notify::allow::Allowed::any(),
            "test",
        )
        .await
        .expect("feed");
    let c = browser(&driver, downloads.path()).await;
    sign_in(&c, &base, &carol.to_string(), PASSWORD).await;
    enroll(&c).await;
    c.goto(&format!("{base}/rosters")).await.expect("rosters");
    let csv = downloads.path().join("upload").join("panel.csv");
    std::fs::write(
        &csv,
        "patient_id,assigning_authority,family_name,given_name,birth_date,sex,postal_code,phone,program,end_date\n\
         10006579,1,Duck,Donald,1924-10-10,M,,,Care Transitions,\n\
         ,,Mouse,Minnie,1928-11-18,Q,,,Care Transitions,\n",
    )
    .expect("csv");
    c.find(Locator::Id("file"))
        .await
        .expect("file input")
        .send_keys(csv.to_str().expect("path"))
        .await
        .expect("choose file");
    click(&c, "form[action='/rosters'] button[type='submit']").await;
    c.wait()
        .at_most(Duration::from_secs(30))
        .for_element(Locator::Css("table.list"))
        .await
        .expect("report");
    let report = body(&c).await;
    assert!(
        report.contains("sex"),
        "the report names the column: {report}"
    );
    assert!(report.contains('3'), "and the row: {report}");
    shot(&c, "09-roster-report").await;

    let a01 = std::fs::read(
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../shared/corpus/hl7/hl7-parser/sample_adt_a01.hl7"),
    )
    .expect("corpus");
    let ack = hisp::cli::notify_send_mllp(node.mllp, &a01)
        .await
        .expect("mllp");
    assert!(String::from_utf8_lossy(&ack).contains("MSA|AA"));
    c.goto(&format!("{base}/alerts")).await.expect("alerts");
    wait_for(60, "the alert in the worklist", || async {
        c.refresh().await.ok()?;
        body(&c)
            .await
            .contains("Good Health Hospital")
            .then_some(())
    })
    .await;
    shot(&c, "10-worklist").await;

    // 6. An admin (password, then a second factor they enroll) opens the dashboard.
    node.hisp
        .user_add("root", Role::Admin, Some(PASSWORD.into()), "test")
        .await
        .expect("admin");
    let d = browser(&driver, downloads.path()).await;
    sign_in(&d, &base, "root", PASSWORD).await;
    enroll(&d).await;
    d.goto(&format!("{base}/admin")).await.expect("dashboard");
    d.wait()
        .at_most(Duration::from_secs(30))
        .for_element(Locator::Css(".cards svg"))
        .await
        .expect("charts");
    d.set_window_size(1280, 1300).await.expect("resize");
    shot(&d, "11-dashboard").await;

    a.close().await.expect("close");
    b.close().await.expect("close");
    c.close().await.expect("close");
    d.close().await.expect("close");
    node.stop().await;
}

/// On the enrollment page a sign-in leads to: read the key, enter its code.
async fn enroll(c: &Client) {
    let key = c
        .wait()
        .at_most(Duration::from_secs(30))
        .for_element(Locator::Id("secret"))
        .await
        .expect("enrollment page")
        .text()
        .await
        .expect("key");
    let secret = Secret::from_base32(&key).expect("base32 key");
    fill(c, "code", &code(&secret)).await;
    click(c, "form[action='/mfa/enroll'] button").await;
    c.wait()
        .at_most(Duration::from_secs(30))
        .for_element(Locator::Css("nav"))
        .await
        .expect("signed in");
}
