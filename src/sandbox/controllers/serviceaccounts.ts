// The serviceaccount controller and the root CA publisher of kube-controller-manager
// (pkg/controller/serviceaccount, pkg/controller/certificates/rootcacertpublisher): every active
// namespace gets the ServiceAccount "default", and every namespace the ConfigMap kube-root-ca.crt
// holding the cluster CA (--root-ca-file), recreated when deleted and reset when changed. The
// ServiceAccount admission plugin needs the first; the kubelet projects the second into every pod
// as ca.crt.
import { readFileSync } from 'node:fs';
import { isDeleting } from '../apiserver/meta.ts';
import { resource } from '../apiserver/resources.ts';
import { ROOT_CA_CONFIGMAP } from '../apiserver/serviceaccount-admission.ts';
import type { KubeObject } from '../apiserver/types.ts';
import { isApiError, QueueController } from './base.ts';
import type { ControllerContext } from './context.ts';
import { Informer } from './informer.ts';

const serviceaccounts = resource('serviceaccounts');
const configmaps = resource('configmaps');

/** kube's description of the root CA ConfigMap. */
const DESCRIPTION =
  'Contains a CA bundle that can be used to verify the kube-apiserver when using internal endpoints such as the internal service IP or kubernetes.default.svc. No other usage is guaranteed across distributions of Kubernetes clusters.';

/** A namespace being deleted refuses new content; that is not a failure to retry. */
function refusedByNamespace(e: unknown): boolean {
  return isApiError(e, 404) || (isApiError(e, 403) && /is being terminated/.test((e as Error).message));
}

/** Ensures the "default" ServiceAccount in every active namespace. */
export class ServiceAccountsController extends QueueController {
  private readonly accounts: Informer;

  constructor(ctx: ControllerContext) {
    super('serviceaccount', ctx, { workers: 2 });
    this.accounts = new Informer(ctx.api, serviceaccounts, ctx.timing.retryMs, ctx.log);
  }

  protected register(): void {
    this.ctx.informers.namespaces.on((type, ns) => {
      if (type !== 'DELETED') this.enqueue(ns.metadata.name ?? '');
    });
    this.accounts.on((type, sa) => {
      if (type === 'DELETED' && sa.metadata.name === 'default') this.enqueue(sa.metadata.namespace ?? '');
    });
    void this.accounts.start();
  }

  override stop(): void {
    super.stop();
    this.accounts.stop();
  }

  protected async sync(name: string): Promise<void> {
    const ns = this.ctx.informers.namespaces.get(name);
    if (!ns || isDeleting(ns) || ns.status?.phase !== 'Active') return;
    await this.accounts.waitForSync();
    if (this.accounts.get(`${name}/default`)) return;
    try {
      await this.ctx.api.create(serviceaccounts, name, { metadata: { name: 'default' } });
    } catch (e) {
      if (isApiError(e, 409) || refusedByNamespace(e)) return;
      throw e;
    }
  }
}

/** Publishes the cluster CA as kube-root-ca.crt in every namespace. */
export class RootCaPublisher extends QueueController {
  private readonly maps: Informer;
  private readonly caPem: string;

  constructor(ctx: ControllerContext, rootCaFile: string) {
    super('root-ca-cert-publisher', ctx, { workers: 2 });
    this.caPem = readFileSync(rootCaFile, 'utf8');
    this.maps = new Informer(ctx.api, configmaps, ctx.timing.retryMs, ctx.log);
  }

  protected register(): void {
    this.ctx.informers.namespaces.on((type, ns) => {
      if (type !== 'DELETED') this.enqueue(ns.metadata.name ?? '');
    });
    this.maps.on((_type, cm) => {
      if (cm.metadata.name === ROOT_CA_CONFIGMAP) this.enqueue(cm.metadata.namespace ?? '');
    });
    void this.maps.start();
  }

  override stop(): void {
    super.stop();
    this.maps.stop();
  }

  protected async sync(name: string): Promise<void> {
    const ns = this.ctx.informers.namespaces.get(name);
    if (!ns || isDeleting(ns)) return;
    await this.maps.waitForSync();
    const cm = this.maps.get(`${name}/${ROOT_CA_CONFIGMAP}`);
    const data = { 'ca.crt': this.caPem };
    try {
      if (!cm) {
        await this.ctx.api.create(configmaps, name, {
          metadata: { name: ROOT_CA_CONFIGMAP, annotations: { 'kubernetes.io/description': DESCRIPTION } },
          data,
        });
        return;
      }
      const cur = cm['data'] as Record<string, string> | undefined;
      if (
        cur?.['ca.crt'] === this.caPem &&
        Object.keys(cur).length === 1 &&
        cm.metadata.annotations?.['kubernetes.io/description'] === DESCRIPTION
      )
        return;
      const next: KubeObject = {
        ...cm,
        metadata: {
          ...cm.metadata,
          annotations: { ...(cm.metadata.annotations ?? {}), 'kubernetes.io/description': DESCRIPTION },
        },
        data,
      };
      await this.ctx.api.update(configmaps, name, ROOT_CA_CONFIGMAP, next);
    } catch (e) {
      if (isApiError(e, 409) || refusedByNamespace(e)) return;
      throw e;
    }
  }
}
