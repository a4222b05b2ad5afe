// Preloaded into Portkey's gateway by deploy/bench.sh (node --require): its server listens on
// every interface and has no option for that, so bind whatever it listens on to 127.0.0.1.
'use strict';
const net = require('net');
const listen = net.Server.prototype.listen;
net.Server.prototype.listen = function (...args) {
  if (typeof args[0] === 'number' || (typeof args[0] === 'string' && /^\d+$/.test(args[0]))) {
    if (args.length < 2 || args[1] === undefined || typeof args[1] === 'function') {
      args.splice(1, args[1] === undefined ? 1 : 0, '127.0.0.1');
    } else if (typeof args[1] === 'string') {
      args[1] = '127.0.0.1';
    }
  } else if (args[0] && typeof args[0] === 'object' && !args[0].path) {
    args[0] = { ...args[0], host: '127.0.0.1' };
  }
  return listen.apply(this, args);
};
