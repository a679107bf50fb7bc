'use strict';
/**
 * The write traffic of the mixed scenario (issue 9), sent from the runner during a timed
 * run: 50 POST /events per second (an invalidation that matches nothing read) and 5
 * PUT /items/<one of the 100 read keys> per second. Resolves counts when stopped.
 */

const http = require('node:http');

const UNRELATED_PER_S = 50;
const RELATED_PER_S = 5;
const KEYS = 100;

function startWriter(port) {
  const agent = new http.Agent({ keepAlive: true, maxSockets: 4 });
  const counts = { unrelated: 0, related: 0, ok: 0, failed: 0 };
  let pending = 0;
  const send = (method, path) => {
    pending++;
    const req = http.request({ host: '127.0.0.1', port, method, path, agent, headers: { 'content-length': 0 } }, (res) => {
      res.resume();
      res.on('end', () => {
        pending--;
        if (res.statusCode === 204) counts.ok++;
        else counts.failed++;
      });
    });
    req.on('error', () => {
      pending--;
      counts.failed++;
    });
    req.end();
  };
  let n = 0;
  const post = setInterval(() => {
    counts.unrelated++;
    send('POST', '/events');
  }, 1000 / UNRELATED_PER_S);
  const put = setInterval(() => {
    counts.related++;
    send('PUT', `/items/${(n++ * 37) % KEYS}`);
  }, 1000 / RELATED_PER_S);
  return async function stop() {
    clearInterval(post);
    clearInterval(put);
    for (let i = 0; i < 100 && pending > 0; i++) await new Promise((r) => setTimeout(r, 20));
    agent.destroy();
    return counts;
  };
}

module.exports = { startWriter, KEYS };
