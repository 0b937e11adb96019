//! weroll's own session format in Redis, as its `Session` model (`weroll/model/Session.js`)
//! writes it, so that a weroll HTTP app that logs users in and a realtime server read the
//! same sessions. Pure functions over keys and hash fields; the Redis side is in
//! `session/redis.rs`.
//!
//! weroll's `Session.save(user)` does `HMSET <key> userid <id> token <token> tokentimestamp
//! <Date.now()> type <type> extra <JSON text>` then `EXPIRE <key> <tokenExpireTime>`, where
//! `<key>` is `<prefix>user_sess_<userid>_<token>` (one session per device, weroll's
//! default) or `<prefix>user_sess_<userid>` (its `onePointEnter: true`: one session per
//! user, a new login replacing the last). `<prefix>` is weroll's Redis key prefix followed by
//! its `session.prefix` (both empty unless configured). `Session.check(userid, token)`
//! accepts a session whose key exists (and, with `onePointEnter`, whose `userid` and
//! `token` fields match); it does not compare `tokentimestamp`.

use serde_json::{Map, Value};

use super::{Session, StoreError};

/// Where and how weroll keeps its sessions in Redis: its key prefix and its `onePointEnter`
/// setting. `WerollFormat::default()` is weroll's default: no prefix, one session per
/// device.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct WerollFormat {
    /// Prepended to `user_sess_...`: weroll's Redis prefix (its `redis.prefix` setting)
    /// followed by its `session.prefix`. Empty by default, as in weroll.
    pub prefix: String,
    /// weroll's `session.onePointEnter`: one session per user (`user_sess_<userid>`), so a
    /// new login ends the user's other devices. False by default, as in weroll.
    pub one_point_enter: bool,
}

/// The fields weroll's `Session` writes itself; any other field is the application's.
const OWN_FIELDS: [&str; 3] = ["userid", "token", "tokentimestamp"];

impl WerollFormat {
    /// weroll's default format under `prefix`.
    pub fn new(prefix: impl Into<String>) -> WerollFormat {
        WerollFormat {
            prefix: prefix.into(),
            one_point_enter: false,
        }
    }

    /// Sets [`WerollFormat::one_point_enter`].
    pub fn one_point_enter(mut self, on: bool) -> WerollFormat {
        self.one_point_enter = on;
        self
    }

    /// weroll's `formatKey(userid, token)`.
    pub fn key(&self, userid: &str, token: &str) -> String {
        if self.one_point_enter {
            format!("{}user_sess_{userid}", self.prefix)
        } else {
            format!("{}user_sess_{userid}_{token}", self.prefix)
        }
    }

    /// A `SCAN MATCH` pattern for every session key of `userid` (one session per device).
    /// It also matches keys of other users whose id starts with `<userid>_`, as weroll's
    /// own `KEYS` does: check each hash's `userid` field.
    pub(crate) fn user_pattern(&self, userid: &str) -> String {
        format!(
            "{}user_sess_{}_*",
            glob_escape(&self.prefix),
            glob_escape(userid)
        )
    }
}

/// Escapes Redis glob characters, so a prefix or user id matches only itself.
fn glob_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if matches!(c, '*' | '?' | '[' | ']' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// The hash fields weroll's `Session.save` writes for `session`: `userid`, `token`,
/// `tokentimestamp`, then each field of `session.data` (an object; anything else is kept as
/// `extra`): strings as they are, other values as JSON text, as weroll stores `extra`.
pub(crate) fn to_fields(session: &Session) -> Vec<(String, String)> {
    let mut fields = vec![
        ("userid".to_owned(), session.userid.clone()),
        ("token".to_owned(), session.token.clone()),
        (
            "tokentimestamp".to_owned(),
            session.tokentimestamp.to_string(),
        ),
    ];
    let text = |v: &Value| match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    };
    match &session.data {
        Value::Null => {}
        Value::Object(map) => fields.extend(
            map.iter()
                .filter(|(k, v)| !OWN_FIELDS.contains(&k.as_str()) && !v.is_null())
                .map(|(k, v)| (k.clone(), text(v))),
        ),
        other => fields.push(("extra".to_owned(), text(other))),
    }
    fields
}

/// A session from the fields of a weroll session hash (as `HGETALL` returns them), looked
/// up as `userid` and `token`. Empty fields: no session. `extra` is parsed as JSON when it
/// is JSON (weroll's `Session.check` does the same); other application fields stay strings.
/// A missing or non-numeric `tokentimestamp` reads as 0 (weroll never checks it).
pub(crate) fn from_fields(
    format: &WerollFormat,
    fields: Vec<(String, String)>,
    userid: &str,
    token: &str,
) -> Result<Option<Session>, StoreError> {
    if fields.is_empty() {
        return Ok(None);
    }
    let mut session = Session {
        userid: String::new(),
        token: String::new(),
        tokentimestamp: 0,
        data: Value::Null,
    };
    let mut data = Map::new();
    for (name, value) in fields {
        match name.as_str() {
            "userid" => session.userid = value,
            "token" => session.token = value,
            "tokentimestamp" => session.tokentimestamp = value.trim().parse().unwrap_or(0),
            "extra" => {
                let parsed = serde_json::from_str(&value).unwrap_or(Value::String(value));
                data.insert(name, parsed);
            }
            _ => {
                data.insert(name, Value::String(value));
            }
        }
    }
    if !format.one_point_enter {
        // The key names the user and the token: a hash written without them (by hand, or by
        // an older weroll) is still that session, as weroll's `checkSess` accepts it.
        if session.userid.is_empty() {
            session.userid = userid.to_owned();
        }
        if session.token.is_empty() {
            session.token = token.to_owned();
        }
    } else if session.userid.is_empty() || session.token.is_empty() {
        return Err(StoreError::Corrupt(format!(
            "weroll session {} has no userid or token field",
            format.key(userid, token)
        )));
    }
    if !data.is_empty() {
        session.data = Value::Object(data);
    }
    Ok(Some(session))
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn fields(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn keys_are_weroll_s() {
        let multi = WerollFormat::new("app_");
        assert_eq!(multi.key("42", "tok"), "app_user_sess_42_tok");
        assert_eq!(multi.user_pattern("a*b"), "app_user_sess_a\\*b_*");
        let one = WerollFormat::new("").one_point_enter(true);
        assert_eq!(one.key("42", "tok"), "user_sess_42");
    }

    #[test]
    fn fields_round_trip() {
        let session = Session {
            userid: "1001".into(),
            token: "abcdef0123456789".into(),
            tokentimestamp: 1_700_000_000_000,
            data: json!({ "type": "100", "extra": { "nickname": "Jay", "vip": 3 } }),
        };
        let written = to_fields(&session);
        assert!(written.contains(&("extra".into(), r#"{"nickname":"Jay","vip":3}"#.into())));
        let read = from_fields(
            &WerollFormat::default(),
            written,
            "1001",
            "abcdef0123456789",
        )
        .unwrap()
        .unwrap();
        assert_eq!(read, session);
    }

    #[test]
    fn reads_what_weroll_writes() {
        // What node_redis's HMSET makes of weroll's `sess` object.
        let read = from_fields(
            &WerollFormat::default(),
            fields(&[
                ("userid", "1001"),
                ("token", "t0k"),
                ("tokentimestamp", "1700000000123"),
                ("type", "100"),
                ("extra", r#"["Jay","123.jpg"]"#),
            ]),
            "1001",
            "t0k",
        )
        .unwrap()
        .unwrap();
        assert_eq!(read.tokentimestamp, 1_700_000_000_123);
        assert_eq!(
            read.data,
            json!({ "type": "100", "extra": ["Jay", "123.jpg"] })
        );
        // `extra` that is not JSON stays a string; no session at all is None.
        let read = from_fields(
            &WerollFormat::default(),
            fields(&[("extra", "plain")]),
            "7",
            "t",
        )
        .unwrap()
        .unwrap();
        assert_eq!((read.userid.as_str(), read.token.as_str()), ("7", "t"));
        assert_eq!(read.data, json!({ "extra": "plain" }));
        assert_eq!(
            from_fields(&WerollFormat::default(), vec![], "7", "t").unwrap(),
            None
        );
        assert!(from_fields(
            &WerollFormat::default().one_point_enter(true),
            fields(&[("type", "1")]),
            "7",
            "t"
        )
        .is_err());
    }
}
