//! testssl.sh (the Debian package `testssl.sh`, installed by scripts/test) against an https
//! listener: no finding of severity MEDIUM or higher, apart from the few listed below that judge
//! the test certificate or the test backend rather than Fulcrum.
//!
//! The certificate is made here with rcgen: a test CA (ECDSA P-256) signs a leaf for
//! `localhost` and `127.0.0.1` valid for 90 days, and testssl is told to trust that CA
//! (`--add-ca`), so the chain-of-trust, hostname and expiry checks run for real and pass.
//!
//! testssl runs its default set of checks (protocols, cipher categories, forward secrecy, server
//! preferences, server defaults and certificate, HTTP headers, vulnerabilities, every cipher
//! one by one, client simulations), offline. It takes about 45 s on 2 cores.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Stdio};
use std::time::{Duration, Instant, SystemTime};

use fulcrum_testkit::Backend;
use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose, PKCS_ECDSA_P256_SHA256,
};
use serde_json::Value;

use crate::support::{Lb, TempDir};

/// testssl is killed (with everything it started) after this long and the test fails.
const TESTSSL_TIMEOUT: Duration = Duration::from_secs(180);

/// Findings that judge the test certificate, not the TLS configuration: excluded from the
/// verdict (still printed). Nothing else is excluded.
const ABOUT_TEST_CERTIFICATE: &[(&str, &str)] = &[(
    "cert_revocation",
    "the test CA runs no CRL distribution point or OCSP responder, so the leaf names neither; \
     a public CA's certificate carries them",
)];

/// Findings that judge the test backend's HTTP responses, which Fulcrum passes on unchanged:
/// excluded from the verdict (still printed).
const ABOUT_TEST_BACKEND: &[(&str, &str)] = &[(
    "security_headers",
    "none of X-Frame-Options, X-Content-Type-Options, Content-Security-Policy, ... in the \
     response: those are the application's to send, and the testkit backend sends none \
     (Strict-Transport-Security, which is Fulcrum's, is checked: `HSTS_time`)",
)];

/// IDs every complete scan reports; their absence means testssl skipped or broke a section.
const EXPECTED_IDS: &[&str] = &[
    "SSLv2",
    "SSLv3",
    "TLS1",
    "TLS1_1",
    "TLS1_2",
    "TLS1_3",
    "cipher_order",
    "cert_chain_of_trust",
    "cert_expirationStatus",
    "HSTS_time", // present only when Strict-Transport-Security is sent
    "heartbleed",
    "ROBOT",
    "secure_renego",
    "fallback_SCSV",
];

#[test]
fn testssl_reports_no_medium_or_higher_finding() {
    let testssl = find_testssl().unwrap_or_else(|| {
        panic!(
            "testssl.sh is not installed (neither `testssl` nor `testssl.sh` is on PATH). \
             scripts/test installs it: apt-get install testssl.sh"
        )
    });

    let dir = TempDir::new("testssl");
    let (ca_pem, cert, key) = write_certificates(&dir);
    let backend = Backend::start("app");
    let lb = Lb::start(&format!(
        r#"
[runtime]
workers = 2
[access_log]
target = "off"
[[listener]]
name = "web"
bind = "127.0.0.1:0"
protocol = "https"
  [listener.tls]
    [[listener.tls.cert]]
    cert = "{cert}"
    key = "{key}"
  [listener.hsts]
  [[listener.route]]
  pool = "app"
[pool.app]
backends = [{{ address = "{backend}" }}]
"#,
        cert = cert.display(),
        key = key.display(),
        backend = backend.addr,
    ));
    let target = format!("127.0.0.1:{}", lb.addr().port());

    let json_path = dir.0.join("testssl.json");
    let log_path = dir.0.join("testssl.log");
    let started = Instant::now();
    let status = run_testssl(&testssl, &ca_pem, &json_path, &log_path, &target);
    let took = started.elapsed();
    let log = std::fs::read_to_string(&log_path).unwrap_or_default();
    eprintln!(
        "testssl {target}: {status} after {:.1} s\n{log}",
        took.as_secs_f64()
    );

    let json = std::fs::read_to_string(&json_path)
        .unwrap_or_else(|e| panic!("testssl wrote no JSON ({status}): {e}; its output is above"));
    let findings = parse_findings(&json);

    let ids: BTreeSet<&str> = findings.iter().map(|f| f.id.as_str()).collect();
    let missing: Vec<&&str> = EXPECTED_IDS.iter().filter(|i| !ids.contains(**i)).collect();
    assert!(
        missing.is_empty(),
        "testssl's JSON lacks {missing:?}: the scan did not complete (output above)"
    );

    let mut failing = Vec::new();
    eprintln!("testssl findings at LOW or above, and testssl's own WARN and FATAL:");
    for f in &findings {
        let fails = match f.severity.as_str() {
            "DEBUG" | "INFO" | "OK" => continue,
            "LOW" | "WARN" => false,
            // FATAL: testssl could not run a check, so it proves nothing.
            "MEDIUM" | "HIGH" | "CRITICAL" | "FATAL" => true,
            _ => true, // a severity this test does not know: look at it
        };
        let excluded = excluded_because(base_id(&f.id));
        eprintln!(
            "  [{:<8}] {:<28} {}{}",
            f.severity,
            f.id,
            f.finding,
            excluded.map_or(String::new(), |why| format!("  (excluded: {why})")),
        );
        if fails && excluded.is_none() {
            failing.push(format!("{} [{}]: {}", f.id, f.severity, f.finding));
        }
    }
    eprintln!("testssl took {:.1} s", took.as_secs_f64());
    assert!(
        failing.is_empty(),
        "testssl reports {} finding(s) of severity MEDIUM or higher:\n  {}",
        failing.len(),
        failing.join("\n  ")
    );
    drop(lb);
}

/// `testssl` (Debian's name) or `testssl.sh` (upstream's), from PATH.
fn find_testssl() -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .flat_map(|d| [d.join("testssl"), d.join("testssl.sh")])
        .find(|p| p.is_file())
}

/// A test CA and a leaf it signs, both ECDSA P-256; returns the paths of the CA certificate,
/// the leaf certificate and the leaf key.
fn write_certificates(dir: &TempDir) -> (PathBuf, PathBuf, PathBuf) {
    let now = SystemTime::now();
    let hour = Duration::from_secs(3600);

    let ca_key = KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256).unwrap();
    let mut ca = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca.distinguished_name
        .push(DnType::CommonName, "Fulcrum testssl CA");
    ca.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
    ca.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    ca.not_before = (now - hour).into();
    ca.not_after = (now + 365 * 24 * hour).into();
    let ca_cert = ca.self_signed(&ca_key).unwrap();
    let issuer = Issuer::new(ca, ca_key);

    let key = KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256).unwrap();
    // "127.0.0.1" becomes an IP address SAN: testssl connects to that address without SNI.
    let mut leaf =
        CertificateParams::new(vec!["localhost".to_string(), "127.0.0.1".to_string()]).unwrap();
    leaf.distinguished_name
        .push(DnType::CommonName, "localhost");
    leaf.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    leaf.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    // 90 days, like a public CA's: long enough that no expiry warning fires (testssl warns
    // under 60 days), short enough for no validity-period finding (over 825 days).
    leaf.not_before = (now - hour).into();
    leaf.not_after = (now + 90 * 24 * hour).into();
    let cert = leaf.signed_by(&key, &issuer).unwrap();

    (
        dir.write("ca.pem", &ca_cert.pem()),
        dir.write("cert.pem", &cert.pem()),
        dir.write("key.pem", &key.serialize_pem()),
    )
}

/// Runs testssl against `target`, its output to `log`, its findings to `json`; kills it and
/// every process it started if it outlives [`TESTSSL_TIMEOUT`].
fn run_testssl(testssl: &Path, ca: &Path, json: &Path, log: &Path, target: &str) -> ExitStatus {
    use std::os::unix::process::CommandExt;

    let out = std::fs::File::create(log).unwrap();
    let mut child = Command::new(testssl)
        .args([
            // No banner, no interactive questions, no colour codes in the log.
            "--quiet",
            "--warnings",
            "off",
            "--color",
            "0",
            // Offline: no DNS lookups (the target is an address; the CAA and rDNS checks
            // are skipped). CRL and OCSP servers are not contacted either, as without
            // `--phone-out`.
            "--nodns",
            "none",
            // Trust the test CA, so the chain of trust is checked rather than reported as
            // self-signed.
            // Not `--fast` (saves ~10 s): it tests ciphers with the local OpenSSL 3, which
            // cannot offer RC4, export or other legacy suites, so a server accepting them
            // could pass. Not `--ip one`: the target is an address already, and testssl
            // refuses it together with `--nodns none`.
            "--add-ca",
        ])
        .arg(ca)
        .arg("--jsonfile-pretty")
        .arg(json)
        .arg(target)
        // Its own process group, so a timeout kills the openssl children too.
        .process_group(0)
        .env("TERM", "dumb")
        .stdin(Stdio::null())
        .stdout(out.try_clone().unwrap())
        .stderr(out)
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run {}: {e}", testssl.display()));
    let deadline = Instant::now() + TESTSSL_TIMEOUT;
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return status;
        }
        if Instant::now() >= deadline {
            let pgid = child.id();
            let _ = Command::new("kill")
                .args(["-KILL", "--", &format!("-{pgid}")])
                .status();
            let _ = child.wait();
            let partial = std::fs::read_to_string(log).unwrap_or_default();
            panic!(
                "testssl did not finish within {TESTSSL_TIMEOUT:?}; killed. Output so far:\n\
                 {partial}"
            );
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

struct Finding {
    id: String,
    severity: String,
    finding: String,
}

/// Every finding of a `--jsonfile-pretty` file: the objects with an `id` and a `severity` in
/// the sections of each `scanResult` entry.
fn parse_findings(json: &str) -> Vec<Finding> {
    let doc: Value = serde_json::from_str(json)
        .unwrap_or_else(|e| panic!("testssl's JSON does not parse: {e}\n{json}"));
    let results = doc["scanResult"]
        .as_array()
        .unwrap_or_else(|| panic!("testssl's JSON has no scanResult array:\n{json}"));
    assert!(!results.is_empty(), "testssl scanned nothing:\n{json}");
    let mut findings = Vec::new();
    for result in results {
        let Some(sections) = result.as_object() else {
            continue;
        };
        for section in sections.values().filter_map(Value::as_array) {
            for f in section {
                let text = |k: &str| f[k].as_str().unwrap_or_default().to_string();
                if f["id"].is_string() && f["severity"].is_string() {
                    findings.push(Finding {
                        id: text("id"),
                        severity: text("severity"),
                        finding: text("finding"),
                    });
                }
            }
        }
    }
    findings
}

/// The id without the ` <cert#N>` suffix testssl adds when a server has several certificates.
fn base_id(id: &str) -> &str {
    id.split(" <cert#").next().unwrap_or(id)
}

fn excluded_because(id: &str) -> Option<&'static str> {
    ABOUT_TEST_CERTIFICATE
        .iter()
        .chain(ABOUT_TEST_BACKEND)
        .find(|(excluded, _)| *excluded == id)
        .map(|(_, why)| *why)
}
