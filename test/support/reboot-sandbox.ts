// The sandbox the reboot agent's tests share the shape of: one control plane, N workers, Deployments
// guarded by PodDisruptionBudgets spread over the workers, and a node-monitor grace period raised
// above the fast profile's 1.5 s, so that a busy machine (twenty agents on two cores) never has a
// node marked NotReady that is not down, which the rollout's invariant would count as out of service.
import assert from 'node:assert/strict';
import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { REBOOT_STATE } from '../../src/kube/annotations.ts';
import { parseRecord } from '../../src/reboot/states.ts';
import { AGENT_CHART } from '../../src/sandbox/index.ts';
import { settle } from './maintain.ts';
import type { NodeSample, RolloutWatcher } from './rollout-watcher.ts';
import { startTestSandbox, type TestSandbox } from './sandbox.ts';

/**
 * The agent's timings for a sandbox whose reboot takes 2.5 s, as flags of an agent the test runs
 * itself: the values `bosun sandbox up --agent` installs the chart with (AGENT_CHART), so that both
 * ways of running the agents run it alike.
 */
export const FAST_FLAGS: Readonly<Record<string, string>> = {
  ...Object.fromEntries(
    AGENT_CHART.values.map((v) => [v.slice(0, v.indexOf('=')), v.slice(v.indexOf('=') + 1)]),
  ),
  logLevel: 'info',
};

/** A Deployment and its PodDisruptionBudget. */
export interface GuardedApp {
  name: string;
  replicas: number;
  /** The PDB's maxUnavailable. */
  maxUnavailable: number;
}

/** Creates a Deployment of pause pods (app=NAME) with a PDB, in the default namespace. */
export async function createGuardedApp(t: TestSandbox, a: GuardedApp): Promise<void> {
  const objs = [
    {
      apiVersion: 'apps/v1',
      kind: 'Deployment',
      metadata: { name: a.name, namespace: 'default' },
      spec: {
        replicas: a.replicas,
        selector: { matchLabels: { app: a.name } },
        template: {
          metadata: { labels: { app: a.name } },
          spec: { containers: [{ name: 'c', image: 'registry.k8s.io/pause:3.10' }] },
        },
      },
    },
    {
      apiVersion: 'policy/v1',
      kind: 'PodDisruptionBudget',
      metadata: { name: a.name, namespace: 'default' },
      spec: { maxUnavailable: a.maxUnavailable, selector: { matchLabels: { app: a.name } } },
    },
  ];
  for (const o of objs) {
    const r = await t.kubectl(['create', '--validate=false', '-f', '-'], { input: JSON.stringify(o) });
    assert.equal(r.code, 0, r.stderr);
  }
}

/** Starts the sandbox with these apps, all Ready. */
export async function startRebootSandbox(o: {
  workers: number;
  apps: readonly GuardedApp[];
}): Promise<TestSandbox> {
  const t = await startTestSandbox({
    controlPlanes: 1,
    workers: o.workers,
    workload: 'none',
    timing: { nodeMonitorGraceMs: 6_000 },
  });
  try {
    for (const a of o.apps) await createGuardedApp(t, a);
    await settle(t);
  } catch (e) {
    await t.stop();
    throw e;
  }
  return t;
}

/** The reboot sentinel of a sandbox node, as its host has it. */
export function sentinelOf(t: TestSandbox, node: string): string {
  return join(t.dir, 'nodes', node, 'host', 'var', 'run', 'reboot-required');
}

/** Flags the nodes as an OS upgrade does: touch DIR/nodes/NAME/host/var/run/reboot-required. */
export function flag(t: TestSandbox, nodes: readonly string[]): void {
  for (const n of nodes) writeFileSync(sentinelOf(t, n), '');
}

/** Whether the node's sentinel is gone. */
export function unflagged(t: TestSandbox, node: string): boolean {
  return !existsSync(sentinelOf(t, node));
}

/** The agent's state in a sample ('idle' without a record). */
export function stateOf(s: NodeSample | undefined): string {
  return parseRecord(s?.annotations[REBOOT_STATE])?.state ?? 'idle';
}

/** A sample whose record says the node is down for its reboot or not yet healthy after it. */
export function rebooting(s: NodeSample): boolean {
  const st = stateOf(s);
  return st === 'rebooting' || st === 'health-gate';
}

/**
 * Resolves once every node has rebooted once more than `before` shows (a new boot ID) and its agent
 * is idle again, uncordoned and Ready.
 */
export function allRebooted(
  w: RolloutWatcher,
  before: ReadonlyMap<string, string>,
  nodes: readonly string[],
  timeoutMs: number,
): Promise<void> {
  return w.until(
    `${nodes.length} nodes rebooted and idle`,
    () => {
      const l = w.latest();
      return nodes.every((n) => {
        const s = l.get(n);
        return (
          s !== undefined &&
          s.bootId !== before.get(n) &&
          stateOf(s) === 'idle' &&
          !s.unschedulable &&
          s.ready
        );
      });
    },
    timeoutMs,
  );
}
