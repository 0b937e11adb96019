//! Event names: string literals, raw strings, integers, any Unicode; namespaces.

use realtime::event;

#[event("hello")]
async fn hello() {}

#[event(1)]
async fn one() {}

#[event(0x10)]
async fn sixteen() {}

#[event(r"raw")]
async fn raw() {}

#[event("héllo wörld")]
async fn unicode() {}

#[event("m")]
async fn compact_name() {}

#[event("hello", namespace = "/")]
async fn hello_root() {}

#[event("hello", namespace = "/chat")]
async fn hello_chat() {}

#[event("hello", namespace = "/chat/room")]
async fn hello_chat_room() {}

fn main() {}
