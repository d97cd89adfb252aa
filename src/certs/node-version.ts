// Which kubeadm release laid out this node, so that `certs check` and `certs renew all` expect the
// files that release writes (kubeadm before v1.29 writes no super-admin.conf). Read from the image
// tags of the node's static pod manifests (also one bosun parked during an interrupted restart),
// and only when the node has none, from the cluster's kube-system/kubeadm-config ConfigMap through
// a port. Never fails: an unknown version means the newest kubeadm's set.
import { join } from 'node:path';
import { errorMessage } from '../common/errors.ts';
import type { CertPaths } from './check.ts';
import { readPkiFile } from './files.ts';
import { imageVersion } from './kubeadm-spec.ts';

/** A kubeadm release and where bosun read it. */
export interface KubeadmVersion {
  /** "v1.28.15". */
  version: string;
  /** "the image of /etc/kubernetes/manifests/kube-apiserver.yaml" or "kube-system/kubeadm-config". */
  source: string;
}

/** Reads kubernetesVersion of kube-system/kubeadm-config; undefined when there is none. */
export type ClusterVersionReader = () => Promise<string | undefined>;

/** The control-plane components whose image tag is the Kubernetes version (etcd's is etcd's). */
const VERSIONED = ['kube-apiserver', 'kube-controller-manager', 'kube-scheduler'] as const;

/** Where restart.ts parks a manifest while its static pod goes away. */
export function parkingDir(paths: CertPaths): string {
  return join(paths.configDir, 'tmp', 'bosun-restart');
}

/** The version in the node's static pod manifests' images, if any names one. */
export async function versionFromManifests(paths: CertPaths): Promise<KubeadmVersion | undefined> {
  for (const dir of [join(paths.configDir, 'manifests'), parkingDir(paths)]) {
    for (const component of VERSIONED) {
      const file = join(dir, `${component}.yaml`);
      const r = await readPkiFile(file);
      const version = r.kind === 'ok' ? imageVersion(r.text, component) : undefined;
      if (version !== undefined) return { version, source: `the image of ${file}` };
    }
  }
  return undefined;
}

/**
 * The node's kubeadm version: from its manifests, else from the cluster when a reader is given.
 * onWarning hears why the cluster could not tell.
 */
export async function nodeKubeadmVersion(
  paths: CertPaths,
  deps: { clusterVersion?: ClusterVersionReader | undefined; onWarning?: (message: string) => void } = {},
): Promise<KubeadmVersion | undefined> {
  const fromFiles = await versionFromManifests(paths);
  if (fromFiles || !deps.clusterVersion) return fromFiles;
  try {
    const version = await deps.clusterVersion();
    return version === undefined ? undefined : { version, source: 'kube-system/kubeadm-config' };
  } catch (e) {
    deps.onWarning?.(
      `cannot read kube-system/kubeadm-config to tell this node's kubeadm version (${errorMessage(e)}); expecting the newest kubeadm's files`,
    );
    return undefined;
  }
}
