//! Who a verified client certificate names: its subject and SAN entries, as strings to forward
//! to backends in headers and to match in routes.

use std::fmt::Write as _;
use std::net::{Ipv4Addr, Ipv6Addr};

use rustls::pki_types::CertificateDer;
use x509_parser::der_parser::asn1_rs::ToDer;
use x509_parser::objects::{oid2abbrev, oid_registry};
use x509_parser::prelude::{FromDer, GeneralName, X509Certificate, X509Name};

use crate::TlsError;

/// The identity of a client whose certificate the listener verified.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientIdentity {
    /// The subject DN in RFC 4514 form: last RDN first, `,` between RDNs, `+` inside a
    /// multi-valued RDN, short names (`CN`, `O`, ...) or dotted OIDs, special characters and
    /// control characters escaped. E.g. `CN=client1,O=Example`.
    pub subject: String,
    /// SAN entries in certificate order: `DNS:a.example`, `URI:spiffe://...`, `IP:10.0.0.1`,
    /// `email:a@example`. Other kinds are left out.
    pub sans: Vec<String>,
}

impl ClientIdentity {
    /// Reads the identity from a (verified) DER certificate.
    pub fn from_der(der: &CertificateDer<'_>) -> Result<ClientIdentity, TlsError> {
        let (_, cert) = X509Certificate::from_der(der.as_ref())
            .map_err(|e| TlsError::PeerCertificate(e.to_string()))?;
        let subject = rfc4514(cert.subject());
        let sans = match cert
            .subject_alternative_name()
            .map_err(|e| TlsError::PeerCertificate(e.to_string()))?
        {
            Some(san) => san
                .value
                .general_names
                .iter()
                .filter_map(san_entry)
                .collect(),
            None => Vec::new(),
        };
        Ok(ClientIdentity { subject, sans })
    }

    /// The SAN entries joined with `, ` (the value of the SAN header).
    pub fn san_string(&self) -> String {
        self.sans.join(", ")
    }
}

fn san_entry(name: &GeneralName<'_>) -> Option<String> {
    Some(match name {
        GeneralName::DNSName(n) => format!("DNS:{}", escape_controls(n)),
        GeneralName::URI(u) => format!("URI:{}", escape_controls(u)),
        GeneralName::RFC822Name(e) => format!("email:{}", escape_controls(e)),
        GeneralName::IPAddress(bytes) => format!("IP:{}", ip(bytes)?),
        _ => return None,
    })
}

fn ip(bytes: &[u8]) -> Option<String> {
    if let Ok(v4) = <[u8; 4]>::try_from(bytes) {
        return Some(Ipv4Addr::from(v4).to_string());
    }
    <[u8; 16]>::try_from(bytes)
        .ok()
        .map(|v6| Ipv6Addr::from(v6).to_string())
}

/// SAN strings are IA5 (ASCII) but unchecked by the parser: keep control characters out of
/// header values.
fn escape_controls(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if c.is_control() {
            let _ = write!(out, "\\{:02X}", u32::from(c));
        } else {
            out.push(c);
        }
    }
    out
}

/// RFC 4514 string of a distinguished name.
fn rfc4514(name: &X509Name<'_>) -> String {
    let registry = oid_registry();
    let mut out = String::new();
    for (i, rdn) in name
        .iter_rdn()
        .collect::<Vec<_>>()
        .into_iter()
        .rev()
        .enumerate()
    {
        if i > 0 {
            out.push(',');
        }
        for (j, attr) in rdn.iter().enumerate() {
            if j > 0 {
                out.push('+');
            }
            match oid2abbrev(attr.attr_type(), registry) {
                Ok(short) => out.push_str(short),
                Err(_) => out.push_str(&attr.attr_type().to_id_string()),
            }
            out.push('=');
            match attr.as_str() {
                Ok(s) => escape_value(&mut out, s),
                // Not a string: `#` and the hex of the DER encoding (RFC 4514 2.4).
                Err(_) => {
                    out.push('#');
                    for b in attr.attr_value().to_der_vec().unwrap_or_default() {
                        let _ = write!(out, "{b:02x}");
                    }
                }
            }
        }
    }
    out
}

/// RFC 4514 section 2.4 escaping, plus control characters as `\XX`.
fn escape_value(out: &mut String, value: &str) {
    let last = value.chars().count().saturating_sub(1);
    for (i, c) in value.chars().enumerate() {
        let special = matches!(c, '"' | '+' | ',' | ';' | '<' | '>' | '\\')
            || (i == 0 && (c == '#' || c == ' '))
            || (i == last && c == ' ');
        if special {
            out.push('\\');
            out.push(c);
        } else if c.is_control() {
            let mut buf = [0u8; 4];
            for b in c.encode_utf8(&mut buf).bytes() {
                let _ = write!(out, "\\{b:02X}");
            }
        } else {
            out.push(c);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn escaped(s: &str) -> String {
        let mut out = String::new();
        escape_value(&mut out, s);
        out
    }

    #[test]
    fn escapes_rfc4514_specials() {
        assert_eq!(escaped("a,b+c"), "a\\,b\\+c");
        assert_eq!(escaped("#lead"), "\\#lead");
        assert_eq!(escaped(" pad "), "\\ pad\\ ");
        assert_eq!(escaped("x\ny"), "x\\0Ay");
        assert_eq!(escaped("plain"), "plain");
    }

    #[test]
    fn ip_sans() {
        assert_eq!(ip(&[10, 0, 0, 1]).as_deref(), Some("10.0.0.1"));
        let mut v6 = [0u8; 16];
        v6[15] = 1;
        assert_eq!(ip(&v6).as_deref(), Some("::1"));
        assert_eq!(ip(&[1, 2, 3]), None);
    }
}
