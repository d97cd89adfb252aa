import { test } from 'node:test';
import assert from 'node:assert/strict';
import { formatOwnerTag, judgeLeftover, parseOwnerTag, UNKNOWN_OWNER_IDLE_MS, type Owner } from './owner.ts';

const self: Owner = { pid: 100, startTicks: 5000, boot: 'aaaaaaaaaaaa' };
const running = (o: Owner): boolean => o.pid === 200 && o.startTicks === 6000;

test('an owner tag round-trips; the legacy tag has no owner; anything else is not a tag', () => {
  const tag = formatOwnerTag(self, '0123456789ab');
  assert.equal(tag, '0123456789ab-100-5000-aaaaaaaaaaaa');
  assert.deepEqual(parseOwnerTag(tag), { owner: self });
  assert.deepEqual(parseOwnerTag('0123456789ab'), { owner: null });
  for (const bad of ['', 'xyz', '0123456789ab-1-2', '0123456789AB', '0123456789ab-1-2-aaaaaaaaaaaa-x'])
    assert.equal(parseOwnerTag(bad), null, bad);
});

for (const tc of [
  { name: 'this process is live', owner: self, idle: 0, want: 'live', why: /this process/ },
  {
    name: 'a running bosun on this boot is live, however old its file',
    owner: { pid: 200, startTicks: 6000, boot: self.boot },
    idle: 10 * UNKNOWN_OWNER_IDLE_MS,
    want: 'live',
    why: /pid 200\) is still running/,
  },
  {
    name: 'a dead bosun on this boot is stale at once',
    owner: { pid: 300, startTicks: 6000, boot: self.boot },
    idle: 0,
    want: 'stale',
    why: /pid 300\) is gone/,
  },
  {
    name: 'a reused pid (other start time) is not the owner: stale',
    owner: { pid: 200, startTicks: 1, boot: self.boot },
    idle: 0,
    want: 'stale',
    why: /gone/,
  },
  {
    name: 'another boot, machine or container: live while recently modified',
    owner: { pid: 200, startTicks: 6000, boot: 'bbbbbbbbbbbb' },
    idle: UNKNOWN_OWNER_IDLE_MS - 1,
    want: 'live',
    why: /another machine, container or boot .* may still be running/,
  },
  {
    name: 'another boot, machine or container: stale after an hour untouched',
    owner: { pid: 200, startTicks: 6000, boot: 'bbbbbbbbbbbb' },
    idle: UNKNOWN_OWNER_IDLE_MS,
    want: 'stale',
    why: /untouched for 60 min/,
  },
  {
    name: 'an older bosun (no owner): live while recently modified',
    owner: null,
    idle: 0,
    want: 'live',
    why: /older bosun/,
  },
  {
    name: 'an older bosun (no owner): stale after an hour untouched',
    owner: null,
    idle: UNKNOWN_OWNER_IDLE_MS + 1,
    want: 'stale',
    why: /older bosun, untouched/,
  },
])
  test(tc.name, () => {
    const v = judgeLeftover(tc.owner, tc.idle, self, running);
    assert.equal(v.state, tc.want);
    assert.match(v.why, tc.why);
  });
