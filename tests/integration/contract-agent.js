// contract-agent.js: loaded into the contract's Prism proxy (node -r; see
// placesd_test.py, "the contract"): a new connection to the daemon for
// every request it forwards, as the tests' own requests have, instead of
// node's keep-alive pool, which would pin every request to one worker and
// hold a connection open through the daemon's drains and stops. The
// proxy closes each connection itself once the answer is read (rather
// than asking the daemon to, with Connection: close), so that the
// TIME_WAIT is on its side and the daemon's port is free once it stops.
'use strict';
const http = require('http');
const agent = new http.Agent({ keepAlive: true });

agent.on('free', (socket) => socket.destroy());
http.globalAgent = agent;
