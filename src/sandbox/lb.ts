// The control-plane endpoint of an HA sandbox: a TCP load balancer on 127.0.0.1 in front of the
// kube-apiservers (what haproxy or kube-vip is for a kubeadm HA cluster). It passes TLS through
// untouched and sends new connections only to apiservers whose /readyz answers ok.
import https from 'node:https';
import net from 'node:net';

/** A TCP pass-through balancer with /readyz health checks. */
export class ApiLoadBalancer {
  private server: net.Server | undefined;
  private healthy: number[] = [];
  private timer: NodeJS.Timeout | undefined;
  private next = 0;
  private readonly sockets = new Set<net.Socket>();

  constructor(
    private readonly port: number,
    private readonly backends: () => number[],
    private readonly checkMs: number,
  ) {}

  /** Starts listening and health checking. */
  async start(): Promise<void> {
    await this.check();
    const server = net.createServer((client) => this.route(client));
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen({ host: '127.0.0.1', port: this.port, exclusive: true }, () => resolve());
    });
    this.server = server;
    const loop = (): void => {
      this.timer = setTimeout(() => void this.check().finally(() => this.server && loop()), this.checkMs);
    };
    loop();
  }

  private route(client: net.Socket): void {
    this.sockets.add(client);
    client.on('close', () => this.sockets.delete(client));
    const pool = this.healthy.length > 0 ? this.healthy : this.backends();
    if (pool.length === 0) {
      client.destroy();
      return;
    }
    const port = pool[this.next++ % pool.length] as number;
    const upstream = net.connect({ host: '127.0.0.1', port });
    this.sockets.add(upstream);
    upstream.on('close', () => this.sockets.delete(upstream));
    client.pipe(upstream).pipe(client);
    const end = (): void => {
      client.destroy();
      upstream.destroy();
    };
    client.on('error', end);
    upstream.on('error', end);
  }

  private async check(): Promise<void> {
    const ports = this.backends();
    const results = await Promise.all(ports.map((p) => readyz(p)));
    this.healthy = ports.filter((_, i) => results[i]);
  }

  /** Stops listening and closes every proxied connection. */
  async stop(): Promise<void> {
    if (this.timer) clearTimeout(this.timer);
    const s = this.server;
    this.server = undefined;
    for (const sock of this.sockets) sock.destroy();
    if (s) await new Promise<void>((r) => s.close(() => r()));
  }
}

function readyz(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const req = https.get(
      { host: '127.0.0.1', port, path: '/readyz', rejectUnauthorized: false, timeout: 1000, agent: false },
      (res) => {
        res.resume();
        resolve(res.statusCode === 200);
      },
    );
    req.on('timeout', () => req.destroy());
    req.on('error', () => resolve(false));
  });
}
