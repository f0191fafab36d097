//! Connections to the target Postgres and its migrations.
//!
//! Data goes through sqlx; migrations through refinery, which runs on tokio-postgres.
//! Both speak TLS with rustls (one TLS stack), and both honour `sslmode` in
//! `DATABASE_URL` as libpq does: `disable`, `prefer` (the default), `require` (encrypt,
//! do not check the certificate), `verify-ca`/`verify-full` (check it against the web
//! PKI roots or the `sslrootcert` file).

use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{bail, Context, Result};
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme};
use secrecy::{ExposeSecret, SecretString};
use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};
use url::Url;

refinery::embed_migrations!("migrations");

/// A pool for the run's data and bookkeeping.
pub async fn connect(database_url: &SecretString) -> Result<PgPool> {
    let options = PgConnectOptions::from_str(database_url.expose_secret())
        .map_err(|e| {
            anyhow::anyhow!(
                "DATABASE_URL is not a valid Postgres URL: {}",
                redact_error(&e.to_string(), database_url)
            )
        })?
        .application_name("ampsync");
    PgPoolOptions::new()
        .max_connections(4)
        .acquire_timeout(Duration::from_secs(30))
        .connect_with(options)
        .await
        .with_context(|| {
            format!(
                "could not connect to Postgres at {}",
                redacted_url(database_url)
            )
        })
}

/// Applies the embedded migrations that have not run yet; returns how many ran.
pub async fn migrate(database_url: &SecretString) -> Result<usize> {
    let (config, tls) = migration_config(database_url)?;
    let (mut client, connection) = config.connect(tls).await.with_context(|| {
        format!(
            "could not connect to Postgres at {} to migrate",
            redacted_url(database_url)
        )
    })?;
    let driver = tokio::spawn(connection);
    let report = migrations::runner()
        .set_migration_table_name("ampsync_schema_history")
        .run_async(&mut client)
        .await
        .context("migrating the database")?;
    drop(client);
    let _ = driver.await;
    Ok(report.applied_migrations().len())
}

/// The URL without its password, for messages.
pub fn redacted_url(database_url: &SecretString) -> String {
    match Url::parse(database_url.expose_secret()) {
        Ok(mut url) => {
            if url.password().is_some() {
                let _ = url.set_password(Some("***"));
            }
            url.to_string()
        }
        Err(_) => "(unparseable DATABASE_URL)".to_owned(),
    }
}

/// Removes the URL's password from an error text that might quote it.
fn redact_error(text: &str, database_url: &SecretString) -> String {
    match Url::parse(database_url.expose_secret())
        .ok()
        .and_then(|u| u.password().map(str::to_owned))
    {
        Some(password) if !password.is_empty() => text.replace(&password, "***"),
        _ => text.to_owned(),
    }
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum SslMode {
    Disable,
    Prefer,
    Require,
    Verify,
}

/// tokio-postgres settings and TLS connector from the same URL sqlx reads. tokio-postgres
/// does not know `verify-*` modes or `sslrootcert`, so those are taken out and handled here.
fn migration_config(
    database_url: &SecretString,
) -> Result<(
    tokio_postgres::Config,
    tokio_postgres_rustls::MakeRustlsConnect,
)> {
    let mut url =
        Url::parse(database_url.expose_secret()).context("DATABASE_URL is not a valid URL")?;
    let mut mode = SslMode::Prefer;
    let mut root_cert = None;
    let mut kept = Vec::new();
    for (name, value) in url.query_pairs() {
        match name.as_ref() {
            "sslmode" => {
                mode = match value.as_ref() {
                    "disable" => SslMode::Disable,
                    "allow" | "prefer" => SslMode::Prefer,
                    "require" => SslMode::Require,
                    "verify-ca" | "verify-full" => SslMode::Verify,
                    other => bail!("DATABASE_URL has an unknown sslmode `{other}`"),
                }
            }
            "sslrootcert" => root_cert = Some(value.into_owned()),
            _ => kept.push((name.into_owned(), value.into_owned())),
        }
    }
    url.set_query(None);
    if !kept.is_empty() {
        url.query_pairs_mut().extend_pairs(kept);
    }
    let mut config = tokio_postgres::Config::from_str(url.as_str()).map_err(|e| {
        anyhow::anyhow!(
            "DATABASE_URL is not a valid Postgres URL: {}",
            redact_error(&e.to_string(), database_url)
        )
    })?;
    config.application_name("ampsync-migrate");
    config.ssl_mode(match mode {
        SslMode::Disable => tokio_postgres::config::SslMode::Disable,
        SslMode::Prefer => tokio_postgres::config::SslMode::Prefer,
        SslMode::Require | SslMode::Verify => tokio_postgres::config::SslMode::Require,
    });
    let tls = tls_config(mode, root_cert.as_deref())?;
    Ok((config, tokio_postgres_rustls::MakeRustlsConnect::new(tls)))
}

fn tls_config(mode: SslMode, root_cert: Option<&str>) -> Result<ClientConfig> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .context("setting up TLS")?;
    if mode != SslMode::Verify {
        return Ok(builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(EncryptOnly(provider)))
            .with_no_client_auth());
    }
    let mut roots = RootCertStore::empty();
    match root_cert {
        Some(path) => {
            for cert in CertificateDer::pem_file_iter(path)
                .with_context(|| format!("reading sslrootcert {path}"))?
            {
                roots.add(cert.with_context(|| format!("reading sslrootcert {path}"))?)?;
            }
        }
        None => roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned()),
    }
    Ok(builder.with_root_certificates(roots).with_no_client_auth())
}

/// `sslmode=require`: the connection is encrypted, the server's certificate is not
/// checked (as libpq does), but its handshake signatures still are.
#[derive(Debug)]
struct EncryptOnly(Arc<rustls::crypto::CryptoProvider>);

impl ServerCertVerifier for EncryptOnly {
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
