//! Mail through the API: send (JSON with base64 attachments, or multipart),
//! list a folder, read a message (audited, and without marking it read),
//! per-recipient delivery status, acknowledge (mark read) and delete
//! (audited). The same outbound path as the portal's compose:
//! `mailbox::compose` then `Gateway::submit`.

use axum::Json;
use axum::extract::{FromRequest, Multipart, Request, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::auth::Caller;
use super::extract::{self, ApiJson, ApiPath, ApiQuery};
use super::paging;
use super::problem::{Kind, Problem};
use crate::direct::DirectAddress;
use crate::direct::notice::{self, normalize_message_id};
use crate::mailbox::compose::{self, Draft, FileAttachment};
use crate::mailbox::{INBOX, SENT, info};
use crate::smtp::submit::{FinalDelivery, Submission};
use crate::store::tracking::{self, EventRow, TrackRow};
use crate::store::{addresses, mailbox};
use crate::web::{AppState, urlencode};

/// Longest subject accepted, in characters.
const MAX_SUBJECT: usize = 998;
/// Most recipients of one message.
const MAX_RECIPIENTS: usize = 100;

/// A message to send.
#[derive(Debug, Deserialize, ToSchema)]
pub struct SendMessage {
    /// The sender: an address this caller acts for.
    #[schema(example = "jo@direct.example.org", format = Email)]
    pub from: String,
    /// One or more Direct addresses.
    #[schema(example = json!(["sam@direct.example.org"]), min_items = 1, max_items = 100)]
    pub to: Vec<String>,
    /// The subject (it travels inside the encrypted message).
    #[schema(example = "Referral", min_length = 1, max_length = 998)]
    pub subject: String,
    /// The text body.
    #[serde(default)]
    pub body: String,
    /// Files to attach.
    #[serde(default)]
    pub attachments: Vec<NewAttachment>,
}

/// A file to attach, base64 encoded.
#[derive(Debug, Deserialize, ToSchema)]
pub struct NewAttachment {
    /// The file name the recipient sees.
    #[schema(min_length = 1, max_length = 255)]
    pub name: String,
    /// Its MIME type; by default, from the name's extension.
    pub content_type: Option<String>,
    /// The bytes, base64 (RFC 4648; line breaks allowed).
    #[schema(content_encoding = "base64")]
    pub data_base64: String,
}

/// The same message as `multipart/form-data`.
#[derive(Debug, ToSchema)]
#[allow(dead_code)]
pub struct SendForm {
    /// The sender.
    from: String,
    /// Recipients: repeat the field, or separate addresses with commas.
    to: Vec<String>,
    /// The subject.
    subject: String,
    /// The text body.
    body: Option<String>,
    /// Files, each with its file name (its part's Content-Type is kept).
    #[schema(value_type = Option<Vec<String>>, format = Binary)]
    attachment: Option<Vec<Vec<u8>>>,
}

/// What became of a sent message.
#[derive(Debug, Serialize, ToSchema)]
pub struct Sent {
    /// The Message-ID it carries; ask `/api/v1/messages/{message_id}/status`.
    pub message_id: String,
    /// Recipients queued for delivery.
    pub queued: Vec<String>,
    /// Recipients refused at once.
    pub rejected: Vec<Rejected>,
}

/// A recipient refused at submission.
#[derive(Debug, Serialize, ToSchema)]
pub struct Rejected {
    /// The address.
    pub address: String,
    /// The enhanced status code (5.7.31: no certificate; 5.7.11: none usable).
    pub status: String,
    /// Why.
    pub reason: String,
}

/// Send a message.
///
/// Accepted for delivery (202): each recipient's progress is at the status
/// URL in `Location`. A copy is filed in the sender's `sent` folder.
#[utoipa::path(
    post, path = "/api/v1/messages", tag = "messages", operation_id = "send_message",
    request_body(content(
        (SendMessage = "application/json"),
        (SendForm = "multipart/form-data"),
    )),
    responses(
        (status = 202, description = "Queued", body = Sent,
            headers(("location" = String, description = "The delivery status URL"))),
    )
)]
pub async fn send(
    State(state): State<AppState>,
    caller: Caller,
    req: Request,
) -> Result<Response, Problem> {
    let limit = state.hisp.config.http.max_upload_bytes;
    let msg = match extract::media_type(&req).as_str() {
        "application/json" => {
            let ApiJson(m) = ApiJson::<SendMessage>::from_request(req, &state).await?;
            decode(m, limit)?
        }
        "multipart/form-data" => {
            let form = Multipart::from_request(req, &state)
                .await
                .map_err(|e| Problem::rejection(e.status(), e.body_text()))?;
            read_form(form, limit).await?
        }
        _ => {
            return Err(extract::unsupported(
                "application/json or multipart/form-data",
            ));
        }
    };
    let from = DirectAddress::parse(msg.from.trim())
        .map_err(|e| Problem::field("from", e))?
        .to_string();
    let from = caller.mailbox(&state, Some(&from)).await?;
    let draft = draft(&state, from, msg).await?;
    let seed =
        notice::new_message_id(draft.from.domain(), state.hisp.now()).map_err(Problem::internal)?;
    let message = compose::compose(&draft, state.hisp.now(), &seed);
    let done = state
        .gw
        .submit(&Submission {
            mail_from: &draft.from,
            rcpts: &draft.to,
            message: &message,
            actor: &caller.actor,
            sent_copy: true,
            final_delivery: FinalDelivery::Always,
        })
        .await?;
    state.gw.inbound_ready.notify_one();
    state.gw.outbound_ready.notify_one();
    let location = format!(
        "/api/v1/messages/{}/status",
        crate::web::urlencode(&done.message_id)
    );
    let body = Sent {
        message_id: done.message_id,
        queued: done.queued,
        rejected: done
            .rejected
            .into_iter()
            .map(|(address, status, reason)| Rejected {
                address,
                status,
                reason,
            })
            .collect(),
    };
    Ok((
        StatusCode::ACCEPTED,
        [(header::LOCATION, location)],
        Json(body),
    )
        .into_response())
}

/// A send request whichever way it came, attachments decoded.
#[derive(Debug)]
struct Outgoing {
    from: String,
    to: Vec<String>,
    subject: String,
    body: String,
    attachments: Vec<FileAttachment>,
}

/// The JSON request with its attachments decoded (422 for bad base64, 413
/// beyond `limit` bytes in all).
fn decode(m: SendMessage, limit: usize) -> Result<Outgoing, Problem> {
    let mut attachments = Vec::new();
    let mut total = 0usize;
    for (i, a) in m.attachments.into_iter().enumerate() {
        let data = crate::direct::smime::mime::base64_decode(a.data_base64.as_bytes()).ok_or_else(
            || Problem::field(&format!("attachments[{i}].data_base64"), "is not base64"),
        )?;
        total += data.len();
        if total > limit {
            return Err(too_big(limit));
        }
        attachments.push(attachment(i, &a.name, a.content_type.as_deref(), data)?);
    }
    Ok(Outgoing {
        from: m.from,
        to: m.to,
        subject: m.subject,
        body: m.body,
        attachments,
    })
}

/// Check the request and build the draft: an enabled sender, Direct
/// recipients, a one-line subject.
async fn draft(state: &AppState, from: DirectAddress, msg: Outgoing) -> Result<Draft, Problem> {
    let row = {
        let mut conn = state.hisp.conn().await?;
        addresses::get(&mut conn, &from).await?
    };
    if !row.enabled {
        return Err(Problem::new(
            Kind::Conflict,
            format!("{from} is disabled and cannot send. Ask an administrator."),
        ));
    }
    let to = recipients(&msg.to)?;
    let subject = msg.subject.trim();
    if subject.is_empty() || subject.chars().count() > MAX_SUBJECT {
        return Err(Problem::field(
            "subject",
            format!("give a subject of 1 to {MAX_SUBJECT} characters"),
        ));
    }
    if subject.chars().any(char::is_control) {
        return Err(Problem::field(
            "subject",
            "must be one line with no control characters",
        ));
    }
    Ok(Draft {
        from,
        to,
        subject: subject.to_string(),
        body: msg.body.replace("\r\n", "\n"),
        attachments: msg.attachments,
    })
}

fn too_big(limit: usize) -> Problem {
    Problem::new(
        Kind::PayloadTooLarge,
        format!(
            "The attachments are larger than the limit of {limit} bytes. Send fewer or smaller files."
        ),
    )
}

/// Parse and de-duplicate recipients; a field may hold several, separated by
/// commas, semicolons or white space.
fn recipients(fields: &[String]) -> Result<Vec<DirectAddress>, Problem> {
    let mut out: Vec<DirectAddress> = Vec::new();
    for t in fields
        .iter()
        .flat_map(|f| f.split(|c: char| c == ',' || c == ';' || c.is_whitespace()))
        .map(|t| t.trim_matches(|c| c == '<' || c == '>'))
        .filter(|t| !t.is_empty())
    {
        let a = DirectAddress::parse(t).map_err(|e| Problem::field("to", e))?;
        if !out.contains(&a) {
            out.push(a);
        }
    }
    if out.is_empty() {
        return Err(Problem::field("to", "give at least one Direct address"));
    }
    if out.len() > MAX_RECIPIENTS {
        return Err(Problem::field(
            "to",
            format!("at most {MAX_RECIPIENTS} recipients per message"),
        ));
    }
    Ok(out)
}

/// One attachment, its name and type checked (they become MIME header fields).
fn attachment(
    i: usize,
    name: &str,
    content_type: Option<&str>,
    data: Vec<u8>,
) -> Result<FileAttachment, Problem> {
    let name = name.trim();
    if name.is_empty() || name.chars().count() > 255 || name.chars().any(char::is_control) {
        return Err(Problem::field(
            &format!("attachments[{i}].name"),
            "give a file name of 1 to 255 characters with no control characters",
        ));
    }
    let mut a = FileAttachment::from_file(name, data);
    if let Some(ct) = content_type.map(str::trim).filter(|c| !c.is_empty()) {
        if !is_media_type(ct) {
            return Err(Problem::field(
                &format!("attachments[{i}].content_type"),
                "must be a MIME type like application/pdf",
            ));
        }
        a.content_type = ct.to_ascii_lowercase();
    }
    Ok(a)
}

/// `type/subtype` made of RFC 6838 restricted-name characters.
fn is_media_type(s: &str) -> bool {
    let ok = |p: &str| {
        !p.is_empty()
            && p.len() <= 127
            && p.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"!#$&-^_.+".contains(&b))
    };
    s.split_once('/').is_some_and(|(t, st)| ok(t) && ok(st))
}

/// Read the multipart form.
async fn read_form(mut form: Multipart, limit: usize) -> Result<Outgoing, Problem> {
    let bad = |e: axum::extract::multipart::MultipartError| {
        if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
            too_big(limit)
        } else {
            Problem::new(
                Kind::MalformedBody,
                format!("The form could not be read: {e}"),
            )
        }
    };
    let mut msg = Outgoing {
        from: String::new(),
        to: Vec::new(),
        subject: String::new(),
        body: String::new(),
        attachments: Vec::new(),
    };
    let mut total = 0usize;
    while let Some(field) = form.next_field().await.map_err(bad)? {
        let name = field.name().unwrap_or_default().to_string();
        let file_name = field.file_name().map(str::to_string);
        // A browser labels what it does not know as octet-stream: the name says more.
        let ctype = field
            .content_type()
            .filter(|c| *c != "application/octet-stream")
            .map(str::to_string);
        let data = field.bytes().await.map_err(bad)?;
        total += data.len();
        if total > limit {
            return Err(too_big(limit));
        }
        let text = || String::from_utf8_lossy(&data).into_owned();
        match name.as_str() {
            "from" => msg.from = text(),
            "to" => msg.to.push(text()),
            "subject" => msg.subject = text(),
            "body" => msg.body = text(),
            "attachment" | "attachments" => {
                let i = msg.attachments.len();
                let name = file_name.filter(|n| !n.trim().is_empty()).ok_or_else(|| {
                    Problem::field(&format!("attachment[{i}]"), "give the file a name")
                })?;
                msg.attachments
                    .push(attachment(i, &name, ctype.as_deref(), data.to_vec())?);
            }
            _ => {}
        }
    }
    Ok(msg)
}

/// Which mailbox and folder.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ListQuery {
    /// The mailbox; may be left out by a caller acting for one address.
    #[param(example = "jo@direct.example.org", format = Email)]
    pub address: Option<String>,
    /// `inbox` (default) or `sent`.
    #[param(inline)]
    pub folder: Option<Folder>,
    /// At most this many messages, 1 to 1000 (100 when left out).
    #[param(minimum = 1, maximum = 1000, example = 100)]
    pub limit: Option<i64>,
    /// Only messages older than this one (a message id). The `Link` header of
    /// a full page gives the next page's URL.
    #[param(minimum = 1, example = 1234)]
    pub before: Option<i64>,
}

/// A mailbox folder.
#[derive(Debug, Clone, Copy, Deserialize, Serialize, ToSchema, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum Folder {
    /// Received mail.
    Inbox,
    /// Copies of what was sent.
    Sent,
}

impl Folder {
    fn as_str(self) -> &'static str {
        match self {
            Folder::Inbox => INBOX,
            Folder::Sent => SENT,
        }
    }
}

/// A listed message.
#[derive(Debug, Serialize, ToSchema)]
pub struct MessageSummary {
    /// Its id in this mailbox.
    pub id: i64,
    /// Its Message-ID.
    pub message_id: Option<String>,
    /// Its Date (Unix seconds).
    pub date: i64,
    /// The sender.
    pub from: String,
    /// The subject.
    pub subject: String,
    /// Read already.
    pub seen: bool,
    /// Size in bytes.
    pub size: i64,
    /// `inbox` or `sent`.
    pub folder: String,
}

impl From<crate::store::mailbox::MailSummary> for MessageSummary {
    fn from(m: crate::store::mailbox::MailSummary) -> Self {
        Self {
            id: m.id,
            message_id: m.message_id,
            date: m.date,
            from: m.from,
            subject: m.subject,
            seen: m.seen,
            size: m.size,
            folder: m.folder,
        }
    }
}

/// List a folder, newest first, a page at a time.
#[utoipa::path(
    get, path = "/api/v1/messages", tag = "messages", operation_id = "list_messages", params(ListQuery),
    responses((status = 200, description = "A page of the folder, newest first", body = [MessageSummary],
        headers(("Link" = String, description = "When the page is full: `<URL>; rel=\"next\"`, the next (older) page (RFC 8288)"))))
)]
pub async fn list(
    State(state): State<AppState>,
    caller: Caller,
    ApiQuery(q): ApiQuery<ListQuery>,
) -> Result<Response, Problem> {
    let limit = paging::limit(q.limit, q.before, "a message id")?;
    let addr = caller.mailbox(&state, q.address.as_deref()).await?;
    let folder = q.folder.unwrap_or(Folder::Inbox);
    let page = mailbox::Page {
        before: q.before,
        limit: Some(limit),
    };
    let rows = state
        .hisp
        .mailbox_page(&addr, folder.as_str(), page)
        .await?;
    let rows: Vec<MessageSummary> = rows.into_iter().map(MessageSummary::from).collect();
    let query = vec![
        format!("address={}", urlencode(&addr.to_string())),
        format!("folder={}", folder.as_str()),
    ];
    Ok(paging::respond(
        rows,
        limit,
        |m| m.id,
        "/api/v1/messages",
        query,
    ))
}

/// Which mailbox a message is in.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct InMailbox {
    /// The mailbox; may be left out by a caller acting for one address.
    #[param(example = "jo@direct.example.org", format = Email)]
    pub address: Option<String>,
}

/// A message, opened.
#[derive(Debug, Serialize, ToSchema)]
pub struct Message {
    /// What the list shows.
    #[serde(flatten)]
    pub summary: MessageSummary,
    /// Every header field, in order, unfolded.
    pub headers: Vec<HeaderField>,
    /// The text body, if any.
    pub text: Option<String>,
    /// The attachments, with their bytes.
    pub attachments: Vec<AttachmentData>,
}

/// One header field.
#[derive(Debug, Serialize, ToSchema)]
pub struct HeaderField {
    /// Field name.
    pub name: String,
    /// Field value.
    pub value: String,
}

/// An attachment with its bytes.
#[derive(Debug, Serialize, ToSchema)]
pub struct AttachmentData {
    /// File name, or `part-N`.
    pub name: String,
    /// MIME type.
    pub content_type: String,
    /// Decoded size in bytes.
    pub size: i64,
    /// The bytes, base64.
    #[schema(content_encoding = "base64")]
    pub data_base64: String,
}

/// Read a message (audited as a view of PHI; it is not marked read: use `ack`).
#[utoipa::path(
    get, path = "/api/v1/messages/{id}", tag = "messages", operation_id = "get_message",
    params(("id" = i64, Path, description = "The message's id in the mailbox", example = 1), InMailbox),
    responses((status = 200, description = "The message", body = Message))
)]
pub async fn show(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<i64>,
    ApiQuery(q): ApiQuery<InMailbox>,
) -> Result<Json<Message>, Problem> {
    let addr = caller.mailbox(&state, q.address.as_deref()).await?;
    let mut tx = state.hisp.store.begin().await?;
    let row = addresses::get(&mut tx, &addr).await?;
    let (summary, raw) = match mailbox::get(&mut tx, state.hisp.store.sealer(), row.id, id).await {
        Ok(found) => found,
        Err(crate::store::StoreError::NotFound(_)) => return Err(Problem::not_found("message")),
        Err(e) => return Err(e.into()),
    };
    state
        .hisp
        .audit(
            &mut tx,
            &caller.actor,
            "mailbox.view",
            &addr.to_string(),
            &format!("message {id}"),
        )
        .await?;
    tx.commit().await?;
    let shown = info::show(summary, &raw);
    let parts: Vec<Vec<u8>> = notice::parse(&raw)
        .map(|m| m.attachments().map(|p| p.contents().to_vec()).collect())
        .unwrap_or_default();
    let attachments = shown
        .attachments
        .iter()
        .zip(parts)
        .map(|(a, data)| AttachmentData {
            name: a.name.clone(),
            content_type: a.content_type.clone(),
            size: i64::try_from(data.len()).unwrap_or(i64::MAX),
            data_base64: crate::direct::compose::base64(&data),
        })
        .collect();
    Ok(Json(Message {
        summary: shown.summary.into(),
        headers: shown
            .headers
            .into_iter()
            .map(|(name, value)| HeaderField { name, value })
            .collect(),
        text: shown.text,
        attachments,
    }))
}

/// A message's delivery, per recipient.
#[derive(Debug, Serialize, ToSchema)]
pub struct Status {
    /// The Message-ID.
    pub message_id: String,
    /// Each recipient's progress.
    pub recipients: Vec<RecipientStatus>,
}

/// One recipient's progress.
#[derive(Debug, Serialize, ToSchema)]
pub struct RecipientStatus {
    /// The recipient.
    pub recipient: String,
    /// The sender.
    pub sender: String,
    /// queued, sent, processed, dispatched, delivered, failed or expired.
    pub state: String,
    /// The final outcome once known: delivered, failed or expired.
    pub final_outcome: Option<String>,
    /// Why, for failures.
    pub detail: Option<String>,
    /// Queued at (Unix seconds).
    pub created_at: i64,
    /// Handed to the next hop.
    pub sent_at: Option<i64>,
    /// Processed MDN received.
    pub processed_at: Option<i64>,
    /// Dispatched MDN received.
    pub dispatched_at: Option<i64>,
    /// Final outcome decided.
    pub final_at: Option<i64>,
    /// No final outcome by then is a failure.
    pub deadline: Option<i64>,
    /// Every notice and step recorded.
    pub events: Vec<StatusEvent>,
}

/// A notice or step.
#[derive(Debug, Serialize, ToSchema)]
pub struct StatusEvent {
    /// When (Unix seconds).
    pub at: i64,
    /// sent, processed, dispatched, failed, dsn, expired, retry…
    pub event: String,
    /// Status or server reply.
    pub detail: Option<String>,
    /// Recorded but not acted on (late or duplicate).
    pub suppressed: bool,
}

impl RecipientStatus {
    fn new(t: TrackRow, events: Vec<EventRow>) -> Self {
        Self {
            recipient: t.recipient,
            sender: t.sender,
            state: t.final_outcome.clone().unwrap_or(t.state),
            final_outcome: t.final_outcome,
            detail: t.detail,
            created_at: t.created_at,
            sent_at: t.sent_at,
            processed_at: t.processed_at,
            dispatched_at: t.dispatched_at,
            final_at: t.final_at,
            deadline: t.deadline,
            events: events
                .into_iter()
                .map(|e| StatusEvent {
                    at: e.at,
                    event: e.event,
                    detail: e.detail,
                    suppressed: e.suppressed,
                })
                .collect(),
        }
    }
}

/// Each recipient's delivery state (a message this caller sent).
#[utoipa::path(
    get, path = "/api/v1/messages/{message_id}/status", tag = "messages", operation_id = "message_status",
    params(("message_id" = String, Path,
        description = "The Message-ID, with or without its angle brackets, percent-encoded")),
    responses((status = 200, description = "Per-recipient tracking", body = Status))
)]
pub async fn status(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(message_id): ApiPath<String>,
) -> Result<Json<Status>, Problem> {
    let id = normalize_message_id(&message_id).ok_or_else(|| Problem::not_found("message"))?;
    let mut conn = state.hisp.conn().await?;
    let rows = tracking::by_message(&mut conn, state.hisp.store.sealer(), &id).await?;
    let mut recipients = Vec::new();
    for t in rows {
        let visible = DirectAddress::parse(&t.sender).is_ok_and(|s| caller.may_mail(&s));
        if visible {
            let events = tracking::events(&mut conn, t.id).await?;
            recipients.push(RecipientStatus::new(t, events));
        }
    }
    if recipients.is_empty() {
        return Err(Problem::not_found("message"));
    }
    Ok(Json(Status {
        message_id: id,
        recipients,
    }))
}

/// Mark a message read.
#[utoipa::path(
    post, path = "/api/v1/messages/{id}/ack", tag = "messages", operation_id = "ack_message",
    params(("id" = i64, Path, description = "The message's id in the mailbox", example = 1), InMailbox),
    responses((status = 204, description = "Marked read"))
)]
pub async fn ack(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<i64>,
    ApiQuery(q): ApiQuery<InMailbox>,
) -> Result<StatusCode, Problem> {
    change(&state, &caller, id, q.address.as_deref(), Change::Ack).await
}

/// Delete a message from the mailbox (audited).
#[utoipa::path(
    delete, path = "/api/v1/messages/{id}", tag = "messages", operation_id = "delete_message",
    params(("id" = i64, Path, description = "The message's id in the mailbox", example = 1), InMailbox),
    responses((status = 204, description = "Deleted"))
)]
pub async fn delete(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<i64>,
    ApiQuery(q): ApiQuery<InMailbox>,
) -> Result<StatusCode, Problem> {
    change(&state, &caller, id, q.address.as_deref(), Change::Delete).await
}

/// What `ack` and `delete` do to one message.
#[derive(Debug, Clone, Copy)]
enum Change {
    Ack,
    Delete,
}

/// Apply a change to one message of a mailbox the caller acts for, audited in
/// the same transaction; 404 when the mailbox has no such message.
async fn change(
    state: &AppState,
    caller: &Caller,
    id: i64,
    address: Option<&str>,
    change: Change,
) -> Result<StatusCode, Problem> {
    let addr = caller.mailbox(state, address).await?;
    let mut tx = state.hisp.store.begin().await?;
    let row = addresses::get(&mut tx, &addr).await?;
    let (done, action) = match change {
        Change::Ack => (
            mailbox::set_seen(&mut tx, row.id, id, true).await?,
            "mailbox.ack",
        ),
        Change::Delete => (
            mailbox::delete(&mut tx, row.id, id).await?,
            "mailbox.delete",
        ),
    };
    if !done {
        return Err(Problem::not_found("message"));
    }
    state
        .hisp
        .audit(
            &mut tx,
            &caller.actor,
            action,
            &addr.to_string(),
            &format!("message {id}"),
        )
        .await?;
    tx.commit().await?;
    Ok(StatusCode::NO_CONTENT)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recipients_split_dedupe_and_refuse_garbage() {
        let r = recipients(&["a@d.test, <b@d.test>; a@d.test".into(), "c@d.test".into()])
            .expect("parses");
        assert_eq!(r.len(), 3);
        assert!(recipients(&[]).is_err());
        assert!(recipients(&["not-an-address".into()]).is_err());
    }

    #[test]
    fn media_types_cannot_smuggle_header_fields() {
        assert!(is_media_type("application/hl7-v3+xml"));
        assert!(!is_media_type("text/plain\r\nBcc: x@y.test"));
        assert!(!is_media_type("text/plain; charset=utf-8"));
        assert!(!is_media_type("pdf"));
    }
}
