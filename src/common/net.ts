// Loopback ports for the servers bosun starts (sandbox, test etcd): always 127.0.0.1, always free.
//
// Ports come from below the kernel's ephemeral range: a port handed out by listen(0) and closed
// again can be taken by any outgoing connection's local end before the server that wanted it
// binds it (etcd starts later, in another process), and a busy machine makes thousands of those.
import { readFileSync } from 'node:fs';
import net from 'node:net';

/** The lowest ephemeral port (Linux: /proc/sys/net/ipv4/ip_local_port_range; 32768 elsewhere). */
function ephemeralStart(): number {
  try {
    const [lo] = readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').trim().split(/\s+/);
    const n = Number(lo);
    return Number.isInteger(n) && n > 11_000 ? n : 32768;
  } catch {
    return 32768;
  }
}

const RANGE_LOW = 10_000;

function tryListen(port: number): Promise<net.Server | undefined> {
  return new Promise((resolve) => {
    const srv = net.createServer();
    srv.unref();
    srv.once('error', () => resolve(undefined));
    srv.listen({ host: '127.0.0.1', port, exclusive: true }, () => resolve(srv));
  });
}

/**
 * Several distinct free ports on 127.0.0.1, held open together while they are chosen (so they
 * cannot repeat), picked at random below the ephemeral range.
 */
export async function freePorts(n: number): Promise<number[]> {
  const high = ephemeralStart() - 1;
  const servers: net.Server[] = [];
  const ports: number[] = [];
  try {
    for (let attempts = 0; ports.length < n; attempts++) {
      if (attempts > n * 50) throw new Error(`no free ports on 127.0.0.1 between ${RANGE_LOW} and ${high}`);
      const port = RANGE_LOW + Math.floor(Math.random() * (high - RANGE_LOW + 1));
      if (ports.includes(port)) continue;
      const srv = await tryListen(port);
      if (!srv) continue;
      servers.push(srv);
      ports.push(port);
    }
    return ports;
  } finally {
    await Promise.all(servers.map((s) => new Promise<void>((r) => s.close(() => r()))));
  }
}

/** One free port on 127.0.0.1 (see freePorts). */
export async function freePort(): Promise<number> {
  const [p] = await freePorts(1);
  return p as number;
}
