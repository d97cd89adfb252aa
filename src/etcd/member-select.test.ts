import { test } from 'node:test';
import assert from 'node:assert/strict';
import { chooseMember, type MemberProbe } from './member-select.ts';

const up = (
  endpoint: string,
  applied: number,
  extra: Partial<Extract<MemberProbe, { ok: true }>> = {},
): MemberProbe => ({
  endpoint,
  ok: true,
  memberId: endpoint.slice(-1),
  name: `cp-${endpoint.slice(-1)}`,
  clusterId: 'c',
  isLeader: false,
  isLearner: false,
  raftIndex: applied,
  raftAppliedIndex: applied,
  revision: applied,
  version: '3.4.23',
  errors: [],
  ...extra,
});
const down = (endpoint: string): MemberProbe => ({
  endpoint,
  ok: false,
  error: `etcd endpoint ${endpoint} is unreachable (ECONNREFUSED)`,
});

for (const tc of [
  {
    name: 'the first healthy endpoint in the given order',
    probes: [up('e1', 100), up('e2', 100)],
    want: 'e1',
  },
  { name: 'an unreachable member is skipped', probes: [down('e1'), up('e2', 100)], want: 'e2' },
  { name: 'a lagging member is skipped', probes: [up('e1', 100), up('e2', 5000)], want: 'e2' },
  { name: 'a small lag is tolerated', probes: [up('e1', 4950), up('e2', 5000)], want: 'e1' },
  {
    name: 'a member with an alarm is skipped',
    probes: [up('e1', 100, { errors: ['NOSPACE'] }), up('e2', 100)],
    want: 'e2',
  },
  { name: 'a learner is skipped', probes: [up('e1', 100, { isLearner: true }), up('e2', 100)], want: 'e2' },
  {
    name: 'nothing usable chooses none',
    probes: [down('e1'), up('e2', 1, { errors: ['CORRUPT'] })],
    want: null,
  },
]) {
  test(`chooseMember: ${tc.name}`, () => {
    const c = chooseMember(tc.probes, 100);
    assert.equal(c.chosen?.endpoint ?? null, tc.want);
    assert.equal(c.verdicts.length, tc.probes.length);
    assert.equal(c.verdicts.filter((v) => v.chosen).length, tc.want === null ? 0 : 1);
  });
}

test('chooseMember says why a lagging member was skipped', () => {
  const c = chooseMember([up('e1', 100), up('e2', 5000)], 100);
  assert.equal(
    c.verdicts[0]?.why,
    'member cp-1 is lagging: applied raft index 100, 4900 entries behind 5000',
  );
});
