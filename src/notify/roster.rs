//! Notify's admin operations: registering feeds, importing a subscriber's
//! roster from CSV (a row-level validation report; valid rows applied, or
//! none with `strict`; `replace` swaps the whole roster; entries age out after
//! `[notify] roster_expiry_days` unless re-submitted), recording consent
//! decisions, and the notification address alerts are sent from. Each change
//! is one transaction with its audit entry.

use sqlx::AnyConnection;

use super::allow::Allowed;
use super::pins::CertPins;
use super::roster_csv::{self, Parsed, Problem};
use crate::direct::DirectAddress;
use crate::ops::address::NewAddress;
use crate::ops::{Hisp, OpsError};
use crate::store::notify::{self, FeedList, FeedRow, NewEntry, StoredPatient};
use crate::store::users::Role;
use crate::store::{addresses, domains};

/// The largest roster file accepted.
pub const MAX_ROSTER_BYTES: usize = 20 * 1024 * 1024;

/// The worklist's statuses, in order.
pub const ALERT_STATUSES: [&str; 3] = ["new", "in-progress", "completed"];

/// What a roster import did.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Imported {
    /// Data rows read.
    pub rows: usize,
    /// Rows taken: entries stored or renewed, and rows whose `end_date` has
    /// passed (their patient's entry, if any, ended).
    pub applied: usize,
    /// Entries a row's past `end_date` ended: the practice says the
    /// patient's enrolment is over.
    pub ended: u64,
    /// Problems, per row and column.
    pub problems: Vec<ProblemLine>,
    /// Entries `--replace` ended (those of patients the file no longer lists).
    pub replaced: u64,
    /// `--replace` ended nothing because rows had problems.
    pub replace_skipped: bool,
}

/// One problem of the report.
#[derive(Debug, Clone, serde::Serialize)]
pub struct ProblemLine {
    /// The row as a spreadsheet numbers it (the header is row 1).
    pub row: usize,
    /// The column.
    pub column: String,
    /// What is wrong and what to do.
    pub problem: String,
}

impl From<&Problem> for ProblemLine {
    fn from(p: &Problem) -> Self {
        Self {
            row: p.row,
            column: p.column.clone(),
            problem: p.problem.clone(),
        }
    }
}

/// Today as YYYYMMDD (UTC).
fn today(now: i64) -> u32 {
    let (y, m, d) = crate::clock::civil_from_days(now.div_euclid(86_400));
    u32::try_from(y).unwrap_or(1970) * 10_000
        + u32::try_from(m).unwrap_or(1) * 100
        + u32::try_from(d).unwrap_or(1)
}

/// When an entry stops matching: at roster expiry, or at the end (UTC) of
/// its `end_date` (`YYYY-MM-DD`, already checked) when that comes first.
fn enrolment_ends(expires: i64, end_date: Option<&str>) -> i64 {
    match end_date.and_then(crate::clock::days_from_iso_date) {
        Some(day) => expires.min((day + 1) * 86_400),
        None => expires,
    }
}

/// A row's entry for `patient`, ending at roster expiry or its `end_date`.
fn new_entry<'a>(
    r: &'a roster_csv::RosterRow,
    patient: &'a StoredPatient,
    expires: i64,
) -> NewEntry<'a> {
    NewEntry {
        patient,
        program: r.program.as_deref(),
        end_date: r.end_date.as_deref(),
        expires_at: enrolment_ends(expires, r.end_date.as_deref()),
    }
}

/// The same roster patient: a shared identifier, or, when either of the two
/// has no identifier, the same normalized name and birth date and no
/// different sex (M and F; U, O and a blank agree with anything). Two with
/// identifiers and none in common are two patients, as an upload's rows are
/// (`roster_csv::repeated`): John Smith born the same day under MRNs 111 and
/// 222, or under a practice's number and a hospital's MRN, which may be one
/// person or two namesakes. Before, only identifiers from one authority told
/// them apart, so a re-submitted row under one authority renewed the entry
/// under the other and took it over (its identifier added), and the row
/// for that entry's own identifier then made a second entry holding it.
/// Whether the two share an identifier.
fn shares_identifier(a: &StoredPatient, b: &StoredPatient) -> bool {
    a.identifiers
        .iter()
        .any(|x| b.identifiers.iter().any(|y| notify::same_id(x, y)))
}

/// The entries a row renews among those that `fits` (`RosterIndex::same`,
/// those its identifier names first): when its identifier names one, that
/// one, other entries under its identifiers, and those its name and birth
/// date fit that are the same patient as it; an entry only the row's name
/// and birth date fit whose patient is another (she married and the entry
/// under her new name is someone else's; another Jane Smith born that day)
/// is left as it is. Before, such a row was refused, asking for the
/// identifier it gave, and neither entry was renewed. A row by name alone
/// keeps every entry it fits, so one that fits two people is refused.
fn named_by_identifier<'e>(
    patient: &StoredPatient,
    fits: &[&'e notify::RosterEntry],
) -> Vec<&'e notify::RosterEntry> {
    match fits.first() {
        Some(first) if shares_identifier(&first.patient, patient) => fits
            .iter()
            .copied()
            .filter(|e| {
                shares_identifier(&e.patient, patient) || same_patient(&first.patient, &e.patient)
            })
            .collect(),
        _ => fits.to_vec(),
    }
}

fn same_patient(a: &StoredPatient, b: &StoredPatient) -> bool {
    use super::mpi::normalize_name as n;
    if shares_identifier(a, b) {
        return true;
    }
    let conflicting = !a.identifiers.is_empty() && !b.identifiers.is_empty();
    let sexes_differ = matches!(
        (a.sex, b.sex),
        (Some('M'), Some('F')) | (Some('F'), Some('M'))
    );
    !conflicting
        && !sexes_differ
        && !a.family.is_empty()
        && n(&a.family) == n(&b.family)
        && n(&a.given) == n(&b.given)
        && a.birth_date.is_some()
        && a.birth_date == b.birth_date
}

/// Whether roster entry `entry` is the person a consent decision's names,
/// birth date and sex describe, given beside an identifier the entry holds:
/// each one given is the entry's own (names as `same_patient` folds them; a
/// sex only M against F contradicts). A value the entry does not hold is not
/// vouched for. Nothing given: nothing to contradict.
fn vouches(entry: &StoredPatient, p: &StoredPatient) -> bool {
    use super::mpi::normalize_name as n;
    let name = |given: &str, held: &str| given.is_empty() || n(given) == n(held);
    name(&p.family, &entry.family)
        && name(&p.given, &entry.given)
        && (p.birth_date.is_none() || p.birth_date == entry.birth_date)
        && !matches!(
            (p.sex, entry.sex),
            (Some('M'), Some('F')) | (Some('F'), Some('M'))
        )
}

/// A roster's live entries, found by identifier and by name and birth date
/// (a re-submitted roster of tens of thousands of rows is matched in one
/// pass, not every row against every entry inside the write transaction).
struct Existing<'a> {
    entries: &'a [notify::RosterEntry],
    by_id: std::collections::HashMap<(String, String), Vec<usize>>,
    by_name: std::collections::HashMap<(String, String, String), Vec<usize>>,
}

impl<'a> Existing<'a> {
    /// As `notify::same_id` compares: trimmed, the authority case-folded.
    fn id_key((value, authority): &(String, String)) -> (String, String) {
        (value.trim().to_string(), authority.trim().to_lowercase())
    }

    fn name_key(p: &StoredPatient) -> Option<(String, String, String)> {
        use super::mpi::normalize_name as n;
        let dob = p.birth_date.as_ref().filter(|_| !p.family.is_empty())?;
        Some((n(&p.family), n(&p.given), dob.clone()))
    }

    fn new(entries: &'a [notify::RosterEntry]) -> Self {
        let mut by_id: std::collections::HashMap<_, Vec<usize>> = Default::default();
        let mut by_name: std::collections::HashMap<_, Vec<usize>> = Default::default();
        for (i, e) in entries.iter().enumerate() {
            for id in &e.patient.identifiers {
                by_id.entry(Self::id_key(id)).or_default().push(i);
            }
            if let Some(k) = Self::name_key(&e.patient) {
                by_name.entry(k).or_default().push(i);
            }
        }
        Self {
            entries,
            by_id,
            by_name,
        }
    }

    /// The entries that are `patient`, leaving out those in `taken`: those
    /// holding one of its identifiers first, then those found by name and
    /// birth date, each oldest first. So of two rows with one name and birth
    /// date under two authorities' identifiers, each renews the entry holding
    /// its own identifier, whichever is older.
    fn same(
        &self,
        patient: &StoredPatient,
        taken: &std::collections::HashSet<i64>,
    ) -> Vec<&'a notify::RosterEntry> {
        let mut by_id: Vec<usize> = patient
            .identifiers
            .iter()
            .filter_map(|id| self.by_id.get(&Self::id_key(id)))
            .flatten()
            .copied()
            .collect();
        by_id.sort_unstable();
        by_id.dedup();
        let mut by_name: Vec<usize> = Self::name_key(patient)
            .and_then(|k| self.by_name.get(&k))
            .into_iter()
            .flatten()
            .copied()
            .filter(|i| !by_id.contains(i))
            .collect();
        by_name.sort_unstable();
        by_id
            .into_iter()
            .chain(by_name)
            .filter_map(|i| self.entries.get(i))
            .filter(|e| !taken.contains(&e.id) && same_patient(&e.patient, patient))
            .collect()
    }
}

/// `patient` as a consent decision records it: each identifier under every
/// name its assigning authority goes by ([`adt::authority_names`]), so an
/// opt-out typed as `NORTH&2.16.840.1.113883.19.5&ISO` holds for a feed
/// that sends either; an authority that names nothing is kept empty, which
/// [`consent_checked`] refuses.
pub fn consent_patient(patient: &StoredPatient) -> StoredPatient {
    let mut identifiers: Vec<(String, String)> = Vec::new();
    for (value, authority) in &patient.identifiers {
        let mut names = super::adt::authority_names(authority);
        if names.is_empty() {
            names.push(String::new());
        }
        for name in names {
            let id = (value.clone(), name);
            if !identifiers.contains(&id) {
                identifiers.push(id);
            }
        }
    }
    StoredPatient {
        identifiers,
        ..patient.clone()
    }
}

/// A roster entry read from the store (outside the worker's snapshot, which
/// files it under each name itself, `process::read_authorities`) as
/// consent and identity checks compare it: each identifier also under
/// every name its authority goes by ([`consent_patient`]), so a row typed
/// `NORTH&OID&ISO` holds the numbers decisions are recorded under.
pub fn read_entry(mut e: notify::RosterEntry) -> notify::RosterEntry {
    let mut patient = consent_patient(&e.patient);
    for id in &e.patient.identifiers {
        if !patient.identifiers.contains(id) {
            patient.identifiers.push(id.clone());
        }
    }
    e.patient = patient;
    e
}

/// Whether `patient` may be named in a consent decision: the record checks
/// of [`consent_patient_checked`], an identifier for an opt-in, and no
/// placeholder identifier. Every path checks this before anything else.
pub fn consent_checked(decision: &str, patient: &StoredPatient) -> Result<(), OpsError> {
    consent_patient_checked(patient)?;
    // An opt-in releases sensitive information, so it must name its
    // patient surely: by name, birth date and sex alone a record never
    // scores a full match (it could be a twin or a namesake), and an
    // opt-in that never matches would leave an earlier opt-out in force.
    if decision == super::process::OPT_IN && patient.identifiers.is_empty() {
        return Err(OpsError::Invalid("an opt-in needs the patient id and its assigning authority: by name, birth date and sex alone it could be another person's (an opt-out may be recorded either way)".into()));
    }
    if patient
        .identifiers
        .iter()
        .any(|(value, authority)| super::mpi::placeholder_identifier(value, authority))
    {
        return Err(OpsError::Invalid("the patient id is a placeholder (one digit repeated, 123456789, UNKNOWN, or an SSN never issued) that names no one: give the real id, or name the patient by family name, given name, birth date and sex".into()));
    }
    Ok(())
}

/// Whether a consent decision names its patient in a form matching can
/// read: every identifier with its assigning authority; a birth date as
/// YYYYMMDD that is a date; sex one of HL7 table 0001's M, F, O, U, A, N, X
/// (as a roster may hold it); no control characters or
/// overlong values. Without an identifier it takes family and given names,
/// birth date and sex: family name and birth date alone would also hold for
/// a sibling born the same day, and a birth date matching cannot read would
/// leave an opt-out recorded that never holds.
fn consent_patient_checked(p: &StoredPatient) -> Result<(), OpsError> {
    let bad = |what: &str| Err(OpsError::Invalid(what.to_string()));
    let odd = |v: &str| v.chars().count() > 200 || v.chars().any(char::is_control);
    for (value, authority) in &p.identifiers {
        if value.trim().is_empty() || authority.trim().is_empty() {
            return bad("give the patient id and its assigning authority together");
        }
        if odd(value) || odd(authority) {
            return bad(
                "the patient id and authority: at most 200 characters, no control characters",
            );
        }
    }
    if odd(&p.family) || odd(&p.given) {
        return bad("names: at most 200 characters, no control characters");
    }
    if let Some(b) = &p.birth_date {
        let iso = match (b.get(..4), b.get(4..6), b.get(6..)) {
            (Some(y), Some(m), Some(d)) if b.len() == 8 => format!("{y}-{m}-{d}"),
            _ => String::new(),
        };
        if !b.bytes().all(|c| c.is_ascii_digit())
            || crate::clock::days_from_iso_date(&iso).is_none()
        {
            return bad("write the birth date as YYYY-MM-DD or YYYYMMDD");
        }
    }
    if p.sex
        .is_some_and(|c| !matches!(c, 'M' | 'F' | 'O' | 'U' | 'A' | 'N' | 'X'))
    {
        return bad("sex is one of M, F, O, U, A, N or X");
    }
    let named = !p.family.trim().is_empty()
        && !p.given.trim().is_empty()
        && p.birth_date.is_some()
        && p.sex.is_some();
    if p.identifiers.is_empty() && !named {
        return bad(
            "name the patient by --patient-id and --authority, or by --family, --given, --birth-date and --sex",
        );
    }
    // Named by demographics alone, the decision must at least match the
    // patient it names, or it is recorded and never holds: a birth date
    // before 1901 ("19000101", the usual "unknown") and placeholder names
    // ("Unknown", "Patient") are no evidence to matching.
    if p.identifiers.is_empty() {
        let mut index = crate::notify::mpi::Index::new();
        let me = super::process::mpi_patient(0, p);
        index.insert(me.clone());
        if matches!(
            index.lookup(&me.identifiers, &me.demographics),
            crate::notify::mpi::Outcome::NoMatch
        ) {
            return bad(
                "matching could never find this patient by these names, birth date and sex: a birth date before 1901 and placeholder names (Unknown, Patient, Baby) count for nothing; give the real ones, or name the patient by --patient-id and --authority",
            );
        }
    }
    Ok(())
}

/// Whether `owner` may have a roster imported: an address here, enabled. A
/// disabled address keeps its roster (matching nothing) but takes no new
/// one: its practice has left, or its staff gone.
async fn roster_owner_checked(
    conn: &mut AnyConnection,
    owner: &DirectAddress,
) -> Result<(), OpsError> {
    match addresses::find(conn, owner).await? {
        None => Err(OpsError::Invalid(format!(
            "{owner} is not an address on this HISP"
        ))),
        Some(a) if !a.enabled => Err(OpsError::Store(crate::store::StoreError::Conflict(
            format!(
                "{owner} is disabled, so its roster cannot be changed until an \
                 administrator enables the address again"
            ),
        ))),
        Some(_) => Ok(()),
    }
}

/// An allow-list as the audit records it.
fn shown_allow(allow: &Allowed) -> String {
    match allow.is_any() {
        true => "any".to_string(),
        false => allow.to_string(),
    }
}

impl Hisp {
    /// Register a sending facility (MSH-4.1), whose messages may come from
    /// the addresses `allow` holds, over any client certificate or none.
    pub async fn feed_add(
        &self,
        facility: &str,
        name: &str,
        sensitive: bool,
        allow: &Allowed,
        actor: &str,
    ) -> Result<FeedRow, OpsError> {
        let any = CertPins::any();
        self.feed_add_pinned(facility, name, sensitive, (allow, &any), actor)
            .await
    }

    /// [`Hisp::feed_add`], its messages taken only over the client
    /// certificates `pins` holds (when it holds any).
    pub async fn feed_add_pinned(
        &self,
        facility: &str,
        name: &str,
        sensitive: bool,
        (allow, pins): (&Allowed, &CertPins),
        actor: &str,
    ) -> Result<FeedRow, OpsError> {
        let facility = facility.trim();
        if facility.is_empty()
            // ASCII's controls, as the intake refuses (`mllp::unusable_key`):
            // a Latin-1 feed's Windows-1252 byte (0x92, ’) is a character.
            || facility.chars().any(|c| c.is_ascii_control())
            || facility.chars().count() > super::mllp::MAX_HD_ID
        {
            return Err(OpsError::Invalid(format!(
                "--facility must be the sending facility's MSH-4 id (HD.1, else HD.2), \
                 at most {} characters",
                super::mllp::MAX_HD_ID
            )));
        }
        let mut tx = self.store.begin().await?;
        let (stored, certs) = (allow.stored(), pins.stored());
        let now = self.now();
        let row = notify::insert_feed(
            &mut tx,
            facility,
            name,
            sensitive,
            stored.as_deref(),
            certs.as_deref(),
            now,
        )
        .await?;
        let detail = format!(
            "sensitive={sensitive} allow_from={} client_certs={pins}",
            shown_allow(allow)
        );
        self.audit(&mut tx, actor, "feed.add", facility, &detail)
            .await?;
        tx.commit().await?;
        Ok(row)
    }

    /// Set the addresses a registered feed's messages may come from
    /// (`Allowed::any()`: any address), audited as `feed.allow`.
    pub async fn feed_allow(
        &self,
        facility: &str,
        allow: &Allowed,
        actor: &str,
    ) -> Result<FeedRow, OpsError> {
        let detail = format!("allow_from={}", shown_allow(allow));
        let set = (FeedList::AllowFrom, allow.stored());
        self.feed_set_list(facility, set, ("feed.allow", &detail), actor)
            .await
    }

    /// Set the client certificates a registered feed's messages may come
    /// over (`CertPins::any()`: any client), audited as `feed.pin`.
    pub async fn feed_pin(
        &self,
        facility: &str,
        pins: &CertPins,
        actor: &str,
    ) -> Result<FeedRow, OpsError> {
        let detail = format!("client_certs={pins}");
        let set = (FeedList::ClientCerts, pins.stored());
        self.feed_set_list(facility, set, ("feed.pin", &detail), actor)
            .await
    }

    /// Store one of a registered feed's lists (`stored`: `None` for
    /// anyone) and audit it as `action` with `detail`.
    async fn feed_set_list(
        &self,
        facility: &str,
        (list, stored): (FeedList, Option<String>),
        (action, detail): (&str, &str),
        actor: &str,
    ) -> Result<FeedRow, OpsError> {
        let facility = facility.trim();
        let mut tx = self.store.begin().await?;
        let Some(row) = notify::set_feed_list(&mut tx, facility, list, stored.as_deref()).await?
        else {
            return Err(crate::store::StoreError::NotFound(format!("feed {facility}")).into());
        };
        self.audit(&mut tx, actor, action, facility, detail).await?;
        tx.commit().await?;
        Ok(row)
    }

    /// Every feed.
    pub async fn feed_list(&self) -> Result<Vec<FeedRow>, OpsError> {
        let mut conn = self.conn().await?;
        Ok(notify::feeds(&mut conn).await?)
    }

    /// Delete roster entries expired more than `[notify] roster_archive_days`
    /// ago (STANDARDS.md §7: panels "age out after 90 days and are archived
    /// for 180"), audited with the count; in the caller's transaction.
    pub async fn purge_archived_rosters(
        &self,
        conn: &mut AnyConnection,
        actor: &str,
    ) -> Result<u64, OpsError> {
        let days = i64::from(self.config.notify.roster_archive_days);
        let before = self.now().saturating_sub(days * 86_400);
        let n = notify::purge_expired_entries(conn, before).await?;
        if n > 0 {
            let detail = format!("{n} entries expired over {days} days ago deleted");
            self.audit(conn, actor, "roster.purge", "rosters", &detail)
                .await?;
        }
        Ok(n)
    }

    /// Import a roster for `owner` (a local address).
    pub async fn roster_import(
        &self,
        owner: &DirectAddress,
        csv: &[u8],
        replace: bool,
        strict: bool,
        actor: &str,
    ) -> Result<Imported, OpsError> {
        let now = self.now();
        // Refused before the file is read, whatever it holds; checked again
        // under the held counter below (a disable bumps it).
        roster_owner_checked(&mut *self.conn().await?, owner).await?;
        let parsed: Parsed = roster_csv::parse(csv, MAX_ROSTER_BYTES, today(now))
            .map_err(|e| OpsError::Invalid(format!("roster: {e}")))?;
        // A file of no rows replacing a roster would end every entry: a
        // failed or cut export, not a practice with no patients (which
        // says so one entry at a time, each with an end_date).
        if replace && parsed.data_rows == 0 {
            return Err(OpsError::Invalid(
                "roster: the file has no rows, so --replace would end every entry; nothing \
                 applied (to end entries, list them with an end_date)"
                    .into(),
            ));
        }
        let problems: Vec<ProblemLine> = parsed.problems.iter().map(ProblemLine::from).collect();
        let mut done = Imported {
            rows: parsed.data_rows,
            applied: 0,
            ended: 0,
            problems,
            replaced: 0,
            replace_skipped: false,
        };
        if strict && !done.problems.is_empty() {
            return Ok(done);
        }
        let expires = now + i64::from(self.config.notify.roster_expiry_days) * 86_400;
        let owner_s = owner.to_string();
        let mut tx = self.store.begin().await?;
        // Hold the change counter first (on PostgreSQL a row lock, which
        // every roster and consent change takes): a second import of the same
        // roster waits here, then reads this one's entries, and renews them
        // rather than adding twins.
        notify::generation_held(&mut tx, self.store.engine()).await?;
        roster_owner_checked(&mut tx, owner).await?;
        self.purge_archived_rosters(&mut tx, actor).await?;
        let sealer = self.store.sealer();
        let existing = notify::entries(&mut tx, sealer, Some(&owner_s), now).await?;
        let index = Existing::new(&existing);
        // The entries this upload holds (renewed or new), and the older
        // duplicates of them it ended. Rows naming their patient by
        // identifier claim their entries first, so that a row naming a
        // namesake by name alone cannot take one of them.
        let mut kept = Vec::new();
        let mut touched = std::collections::HashSet::new();
        let mut rows: Vec<_> = parsed.rows.iter().map(|r| (r, r.patient())).collect();
        rows.sort_by_key(|(_, p)| p.identifiers.is_empty());
        for (r, patient) in &rows {
            // Re-submitting a patient renews the entry in place rather than
            // adding a twin: its id stays, and with it the alerts and reviews
            // that name it. Older duplicates of the same patient end.
            let fits = index.same(patient, &touched);
            let olds = named_by_identifier(patient, &fits);
            // An end_date already past ends the patient's entry at once
            // (before, the row was refused as a mistake and the entry went on
            // alerting until the roster expired). Today is UTC's.
            let over = r
                .end_date
                .as_deref()
                .and_then(crate::clock::days_from_iso_date)
                .is_some_and(|day| (day + 1) * 86_400 <= now);
            let Some((keep, others)) = olds.split_first() else {
                if over {
                    // Nothing to end, and nothing to enrol.
                    done.applied += 1;
                    continue;
                }
                let entry = new_entry(r, patient, expires);
                kept.push(notify::insert_entry(&mut tx, sealer, &owner_s, &entry, now).await?);
                done.applied += 1;
                continue;
            };
            // A row by name alone that fits entries of two people (John
            // Smith born the same day under MRNs 111 and 222) is neither.
            if others
                .iter()
                .any(|e| !same_patient(&keep.patient, &e.patient))
            {
                done.problems.push(ProblemLine {
                    row: r.row,
                    column: String::new(),
                    problem: format!(
                        "fits {} roster entries of different patients (the same name and \
                         birth date under different patient_ids): give this patient's \
                         patient_id and assigning_authority",
                        olds.len()
                    ),
                });
                continue;
            }
            if over {
                let ids: Vec<i64> = olds.iter().map(|e| e.id).collect();
                done.ended += notify::end_entries(&mut tx, &owner_s, &ids, now).await?;
                touched.extend(ids);
                done.applied += 1;
                continue;
            }
            // The entry keeps identifiers the row does not contradict (a
            // re-export that leaves the MRN out does not unlink it).
            let mut renewed = patient.clone();
            for id in &keep.patient.identifiers {
                if !renewed
                    .identifiers
                    .iter()
                    .any(|(_, au)| au.trim().to_lowercase() == id.1.trim().to_lowercase())
                {
                    renewed.identifiers.push(id.clone());
                }
            }
            // A column the file leaves out says nothing: its stored value
            // stays (a monthly refresh of the required columns alone would
            // otherwise clear every ZIP and phone, which corroborate a
            // match, and every end date and program).
            let absent = parsed.absent;
            if absent.postal_code {
                renewed.postal_code.clone_from(&keep.patient.postal_code);
            }
            if absent.phone {
                renewed.phone.clone_from(&keep.patient.phone);
            }
            let mut entry = new_entry(r, &renewed, expires);
            if absent.program {
                entry.program = keep.program.as_deref();
            }
            if absent.end_date {
                entry.end_date = keep.end_date.as_deref();
                entry.expires_at = enrolment_ends(expires, entry.end_date);
            }
            notify::renew_entry(&mut tx, sealer, keep.id, &entry).await?;
            let duplicates: Vec<i64> = others.iter().map(|e| e.id).collect();
            notify::end_entries(&mut tx, &owner_s, &duplicates, now).await?;
            kept.push(keep.id);
            // Not an entry the row left alone: a later row may be its
            // patient, and `--replace` ends it if none is.
            touched.extend(olds.iter().map(|e| e.id));
            done.applied += 1;
        }
        done.problems.sort_by_key(|p| p.row);
        if strict && !done.problems.is_empty() {
            done.applied = 0;
            done.ended = 0;
            return Ok(done); // the transaction, dropped, rolls back
        }
        // Replacing ends every other entry (archived, like an expired one,
        // so an open review or an unsent digest alert can still read it) —
        // but not when rows were refused: a patient whose row has a typo is
        // still meant to be on the roster, and would silently drop off it.
        if replace && done.problems.is_empty() {
            let kept: std::collections::HashSet<i64> = kept.into_iter().chain(touched).collect();
            let left_out: Vec<i64> = existing
                .iter()
                .map(|e| e.id)
                .filter(|id| !kept.contains(id))
                .collect();
            done.replaced = notify::end_entries(&mut tx, &owner_s, &left_out, now).await?;
        } else if replace {
            done.replace_skipped = true;
        }
        let detail = format!(
            "{} applied, {} ended, {} problems, {} replaced{}",
            done.applied,
            done.ended,
            done.problems.len(),
            done.replaced,
            if done.replace_skipped {
                " (replace skipped: rows had problems)"
            } else {
                ""
            }
        );
        self.audit(&mut tx, actor, "roster.import", &owner_s, &detail)
            .await?;
        tx.commit().await?;
        Ok(done)
    }

    /// Whether `patient`, as a consent decision names them, is on a current
    /// roster of one of `owners`: one entry holds every identifier the
    /// decision gives and is the person any names, birth date and sex given
    /// beside them describe ([`vouches`]), or, when it gives none, has the
    /// same names, birth date and no contradicting sex. A decision is matched
    /// by identifier first, so one identifier the entry does not hold would
    /// reach another practice's patient, whatever names came with it; and it
    /// is matched by its demographics too, so the entry's identifier with
    /// another patient's names would stop that patient's alerts everywhere.
    pub async fn on_rosters_of(
        &self,
        patient: &StoredPatient,
        owners: &[DirectAddress],
    ) -> Result<bool, OpsError> {
        let mut conn = self.conn().await?;
        let sealer = self.store.sealer();
        // Each identifier with the numbers a hospital's merge joined to it:
        // after an A40 the entry holds the survivor, and the care manager
        // may give the number on their older papers.
        let mut merged = Vec::with_capacity(patient.identifiers.len());
        for id in &patient.identifiers {
            let one = std::slice::from_ref(id);
            merged.push(notify::merged_identifiers(&mut conn, sealer, one).await?);
        }
        for owner in owners {
            let owner = owner.to_string();
            let entries: Vec<notify::RosterEntry> =
                notify::entries(&mut conn, sealer, Some(&owner), self.now())
                    .await?
                    .into_iter()
                    .map(read_entry)
                    .collect();
            let names_it = |e: &notify::RosterEntry| {
                if patient.identifiers.is_empty() {
                    same_patient(patient, &e.patient)
                } else {
                    // Each identifier under one of the names its authority
                    // goes by ([`consent_patient`]: the entry may hold one),
                    // or one merged with it.
                    let held = |x: &(String, String)| {
                        let i = patient.identifiers.iter().position(|z| z == x);
                        let names = i.and_then(|i| merged.get(i)).map_or(&[][..], |m| &m[..]);
                        names
                            .iter()
                            .any(|n| e.patient.identifiers.iter().any(|y| notify::same_id(n, y)))
                    };
                    patient
                        .identifiers
                        .iter()
                        .all(|x| patient.identifiers.iter().filter(|z| z.0 == x.0).any(held))
                        && vouches(&e.patient, patient)
                }
            };
            if entries.iter().any(names_it) {
                return Ok(true);
            }
        }
        Ok(false)
    }

    /// Record a consent decision (`opt-out` or `opt-in`). An assigning
    /// authority written as a whole HD is recorded under each name it goes
    /// by ([`consent_patient`]). An opt-out is also recorded under every
    /// number a hospital's merge joined to one it gives
    /// ([`notify::merged_identifiers`]): given under the number an A40
    /// retired, it holds for the survivor the feeds send now, as one
    /// recorded before the merge does (`notify::merge_consent_identifier`);
    /// given under the survivor, it holds for a late message still carrying
    /// the retired number. An opt-in is recorded as given: it releases
    /// sensitive information, so it names its patient surely, and a merge
    /// widens nothing it releases.
    pub async fn consent_record(
        &self,
        decision: &str,
        patient: &StoredPatient,
        actor: &str,
    ) -> Result<i64, OpsError> {
        let patient = consent_patient(patient);
        consent_checked(decision, &patient)?;
        // An opt-out also removes what hisp holds about the patient (`opt_out`).
        let opt_out = decision == super::process::OPT_OUT;
        let sealer = self.store.sealer();
        let mut named = patient.clone();
        if opt_out {
            let mut conn = self.conn().await?;
            named.identifiers =
                notify::merged_identifiers(&mut conn, sealer, &patient.identifiers).await?;
        }
        let mut attempt = 0;
        let (mut tx, sweep, recorded) = loop {
            attempt += 1;
            let mut sweep = if opt_out {
                self.opt_out_sweep(&named).await?
            } else {
                Default::default()
            };
            let mut tx = self.store.begin().await?;
            // Under the change counter, which a merge holds too: a merge
            // committed since the numbers were read is seen now, and one
            // not yet committed finds this decision when it runs (it judges
            // consent again when the decisions changed since its plan).
            if opt_out {
                self.catch_up(&mut tx, &mut sweep).await?;
                let now_named =
                    notify::merged_identifiers(&mut tx, sealer, &named.identifiers).await?;
                let grew = now_named.len() > named.identifiers.len();
                named.identifiers = now_named;
                // Swept again for the new numbers (a merge is rare; twice
                // at most, then recorded under them all the same).
                if grew && attempt < 3 {
                    continue;
                }
            }
            let mut recorded = named.clone();
            for id in &sweep.identifiers {
                if !recorded.identifiers.iter().any(|x| notify::same_id(x, id)) {
                    recorded.identifiers.push(id.clone());
                }
            }
            break (tx, sweep, recorded);
        };
        let id = notify::insert_consent(
            &mut tx,
            self.store.sealer(),
            decision,
            &recorded,
            self.now(),
        )
        .await?;
        // The reviews first, then the audit chain: in the order a review's
        // decision takes them (`review::finish`), so that on PostgreSQL the
        // two cannot each hold what the other waits for.
        let swept = self.apply_opt_out_sweep(&mut tx, &sweep, actor).await?;
        let subject = format!("consent {id}");
        self.audit(&mut tx, actor, "consent.record", &subject, decision)
            .await?;
        if let Some(detail) = swept {
            self.audit(&mut tx, actor, "consent.sweep", &subject, &detail)
                .await?;
        }
        tx.commit().await?;
        Ok(id)
    }

    /// Move an alert along the worklist (`new`, `in-progress`, `completed`)
    /// and audit it, in the caller's transaction (so a caller can check the
    /// alert is the user's in the same one). Shared by the CLI, portal and API.
    ///
    /// `expected` is the status the caller's page showed: when the alert has
    /// another one now, someone changed it meanwhile and this change is
    /// refused as a conflict rather than silently undoing theirs (see
    /// [`notify::set_alert_status`]). A change to the status it already has
    /// is not audited again.
    pub async fn alert_status(
        &self,
        conn: &mut AnyConnection,
        id: i64,
        status: &str,
        expected: Option<&str>,
        actor: &str,
    ) -> Result<(), OpsError> {
        for s in std::iter::once(status).chain(expected) {
            if !ALERT_STATUSES.contains(&s) {
                return Err(OpsError::Invalid(format!(
                    "'{s}' is not an alert status (new, in-progress or completed)"
                )));
            }
        }
        if notify::set_alert_status(conn, id, status, expected).await? {
            self.audit(conn, actor, "alert.status", &format!("alert {id}"), status)
                .await?;
        }
        Ok(())
    }

    /// How `owner` gets alerts (`realtime` or `digest`), audited, in the
    /// caller's transaction. Shared by the CLI, portal and API.
    pub async fn subscription_mode(
        &self,
        conn: &mut AnyConnection,
        owner: &str,
        mode: &str,
        actor: &str,
    ) -> Result<(), OpsError> {
        if mode != "realtime" && mode != "digest" {
            return Err(OpsError::Invalid(format!(
                "'{mode}' is not a delivery mode (realtime or digest)"
            )));
        }
        notify::set_subscription_mode(conn, owner, mode, self.now()).await?;
        self.audit(conn, actor, "subscription.mode", owner, mode)
            .await
    }

    /// The address alerts come from: `[notify] sender`, else
    /// `notifications@<first domain>`; issued (with certificates) on first use.
    pub async fn notification_address(&self) -> Result<DirectAddress, OpsError> {
        let addr = match &self.config.notify.sender {
            Some(s) => DirectAddress::parse(s)?,
            None => {
                let mut conn = self.conn().await?;
                let first = domains::list(&mut conn)
                    .await?
                    .into_iter()
                    .next()
                    .ok_or_else(|| {
                        OpsError::Invalid("no domain is served: add one first".into())
                    })?;
                DirectAddress::parse(&format!("notifications@{}", first.name))?
            }
        };
        let exists = {
            let mut conn = self.conn().await?;
            addresses::find(&mut conn, &addr).await?.is_some()
        };
        if !exists {
            let req = NewAddress {
                address: addr.clone(),
                name: Some("Encounter notifications".into()),
                role: Role::Provider,
                password: None,
                single_use: None,
            };
            match self.address_add(req, "notify").await {
                Ok(_) | Err(OpsError::Store(crate::store::StoreError::Duplicate(_))) => {}
                Err(e) => return Err(e),
            }
        }
        Ok(addr)
    }
}

#[cfg(test)]
mod tests {
    use super::{Existing, StoredPatient, enrolment_ends, same_patient};

    #[test]
    fn a_generational_suffix_does_not_make_another_patient() {
        let john = |family: &str, given: &str| StoredPatient {
            family: family.into(),
            given: given.into(),
            birth_date: Some("19950312".into()),
            ..StoredPatient::default()
        };
        for (a, b) in [
            (john("Smith Jr", "John"), john("SMITH", "JOHN")),
            (john("Smith", "John Jr."), john("Smith", "John")),
            (john("Nguyễn", "Thảo"), john("NGUYEN", "THAO")),
        ] {
            assert!(same_patient(&a, &b), "{a:?} / {b:?}");
            assert_eq!(Existing::name_key(&a), Existing::name_key(&b));
        }
        assert!(!same_patient(
            &john("Smithers", "John"),
            &john("Smith", "John")
        ));
    }

    #[test]
    fn a_row_renews_the_entry_holding_its_identifier_first() {
        let jane = |id: &str, authority: &str| StoredPatient {
            identifiers: vec![(id.into(), authority.into())],
            family: "Doe".into(),
            given: "Jane".into(),
            birth_date: Some("19800102".into()),
            sex: Some('F'),
            ..StoredPatient::default()
        };
        let entry = |id: i64, patient: StoredPatient| crate::store::notify::RosterEntry {
            id,
            owner: "carol@a.test".into(),
            patient,
            program: None,
            end_date: None,
            expires_at: 0,
            created_at: 0,
        };
        // The SOUTH entry is the older; the NORTH row finds NORTH's alone:
        // identifiers with none in common are two patients.
        let entries = [entry(1, jane("S1", "SOUTH")), entry(2, jane("N1", "NORTH"))];
        let existing = Existing::new(&entries);
        let none = std::collections::HashSet::new();
        let ids = |found: Vec<&crate::store::notify::RosterEntry>| -> Vec<i64> {
            found.iter().map(|e| e.id).collect()
        };
        assert_eq!(ids(existing.same(&jane("N1", "NORTH"), &none)), [2]);
        assert_eq!(ids(existing.same(&jane("S1", "south"), &none)), [1]);
        // A third authority's identifier is a third patient.
        assert!(existing.same(&jane("W1", "WEST"), &none).is_empty());
        // A row without one is found by name and birth date, oldest first;
        // as it fits two patients, the import refuses it.
        let unnamed = StoredPatient {
            identifiers: Vec::new(),
            ..jane("", "")
        };
        assert_eq!(ids(existing.same(&unnamed, &none)), [1, 2]);
        assert!(!same_patient(&entries[0].patient, &entries[1].patient));
        // An entry without an identifier is renewed by a row with one.
        let by_name = [entry(3, unnamed.clone())];
        let existing = Existing::new(&by_name);
        assert_eq!(ids(existing.same(&jane("N1", "NORTH"), &none)), [3]);
        // Authorities fold case as matching folds them, beyond ASCII too.
        let sued = [entry(4, jane("111", "KLINIKUM SÜD"))];
        let existing = Existing::new(&sued);
        let id_only = StoredPatient {
            identifiers: vec![("111".into(), "Klinikum Süd".into())],
            ..StoredPatient::default()
        };
        assert_eq!(ids(existing.same(&id_only, &none)), [4]);
    }

    #[test]
    fn an_end_date_ends_the_entry_when_it_comes_before_expiry() {
        let day = crate::clock::days_from_iso_date("2026-11-23").expect("day");
        let expires = (day + 90) * 86_400;
        assert_eq!(
            enrolment_ends(expires, Some("2026-11-23")),
            (day + 1) * 86_400,
            "at the end of the last enrolled day"
        );
        assert_eq!(enrolment_ends(expires, Some("2027-11-23")), expires);
        assert_eq!(enrolment_ends(expires, None), expires);
    }
}
