//! TLS for the agent: rustls (ring) with the server's CA pinned, either from a PEM file or by
//! the SHA-256 fingerprint of the CA certificate. No system trust store is consulted: a fleet
//! trusts its own CMDB's CA and nothing else.
//!
//! Fingerprint pinning (for `enroll --ca-fingerprint`): the verifier looks for a certificate
//! with that fingerprint in the chain the server presents (cmdb-server sends its CA after the
//! leaf), then verifies the chain against it as the only root, and remembers it so `enroll`
//! can store it as the CA file for later runs.

use std::sync::{Arc, Mutex};

use rustls::client::WebPkiServerVerifier;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::CryptoProvider;
use rustls::{DigitallySignedStruct, RootCertStore, SignatureScheme};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, ServerName, UnixTime};
use sha2::{Digest, Sha256};

/// TLS set-up errors.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("the CA file holds no PEM certificate")]
    NoCertificate,
    #[error("--ca-fingerprint: expected 64 hex digits (SHA-256), colons allowed")]
    BadFingerprint,
    #[error("invalid TLS configuration")]
    Rustls(#[from] rustls::Error),
}

fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// Client configuration trusting only the CA certificates in `ca_pem`.
pub fn pinned_ca(ca_pem: &[u8]) -> Result<rustls::ClientConfig, TlsError> {
    let mut roots = RootCertStore::empty();
    let mut any = false;
    for cert in CertificateDer::pem_slice_iter(ca_pem) {
        let cert = cert.map_err(|_| TlsError::NoCertificate)?;
        roots.add(cert)?;
        any = true;
    }
    if !any {
        return Err(TlsError::NoCertificate);
    }
    Ok(rustls::ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()?
        .with_root_certificates(roots)
        .with_no_client_auth())
}

/// Client configuration trusting no CA: for clients that must never speak HTTPS (a plain
/// HTTP loopback server), so none can be verified by accident.
pub fn trust_nothing() -> Result<rustls::ClientConfig, TlsError> {
    Ok(rustls::ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()?
        .with_root_certificates(RootCertStore::empty())
        .with_no_client_auth())
}

/// Parses a SHA-256 fingerprint ("ab:cd:…" or "abcd…").
pub fn parse_fingerprint(s: &str) -> Result<[u8; 32], TlsError> {
    let hex: String = s.chars().filter(|c| *c != ':').collect();
    let bytes = hex::decode(hex.trim()).map_err(|_| TlsError::BadFingerprint)?;
    bytes.try_into().map_err(|_| TlsError::BadFingerprint)
}

/// Verifies the server by a pinned CA fingerprint; remembers the CA it found.
#[derive(Debug)]
pub struct FingerprintVerifier {
    fingerprint: [u8; 32],
    provider: Arc<CryptoProvider>,
    found: Mutex<Option<CertificateDer<'static>>>,
}

impl FingerprintVerifier {
    pub fn new(fingerprint: [u8; 32]) -> Arc<Self> {
        Arc::new(Self {
            fingerprint,
            provider: provider(),
            found: Mutex::new(None),
        })
    }

    /// The CA certificate as PEM, once a handshake succeeded.
    pub fn found_ca_pem(&self) -> Option<String> {
        let der = self.found.lock().ok()?.clone()?;
        let b64 = base64::Engine::encode(&base64::engine::general_purpose::STANDARD, der.as_ref());
        let mut pem = String::from("-----BEGIN CERTIFICATE-----\n");
        for chunk in b64.as_bytes().chunks(64) {
            pem.push_str(std::str::from_utf8(chunk).unwrap_or_default());
            pem.push('\n');
        }
        pem.push_str("-----END CERTIFICATE-----\n");
        Some(pem)
    }

    /// A client configuration using this verifier.
    pub fn client_config(self: &Arc<Self>) -> Result<rustls::ClientConfig, TlsError> {
        Ok(rustls::ClientConfig::builder_with_provider(provider())
            .with_safe_default_protocol_versions()?
            .dangerous()
            .with_custom_certificate_verifier(self.clone())
            .with_no_client_auth())
    }
}

impl ServerCertVerifier for FingerprintVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let ca = std::iter::once(end_entity)
            .chain(intermediates.iter())
            .find(|c| Sha256::digest(c.as_ref()).as_slice() == self.fingerprint)
            .ok_or_else(|| {
                rustls::Error::General(
                    "no certificate in the server's chain has the pinned CA fingerprint".into(),
                )
            })?
            .clone()
            .into_owned();
        let mut roots = RootCertStore::empty();
        roots.add(ca.clone())?;
        let inner =
            WebPkiServerVerifier::builder_with_provider(Arc::new(roots), self.provider.clone())
                .build()
                .map_err(|e| rustls::Error::General(e.to_string()))?;
        let verified =
            inner.verify_server_cert(end_entity, intermediates, server_name, ocsp_response, now)?;
        if let Ok(mut f) = self.found.lock() {
            *f = Some(ca);
        }
        Ok(verified)
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fingerprints_parse_with_or_without_colons() {
        let hex = "ab".repeat(32);
        let colons = vec!["AB"; 32].join(":");
        assert_eq!(parse_fingerprint(&hex).expect("plain"), [0xab; 32]);
        assert_eq!(parse_fingerprint(&colons).expect("colons"), [0xab; 32]);
        assert!(parse_fingerprint("abc").is_err());
    }

    #[test]
    fn a_ca_file_without_certificates_is_refused() {
        assert!(matches!(
            pinned_ca(b"not a pem"),
            Err(TlsError::NoCertificate)
        ));
    }
}
