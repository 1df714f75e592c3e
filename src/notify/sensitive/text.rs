//! Free text: the word lists, and the words a text is judged by.
//!
//! **Text** (`sensitive_text`): words are runs of ASCII letters or of digits
//! (anything else, non-ASCII letters too, ends a word, so `HIV+` and `HIV1`
//! are `hiv` and the judgement is the same whether a message was read as
//! UTF-8 or Latin-1), compared case-blind: [`STEMS`] by their start,
//! [`INFIXES`] anywhere, [`WORDS`] whole (`this` and `hives` are not `hiv`),
//! [`PHRASES`] as two words. Spanish stems (sobredosis, psicosis,
//! psiquiatría, depresión) are few; other languages are not judged.

/// Does this free text reveal substance use, mental health or HIV?
pub fn sensitive_text(text: &str) -> bool {
    let words = words(text);
    let phrases = || PHRASES.split(',').filter_map(|p| p.trim().split_once(' '));
    words.iter().enumerate().any(|(i, w)| {
        WORDS.split_whitespace().any(|x| x == w)
            || STEMS.split_whitespace().any(|s| w.starts_with(s))
            || INFIXES.split_whitespace().any(|s| w.contains(s))
            || phrases().any(|(a, b)| w == a && words.get(i + 1).is_some_and(|n| n.starts_with(b)))
    })
}

/// Words judged by their start. Mental health (`psych` takes psychology in
/// on purpose: a psychology consult is mental health care; `depress` takes
/// "ST depression" too, and `depr` the abbreviation "depr." with sleep
/// deprivation, `deliri` and `dement` follow the F chapter's F05 and
/// F01–F03), self-harm, substance use (`abuse` takes child and elder abuse
/// too), HIV.
const STEMS: &str = "\
    psych antipsych antidepress neurolept schizo bipolar hypomani depress anxi panic suicid \
    homicid hallucin delusion paranoi catatoni dissociative posttraumatic autis asperger dement \
    deliri anorexi bulimi behavio electroconvuls lithium selfharm selfinjur overdos intentional \
    alcohol ethanol intox inebriat withdraw detox hangover opioid opiate heroin fentanyl \
    methadone suboxone subutex buprenorph narcan naloxone naltrexone vivitrol cocaine methamphet \
    amphetamine cannabi marijuana marihuana phencyclidine ketamine benzodiaz barbiturat inhalant \
    kratom xylazine polysubst substance addict abuse misuse sober sobriet toxicol retrovir \
    antiretrovir sobredosi psicosi psiquiat depresi depr";

/// Word parts judged anywhere in a word: units named GEROPSYCH, NEUROPSYCH.
const INFIXES: &str = "psych schizo";

/// Words judged whole: abbreviations an ED writes (SI/HI suicidal or
/// homicidal ideation, OD, ETOH, DTs, CIWA/COWS withdrawal scales, IVDU,
/// SUD/AUD/OUD/MOUD, MAT, UDS and tox screens, DUI; MDD and GAD, major
/// depressive and generalised anxiety disorder; SMI/SPMI, serious mental
/// illness, which a program name may carry), CT's PEC and
/// California's 5150 holds, BH, BEH and PSY units, DT ("DT's" splits into
/// "dt" and "s"), and HIV's words, Spanish VIH and SIDA among them (PrEP and
/// PEP too: "bowel prep" is withheld, at little cost).
const WORDS: &str = "\
    si hi od ocd adhd ptsd mania manic ect bh bhu pec 5150 etoh drunk dts ciwa cows meth mdma \
    ecstasy thc lsd benzo benzos xanax huffing ivdu ivda pwid pwud sud aud oud moud mat dui dwi \
    uds tox hiv aids haart prep pep psy dt beh vih sida mdd gad smi spmi";

/// Two words, comma-separated: the first whole, the second by its start ("altered mental
/// status" is not judged, "mental health" is).
const PHRASES: &str = "\
    self harm, self injur, self inflict, self mutilat, mental health, mental ill, mental \
    disorder, mentally ill, eating disorder, personality disorder, post traumatic, emergency \
    certificate, involuntary commit, involuntary hold, baker act, drug use, drug seek, drug \
    depend, drug screen, iv drug, chemical depend, human immunodeficien, viral load, cd 4";

/// Lower-cased runs of ASCII letters, or of ASCII digits.
fn words(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut word = String::new();
    for c in text.chars() {
        let boundary = !c.is_ascii_alphanumeric()
            || word
                .chars()
                .last()
                .is_some_and(|l| l.is_ascii_digit() != c.is_ascii_digit());
        if boundary && !word.is_empty() {
            out.push(std::mem::take(&mut word));
        }
        if c.is_ascii_alphanumeric() {
            word.push(c.to_ascii_lowercase());
        }
    }
    if !word.is_empty() {
        out.push(word);
    }
    out
}
