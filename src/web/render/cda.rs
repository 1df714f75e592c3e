//! C-CDA documents in received mail: owns reading an HL7 CDA R2 document
//! (a CCD, a referral note, a discharge summary) into a [`CdaSummary`] of plain
//! strings that the portal shows in place of raw XML.
//!
//! Why a summary and not the document: the CDA's own rendering is an XSLT
//! stylesheet, and its narrative can carry links and `renderMultiMedia`. Here
//! nothing is rendered as markup; every value is a string that the template
//! escapes, so a hostile document can only produce odd text.
//!
//! What is read: the header (title, type, effective time, the first
//! `recordTarget/patientRole`, author, custodian) and every section of
//! `component/structuredBody`, nested ones flattened after their parent. A
//! section's narrative block (`<text>`) becomes lines of text: `paragraph`,
//! `caption`, each list `item` ("• " or "1. ") and each table row (cells joined
//! with " | ") start a line, `br` ends one, inline markup (`content`, `sub`,
//! `linkHtml`…) keeps only its text (`content revised="delete"` none, as in the
//! HL7 sample stylesheet), and whitespace is collapsed. Coded entries are not
//! read: the narrative is what a recipient renders ("The Section.text field is
//! used to store narrative to be rendered", CDA R2 §4.3.5).
//!
//! Elements are matched by local name in the `urn:hl7-org:v3` namespace, or in
//! no namespace, which some senders produce.
//!
//! Limits, because the bytes come from any sender: input over
//! [`MAX_INPUT`] bytes, more than [`MAX_NODES`] XML nodes or elements nested
//! deeper than [`MAX_DEPTH`] are refused, and so is any DTD (roxmltree's
//! default, kept explicit here: no entity expansion, no external entities).
//! roxmltree itself parses without recursion and has no depth limit; the depth
//! check here is what bounds the recursion in this module. Input must be UTF-8
//! (with or without a BOM), the encoding C-CDA documents are sent in.

use std::mem;

use roxmltree::{Document, Node, ParsingOptions};
use serde::Serialize;
use thiserror::Error;

/// Largest document read, in bytes (10 MiB).
pub const MAX_INPUT: usize = 10 * 1024 * 1024;
/// Most XML nodes (elements, text, comments) in one document: bounds memory.
/// A 10 MiB C-CDA has a few hundred thousand.
pub const MAX_NODES: u32 = 1_000_000;
/// Deepest element nesting accepted. Real C-CDAs nest a few dozen levels.
pub const MAX_DEPTH: usize = 256;
/// How much of a part [`looks_like_cda`] searches for the root element.
pub const HEAD_SCAN: usize = 8 * 1024;

/// Nested lists indent at most this many levels, so that deep nesting cannot
/// multiply the size of the output.
const MAX_INDENT: usize = 4;

/// The CDA R2 namespace.
const HL7_NS: &str = "urn:hl7-org:v3";

/// What the portal shows for a C-CDA document. Every field is plain text.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize)]
pub struct CdaSummary {
    /// The document's `title`, whitespace collapsed.
    pub title: Option<String>,
    /// The document type: `code/@displayName` ("Continuity of Care Document").
    pub document_type: Option<String>,
    /// `effectiveTime/@value` as sent: an HL7 TS such as `20240305143000-0500`.
    pub effective_time: Option<String>,
    /// The date part of `effective_time`, as `2024-03-05` (or `2024-03`, `2024`).
    pub effective_date: Option<String>,
    /// Who the document is about (the first `recordTarget`).
    pub patient: Option<CdaPatient>,
    /// Who wrote it: the first author's person (or device) name, with the
    /// organization in parentheses, or the organization alone.
    pub author: Option<String>,
    /// The organization that keeps the original.
    pub custodian: Option<String>,
    /// The body's sections in document order, nested ones after their parent.
    pub sections: Vec<CdaSection>,
}

/// The patient, from `recordTarget/patientRole`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize)]
pub struct CdaPatient {
    /// Given names then family name, space-separated (empty if none was sent).
    pub name: String,
    /// `birthTime` as `YYYY-MM-DD` (or shorter, at the precision sent).
    pub birth_date: Option<String>,
    /// `administrativeGenderCode`: its `displayName`, else its `code`.
    pub sex: Option<String>,
    /// Each `id` as (root OID, extension); the extension is empty when the
    /// root alone is the identifier. Ids with no root (`nullFlavor`) are skipped.
    pub identifiers: Vec<(String, String)>,
}

/// One section of the body.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize)]
pub struct CdaSection {
    /// The section `title`, else `code/@displayName`, else empty.
    pub title: String,
    /// `code/@code`, usually a LOINC code (`48765-2` for allergies).
    pub code: Option<String>,
    /// Nesting: 0 for a section of the body, 1 for a section inside it, ….
    pub level: usize,
    /// The narrative block as lines of plain text (see the module docs).
    pub text: Vec<String>,
}

/// Why a part could not be summarized; the portal then offers it as a
/// download only. Messages name no patient data.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum CdaError {
    /// Over [`MAX_INPUT`] bytes: refused before parsing.
    #[error("document is {size} bytes, over the {limit}-byte limit")]
    TooLarge {
        /// The input's size.
        size: usize,
        /// [`MAX_INPUT`].
        limit: usize,
    },
    /// Not UTF-8 (UTF-16 and Latin-1 documents are not read).
    #[error("document is not UTF-8 (invalid byte at offset {offset})")]
    NotUtf8 {
        /// Length of the valid UTF-8 prefix.
        offset: usize,
    },
    /// Not well-formed XML (this includes empty input).
    #[error("not well-formed XML: {message}")]
    NotXml {
        /// roxmltree's message, which ends with the position.
        message: String,
        /// 1-based line of the error.
        line: u32,
        /// 1-based column of the error.
        column: u32,
    },
    /// The document has a DTD (`<!DOCTYPE … [ … ]>`), which is never processed.
    #[error("document has a DTD, which is refused")]
    DtdRefused,
    /// More than [`MAX_NODES`] nodes.
    #[error("document has more than {limit} XML nodes")]
    TooManyNodes {
        /// [`MAX_NODES`].
        limit: u32,
    },
    /// Elements nested deeper than [`MAX_DEPTH`].
    #[error("elements nest deeper than {limit} levels")]
    TooDeep {
        /// [`MAX_DEPTH`].
        limit: usize,
    },
    /// Well-formed XML whose root is not an HL7 `ClinicalDocument`.
    #[error("root element is <{found}>, not an HL7 ClinicalDocument")]
    NotClinicalDocument {
        /// The root's name (`{namespace}name` if in another namespace),
        /// cut to 100 characters.
        found: String,
    },
}

/// Whether a MIME part is worth trying [`summarize`] on: an XML content type
/// (`text/xml`, `application/xml`, `application/cda+xml`; parameters and case
/// ignored) or a `.xml` file name, and `ClinicalDocument` within the first
/// [`HEAD_SCAN`] bytes of `head`.
pub fn looks_like_cda(content_type: &str, name: &str, head: &[u8]) -> bool {
    let essence = content_type.split(';').next().unwrap_or_default().trim();
    let xml_type = ["text/xml", "application/xml", "application/cda+xml"]
        .iter()
        .any(|t| essence.eq_ignore_ascii_case(t));
    let extension = name.get(name.len().saturating_sub(4)..);
    let xml_name = extension.is_some_and(|ext| ext.eq_ignore_ascii_case(".xml"));
    let head = &head[..head.len().min(HEAD_SCAN)];
    (xml_type || xml_name) && head.windows(16).any(|w| w == b"ClinicalDocument")
}

/// Read a C-CDA document into a [`CdaSummary`]. Any bytes give `Ok` or `Err`,
/// never a panic; see [`CdaError`] for what is refused.
pub fn summarize(xml: &[u8]) -> Result<CdaSummary, CdaError> {
    if xml.len() > MAX_INPUT {
        return Err(CdaError::TooLarge {
            size: xml.len(),
            limit: MAX_INPUT,
        });
    }
    let text = std::str::from_utf8(xml).map_err(|e| CdaError::NotUtf8 {
        offset: e.valid_up_to(),
    })?;
    let options = ParsingOptions {
        allow_dtd: false,
        nodes_limit: MAX_NODES,
        ..ParsingOptions::default()
    };
    let doc = Document::parse_with_options(text, options).map_err(CdaError::from)?;
    check_depth(&doc)?;
    let root = doc.root_element();
    if !is(root, "ClinicalDocument") {
        return Err(CdaError::NotClinicalDocument {
            found: element_name(root),
        });
    }
    Ok(read_document(root))
}

impl From<roxmltree::Error> for CdaError {
    fn from(error: roxmltree::Error) -> Self {
        match error {
            roxmltree::Error::DtdDetected => CdaError::DtdRefused,
            roxmltree::Error::NodesLimitReached => CdaError::TooManyNodes { limit: MAX_NODES },
            other => {
                let pos = other.pos();
                CdaError::NotXml {
                    message: other.to_string(),
                    line: pos.row,
                    column: pos.col,
                }
            }
        }
    }
}

/// Refuse nesting deeper than [`MAX_DEPTH`], without recursion: nodes come in
/// document order, so a parent's depth is known before its children's.
fn check_depth(doc: &Document) -> Result<(), CdaError> {
    let mut depths = vec![0_u16; doc.descendants().count()];
    for node in doc.descendants() {
        let parent = node.parent().and_then(|p| depths.get(p.id().get_usize()));
        let depth = parent.map_or(0, |d| d + 1);
        if usize::from(depth) > MAX_DEPTH {
            return Err(CdaError::TooDeep { limit: MAX_DEPTH });
        }
        if let Some(slot) = depths.get_mut(node.id().get_usize()) {
            *slot = depth;
        }
    }
    Ok(())
}

/// The header fields and the body.
fn read_document(doc: Node) -> CdaSummary {
    let effective_time = child(doc, "effectiveTime").and_then(|t| attr(t, "value"));
    CdaSummary {
        title: child(doc, "title").and_then(text_of),
        document_type: child(doc, "code").and_then(|c| attr(c, "displayName")),
        effective_date: effective_time.as_deref().and_then(hl7_date),
        effective_time,
        patient: path(doc, &["recordTarget", "patientRole"]).map(read_patient),
        author: children(doc, "author")
            .filter_map(|a| child(a, "assignedAuthor"))
            .find_map(read_author),
        custodian: path(
            doc,
            &[
                "custodian",
                "assignedCustodian",
                "representedCustodianOrganization",
                "name",
            ],
        )
        .and_then(text_of),
        sections: read_body(doc),
    }
}

/// `recordTarget/patientRole`: its ids, and the patient's name, birth and sex.
fn read_patient(role: Node) -> CdaPatient {
    let patient = child(role, "patient");
    let field = |name| patient.and_then(|p| child(p, name));
    CdaPatient {
        name: field("name").and_then(person_name).unwrap_or_default(),
        birth_date: field("birthTime")
            .and_then(|b| attr(b, "value"))
            .and_then(|v| hl7_date(&v)),
        sex: field("administrativeGenderCode")
            .and_then(|g| attr(g, "displayName").or_else(|| attr(g, "code"))),
        identifiers: children(role, "id")
            .filter_map(|id| Some((attr(id, "root")?, attr(id, "extension").unwrap_or_default())))
            .collect(),
    }
}

/// `assignedAuthor`: "Person (Organization)", either alone, or a device's
/// software name in place of the person.
fn read_author(assigned: Node) -> Option<String> {
    let person = path(assigned, &["assignedPerson", "name"])
        .and_then(person_name)
        .or_else(|| path(assigned, &["assignedAuthoringDevice", "softwareName"]).and_then(text_of));
    let organization = path(assigned, &["representedOrganization", "name"]).and_then(text_of);
    match (person, organization) {
        (Some(person), Some(organization)) => Some(format!("{person} ({organization})")),
        (person, organization) => person.or(organization),
    }
}

/// A PN: given names then family names, or the element's text when it has
/// neither (an unstructured name).
fn person_name(name: Node) -> Option<String> {
    let parts: Vec<String> = children(name, "given")
        .chain(children(name, "family"))
        .filter_map(text_of)
        .collect();
    if parts.is_empty() {
        text_of(name)
    } else {
        Some(parts.join(" "))
    }
}

/// Every section under `component/structuredBody`, flattened depth first.
fn read_body(doc: Node) -> Vec<CdaSection> {
    let mut sections = Vec::new();
    if let Some(body) = path(doc, &["component", "structuredBody"]) {
        for section in subsections(body) {
            read_section(section, 0, &mut sections);
        }
    }
    sections
}

/// One section, then its subsections. The recursion is bounded by [`MAX_DEPTH`].
fn read_section(section: Node, level: usize, out: &mut Vec<CdaSection>) {
    let code = child(section, "code");
    let title = child(section, "title")
        .and_then(text_of)
        .or_else(|| code.and_then(|c| attr(c, "displayName")))
        .unwrap_or_default();
    out.push(CdaSection {
        title,
        code: code.and_then(|c| attr(c, "code")),
        level,
        text: child(section, "text")
            .map(Narrative::render)
            .unwrap_or_default(),
    });
    for nested in subsections(section) {
        read_section(nested, level + 1, out);
    }
}

/// The `component/section` children of a body or section.
fn subsections<'a, 'i>(parent: Node<'a, 'i>) -> impl Iterator<Item = Node<'a, 'i>> {
    children(parent, "component").filter_map(|c| child(c, "section"))
}

/// Turns a narrative block into lines of text (see the module docs).
#[derive(Default)]
struct Narrative {
    /// Finished lines.
    lines: Vec<String>,
    /// The line being built.
    line: String,
    /// Whitespace was seen since the last character of `line`.
    space: bool,
    /// A list marker waiting for the first text of its item.
    marker: Option<String>,
    /// How many lists we are inside, for indenting nested ones.
    lists: usize,
}

impl Narrative {
    fn render(text: Node) -> Vec<String> {
        let mut narrative = Narrative::default();
        narrative.children(text);
        narrative.end_line();
        narrative.lines
    }

    fn children(&mut self, node: Node) {
        for child in node.children() {
            self.node(child);
        }
    }

    fn node(&mut self, node: Node) {
        if node.is_text() {
            self.push(node.text().unwrap_or_default());
        } else if node.is_element() {
            match node.tag_name().name() {
                "br" => self.end_line(),
                "paragraph" | "caption" | "item" => self.block(node),
                "list" => self.list(node),
                "table" | "thead" | "tbody" | "tfoot" => self.block(node),
                "tr" => self.row(node),
                "col" | "colgroup" | "footnoteRef" | "renderMultiMedia" => {}
                // The HL7 sample stylesheet: "Content w/ deleted text is hidden".
                "content" if node.attribute("revised") == Some("delete") => {}
                _ => self.children(node),
            }
        }
    }

    fn block(&mut self, node: Node) {
        self.end_line();
        self.children(node);
        self.end_line();
    }

    /// Each item starts a line with "• " (or "1. " for `listType="ordered"`),
    /// indented two spaces per enclosing list, up to [`MAX_INDENT`] lists.
    fn list(&mut self, list: Node) {
        self.end_line();
        let ordered = list.attribute("listType") == Some("ordered");
        let indent = "  ".repeat(self.lists.min(MAX_INDENT));
        self.lists += 1;
        let mut number = 0;
        for child in list.children().filter(Node::is_element) {
            if child.tag_name().name() != "item" {
                self.node(child);
                continue;
            }
            number += 1;
            self.end_line();
            self.marker = Some(if ordered {
                format!("{indent}{number}. ")
            } else {
                format!("{indent}• ")
            });
            self.children(child);
            self.end_line();
        }
        self.lists -= 1;
        self.marker = None;
    }

    /// A table row on one line: each cell's text, " | " between cells.
    fn row(&mut self, row: Node) {
        self.end_line();
        let cells: Vec<String> = row
            .children()
            .filter(|c| c.is_element() && matches!(c.tag_name().name(), "td" | "th"))
            .map(|cell| Narrative::render(cell).join(" "))
            .collect();
        if cells.iter().any(|c| !c.is_empty()) {
            let marker = self.marker.take().unwrap_or_default();
            self.lines.push(marker + &cells.join(" | "));
        }
    }

    /// Append text, collapsing whitespace; a pending list marker goes first.
    fn push(&mut self, text: &str) {
        for c in text.chars() {
            if c.is_whitespace() {
                self.space = true;
                continue;
            }
            if self.line.is_empty() {
                if let Some(marker) = self.marker.take() {
                    self.line.push_str(&marker);
                }
            } else if self.space {
                self.line.push(' ');
            }
            self.space = false;
            self.line.push(c);
        }
    }

    /// Finish the current line, if it has any text. A marker with no text yet
    /// stays pending, so `<item><paragraph>x</paragraph></item>` keeps its bullet.
    fn end_line(&mut self) {
        if !self.line.is_empty() {
            self.lines.push(mem::take(&mut self.line));
        }
        self.space = false;
    }
}

/// The date in an HL7 TS (`YYYY[MM[DD[HH…]]][±ZZZZ]`), at the precision sent:
/// `2024-03-05`, `2024-03` or `2024`. `None` if it does not start with a
/// plausible date.
fn hl7_date(ts: &str) -> Option<String> {
    let digits = ts.bytes().take_while(u8::is_ascii_digit).count();
    let year = ts.get(..4)?;
    let month = ts.get(4..6).filter(|_| digits >= 6);
    let day = ts.get(6..8).filter(|_| digits >= 8);
    let in_range = |part: Option<&str>, max: u8| {
        part.is_none_or(|p| p.parse::<u8>().is_ok_and(|n| (1..=max).contains(&n)))
    };
    if digits < 4 || !in_range(month, 12) || !in_range(day, 31) {
        return None;
    }
    Some(
        [Some(year), month, day]
            .into_iter()
            .flatten()
            .collect::<Vec<_>>()
            .join("-"),
    )
}

/// Whether `node` is the HL7 element `local` (or `local` in no namespace).
fn is(node: Node, local: &str) -> bool {
    let name = node.tag_name();
    node.is_element() && name.name() == local && matches!(name.namespace(), None | Some(HL7_NS))
}

/// The first child element named `local`.
fn child<'a, 'i>(node: Node<'a, 'i>, local: &str) -> Option<Node<'a, 'i>> {
    node.children().find(|c| is(*c, local))
}

/// Every child element named `local`.
fn children<'a, 'i>(node: Node<'a, 'i>, local: &'static str) -> impl Iterator<Item = Node<'a, 'i>> {
    node.children().filter(move |c| is(*c, local))
}

/// Follow first-child steps: `path(doc, &["custodian", "assignedCustodian"])`.
fn path<'a, 'i>(node: Node<'a, 'i>, steps: &[&str]) -> Option<Node<'a, 'i>> {
    steps.iter().try_fold(node, |n, step| child(n, step))
}

/// An attribute's value, whitespace collapsed; `None` if absent or blank.
fn attr(node: Node, name: &str) -> Option<String> {
    node.attribute(name).and_then(collapse)
}

/// All text under `node`, whitespace collapsed; `None` if blank.
fn text_of(node: Node) -> Option<String> {
    let raw: String = node
        .descendants()
        .filter(|n| n.is_text())
        .filter_map(|n| n.text())
        .collect();
    collapse(&raw)
}

/// Runs of whitespace become one space, ends trimmed; `None` if nothing is left.
fn collapse(text: &str) -> Option<String> {
    let words: Vec<&str> = text.split_whitespace().collect();
    (!words.is_empty()).then(|| words.join(" "))
}

/// An element's name for an error message: `{namespace}local` outside HL7,
/// at most 100 characters.
fn element_name(node: Node) -> String {
    let name = node.tag_name();
    let full = match name.namespace() {
        Some(ns) if ns != HL7_NS => format!("{{{ns}}}{}", name.name()),
        _ => name.name().to_owned(),
    };
    full.chars().take(100).collect()
}

#[cfg(test)]
mod tests;
