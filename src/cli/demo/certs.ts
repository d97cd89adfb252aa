// The demo's certificates chapter (issue 5): cp-1's certificates checked the way
// `bosun certs check` shows them; two of them (apiserver, etcd-server) made to expire soon; the
// check flagging them; `bosun certs renew` re-issuing them and restarting kube-apiserver and etcd
// the kubeadm way; and what the servers present before and after, serial and expiry, to show that
// the new certificates are the ones being served. The demo sandbox is built with kubeadm's normal
// validity, so the near expiry is made by bosun itself and the narration says so. It only reads
// and renews cp-1's files and restarts cp-1's static pods, through the same code as the CLI.
import { BosunError } from '../../common/errors.ts';
import type { Output } from '../../common/ports.ts';
import {
  checkCertificates,
  checkServed,
  formatExpires,
  livePortsFromClients,
  makeRestartPhase,
  nodeKubeadmVersion,
  resolveCertPaths,
  type CertPaths,
  type LivePorts,
  type ServedRow,
} from '../../certs/index.ts';
import { checkFailure, printCheckRows, printEvents, renewAndReport } from '../commands/certs-output.ts';
import { formatTable } from '../output.ts';
import type { DemoChapter, DemoContext } from './context.ts';

const DAY = 86_400_000;
/** What kubeadm, and bosun certs check by default, call "expiring soon". */
const WARN_WITHIN = 30 * DAY;
/** The validity the two certificates are re-issued with, to make them expire soon. */
const SHORT_VALIDITY = 5 * DAY;
const YEAR = 365 * DAY;
/** The certificates the chapter renews, and the servers that present them. */
const RENEWED = ['apiserver', 'etcd-server'] as const;
const SERVERS: readonly ServedRow['component'][] = ['kube-apiserver', 'etcd-client'];

/** Output that keeps lines (for a step whose own output the chapter summarises). */
function quiet(): Output & { lines: string[] } {
  const lines: string[] = [];
  return { out: (l) => lines.push(l), err: (l) => lines.push(l), isTTY: false, lines };
}

/** What this node's kube-apiserver and etcd present now. */
async function served(
  d: DemoContext,
  ports: LivePorts,
  paths: CertPaths,
  node: string,
): Promise<Map<ServedRow['component'], ServedRow>> {
  const { rows } = await checkServed(
    { paths, localNode: node, onlyNode: node, now: d.cli.clock.now(), warnWithinMs: WARN_WITHIN },
    ports,
  );
  const out = new Map<ServedRow['component'], ServedRow>();
  for (const r of rows) if (r.node === node && SERVERS.includes(r.component)) out.set(r.component, r);
  for (const c of SERVERS) {
    const r = out.get(c);
    if (!r?.facts) {
      throw new BosunError(
        `${c} on ${node} did not answer a TLS handshake: ${r?.error ?? 'no such server'}`,
        'TLS',
      );
    }
  }
  return out;
}

/** The certificates chapter of `bosun demo`. */
export const certsChapter: DemoChapter = {
  title: 'Certificates: checked, renewed, and the renewed ones served',
  async run(d) {
    const cp = d.sandbox.nodes.find((n) => n.role === 'control-plane');
    if (!cp) throw new BosunError('the sandbox has no control plane', 'INTERNAL');
    const node = cp.name;
    const root = d.sandbox.layout.host(node).root;
    const paths = resolveCertPaths({ root }, d.cli.cwd);
    const clock = d.cli.clock;
    const ports = (): LivePorts => livePortsFromClients(d.kube);
    const restart = (out: Pick<Output, 'out' | 'err'>) =>
      makeRestartPhase({
        ports,
        clock,
        onEvent: printEvents(out),
        timeoutMs: 120_000,
        node,
        signal: d.cli.signal,
      });

    d.say(`kubeadm's certificates expire after a year, and an expired one takes the cluster down. What`);
    d.say(
      `\`bosun certs check --root ${root}\` sees on ${node}: what kubeadm checks, plus the kubelet's own:`,
    );
    // The files cp-1's kubeadm release writes (its manifests' images say which).
    const kubernetesVersion = (await nodeKubeadmVersion(paths))?.version;
    const first = await checkCertificates(paths, clock.now(), WARN_WITHIN, { kubernetesVersion });
    await printCheckRows(first, clock.now(), { output: 'table' }, { out: d.show });

    d.say('');
    d.say(
      `This sandbox was built moments ago, so nothing is near expiry. To have something to renew, the demo`,
    );
    d.say(
      `first re-issues ${RENEWED.join(' and ')} on ${node} with a ${SHORT_VALIDITY / DAY}-day validity, as if a year had passed`,
    );
    d.say(
      `(bosun certs renew ${RENEWED.join(' ')} --validity ${SHORT_VALIDITY / DAY}d), and restarts kube-apiserver and etcd to serve them.`,
    );
    const setupOut = quiet();
    await renewAndReport(
      { names: RENEWED, root, validityMs: SHORT_VALIDITY, restart: true, cwd: d.cli.cwd },
      { clock, out: setupOut, restart: restart(setupOut) },
    );

    const soon = await checkCertificates(paths, clock.now(), WARN_WITHIN, { kubernetesVersion });
    d.say('');
    d.say('bosun certs check now flags them, with an exit code of its own for cron and monitoring:');
    const flagged = soon.filter((r) => r.status === 'expiring' || r.status === 'expired');
    await printCheckRows(
      [...flagged, ...soon.filter((r) => r.group === 'ca')],
      clock.now(),
      { output: 'table' },
      { out: d.show },
    );
    const flaggedBy = checkFailure(soon, WARN_WITHIN);
    if (flaggedBy?.exitCode !== 3)
      throw (
        flaggedBy ?? new BosunError(`bosun certs check did not flag ${RENEWED.join(' and ')}`, 'INTERNAL')
      );
    d.show(`exit code 3: ${flaggedBy.message}`);

    const before = await served(d, ports(), paths, node);
    d.say('');
    d.say(
      `bosun certs renew ${RENEWED.join(' ')} on ${node}: new keys, the same subjects, SANs and usages, signed by the`,
    );
    d.say(
      'cluster CAs, the old files kept aside; then the kubeadm-style restart, etcd last and only while its quorum holds:',
    );
    await renewAndReport(
      { names: RENEWED, root, validityMs: YEAR, restart: true, cwd: d.cli.cwd },
      {
        clock,
        out: { out: d.show, err: d.say },
        restart: restart({ out: d.show, err: d.say }),
      },
    );
    const after = await served(d, ports(), paths, node);

    d.say('');
    d.say(`What ${node}'s servers present in a TLS handshake, before and after:`);
    const rows: string[][] = [];
    for (const c of SERVERS) {
      const b = before.get(c);
      const a = after.get(c);
      if (!b?.facts || !a?.facts) continue;
      if (a.facts.sha256 === b.facts.sha256) {
        throw new BosunError(
          `${c} on ${node} still serves the certificate it served before the renewal`,
          'TLS',
        );
      }
      rows.push([
        c,
        a.endpoint,
        b.facts.serialNumber,
        formatExpires(b.facts.notAfter),
        a.facts.serialNumber,
        formatExpires(a.facts.notAfter),
      ]);
    }
    for (const l of formatTable(
      ['SERVER', 'ENDPOINT', 'SERIAL BEFORE', 'EXPIRES BEFORE', 'SERIAL AFTER', 'EXPIRES AFTER'],
      rows,
    ))
      d.show(l);
    const others = d.sandbox.nodes
      .filter((n) => n.role === 'control-plane' && n.name !== node)
      .map((n) => n.name);
    if (others.length > 0)
      d.say(
        `${others.join(' and ')} are renewed the same way, each on its own node, once ${node} is healthy.`,
      );
  },
};
