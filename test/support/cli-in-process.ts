// Runs the bosun CLI through runCli in this process (faster than a separate process): what a
// test needs when it asserts exit code, stdout and stderr and starts no long-lived child itself.
import { runCli } from '../../src/cli/program.ts';
import { captureCtx } from './etcd-backup.ts';

/**
 * `bosun ARGS` through the real CLI in this process, in cwd, with no KUBECONFIG from the
 * environment: exit code, and stdout and stderr as text (lines joined by newlines).
 */
export async function bosunInProcess(
  cwd: string,
  args: string[],
): Promise<{ code: number; out: string; err: string }> {
  const c = captureCtx({ cwd });
  c.ctx.env = { ...c.ctx.env, KUBECONFIG: '' };
  const code = await runCli(args, c.ctx);
  return { code, out: c.out.join('\n'), err: c.err.join('\n') };
}
