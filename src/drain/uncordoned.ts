// Who uncordoned a node in the middle of a drain, as far as the Node itself tells: the managedFields
// entry that appeared or moved since bosun's own last write (its manager, e.g. "kubectl" or
// "kubectl-uncordon"), else whether bosun's cordon annotations went too (bosun uncordon, from
// elsewhere), else only that it was someone outside this drain. Pure.
import type { Node } from '../kube/types.ts';
import { CORDONED_BY } from '../kube/annotations.ts';

/** Words for who uncordoned `after`, compared with the node as bosun last wrote it (`before`). */
export function whoUncordoned(before: Node | undefined, after: Node): string {
  const seen = new Set(
    (before?.metadata.managedFields ?? []).map(
      (f) => `${f.manager ?? ''}|${f.operation ?? ''}|${f.time ?? ''}`,
    ),
  );
  const writers = (after.metadata.managedFields ?? [])
    .filter(
      (f) =>
        f.subresource !== 'status' &&
        f.manager !== undefined &&
        !seen.has(`${f.manager}|${f.operation ?? ''}|${f.time ?? ''}`),
    )
    .sort((a, b) => Date.parse(b.time ?? '') - Date.parse(a.time ?? ''));
  const latest = writers[0];
  if (latest?.manager) return `by "${latest.manager}" (the Node's managedFields)`;
  if (
    before?.metadata.annotations?.[CORDONED_BY] !== undefined &&
    after.metadata.annotations?.[CORDONED_BY] === undefined
  )
    return "by someone who removed bosun's cordon annotations too (bosun uncordon, from elsewhere?)";
  return 'outside this drain (the Node does not say by whom: no managedFields entry changed)';
}
