// Loopback ports for the servers bosun starts (sandbox, test etcd): always 127.0.0.1, always free.
import net from 'node:net';

/** Asks the kernel for a free TCP port on 127.0.0.1 (bind to 0, read the port, close). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.unref();
    srv.on('error', reject);
    srv.listen({ host: '127.0.0.1', port: 0, exclusive: true }, () => {
      const addr = srv.address();
      const port = typeof addr === 'object' && addr !== null ? addr.port : 0;
      srv.close(() => resolve(port));
    });
  });
}

/** Several distinct free ports at once (held open together so they cannot repeat). */
export async function freePorts(n: number): Promise<number[]> {
  const servers: net.Server[] = [];
  try {
    const ports: number[] = [];
    for (let i = 0; i < n; i++) {
      const srv = net.createServer();
      servers.push(srv);
      const port = await new Promise<number>((resolve, reject) => {
        srv.on('error', reject);
        srv.listen({ host: '127.0.0.1', port: 0, exclusive: true }, () => {
          const addr = srv.address();
          resolve(typeof addr === 'object' && addr !== null ? addr.port : 0);
        });
      });
      ports.push(port);
    }
    return ports;
  } finally {
    await Promise.all(servers.map((s) => new Promise<void>((r) => s.close(() => r()))));
  }
}
