//! The server's own small PKI: a CA and a server certificate made by `init`, and the rustls
//! server configuration built from PEM files.
//!
//! Agents pin the CA (its PEM file or the SHA-256 fingerprint of its DER), so a fleet needs
//! no public certificate authority. Sites with their own PKI replace the files.

use std::path::Path;
use std::sync::Arc;

use rcgen::{
    BasicConstraints, CertificateParams, CertifiedIssuer, DistinguishedName, DnType,
    ExtendedKeyUsagePurpose, IsCa, KeyPair, KeyUsagePurpose,
};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use sha2::{Digest, Sha256};

/// PKI errors.
#[derive(Debug, thiserror::Error)]
pub enum PkiError {
    #[error("certificate generation failed")]
    Generate(#[from] rcgen::Error),
    #[error("cannot read {path}")]
    Read {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("{path} holds no usable PEM {what}")]
    Pem { path: String, what: &'static str },
    #[error("invalid TLS configuration")]
    Rustls(#[from] rustls::Error),
}

/// PEM files written by `init`.
#[derive(Debug)]
pub struct GeneratedPki {
    pub ca_pem: String,
    pub ca_key_pem: String,
    /// Server certificate followed by the CA certificate, so agents enrolling by fingerprint
    /// see the CA in the handshake.
    pub server_chain_pem: String,
    pub server_key_pem: String,
    /// SHA-256 of the CA certificate's DER, lowercase hex.
    pub ca_fingerprint: String,
}

/// The CA's parameters: what `init` signs the CA with, and what a renewal names as issuer.
fn ca_params() -> Result<CertificateParams, PkiError> {
    let mut ca_params = CertificateParams::new(Vec::<String>::new())?;
    let mut dn = DistinguishedName::new();
    dn.push(DnType::CommonName, "cmdb-server CA");
    dn.push(DnType::OrganizationName, "cmdb");
    ca_params.distinguished_name = dn;
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
    ca_params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    ca_params.not_before = rcgen::date_time_ymd(2025, 1, 1);
    ca_params.not_after = rcgen::date_time_ymd(2045, 1, 1);
    Ok(ca_params)
}

/// Makes a CA and a server certificate valid for `names` (DNS names and IP addresses).
pub fn generate(names: &[String]) -> Result<GeneratedPki, PkiError> {
    let ca_key = KeyPair::generate()?;
    let ca = CertifiedIssuer::self_signed(ca_params()?, ca_key)?;
    let (server_chain_pem, server_key_pem) = server_cert(names, &ca, &ca.pem(), None)?;
    Ok(GeneratedPki {
        ca_pem: ca.pem(),
        ca_key_pem: ca.key().serialize_pem(),
        server_chain_pem,
        server_key_pem,
        ca_fingerprint: hex::encode(Sha256::digest(ca.der())),
    })
}

/// A new server certificate and key for `names`, signed by the CA `init` made (its PEM and
/// key), valid for `days` from now: what `cmdb-server cert renew` writes. Agents pinned that
/// CA, so they trust the new certificate as they did the old one.
pub fn renew_server(
    ca_pem: &str,
    ca_key_pem: &str,
    names: &[String],
    days: u32,
) -> Result<(String, String), PkiError> {
    let key = KeyPair::from_pem(ca_key_pem)?;
    let issuer = rcgen::Issuer::new(ca_params()?, key);
    server_cert(names, &issuer, ca_pem, Some(days))
}

/// A server certificate for `names` signed by `issuer`; the chain is it followed by the CA.
fn server_cert(
    names: &[String],
    issuer: &rcgen::Issuer<'_, impl rcgen::SigningKey>,
    ca_pem: &str,
    days: Option<u32>,
) -> Result<(String, String), PkiError> {
    let server_key = KeyPair::generate()?;
    let mut params = CertificateParams::new(names.to_vec())?;
    let mut dn = DistinguishedName::new();
    dn.push(
        DnType::CommonName,
        names
            .first()
            .cloned()
            .unwrap_or_else(|| "cmdb-server".into()),
    );
    params.distinguished_name = dn;
    params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    match days {
        None => {
            params.not_before = rcgen::date_time_ymd(2025, 1, 1);
            params.not_after = rcgen::date_time_ymd(2036, 1, 1);
        }
        Some(days) => {
            let now = time::OffsetDateTime::now_utc();
            params.not_before = now - time::Duration::days(1);
            params.not_after = now + time::Duration::days(i64::from(days));
        }
    }
    let server = params.signed_by(&server_key, issuer)?;
    Ok((
        format!("{}{ca_pem}", server.pem()),
        server_key.serialize_pem(),
    ))
}

/// The ring-based rustls provider used by every TLS endpoint of the server, AES-128-GCM
/// first. Its SHA-256 runs on the processor's SHA extensions where AES-256-GCM's SHA-384
/// runs in software (ring has no SHA-512 instructions to use on x86-64): with a handshake per
/// agent report, that was 6 % of the server's CPU for a heartbeat. AES-128-GCM is what
/// Mozilla's and Go's TLS configurations prefer too.
pub fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    let mut p = rustls::crypto::ring::default_provider();
    p.cipher_suites
        .sort_by_key(|s| s.suite() != rustls::CipherSuite::TLS13_AES_128_GCM_SHA256);
    Arc::new(p)
}

/// A rustls server configuration from PEM files.
pub fn server_config(cert: &Path, key: &Path) -> Result<rustls::ServerConfig, PkiError> {
    let read = |p: &Path| {
        std::fs::read(p).map_err(|source| PkiError::Read {
            path: p.display().to_string(),
            source,
        })
    };
    let cert_bytes = read(cert)?;
    let key_bytes = read(key)?;
    let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(&cert_bytes)
        .collect::<Result<_, _>>()
        .map_err(|_| PkiError::Pem {
            path: cert.display().to_string(),
            what: "certificate",
        })?;
    if chain.is_empty() {
        return Err(PkiError::Pem {
            path: cert.display().to_string(),
            what: "certificate",
        });
    }
    let key = PrivateKeyDer::from_pem_slice(&key_bytes).map_err(|_| PkiError::Pem {
        path: key.display().to_string(),
        what: "private key",
    })?;
    let mut cfg = rustls::ServerConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()?
        .with_no_client_auth()
        .with_single_cert(chain, key)?;
    // The server's order of cipher suites, not the client's (rustls clients put AES-256 first).
    cfg.ignore_client_order = true;
    cfg.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(cfg)
}

/// Lets clients resume their TLS sessions with stateless tickets (keys made at start and
/// rotated by rustls; a ticket lives 6 hours), so an agent daemon reconnecting every few
/// minutes skips the certificate exchange and its verification. Without it the server's
/// session cache holds 256 sessions, a small fraction of a fleet. Tickets of one instance
/// do not resume on another: behind a balancer, a client that lands elsewhere does a full
/// handshake.
pub fn enable_session_tickets(cfg: &mut rustls::ServerConfig) -> Result<(), PkiError> {
    cfg.ticketer = rustls::crypto::ring::Ticketer::new()?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_pki_loads_as_a_rustls_server_config() {
        let pki = generate(&["localhost".into(), "127.0.0.1".into()]).expect("generate");
        let dir = tempfile::tempdir().expect("tempdir");
        let cert = dir.path().join("server.pem");
        let key = dir.path().join("server.key");
        std::fs::write(&cert, &pki.server_chain_pem).expect("write");
        std::fs::write(&key, &pki.server_key_pem).expect("write");
        server_config(&cert, &key).expect("server config");
        assert_eq!(pki.ca_fingerprint.len(), 64);
        assert_eq!(pki.server_chain_pem.matches("BEGIN CERTIFICATE").count(), 2);
    }

    #[test]
    fn a_default_rustls_client_gets_aes_128_gcm() {
        let pki = generate(&["localhost".into()]).expect("generate");
        let dir = tempfile::tempdir().expect("tempdir");
        let (cert, key) = (dir.path().join("server.pem"), dir.path().join("server.key"));
        std::fs::write(&cert, &pki.server_chain_pem).expect("write");
        std::fs::write(&key, &pki.server_key_pem).expect("write");
        let server_cfg = Arc::new(server_config(&cert, &key).expect("server config"));
        let mut roots = rustls::RootCertStore::empty();
        for c in CertificateDer::pem_slice_iter(pki.ca_pem.as_bytes()) {
            roots.add(c.expect("ca")).expect("add ca");
        }
        // A client as rustls makes it by default, AES-256-GCM first in its list.
        let client_cfg = rustls::ClientConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .expect("versions")
        .with_root_certificates(roots)
        .with_no_client_auth();
        let name = "localhost".try_into().expect("name");
        let mut client = rustls::ClientConnection::new(Arc::new(client_cfg), name).expect("client");
        let mut server = rustls::ServerConnection::new(server_cfg).expect("server");
        let mut buf = Vec::new();
        for _ in 0..10 {
            buf.clear();
            client.write_tls(&mut buf).expect("client writes");
            server.read_tls(&mut &buf[..]).expect("server reads");
            server.process_new_packets().expect("server processes");
            buf.clear();
            server.write_tls(&mut buf).expect("server writes");
            client.read_tls(&mut &buf[..]).expect("client reads");
            client.process_new_packets().expect("client processes");
            if !client.is_handshaking() && !server.is_handshaking() {
                break;
            }
        }
        assert!(!server.is_handshaking(), "handshake done");
        assert_eq!(
            server.negotiated_cipher_suite().map(|s| s.suite()),
            Some(rustls::CipherSuite::TLS13_AES_128_GCM_SHA256)
        );
    }

    #[test]
    fn a_key_file_without_a_key_names_the_file() {
        let dir = tempfile::tempdir().expect("tempdir");
        let pki = generate(&["localhost".into()]).expect("generate");
        let cert = dir.path().join("server.pem");
        std::fs::write(&cert, &pki.server_chain_pem).expect("write");
        let key = dir.path().join("empty.key");
        std::fs::write(&key, "nothing here").expect("write");
        let err = server_config(&cert, &key).expect_err("must fail");
        assert!(err.to_string().contains("empty.key"), "{err}");
    }
}
