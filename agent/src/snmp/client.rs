//! SNMP client: sessions over `snmp2` with what it leaves to callers — timeouts, retries,
//! subtree walks that survive agents answering out of order, and errors that name the
//! target and the likely cause.
//!
//! `snmp2` reads one datagram per request and never skips a late reply, so after a timeout
//! the session is replaced rather than reused (a stale answer would otherwise be taken for
//! the next request's).

use std::time::Duration;

use snmp2::{AsyncSession, v3};

use super::oid::{Oid, Value, Walk};

/// SNMPv3 authentication protocols.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthProtocol {
    Md5,
    Sha1,
    Sha224,
    Sha256,
    Sha384,
    Sha512,
}

/// SNMPv3 privacy protocols. AES-192/256 come in two key-extension variants: Blumenthal
/// (net-snmp's `AES-256`) and Reeder (Cisco's `AES256C`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PrivProtocol {
    Des,
    Aes128,
    Aes192,
    Aes256,
    Aes192Reeder,
    Aes256Reeder,
}

impl std::str::FromStr for AuthProtocol {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        Ok(match s.to_ascii_lowercase().as_str() {
            "md5" => Self::Md5,
            "sha" | "sha1" => Self::Sha1,
            "sha224" => Self::Sha224,
            "sha256" => Self::Sha256,
            "sha384" => Self::Sha384,
            "sha512" => Self::Sha512,
            other => {
                return Err(format!(
                    "unknown authentication protocol {other:?} (md5, sha, sha224, sha256, sha384, sha512)"
                ));
            }
        })
    }
}

impl std::str::FromStr for PrivProtocol {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        Ok(match s.to_ascii_lowercase().as_str() {
            "des" => Self::Des,
            "aes" | "aes128" => Self::Aes128,
            "aes192" => Self::Aes192,
            "aes256" => Self::Aes256,
            "aes192c" => Self::Aes192Reeder,
            "aes256c" => Self::Aes256Reeder,
            other => {
                return Err(format!(
                    "unknown privacy protocol {other:?} (des, aes, aes192, aes256, aes192c, aes256c)"
                ));
            }
        })
    }
}

/// SNMPv3 parameters as a person writes them (CLI flags, config file): protocol names and
/// pass phrases, checked by [`V3Spec::credentials`].
#[derive(Clone, Default, PartialEq, Eq)]
pub struct V3Spec {
    pub user: String,
    pub auth_protocol: Option<String>,
    pub auth_key: Option<String>,
    pub priv_protocol: Option<String>,
    pub priv_key: Option<String>,
    pub context: String,
}

impl V3Spec {
    /// The credentials, or which parameter is wrong and why (the message starts with the
    /// parameter's name as `field_prefix` + name, e.g. `--auth-key` or `auth_key`).
    pub fn credentials(&self, dash: bool) -> Result<Credentials, String> {
        let name = |n: &str| {
            if dash {
                format!("--{}", n.replace('_', "-"))
            } else {
                n.to_string()
            }
        };
        if self.user.is_empty() || self.user.len() > 32 {
            return Err(format!("{}: must be 1-32 characters", name("v3_user")));
        }
        if self.context.len() > 32 {
            return Err(format!("{}: at most 32 characters", name("context")));
        }
        let key = |k: &str, field: &str| -> Result<String, String> {
            // RFC 3414 key localisation needs at least 8 characters; net-snmp enforces it.
            if k.len() < 8 || k.len() > 256 {
                return Err(format!(
                    "{}: SNMPv3 pass phrases have 8 to 256 characters",
                    name(field)
                ));
            }
            Ok(k.to_string())
        };
        let auth = match (&self.auth_key, &self.auth_protocol) {
            (None, None) => None,
            (None, Some(_)) => {
                return Err(format!(
                    "{}: given without {}",
                    name("auth_protocol"),
                    name("auth_key")
                ));
            }
            (Some(k), p) => {
                let proto = p
                    .as_deref()
                    .unwrap_or("sha")
                    .parse::<AuthProtocol>()
                    .map_err(|e| format!("{}: {e}", name("auth_protocol")))?;
                Some((proto, key(k, "auth_key")?))
            }
        };
        let privacy = match (&self.priv_key, &self.priv_protocol) {
            (None, None) => None,
            (None, Some(_)) => {
                return Err(format!(
                    "{}: given without {}",
                    name("priv_protocol"),
                    name("priv_key")
                ));
            }
            (Some(_), _) if auth.is_none() => {
                return Err(format!(
                    "{}: privacy needs authentication ({} too)",
                    name("priv_key"),
                    name("auth_key")
                ));
            }
            (Some(k), p) => {
                let proto = p
                    .as_deref()
                    .unwrap_or("aes")
                    .parse::<PrivProtocol>()
                    .map_err(|e| format!("{}: {e}", name("priv_protocol")))?;
                Some((proto, key(k, "priv_key")?))
            }
        };
        Ok(Credentials::V3 {
            user: self.user.clone(),
            auth,
            privacy,
            context: self.context.clone(),
        })
    }
}

impl std::fmt::Debug for V3Spec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("V3Spec")
            .field("user", &self.user)
            .field("auth_protocol", &self.auth_protocol)
            .field("priv_protocol", &self.priv_protocol)
            .field("context", &self.context)
            .finish_non_exhaustive()
    }
}

/// How to talk to a device. Its `Debug` form hides communities and keys.
#[derive(Clone, PartialEq, Eq)]
pub enum Credentials {
    V1 {
        community: String,
    },
    V2c {
        community: String,
    },
    V3 {
        user: String,
        auth: Option<(AuthProtocol, String)>,
        privacy: Option<(PrivProtocol, String)>,
        context: String,
    },
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Credentials::V1 { .. } => f.write_str("V1 { community: <hidden> }"),
            Credentials::V2c { .. } => f.write_str("V2c { community: <hidden> }"),
            Credentials::V3 {
                user,
                auth,
                privacy,
                context,
            } => f
                .debug_struct("V3")
                .field("user", user)
                .field("auth", &auth.as_ref().map(|a| a.0))
                .field("privacy", &privacy.as_ref().map(|p| p.0))
                .field("context", context)
                .finish(),
        }
    }
}

/// Timeouts, retries and bulk size.
#[derive(Debug, Clone, Copy)]
pub struct Options {
    pub timeout: Duration,
    /// Retries after a timeout (so `retries + 1` attempts).
    pub retries: u32,
    pub max_repetitions: u32,
    /// A walk stops (with an error) after this many varbinds: a bound on a device that
    /// never reaches the end of a table.
    pub max_varbinds: usize,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            timeout: Duration::from_secs(2),
            retries: 2,
            max_repetitions: 25,
            max_varbinds: 500_000,
        }
    }
}

/// Why a request failed.
#[derive(Debug, thiserror::Error)]
pub enum SnmpError {
    #[error(
        "{target}: no answer after {attempts} attempt(s) of {timeout:?} (device down, wrong address or port, wrong community or SNMPv3 privacy key, or SNMP not enabled)"
    )]
    Timeout {
        target: String,
        attempts: u32,
        timeout: Duration,
    },
    #[error(
        "{target}: SNMPv3 authentication failed ({detail}): check the user name, authentication protocol and key"
    )]
    Auth { target: String, detail: String },
    #[error("{target}: {detail}")]
    Protocol { target: String, detail: String },
    #[error("{target}: {source}")]
    Io {
        target: String,
        #[source]
        source: std::io::Error,
    },
    #[error(
        "{target}: walk of {root} stopped after {limit} values (the device never reached the end of the table)"
    )]
    TooLarge {
        target: String,
        root: String,
        limit: usize,
    },
}

/// One device's session.
pub struct Client {
    target: String,
    credentials: Credentials,
    options: Options,
    session: Option<AsyncSession>,
    next_request_id: i32,
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client")
            .field("target", &self.target)
            .finish_non_exhaustive()
    }
}

fn to_snmp_oid(o: &Oid) -> Result<snmp2::Oid<'static>, String> {
    let arcs: Vec<u64> = o.0.iter().map(|c| u64::from(*c)).collect();
    snmp2::Oid::from(&arcs)
        .map(|o| o.to_owned())
        .map_err(|e| format!("cannot encode OID {o}: {e:?}"))
}

fn from_snmp_oid(o: &snmp2::Oid<'_>) -> Option<Oid> {
    o.iter()?
        .map(|c| u32::try_from(c).ok())
        .collect::<Option<Vec<u32>>>()
        .map(Oid)
}

/// Our value of an `snmp2` value; `None` for the exceptions (end of view, no such object
/// or instance) and for types that do not occur in answers.
fn from_snmp_value(v: &snmp2::Value<'_>) -> Option<Value> {
    use snmp2::Value as S;
    Some(match v {
        S::Integer(i) => Value::Integer(*i),
        S::OctetString(b) => Value::OctetString(b.to_vec()),
        S::ObjectIdentifier(o) => Value::ObjectId(from_snmp_oid(o)?),
        S::IpAddress(a) => Value::IpAddress(*a),
        S::Counter32(n) => Value::Counter32(*n),
        S::Unsigned32(n) => Value::Gauge32(*n),
        S::Timeticks(n) => Value::TimeTicks(*n),
        S::Counter64(n) => Value::Counter64(*n),
        S::Opaque(b) => Value::Opaque(b.to_vec()),
        S::Null => Value::Null,
        _ => return None,
    })
}

impl Client {
    pub fn new(target: impl Into<String>, credentials: Credentials, options: Options) -> Self {
        Self {
            target: target.into(),
            credentials,
            options,
            session: None,
            next_request_id: 1,
        }
    }

    pub fn target(&self) -> &str {
        &self.target
    }

    fn err(&self, e: snmp2::Error) -> SnmpError {
        let target = self.target.clone();
        match e {
            snmp2::Error::AuthFailure(kind) => SnmpError::Auth {
                target,
                detail: format!("{kind:?}"),
            },
            snmp2::Error::Crypto(detail) => SnmpError::Auth {
                target,
                detail: format!("decryption failed: {detail} (wrong privacy protocol or key?)"),
            },
            other => SnmpError::Protocol {
                target,
                detail: format!("malformed or unexpected answer: {other:?}"),
            },
        }
    }

    fn timeout(&self) -> SnmpError {
        SnmpError::Timeout {
            target: self.target.clone(),
            attempts: self.options.retries + 1,
            timeout: self.options.timeout,
        }
    }

    /// A fresh session (and, for v3, engine discovery).
    async fn connect(&mut self) -> Result<AsyncSession, SnmpError> {
        let io = |source| SnmpError::Io {
            target: self.target.clone(),
            source,
        };
        let id = self.next_request_id;
        self.next_request_id = self.next_request_id.wrapping_add(10_000);
        let mut session = match &self.credentials {
            Credentials::V1 { community } => {
                AsyncSession::new_v1(self.target.as_str(), community.as_bytes(), id)
                    .await
                    .map_err(io)?
            }
            Credentials::V2c { community } => {
                AsyncSession::new_v2c(self.target.as_str(), community.as_bytes(), id)
                    .await
                    .map_err(io)?
            }
            Credentials::V3 {
                user,
                auth,
                privacy,
                context,
            } => {
                let auth_key = auth.as_ref().map(|a| a.1.as_bytes()).unwrap_or_default();
                let mut sec =
                    v3::Security::new(user.as_bytes(), auth_key).with_context_name(context);
                if let Some((proto, _)) = auth {
                    sec = sec.with_auth_protocol(match proto {
                        AuthProtocol::Md5 => v3::AuthProtocol::Md5,
                        AuthProtocol::Sha1 => v3::AuthProtocol::Sha1,
                        AuthProtocol::Sha224 => v3::AuthProtocol::Sha224,
                        AuthProtocol::Sha256 => v3::AuthProtocol::Sha256,
                        AuthProtocol::Sha384 => v3::AuthProtocol::Sha384,
                        AuthProtocol::Sha512 => v3::AuthProtocol::Sha512,
                    });
                }
                let (level, extension) = match (auth, privacy) {
                    (None, _) => (v3::Auth::NoAuthNoPriv, None),
                    (Some(_), None) => (v3::Auth::AuthNoPriv, None),
                    (Some(_), Some((p, key))) => {
                        let (cipher, extension) = match p {
                            PrivProtocol::Des => (v3::Cipher::Des, None),
                            PrivProtocol::Aes128 => (v3::Cipher::Aes128, None),
                            PrivProtocol::Aes192 => {
                                (v3::Cipher::Aes192, Some(v3::KeyExtension::Blumenthal))
                            }
                            PrivProtocol::Aes256 => {
                                (v3::Cipher::Aes256, Some(v3::KeyExtension::Blumenthal))
                            }
                            PrivProtocol::Aes192Reeder => {
                                (v3::Cipher::Aes192, Some(v3::KeyExtension::Reeder))
                            }
                            PrivProtocol::Aes256Reeder => {
                                (v3::Cipher::Aes256, Some(v3::KeyExtension::Reeder))
                            }
                        };
                        let level = v3::Auth::AuthPriv {
                            cipher,
                            privacy_password: key.as_bytes().to_vec(),
                        };
                        (level, extension)
                    }
                };
                sec = sec.with_auth(level);
                if let Some(x) = extension {
                    sec = sec.with_key_extension_method(x);
                }
                AsyncSession::new_v3(self.target.as_str(), id, sec)
                    .await
                    .map_err(io)?
            }
        };
        if matches!(self.credentials, Credentials::V3 { .. }) {
            match tokio::time::timeout(self.options.timeout, session.init()).await {
                Err(_) => return Err(self.timeout()),
                Ok(Err(e)) => return Err(self.err(e)),
                Ok(Ok(())) => {}
            }
        }
        Ok(session)
    }

    /// One request with timeout and retries: `send` builds and sends it on a session and
    /// copies what it needs out of the answer.
    async fn request<T>(
        &mut self,
        mut send: impl for<'s> FnMut(
            &'s mut AsyncSession,
        ) -> std::pin::Pin<
            Box<dyn Future<Output = Result<T, snmp2::Error>> + Send + 's>,
        >,
    ) -> Result<T, SnmpError> {
        let mut attempt = 0;
        loop {
            attempt += 1;
            let mut session = match self.session.take() {
                Some(s) => s,
                None => match self.connect().await {
                    Ok(s) => s,
                    Err(SnmpError::Timeout { .. }) if attempt <= self.options.retries => continue,
                    Err(e) => return Err(e),
                },
            };
            let outcome = tokio::time::timeout(self.options.timeout, send(&mut session)).await;
            match outcome {
                Ok(Ok(v)) => {
                    self.session = Some(session);
                    return Ok(v);
                }
                // v3: the engine's boots/time were just learned; the same session resends.
                Ok(Err(snmp2::Error::AuthUpdated)) if attempt <= self.options.retries + 1 => {
                    self.session = Some(session);
                }
                // Timeouts and stale replies: retry on a new session.
                Err(_) | Ok(Err(snmp2::Error::RequestIdMismatch | snmp2::Error::Receive))
                    if attempt <= self.options.retries => {}
                Err(_) | Ok(Err(snmp2::Error::Receive)) => return Err(self.timeout()),
                Ok(Err(e)) => return Err(self.err(e)),
            }
        }
    }

    /// GET of several scalars; absent ones (noSuchObject, noSuchInstance) are left out.
    pub async fn get(&mut self, oids: &[Oid]) -> Result<Walk, SnmpError> {
        let wanted: Vec<snmp2::Oid<'static>> = oids
            .iter()
            .map(to_snmp_oid)
            .collect::<Result<_, _>>()
            .map_err(|detail| SnmpError::Protocol {
                target: self.target.clone(),
                detail,
            })?;
        let target = self.target.clone();
        let answer = self
            .request(|s| {
                let wanted = wanted.clone();
                Box::pin(async move {
                    let refs: Vec<&snmp2::Oid<'_>> = wanted.iter().collect();
                    let pdu = s.get_many(&refs).await?;
                    Ok((pdu.error_status, copy_varbinds(pdu.varbinds)))
                })
            })
            .await?;
        check_status(&target, answer.0)?;
        let mut w = Walk::default();
        for (o, v) in answer.1 {
            if let (Some(o), Some(v)) = (o, v) {
                w.insert(o, v);
            }
        }
        Ok(w)
    }

    /// Walks the subtree under `root` with GETBULK (GETNEXT for v1) into `into`.
    ///
    /// Agents that answer out of order (an OID lower than the one before) are followed in
    /// their own order, so the walk does not stop at the first backwards step; it ends when
    /// the agent leaves the subtree, reports the end of its MIB view, or answers with nothing
    /// new (so a loop ends too).
    pub async fn walk_into(&mut self, root: &Oid, into: &mut Walk) -> Result<(), SnmpError> {
        self.walk_side_by_side(std::slice::from_ref(root), into)
            .await
    }

    /// Walks several subtrees side by side, one varbind for each in every GETBULK: the
    /// columns of a table, so that only the columns asked for are transferred, in as many
    /// requests as a walk of one column. Each subtree ends as [`Client::walk_into`]'s does.
    /// SNMPv1 has no GETBULK: there the subtrees are walked one after the other.
    pub async fn walk_side_by_side(
        &mut self,
        roots: &[Oid],
        into: &mut Walk,
    ) -> Result<(), SnmpError> {
        let v1 = matches!(self.credentials, Credentials::V1 { .. });
        if v1 && roots.len() > 1 {
            for r in roots {
                Box::pin(self.walk_side_by_side(std::slice::from_ref(r), into)).await?;
            }
            return Ok(());
        }
        let mut cursors: Vec<Option<Oid>> = roots.iter().cloned().map(Some).collect();
        let mut reps = self.options.max_repetitions.max(1);
        let mut count = 0usize;
        let target = self.target.clone();
        loop {
            let active: Vec<usize> = (0..roots.len()).filter(|i| cursors[*i].is_some()).collect();
            if active.is_empty() {
                return Ok(());
            }
            let froms: Vec<snmp2::Oid<'static>> = active
                .iter()
                .filter_map(|i| cursors[*i].as_ref())
                .map(to_snmp_oid)
                .collect::<Result<_, _>>()
                .map_err(|detail| SnmpError::Protocol {
                    target: target.clone(),
                    detail,
                })?;
            let (status, varbinds) = self
                .request(|s| {
                    let froms = froms.clone();
                    Box::pin(async move {
                        let refs: Vec<&snmp2::Oid<'_>> = froms.iter().collect();
                        let pdu = if v1 {
                            s.getnext(refs[0]).await?
                        } else {
                            s.getbulk(&refs, 0, reps).await?
                        };
                        Ok((pdu.error_status, copy_varbinds(pdu.varbinds)))
                    })
                })
                .await?;
            // tooBig: ask for fewer rows at a time.
            if status == 1 && reps > 1 {
                reps = (reps / 2).max(1);
                continue;
            }
            // noSuchName (v1) at the end of the MIB view.
            if status == 2 && v1 {
                return Ok(());
            }
            check_status(&target, status)?;
            // The answer is row by row: varbind k continues subtree active[k % n].
            let n = active.len();
            let mut progressed = vec![false; n];
            let mut ended = vec![varbinds.is_empty(); n];
            for (k, (o, v)) in varbinds.into_iter().enumerate() {
                let slot = k % n;
                if ended[slot] {
                    continue;
                }
                let i = active[slot];
                match (o, v) {
                    // Continue after the last OID the agent gave, in its own order; an
                    // answer that brings nothing new ends the walk, so a loop cannot go on.
                    (Some(o), Some(v)) if o.starts_with(&roots[i]) => {
                        cursors[i] = Some(o.clone());
                        progressed[slot] |= into.insert_new(o, v);
                        count += 1;
                        if count > self.options.max_varbinds {
                            return Err(SnmpError::TooLarge {
                                target,
                                root: roots[i].to_string(),
                                limit: self.options.max_varbinds,
                            });
                        }
                    }
                    // An exception (endOfMibView), an undecodable varbind or a step outside
                    // the subtree ends that subtree.
                    _ => ended[slot] = true,
                }
            }
            for slot in 0..n {
                if ended[slot] || !progressed[slot] {
                    cursors[active[slot]] = None;
                }
            }
        }
    }
}

type Copied = Vec<(Option<Oid>, Option<Value>)>;

fn copy_varbinds(vbs: snmp2::Varbinds<'_>) -> Copied {
    vbs.map(|(o, v)| (from_snmp_oid(&o), from_snmp_value(&v)))
        .collect()
}

fn check_status(target: &str, status: u32) -> Result<(), SnmpError> {
    const NAMES: &[&str] = &[
        "noError",
        "tooBig",
        "noSuchName",
        "badValue",
        "readOnly",
        "genErr",
        "noAccess",
    ];
    if status == 0 {
        return Ok(());
    }
    let name = NAMES.get(status as usize).copied().unwrap_or("error");
    Err(SnmpError::Protocol {
        target: target.to_string(),
        detail: format!("the agent answered {name} (error-status {status})"),
    })
}
