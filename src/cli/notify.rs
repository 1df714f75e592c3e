//! `hisp feed`, `hisp roster`, `hisp consent`, `hisp alert` and `hisp adt send`:
//! encounter notification from the console.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use clap::{Args, Subcommand};
use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::{CLI_ACTOR, CliError, Output};
use crate::clock::rfc3339;
use crate::direct::DirectAddress;
use crate::hl7::{self, Framer};
use crate::notify::allow::Allowed;
use crate::notify::pins::CertPins;
use crate::notify::review::Decided;
use crate::ops::{Hisp, OpsError};
use crate::store::notify::{self, StoredPatient};

/// `hisp feed …`
#[derive(Debug, Subcommand)]
pub enum FeedCmd {
    /// Register a sending facility (MSH-4.1) whose ADT messages are accepted.
    Add {
        /// MSH-4.1 as the hospital sends it (MSH-4.2, the OID, when the
        /// hospital leaves MSH-4.1 empty).
        #[arg(long)]
        facility: String,
        /// A display name for alerts (default: the facility).
        #[arg(long)]
        name: Option<String>,
        /// A 42 CFR Part 2 program or behavioral health facility: alerts only with consent.
        #[arg(long)]
        sensitive: bool,
        /// Take its messages only from this address or network (CIDR:
        /// `192.0.2.0/24`, `2001:db8::/48`); repeat, or separate with
        /// commas. Without it, from any address that reaches the port.
        #[arg(long = "allow-from", value_name = "CIDR")]
        allow_from: Vec<String>,
        /// Take its messages only over MLLP/TLS from a client presenting
        /// this certificate (a PEM file: the interface engine's own
        /// certificate; its first, if a chain); repeat for several.
        #[arg(long = "client-cert", value_name = "PEM")]
        client_cert: Vec<PathBuf>,
    },
    /// Set the addresses a registered feed's messages may come from.
    Allow {
        /// The feed's facility, as registered.
        #[arg(long)]
        facility: String,
        /// An address or network (CIDR) its messages may come from; repeat,
        /// or separate with commas. Replaces the list it had.
        #[arg(long = "from", value_name = "CIDR", required_unless_present = "any")]
        from: Vec<String>,
        /// Take its messages from any address again.
        #[arg(long, conflicts_with = "from")]
        any: bool,
    },
    /// Set the client certificates a registered feed's messages may come
    /// over (MLLP over TLS, `[mllp] tls = true`).
    Pin {
        /// The feed's facility, as registered.
        #[arg(long)]
        facility: String,
        /// The engine's certificate, a PEM file; repeat for several (an
        /// engine's next certificate beside its current one).
        #[arg(long = "cert", value_name = "PEM", required_unless_present_any = ["fingerprint", "none"])]
        cert: Vec<PathBuf>,
        /// A certificate's SHA-256 fingerprint, as `openssl x509 -noout
        /// -fingerprint -sha256` prints it; repeat, or separate with commas.
        #[arg(long, value_name = "SHA256")]
        fingerprint: Vec<String>,
        /// Take its messages from any client again, with or without a
        /// certificate.
        #[arg(long, conflicts_with_all = ["cert", "fingerprint"])]
        none: bool,
    },
    /// List feeds.
    List {
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
}

/// `hisp roster …`
#[derive(Debug, Subcommand)]
pub enum RosterCmd {
    /// Import a CSV panel for a subscriber.
    Import {
        /// The CSV file.
        file: PathBuf,
        /// The subscriber's Direct address.
        #[arg(long)]
        owner: String,
        /// Replace the owner's whole roster.
        #[arg(long)]
        replace: bool,
        /// All or nothing: any problem applies no row.
        #[arg(long)]
        strict: bool,
    },
    /// How a subscriber gets alerts: each in real time (the default), or
    /// filed in the worklist and sent once a day as a digest.
    Delivery {
        /// The subscriber's Direct address.
        #[arg(long)]
        owner: String,
        /// realtime or digest.
        #[arg(long, value_parser = ["realtime", "digest"])]
        mode: String,
    },
    /// List roster entries.
    List {
        /// One subscriber only.
        #[arg(long)]
        owner: Option<String>,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
}

/// Who a consent decision is about.
#[derive(Debug, Args)]
pub struct PatientArgs {
    /// The patient identifier (CX.1).
    #[arg(long)]
    patient_id: Option<String>,
    /// Its assigning authority (CX.4).
    #[arg(long)]
    authority: Option<String>,
    /// Family name (with --given, --birth-date, --sex).
    #[arg(long)]
    family: Option<String>,
    /// Given name.
    #[arg(long)]
    given: Option<String>,
    /// YYYYMMDD or YYYY-MM-DD.
    #[arg(long)]
    birth_date: Option<String>,
    /// M, F, O or U, or A, N or X (HL7 table 0001) as the roster has it.
    #[arg(long)]
    sex: Option<char>,
}

/// `hisp consent …`
#[derive(Debug, Subcommand)]
pub enum ConsentCmd {
    /// The patient wants no notifications.
    OptOut(PatientArgs),
    /// The patient consents (also to sensitive sources); clears an opt-out.
    OptIn(PatientArgs),
    /// Every decision.
    List {
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
}

/// `hisp alert …`
#[derive(Debug, Subcommand)]
pub enum AlertCmd {
    /// Move an alert along the worklist.
    Status {
        /// The alert id from `alert list`.
        id: i64,
        /// new, in-progress or completed.
        #[arg(value_parser = ["new", "in-progress", "completed"])]
        status: String,
    },
    /// Near-miss patient matches waiting for a person (no alert went out),
    /// each with the patient as the ADT named them and the roster entry.
    Reviews {
        /// Decided ones too.
        #[arg(long)]
        all: bool,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Decide a near-miss match: --confirm sends the held-back alert to the
    /// roster entry's owner; --reject closes it. --undo-distinct takes back
    /// what confirming a held one recorded.
    #[command(group(
        clap::ArgGroup::new("decision")
            .required(true)
            .multiple(false)
            .args(["confirm", "reject", "undo_distinct"])
    ))]
    Review {
        /// The review id from `alert reviews`.
        id: i64,
        /// The ADT patient is the roster entry's patient.
        #[arg(long)]
        confirm: bool,
        /// They are different people.
        #[arg(long)]
        reject: bool,
        /// For a confirmed review that an opted-out near miss held: its
        /// entry and the near misses may be one person after all, so their
        /// opt-outs withhold its alerts again.
        #[arg(long)]
        undo_distinct: bool,
    },
    /// Send the daily digests now (every digest subscriber's unsent alerts).
    Digest,
    /// The worklist.
    List {
        /// One subscriber only.
        #[arg(long)]
        subscriber: Option<String>,
        /// Only alerts whose Direct message was not delivered (DELIVERY
        /// failed or expired).
        #[arg(long)]
        undelivered: bool,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
}

/// `hisp adt send FILE --to HOST:PORT`
#[derive(Debug, Subcommand)]
pub enum AdtCmd {
    /// Send the messages of an HL7 file over MLLP, one at a time, and print
    /// each ACK; fails unless every ACK is AA or CA.
    Send {
        /// The ER7 file: one message or several, each beginning with its MSH
        /// segment (CR, LF or CRLF between segments; MLLP framing removed).
        file: PathBuf,
        /// The MLLP listener, HOST:PORT (a host name or an address).
        #[arg(long)]
        to: String,
        /// MLLP over TLS (for a listener with `[mllp] tls = true`). The
        /// server's certificate must chain to a trusted CA and name HOST.
        #[arg(long)]
        tls: bool,
        /// With --tls: trust only the CA certificates in this PEM file (the
        /// system's roots are then not trusted).
        #[arg(long, requires = "tls")]
        ca: Option<PathBuf>,
        /// With --tls: the name the server's certificate must carry, instead
        /// of HOST (an address is matched against the certificate's IP
        /// addresses, a name against its DNS names).
        #[arg(long, requires = "tls")]
        server_name: Option<String>,
        /// With --tls: present this client certificate (PEM; a chain after
        /// it is sent too), for a feed that pins it (`feed pin`).
        #[arg(long, requires_all = ["tls", "client_key"], value_name = "PEM")]
        client_cert: Option<PathBuf>,
        /// With --client-cert: its private key (PEM).
        #[arg(long, requires = "client_cert", value_name = "PEM")]
        client_key: Option<PathBuf>,
    },
}

/// Run a feed command.
pub async fn feed(hisp: Hisp, cmd: FeedCmd, out: &mut Output) -> Result<(), CliError> {
    match cmd {
        FeedCmd::Add {
            facility,
            name,
            sensitive,
            allow_from,
            client_cert,
        } => {
            let allow = Allowed::parse(&allow_from).map_err(OpsError::Invalid)?;
            // `--allow-from "$ENGINE_IP"` with the variable unset must not
            // register a feed open to every address.
            if allow.is_any() && !allow_from.is_empty() {
                return Err(OpsError::Invalid(
                    "--allow-from needs an address or network (CIDR); leave it out to take \
                     messages from any address"
                        .into(),
                )
                .into());
            }
            let pins = read_pins(&client_cert, &[])?;
            let name = name.unwrap_or_else(|| facility.clone());
            let row = hisp
                .feed_add_pinned(&facility, &name, sensitive, (&allow, &pins), CLI_ACTOR)
                .await?;
            let from = hisp.notification_address().await?;
            out.line(format!(
                "added feed {} ({}){}",
                row.facility,
                row.name,
                if row.sensitive { ", sensitive" } else { "" }
            ));
            out.line(format!("  messages are taken from {}", shown_from(&row)));
            out.line(format!("  over {}", shown_certs(&row)));
            if let Some(note) = pins_unusable(&hisp, &pins) {
                out.line(note);
            }
            out.line(format!("  alerts are sent from {from}"));
        }
        FeedCmd::Allow {
            facility,
            from,
            any,
        } => {
            let allow = match any {
                true => Allowed::any(),
                false => Allowed::parse(&from).map_err(OpsError::Invalid)?,
            };
            if allow.is_any() && !any {
                return Err(OpsError::Invalid(
                    "--from needs an address or network; --any takes every address".into(),
                )
                .into());
            }
            let row = hisp.feed_allow(&facility, &allow, CLI_ACTOR).await?;
            out.line(format!(
                "feed {}: messages are taken from {}",
                row.facility,
                shown_from(&row)
            ));
        }
        FeedCmd::Pin {
            facility,
            cert,
            fingerprint,
            none,
        } => {
            let pins = match none {
                true => CertPins::any(),
                false => read_pins(&cert, &fingerprint)?,
            };
            if pins.is_any() && !none {
                return Err(OpsError::Invalid(
                    "--fingerprint needs a fingerprint; --none takes any client".into(),
                )
                .into());
            }
            let row = hisp.feed_pin(&facility, &pins, CLI_ACTOR).await?;
            out.line(format!(
                "feed {}: messages are taken over {}",
                row.facility,
                shown_certs(&row)
            ));
            if let Some(note) = pins_unusable(&hisp, &pins) {
                out.line(note);
            }
        }
        FeedCmd::List { json } => {
            let rows = hisp.feed_list().await?;
            if json {
                out.json(&json!(rows));
            } else {
                let t: Vec<Vec<String>> = rows
                    .iter()
                    .map(|f| {
                        vec![
                            f.facility.clone(),
                            f.name.clone(),
                            f.sensitive.to_string(),
                            f.allow_from.clone().unwrap_or_else(|| "any".into()),
                            CertPins::from_stored(f.client_certs.as_deref())
                                .map_or_else(|e| format!("unreadable: {e}"), |p| p.to_string()),
                        ]
                    })
                    .collect();
                out.table(
                    &[
                        "FACILITY",
                        "NAME",
                        "SENSITIVE",
                        "ALLOW FROM",
                        "CLIENT CERTS",
                    ],
                    &t,
                );
            }
        }
    }
    Ok(())
}

/// The pins of the certificates in the PEM files `files` and of the
/// fingerprints `fingerprints`.
fn read_pins(files: &[PathBuf], fingerprints: &[String]) -> Result<CertPins, CliError> {
    let pins = CertPins::parse(fingerprints).map_err(OpsError::Invalid)?;
    let mut read = Vec::new();
    for f in files {
        let pem = std::fs::read(f).map_err(|e| CliError::Ops(OpsError::io(f, e)))?;
        let fp = CertPins::from_pem(&pem)
            .map_err(|why| OpsError::Invalid(format!("{}: {why}", f.display())))?;
        read.push(fp);
    }
    Ok(pins.with(read))
}

/// What to tell an admin who pins certificates while `[mllp] tls` is off.
fn pins_unusable(hisp: &Hisp, pins: &CertPins) -> Option<String> {
    (!pins.is_any() && !hisp.config.mllp.tls).then(|| {
        "  note: [mllp] tls is off, so no client presents a certificate and this feed's \
         messages are refused until it is on"
            .to_string()
    })
}

/// Which clients a feed's messages are taken over, as the CLI says it.
fn shown_certs(row: &notify::FeedRow) -> String {
    match CertPins::from_stored(row.client_certs.as_deref()) {
        Ok(p) if p.is_any() => "any client (no certificate pinned)".into(),
        Ok(p) => format!("MLLP/TLS with a client certificate of SHA-256 {p}"),
        Err(e) => format!("no client: the stored list does not read ({e})"),
    }
}

/// Where a feed's messages are taken from, as the CLI says it.
fn shown_from(row: &notify::FeedRow) -> String {
    match &row.allow_from {
        Some(list) => list.replace(',', ", "),
        None => "any address that reaches the MLLP port".into(),
    }
}

/// Run a roster command.
pub async fn roster(hisp: Hisp, cmd: RosterCmd, out: &mut Output) -> Result<(), CliError> {
    match cmd {
        RosterCmd::Import {
            file,
            owner,
            replace,
            strict,
        } => {
            let owner = DirectAddress::parse(&owner)?;
            // At most one byte past the limit, which the parser refuses:
            // a 1 GB file (or /dev/zero) is not read whole first.
            let bytes = read_at_most(&file, crate::notify::roster::MAX_ROSTER_BYTES + 1)
                .map_err(|e| CliError::Ops(OpsError::io(&file, e)))?;
            let done = hisp
                .roster_import(&owner, &bytes, replace, strict, CLI_ACTOR)
                .await?;
            for p in &done.problems {
                out.line(format!("row {}: {}: {}", p.row, p.column, p.problem));
            }
            // Rows with a problem, not rows left unapplied: `--strict`
            // applies none when any has one.
            let mut problem_rows: Vec<usize> = done.problems.iter().map(|p| p.row).collect();
            problem_rows.dedup();
            out.line(format!(
                "{} rows, {} applied, {} with problems{}",
                done.rows,
                done.applied,
                problem_rows.len(),
                if done.replaced > 0 {
                    format!(
                        ", {} entries of patients the file no longer lists ended",
                        done.replaced
                    )
                } else {
                    String::new()
                }
            ));
            if done.ended > 0 {
                out.line(format!(
                    "{} entries ended: their rows' end_date has passed",
                    done.ended
                ));
            }
            if done.replace_skipped {
                out.line(
                    "--replace: no entry ended, because rows have problems (their patients \
                     would drop off the roster); fix the rows above and import again",
                );
            }
            if strict && !done.problems.is_empty() {
                return Err(CliError::Ops(OpsError::Invalid(
                    "--strict: nothing applied; fix the rows above".into(),
                )));
            }
        }
        RosterCmd::Delivery { owner, mode } => {
            let owner = DirectAddress::parse(&owner)?;
            let mut tx = hisp.store.begin().await.map_err(OpsError::from)?;
            hisp.subscription_mode(&mut tx, &owner.to_string(), &mode, CLI_ACTOR)
                .await?;
            tx.commit().await.map_err(OpsError::from)?;
            out.line(format!(
                "{owner}: alerts delivered {}",
                if mode == "digest" {
                    "as a daily digest"
                } else {
                    "in real time"
                }
            ));
        }
        RosterCmd::List { owner, json } => {
            // As addresses are stored: `Carol@A.test` lists carol's roster.
            let owner = match owner {
                Some(o) => Some(DirectAddress::parse(&o)?.to_string()),
                None => None,
            };
            let mut conn = hisp.conn().await?;
            let rows =
                notify::entries(&mut conn, hisp.store.sealer(), owner.as_deref(), hisp.now())
                    .await?;
            hisp.audit(
                &mut conn,
                CLI_ACTOR,
                "roster.view",
                owner.as_deref().unwrap_or("all"),
                &format!("{} entries", rows.len()),
            )
            .await?;
            if json {
                out.json(&json!(rows.iter().map(|e| json!({
                    "id": e.id, "owner": e.owner, "identifiers": e.patient.identifiers, "family_name": e.patient.family,
                    "given_name": e.patient.given, "birth_date": e.patient.birth_date, "sex": e.patient.sex.map(String::from),
                    "program": e.program, "end_date": e.end_date, "expires": rfc3339(e.expires_at),
                })).collect::<Vec<_>>()));
            } else {
                let t: Vec<Vec<String>> = rows
                    .iter()
                    .map(|e| {
                        vec![
                            e.id.to_string(),
                            e.owner.clone(),
                            format!("{}, {}", e.patient.family, e.patient.given),
                            e.patient.birth_date.clone().unwrap_or_default(),
                            e.program.clone().unwrap_or_default(),
                            rfc3339(e.expires_at),
                        ]
                    })
                    .collect();
                out.table(
                    &["ID", "OWNER", "PATIENT", "BORN", "PROGRAM", "EXPIRES"],
                    &t,
                );
            }
        }
    }
    Ok(())
}

fn patient(a: PatientArgs) -> Result<StoredPatient, CliError> {
    let birth = a.birth_date.map(|d| d.replace('-', ""));
    Ok(StoredPatient {
        identifiers: match (a.patient_id, a.authority) {
            (Some(v), Some(au)) => vec![(v, au)],
            (None, None) => Vec::new(),
            _ => {
                return Err(CliError::Ops(OpsError::Invalid(
                    "give --patient-id and --authority together".into(),
                )));
            }
        },
        family: a.family.unwrap_or_default(),
        given: a.given.unwrap_or_default(),
        birth_date: birth,
        sex: a.sex.map(|c| c.to_ascii_uppercase()),
        postal_code: None,
        phone: None,
    })
}

/// Run a consent command.
pub async fn consent(hisp: Hisp, cmd: ConsentCmd, out: &mut Output) -> Result<(), CliError> {
    let (decision, who) = match cmd {
        ConsentCmd::OptOut(p) => ("opt-out", patient(p)?),
        ConsentCmd::OptIn(p) => ("opt-in", patient(p)?),
        ConsentCmd::List { json } => {
            let mut conn = hisp.conn().await?;
            let rows = notify::consents(&mut conn, hisp.store.sealer()).await?;
            // A view of PHI (names and identifiers), audited as the portal's is.
            hisp.audit(
                &mut conn,
                CLI_ACTOR,
                "consent.view",
                "consents",
                &format!("{} decisions", rows.len()),
            )
            .await?;
            if json {
                out.json(&json!(rows));
            } else {
                let t: Vec<Vec<String>> = rows
                    .iter()
                    .map(|c| {
                        vec![
                            c.id.to_string(),
                            c.decision.clone(),
                            c.patient
                                .identifiers
                                .iter()
                                .map(|(v, a)| format!("{v}@{a}"))
                                .collect::<Vec<_>>()
                                .join(" "),
                            format!("{}, {}", c.patient.family, c.patient.given),
                            rfc3339(c.created_at),
                        ]
                    })
                    .collect();
                out.table(&["ID", "DECISION", "IDENTIFIERS", "NAME", "RECORDED"], &t);
            }
            return Ok(());
        }
    };
    let id = hisp.consent_record(decision, &who, CLI_ACTOR).await?;
    out.line(format!("recorded {decision} (consent {id})"));
    Ok(())
}

/// Run an alert command.
pub async fn alert(hisp: Hisp, cmd: AlertCmd, out: &mut Output) -> Result<(), CliError> {
    let (subscriber, undelivered, json) = match cmd {
        AlertCmd::List {
            subscriber,
            undelivered,
            json,
        } => (subscriber, undelivered, json),
        AlertCmd::Status { id, status } => {
            let mut tx = hisp.store.begin().await.map_err(OpsError::from)?;
            hisp.alert_status(&mut tx, id, &status, None, CLI_ACTOR)
                .await?;
            tx.commit().await.map_err(OpsError::from)?;
            out.line(format!("alert {id}: {status}"));
            return Ok(());
        }
        AlertCmd::Digest => {
            let n = crate::notify::Notifier::new(crate::smtp::Gateway::new(hisp.clone()));
            // Asked for now: a real-time subscriber's last digest goes
            // whatever turn was taken lately.
            let now = hisp.now() + 1;
            let sent = n.send_digests(now, now, now).await?;
            out.line(format!("{sent} digest(s) sent"));
            return Ok(());
        }
        AlertCmd::Reviews { all, json } => {
            let n = crate::notify::Notifier::new(crate::smtp::Gateway::new(hisp.clone()));
            let items = n.review_list(all, CLI_ACTOR).await?;
            if json {
                out.json(&json!(items));
                return Ok(());
            }
            let who = |p: &StoredPatient| {
                let ids: Vec<String> = p
                    .identifiers
                    .iter()
                    .map(|(v, a)| format!("{v}@{a}"))
                    .collect();
                format!(
                    "{}, {} {} {} {}",
                    p.family,
                    p.given,
                    p.birth_date.as_deref().unwrap_or("-"),
                    p.sex.map_or('-', |c| c),
                    ids.join(" ")
                )
                .trim_end()
                .to_string()
            };
            let t: Vec<Vec<String>> = items
                .iter()
                .map(|i| {
                    vec![
                        i.review.id.to_string(),
                        rfc3339(i.review.created_at),
                        i.review.status.clone(),
                        i.review.score.clone(),
                        i.review.event.clone().unwrap_or_default(),
                        match &i.adt_patient {
                            Some(p) => who(p),
                            None if i.opted_out => "(opted out)".into(),
                            None => "(message not kept)".into(),
                        },
                        i.entry.as_ref().map_or_else(
                            || format!("{} (removed or expired)", i.review.roster_entry_id),
                            |e| format!("{} {}: {}", e.id, e.owner, who(&e.patient)),
                        ),
                        // A sure match held back by near misses' opt-outs:
                        // confirming says the patient is none of them.
                        match i.review.withheld_by.is_empty() {
                            true => "-".into(),
                            false => i
                                .review
                                .withheld_by
                                .iter()
                                .map(|id| {
                                    let apart = match i.set_apart.contains(id) {
                                        true => " (set apart)",
                                        false => "",
                                    };
                                    match i.opted_out_near_misses.iter().find(|e| e.id == *id) {
                                        Some(e) => {
                                            format!("{id} {}: {}{apart}", e.owner, who(&e.patient))
                                        }
                                        None => format!("{id} (removed or expired)"),
                                    }
                                })
                                .collect::<Vec<_>>()
                                .join("; "),
                        },
                    ]
                })
                .collect();
            out.table(
                &[
                    "ID",
                    "WHEN",
                    "STATUS",
                    "SCORE",
                    "EVENT",
                    "ADT PATIENT",
                    "ROSTER ENTRY",
                    "OPTED OUT, NEARLY MATCHED",
                ],
                &t,
            );
            return Ok(());
        }
        AlertCmd::Review {
            id,
            confirm,
            reject: _,
            undo_distinct,
        } => {
            let n = crate::notify::Notifier::new(crate::smtp::Gateway::new(hisp.clone()));
            if undo_distinct {
                let undone = n.review_undo_distinct(id, CLI_ACTOR).await?;
                let gone: Vec<String> = (undone.gone.iter())
                    .map(|(other, by)| format!("{other} (set apart by review {by})"))
                    .collect();
                out.line(format!(
                    "review {id}: roster entry {} is no longer set apart from roster entries {}",
                    undone.entry,
                    gone.join(", ")
                ));
                for (near, other, by) in &undone.standing {
                    out.line(format!(
                        "roster entry {near} is still set apart from roster entry {other} \
                         (review {by}): while it is, it withholds nothing from a message that \
                         entry matches for sure; undo that review too if it may be wrong"
                    ));
                }
                return Ok(());
            }
            match n.review_decide(id, confirm, CLI_ACTOR).await? {
                Decided::Confirmed { owner, sent: true } => {
                    out.line(format!("review {id} confirmed: alert filed for {owner}"));
                }
                Decided::Confirmed { owner, sent: false } => out.line(format!(
                    "review {id} confirmed: {owner} already had this alert"
                )),
                Decided::Rejected => out.line(format!("review {id} rejected")),
            }
            return Ok(());
        }
    };
    let mut conn = hisp.conn().await?;
    let mut rows = notify::alerts(&mut conn, subscriber.as_deref()).await?;
    if undelivered {
        rows.retain(notify::AlertRow::undelivered);
    }
    if json {
        out.json(&json!(rows));
    } else {
        let t: Vec<Vec<String>> = rows
            .iter()
            .map(|a| {
                vec![
                    a.id.to_string(),
                    rfc3339(a.created_at),
                    a.subscriber.clone(),
                    a.event.clone(),
                    a.facility.clone(),
                    a.status.clone(),
                    match (&a.delivery, &a.message_id) {
                        (Some(d), _) => d.clone(),
                        (None, Some(_)) => "sent".into(),
                        (None, None) => "unsent".into(),
                    },
                ]
            })
            .collect();
        out.table(
            &[
                "ID",
                "CREATED",
                "SUBSCRIBER",
                "EVENT",
                "FACILITY",
                "STATUS",
                "DELIVERY",
            ],
            &t,
        );
    }
    Ok(())
}

/// Send each message of an HL7 file over one MLLP connection, waiting for
/// each ACK (as python-hl7's `mllp_send --loose` does), and print the ACKs
/// (segments on lines). Fails when any ACK is not AA or CA, or when a
/// reply is not the ACK of the message it answers: its MSA-2 is not that
/// message's MSH-10 (as written), or it is no ACK at all.
pub async fn adt_send(cmd: AdtCmd, out: &mut Output) -> Result<(), CliError> {
    let AdtCmd::Send {
        file,
        to,
        tls,
        ca,
        server_name,
        client_cert,
        client_key,
    } = cmd;
    let bytes = std::fs::read(&file).map_err(|e| CliError::Ops(OpsError::io(&file, e)))?;
    let messages = split_messages(&bytes)
        .map_err(|why| CliError::Ops(OpsError::Invalid(format!("{}: {why}", file.display()))))?;
    let failed = |e: std::io::Error| CliError::Ops(OpsError::Invalid(format!("{to}: {e}")));
    let tcp = connect(&to).await.map_err(failed)?;
    let answers = if tls {
        let client = client_cert.zip(client_key);
        let tls = MllpTls {
            ca,
            server_name,
            client,
        };
        let stream = tls_client(tcp, host_of(&to), &tls).await.map_err(failed)?;
        send_each(MllpClient::new(stream), &messages, &to, out).await?
    } else {
        send_each(MllpClient::new(tcp), &messages, &to, out).await?
    };
    let refused: Vec<String> = answers
        .iter()
        .enumerate()
        .filter(|(_, a)| !a.accepted())
        .map(|(i, a)| a.describe(i + 1))
        .collect();
    let fail = |why: String| Err(CliError::Ops(OpsError::Invalid(why)));
    match (refused.is_empty(), answers.as_slice()) {
        (true, _) => Ok(()),
        (false, [Answer::Ack(code)]) => fail(format!("the receiver answered {code}")),
        (false, [one @ Answer::Unacknowledged { why, .. }]) => {
            fail(format!("{}: {why}", one.describe(1)))
        }
        (false, _) => fail(format!(
            "{} of {} messages not accepted: {}",
            refused.len(),
            answers.len(),
            refused.join(", ")
        )),
    }
}

/// What came back for one message sent.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Answer {
    /// Its acknowledgment, with this MSA-1.
    Ack(String),
    /// A reply that acknowledges no message of ours (another message's
    /// MSA-2, not an ACK, not HL7): as good as no answer.
    Unacknowledged {
        /// The message's MSH-10 as written, to name it by (no PHI).
        control_id: String,
        /// What was wrong with the reply.
        why: String,
    },
}

impl Answer {
    /// Judge `reply` as the answer to `sent`: the ACK of `sent` only when
    /// its MSA-2 names `sent`'s MSH-10 ([`hl7::Received::answers`]).
    fn judge(sent: &[u8], reply: &[u8]) -> Self {
        // A message we cannot parse is still named by its MSH-10, as the
        // receiver's AE names it (before, "MSH-10 (empty) not acknowledged").
        let header = hl7::parse(sent)
            .map(|m| m.header())
            .unwrap_or_else(|_| hl7::Header::of_unparsed(sent));
        let why = match hl7::read_ack(reply) {
            Err(e) => format!("the reply is no HL7 message ({e})"),
            Ok(r) if r.answers(&header) => return Self::Ack(r.code),
            Ok(r) if !r.message_type.eq_ignore_ascii_case("ACK") => {
                format!("the reply is {}, not an ACK", shown(&r.message_type))
            }
            Ok(r) => match r.control_id_wire {
                None => "the reply has no MSA segment".to_string(),
                Some(other) => format!("the reply's MSA-2 is {}", shown(&other)),
            },
        };
        Self::Unacknowledged {
            control_id: header.control_id_wire,
            why,
        }
    }

    /// AA or CA.
    fn accepted(&self) -> bool {
        matches!(self, Self::Ack(code) if matches!(code.as_str(), "AA" | "CA"))
    }

    /// `message 2 AR`, or `message 2 (MSH-10 M2) not acknowledged`.
    fn describe(&self, index: usize) -> String {
        match self {
            Self::Ack(code) => format!("message {index} {code}"),
            Self::Unacknowledged { control_id, .. } => format!(
                "message {index} (MSH-10 {}) not acknowledged",
                shown(control_id)
            ),
        }
    }
}

/// A character of a receiver's bytes as printed: a control character (an
/// escape sequence a hostile receiver sends), a bidirectional formatting
/// one (U+202E turns the rest of the line around, so what a terminal shows
/// is not what came) or a line or paragraph separator as `?`, not obeyed
/// by the terminal.
fn printable(c: char) -> char {
    let bidi = matches!(
        c,
        '\u{061C}' | '\u{200E}' | '\u{200F}' | '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}'
    );
    let separator = matches!(c, '\u{2028}' | '\u{2029}');
    if c.is_control() || bidi || separator {
        '?'
    } else {
        c
    }
}

/// A value from a message or a reply, fit for one line: characters a
/// terminal would obey as `?` ([`printable`]), at most 64 characters.
fn shown(value: &str) -> String {
    const MAX: usize = 64;
    let mut out: String = value.chars().take(MAX).map(printable).collect();
    if value.chars().count() > MAX {
        out.push('…');
    }
    if out.is_empty() {
        out.push_str("(empty)");
    }
    out
}

/// Send every message in turn, printing each reply; what each came to.
async fn send_each<S>(
    mut client: MllpClient<S>,
    messages: &[Vec<u8>],
    to: &str,
    out: &mut Output,
) -> Result<Vec<Answer>, CliError>
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
{
    let mut answers = Vec::with_capacity(messages.len());
    for (i, message) in messages.iter().enumerate() {
        let reply = client.exchange(message).await.map_err(|e| {
            CliError::Ops(OpsError::Invalid(format!("{to}: message {}: {e}", i + 1)))
        })?;
        // The receiver's bytes, printed as [`printable`] shows them.
        for seg in text(&reply).split('\r').filter(|s| !s.is_empty()) {
            out.line(seg.chars().map(printable).collect::<String>());
        }
        let answer = Answer::judge(message, &reply);
        match &answer {
            Answer::Unacknowledged { control_id, why } => out.line(format!(
                "-- message {} of {} (MSH-10 {}): not acknowledged: {why}",
                i + 1,
                messages.len(),
                shown(control_id),
            )),
            Answer::Ack(code) if messages.len() > 1 => out.line(format!(
                "-- message {} of {}: {code}",
                i + 1,
                messages.len()
            )),
            Answer::Ack(_) => {}
        }
        answers.push(answer);
    }
    Ok(answers)
}

/// A reply as text, read as the parser reads it (UTF-8, else Latin-1).
fn text(reply: &[u8]) -> std::borrow::Cow<'_, str> {
    match std::str::from_utf8(reply) {
        Ok(s) => s.into(),
        Err(_) => reply
            .iter()
            .map(|&b| char::from(b))
            .collect::<String>()
            .into(),
    }
}

/// The messages of a file, as python-hl7's `mllp_send` reads one: MLLP
/// framing bytes (`<VT>`, `<FS>`) and form feeds end a line (they part
/// messages), CRLF and LF are made CR, and a new message starts at every
/// segment that begins with `MSH` (any field separator, not only `|^~\&`)
/// and, as `--loose` does, wherever the first message's opening
/// (`MSH|^~\&|`) appears inside a line: files joined by `cat` without a
/// final line ending. Each message ends with one CR. A BOM and blank lines
/// are skipped, and so is a batch file's envelope (FHS, BHS, BTS, FTS);
/// other text before the first message is an error.
fn split_messages(bytes: &[u8]) -> Result<Vec<Vec<u8>>, String> {
    let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
    let mut text = Vec::with_capacity(bytes.len());
    for (at, &b) in bytes.iter().enumerate() {
        match b {
            b'\r' if bytes.get(at + 1) == Some(&b'\n') => {}
            b'\n' => text.push(b'\r'),
            // Between messages a line end (before, they were dropped, so a
            // message framed without the CR after `<FS>` ran on into the
            // next one); inside a segment (a form feed as a report's page
            // break) dropped, as before, rather than cutting it in two.
            0x0B | 0x1C | 0x0C => {
                if parts_messages(bytes.get(at + 1..).unwrap_or_default()) {
                    text.push(b'\r');
                }
            }
            _ => text.push(b),
        }
    }
    let text = unglue(text);
    // A BOM at the start of any line, as `cat` of files saved with one leaves.
    let mut lines = Vec::with_capacity(text.len());
    for (i, line) in text.split(|b| *b == b'\r').enumerate() {
        if i > 0 {
            lines.push(b'\r');
        }
        lines.extend_from_slice(line.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(line));
    }
    // An HL7 batch file (HL7 v2 ch. 2, batch protocol): the envelope's
    // FHS/BHS headers and BTS/FTS trailers wrap the messages and are not
    // sent; each message between them is. Before, a file opening with FHS
    // was refused and a trailer went out inside the last message.
    let text = lines
        .split(|b| *b == b'\r')
        .filter(|line| !line.is_empty() && !batch_envelope(line))
        .collect::<Vec<_>>()
        .join(&b'\r');
    let mut starts: Vec<usize> = Vec::new();
    for at in 0..text.len() {
        let line_start = at == 0 || text.get(at - 1) == Some(&b'\r');
        let msh = text.get(at..at + 4).is_some_and(|w| {
            w.starts_with(b"MSH") && w.get(3).is_some_and(|s| !s.is_ascii_alphanumeric())
        });
        if line_start && msh {
            starts.push(at);
        }
    }
    let Some(&first) = starts.first() else {
        return Err("no HL7 message in it (no segment starts with MSH)".into());
    };
    if text
        .get(..first)
        .is_some_and(|lead| lead.iter().any(|b| !b.is_ascii_whitespace()))
    {
        return Err("text before the first MSH segment".into());
    }
    let ends = starts.iter().skip(1).copied().chain([text.len()]);
    Ok(starts
        .iter()
        .zip(ends)
        .filter_map(|(&from, to)| {
            let mut m = text.get(from..to)?.to_vec();
            while m.last().is_some_and(|b| matches!(b, b'\r' | b' ' | b'\t')) {
                m.pop();
            }
            m.push(b'\r');
            Some(m)
        })
        .collect())
}

/// Whether framing bytes followed by `rest` part two messages: what comes
/// after them (more framing, line ends or a BOM aside) is the end of the
/// file, a message header or a batch envelope's segment.
fn parts_messages(rest: &[u8]) -> bool {
    let mut rest = rest;
    loop {
        match rest {
            [0x0B | 0x1C | 0x0C | b'\r' | b'\n', tail @ ..] => rest = tail,
            [0xEF, 0xBB, 0xBF, tail @ ..] => rest = tail,
            _ => break,
        }
    }
    rest.is_empty() || rest.starts_with(b"MSH") || batch_envelope(rest)
}

/// `text` with a line break put before every header glued inside a line:
/// the first `MSH` that opens a line gives the opening to look for (`MSH`,
/// its field separator, encoding characters and field separator again,
/// which escaped content cannot hold).
fn unglue(text: Vec<u8>) -> Vec<u8> {
    let first = text
        .split(|b| *b == b'\r')
        .find(|line| line.starts_with(b"MSH"))
        .and_then(|line| {
            let field = *line.get(3)?;
            let end = line.iter().skip(4).position(|b| *b == field)? + 4;
            // With no escape character (MSH-2 of one or two), content
            // cannot escape the opening, so it proves nothing.
            (end >= 7).then(|| line.get(..=end)).flatten()
        });
    let Some(opening) = first.map(<[u8]>::to_vec) else {
        return text;
    };
    let mut out = Vec::with_capacity(text.len());
    let mut line_start = true;
    let mut at = 0;
    while let Some(&b) = text.get(at) {
        if !line_start && text.get(at..).is_some_and(|t| t.starts_with(&opening)) {
            // The second file's BOM is not the first message's.
            if out.ends_with(b"\xEF\xBB\xBF") {
                out.truncate(out.len() - 3);
            }
            out.push(b'\r');
        }
        out.push(b);
        line_start = b == b'\r';
        at += 1;
    }
    out
}

/// A batch envelope's segment: FHS, BHS, BTS or FTS, then its field
/// separator (or nothing).
fn batch_envelope(line: &[u8]) -> bool {
    matches!(line.get(..3), Some(b"FHS" | b"BHS" | b"BTS" | b"FTS"))
        && line.get(3).is_none_or(|s| !s.is_ascii_alphanumeric())
}

/// The host of `HOST:PORT` (`[::1]:2575` → `::1`).
fn host_of(to: &str) -> &str {
    let host = to.rsplit_once(':').map_or(to, |(h, _)| h);
    host.trim_start_matches('[').trim_end_matches(']')
}

/// How `adt send --tls` checks the server: its chain always, and the name
/// its certificate carries always.
#[derive(Debug, Clone, Default)]
pub struct MllpTls {
    /// Trust only the certificates of this PEM file; `None`: the system's
    /// roots (OpenSSL's default paths).
    pub ca: Option<PathBuf>,
    /// The name the server's certificate must carry; `None`: the host
    /// connected to.
    pub server_name: Option<String>,
    /// The client certificate (PEM, a chain after it) and its private key
    /// (PEM) to present; `None`: none.
    pub client: Option<(PathBuf, PathBuf)>,
}

/// How long the TCP connection may take, and then the TLS handshake.
const CONNECT: Duration = Duration::from_secs(10);
/// How long sending a message may block, and each read of its ACK.
const ACK_WAIT: Duration = Duration::from_secs(30);

/// One MLLP exchange: frame, send, read one framed answer.
pub async fn send_mllp(to: SocketAddr, message: &[u8]) -> std::io::Result<Vec<u8>> {
    let tcp = connect(&to.to_string()).await?;
    MllpClient::new(tcp).exchange(message).await
}

/// One MLLP exchange over TLS; the certificate must name `to`'s address
/// unless `tls.server_name` says otherwise.
pub async fn send_mllp_tls(
    to: SocketAddr,
    message: &[u8],
    tls: &MllpTls,
) -> std::io::Result<Vec<u8>> {
    let tcp = connect(&to.to_string()).await?;
    let stream = tls_client(tcp, &to.ip().to_string(), tls).await?;
    MllpClient::new(stream).exchange(message).await
}

/// The client side of a TLS handshake with `host`, given up after
/// [`CONNECT`] (a peer that accepts and never answers).
async fn tls_client(
    tcp: tokio::net::TcpStream,
    host: &str,
    tls: &MllpTls,
) -> std::io::Result<tokio_openssl::SslStream<tokio::net::TcpStream>> {
    let ssl = tls_session(host, tls)?;
    let mut stream = tokio_openssl::SslStream::new(ssl, tcp).map_err(std::io::Error::other)?;
    match tokio::time::timeout(CONNECT, std::pin::Pin::new(&mut stream).connect()).await {
        Ok(Ok(())) => Ok(stream),
        Ok(Err(e)) => Err(std::io::Error::other(match stream.ssl().verify_result() {
            openssl::x509::X509VerifyResult::OK => format!("TLS: {e}"),
            why => format!("TLS: the server's certificate: {}", why.error_string()),
        })),
        Err(_) => Err(timed_out("TLS handshake timed out after", CONNECT)),
    }
}

/// A client session for `host`: the chain must end at a certificate of
/// `tls.ca` alone, or else at a system root, and the certificate must name
/// `tls.server_name`, or else `host`. `into_ssl` checks an IP literal
/// against the SAN iPAddress entries (`X509_VERIFY_PARAM_set1_ip`) and a
/// name against the dNSName entries (no partial wildcards), and sends SNI
/// only for a name (RFC 6066 §3: "Literal IPv4 and IPv6 addresses are not
/// permitted in "HostName"").
fn tls_session(host: &str, tls: &MllpTls) -> std::io::Result<openssl::ssl::Ssl> {
    use openssl::ssl::{SslConnector, SslMethod};
    let name = tls.server_name.as_deref().unwrap_or(host);
    if name.is_empty() {
        // OpenSSL takes an empty name as "check no name".
        return Err(std::io::Error::other(
            "no host name to check the certificate against",
        ));
    }
    // `builder` loads the system's roots; `--ca` replaces that store.
    let mut b = SslConnector::builder(SslMethod::tls_client()).map_err(std::io::Error::other)?;
    if let Some(ca) = &tls.ca {
        b.set_cert_store(store_of(ca)?);
    }
    if let Some((cert, key)) = &tls.client {
        let named = |path: &Path, e: openssl::error::ErrorStack| {
            std::io::Error::other(format!("{}: {e}", path.display()))
        };
        b.set_certificate_chain_file(cert)
            .map_err(|e| named(cert, e))?;
        // OpenSSL checks here that the key is the certificate's.
        b.set_private_key_file(key, openssl::ssl::SslFiletype::PEM)
            .map_err(|e| {
                std::io::Error::other(format!(
                    "{}: not a PEM private key for {}: {e}",
                    key.display(),
                    cert.display()
                ))
            })?;
    }
    b.build()
        .configure()
        .and_then(|c| c.into_ssl(name))
        .map_err(std::io::Error::other)
}

/// A certificate store trusting exactly the certificates of the PEM file
/// `path`, nothing from OpenSSL's default paths.
fn store_of(path: &Path) -> std::io::Result<openssl::x509::store::X509Store> {
    use openssl::x509::{X509, store::X509StoreBuilder};
    let bad = |why: String| std::io::Error::other(format!("{}: {why}", path.display()));
    let pem = std::fs::read(path).map_err(|e| bad(e.to_string()))?;
    let certs = X509::stack_from_pem(&pem).map_err(|e| bad(e.to_string()))?;
    if certs.is_empty() {
        return Err(bad("no PEM certificate".into()));
    }
    let mut store = X509StoreBuilder::new().map_err(std::io::Error::other)?;
    for cert in certs {
        store.add_cert(cert).map_err(|e| bad(e.to_string()))?;
    }
    Ok(store.build())
}

/// Connect to `HOST:PORT` (a name is resolved; each address is tried),
/// given up after [`CONNECT`].
async fn connect(to: &str) -> std::io::Result<tokio::net::TcpStream> {
    tokio::time::timeout(CONNECT, tokio::net::TcpStream::connect(to))
        .await
        .map_err(|_| timed_out("connect timed out after", CONNECT))?
}

/// `what N s`, as an error.
fn timed_out(what: &str, after: Duration) -> std::io::Error {
    std::io::Error::other(format!("{what} {} s", after.as_secs()))
}

/// An MLLP sender: one message at a time, each waiting for its ACK.
struct MllpClient<S> {
    stream: S,
    framer: Framer,
}

impl<S> MllpClient<S>
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
{
    fn new(stream: S) -> Self {
        Self {
            stream,
            framer: Framer::new(1 << 20),
        }
    }

    /// Send one message (LF and CRLF made CR) and read its framed answer.
    async fn exchange(&mut self, message: &[u8]) -> std::io::Result<Vec<u8>> {
        let text: Vec<u8> = message
            .iter()
            .map(|&b| if b == b'\n' { b'\r' } else { b })
            .collect();
        let sent = async {
            self.stream.write_all(&hl7::frame(&text)).await?;
            self.stream.flush().await
        };
        tokio::time::timeout(ACK_WAIT, sent)
            .await
            .map_err(|_| timed_out("not sent within", ACK_WAIT))??;
        // One deadline for the whole ACK: a receiver trickling bytes (junk
        // between frames, a CR every 20 s) cannot hold the command forever.
        let deadline = tokio::time::Instant::now() + ACK_WAIT;
        let mut buf = [0u8; 4096];
        loop {
            while let Some(f) = self.framer.next_frame() {
                match f {
                    Ok(ack) => return Ok(ack),
                    // Bytes between frames are not an answer.
                    Err(hl7::FrameError::Garbage { .. }) => {}
                    Err(e) => return Err(std::io::Error::other(e.to_string())),
                }
            }
            let n = tokio::time::timeout_at(deadline, self.stream.read(&mut buf))
                .await
                .map_err(|_| timed_out("no ACK within", ACK_WAIT))??;
            if n == 0 {
                return Err(std::io::Error::other("connection closed before the ACK"));
            }
            self.framer.push(buf.get(..n).unwrap_or(&[]));
        }
    }
}

/// The first `limit` bytes of `path` (all of it when shorter).
fn read_at_most(path: &std::path::Path, limit: usize) -> std::io::Result<Vec<u8>> {
    use std::io::Read;
    let mut bytes = Vec::new();
    std::fs::File::open(path)?
        .take(u64::try_from(limit).unwrap_or(u64::MAX))
        .read_to_end(&mut bytes)?;
    Ok(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_file_is_split_into_its_messages_as_mllp_send_does() {
        let a = "MSH|^~\\&|A|NORTH|H|H|2026||ADT^A04|M1|P|2.5.1\r\nPID|1||X\r\n";
        let b = "MSH|^~\\&|A|NORTH|H|H|2026||ADT^A03|M2|P|2.5.1\nPID|1||Y\n\n";
        let c = "MSH#^~\\&#A#NORTH#H#H#2026##ADT^A08#M3#P#2.5.1\rPID#1##MSHX\r";
        // Each saved with a BOM, then concatenated.
        let file = format!("\u{feff}\r\n\x0b{a}\x1c\r\x0b\u{feff}{b}\x1c\r\x0c\u{feff}{c}");
        let got = split_messages(file.as_bytes()).expect("split");
        let want = [
            "MSH|^~\\&|A|NORTH|H|H|2026||ADT^A04|M1|P|2.5.1\rPID|1||X\r",
            "MSH|^~\\&|A|NORTH|H|H|2026||ADT^A03|M2|P|2.5.1\rPID|1||Y\r",
            "MSH#^~\\&#A#NORTH#H#H#2026##ADT^A08#M3#P#2.5.1\rPID#1##MSHX\r",
        ];
        let got: Vec<String> = got
            .iter()
            .map(|m| String::from_utf8_lossy(m).into_owned())
            .collect();
        assert_eq!(got, want);
        // One message, as before.
        assert_eq!(split_messages(a.as_bytes()).expect("one").len(), 1);
        // Nothing to send, or text that is no message.
        assert!(split_messages(b"\r\n").is_err());
        assert!(split_messages(b"hello\rMSH|^~\\&|A\r").is_err());
        // A batch file: its envelope is not sent, its messages are.
        let batch = format!("FHS|^~\\&|A\rBHS|^~\\&|A\r{a}{b}BTS|2\rFTS|1\r");
        let got: Vec<String> = split_messages(batch.as_bytes())
            .expect("batch")
            .iter()
            .map(|m| String::from_utf8_lossy(m).into_owned())
            .collect();
        assert_eq!(got, want[..2]);
        // A segment that only begins with MSH is no new message.
        assert_eq!(
            split_messages(b"MSH|^~\\&|A\rMSHX|1\rZMS|MSH|\r")
                .expect("one")
                .len(),
            1
        );
        // Files joined by `cat`, the first without a final line ending, or
        // framed without the CR after <FS>: two messages, not one with the
        // second's PID inside the first's last segment.
        let bare = |m: &str| m.trim_end().to_string();
        for joined in [
            format!("{}{a}", bare(a)),
            format!("{}\u{feff}{a}", bare(a)),
            format!("\x0b{}\x1c\x0b{a}\x1c", bare(a)),
            format!("{}\x0c{a}", bare(a)),
        ] {
            let got = split_messages(joined.as_bytes()).expect("joined");
            assert_eq!(got.len(), 2, "{joined:?}");
            assert_eq!(got[0], got[1], "{joined:?}");
        }
        // A form feed inside a segment (a report's page break) cuts nothing.
        let paged = "MSH|^~\\&|A\rOBX|1|TX|||page1\x0cpage2\r";
        let got = split_messages(paged.as_bytes()).expect("paged");
        assert_eq!(got, [b"MSH|^~\\&|A\rOBX|1|TX|||page1page2\r".to_vec()]);
        // Without an escape character the opening proves nothing.
        let short = "MSH|^~|A|B\rZZZ|MSH|^~|C\r";
        assert_eq!(split_messages(short.as_bytes()).expect("short").len(), 1);
    }

    /// A message hisp cannot parse (MSH-2 repeats a character) is judged
    /// by the MSH-10 its receiver's AE names, as the listener reads it.
    #[test]
    fn a_reply_to_an_unparseable_message_is_its_ae() {
        let sent = b"MSH|^~\\&^|A|NORTH|H|H|2026||ADT^A04|C9|P|2.5.1\rPID|1\r";
        assert!(hl7::parse(sent).is_err());
        let ae = "MSH|^~\\&|H|H|A|NORTH|2026||ACK^A04|K|P|2.5.1\rMSA|AE|C9\r";
        assert_eq!(Answer::judge(sent, ae.as_bytes()), Answer::Ack("AE".into()));
    }

    #[test]
    fn a_reply_counts_only_when_it_acknowledges_the_message_sent() {
        let sent = b"MSH|^~\\&|A|NORTH|H|H|2026||ADT^A04|M2|P|2.5.1\rPID|1||X\r";
        let ack = |msh9: &str, msa: &str| {
            format!("MSH|^~\\&|H|H|A|NORTH|2026||{msh9}|K|P|2.5.1\r{msa}\r")
        };
        let table = [
            (ack("ACK^A04^ACK", "MSA|AE|M2"), Ok("AE")),
            (
                ack("ACK^A04^ACK", "MSA|AA|M1"),
                Err("the reply's MSA-2 is M1"),
            ),
            (
                ack("ACK^A04^ACK", "MSA|AA|"),
                Err("the reply's MSA-2 is (empty)"),
            ),
            (ack("ACK^A04^ACK", "ERR|x"), Err("no MSA segment")),
            (
                ack("ADT^A04", "MSA|AA|M2"),
                Err("the reply is ADT, not an ACK"),
            ),
            ("hello\r".to_string(), Err("the reply is no HL7 message")),
        ];
        for (reply, want) in table {
            let got = Answer::judge(sent, reply.as_bytes());
            match (want, &got) {
                (Ok(code), Answer::Ack(c)) => assert_eq!(c, code),
                (Err(why), Answer::Unacknowledged { control_id, why: w }) => {
                    assert_eq!(control_id, "M2");
                    assert!(w.contains(why), "{w}");
                }
                _ => panic!("{reply:?}: {got:?}"),
            }
        }
        let got = Answer::judge(sent, b"MSH|^~\\&|H|H\rMSA|AA|M1\r");
        assert_eq!(got.describe(2), "message 2 (MSH-10 M2) not acknowledged");
        assert_eq!(shown(&"X".repeat(70)), format!("{}…", "X".repeat(64)));
    }

    #[test]
    fn tls_refuses_to_check_no_name_and_a_ca_file_of_no_certificate() {
        let unnamed = tls_session("", &MllpTls::default()).expect_err("no name");
        assert!(unnamed.to_string().contains("no host name"), "{unnamed}");
        let dir = tempfile::tempdir().expect("dir");
        let empty = dir.path().join("empty.pem");
        std::fs::write(&empty, "not PEM\n").expect("write");
        let tls = MllpTls {
            ca: Some(empty.clone()),
            ..MllpTls::default()
        };
        let e = tls_session("localhost", &tls).expect_err("no CA");
        assert!(e.to_string().contains("no PEM certificate"), "{e}");
        // A client certificate whose key is not its own is refused by name.
        let now = crate::clock::system().now();
        let one = crate::pki::CaKeys::generate("engine", now, 1).expect("ca");
        let two = crate::pki::CaKeys::generate("other", now, 1).expect("ca");
        let cert = dir.path().join("engine.pem");
        let key = dir.path().join("other.key");
        std::fs::write(&cert, one.cert.to_pem().expect("pem")).expect("write");
        std::fs::write(&key, two.key.private_key_to_pem_pkcs8().expect("pem")).expect("write");
        let tls = MllpTls {
            client: Some((cert.clone(), key)),
            ..MllpTls::default()
        };
        let e = tls_session("localhost", &tls).expect_err("not its key");
        assert!(e.to_string().contains("not a PEM private key for"), "{e}");
        let tls = MllpTls {
            client: Some((empty, cert)),
            ..MllpTls::default()
        };
        let e = tls_session("localhost", &tls).expect_err("no certificate");
        assert!(e.to_string().contains("empty.pem"), "{e}");
    }

    #[test]
    fn the_host_of_host_port() {
        assert_eq!(host_of("localhost:2575"), "localhost");
        assert_eq!(host_of("127.0.0.1:2575"), "127.0.0.1");
        assert_eq!(host_of("[::1]:2575"), "::1");
    }
}
