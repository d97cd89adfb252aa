// The Events port (kube/ports.ts) on kube/client.ts: core/v1 Events created as client-go's
// recorder writes them for an object (its namespace, a unique name from the object's name and the
// time, firstTimestamp = lastTimestamp, count 1). The reboot agent records each state of its node
// this way, so `kubectl describe node` and `kubectl get events` tell the story.
import type { KubeClients } from './client.ts';
import type { Events } from './ports.ts';
import { seg, sender } from './requests.ts';
import type { Event } from './types.ts';

/** Builds the Events port on one set of clients. */
export function createEvents(clients: KubeClients): Events {
  const send = sender(clients);
  return {
    createEvent: (event) => {
      const namespace = event.metadata.namespace ?? 'default';
      return send<Event>(
        {
          resource: 'events',
          namespace,
          verb: 'create',
          ...(event.metadata.name ? { name: event.metadata.name } : {}),
        },
        {
          method: 'POST',
          path: `/api/v1/namespaces/${seg(namespace)}/events`,
          body: { ...event, apiVersion: 'v1', kind: 'Event', metadata: { ...event.metadata, namespace } },
        },
      );
    },
  };
}
