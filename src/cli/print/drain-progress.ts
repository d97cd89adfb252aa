// bosun drain's and bosun maintain's progress: turns the drain feature's events into what a person
// sees (the feature reports events and never prints). Results go to stdout in kubectl's words
// ("node/worker-1 cordoned", "evicting pod demo/web-1", "pod/web-1 evicted", "node/worker-1
// drained", with " (dry run)" or " (server dry run)"); progress, warnings ("Warning: ...", as
// kubectl spells them) and blocked evictions go to stderr. On a terminal the
// counts and the blocked pods are one live block, redrawn in place; otherwise plain lines, each
// printed once. With -o json or -o yaml nothing but the final document goes to stdout.
import type { Output } from '../../common/ports.ts';
import {
  podKey,
  refusalLine,
  warningText,
  type DrainCounts,
  type DrainEvent,
  type DrainObserver,
  type DryRun,
  type MaintainEvent,
  type WorkloadCount,
} from '../../drain/index.ts';

/** How to report. */
export interface ReporterOptions {
  /** 'text': kubectl-style result lines on stdout; 'document': stdout is left for the final JSON or YAML document. */
  format: 'text' | 'document';
  /** Redraw a live block on stderr (a terminal with raw writes). */
  live: boolean;
}

/** kubectl's printer suffix for dry runs. */
export function dryRunSuffix(d: DryRun): string {
  return d === 'client' ? ' (dry run)' : d === 'server' ? ' (server dry run)' : '';
}

function countsLine(node: string, c: DrainCounts): string {
  return `${node}: ${c.removed}/${c.total} gone, ${c.terminating} terminating, ${c.blocked} blocked, ${c.waiting} waiting`;
}

/** A reporter for drain (and maintain) events. */
/** "waiting for Deployment ns/x 1/2 Ready, ..." of a restore wait. */
export function restoreWaiting(waiting: readonly WorkloadCount[]): string {
  return `waiting for ${waiting.map((w) => `${w.workload.kind} ${w.workload.namespace}/${w.workload.name} ${w.ready}/${w.want} Ready`).join(', ')}`;
}

export class Reporter {
  private block: string[] = [];
  private drawn = 0;

  constructor(
    private readonly out: Output,
    private readonly opts: ReporterOptions,
  ) {}

  private get live(): boolean {
    return this.opts.live && this.out.errRaw !== undefined;
  }

  private erase(): void {
    if (this.drawn > 0 && this.out.errRaw) this.out.errRaw(`\x1b[${this.drawn}A\x1b[J`);
    this.drawn = 0;
  }

  private draw(): void {
    for (const l of this.block) this.out.err(l);
    this.drawn = this.block.length;
  }

  /** A result line (stdout), kept above the live block. */
  result(line: string): void {
    if (this.opts.format === 'document') return;
    if (this.live) this.erase();
    this.out.out(line);
    if (this.live) this.draw();
  }

  /** A progress or warning line (stderr), kept above the live block. */
  note(line: string): void {
    if (this.live) this.erase();
    this.out.err(line);
    if (this.live) this.draw();
  }

  private setBlock(lines: string[]): void {
    if (!this.live) return;
    this.erase();
    this.block = lines;
    this.draw();
  }

  /** Leaves the last block on screen and starts a new one below it. */
  settle(): void {
    this.block = [];
    this.drawn = 0;
  }

  /** Handles one drain event. */
  readonly drain: DrainObserver = (e: DrainEvent): void => {
    switch (e.type) {
      case 'planned': {
        for (const g of e.refusals) this.note(refusalLine(g));
        for (const b of e.preflight.blockers) {
          this.note(`pre-flight: ${podKey(b.pod)}: ${b.blocker.message}`);
          this.note(`  ${b.blocker.hint}`);
        }
        for (const b of e.preflight.ignored)
          this.note(`pre-flight (ignored): ${podKey(b.pod)}: ${b.blocker.message}`);
        for (const x of e.preflight.skipped)
          this.note(`pre-flight: skipped ${x.checks.join(', ')}: ${x.reason}`);
        return;
      }
      case 'cordon': {
        this.result(
          `node/${e.node} ${e.action === 'cordoned' ? 'cordoned' : 'already cordoned'}${dryRunSuffix(e.dryRun)}`,
        );
        if (e.resumed)
          this.note(
            `resuming the drain of node/${e.node} (cordoned by ${e.by ?? 'bosun'}${e.at ? ` at ${e.at}` : ''}${e.reason ? `: ${e.reason}` : ''})`,
          );
        else if (e.action === 'already-cordoned' && !e.ownedByBosun)
          this.note(`note: node/${e.node} was cordoned outside bosun; bosun will not uncordon it`);
        return;
      }
      case 'warnings':
        this.note(`Warning: ${warningText(e.groups)}`);
        return;
      case 'evicting': {
        // kubectl prints "evicting pod NS/NAME" on stdout (pkg/drain evictPods); with -o json or
        // yaml stdout is the document's, so the line is progress on stderr there.
        const line = `${e.via === 'delete' ? 'deleting' : 'evicting'} pod ${podKey(e.pod)}${dryRunSuffix(e.dryRun)}`;
        if (this.opts.format === 'text') this.result(line);
        else this.note(line);
        return;
      }
      case 'blocked':
        if (!this.live)
          this.note(
            `blocked: ${podKey(e.pod)}: ${e.blocked.message}${e.retryInMs !== undefined ? ` (will retry after ${Math.round(e.retryInMs / 100) / 10}s)` : ''}`,
          );
        return;
      case 'escalated':
        this.note(
          e.action === 'delete'
            ? `escalation: deleting pod ${podKey(e.pod)} (rule "${e.rule.text}")`
            : `escalation: giving up on node/${e.node} because of ${podKey(e.pod)} (rule "${e.rule.text}")`,
        );
        return;
      case 'removed':
        this.result(`pod/${e.pod.name} ${e.via === 'delete' ? 'deleted' : 'evicted'}`);
        return;
      case 'skipped-wait':
        this.note(`pod "${e.pod.name}" has DeletionTimestamp older than ${e.seconds} seconds, skipping`);
        return;
      case 'progress':
        this.setBlock([
          countsLine(e.node, e.counts),
          ...e.blocked.slice(0, 8).map((b) => `  ${podKey(b.pod)}: ${b.message}`),
          ...(e.blocked.length > 8 ? [`  ... and ${e.blocked.length - 8} more blocked`] : []),
        ]);
        return;
      case 'polling':
        this.note(
          e.what === 'pods'
            ? `Warning: ${e.reason}; polling the node's pods every second instead, as kubectl does`
            : `Warning: ${e.reason}; polling node/${e.node} every second instead`,
        );
        return;
      case 'completing':
        this.note(
          `pod ${podKey(e.pod)}: its eviction was approved at ${e.since} (PodDisruptionBudget ${e.budget} counts it in status.disruptedPods) but the pod was never deleted; deleting it to complete the eviction`,
        );
        return;
      case 'uncordoned':
        // Stopping is the drain's error, printed once by the command.
        if (e.action === 'recordoned')
          this.note(
            `Warning: node/${e.node} was uncordoned ${e.by} during the drain; cordoning it again (--recordon)`,
          );
        return;
      case 'retrying-watch':
        this.note(`Warning: watching the pods of node/${e.node} failed, retrying: ${e.error}`);
        return;
      case 'drained':
        this.settle();
        this.result(`node/${e.node} drained${dryRunSuffix(e.dryRun)}`);
        return;
    }
  };

  /** Handles one maintain event. */
  readonly maintain = (e: MaintainEvent): void => {
    switch (e.type) {
      case 'phase':
        this.settle();
        if (e.phase === 'drain')
          this.note(`maintain node/${e.node}: ${e.resumed ? 'resuming; ' : ''}cordon and drain`);
        else if (e.phase === 'command')
          this.note(
            `maintain node/${e.node}: ${e.detail === 'already done' ? 'the command already ran' : `running ${e.detail ?? ''}`}`,
          );
        else if (e.phase === 'health')
          this.note(`maintain node/${e.node}: ${e.detail ?? 'waiting until the node is healthy'}`);
        else if (e.phase === 'uncordon') this.note(`maintain node/${e.node}: healthy; uncordoning`);
        else if (e.phase === 'restore')
          this.note(`maintain node/${e.node}: waiting until the evicted workloads are Ready again`);
        else this.result(`node/${e.node} maintained`);
        if (e.phase === 'uncordon') this.result(`node/${e.node} uncordoned`);
        return;
      case 'command-output':
        this.note(`  | ${e.text}`);
        return;
      case 'health':
        if (e.verdict.healthy) this.note(`node/${e.node} is healthy`);
        else if (this.live)
          this.setBlock([`node/${e.node} not healthy yet:`, ...e.verdict.problems.map((p) => `  - ${p}`)]);
        else this.note(`node/${e.node} not healthy yet: ${e.verdict.problems.join('; ')}`);
        return;
      case 'api-down':
        this.note(`maintain node/${e.node}: waiting for the API server: ${e.message}`);
        return;
      case 'waiting-for-command':
        this.note(
          `maintain node/${e.node}: the command an earlier run started (pid ${e.process.pid} on ${e.process.host} at ${e.process.at}) still runs; waiting for it to end (Ctrl-C stops waiting; the node stays cordoned)`,
        );
        return;
      case 'restore':
        if (e.waiting.length === 0) this.note('evicted workloads are Ready again');
        else {
          const line = restoreWaiting(e.waiting);
          if (this.live) this.setBlock([line]);
          else this.note(line);
        }
        return;
    }
  };
}
