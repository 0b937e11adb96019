//! The game itself: two-player pong, simulated by the server one tick at a time. Pure state
//! and arithmetic, no I/O: `arena` owns the matches and the tick loop that calls
//! [`Pong::step`] and broadcasts [`Pong::snapshot`].
//!
//! Coordinates are pixels of a 640 × 400 field, origin top left; a paddle's `y` is its top
//! edge. Clients draw what the snapshots say and send only their inputs (up, down, stop),
//! so no client can move a ball or the other paddle.

use realtime::SocketId;
use serde::Serialize;

use crate::arena::Match;

pub const WIDTH: f32 = 640.0;
pub const HEIGHT: f32 = 400.0;
pub const PADDLE_W: f32 = 10.0;
pub const PADDLE_H: f32 = 80.0;
/// Distance from each side wall to the paddle's outer edge.
pub const PADDLE_X: f32 = 20.0;
pub const BALL_R: f32 = 6.0;
/// Pixels per tick: at 20 ticks a second a paddle crosses the field in one second.
const PADDLE_SPEED: f32 = 16.0;
const SERVE_SPEED: f32 = 7.0;
const MAX_SPEED: f32 = 15.0;
/// Ticks between a point and the next serve (one second at 20 Hz).
const SERVE_DELAY: u32 = 20;
/// Ticks the final score stays on screen before a new game starts.
const GAME_OVER_DELAY: u32 = 60;
pub const POINTS_TO_WIN: u32 = 5;

/// The field's dimensions, sent to a player when they join so the page can draw them.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct Field {
    width: f32,
    height: f32,
    paddle_w: f32,
    paddle_h: f32,
    paddle_x: f32,
    ball_r: f32,
    points_to_win: u32,
}

pub const FIELD: Field = Field {
    width: WIDTH,
    height: HEIGHT,
    paddle_w: PADDLE_W,
    paddle_h: PADDLE_H,
    paddle_x: PADDLE_X,
    ball_r: BALL_R,
    points_to_win: POINTS_TO_WIN,
};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Side {
    Left,
    Right,
}

#[derive(Debug)]
struct Paddle {
    player: SocketId,
    name: String,
    y: f32,
    /// The input held: -1 up, 0 still, 1 down.
    dir: i8,
    score: u32,
}

#[derive(Debug)]
struct Ball {
    x: f32,
    y: f32,
    vx: f32,
    vy: f32,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    /// One seat is empty.
    Waiting,
    /// The ball waits in the middle for the next serve.
    Serving,
    Playing,
    /// Someone reached [`POINTS_TO_WIN`]; a new game starts shortly.
    Over,
}

/// One match's game state.
#[derive(Debug)]
pub struct Pong {
    tick: u64,
    left: Option<Paddle>,
    right: Option<Paddle>,
    ball: Ball,
    status: Status,
    /// Ticks left in `Serving` or `Over`.
    countdown: u32,
    /// Which way the next serve goes.
    serve_to: Side,
    winner: Option<Side>,
}

impl Default for Pong {
    fn default() -> Self {
        Pong {
            tick: 0,
            left: None,
            right: None,
            ball: Ball::centred(),
            status: Status::Waiting,
            countdown: 0,
            serve_to: Side::Left,
            winner: None,
        }
    }
}

impl Ball {
    fn centred() -> Ball {
        Ball {
            x: WIDTH / 2.0,
            y: HEIGHT / 2.0,
            vx: 0.0,
            vy: 0.0,
        }
    }
}

/// What every player of a match receives each tick (numbers rounded to whole pixels).
#[derive(Debug, Serialize)]
pub struct Snapshot<'a> {
    #[serde(rename = "match")]
    id: Match,
    tick: u64,
    status: Status,
    ball: [i32; 2],
    left: Option<PaddleView<'a>>,
    right: Option<PaddleView<'a>>,
    winner: Option<Side>,
}

#[derive(Debug, Serialize)]
struct PaddleView<'a> {
    name: &'a str,
    y: i32,
    score: u32,
}

impl<'a> From<&'a Paddle> for PaddleView<'a> {
    fn from(p: &'a Paddle) -> Self {
        PaddleView {
            name: &p.name,
            y: p.y.round() as i32,
            score: p.score,
        }
    }
}

impl Pong {
    /// Seats a player at the free side (left first); `None` if both are taken.
    pub fn seat(&mut self, player: SocketId, name: &str) -> Option<Side> {
        let paddle = Paddle {
            player,
            name: name.to_owned(),
            y: (HEIGHT - PADDLE_H) / 2.0,
            dir: 0,
            score: 0,
        };
        let side = if self.left.is_none() {
            self.left = Some(paddle);
            Side::Left
        } else if self.right.is_none() {
            self.right = Some(paddle);
            Side::Right
        } else {
            return None;
        };
        if self.is_full() {
            // A new opponent: a new game from 0 - 0.
            self.new_game();
        }
        Some(side)
    }

    /// Removes a player; the other waits, ball in the middle, scores kept.
    pub fn unseat(&mut self, player: SocketId) {
        for seat in [&mut self.left, &mut self.right] {
            if seat.as_ref().is_some_and(|p| p.player == player) {
                *seat = None;
            }
        }
        self.ball = Ball::centred();
        self.status = Status::Waiting;
        self.winner = None;
    }

    pub fn is_full(&self) -> bool {
        self.left.is_some() && self.right.is_some()
    }

    pub fn is_empty(&self) -> bool {
        self.left.is_none() && self.right.is_none()
    }

    /// The names of the seated players, left first.
    pub fn players(&self) -> Vec<String> {
        [&self.left, &self.right]
            .into_iter()
            .flatten()
            .map(|p| p.name.clone())
            .collect()
    }

    /// Sets the input a player holds (clamped to -1, 0, 1) until the next one.
    pub fn input(&mut self, player: SocketId, dir: i8) {
        for paddle in [&mut self.left, &mut self.right].into_iter().flatten() {
            if paddle.player == player {
                paddle.dir = dir.clamp(-1, 1);
            }
        }
    }

    /// Advances the game by one tick.
    pub fn step(&mut self) {
        self.tick += 1;
        for paddle in [&mut self.left, &mut self.right].into_iter().flatten() {
            paddle.y =
                (paddle.y + f32::from(paddle.dir) * PADDLE_SPEED).clamp(0.0, HEIGHT - PADDLE_H);
        }
        match self.status {
            Status::Waiting => {}
            Status::Serving => {
                self.countdown = self.countdown.saturating_sub(1);
                if self.countdown == 0 {
                    self.serve();
                }
            }
            Status::Over => {
                self.countdown = self.countdown.saturating_sub(1);
                if self.countdown == 0 {
                    self.new_game();
                }
            }
            Status::Playing => self.move_ball(),
        }
    }

    pub fn snapshot(&self, id: Match) -> Snapshot<'_> {
        Snapshot {
            id,
            tick: self.tick,
            status: self.status,
            ball: [self.ball.x.round() as i32, self.ball.y.round() as i32],
            left: self.left.as_ref().map(PaddleView::from),
            right: self.right.as_ref().map(PaddleView::from),
            winner: self.winner,
        }
    }

    fn new_game(&mut self) {
        for paddle in [&mut self.left, &mut self.right].into_iter().flatten() {
            paddle.score = 0;
        }
        self.winner = None;
        self.wait_for_serve();
    }

    fn wait_for_serve(&mut self) {
        self.ball = Ball::centred();
        self.status = Status::Serving;
        self.countdown = SERVE_DELAY;
    }

    fn serve(&mut self) {
        let (vx, vy) = match self.serve_to {
            Side::Left => (-SERVE_SPEED, 2.5),
            Side::Right => (SERVE_SPEED, -2.5),
        };
        self.ball.vx = vx;
        self.ball.vy = if self.tick % 2 == 0 { vy } else { -vy };
        self.status = Status::Playing;
    }

    fn move_ball(&mut self) {
        let ball = &mut self.ball;
        ball.x += ball.vx;
        ball.y += ball.vy;
        if ball.y < BALL_R {
            ball.y = BALL_R;
            ball.vy = ball.vy.abs();
        } else if ball.y > HEIGHT - BALL_R {
            ball.y = HEIGHT - BALL_R;
            ball.vy = -ball.vy.abs();
        }

        // A paddle returns the ball that reached its face within its height, unless the
        // ball was already behind it a tick ago; where it hits sets the angle (the edges
        // send it off steeply).
        let left_face = PADDLE_X + PADDLE_W;
        let right_face = WIDTH - PADDLE_X - PADDLE_W;
        if ball.vx < 0.0 && ball.x - BALL_R <= left_face && ball.x - BALL_R >= PADDLE_X + ball.vx {
            if let Some(paddle) = self.left.as_ref().filter(|p| covers(p, ball.y)) {
                bounce(ball, paddle, 1.0);
                ball.x = left_face + BALL_R;
            }
        } else if ball.vx > 0.0
            && ball.x + BALL_R >= right_face
            && ball.x + BALL_R <= WIDTH - PADDLE_X + ball.vx
        {
            if let Some(paddle) = self.right.as_ref().filter(|p| covers(p, ball.y)) {
                bounce(ball, paddle, -1.0);
                ball.x = right_face - BALL_R;
            }
        }

        let scorer = if self.ball.x < -BALL_R {
            Side::Right
        } else if self.ball.x > WIDTH + BALL_R {
            Side::Left
        } else {
            return;
        };
        let (paddle, loser) = match scorer {
            Side::Left => (self.left.as_mut(), Side::Right),
            Side::Right => (self.right.as_mut(), Side::Left),
        };
        let Some(paddle) = paddle else { return };
        paddle.score += 1;
        self.serve_to = loser;
        if paddle.score >= POINTS_TO_WIN {
            self.winner = Some(scorer);
            self.ball = Ball::centred();
            self.status = Status::Over;
            self.countdown = GAME_OVER_DELAY;
        } else {
            self.wait_for_serve();
        }
    }
}

fn covers(paddle: &Paddle, y: f32) -> bool {
    y >= paddle.y - BALL_R && y <= paddle.y + PADDLE_H + BALL_R
}

/// Sends the ball back (`dir` 1: to the right), a little faster each time.
fn bounce(ball: &mut Ball, paddle: &Paddle, dir: f32) {
    let offset = ((ball.y - (paddle.y + PADDLE_H / 2.0)) / (PADDLE_H / 2.0)).clamp(-1.0, 1.0);
    let speed = (ball.vx.hypot(ball.vy) + 0.5).min(MAX_SPEED);
    let angle = offset * std::f32::consts::FRAC_PI_3;
    ball.vx = dir * speed * angle.cos();
    ball.vy = speed * angle.sin();
}
