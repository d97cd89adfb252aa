// controller.ControllerExpectations: after a controller asks for N creations or deletions it
// waits until its informer has seen them before it counts pods again, so that a stale cache never
// makes it create or delete twice. Expectations expire after 5 minutes, as kube's do.

/** kube's ExpectationsTimeout. */
export const EXPECTATIONS_TIMEOUT_MS = 5 * 60 * 1000;

interface Expectation {
  adds: number;
  dels: Set<string>;
  at: number;
}

/** Outstanding creations and deletions per controller key. */
export class Expectations {
  private readonly m = new Map<string, Expectation>();

  constructor(private readonly now: () => number = () => Date.now()) {}

  /** Are there no outstanding operations (or have they expired)? */
  satisfied(key: string): boolean {
    const e = this.m.get(key);
    if (!e) return true;
    if (e.adds <= 0 && e.dels.size === 0) return true;
    return this.now() - e.at > EXPECTATIONS_TIMEOUT_MS;
  }

  /** Expects n creations and the deletion of these pod uids (replacing what was expected before). */
  expect(key: string, adds: number, dels: readonly string[]): void {
    this.m.set(key, { adds, dels: new Set(dels), at: this.now() });
  }

  /** Expects n creations (replacing what was expected before). */
  expectCreations(key: string, n: number): void {
    this.m.set(key, { adds: n, dels: new Set(), at: this.now() });
  }

  /** Expects the deletion of these pod uids. */
  expectDeletions(key: string, uids: readonly string[]): void {
    this.m.set(key, { adds: 0, dels: new Set(uids), at: this.now() });
  }

  /** One creation was seen (or failed). */
  creationObserved(key: string): void {
    const e = this.m.get(key);
    if (e && e.adds > 0) e.adds--;
  }

  /** A deletion was seen (or failed). */
  deletionObserved(key: string, uid: string): void {
    this.m.get(key)?.dels.delete(uid);
  }

  /** Forgets the key (its controller is gone). */
  delete(key: string): void {
    this.m.delete(key);
  }
}
