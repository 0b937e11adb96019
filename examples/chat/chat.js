// The chat's UI, shared by the Socket.IO page (index.html) and the plain WebSocket page
// (plain.html). It logs in over HTTP, keeps the token, and renders what the server sends; the
// page supplies the transport:
//
//   chatPage(connect)
//   connect(token, on) -> { send(event, data), request(event, data) -> Promise<reply>, close() }
//   on.event(name, data)   every event the server sends
//   on.refused(reason)     the server refused the token (connect_error / ["$error", ...])
//   on.closed(reason)      the connection is gone
//
// Everything the server sends is shown with textContent, never as HTML.
function chatPage(connect) {
  const $ = (s) => document.querySelector(s);
  // The token lives in sessionStorage: one per tab, so two tabs can be two users; a reload
  // reconnects with it (the seed keeps it in localStorage the same way).
  const TOKEN = 'chat-token';
  let link = null;
  let me = null;
  let online = [];
  let rooms = [];

  function status(text) { $('#status').textContent = text || ''; }
  function show(text, cls) {
    const line = document.createElement('div');
    line.textContent = text;
    if (cls) line.className = cls;
    $('#log').append(line);
    $('#log').scrollTop = 1e9;
  }
  function loggedIn(yes) {
    $('#login').hidden = yes;
    $('#chat').hidden = !yes;
    if (yes) $('#say [name=text]').focus();
  }

  // The "to" list: everyone, each room joined, each other user online (the seed's select of
  // "all" or one user: group or private chat).
  function renderTargets() {
    const select = $('#say [name=to]');
    const previous = select.value;
    const options = [['all', 'everyone']]
      .concat(rooms.map((r) => ['#' + r, '#' + r]))
      .concat(online.filter((n) => n !== me).map((n) => ['@' + n, '@' + n + ' (private)']));
    select.replaceChildren(...options.map(([value, label]) => new Option(label, value)));
    if (options.some(([value]) => value === previous)) select.value = previous;
  }
  function renderOnline(names) {
    online = names;
    $('#online').replaceChildren(...names.map((n) => {
      const li = document.createElement('li');
      li.textContent = n === me ? `${n} (you)` : n;
      li.dataset.name = n;
      return li;
    }));
    renderTargets();
  }
  function renderRooms(list) {
    rooms = list;
    $('#rooms').replaceChildren(...list.map((room) => {
      const li = document.createElement('li');
      li.dataset.room = room;
      const leave = document.createElement('button');
      leave.textContent = 'leave';
      leave.onclick = async () => renderRooms((await link.request('leave', room)).rooms);
      li.append('#' + room, leave);
      return li;
    }));
    renderTargets();
  }

  const onEvent = {
    welcome({ name, online }) {
      me = name;
      $('#me').textContent = name;
      status('');
      loggedIn(true);
      renderRooms([]);
      renderOnline(online);
      show(`welcome, ${name}`, 'notice');
    },
    enter: (name) => show(`${name} entered the chat`, 'enter'),
    leave: (name) => show(`${name} left the chat`, 'leave'),
    online: renderOnline,
    chat: ({ from, text, room }) => show(room ? `[#${room}] ${from}: ${text}` : `${from}: ${text}`, room ? 'room' : ''),
    private: ({ from, text }) => show(`(private) ${from} → you: ${text}`, 'private'),
    joined: ({ room, name }) => show(`${name} joined #${room}`, 'notice'),
    left: ({ room, name }) => show(`${name} left #${room}`, 'notice'),
    notice: (text) => show(text, 'notice'),
  };

  function start(token) {
    link?.close();
    status('connecting…');
    link = connect(token, {
      event: (name, data) => onEvent[name]?.(data),
      refused(reason) {
        sessionStorage.removeItem(TOKEN);
        loggedIn(false);
        status(`refused: ${reason}`);
      },
      closed(reason) {
        loggedIn(false);
        show(`disconnected (${reason})`, 'notice');
      },
    });
  }

  $('#login').onsubmit = async (e) => {
    e.preventDefault();
    const res = await fetch('/login', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ name: $('#login [name=name]').value }),
    });
    const body = await res.json();
    if (!res.ok) return status(body.error);
    sessionStorage.setItem(TOKEN, body.token);
    start(body.token);
  };
  $('#say').onsubmit = async (e) => {
    e.preventDefault();
    const to = e.target.to.value;
    const text = e.target.text.value;
    if (!text.trim()) return;
    e.target.text.value = '';
    if (to.startsWith('@')) {
      const name = to.slice(1);
      const delivered = await link.request('whisper', { to: name, text });
      show(delivered ? `(private) you → ${name}: ${text}` : `${name} is not online`, 'private');
    } else if (to.startsWith('#')) {
      link.send('say', { text, room: to.slice(1) });
    } else {
      link.send('say', { text });
    }
  };
  $('#join').onsubmit = async (e) => {
    e.preventDefault();
    const reply = await link.request('join', e.target.room.value.trim());
    if (reply.error) return show(reply.error, 'notice');
    e.target.room.value = '';
    renderRooms(reply.rooms);
  };

  loggedIn(false);
  const saved = sessionStorage.getItem(TOKEN);
  if (saved) start(saved);
}
