// A bare API for controller tests: a plain-http etcd on free loopback ports, the sandbox's ApiCore
// over it, and the shared informers (not started). stop() ends everything, pass or fail.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePorts } from '../../src/common/net.ts';
import { systemClock } from '../../src/common/real.ts';
import { etcdArgs, startEtcd } from '../../src/etcd/member.ts';
import { ApiCore } from '../../src/sandbox/apiserver/api.ts';
import { resource } from '../../src/sandbox/apiserver/resources.ts';
import { EtcdStore } from '../../src/sandbox/apiserver/store.ts';
import type { ControllerContext, Informers } from '../../src/sandbox/controllers/context.ts';
import { createInformers, startInformers, stopInformers } from '../../src/sandbox/controllers/informer.ts';
import { EventRecorder } from '../../src/sandbox/controllers/recorder.ts';
import { TIMINGS, type Timing } from '../../src/sandbox/timing.ts';

export interface ApiHarness {
  api: ApiCore;
  store: EtcdStore;
  informers: Informers;
  ctx: ControllerContext;
  logs: string[];
  /** Starts the informers and waits for their first lists. */
  startInformers(): Promise<void>;
  stop(): Promise<void>;
}

/** Starts etcd and an ApiCore with namespaces default and kube-system. */
export async function startApiHarness(
  opts: { timing?: Partial<Timing>; namespaces?: string[] } = {},
): Promise<ApiHarness> {
  const dir = mkdtempSync(join(tmpdir(), 'bosun-api-'));
  const [clientPort, peerPort] = await freePorts(2);
  const etcd = await startEtcd({
    args: etcdArgs({ name: 'h', dataDir: join(dir, 'data'), clientPort: clientPort!, peerPort: peerPort! }),
    clientUrl: `http://127.0.0.1:${clientPort}`,
    logFile: join(dir, 'etcd.log'),
  });
  const store = new EtcdStore({ endpoints: [`http://127.0.0.1:${clientPort}`] });
  const api = new ApiCore({ store, clock: systemClock });
  const logs: string[] = [];
  const log = (l: string): void => void logs.push(l);
  const timing = { ...TIMINGS.fast, ...(opts.timing ?? {}) };
  const informers = createInformers(api, timing.retryMs, log);
  for (const ns of opts.namespaces ?? ['default', 'kube-system', 'kube-node-lease']) {
    await api.create(resource('namespaces'), undefined, { metadata: { name: ns } });
    // What kube-controller-manager's serviceaccount controller adds (pods need it to be admitted).
    await api.create(resource('serviceaccounts'), ns, { metadata: { name: 'default' } });
  }
  const ctx: ControllerContext = {
    api,
    informers,
    clock: systemClock,
    timing,
    recorder: (component, host) =>
      new EventRecorder(api, systemClock, host ? { component, host } : { component }, log),
    log,
  };
  return {
    api,
    store,
    informers,
    ctx,
    logs,
    startInformers: () => startInformers(informers),
    async stop() {
      stopInformers(informers);
      store.close();
      await etcd.stop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
