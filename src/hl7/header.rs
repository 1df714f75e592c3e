//! The MSH summary: owns pulling the routing and control fields out of the
//! message header into an owned [`Header`] (what the ACK builder, logging
//! and routing need), and the acknowledgment-mode rules that hang off it.
//!
//! Values are decoded text. Absent or empty fields become `""` (or `None`
//! for the optional ones); nothing here fails — validation is the caller's
//! job (e.g. answer AR with error 200 when `message_type` is empty).

use super::er7::Message;
use super::view::{Field, Segment};

/// A hierarchic designator (HD): MSH-3..6 are of this type.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Hd {
    /// HD.1, e.g. `ADTApp`.
    pub namespace_id: String,
    /// HD.2, e.g. an OID.
    pub universal_id: String,
    /// HD.3, e.g. `ISO`.
    pub universal_id_type: String,
}

/// The fields of MSH that matter for routing and acknowledging.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Header {
    /// MSH-3.
    pub sending_app: Hd,
    /// MSH-4.
    pub sending_facility: Hd,
    /// MSH-5.
    pub receiving_app: Hd,
    /// MSH-6.
    pub receiving_facility: Hd,
    /// MSH-7.1, as sent (`YYYYMMDDHHMM[SS[.S]][+/-ZZZZ]`).
    pub timestamp: String,
    /// MSH-9.1, e.g. `ADT`.
    pub message_type: String,
    /// MSH-9.2, e.g. `A01`.
    pub trigger_event: String,
    /// MSH-9.3, e.g. `ADT_A01`; absent in v2.3, which has two components.
    pub structure: Option<String>,
    /// MSH-10. "up to 20" characters before v2.7, 199 after; longer values
    /// are accepted as-is.
    pub control_id: String,
    /// MSH-11.1: `P`, `T` or `D`.
    pub processing_id: String,
    /// MSH-12.1, e.g. `2.5.1`.
    pub version: String,
    /// MSH-15 (`AL`, `NE`, `ER`, `SU`); `None` when empty, blank or `""`.
    pub accept_ack_type: Option<String>,
    /// MSH-16, same table as MSH-15.
    pub app_ack_type: Option<String>,
}

impl<'a> Message<'a> {
    /// Summarises MSH. Never fails: missing fields come back empty.
    pub fn header(&self) -> Header {
        let msh = self.msh();
        let text = |n: usize, c: usize| component_text(&msh, n, c);
        Header {
            sending_app: hd(msh.field(3)),
            sending_facility: hd(msh.field(4)),
            receiving_app: hd(msh.field(5)),
            receiving_facility: hd(msh.field(6)),
            timestamp: text(7, 1),
            message_type: text(9, 1),
            trigger_event: text(9, 2),
            structure: non_empty(text(9, 3)),
            control_id: field_text(&msh, 10),
            processing_id: text(11, 1),
            version: text(12, 1),
            accept_ack_type: non_empty(text(15, 1)),
            app_ack_type: non_empty(text(16, 1)),
        }
    }
}

fn hd(field: Option<Field<'_>>) -> Hd {
    let part = |n: usize| {
        field
            .and_then(|f| f.component(n))
            .map(|c| c.text().into_owned())
            .unwrap_or_default()
    };
    Hd {
        namespace_id: part(1),
        universal_id: part(2),
        universal_id_type: part(3),
    }
}

fn component_text(seg: &Segment<'_>, field: usize, comp: usize) -> String {
    seg.field(field)
        .and_then(|f| f.component(comp))
        .map(|c| c.text().into_owned())
        .unwrap_or_default()
}

fn field_text(seg: &Segment<'_>, field: usize) -> String {
    seg.field(field)
        .and_then(|f| f.repetition(1))
        .map(|r| r.text().into_owned())
        .unwrap_or_default()
}

/// Blank and `""` count as not valued (the corpus has `MSH-15 = " "`).
fn non_empty(s: String) -> Option<String> {
    let t = s.trim();
    (!t.is_empty() && t != "\"\"").then(|| t.to_owned())
}

impl Header {
    /// Enhanced acknowledgment mode: MSH-15 or MSH-16 is valued. When both
    /// are null or absent, the original acknowledgment mode rules apply
    /// (HL7 v2.x chapter 2, acknowledgment modes).
    pub fn enhanced_mode(&self) -> bool {
        self.accept_ack_type.is_some() || self.app_ack_type.is_some()
    }

    /// Whether the sender asked for an accept (commit) acknowledgment with
    /// this outcome. Original mode always wants one. In enhanced mode MSH-15
    /// decides, table 0155: `AL` always, `NE` never, `ER` only on error or
    /// reject, `SU` only on success; an unrecognised or missing value is
    /// answered (an extra ACK is safer than a sender retrying forever).
    pub fn accept_ack_wanted(&self, success: bool) -> bool {
        if !self.enhanced_mode() {
            return true;
        }
        match self.accept_ack_type.as_deref() {
            Some("NE") => false,
            Some("ER") => !success,
            Some("SU") => success,
            _ => true,
        }
    }

    /// MSH-12 as `(major, minor, patch)`, e.g. `2.5.1` → `(2, 5, 1)`;
    /// `None` if it is not dotted numbers.
    pub fn version_tuple(&self) -> Option<(u32, u32, u32)> {
        let mut parts = self.version.trim().split('.');
        let mut next = |required: bool| match parts.next() {
            Some(p) => p.parse::<u32>().ok(),
            None => (!required).then_some(0),
        };
        let v = (next(true)?, next(true)?, next(false)?);
        parts.next().is_none().then_some(v)
    }

    /// True when MSH-12 is a parseable version at or above `min`.
    pub fn version_at_least(&self, min: (u32, u32, u32)) -> bool {
        self.version_tuple().is_some_and(|v| v >= min)
    }
}
