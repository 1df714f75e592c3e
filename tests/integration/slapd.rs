//! A real OpenLDAP `slapd` for tests: a child process with a throwaway
//! slapd.conf (core, cosine and inetorgperson schemas), an `mdb` database in a
//! temp dir loaded with `slapadd` before start, listening on
//! `ldap://127.0.0.1:<free port>/` with suffix [`SUFFIX`] and anonymous read.
//! Entries carry `mail` and `userCertificate;binary`. Killed on drop.
//!
//! Without slapd installed (Debian: `slapd` and `ldap-utils`) [`Slapd::start`]
//! prints a skip note and returns None; under CI (env `CI` set) that is a panic.

use std::io::Write;
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The directory's suffix.
pub const SUFFIX: &str = "dc=ldap,dc=example,dc=net";

/// One person (or organization) entry.
pub struct Entry {
    /// The RDN value: the entry is `cn=<cn>,` + [`SUFFIX`].
    pub cn: String,
    /// The `mail` value: an address, or a domain for organization-bound certificates.
    pub mail: String,
    /// `userCertificate;binary` values (DER, or anything, for robustness tests).
    pub certs: Vec<Vec<u8>>,
}

/// A running slapd.
pub struct Slapd {
    /// Where it listens.
    pub addr: SocketAddr,
    child: Child,
    _dir: tempfile::TempDir,
}

/// A program in PATH or the sbin directories, where Debian puts slapd.
fn program(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain(["/usr/sbin".into(), "/usr/local/sbin".into()])
        .map(|d| d.join(name))
        .find(|p| p.is_file())
}

impl Slapd {
    /// Start slapd holding `entries`; None (after a skip note) when slapd is
    /// not installed and env CI is unset.
    pub fn start(entries: &[Entry]) -> Option<Slapd> {
        let (Some(slapd), Some(slapadd)) = (program("slapd"), program("slapadd")) else {
            assert!(
                std::env::var_os("CI").is_none(),
                "CI must have slapd installed (Debian packages slapd and ldap-utils)"
            );
            eprintln!("slapd is not installed: skipped the LDAP discovery tests");
            return None;
        };
        let dir = tempfile::tempdir().expect("tempdir");
        let conf = write_config(dir.path());
        let ldif = dir.path().join("data.ldif");
        std::fs::write(&ldif, ldif_text(entries)).expect("write LDIF");
        let out = Command::new(&slapadd)
            .arg("-f")
            .arg(&conf)
            .arg("-l")
            .arg(&ldif)
            .output()
            .expect("run slapadd");
        assert!(
            out.status.success(),
            "slapadd failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let addr = free_port();
        let log = std::fs::File::create(dir.path().join("slapd.log")).expect("log");
        let child = Command::new(&slapd)
            .arg("-f")
            .arg(&conf)
            .arg("-h")
            .arg(format!("ldap://{addr}/"))
            .args(["-d", "0"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("start slapd");
        let mut s = Slapd {
            addr,
            child,
            _dir: dir,
        };
        s.wait_ready();
        Some(s)
    }

    fn wait_ready(&mut self) {
        let start = Instant::now();
        while start.elapsed() < Duration::from_secs(10) {
            if TcpStream::connect(self.addr).is_ok() {
                return;
            }
            if let Ok(Some(status)) = self.child.try_wait() {
                let log = std::fs::read_to_string(self._dir.path().join("slapd.log"));
                panic!("slapd exited ({status}): {}", log.unwrap_or_default());
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        panic!("slapd did not listen on {} within 10 s", self.addr);
    }
}

impl Drop for Slapd {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A port on 127.0.0.1 that was free a moment ago (and is closed now).
pub fn free_port() -> SocketAddr {
    let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    l.local_addr().expect("address")
}

fn write_config(dir: &Path) -> PathBuf {
    let db = dir.join("db");
    std::fs::create_dir(&db).expect("db dir");
    let mut text = String::new();
    for schema in ["core", "cosine", "inetorgperson"] {
        text.push_str(&format!("include /etc/ldap/schema/{schema}.schema\n"));
    }
    text.push_str(&format!("pidfile {}\n", dir.join("slapd.pid").display()));
    // Debian builds back_mdb as a module; other builds link it in.
    if Path::new("/usr/lib/ldap/back_mdb.la").exists() {
        text.push_str("modulepath /usr/lib/ldap\nmoduleload back_mdb\n");
    }
    text.push_str(&format!(
        "database mdb\nmaxsize 10485760\nsuffix \"{SUFFIX}\"\n\
         rootdn \"cn=admin,{SUFFIX}\"\nrootpw unused-{}\ndirectory {}\n\
         access to * by * read\n",
        std::process::id(),
        db.display()
    ));
    let path = dir.join("slapd.conf");
    let mut f = std::fs::File::create(&path).expect("slapd.conf");
    f.write_all(text.as_bytes()).expect("write slapd.conf");
    path
}

fn ldif_text(entries: &[Entry]) -> String {
    let mut out = format!(
        "dn: {SUFFIX}\nobjectClass: dcObject\nobjectClass: organization\ndc: ldap\no: test\n\n"
    );
    for e in entries {
        out.push_str(&format!(
            "dn: cn={cn},{SUFFIX}\nobjectClass: inetOrgPerson\ncn: {cn}\nsn: {cn}\nmail: {}\n",
            e.mail,
            cn = e.cn
        ));
        for c in &e.certs {
            let b64 = openssl::base64::encode_block(c);
            out.push_str(&format!("userCertificate;binary:: {b64}\n"));
        }
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn starts_serves_and_stops() {
        let entries = [Entry {
            cn: "jo".into(),
            mail: "jo@example.net".into(),
            certs: vec![vec![0x30, 0x00]],
        }];
        let started = Instant::now();
        let Some(s) = Slapd::start(&entries) else {
            return;
        };
        assert!(started.elapsed() < Duration::from_secs(3), "slow start");
        let addr = s.addr;
        if let Some(search) = program("ldapsearch") {
            let out = Command::new(search)
                .args(["-x", "-LLL", "-H", &format!("ldap://{addr}"), "-b", SUFFIX])
                .arg("(mail=jo@example.net)")
                .output()
                .expect("ldapsearch");
            let text = String::from_utf8_lossy(&out.stdout);
            assert!(text.contains("userCertificate;binary:: MAA="), "{text}");
        }
        drop(s);
        assert!(TcpStream::connect(addr).is_err(), "slapd still listens");
    }
}
