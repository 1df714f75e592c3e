//! Tests of the C-CDA summary.
use super::*;

/// A small CCD shaped like the C-CDA R2.1 samples: header, patient with
/// three ids (one null), author, custodian, and a body with a table, a
/// paragraph and list, and a nested section with an ordered list.
const CCD: &str = r#"<?xml version="1.0" encoding="UTF-8"?>
<?xml-stylesheet type="text/xsl" href="CDA.xsl"?>
<ClinicalDocument xmlns="urn:hl7-org:v3" xmlns:sdtc="urn:hl7-org:sdtc"
xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">
  <realmCode code="US"/>
  <typeId root="2.16.840.1.113883.1.3" extension="POCD_HD000040"/>
  <templateId root="2.16.840.1.113883.10.20.22.1.1" extension="2015-08-01"/>
  <templateId root="2.16.840.1.113883.10.20.22.1.2" extension="2015-08-01"/>
  <id root="2.16.840.1.113883.19.5.99999.1" extension="TT988"/>
  <code code="34133-9" codeSystem="2.16.840.1.113883.6.1" codeSystemName="LOINC"
  displayName="Continuity of Care Document"/>
  <title>Good Health Clinic
  Continuity   of Care Document</title>
  <effectiveTime value="20240305143000-0500"/>
  <confidentialityCode code="N" codeSystem="2.16.840.1.113883.5.25"/>
  <languageCode code="en-US"/>
  <recordTarget>
<patientRole>
  <id root="2.16.840.1.113883.19.5.99999.2" extension="998991"/>
  <id root="2.16.840.1.113883.4.1" extension="111-00-2330"/>
  <id nullFlavor="UNK"/>
  <addr use="HP"><streetAddressLine>2222 Home Street</streetAddressLine>
    <city>Beaverton</city><state>OR</state><postalCode>97867</postalCode></addr>
  <telecom value="tel:+1(555)555-2003" use="HP"/>
  <patient>
    <name use="L"><given>Eve</given> <given>Marie</given> <family>Everywoman</family></name>
    <administrativeGenderCode code="F" codeSystem="2.16.840.1.113883.5.1" displayName="Female"/>
    <birthTime value="19750501"/>
    <sdtc:deceasedInd value="false"/>
  </patient>
</patientRole>
  </recordTarget>
  <author>
<time value="20240305"/>
<assignedAuthor>
  <id root="2.16.840.1.113883.4.6" extension="555555555"/>
  <assignedPerson><name><prefix>Dr.</prefix><given>Henry</given><family>Seven</family></name></assignedPerson>
  <representedOrganization><name>Good Health Clinic</name></representedOrganization>
</assignedAuthor>
  </author>
  <custodian>
<assignedCustodian>
  <representedCustodianOrganization>
    <id root="2.16.840.1.113883.19.5.9999.1393"/>
    <name>Community Health and Hospitals</name>
  </representedCustodianOrganization>
</assignedCustodian>
  </custodian>
  <component>
<structuredBody>
  <component>
    <section>
      <templateId root="2.16.840.1.113883.10.20.22.2.6.1" extension="2015-08-01"/>
      <code code="48765-2" codeSystem="2.16.840.1.113883.6.1" displayName="Allergies"/>
      <title>Allergies and Adverse Reactions</title>
      <text>
        <table border="1" width="100%">
          <thead><tr><th>Substance</th><th>Reaction</th><th>Status</th></tr></thead>
          <tbody>
            <tr ID="a1"><td><content ID="s1">Penicillin G</content></td><td>Hives</td><td>Active</td></tr>
            <tr><td>Codeine</td><td>Nausea,
              <content styleCode="Bold">vomiting</content></td><td>Resolved</td></tr>
          </tbody>
        </table>
      </text>
      <entry typeCode="DRIV">
        <act classCode="ACT" moodCode="EVN">
          <code code="CONC" codeSystem="2.16.840.1.113883.5.6" displayName="Not shown"/>
        </act>
      </entry>
    </section>
  </component>
  <component>
    <section>
      <code code="10160-0" codeSystem="2.16.840.1.113883.6.1"
          displayName="History of Medication use"/>
      <title>Medications</title>
      <text>
        <paragraph>Current   medications as of
          <content>5 March 2024</content>:</paragraph>
        <list listType="unordered">
          <item>Lisinopril 10 mg oral tablet, once daily</item>
          <item>Metformin 500 mg<br/>twice daily with meals</item>
        </list>
      </text>
    </section>
  </component>
  <component>
    <section>
      <code code="47519-4" codeSystem="2.16.840.1.113883.6.1" displayName="History of Procedures"/>
      <text><paragraph>H<sub>2</sub>O breath test, see below.</paragraph></text>
      <component>
        <section>
          <title>Surgical history</title>
          <text>
            <list listType="ordered">
              <caption>Past operations</caption>
              <item>Appendectomy (2010)</item>
              <item><paragraph>Knee arthroscopy</paragraph></item>
            </list>
          </text>
        </section>
      </component>
    </section>
  </component>
</structuredBody>
  </component>
</ClinicalDocument>
"#;

fn strings(lines: &[&str]) -> Vec<String> {
    lines.iter().map(|l| (*l).to_owned()).collect()
}

#[test]
fn header_fields_are_read() -> Result<(), CdaError> {
    let summary = summarize(CCD.as_bytes())?;
    assert_eq!(
        summary.title.as_deref(),
        Some("Good Health Clinic Continuity of Care Document")
    );
    assert_eq!(
        summary.document_type.as_deref(),
        Some("Continuity of Care Document")
    );
    assert_eq!(
        summary.effective_time.as_deref(),
        Some("20240305143000-0500")
    );
    assert_eq!(summary.effective_date.as_deref(), Some("2024-03-05"));
    assert_eq!(
        summary.author.as_deref(),
        Some("Henry Seven (Good Health Clinic)")
    );
    assert_eq!(
        summary.custodian.as_deref(),
        Some("Community Health and Hospitals")
    );
    Ok(())
}

#[test]
fn patient_is_read() -> Result<(), CdaError> {
    let patient = summarize(CCD.as_bytes())?.patient;
    let expected = CdaPatient {
        name: "Eve Marie Everywoman".to_owned(),
        birth_date: Some("1975-05-01".to_owned()),
        sex: Some("Female".to_owned()),
        identifiers: vec![
            (
                "2.16.840.1.113883.19.5.99999.2".to_owned(),
                "998991".to_owned(),
            ),
            ("2.16.840.1.113883.4.1".to_owned(), "111-00-2330".to_owned()),
        ],
    };
    assert_eq!(patient, Some(expected));
    Ok(())
}

#[test]
fn sections_are_read_with_their_narrative() -> Result<(), CdaError> {
    let sections = summarize(CCD.as_bytes())?.sections;
    let expected = vec![
        CdaSection {
            title: "Allergies and Adverse Reactions".to_owned(),
            code: Some("48765-2".to_owned()),
            level: 0,
            text: strings(&[
                "Substance | Reaction | Status",
                "Penicillin G | Hives | Active",
                "Codeine | Nausea, vomiting | Resolved",
            ]),
        },
        CdaSection {
            title: "Medications".to_owned(),
            code: Some("10160-0".to_owned()),
            level: 0,
            text: strings(&[
                "Current medications as of 5 March 2024:",
                "• Lisinopril 10 mg oral tablet, once daily",
                "• Metformin 500 mg",
                "twice daily with meals",
            ]),
        },
        CdaSection {
            title: "History of Procedures".to_owned(),
            code: Some("47519-4".to_owned()),
            level: 0,
            text: strings(&["H2O breath test, see below."]),
        },
        CdaSection {
            title: "Surgical history".to_owned(),
            code: None,
            level: 1,
            text: strings(&[
                "Past operations",
                "1. Appendectomy (2010)",
                "2. Knee arthroscopy",
            ]),
        },
    ];
    assert_eq!(sections, expected);
    Ok(())
}

#[test]
fn narrative_edge_cases() -> Result<(), CdaError> {
    let doc = |text: &str| {
        format!(
            "<ClinicalDocument xmlns='urn:hl7-org:v3'><component><structuredBody><component>\
             <section><text>{text}</text></section></component></structuredBody></component>\
             </ClinicalDocument>"
        )
    };
    let cases: &[(&str, &[&str])] = &[
        ("", &[]),
        ("  \n ", &[]),
        ("one<br/>two<br/><br/>three", &["one", "two", "three"]),
        (
            "<list><item>a<list><item>b</item></list></item><item/></list>",
            &["• a", "  • b"],
        ),
        (
            "<list><item><table><tr><td>x</td><td>y</td></tr></table></item></list>",
            &["• x | y"],
        ),
        (
            "<table><tr><td/><td/></tr><tr><td>1</td><td/></tr></table>",
            &["1 | "],
        ),
        (
            "<paragraph>a<footnoteRef IDREF='f'/><renderMultiMedia referencedObject='m'/></paragraph>",
            &["a"],
        ),
        (
            "<linkHtml href='https://x.example/'>site</linkHtml> &amp; <![CDATA[<b>raw</b>]]>",
            &["site & <b>raw</b>"],
        ),
        ("<!-- note --><?pi x?>text", &["text"]),
        (
            "a<content revised='delete'>old</content><content revised='insert'>b</content>",
            &["ab"],
        ),
    ];
    for (text, expected) in cases {
        let sections = summarize(doc(text).as_bytes())?.sections;
        assert_eq!(sections.len(), 1, "{text}");
        assert_eq!(sections[0].text, strings(expected), "{text}");
    }
    Ok(())
}

#[test]
fn deep_narrative_within_the_limit_renders() -> Result<(), CdaError> {
    let doc = |text: String| {
        format!(
            "<ClinicalDocument><component><structuredBody><component><section><text>\
             {text}</text></section></component></structuredBody></component></ClinicalDocument>"
        )
    };
    let lists = format!(
        "{}x{}",
        "<list><item>".repeat(120),
        "</item></list>".repeat(120)
    );
    let text = &summarize(doc(lists).as_bytes())?.sections[0].text;
    assert_eq!(text, &strings(&["        • x"]));
    let tables = format!(
        "{}y{}",
        "<table><tr><td>".repeat(80),
        "</td></tr></table>".repeat(80)
    );
    let text = &summarize(doc(tables).as_bytes())?.sections[0].text;
    assert_eq!(text, &strings(&["y"]));
    Ok(())
}

#[test]
fn documents_without_a_namespace_are_read() -> Result<(), CdaError> {
    let xml = "<ClinicalDocument><title>T</title><recordTarget><patientRole>\
               <patient><name>Eve Everywoman</name></patient></patientRole></recordTarget>\
               <author><assignedAuthor><assignedAuthoringDevice><softwareName>EHR 9</softwareName>\
               </assignedAuthoringDevice></assignedAuthor></author></ClinicalDocument>";
    let summary = summarize(xml.as_bytes())?;
    assert_eq!(summary.title.as_deref(), Some("T"));
    assert_eq!(
        summary.patient.map(|p| p.name).as_deref(),
        Some("Eve Everywoman")
    );
    assert_eq!(summary.author.as_deref(), Some("EHR 9"));
    assert!(summary.sections.is_empty());
    Ok(())
}

#[test]
fn elements_in_other_namespaces_are_not_hl7_elements() -> Result<(), CdaError> {
    let xml = "<ClinicalDocument xmlns='urn:hl7-org:v3' xmlns:x='urn:other'>\
               <x:title>No</x:title><title>Yes</title></ClinicalDocument>";
    assert_eq!(summarize(xml.as_bytes())?.title.as_deref(), Some("Yes"));
    Ok(())
}

#[test]
fn a_minimal_document_gives_empty_fields() -> Result<(), CdaError> {
    let summary = summarize(b"<ClinicalDocument xmlns='urn:hl7-org:v3'/>")?;
    assert_eq!(summary, CdaSummary::default());
    Ok(())
}

#[test]
fn not_xml_is_an_error_with_a_position() {
    let error = summarize(b"<ClinicalDocument><title>x</ClinicalDocument>");
    let Err(CdaError::NotXml {
        message,
        line,
        column,
    }) = error
    else {
        panic!("{error:?}");
    };
    assert!(message.contains("title"), "{message}");
    assert_eq!((line, column), (1, 27)); // the `</` of the wrong close tag
    assert!(matches!(
        summarize(b"Hello, not XML"),
        Err(CdaError::NotXml { .. })
    ));
}

#[test]
fn empty_input_is_not_xml() {
    assert!(matches!(summarize(b""), Err(CdaError::NotXml { .. })));
    assert!(matches!(summarize(b"  \n"), Err(CdaError::NotXml { .. })));
}

#[test]
fn non_utf8_input_is_refused() {
    let latin1 = b"<ClinicalDocument><title>Jos\xe9</title></ClinicalDocument>";
    assert_eq!(summarize(latin1), Err(CdaError::NotUtf8 { offset: 28 }));
    let utf16 = b"\xff\xfe<\0C\0";
    assert_eq!(summarize(utf16), Err(CdaError::NotUtf8 { offset: 0 }));
}

#[test]
fn a_utf8_bom_is_accepted() -> Result<(), CdaError> {
    let summary =
        summarize("\u{feff}<ClinicalDocument><title>T</title></ClinicalDocument>".as_bytes())?;
    assert_eq!(summary.title.as_deref(), Some("T"));
    Ok(())
}

#[test]
fn other_roots_are_refused() {
    let found = |xml: &str| match summarize(xml.as_bytes()) {
        Err(CdaError::NotClinicalDocument { found }) => found,
        other => panic!("{other:?}"),
    };
    assert_eq!(
        found("<Bundle xmlns='http://hl7.org/fhir'/>"),
        "{http://hl7.org/fhir}Bundle"
    );
    assert_eq!(
        found("<ClinicalDocument xmlns='urn:x'/>"),
        "{urn:x}ClinicalDocument"
    );
    assert_eq!(found("<html/>"), "html");
    assert_eq!(found(&format!("<{}/>", "a".repeat(500))).len(), 100);
}

#[test]
fn dtds_are_refused() {
    let laughs = r#"<?xml version="1.0"?>
<!DOCTYPE ClinicalDocument [
  <!ENTITY lol "lol">
  <!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
  <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
]>
<ClinicalDocument><title>&lol3;</title></ClinicalDocument>"#;
    assert_eq!(summarize(laughs.as_bytes()), Err(CdaError::DtdRefused));
    let external = r#"<!DOCTYPE ClinicalDocument SYSTEM "http://evil.example/x.dtd" [
  <!ENTITY x SYSTEM "file:///etc/passwd">]><ClinicalDocument><title>&x;</title></ClinicalDocument>"#;
    assert_eq!(summarize(external.as_bytes()), Err(CdaError::DtdRefused));
}

#[test]
fn deep_nesting_is_an_error_not_a_crash() {
    for depth in [10_000, 1_000_000] {
        let xml = format!(
            "{}{}",
            "<ClinicalDocument>".repeat(depth),
            "</ClinicalDocument>".repeat(depth)
        );
        assert!(xml.len() <= MAX_INPUT || depth > 10_000);
        let expected = if xml.len() > MAX_INPUT {
            CdaError::TooLarge {
                size: xml.len(),
                limit: MAX_INPUT,
            }
        } else {
            CdaError::TooDeep { limit: MAX_DEPTH }
        };
        assert_eq!(summarize(xml.as_bytes()), Err(expected));
    }
    let deepest = format!("{}{}", "<a>".repeat(400_000), "</a>".repeat(400_000));
    assert_eq!(
        summarize(deepest.as_bytes()),
        Err(CdaError::TooDeep { limit: MAX_DEPTH })
    );
    let nest = |n| {
        format!(
            "{}{}",
            "<ClinicalDocument>".repeat(n),
            "</ClinicalDocument>".repeat(n)
        )
    };
    assert!(summarize(nest(MAX_DEPTH).as_bytes()).is_ok());
    assert_eq!(
        summarize(nest(MAX_DEPTH + 1).as_bytes()),
        Err(CdaError::TooDeep { limit: MAX_DEPTH })
    );
}

#[test]
fn size_and_node_limits() {
    let big = vec![b' '; MAX_INPUT + 1];
    assert_eq!(
        summarize(&big),
        Err(CdaError::TooLarge {
            size: MAX_INPUT + 1,
            limit: MAX_INPUT
        })
    );
    let many = format!(
        "<ClinicalDocument>{}</ClinicalDocument>",
        "<a/>".repeat(MAX_NODES as usize)
    );
    assert_eq!(
        summarize(many.as_bytes()),
        Err(CdaError::TooManyNodes { limit: MAX_NODES })
    );
}

#[test]
fn hl7_dates() {
    let cases = [
        ("20240305", Some("2024-03-05")),
        ("20240305143000.123-0500", Some("2024-03-05")),
        ("202403", Some("2024-03")),
        ("2024", Some("2024")),
        ("20245", Some("2024")),
        ("20241305", None),
        ("20240300", None),
        ("202", None),
        ("", None),
        ("2024-03-05", Some("2024")),
        ("１２３４", None),
    ];
    for (ts, expected) in cases {
        assert_eq!(hl7_date(ts).as_deref(), expected, "{ts}");
    }
}

#[test]
fn looks_like_cda_needs_xml_and_the_root_name() {
    let head = b"<?xml version='1.0'?><ClinicalDocument xmlns='urn:hl7-org:v3'>";
    assert!(looks_like_cda("text/xml", "", head));
    assert!(looks_like_cda("Application/XML; charset=utf-8", "", head));
    assert!(looks_like_cda("application/cda+xml", "ccd", head));
    assert!(looks_like_cda("application/octet-stream", "CCD.XML", head));
    assert!(!looks_like_cda("application/octet-stream", "ccd.pdf", head));
    assert!(!looks_like_cda("text/plain", "", head));
    assert!(!looks_like_cda(
        "text/xml",
        "a.xml",
        b"<Bundle xmlns='http://hl7.org/fhir'/>"
    ));
    assert!(!looks_like_cda("text/xml", "é.xml", b""));
    let mut late = vec![b' '; HEAD_SCAN];
    late.extend_from_slice(b"<ClinicalDocument>");
    assert!(!looks_like_cda("text/xml", "", &late));
}

#[test]
fn errors_name_no_content() {
    let error = summarize(b"<ClinicalDocument><title>Eve Everywoman</ClinicalDocument>");
    let message = error.err().map(|e| e.to_string()).unwrap_or_default();
    assert!(message.starts_with("not well-formed XML: "), "{message}");
    assert!(!message.contains("Everywoman"), "{message}");
}
