//! [`RedisSessionStore`]: weroll's sessions in Redis (the `redis` feature, on by default).

use std::time::Duration;

use super::{Session, SessionStore, StoreError, StoreFuture};

/// Sessions in Redis (`SET <prefix><userid> <json> PX <ttl>`), shared by every node of a
/// cluster and by the HTTP app that logs users in.
#[derive(Clone)]
pub struct RedisSessionStore {
    connection: redis::aio::ConnectionManager,
    prefix: String,
}

impl std::fmt::Debug for RedisSessionStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisSessionStore")
            .field("prefix", &self.prefix)
            .finish()
    }
}

impl RedisSessionStore {
    /// Connects to `url` (`redis://127.0.0.1:6379`); keys are `realtime:session:<userid>`.
    pub async fn connect(url: &str) -> Result<RedisSessionStore, StoreError> {
        RedisSessionStore::connect_with_prefix(url, "realtime:session:").await
    }

    /// Connects with another key prefix (to share a Redis with other applications or tests).
    pub async fn connect_with_prefix(
        url: &str,
        prefix: &str,
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
        Ok(RedisSessionStore {
            connection,
            prefix: prefix.to_owned(),
        })
    }

    fn key(&self, userid: &str) -> String {
        format!("{}{userid}", self.prefix)
    }
}

fn unavailable(err: redis::RedisError) -> StoreError {
    StoreError::Unavailable(err.to_string())
}

impl SessionStore for RedisSessionStore {
    fn save<'a>(&'a self, session: &'a Session, ttl: Duration) -> StoreFuture<'a, ()> {
        Box::pin(async move {
            let json =
                serde_json::to_string(session).map_err(|e| StoreError::Corrupt(e.to_string()))?;
            let ttl_ms = ttl.as_millis().max(1) as u64;
            let mut conn = self.connection.clone();
            redis::cmd("SET")
                .arg(self.key(&session.userid))
                .arg(json)
                .arg("PX")
                .arg(ttl_ms)
                .query_async::<()>(&mut conn)
                .await
                .map_err(unavailable)
        })
    }

    fn load<'a>(&'a self, userid: &'a str) -> StoreFuture<'a, Option<Session>> {
        Box::pin(async move {
            let mut conn = self.connection.clone();
            let json: Option<String> = redis::cmd("GET")
                .arg(self.key(userid))
                .query_async(&mut conn)
                .await
                .map_err(unavailable)?;
            json.map(|j| serde_json::from_str(&j).map_err(|e| StoreError::Corrupt(e.to_string())))
                .transpose()
        })
    }

    fn remove<'a>(&'a self, userid: &'a str) -> StoreFuture<'a, ()> {
        Box::pin(async move {
            let mut conn = self.connection.clone();
            redis::cmd("DEL")
                .arg(self.key(userid))
                .query_async::<()>(&mut conn)
                .await
                .map_err(unavailable)
        })
    }
}
