/**
 * Browser stand-in for `autocore-ipc/node`. The Node entry needs `node:net` (TCP, the embedded
 * server); a browser bundle gets this module instead, which fails with a clear message.
 */
throw new Error(
  "autocore-ipc/node is for Node.js only (TCP transport, IpcServer). In a browser import from " +
    "'autocore-ipc' and connect over WebSocket through the bridge.",
);
