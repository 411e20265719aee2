//! HTTP(S) probes: a GET of a URL, its status, its response time and, over HTTPS, when the
//! server's certificate expires.
//!
//! The latency is the time to the response headers, including name resolution, connect and
//! TLS handshake (what a client of the service waits for); the body is not read. Every run
//! opens a new connection (no pooling), redirects are not followed (a 3xx is an answer of
//! the probed server), and no proxy is used: the probe measures what this host reaches.
//!
//! HTTPS trusts the system's root certificates (`/etc/ssl/certs`, as OpenSSL finds them) —
//! unlike the agent's own connection to cmdb-server, which trusts only the pinned CMDB CA.
//! `insecure` probes skip verification and still report the certificate's expiry.

use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::CryptoProvider;
use rustls::{DigitallySignedStruct, RootCertStore, SignatureScheme};
use rustls_pki_types::{CertificateDer, ServerName, UnixTime};

/// What a server answered.
#[derive(Debug, Clone, PartialEq)]
pub struct Answer {
    pub latency: Duration,
    pub status: u16,
    /// The server certificate's expiry, over HTTPS.
    pub cert_not_after: Option<DateTime<Utc>>,
}

/// Why the probe clients cannot be built.
#[derive(Debug, thiserror::Error)]
pub enum HttpProbeError {
    #[error("invalid TLS configuration for probes")]
    Tls(#[from] rustls::Error),
    #[error("cannot build the probes' HTTP client")]
    Build(#[source] reqwest::Error),
}

fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// The system's root certificates; unreadable ones are logged and skipped.
fn system_roots() -> RootCertStore {
    let found = rustls_native_certs::load_native_certs();
    for e in &found.errors {
        tracing::warn!(error = %e, "cannot read a system root certificate for HTTPS probes");
    }
    let mut roots = RootCertStore::empty();
    let (added, ignored) = roots.add_parsable_certificates(found.certs);
    if added == 0 {
        tracing::warn!(
            "no system root certificates found: HTTPS probes that verify certificates will fail (install ca-certificates, or set insecure = true)"
        );
    }
    tracing::debug!(
        added,
        ignored,
        "system root certificates loaded for HTTPS probes"
    );
    roots
}

/// A client for probes: verifying server certificates against the system roots, or (for
/// `insecure` probes) accepting any certificate.
pub fn client(insecure: bool) -> Result<reqwest::Client, HttpProbeError> {
    let builder = rustls::ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()?;
    let tls = if insecure {
        builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(AnyCertificate(provider())))
            .with_no_client_auth()
    } else {
        builder
            .with_root_certificates(system_roots())
            .with_no_client_auth()
    };
    reqwest::Client::builder()
        .use_preconfigured_tls(tls)
        .tls_info(true)
        .redirect(reqwest::redirect::Policy::none())
        .pool_max_idle_per_host(0)
        .no_proxy()
        .user_agent(concat!("cmdb-agent-probe/", env!("CARGO_PKG_VERSION")))
        .build()
        .map_err(HttpProbeError::Build)
}

/// GETs `url`: the status, time to headers and certificate expiry, or why there was no
/// answer.
pub async fn get(client: &reqwest::Client, url: &str, timeout: Duration) -> Result<Answer, String> {
    let started = Instant::now();
    let resp = client.get(url).timeout(timeout).send().await;
    let latency = started.elapsed();
    let resp = match resp {
        Ok(r) => r,
        Err(e) if e.is_timeout() => {
            return Err(format!(
                "no answer from {url} within {} ms",
                timeout.as_millis()
            ));
        }
        Err(e) => return Err(crate::client::error_chain(&e)),
    };
    let cert_not_after = resp
        .extensions()
        .get::<reqwest::tls::TlsInfo>()
        .and_then(|t| t.peer_certificate())
        .and_then(super::cert::not_after);
    Ok(Answer {
        latency,
        status: resp.status().as_u16(),
        cert_not_after,
    })
}

/// Accepts any server certificate (still checking the handshake signatures, so the server
/// holds the certificate's key): for `insecure` probes of self-signed or internal services.
#[derive(Debug)]
struct AnyCertificate(Arc<CryptoProvider>);

impl ServerCertVerifier for AnyCertificate {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
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
            &self.0.signature_verification_algorithms,
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
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}
