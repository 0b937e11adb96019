//! [`RedisSessionStore`]: sessions in Redis (the `redis` feature, on by default), shared by
//! every node of a cluster and by the HTTP app that logs users in, in this crate's format or
//! in weroll's own ([`RedisFormat`]).

use std::{
    collections::HashMap,
    time::{Duration, SystemTime, UNIX_EPOCH},
};

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::{weroll, Session, SessionStore, StoreError, StoreFuture, WerollFormat};

/// How a [`RedisSessionStore`] lays its sessions out in Redis.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum RedisFormat {
    /// This crate's format: one hash per user, `<prefix><userid>`, with one field per token
    /// whose value is the session as JSON, `{"userid", "token", "tokentimestamp", "data",
    /// "expiresAt"}` (`expiresAt` in milliseconds since the Unix epoch). Each session
    /// expires on its own; the hash expires with the user's last session.
    Native {
        /// Prepended to the user id: `realtime:session:` by default.
        prefix: String,
    },
    /// weroll's own format (see [`WerollFormat`]): sessions a weroll app wrote verify here,
    /// and sessions saved here verify in weroll.
    Weroll(WerollFormat),
}

impl RedisFormat {
    /// The native format under `prefix`.
    pub fn native(prefix: impl Into<String>) -> RedisFormat {
        RedisFormat::Native {
            prefix: prefix.into(),
        }
    }
}

/// Sessions in Redis, in the format [`RedisFormat`] says.
#[derive(Clone)]
pub struct RedisSessionStore {
    connection: redis::aio::ConnectionManager,
    format: RedisFormat,
}

impl std::fmt::Debug for RedisSessionStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisSessionStore")
            .field("format", &self.format)
            .finish()
    }
}

/// The native format's record: the session and when it expires.
#[derive(Serialize, Deserialize)]
struct Record {
    userid: String,
    token: String,
    tokentimestamp: u64,
    #[serde(default)]
    data: Value,
    #[serde(rename = "expiresAt")]
    expires_at: u64,
}

/// Saves one session of the native format and keeps the user's hash tidy, atomically: sets
/// the token's field, drops the fields of sessions that expired, and makes the hash live as
/// long as its longest-lived session. Fields that are not records are left alone (a load
/// reports them as corrupt).
/// KEYS[1]: the user's hash. ARGV: token, record (JSON), its expiry, now (both ms).
const SAVE_NATIVE: &str = r#"
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
local latest = tonumber(ARGV[3])
local now = tonumber(ARGV[4])
local all = redis.call('HGETALL', KEYS[1])
for i = 1, #all, 2 do
  local ok, record = pcall(cjson.decode, all[i + 1])
  local at = nil
  if ok and type(record) == 'table' then at = tonumber(record['expiresAt']) end
  if at ~= nil then
    if at <= now then
      redis.call('HDEL', KEYS[1], all[i])
    elseif at > latest then
      latest = at
    end
  end
end
redis.call('PEXPIREAT', KEYS[1], latest)
return 1
"#;

/// weroll's format with `onePointEnter`: deletes the user's session only if it is still the
/// one with this token (a later login on another device keeps its own).
const REMOVE_IF_TOKEN: &str = r#"
if redis.call('HGET', KEYS[1], 'token') == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
"#;

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or_default()
}

fn unavailable(err: redis::RedisError) -> StoreError {
    StoreError::Unavailable(err.to_string())
}

impl RedisSessionStore {
    /// Connects to `url` (`redis://127.0.0.1:6379`), native format; keys are
    /// `realtime:session:<userid>`.
    pub async fn connect(url: &str) -> Result<RedisSessionStore, StoreError> {
        RedisSessionStore::connect_with_prefix(url, "realtime:session:").await
    }

    /// Connects with another key prefix (to share a Redis with other applications or tests),
    /// native format.
    pub async fn connect_with_prefix(
        url: &str,
        prefix: &str,
    ) -> Result<RedisSessionStore, StoreError> {
        RedisSessionStore::connect_with_format(url, RedisFormat::native(prefix)).await
    }

    /// Connects to read and write sessions in weroll's own format: those a weroll app's
    /// `Session.save` wrote verify in `$init`.
    pub async fn connect_weroll(
        url: &str,
        format: WerollFormat,
    ) -> Result<RedisSessionStore, StoreError> {
        RedisSessionStore::connect_with_format(url, RedisFormat::Weroll(format)).await
    }

    /// Connects with the sessions laid out as `format` says.
    pub async fn connect_with_format(
        url: &str,
        format: RedisFormat,
    ) -> Result<RedisSessionStore, StoreError> {
        let client = redis::Client::open(url).map_err(unavailable)?;
        // Bounded retries and timeouts: the defaults keep retrying an unreachable server for
        // minutes, and a session store that is down should say so in seconds.
        let config = redis::aio::ConnectionManagerConfig::new()
            .set_connection_timeout(Duration::from_secs(2))
            .set_response_timeout(Duration::from_secs(2))
            .set_number_of_retries(2);
        let connect = redis::aio::ConnectionManager::new_with_config(client, config);
        let connection = tokio::time::timeout(Duration::from_secs(10), connect)
            .await
            .map_err(|_| StoreError::Unavailable(format!("no answer from {url} within 10 s")))?
            .map_err(unavailable)?;
        Ok(RedisSessionStore { connection, format })
    }

    /// How this store lays its sessions out.
    pub fn format(&self) -> &RedisFormat {
        &self.format
    }

    async fn query<T: redis::FromRedisValue>(&self, cmd: &redis::Cmd) -> Result<T, StoreError> {
        let mut conn = self.connection.clone();
        cmd.query_async(&mut conn).await.map_err(unavailable)
    }

    async fn save_native(
        &self,
        prefix: &str,
        session: &Session,
        ttl: Duration,
    ) -> Result<(), StoreError> {
        let now = now_ms();
        let expires_at = now.saturating_add((ttl.as_millis() as u64).max(1));
        let record = Record {
            userid: session.userid.clone(),
            token: session.token.clone(),
            tokentimestamp: session.tokentimestamp,
            data: session.data.clone(),
            expires_at,
        };
        let json =
            serde_json::to_string(&record).map_err(|e| StoreError::Corrupt(e.to_string()))?;
        let mut cmd = redis::cmd("EVAL");
        cmd.arg(SAVE_NATIVE)
            .arg(1)
            .arg(format!("{prefix}{}", session.userid))
            .arg(&session.token)
            .arg(json)
            .arg(expires_at)
            .arg(now);
        self.query::<()>(&cmd).await
    }

    async fn load_native(
        &self,
        prefix: &str,
        userid: &str,
        token: &str,
    ) -> Result<Option<Session>, StoreError> {
        let mut cmd = redis::cmd("HGET");
        cmd.arg(format!("{prefix}{userid}")).arg(token);
        let Some(json) = self.query::<Option<String>>(&cmd).await? else {
            return Ok(None);
        };
        let record: Record = serde_json::from_str(&json)
            .map_err(|e| StoreError::Corrupt(format!("session of {prefix}{userid}: {e}")))?;
        if record.expires_at <= now_ms() {
            return Ok(None);
        }
        Ok(Some(Session {
            userid: record.userid,
            token: record.token,
            tokentimestamp: record.tokentimestamp,
            data: record.data,
        }))
    }

    async fn save_weroll(
        &self,
        format: &WerollFormat,
        session: &Session,
        ttl: Duration,
    ) -> Result<(), StoreError> {
        let key = format.key(&session.userid, &session.token);
        let mut hset = redis::cmd("HSET");
        hset.arg(&key);
        for (field, value) in weroll::to_fields(session) {
            hset.arg(field).arg(value);
        }
        let mut pipe = redis::pipe();
        pipe.atomic()
            .cmd("DEL")
            .arg(&key)
            .ignore()
            .add_command(hset)
            .ignore()
            .cmd("PEXPIRE")
            .arg(&key)
            .arg((ttl.as_millis() as u64).max(1))
            .ignore();
        let mut conn = self.connection.clone();
        pipe.query_async::<()>(&mut conn).await.map_err(unavailable)
    }

    async fn load_weroll(
        &self,
        format: &WerollFormat,
        userid: &str,
        token: &str,
    ) -> Result<Option<Session>, StoreError> {
        let mut cmd = redis::cmd("HGETALL");
        cmd.arg(format.key(userid, token));
        let fields: HashMap<String, String> = self.query(&cmd).await?;
        let session = weroll::from_fields(format, fields.into_iter().collect(), userid, token)?;
        // With `onePointEnter` the key names the user only: the session is this token's only
        // if it holds this token. (`verify` compares again, in constant time.)
        Ok(session.filter(|s| !format.one_point_enter || s.token == token))
    }

    async fn remove_weroll(
        &self,
        format: &WerollFormat,
        userid: &str,
        token: &str,
    ) -> Result<(), StoreError> {
        let key = format.key(userid, token);
        if format.one_point_enter {
            let mut cmd = redis::cmd("EVAL");
            cmd.arg(REMOVE_IF_TOKEN).arg(1).arg(key).arg(token);
            self.query::<()>(&cmd).await
        } else {
            self.query::<()>(redis::cmd("DEL").arg(key)).await
        }
    }

    /// Every session key of `userid` in weroll's format: found with `SCAN` (weroll uses
    /// `KEYS`), keeping the hashes whose `userid` field is this user's (the pattern also
    /// matches users whose id begins with `<userid>_`).
    async fn remove_all_weroll(
        &self,
        format: &WerollFormat,
        userid: &str,
    ) -> Result<(), StoreError> {
        if format.one_point_enter {
            return self
                .query::<()>(redis::cmd("DEL").arg(format.key(userid, "")))
                .await;
        }
        let pattern = format.user_pattern(userid);
        let mut cursor: u64 = 0;
        loop {
            let mut scan = redis::cmd("SCAN");
            scan.arg(cursor)
                .arg("MATCH")
                .arg(&pattern)
                .arg("COUNT")
                .arg(200);
            let (next, keys): (u64, Vec<String>) = self.query(&scan).await?;
            for key in keys {
                let mut owner = redis::cmd("HGET");
                owner.arg(&key).arg("userid");
                if self.query::<Option<String>>(&owner).await?.as_deref() == Some(userid) {
                    self.query::<()>(redis::cmd("DEL").arg(&key)).await?;
                }
            }
            if next == 0 {
                return Ok(());
            }
            cursor = next;
        }
    }
}

impl SessionStore for RedisSessionStore {
    fn save<'a>(&'a self, session: &'a Session, ttl: Duration) -> StoreFuture<'a, ()> {
        Box::pin(async move {
            match &self.format {
                RedisFormat::Native { prefix } => self.save_native(prefix, session, ttl).await,
                RedisFormat::Weroll(format) => self.save_weroll(format, session, ttl).await,
            }
        })
    }

    fn load<'a>(&'a self, userid: &'a str, token: &'a str) -> StoreFuture<'a, Option<Session>> {
        Box::pin(async move {
            match &self.format {
                RedisFormat::Native { prefix } => self.load_native(prefix, userid, token).await,
                RedisFormat::Weroll(format) => self.load_weroll(format, userid, token).await,
            }
        })
    }

    fn remove<'a>(&'a self, userid: &'a str, token: &'a str) -> StoreFuture<'a, ()> {
        Box::pin(async move {
            match &self.format {
                RedisFormat::Native { prefix } => {
                    let mut cmd = redis::cmd("HDEL");
                    cmd.arg(format!("{prefix}{userid}")).arg(token);
                    self.query::<()>(&cmd).await
                }
                RedisFormat::Weroll(format) => self.remove_weroll(format, userid, token).await,
            }
        })
    }

    fn remove_all<'a>(&'a self, userid: &'a str) -> StoreFuture<'a, ()> {
        Box::pin(async move {
            match &self.format {
                RedisFormat::Native { prefix } => {
                    self.query::<()>(redis::cmd("DEL").arg(format!("{prefix}{userid}")))
                        .await
                }
                RedisFormat::Weroll(format) => self.remove_all_weroll(format, userid).await,
            }
        })
    }

    fn checks_tokentimestamp(&self) -> bool {
        !matches!(self.format, RedisFormat::Weroll(_))
    }
}
