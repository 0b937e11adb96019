// The benchmark contract served by the reference Node socket.io 4.8 server.
// Defaults (pings 25 s / 20 s, polling and WebSocket, no per-message-deflate), on
// 127.0.0.1:$PORT (default 3000), namespace "/":
//   join(room)          -> joins room, acks true
//   echo(...args)       -> acks with the same args
//   fanout({room, ...}) -> emits "tick" with the same object to the room, acks true
// With REDIS_URL set (the cluster scenario) the server is a node of a cluster on that
// Redis: @socket.io/redis-adapter 8.3 on two `redis` 4.7 clients (publisher, subscriber),
// its defaults except the channel prefix, REDIS_KEY (default "socket.io"); it listens once
// both clients are connected.
// With CONNECTION_STATE_RECOVERY=1 (the jitter scenario) connection state recovery is on:
// connectionStateRecovery { maxDisconnectionDuration: 120000, skipMiddlewares: true }.
"use strict";
const http = require("http");
const { Server } = require("socket.io");

const port = Number(process.env.PORT || 3000);
const httpServer = http.createServer();
const options = { perMessageDeflate: false, serveClient: false };
if (process.env.CONNECTION_STATE_RECOVERY === "1") {
  options.connectionStateRecovery = { maxDisconnectionDuration: 120000, skipMiddlewares: true };
}
const io = new Server(httpServer, options);

io.on("connection", (socket) => {
  socket.on("join", (room, ack) => {
    socket.join(room);
    if (typeof ack === "function") ack(true);
  });
  socket.on("echo", (...args) => {
    const ack = typeof args[args.length - 1] === "function" ? args.pop() : null;
    if (ack) ack(...args);
  });
  socket.on("fanout", (msg, ack) => {
    io.to(msg.room).emit("tick", msg);
    if (typeof ack === "function") ack(true);
  });
});

async function joinCluster(url) {
  const { createClient } = require("redis");
  const { createAdapter } = require("@socket.io/redis-adapter");
  const pubClient = createClient({ url });
  const subClient = pubClient.duplicate();
  let connected = false;
  for (const client of [pubClient, subClient]) {
    client.on("error", (err) => {
      console.error(`redis: ${err.message}`);
      if (!connected) process.exit(1);
    });
  }
  await Promise.all([pubClient.connect(), subClient.connect()]);
  connected = true;
  io.adapter(createAdapter(pubClient, subClient, { key: process.env.REDIS_KEY || "socket.io" }));
}

(async () => {
  if (process.env.REDIS_URL) await joinCluster(process.env.REDIS_URL);
  httpServer.listen(port, "127.0.0.1");
})().catch((err) => {
  console.error(err);
  process.exit(1);
});

const stop = () => { io.close(); process.exit(0); };
process.on("SIGTERM", stop);
process.on("SIGINT", stop);
