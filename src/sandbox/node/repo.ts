// The simulated package repository (pkgs.k8s.io as apt and dnf see it): which Kubernetes
// versions exist, and the package version strings each package manager uses for them.
import semver from 'semver';

/** Patch releases per minor the repository offers (v1.28.0 .. v1.35.2). */
const LATEST_PATCH: Record<string, number> = {
  '1.28': 15,
  '1.29': 15,
  '1.30': 14,
  '1.31': 13,
  '1.32': 9,
  '1.33': 5,
  '1.34': 3,
  '1.35': 2,
};

/** Every release in the default repository, oldest first ("1.34.3"). */
export function defaultReleases(): string[] {
  const out: string[] = [];
  for (const [minor, last] of Object.entries(LATEST_PATCH))
    for (let p = 0; p <= last; p++) out.push(`${minor}.${p}`);
  return out;
}

/** The Debian package version of a release on pkgs.k8s.io ("1.34.3" -> "1.34.3-1.1"). */
export function debVersion(release: string): string {
  return `${release}-1.1`;
}

/** The RPM version of a release on pkgs.k8s.io ("1.34.3" -> "1.34.3-150500.1.1"). */
export function rpmVersion(release: string): string {
  return `${release}-150500.1.1`;
}

/**
 * Resolves what a user asked for ("1.34.1-1.1", "1.34.1-*", "1.34.1", "1.34.*") to a release the
 * repository has: the highest match. Undefined when none matches.
 */
export function resolveRelease(spec: string, releases: readonly string[]): string | undefined {
  const s = spec.trim().replace(/^v/, '');
  const upstream = s.replace(/-(1\.1|150500\.1\.1|\*|[0-9.]+)$/, '');
  const matches = releases.filter((r) => {
    if (upstream.includes('*')) {
      const re = new RegExp(`^${upstream.replace(/\./g, '\\.').replace(/\*/g, '.*')}$`);
      return re.test(r);
    }
    return r === upstream;
  });
  return matches.sort(semver.compare).at(-1);
}

/** The etcd image kubeadm pins for a Kubernetes minor (cmd/kubeadm/app/constants SupportedEtcdVersion). */
export function etcdImageTag(release: string): string {
  const minor = release.replace(/^v/, '').split('.').slice(0, 2).join('.');
  const table: Record<string, string> = {
    '1.28': '3.5.15-0',
    '1.29': '3.5.16-0',
    '1.30': '3.5.15-0',
    '1.31': '3.5.15-0',
    '1.32': '3.5.16-0',
    '1.33': '3.5.21-0',
    '1.34': '3.6.4-0',
    '1.35': '3.6.5-0',
  };
  return table[minor] ?? '3.6.5-0';
}

/** The CoreDNS image kubeadm deploys for a Kubernetes minor. */
export function corednsTag(release: string): string {
  const minor = release.replace(/^v/, '').split('.').slice(0, 2).join('.');
  return (
    (
      {
        '1.28': 'v1.10.1',
        '1.29': 'v1.11.1',
        '1.30': 'v1.11.1',
        '1.31': 'v1.11.3',
        '1.32': 'v1.11.3',
        '1.33': 'v1.12.0',
        '1.34': 'v1.12.1',
        '1.35': 'v1.13.1',
      } as Record<string, string>
    )[minor] ?? 'v1.12.1'
  );
}

/** The minor of a release ("1.34.3" or "v1.34.3" -> "1.34"). */
export function minorOf(release: string): string {
  return release.replace(/^v/, '').split('.').slice(0, 2).join('.');
}

/**
 * pkgs.k8s.io has one repository per minor (core:/stable:/v1.34/deb/ and .../rpm/): a node whose
 * source names v1.33 sees only 1.33.x packages until the line is changed (kubeadm's upgrade guide:
 * "Changing the package repository"). The minors named by apt source lines (a .list file's text).
 */
export function aptSourceMinors(text: string): string[] {
  const out: string[] = [];
  for (const line of text.split('\n')) {
    if (line.trim().startsWith('#')) continue;
    const m = /^\s*deb\s.*https:\/\/pkgs\.k8s\.io\/core:\/stable:\/v(\d+\.\d+)\/deb\/?\s/.exec(`${line} `);
    if (m?.[1] && !out.includes(m[1])) out.push(m[1]);
  }
  return out;
}

/** The file apt keeps a minor's package index in, under /var/lib/apt/lists (as apt names it). */
export function aptListsName(minor: string): string {
  return `pkgs.k8s.io_core:_stable:_v${minor}_deb_Packages`;
}

/** The minor of an apt lists file name, if it is pkgs.k8s.io's. */
export function aptListsMinor(file: string): string | undefined {
  return /^pkgs\.k8s\.io_core:_stable:_v(\d+\.\d+)_deb_Packages$/.exec(file)?.[1];
}

/** The minor a dnf/yum .repo file's enabled baseurl names (pkgs.k8s.io/core:/stable:/v1.34/rpm/). */
export function dnfRepoMinor(text: string): string | undefined {
  for (const line of text.split('\n')) {
    const m = /^\s*baseurl\s*=\s*https:\/\/pkgs\.k8s\.io\/core:\/stable:\/v(\d+\.\d+)\/rpm\/?/.exec(line);
    if (m?.[1]) return m[1];
  }
  return undefined;
}
