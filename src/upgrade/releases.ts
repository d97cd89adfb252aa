// Which Kubernetes releases exist: the ReleaseIndex port an upgrade plan asks for the newest patch of
// each minor it passes through, as `kubeadm upgrade plan` asks dl.k8s.io for "stable-1.N".
// - dlReleaseIndex: dl.k8s.io's stable-MAJOR.MINOR.txt and stable.txt (what kubeadm reads), through
//   a fetch the caller passes in;
// - listReleaseIndex: a list of releases, e.g. a sandbox's package repository (DIR/repo.json), whose
//   nodes can only install what it offers.
import { BosunError, errorMessage } from '../common/errors.ts';
import { compareVersions, minorIndex, parseVersion, type Version } from './skew.ts';

/** Where releases come from. */
export interface ReleaseIndex {
  /** For messages: "the sandbox's package repository", "https://dl.k8s.io/release". */
  readonly source: string;
  /** The newest release of a minor ("v1.34.3"); undefined when the minor has none (yet). */
  latestPatch(minor: Version): Promise<string | undefined>;
  /** The newest stable release. */
  newest(): Promise<string | undefined>;
}

/** An index over a list of releases ("1.34.3" or "v1.34.3"; pre-releases are ignored). */
export function listReleaseIndex(releases: readonly string[], source: string): ReleaseIndex {
  const parsed = releases
    .map((r) => parseVersion(r))
    .filter((v): v is Version => v !== undefined && /^v\d+\.\d+\.\d+$/.test(v.text))
    .sort(compareVersions);
  return {
    source,
    latestPatch: (minor) =>
      Promise.resolve(parsed.filter((v) => minorIndex(v) === minorIndex(minor)).at(-1)?.text),
    newest: () => Promise.resolve(parsed.at(-1)?.text),
  };
}

/**
 * Fetches a text file; undefined when the server answers 404 (or 403, as a bucket does for a file
 * that is not there). Throws for anything else.
 */
export type FetchText = (url: string) => Promise<string | undefined>;

/** dl.k8s.io's release markers (stable-1.34.txt holds "v1.34.3"), fetched once each. */
export function dlReleaseIndex(fetchText: FetchText, base = 'https://dl.k8s.io/release'): ReleaseIndex {
  const cache = new Map<string, Promise<string | undefined>>();
  const marker = (name: string): Promise<string | undefined> => {
    let p = cache.get(name);
    if (!p) {
      const url = `${base}/${name}.txt`;
      p = fetchText(url).then(
        (text) => {
          if (text === undefined) return undefined;
          const v = parseVersion(text.trim());
          if (!v)
            throw new BosunError(
              `the release marker ${url} holds "${text.trim().slice(0, 40)}", not a version`,
              'IO',
            );
          return v.text;
        },
        (e: unknown) => {
          throw new BosunError(
            `cannot read the Kubernetes release index at ${url}: ${errorMessage(e)}`,
            'IO',
            {
              cause: e,
              hint: 'bosun asks dl.k8s.io which releases exist, as kubeadm upgrade plan does: check this machine can reach it.',
            },
          );
        },
      );
      cache.set(name, p);
    }
    return p;
  };
  return {
    source: base,
    latestPatch: (minor) => marker(`stable-${minor.major}.${minor.minor}`),
    newest: () => marker('stable'),
  };
}
