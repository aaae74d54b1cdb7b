// contract-agent.js: loaded into the contract's Prism proxy (node -r; see
// placesd_test.py, "the contract"), which one test file shares among its
// daemons.
//
// Where to: a request the proxy forwards goes to the daemon that its
// header X-Placesd-Upstream names ("127.0.0.1:PORT", "[::1]:PORT"), not to
// the upstream given on the command line; the header is dropped on the
// way. One proxy, which takes seconds to start, so serves every daemon
// of a test file.
//
// How: a new connection to the daemon for every request, as the tests'
// own requests have, instead of node's keep-alive pool, which would pin
// every request to one worker and hold a connection open through the
// daemon's drains and stops. The proxy closes each connection itself once
// the answer is read (rather than asking the daemon to, with Connection:
// close), so that the TIME_WAIT is on its side and the daemon's port is
// free once it stops.
'use strict';
const http = require('http');
const agent = new http.Agent({ keepAlive: true });
const request = http.request;
const HEADER = 'x-placesd-upstream';

agent.on('free', (socket) => socket.destroy());
http.globalAgent = agent;

function upstream(headers) {
	const key = Object.keys(headers || {}).find((k) =>
	    k.toLowerCase() === HEADER);
	if (key === undefined)
		return null;
	const v = String([].concat(headers[key])[0]);
	delete headers[key];
	const m = /^\[?([^\]]+?)\]?:([0-9]{1,5})$/.exec(v);
	return m ? { hostname: m[1], port: Number(m[2]) } : null;
}

http.request = function (options, ...rest) {
	if (options !== null && typeof options === 'object' &&
	    !(options instanceof URL)) {
		const to = upstream(options.headers);
		if (to !== null) {
			options = Object.assign({}, options, to);
			delete options.host;
		}
	}
	return request.call(this, options, ...rest);
};
