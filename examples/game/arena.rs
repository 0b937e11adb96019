//! Matches: the lobby's list of open matches, creating and joining one, the players' inputs,
//! and the server-authoritative tick loop that runs each match.
//!
//! A match is a typed room, `Match(7)` (room `match:7`); the lobby is the room `Lobby`. Each
//! match runs one tokio task, started when the match is created and stopped when its last
//! player leaves (or disconnects): every [`TICK`] it advances the game ([`crate::pong`]),
//! encodes the state once, and broadcasts it to the match's room as the event `state`.
//! Clients only send inputs; what they draw is what the server says.
//!
//! | client → server | answer (ack) |
//! |---|---|
//! | `lobby` | enters the lobby room; `{matches: [{id, players}], running}` (open matches, running tick loops) |
//! | `create_match` (after `login`) | `{match, side, field}`: a new match with its creator seated |
//! | `join_match` id (after `login`) | `{match, side, field}`, or `{error}` if the match is full or gone |
//! | `input` `{dir: -1 \| 0 \| 1}` | moves the player's paddle up, not at all, down, from the next tick on |
//! | `leave_match` | leaves the match (no arguments) |
//!
//! | server → client | when |
//! |---|---|
//! | `matches` `{matches, running}` | to the lobby, whenever the list changes |
//! | `state` `{match, tick, status, ball: [x, y], left, right, winner}` | to a match, every tick |
//!
//! Matches live on the node where they were created (state and tick loop are in this
//! process): with `REDIS_URL` set each node has its own lobby, and the players of a match
//! connect to the same node. So the tick broadcasts stay `local()` and cost Redis nothing.

use std::{
    collections::{BTreeMap, HashMap},
    sync::{
        atomic::{AtomicUsize, Ordering},
        Arc, Mutex,
    },
    time::Duration,
};

use realtime::{
    event, Data, Extension, Namespace, Payload, Room, RoomName, Socket, SocketId, State,
};
use serde::{Deserialize, Serialize};
use tokio::{task::JoinHandle, time::MissedTickBehavior};

use crate::{
    lobby::Player,
    pong::{Field, Pong, Side, FIELD},
};

/// How often a match advances and is broadcast: 20 times a second.
pub const TICK: Duration = Duration::from_millis(50);

/// A match, as a typed room: handlers pass `Match(7)`, never `"match:7"`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Match(pub u64);

impl RoomName for Match {
    fn room_name(&self) -> Room {
        format!("match:{}", self.0).into()
    }
}

/// Everyone looking at the list of open matches.
#[derive(Debug, Clone, Copy)]
pub struct Lobby;

impl RoomName for Lobby {
    fn room_name(&self) -> Room {
        "lobby".into()
    }
}

/// The matches of this server, shared by every handler (registered with `.state(..)`).
#[derive(Debug, Clone, Default)]
pub struct Arena {
    matches: Arc<Mutex<Matches>>,
    /// Tick loops alive: counted by the tasks themselves, so a loop that was told to stop
    /// but has not yet is still counted.
    running: Arc<AtomicUsize>,
}

#[derive(Debug, Default)]
struct Matches {
    last_id: u64,
    games: BTreeMap<Match, Running>,
    /// Which match each seated player is in.
    seats: HashMap<SocketId, Match>,
}

/// A match in progress: its game, shared with its tick loop, and the loop's task.
#[derive(Debug)]
struct Running {
    game: Arc<Mutex<Pong>>,
    ticker: JoinHandle<()>,
}

/// The lobby's view: the matches waiting for a player.
#[derive(Debug, Serialize)]
pub struct LobbyView {
    matches: Vec<OpenMatch>,
    running: usize,
}

#[derive(Debug, Serialize)]
struct OpenMatch {
    id: Match,
    players: Vec<String>,
}

/// The answer to `create_match` and `join_match`.
#[derive(Debug, Serialize)]
pub struct Joined {
    #[serde(rename = "match")]
    id: Match,
    side: Side,
    field: Field,
}

#[derive(Debug, Deserialize)]
pub struct Input {
    dir: i8,
}

impl Arena {
    fn lobby(&self) -> LobbyView {
        let matches = self.matches.lock().unwrap();
        let open = matches.games.iter().filter_map(|(&id, running)| {
            let game = running.game.lock().unwrap();
            (!game.is_full()).then(|| OpenMatch {
                id,
                players: game.players(),
            })
        });
        LobbyView {
            matches: open.collect(),
            running: self.running.load(Ordering::SeqCst),
        }
    }

    /// Tells the lobby what changed.
    fn announce(&self, ns: &Arc<Namespace>) {
        let _ = ns.to(Lobby).local().emit("matches", &self.lobby());
    }

    /// Opens a match and starts its tick loop.
    fn create(&self, ns: &Arc<Namespace>) -> Match {
        let mut matches = self.matches.lock().unwrap();
        matches.last_id += 1;
        let id = Match(matches.last_id);
        let game = Arc::new(Mutex::new(Pong::default()));
        let alive = LoopAlive::start(&self.running);
        let ticker = tokio::spawn(tick_loop(id, game.clone(), ns.clone(), alive));
        matches.games.insert(id, Running { game, ticker });
        id
    }

    /// Seats `socket` in match `id`, taking it out of the match it was in.
    async fn seat(&self, socket: &Socket, id: Match, name: &str) -> Result<Side, String> {
        let (side, previous) = {
            let mut matches = self.matches.lock().unwrap();
            if matches.seats.get(&socket.id()) == Some(&id) {
                return Err(format!("already playing in match {}", id.0));
            }
            let running = matches
                .games
                .get(&id)
                .ok_or_else(|| format!("no match {}", id.0))?;
            let side = running
                .game
                .lock()
                .unwrap()
                .seat(socket.id(), name)
                .ok_or_else(|| format!("match {} is full", id.0))?;
            let previous = matches
                .seats
                .insert(socket.id(), id)
                .map(|previous| (previous, matches.vacate(previous, socket.id())));
            (side, previous)
        };
        socket.join(id);
        if let Some((previous, stopped)) = previous {
            socket.leave(previous);
            stopped.wait().await;
        }
        Ok(side)
    }

    /// Takes `socket` out of its match, if it is in one, and tells the lobby once the
    /// match's loop has stopped (if it was the last player).
    pub async fn leave(&self, socket: &Socket) {
        let left = self.matches.lock().unwrap().unseat(socket.id());
        if let Some((id, stopped)) = left {
            socket.leave(id);
            stopped.wait().await;
            self.announce(socket.namespace());
        }
    }

    fn input(&self, player: SocketId, dir: i8) -> Result<(), String> {
        let matches = self.matches.lock().unwrap();
        let id = matches.seats.get(&player).ok_or("not in a match")?;
        if let Some(running) = matches.games.get(id) {
            running.game.lock().unwrap().input(player, dir);
        }
        Ok(())
    }
}

impl Matches {
    fn unseat(&mut self, player: SocketId) -> Option<(Match, Stopped)> {
        let id = self.seats.remove(&player)?;
        Some((id, self.vacate(id, player)))
    }

    /// Frees `player`'s seat in match `id`; a match left empty is closed and its tick loop
    /// stopped.
    fn vacate(&mut self, id: Match, player: SocketId) -> Stopped {
        let Some(running) = self.games.get(&id) else {
            return Stopped(None);
        };
        let empty = {
            let mut game = running.game.lock().unwrap();
            game.unseat(player);
            game.is_empty()
        };
        if !empty {
            return Stopped(None);
        }
        let running = self.games.remove(&id).expect("the match was just found");
        running.ticker.abort();
        Stopped(Some(running.ticker))
    }
}

/// The tick loop of a match that was just closed, if one was: aborting a task only asks it
/// to stop, at its next await.
#[derive(Debug)]
#[must_use = "wait() for the loop to be gone before reporting it gone"]
struct Stopped(Option<JoinHandle<()>>);

impl Stopped {
    async fn wait(self) {
        if let Some(ticker) = self.0 {
            // Err(cancelled) is the expected outcome.
            let _ = ticker.await;
        }
    }
}

/// Counts a tick loop as running for as long as its task lives (aborting the task drops it).
#[derive(Debug)]
struct LoopAlive(Arc<AtomicUsize>);

impl LoopAlive {
    fn start(running: &Arc<AtomicUsize>) -> LoopAlive {
        running.fetch_add(1, Ordering::SeqCst);
        LoopAlive(running.clone())
    }
}

impl Drop for LoopAlive {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

/// A match's clock: every tick, one step of the game and one broadcast of its state. Runs
/// until the match's last player leaves (`Matches::vacate` aborts it).
async fn tick_loop(id: Match, game: Arc<Mutex<Pong>>, ns: Arc<Namespace>, _alive: LoopAlive) {
    let mut clock = tokio::time::interval(TICK);
    // After a stall, carry on at the normal rate rather than bursting to catch up.
    clock.set_missed_tick_behavior(MissedTickBehavior::Delay);
    loop {
        clock.tick().await;
        // Serialized once per tick; the broadcast then frames it once per protocol and
        // every player's connection shares those bytes.
        let state = {
            let mut game = game.lock().unwrap();
            game.step();
            Payload::new()
                .arg(game.snapshot(id))
                .expect("a snapshot serializes")
        };
        // volatile: a player whose connection cannot keep up misses a frame (the next one
        // supersedes it) rather than being disconnected as a slow consumer.
        let _ = ns.to(id).local().volatile().emit_payload("state", &state);
    }
}

/// Enters the lobby: the answer lists the open matches; `matches` follows every change.
#[event("lobby")]
async fn lobby(socket: Socket, State(arena): State<Arena>) -> LobbyView {
    socket.join(Lobby);
    arena.lobby()
}

/// Opens a match, seats its creator on the left and starts the match's tick loop. Only
/// logged-in players play: their name is on the scoreboard.
#[event("create_match")]
async fn create_match(
    socket: Socket,
    State(arena): State<Arena>,
    Extension(me): Extension<Player>,
) -> Result<Joined, String> {
    let id = arena.create(socket.namespace());
    let side = arena.seat(&socket, id, &me.name).await?;
    arena.announce(socket.namespace());
    Ok(Joined {
        id,
        side,
        field: FIELD,
    })
}

/// Takes the free seat of an open match.
#[event("join_match")]
async fn join_match(
    socket: Socket,
    State(arena): State<Arena>,
    Extension(me): Extension<Player>,
    Data(id): Data<Match>,
) -> Result<Joined, String> {
    let side = arena.seat(&socket, id, &me.name).await?;
    arena.announce(socket.namespace());
    Ok(Joined {
        id,
        side,
        field: FIELD,
    })
}

/// The direction a player holds (-1 up, 0 still, 1 down); it applies from the next tick on.
#[event("input")]
async fn input(
    socket: Socket,
    State(arena): State<Arena>,
    Data(input): Data<Input>,
) -> Result<(), String> {
    arena.input(socket.id(), input.dir)
}

/// Leaves the current match; the last one out stops it.
#[event("leave_match")]
async fn leave_match(socket: Socket, State(arena): State<Arena>) {
    arena.leave(&socket).await;
}
