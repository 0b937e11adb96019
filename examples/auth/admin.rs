//! `/admin`: a JWT (auth payload field `token`, or for plain WebSocket clients the query
//! parameter `token`; audience `/admin`) whose `roles` claim decides what the connection may
//! do.
//!
//! Any valid token for `/admin` connects; the `ban` event runs only for connections whose
//! token has the role `admin`. Others get `missing role "admin"` (as the error ack, or the
//! `$error` event) and the handler never runs.

use realtime::{
    auth::{HasRole, Role, Roles, User},
    ConnectError, Data, Extension, NamespaceBuilder, Socket, State,
};
use serde::Deserialize;
use serde_json::json;

use crate::{stats::Stats, tokens::Claims};

/// The role `admin`, as a type for `HasRole<Admin>`.
#[derive(Debug)]
pub struct Admin;

impl Role for Admin {
    const NAME: &'static str = "admin";
}

/// The second middleware of `/admin`: the first one verified the token and stored its claims
/// as `User<Claims>`; this one stores their roles as [`Roles`], where `HasRole` looks.
pub async fn roles_from_claims(
    socket: Socket,
    User(claims): User<Claims>,
) -> Result<(), ConnectError> {
    socket.insert_extension(Roles::new(claims.roles));
    Ok(())
}

#[derive(Deserialize)]
struct Ban {
    userid: String,
}

/// Admins only: `HasRole<Admin>` refuses the event for anyone else before this runs.
async fn ban(
    _: HasRole<Admin>,
    State(stats): State<Stats>,
    User(me): User<Claims>,
    Data(ban): Data<Ban>,
) -> serde_json::Value {
    stats.hit("/admin ban");
    json!({ "banned": ban.userid, "by": me.sub })
}

/// Anyone connected to `/admin`: the roles the middleware stored.
async fn roles(Extension(roles): Extension<Roles>) -> Vec<String> {
    roles.0.to_vec()
}

/// `/admin`'s own handlers (the token middleware and `whoami` come from [`crate::tokens`]).
pub fn handlers(ns: NamespaceBuilder) -> NamespaceBuilder {
    ns.on("ban", ban).on("roles", roles)
}
