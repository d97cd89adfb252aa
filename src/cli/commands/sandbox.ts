// `bosun sandbox up|status|down|run|restore`: the embedded cluster every test, demo and first minute runs on.
import type { Command } from 'commander';
import { Option } from 'commander';
import type { CliContext } from '../context.ts';
import { NO_HEADERS_HELP, TABLE_FORMATS, outputHelp, parseOutputFormat, wholeNumberArg } from '../flags.ts';
import { formatDocument, formatTable, isDocumentFormat } from '../output.ts';

interface UpFlags {
  dir?: string;
  controlPlanes: number;
  workers: number;
  version: string;
  workload: 'demo' | 'none';
  timing: 'fast' | 'realistic';
  keyAlgorithm: 'ecdsa-p256' | 'rsa-2048';
}

function addUpFlags(cmd: Command): Command {
  return cmd
    .option('--dir <dir>', 'Directory that holds the sandbox (default: ~/.bosun/sandbox)')
    .option(
      '--control-planes <n>',
      'Number of control-plane nodes (cp-1..cp-N), each with etcd and kube-apiserver',
      wholeNumberArg('--control-planes'),
      3,
    )
    .option('--workers <n>', 'Number of worker nodes (worker-1..worker-M)', wholeNumberArg('--workers'), 5)
    .option('--version <version>', 'Kubernetes version of the nodes and control plane', 'v1.34.3')
    .addOption(
      new Option('--workload <workload>', 'Workload to deploy').choices(['demo', 'none']).default('demo'),
    )
    .addOption(
      new Option('--timing <profile>', 'How fast simulated pods start and stop, nodes reboot and heartbeat')
        .choices(['fast', 'realistic'])
        .default('fast'),
    )
    .addOption(
      new Option(
        '--key-algorithm <alg>',
        "Key type of the cluster's certificates (kubeadm's encryptionAlgorithm)",
      )
        .choices(['ecdsa-p256', 'rsa-2048'])
        .default('ecdsa-p256'),
    );
}

/** Registers `bosun sandbox`. */
export function registerSandboxCommands(program: Command, ctx: CliContext): void {
  const sandbox = program
    .command('sandbox')
    .description(
      'Run an embedded Kubernetes cluster on this machine (real etcd, simulated nodes) to try bosun on',
    )
    .addHelpText(
      'after',
      `
Examples:
  # Start a sandbox with 3 control planes and 5 workers running the demo workload
  bosun sandbox up

  # A small one for quick experiments, in a directory of your choice
  bosun sandbox up --dir /tmp/sb --control-planes 1 --workers 2

  # Use it with kubectl, then stop it
  export KUBECONFIG=/tmp/sb/admin.conf
  bosun sandbox down --dir /tmp/sb`,
    );

  const dirOf = async (dir: string | undefined): Promise<string> => {
    const { defaultSandboxDir, resolveDir } = await import('../../sandbox/index.ts');
    return dir ? resolveDir(dir, ctx.cwd) : defaultSandboxDir(ctx.home);
  };

  addUpFlags(
    sandbox
      .command('up')
      .option(
        '--agent',
        "Then install bosun's agent with its Helm chart, using the real helm as a user would (helm install bosun ... -n bosun-system --create-namespace --wait)",
      )
      .description(
        'Start a sandbox in the background; returns once every node is Ready and the workload runs',
      )
      .addHelpText(
        'after',
        `
Each node has a host directory DIR/nodes/NAME/host/ with what a kubeadm node holds (etc/kubernetes
with pki/, manifests/ and kubeconfigs; var/lib/kubelet/pki; var/run) and bin/ with kubeadm, apt-get,
apt-mark, dnf, systemctl and reboot shims that change the simulated node as the real commands would.

Examples:
  # Start the default sandbox and point kubectl at it
  eval "$(bosun sandbox up)"`,
      ),
  ).action(async (flags: UpFlags & { agent?: boolean }) => {
    const { sandboxUp } = await import('../../sandbox/index.ts');
    const dir = await dirOf(flags.dir);
    const t0 = ctx.clock.now().getTime();
    const r = await sandboxUp(
      {
        dir,
        controlPlanes: flags.controlPlanes,
        workers: flags.workers,
        version: flags.version,
        workload: flags.workload,
        timing: flags.timing,
        keyAlgorithm: flags.keyAlgorithm,
      },
      {
        exec: ctx.exec,
        clock: ctx.clock,
        self: ctx.self,
        progress: (l) => ctx.out.err(l),
        signal: ctx.signal,
      },
    );
    ctx.out.err(
      `sandbox ${r.reused ? 'restarted' : 'up'} in ${((ctx.clock.now().getTime() - t0) / 1000).toFixed(1)}s (stop it with: bosun sandbox down --dir ${dir})`,
    );
    if (flags.agent) {
      const { installAgentChart } = await import('../../sandbox/index.ts');
      const a = await installAgentChart(
        { dir, kubeconfig: r.kubeconfig },
        { exec: ctx.exec, env: ctx.env, progress: (l) => ctx.out.err(l), signal: ctx.signal },
      );
      ctx.out.err(`agent installed: release ${a.release} in namespace ${a.namespace} (${a.chart})`);
    }
    ctx.out.out(`export KUBECONFIG=${r.kubeconfig}`);
  });

  addUpFlags(
    sandbox
      .command('run')
      .description('Run a sandbox in the foreground until interrupted (what `up` starts in the background)'),
  ).action(async (flags: UpFlags) => {
    const { sandboxRun, checkEtcdInstalled, TIMINGS } = await import('../../sandbox/index.ts');
    await checkEtcdInstalled(ctx.exec);
    const dir = await dirOf(flags.dir);
    await sandboxRun(
      {
        dir,
        controlPlanes: flags.controlPlanes,
        workers: flags.workers,
        version: flags.version,
        workload: flags.workload,
        timing: TIMINGS[flags.timing],
        keyAlgorithm: flags.keyAlgorithm,
        nodeBinary: ctx.self.execPath,
        clock: ctx.clock,
        exec: ctx.exec,
        env: ctx.env,
        log: (l) => ctx.out.err(`${ctx.clock.now().toISOString()} ${l}`),
      },
      { signal: ctx.signal, progress: (l) => ctx.out.err(`progress: ${l}`) },
    );
  });

  sandbox
    .command('status')
    .description('Show whether the sandbox runs, and its nodes')
    .option('--dir <dir>', 'Directory that holds the sandbox (default: ~/.bosun/sandbox)')
    .option('-o, --output <format>', outputHelp(TABLE_FORMATS))
    .option('--no-headers', NO_HEADERS_HELP)
    .action(async (flags: { dir?: string; output?: string; headers: boolean }) => {
      const fmt = parseOutputFormat(flags.output, TABLE_FORMATS, 'sandbox status');
      const { sandboxStatus } = await import('../../sandbox/index.ts');
      const st = await sandboxStatus(await dirOf(flags.dir));
      if (isDocumentFormat(fmt)) return ctx.out.out(await formatDocument(st, fmt));
      ctx.out.err(
        `sandbox ${st.dir}: ${st.running ? `running (pid ${st.pid ?? '?'}, ${st.phase})` : 'not running'}${st.server ? `, API ${st.server}` : ''}`,
      );
      if (st.running) ctx.out.err(`export KUBECONFIG=${st.kubeconfig}`);
      const rows = st.nodes.map((n) => [
        n.name,
        n.role,
        st.running ? (n.ready ? 'Ready' : 'NotReady') + (n.schedulable ? '' : ',SchedulingDisabled') : '-',
        n.kubeletVersion || '-',
        n.role === 'control-plane' && st.running
          ? `etcd:${n.etcdRunning ? 'up' : 'down'} apiserver:${n.apiserverRunning ? 'up' : 'down'}`
          : '',
      ]);
      for (const line of formatTable(
        flags.headers ? ['NODE', 'ROLE', 'STATUS', 'KUBELET', 'CONTROL PLANE'] : null,
        rows,
      ))
        ctx.out.out(line);
    });

  sandbox
    .command('restore')
    .argument('<file>', 'etcd snapshot (a bosun backup or an etcdctl snapshot)')
    .summary('Bring the sandbox back to an etcd snapshot, as an admin restores a kubeadm cluster')
    .description(
      `Bring the sandbox back to an etcd snapshot the way an admin restores a kubeadm control plane: the
kube-apiserver and etcd static pods stop (their manifests move out of /etc/kubernetes/manifests),
every etcd member is restored from the snapshot with etcdctl snapshot restore (its name and peer
URL from its manifest, the whole membership, a new cluster token), etcd and then kube-apiserver
start again, and the controllers, the scheduler and the kubelets restart so that nothing acts on
what it cached before. Returns once every node and workload is ready again. Each member's previous
data is kept in DIR/nodes/NODE/host/var/lib/etcd.before-restore.

A stopped sandbox only gets new etcd data; the next 'bosun sandbox up' starts from it.

Exit codes: 0 restored, 1 failed (an invalid snapshot changes nothing), 2 usage error.`,
    )
    .option('--dir <dir>', 'Directory that holds the sandbox (default: ~/.bosun/sandbox)')
    .option('--encryption-key-file <file>', 'Key of an encrypted backup')
    .option('-o, --output <format>', outputHelp(TABLE_FORMATS))
    .addHelpText(
      'after',
      `
Examples:
  # Back the sandbox up (cp-1's etcd, with cp-1's kubeadm PKI), break something, bring it back
  ETCD=$(grep -o 'advertise-client-urls=[^ ]*' /tmp/sb/nodes/cp-1/host/etc/kubernetes/manifests/etcd.yaml | cut -d= -f2)
  bosun backup --endpoints "$ETCD" --pki-dir /tmp/sb/nodes/cp-1/host/etc/kubernetes/pki --dir /tmp/sb/backups
  kubectl delete namespace shop
  bosun sandbox restore --dir /tmp/sb /tmp/sb/backups/etcd-*.db`,
    )
    .action(async (file: string, flags: { dir?: string; encryptionKeyFile?: string; output?: string }) => {
      const fmt = parseOutputFormat(flags.output, TABLE_FORMATS, 'sandbox restore');
      const { sandboxRestore, resolveDir } = await import('../../sandbox/index.ts');
      const dir = await dirOf(flags.dir);
      const r = await sandboxRestore(
        dir,
        resolveDir(file, ctx.cwd),
        flags.encryptionKeyFile ? { keyFile: resolveDir(flags.encryptionKeyFile, ctx.cwd) } : {},
        { exec: ctx.exec, env: ctx.env, clock: ctx.clock, progress: (l) => ctx.out.err(l) },
      );
      if (isDocumentFormat(fmt)) return ctx.out.out(await formatDocument(r, fmt));
      ctx.out.out(
        r.live
          ? `sandbox ${dir} restored to revision ${r.revision} (${r.keys} keys, members ${r.members.join(', ')})`
          : `sandbox ${dir} (stopped) restored to revision ${r.revision} (${r.keys} keys, members ${r.members.join(', ')}); start it with: bosun sandbox up --dir ${dir}`,
      );
    });

  sandbox
    .command('down')
    .description('Stop the sandbox and every process it started (a second down is harmless)')
    .option('--dir <dir>', 'Directory that holds the sandbox (default: ~/.bosun/sandbox)')
    .action(async (flags: { dir?: string }) => {
      const { sandboxDown } = await import('../../sandbox/index.ts');
      ctx.out.out(await sandboxDown(await dirOf(flags.dir)));
    });
}
