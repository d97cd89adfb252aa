// Test helper: a kubeadm control plane's files under a root, as `certs check --root ROOT` reads
// them: the PKI and kubeconfigs from bosun's generator (node cp-1 at 127.0.0.1 unless named, the
// init node unless joined, ECDSA keys) and,
// when asked, static pod manifests whose images carry a Kubernetes version.
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { generateClusterCas, writeControlPlanePki } from '../pki-gen.ts';

/** What to make. */
export interface TestNodeOptions {
  /** When the PKI is made; default now, whole seconds. */
  now?: Date;
  /** kubeadm release whose layout to write; default the newest. */
  kubernetesVersion?: string;
  /** notAfter per certificate (see NodePkiOptions.notAfterOverrides). */
  notAfterOverrides?: Record<string, Date>;
  /** Write manifests/ for the four static pods, images tagged with this version. */
  manifestsVersion?: string;
  /** Default cp-1. */
  nodeName?: string;
  /** A control plane that joined instead of running kubeadm init (no super-admin.conf). */
  joined?: boolean;
}

/** Writes a control plane (cp-1 unless named) under root (root/etc/kubernetes, root/var/lib/kubelet/pki). */
export async function writeTestControlPlane(root: string, opts: TestNodeOptions = {}): Promise<void> {
  const now = opts.now ?? new Date(Math.floor(Date.now() / 1000) * 1000);
  const cas = await generateClusterCas({ now, keyAlgorithm: 'ecdsa-p256' });
  await writeControlPlanePki(join(root, 'etc/kubernetes'), join(root, 'var/lib/kubelet/pki'), cas, {
    nodeName: opts.nodeName ?? 'cp-1',
    advertiseAddress: '127.0.0.1',
    controlPlaneEndpoint: '127.0.0.1:6443',
    now,
    keyAlgorithm: 'ecdsa-p256',
    ...(opts.joined ? { joined: true } : {}),
    ...(opts.kubernetesVersion ? { kubernetesVersion: opts.kubernetesVersion } : {}),
    ...(opts.notAfterOverrides ? { notAfterOverrides: opts.notAfterOverrides } : {}),
  });
  if (opts.manifestsVersion === undefined) return;
  const manifests = join(root, 'etc/kubernetes/manifests');
  await mkdir(manifests, { recursive: true });
  for (const c of ['kube-apiserver', 'kube-controller-manager', 'kube-scheduler'])
    await writeFile(
      join(manifests, `${c}.yaml`),
      `apiVersion: v1\nkind: Pod\nspec:\n  containers:\n  - image: registry.k8s.io/${c}:${opts.manifestsVersion}\n    name: ${c}\n`,
    );
  await writeFile(
    join(manifests, 'etcd.yaml'),
    'apiVersion: v1\nkind: Pod\nspec:\n  containers:\n  - image: registry.k8s.io/etcd:3.6.4-0\n    name: etcd\n',
  );
}
