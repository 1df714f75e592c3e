//! The mailbox: inbox and sent folders with search, reading a message (its
//! text, its HTML part sanitized, its attachments, and C-CDA attachments as a
//! readable summary), attachment downloads, compose (one or more Direct
//! addresses, attachments), reply, live delivery states in the sent folder,
//! and the address book. A user sees only the addresses they own; every
//! opened message and downloaded attachment is audited.

use std::collections::BTreeMap;

use crate::web::templates::page;
use axum::Router;
use axum::extract::{DefaultBodyLimit, Form, Multipart, Path, Query, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Json, Redirect, Response};
use axum::routing::{get, post};
use mail_parser::MimeHeaders;
use serde::{Deserialize, Serialize};

use super::NO_STORE;
use crate::direct::DirectAddress;
use crate::mailbox::compose::{self, Draft, FileAttachment};
use crate::mailbox::{INBOX, SENT};
use crate::ops::OpsError;
use crate::smtp::submit::{FinalDelivery, Submission};
use crate::store::mailbox::{self, MailSummary};
use crate::store::tracking::{self, TrackRow};
use crate::store::{addresses, web as st};
use crate::web::render::{cda, html};
use crate::web::session::Viewer;
use crate::web::templates::render;
use crate::web::{AppState, WebError};

/// The mailbox routes.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/mail", get(list))
        .route("/mail/status", get(status))
        .route("/mail/{id}", get(show))
        .route("/mail/{id}/attachments/{n}", get(attachment))
        .route("/compose", get(compose_page).post(compose_send))
        .layer(DefaultBodyLimit::max(64 * 1024 * 1024))
        .route("/contacts", get(contacts).post(contact_add))
        .route("/contacts/{id}/delete", post(contact_delete))
}

/// Which mailbox and folder, and the search.
#[derive(Debug, Default, Deserialize)]
pub struct ListQuery {
    address: Option<String>,
    folder: Option<String>,
    /// Matches sender or subject.
    q: Option<String>,
    /// `YYYY-MM-DD`, inclusive.
    since: Option<String>,
    /// `YYYY-MM-DD`, inclusive.
    until: Option<String>,
    /// Set after a send: the Message-ID to confirm.
    sent: Option<String>,
    /// The next page: messages older than this one (a message id).
    before: Option<String>,
}

/// The most messages one folder page lists; older ones are a link away.
const PAGE: usize = 100;
/// How many messages a search reads from the folder at a time.
const CHUNK: usize = 500;

/// A listed message with its recipients' delivery states (sent folder).
#[derive(Debug, Serialize)]
struct Row {
    #[serde(flatten)]
    summary: MailSummary,
    recipients: Vec<Recipient>,
}

/// A recipient's delivery state as shown.
#[derive(Debug, Clone, Serialize)]
pub struct Recipient {
    /// The address.
    pub address: String,
    /// queued, sent, processed, dispatched, delivered, failed or expired.
    pub state: String,
    /// Why, for failures.
    pub detail: Option<String>,
}

impl From<&TrackRow> for Recipient {
    fn from(t: &TrackRow) -> Self {
        Recipient {
            address: t.recipient.clone(),
            state: shown_state(t).to_string(),
            detail: t.detail.clone(),
        }
    }
}

/// The state a sender sees: the furthest notice received (processed, then
/// dispatched), or failed / expired, or where the message is (queued, sent).
/// A success is shown by its notices rather than as `delivered`, so a sender
/// of a timely-and-reliable message sees `dispatched`.
pub fn shown_state(t: &TrackRow) -> &str {
    match t.final_outcome.as_deref() {
        Some(f @ ("failed" | "expired")) => f,
        _ if t.dispatched_at.is_some() => "dispatched",
        _ if t.processed_at.is_some() => "processed",
        _ => &t.state,
    }
}

async fn list(
    State(state): State<AppState>,
    v: Viewer,
    Query(q): Query<ListQuery>,
) -> Result<Response, WebError> {
    if v.addresses.is_empty() {
        return Ok(render(
            "mail_list.html",
            page! { nav => v.nav(), rows => Vec::<Row>::new(), no_address => true },
        )?
        .into_response());
    }
    let addr = v.address(q.address.as_deref())?;
    let folder = if q.folder.as_deref() == Some(SENT) {
        SENT
    } else {
        INBOX
    };
    let before = super::page_cursor(q.before.as_deref(), "this folder")?;
    let needle = q.q.as_deref().map(str::trim).unwrap_or("").to_lowercase();
    let since = q
        .since
        .as_deref()
        .filter(|s| !s.is_empty())
        .and_then(crate::clock::days_from_iso_date);
    let until = q
        .until
        .as_deref()
        .filter(|s| !s.is_empty())
        .and_then(crate::clock::days_from_iso_date);
    let bad_date = (q.since.as_deref().is_some_and(|s| !s.is_empty()) && since.is_none())
        || (q.until.as_deref().is_some_and(|s| !s.is_empty()) && until.is_none());
    let wanted = |m: &MailSummary| {
        let day = m.date.div_euclid(86_400);
        (needle.is_empty()
            || m.from.to_lowercase().contains(&needle)
            || m.subject.to_lowercase().contains(&needle))
            && since.is_none_or(|s| day >= s)
            && until.is_none_or(|u| day <= u)
    };
    // Subjects are sealed, so a search reads the folder (newest first, a
    // chunk at a time from the listing index) until a page is full, and one
    // match more says whether there is an older page.
    let mut rows = Vec::new();
    let mut older = None;
    let mut cursor = before;
    // Without a search, one row more than a page is all there is to read.
    let searching = !needle.is_empty() || since.is_some() || until.is_some();
    let chunk_rows = if searching { CHUNK } else { PAGE + 1 };
    let sealer = state.hisp.store.sealer();
    let mut conn = state.hisp.conn().await?;
    let mailbox_id = addresses::get(&mut conn, &addr.address).await?.id;
    'read: loop {
        let page = mailbox::Page {
            before: cursor,
            limit: Some(i64::try_from(chunk_rows).unwrap_or(i64::MAX)),
        };
        let chunk = mailbox::list(&mut conn, sealer, mailbox_id, folder, page).await?;
        let last = chunk.len() < chunk_rows;
        for m in chunk {
            cursor = Some(m.id);
            if !wanted(&m) {
                continue;
            }
            if rows.len() == PAGE {
                older = rows.last().map(|r: &Row| r.summary.id);
                break 'read;
            }
            let recipients = match (&m.message_id, folder) {
                (Some(id), SENT) => tracking::by_message(&mut conn, sealer, id)
                    .await?
                    .iter()
                    .map(Recipient::from)
                    .collect(),
                _ => Vec::new(),
            };
            rows.push(Row {
                summary: m,
                recipients,
            });
        }
        if last {
            break;
        }
    }
    let unread = mailbox::unseen(&mut conn, mailbox_id, folder).await?;
    drop(conn);
    let page = render(
        "mail_list.html",
        page! {
            nav => v.nav(),
            address => addr.address.to_string(),
            folder => folder,
            rows => rows,
            unread => unread,
            q => q.q.unwrap_or_default(),
            since => q.since.unwrap_or_default(),
            until => q.until.unwrap_or_default(),
            bad_date => bad_date,
            sent => q.sent,
            older => older,
            before => before,
            paged => before.is_some(),
        },
    )?;
    Ok((NO_STORE, page).into_response())
}

/// The delivery states of the sent folder, for the page's live update:
/// `{ "<message-id>": [ { address, state, detail } ] }`.
async fn status(
    State(state): State<AppState>,
    v: Viewer,
    Query(q): Query<ListQuery>,
) -> Result<Response, WebError> {
    let addr = v.address(q.address.as_deref())?;
    // The page the sent folder shows: its newest 100 below `before`.
    let shown = mailbox::Page {
        before: super::page_cursor(q.before.as_deref(), "this folder")?,
        limit: Some(i64::try_from(PAGE).unwrap_or(i64::MAX)),
    };
    let sent = state.hisp.mailbox_page(&addr.address, SENT, shown).await?;
    let mut out: BTreeMap<String, Vec<Recipient>> = BTreeMap::new();
    let mut conn = state.hisp.conn().await?;
    for m in &sent {
        if let Some(id) = &m.message_id {
            let rows = tracking::by_message(&mut conn, state.hisp.store.sealer(), id).await?;
            out.insert(id.clone(), rows.iter().map(Recipient::from).collect());
        }
    }
    Ok((NO_STORE, Json(out)).into_response())
}

/// Which mailbox a message is in.
#[derive(Debug, Deserialize)]
pub struct InAddress {
    address: Option<String>,
}

/// An attachment as the page lists it.
#[derive(Debug, Serialize)]
struct ShownAttachment {
    index: usize,
    name: String,
    content_type: String,
    size: usize,
    cda: Option<cda::CdaSummary>,
    cda_error: Option<String>,
}

async fn show(
    State(state): State<AppState>,
    v: Viewer,
    Path(id): Path<i64>,
    Query(q): Query<InAddress>,
) -> Result<Response, WebError> {
    let addr = v.address(q.address.as_deref())?;
    let (shown, raw) = state
        .hisp
        .mailbox_show(&addr.address, id, &v.user.username)
        .await?;
    // Sanitizing and C-CDA parsing are CPU work (bounded, but up to a few
    // hundred ms on hostile input): off the async threads.
    let listed = shown.attachments.clone();
    let (html_body, attachments) = tokio::task::spawn_blocking(move || render_parts(&raw, &listed))
        .await
        .map_err(|e| OpsError::Invalid(format!("rendering failed: {e}")))?;
    let header = |n: &str| {
        shown
            .headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(n))
            .map(|(_, v)| v.clone())
    };
    let page = render(
        "mail_show.html",
        page! {
            nav => v.nav(),
            address => addr.address.to_string(),
            m => &shown.summary,
            to => header("To"),
            cc => header("Cc"),
            text => &shown.text,
            html => html_body.map(minijinja::Value::from_safe_string),
            attachments => attachments,
        },
    )?;
    Ok((NO_STORE, page).into_response())
}

/// The sanitized HTML body (when the message has a text/html part) and the
/// attachments, C-CDA ones summarized.
fn render_parts(
    raw: &[u8],
    listed: &[crate::mailbox::Attachment],
) -> (Option<String>, Vec<ShownAttachment>) {
    let Some(m) = crate::direct::notice::parse(raw) else {
        return (None, Vec::new());
    };
    let html_body = m
        .html_body
        .first()
        .and_then(|i| m.parts.get(*i as usize))
        .filter(|part| {
            part.content_type()
                .is_some_and(|ct| ct.subtype().is_some_and(|s| s.eq_ignore_ascii_case("html")))
        })
        .and_then(|_| m.body_html(0).map(|h| html::sanitize(&h)));
    let attachments = m
        .attachments()
        .enumerate()
        .map(|(i, part)| {
            let entry = listed.get(i);
            let name = entry.map_or_else(|| format!("part-{}", i + 1), |a| a.name.clone());
            let ctype = entry.map_or_else(String::new, |a| a.content_type.clone());
            let data = part.contents();
            let (summary, err) = if cda::looks_like_cda(&ctype, &name, data) {
                match cda::summarize(data) {
                    Ok(s) => (Some(s), None),
                    Err(e) => (None, Some(e.to_string())),
                }
            } else {
                (None, None)
            };
            ShownAttachment {
                index: i,
                name,
                content_type: ctype,
                size: data.len(),
                cda: summary,
                cda_error: err,
            }
        })
        .collect();
    (html_body, attachments)
}

async fn attachment(
    State(state): State<AppState>,
    v: Viewer,
    Path((id, n)): Path<(i64, usize)>,
    Query(q): Query<InAddress>,
) -> Result<Response, WebError> {
    let addr = v.address(q.address.as_deref())?;
    let (shown, raw) = state
        .hisp
        .mailbox_show(&addr.address, id, &v.user.username)
        .await?;
    let parsed = crate::direct::notice::parse(&raw).ok_or(WebError::NotFound)?;
    let part = parsed.attachments().nth(n).ok_or(WebError::NotFound)?;
    let listed = shown.attachments.get(n).ok_or(WebError::NotFound)?;
    let mut tx = state.hisp.store.begin().await?;
    state
        .hisp
        .audit(
            &mut tx,
            &v.user.username,
            "mailbox.attachment",
            &addr.address.to_string(),
            &format!("message {id} attachment {n}"),
        )
        .await?;
    tx.commit().await?;
    let name: String = listed
        .name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || "._- ()".contains(c) {
                c
            } else {
                '_'
            }
        })
        .collect();
    // Served as a download, never rendered in our origin: HTML or SVG from a
    // stranger would otherwise run with the portal's cookies.
    let ctype = match listed.content_type.as_str() {
        t @ ("application/pdf" | "image/png" | "image/jpeg" | "image/gif" | "text/plain"
        | "application/xml" | "text/xml") => t.to_string(),
        _ => "application/octet-stream".to_string(),
    };
    Ok((
        [
            (header::CONTENT_TYPE, ctype),
            (
                header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"{name}\""),
            ),
            (header::CACHE_CONTROL, "no-store".to_string()),
        ],
        part.contents().to_vec(),
    )
        .into_response())
}

/// Compose's query: which mailbox, and the message replied to.
#[derive(Debug, Deserialize)]
pub struct ComposeQuery {
    address: Option<String>,
    reply: Option<i64>,
    to: Option<String>,
}

/// File types the portal lets a user attach.
pub const ATTACHABLE: &[&str] = &[
    "application/pdf",
    "application/xml",
    "image/png",
    "image/jpeg",
    "image/gif",
    "image/tiff",
    "text/plain",
];

async fn compose_page(
    State(state): State<AppState>,
    v: Viewer,
    Query(q): Query<ComposeQuery>,
) -> Result<Response, WebError> {
    let addr = v.address(q.address.as_deref())?;
    let (mut to, mut subject, mut body) = (q.to.unwrap_or_default(), String::new(), String::new());
    if let Some(id) = q.reply {
        let (shown, _) = state
            .hisp
            .mailbox_show(&addr.address, id, &v.user.username)
            .await?;
        to = shown.summary.from.clone();
        subject = if shown.summary.subject.to_lowercase().starts_with("re:") {
            shown.summary.subject.clone()
        } else {
            format!("Re: {}", shown.summary.subject)
        };
        body = format!(
            "\n\nOn {}, {} wrote:\n{}",
            crate::clock::rfc3339(shown.summary.date),
            shown.summary.from,
            shown
                .text
                .unwrap_or_default()
                .lines()
                .map(|l| format!("> {l}"))
                .collect::<Vec<_>>()
                .join("\n")
        );
    }
    compose_view(
        &state,
        &v,
        addr.address.to_string(),
        &to,
        &subject,
        &body,
        None,
        StatusCode::OK,
    )
    .await
}

#[allow(clippy::too_many_arguments)]
async fn compose_view(
    state: &AppState,
    v: &Viewer,
    from: String,
    to: &str,
    subject: &str,
    body: &str,
    error: Option<String>,
    status: StatusCode,
) -> Result<Response, WebError> {
    let book = address_book(state, v).await?;
    let page = render(
        "compose.html",
        page! {
            nav => v.nav(),
            sender => from,
            to => to,
            subject => subject,
            body => body,
            error => error,
            book => book,
            max_bytes => state.hisp.config.http.max_upload_bytes,
            attachable => "PDF, C-CDA or other XML, PNG, JPEG, GIF, TIFF, plain text",
        },
    )?;
    Ok((status, NO_STORE, page).into_response())
}

/// Local directory entries plus the user's contacts, for compose's suggestions.
#[derive(Debug, Serialize)]
struct BookEntry {
    name: String,
    address: String,
    local: bool,
    id: Option<i64>,
}

async fn address_book(state: &AppState, v: &Viewer) -> Result<Vec<BookEntry>, WebError> {
    let mut conn = state.hisp.conn().await?;
    let mut book: Vec<BookEntry> = st::contacts(&mut conn, v.user.id)
        .await?
        .into_iter()
        .map(|c| BookEntry {
            name: c.name,
            address: c.address,
            local: false,
            id: Some(c.id),
        })
        .collect();
    for a in addresses::list(&mut conn, None).await? {
        if a.enabled {
            book.push(BookEntry {
                name: a.display_name.clone().unwrap_or_default(),
                address: a.address.to_string(),
                local: true,
                id: None,
            });
        }
    }
    Ok(book)
}

/// Split a recipients field on commas, semicolons and whitespace.
fn recipients(text: &str) -> Result<Vec<DirectAddress>, String> {
    let mut out = Vec::new();
    for t in text
        .split(|c: char| c == ',' || c == ';' || c.is_whitespace())
        .filter(|t| !t.is_empty())
    {
        let t = t.trim_matches(|c| c == '<' || c == '>');
        match DirectAddress::parse(t) {
            Ok(a) if !out.contains(&a) => out.push(a),
            Ok(_) => {}
            Err(_) => {
                return Err(format!(
                    "'{t}' is not a Direct address. Write addresses like name@direct.example.org, separated by commas."
                ));
            }
        }
    }
    if out.is_empty() {
        return Err("Add at least one recipient's Direct address.".into());
    }
    Ok(out)
}

async fn compose_send(
    State(state): State<AppState>,
    v: Viewer,
    mut form: Multipart,
) -> Result<Response, WebError> {
    let limit = state.hisp.config.http.max_upload_bytes;
    let (mut csrf, mut from, mut to, mut subject, mut body) = (
        String::new(),
        String::new(),
        String::new(),
        String::new(),
        String::new(),
    );
    let mut files = Vec::new();
    let mut total = 0usize;
    let too_big = || {
        WebError::BadRequest(format!(
            "The attachments are larger than the limit of {} MB. Send fewer or smaller files.",
            limit / (1024 * 1024)
        ))
    };
    while let Some(field) = form.next_field().await.map_err(|e| {
        WebError::BadRequest(format!("The form could not be read ({e}). Try again."))
    })? {
        let name = field.name().unwrap_or_default().to_string();
        let file_name = field.file_name().map(str::to_string);
        let data = field.bytes().await.map_err(|e| {
            if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
                too_big()
            } else {
                WebError::BadRequest(format!("The form could not be read ({e}). Try again."))
            }
        })?;
        total += data.len();
        if total > limit {
            return Err(too_big());
        }
        let text = || String::from_utf8_lossy(&data).into_owned();
        match name.as_str() {
            "csrf" => csrf = text(),
            "from" => from = text(),
            "to" => to = text(),
            "subject" => subject = text(),
            "body" => body = text().replace("\r\n", "\n"),
            "attachment" => {
                if let Some(f) = file_name.filter(|f| !f.is_empty()) {
                    files.push((f, data.to_vec()));
                }
            }
            _ => {}
        }
    }
    v.check_csrf(&csrf)?;
    let sender = v.address(Some(&from))?;
    if !sender.enabled {
        return Err(WebError::BadRequest(format!(
            "{} is disabled and cannot send. Ask an administrator.",
            sender.address
        )));
    }
    let from_addr = sender.address.clone();
    let again = |msg: String| {
        compose_view(
            &state,
            &v,
            from_addr.to_string(),
            &to,
            &subject,
            &body,
            Some(msg),
            StatusCode::BAD_REQUEST,
        )
    };
    let rcpts = match recipients(&to) {
        Ok(r) => r,
        Err(msg) => return again(msg).await,
    };
    if subject.trim().is_empty() {
        return again("Add a subject. It travels inside the encrypted message.".into()).await;
    }
    let mut attachments = Vec::new();
    for (name, data) in files {
        let a = FileAttachment::from_file(&name, data);
        if !ATTACHABLE.contains(&a.content_type.as_str()) {
            return again(format!(
                "{name} is not a file type the portal sends. Attach PDF, XML (C-CDA), PNG, JPEG, GIF, TIFF or text files."
            ))
            .await;
        }
        attachments.push(a);
    }
    let draft = Draft {
        from: from_addr.clone(),
        to: rcpts.clone(),
        subject: subject.trim().to_string(),
        body,
        attachments,
    };
    let seed = crate::direct::notice::new_message_id(from_addr.domain(), state.hisp.now())
        .map_err(|e| OpsError::Invalid(e.to_string()))?;
    let message = compose::compose(&draft, state.hisp.now(), &seed);
    let done = state
        .gw
        .submit(&Submission {
            mail_from: &from_addr,
            rcpts: &rcpts,
            message: &message,
            actor: &v.user.username,
            sent_copy: true,
            final_delivery: FinalDelivery::Always,
        })
        .await?;
    state.gw.inbound_ready.notify_one();
    state.gw.outbound_ready.notify_one();
    let url = format!(
        "/mail?folder=sent&address={}&sent={}",
        crate::web::urlencode(&from_addr.to_string()),
        crate::web::urlencode(&done.message_id)
    );
    Ok(Redirect::to(&url).into_response())
}

async fn contacts(State(state): State<AppState>, v: Viewer) -> Result<Response, WebError> {
    let book = address_book(&state, &v).await?;
    Ok(render(
        "contacts.html",
        page! { nav => v.nav(), book => book, error => None::<String> },
    )?
    .into_response())
}

/// A new contact.
#[derive(Debug, Deserialize)]
pub struct NewContact {
    name: String,
    address: String,
    #[serde(default)]
    csrf: String,
}

async fn contact_add(
    State(state): State<AppState>,
    v: Viewer,
    Form(f): Form<NewContact>,
) -> Result<Response, WebError> {
    v.check_csrf(&f.csrf)?;
    let problem = match DirectAddress::parse(f.address.trim()) {
        Err(_) => Some(format!(
            "'{}' is not a Direct address. Write it like name@direct.example.org.",
            f.address.trim()
        )),
        Ok(a) => {
            let mut conn = state.hisp.conn().await?;
            let name = if f.name.trim().is_empty() {
                a.to_string()
            } else {
                f.name.trim().to_string()
            };
            match st::insert_contact(
                &mut conn,
                v.user.id,
                &name,
                &a.to_string(),
                state.hisp.now(),
            )
            .await
            {
                Ok(()) => None,
                Err(crate::store::StoreError::Duplicate(_)) => {
                    Some(format!("{a} is in your address book already."))
                }
                Err(e) => return Err(e.into()),
            }
        }
    };
    match problem {
        None => Ok(Redirect::to("/contacts").into_response()),
        Some(msg) => {
            let book = address_book(&state, &v).await?;
            let page = render(
                "contacts.html",
                page! { nav => v.nav(), book => book, error => msg },
            )?;
            Ok((StatusCode::BAD_REQUEST, page).into_response())
        }
    }
}

/// A form that only carries its CSRF token.
#[derive(Debug, Deserialize)]
pub struct CsrfOnly {
    #[serde(default)]
    csrf: String,
}

async fn contact_delete(
    State(state): State<AppState>,
    v: Viewer,
    Path(id): Path<i64>,
    Form(f): Form<CsrfOnly>,
) -> Result<Response, WebError> {
    v.check_csrf(&f.csrf)?;
    let mut conn = state.hisp.conn().await?;
    if !st::delete_contact(&mut conn, v.user.id, id).await? {
        return Err(WebError::NotFound);
    }
    Ok(Redirect::to("/contacts").into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recipients_split_and_dedupe() {
        let r = recipients("a@d.test, <b@d.test>; a@d.test\nc@d.test").expect("parses");
        assert_eq!(r.len(), 3);
        assert!(recipients("").is_err());
        assert!(recipients("not-an-address").is_err());
    }

    #[test]
    fn dates_parse() {
        use crate::clock::days_from_iso_date as day_of;
        assert_eq!(day_of("1970-01-02"), Some(1));
        assert_eq!(day_of("2026-13-01"), None);
        assert_eq!(day_of("2026-02-31"), None);
        assert_eq!(day_of("x"), None);
    }
}
