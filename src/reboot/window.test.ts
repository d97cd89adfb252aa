import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  ALWAYS,
  describeWindow,
  formatInZone,
  inWindow,
  nextWindowStart,
  parseBlackout,
  parseDays,
  parseMonthlyRule,
  parseTimeOfDay,
  parseWindow,
  windowClosesAt,
  windowState,
  type MaintenanceWindow,
  type WindowInput,
} from './window.ts';

function win(input: WindowInput): MaintenanceWindow {
  const r = parseWindow(input);
  if (!r.ok) throw new Error(`test window does not parse: ${r.error}`);
  return r.window;
}

const at = (iso: string): Date => new Date(iso);

// ---- parsing ----

for (const tc of [
  { in: '22:00', end: false, want: 79_200 },
  { in: '7:30', end: false, want: 27_000 },
  { in: '22:00:30', end: false, want: 79_230 },
  { in: '15', end: false, want: 54_000 },
  { in: '10pm', end: false, want: 79_200 },
  { in: '7:30am', end: false, want: 27_000 },
  { in: '12am', end: false, want: 0 },
  { in: '12pm', end: false, want: 43_200 },
  { in: '24:00', end: true, want: 86_400 },
  { in: '24:00', end: false, want: undefined },
  { in: '24:01', end: true, want: undefined },
  { in: '25:00', end: false, want: undefined },
  { in: '13pm', end: false, want: undefined },
  { in: '10:60', end: false, want: undefined },
  { in: 'noon', end: false, want: undefined },
  { in: '', end: false, want: undefined },
]) {
  test(`time of day ${JSON.stringify(tc.in)}${tc.end ? ' as an end' : ''} is ${tc.want}`, () =>
    assert.equal(parseTimeOfDay(tc.in, tc.end), tc.want));
}

for (const tc of [
  { in: ['mon', 'Tuesday', 'we'], want: [1, 2, 3] },
  { in: ['0', '6'], want: [0, 6] },
  { in: ['mon-fri'], want: [1, 2, 3, 4, 5] },
  { in: ['fri-mon'], want: [0, 1, 5, 6] },
  { in: ['sa', 'sat', 'saturday'], want: [6] },
]) {
  test(`days ${tc.in.join(',')} are ${tc.want.join(',')}`, () => {
    const r = parseDays(tc.in);
    assert.ok(r.ok);
    assert.deepEqual(r.days, tc.want);
  });
}

for (const tc of [
  { in: 'first tuesday', want: { kind: 'weekday', nth: 1, weekday: 2, offsetDays: 0 } },
  { in: '2nd Sunday', want: { kind: 'weekday', nth: 2, weekday: 0, offsetDays: 0 } },
  { in: 'last fri', want: { kind: 'weekday', nth: -1, weekday: 5, offsetDays: 0 } },
  { in: '2nd tuesday +4d', want: { kind: 'weekday', nth: 2, weekday: 2, offsetDays: 4 } },
  { in: 'last friday -1', want: { kind: 'weekday', nth: -1, weekday: 5, offsetDays: -1 } },
  { in: 'day 15', want: { kind: 'day', day: 15 } },
  { in: 'last day', want: { kind: 'day', day: -1 } },
]) {
  test(`monthly rule "${tc.in}" parses`, () => {
    const r = parseMonthlyRule(tc.in);
    assert.ok(r.ok, r.ok ? '' : r.error);
    assert.deepEqual({ ...r.rule, text: undefined }, { ...tc.want, text: undefined });
  });
}

for (const tc of [
  { in: '2025-12-25', want: { kind: 'dates', from: '2025-12-25', to: '2025-12-25' } },
  { in: '2025-12-24..2025-12-26', want: { kind: 'dates', from: '2025-12-24', to: '2025-12-26' } },
  { in: '12-25', want: { kind: 'yearly', from: '12-25', to: '12-25' } },
  { in: '12-30..01-02', want: { kind: 'yearly', from: '12-30', to: '01-02' } },
]) {
  test(`blackout "${tc.in}" parses`, () => {
    const r = parseBlackout(tc.in);
    assert.ok(r.ok, r.ok ? '' : r.error);
    const fmt = (d: { year?: number; month: number; day: number }): string =>
      [d.year, d.month, d.day]
        .filter((x) => x !== undefined)
        .map((x, i) => String(x).padStart(i === 0 && d.year !== undefined ? 4 : 2, '0'))
        .join('-');
    assert.deepEqual({ kind: r.blackout.kind, from: fmt(r.blackout.from), to: fmt(r.blackout.to) }, tc.want);
  });
}

for (const tc of [
  {
    name: 'an unknown time zone',
    in: { timeZone: 'Mars/Olympus' },
    field: 'timeZone',
    error:
      'unknown time zone "Mars/Olympus" (use an IANA name such as Europe/Berlin or America/New_York, or UTC)',
  },
  {
    name: "the host's own time zone (differs from node to node)",
    in: { timeZone: 'Local' },
    field: 'timeZone',
    error: 'unknown time zone "Local" (use an IANA name such as Europe/Berlin or America/New_York, or UTC)',
  },
  {
    name: 'an unknown day',
    in: { rebootDays: ['mon', 'funday'] },
    field: 'rebootDays',
    error:
      'invalid day "funday" (use su, mo, tu, we, th, fr, sa, full names, 0-6 with 0 for Sunday, or a range such as mon-fri)',
  },
  {
    name: 'a day out of range',
    in: { rebootDays: ['7'] },
    field: 'rebootDays',
    error:
      'invalid day "7" (use su, mo, tu, we, th, fr, sa, full names, 0-6 with 0 for Sunday, or a range such as mon-fri)',
  },
  {
    name: 'a malformed start time',
    in: { startTime: '25:00' },
    field: 'startTime',
    error: 'invalid startTime "25:00" (use HH:MM, HH:MM:SS or 10pm, 00:00 to 23:59)',
  },
  {
    name: 'a malformed end time',
    in: { endTime: '4 o clock' },
    field: 'endTime',
    error: 'invalid endTime "4 o clock" (use HH:MM, HH:MM:SS or 6am, 00:00 to 24:00)',
  },
  {
    name: 'equal start and end times',
    in: { startTime: '02:00', endTime: '2am' },
    field: 'endTime',
    error:
      'startTime and endTime are both 02:00: the window would be empty or a whole day (for whole days use 00:00 and 24:00)',
  },
  {
    name: 'a malformed monthly rule',
    in: { monthlyRule: ['every other tuesday'] },
    field: 'monthlyRule',
    error:
      'invalid monthly rule "every other tuesday": use "<first|second|third|fourth|fifth|last|1st..5th> <weekday> [+Nd]", "day N" or "last day"',
  },
  {
    name: 'a monthly rule that never falls on a reboot day',
    in: { monthlyRule: ['2nd tuesday'], rebootDays: ['sat', 'sun'] },
    field: 'monthlyRule',
    error: 'monthlyRule "2nd tuesday" never falls on rebootDays (sun,sat): the window would never open',
  },
  {
    name: 'a blackout that is not a date',
    in: { blackoutDates: ['2025-02-30'] },
    field: 'blackoutDates',
    error:
      'invalid blackout date "2025-02-30": use YYYY-MM-DD, YYYY-MM-DD..YYYY-MM-DD, or MM-DD (every year)',
  },
  {
    name: 'a blackout range that ends before it starts',
    in: { blackoutDates: ['2025-12-26..2025-12-24'] },
    field: 'blackoutDates',
    error: 'invalid blackout date "2025-12-26..2025-12-24": the range ends before it starts',
  },
] satisfies { name: string; in: WindowInput; field: string; error: string }[]) {
  test(`parseWindow refuses ${tc.name} with one line naming the field`, () => {
    const r = parseWindow(tc.in);
    assert.equal(r.ok, false);
    if (r.ok) return;
    assert.equal(r.field, tc.field);
    assert.equal(r.error, tc.error);
  });
}

test('a monthly rule with an offset may land on the reboot days', () => {
  assert.ok(parseWindow({ monthlyRule: ['2nd tuesday +4d'], rebootDays: ['sat'] }).ok);
});

test('the defaults are every day, all day, UTC: always open, never closing', () => {
  const w = win({});
  assert.deepEqual(w, ALWAYS);
  const s = windowState(w, at('2025-06-01T12:00:00Z'));
  assert.deepEqual(s, { open: true, closesAt: undefined });
});

// ---- inside or outside ----

const cases: { name: string; window: WindowInput; checks: [string, boolean][] }[] = [
  {
    name: 'office hours on weekdays (Kured-style)',
    window: { rebootDays: ['mon-fri'], startTime: '9am', endTime: '5pm', timeZone: 'America/Los_Angeles' },
    checks: [
      ['2019-04-04T09:30:00-07:00', true],
      ['2019-04-04T08:59:59-07:00', false],
      ['2019-04-04T17:00:00-07:00', false], // the end is exclusive
      ['2019-04-04T16:59:59-07:00', true],
      ['2019-04-06T12:00:00-07:00', false], // Saturday
    ],
  },
  {
    name: 'a weeknight window across midnight (kured#204)',
    window: {
      rebootDays: ['mon', 'tue', 'wed', 'thu', 'fri'],
      startTime: '9pm',
      endTime: '5am',
      timeZone: 'America/Los_Angeles',
    },
    checks: [
      ['2019-04-04T00:49:00-07:00', true], // Thursday 00:49: Wednesday's opening
      ['2019-04-04T22:49:00-07:00', true],
      ['2019-04-05T08:59:00-07:00', false],
      ['2019-04-05T09:01:00-07:00', false],
      ['2019-03-31T10:00:00-07:00', false],
      ['2019-04-04T12:00:00-07:00', false],
      ['2019-04-06T01:00:00-07:00', true], // Saturday 01:00: Friday's opening runs on
      ['2019-04-01T01:00:00-07:00', false], // Monday 01:00: Sunday has no opening
    ],
  },
  {
    name: 'the night after Patch Tuesday (2nd tuesday, Berlin)',
    window: { monthlyRule: ['2nd tuesday'], startTime: '22:00', endTime: '04:00', timeZone: 'Europe/Berlin' },
    checks: [
      ['2025-01-14T22:30:00+01:00', true],
      ['2025-01-15T03:59:00+01:00', true],
      ['2025-01-15T04:00:00+01:00', false],
      ['2025-01-07T22:30:00+01:00', false], // 1st Tuesday
      ['2025-01-21T22:30:00+01:00', false], // 3rd Tuesday
      ['2025-02-11T23:00:00+01:00', true],
    ],
  },
  {
    name: 'first tuesday, last friday and 2nd sunday together',
    window: {
      monthlyRule: ['first tuesday', 'last friday', '2nd sunday'],
      startTime: '01:00',
      endTime: '03:00',
    },
    checks: [
      ['2025-02-04T02:00:00Z', true], // first Tuesday of February
      ['2025-02-11T02:00:00Z', false],
      ['2025-01-31T02:00:00Z', true], // last Friday of January
      ['2025-01-24T02:00:00Z', false],
      ['2025-03-09T02:00:00Z', true], // 2nd Sunday of March
      ['2025-03-02T02:00:00Z', false],
    ],
  },
  {
    name: 'the Saturday after Patch Tuesday (2nd tuesday +4d)',
    window: { monthlyRule: ['2nd tuesday +4d'], rebootDays: ['sat'], startTime: '08:00', endTime: '12:00' },
    checks: [
      ['2025-01-18T09:00:00Z', true],
      ['2025-01-11T09:00:00Z', false],
      ['2025-01-25T09:00:00Z', false],
    ],
  },
  {
    name: 'an offset that crosses into the next month (last friday +3d)',
    window: { monthlyRule: ['last friday +3d'], startTime: '08:00', endTime: '12:00' },
    checks: [
      ['2025-02-03T09:00:00Z', true], // Jan 31 + 3
      ['2025-01-27T09:00:00Z', false],
    ],
  },
  {
    name: 'a fixed day of the month (kured#1213), months without it have none',
    window: { monthlyRule: ['day 31'], startTime: '00:00', endTime: '06:00' },
    checks: [
      ['2025-01-31T01:00:00Z', true],
      ['2025-03-01T01:00:00Z', false],
      ['2025-04-30T01:00:00Z', false],
    ],
  },
  {
    name: 'the last day of the month',
    window: { monthlyRule: ['last day'], startTime: '00:00', endTime: '06:00' },
    checks: [
      ['2024-02-29T01:00:00Z', true],
      ['2025-02-28T01:00:00Z', true],
      ['2025-02-27T01:00:00Z', false],
    ],
  },
  {
    name: 'a blackout day cuts an opening at midnight',
    window: { startTime: '22:00', endTime: '04:00', blackoutDates: ['2025-12-25'] },
    checks: [
      ['2025-12-24T23:00:00Z', true],
      ['2025-12-25T01:00:00Z', false],
      ['2025-12-25T23:00:00Z', false],
      ['2025-12-26T01:00:00Z', true], // the 25th's opening, on the 26th
      ['2025-12-26T23:00:00Z', true],
    ],
  },
  {
    name: 'a yearly blackout range over new year',
    window: { startTime: '22:00', endTime: '04:00', blackoutDates: ['12-31..01-01'] },
    checks: [
      ['2026-12-31T23:00:00Z', false],
      ['2027-01-01T01:00:00Z', false],
      ['2027-01-02T01:00:00Z', true],
      ['2026-12-30T23:00:00Z', true],
    ],
  },
  {
    name: 'blackout dates are days of the window time zone',
    window: { startTime: '00:00', endTime: '24:00', timeZone: 'Asia/Tokyo', blackoutDates: ['2025-05-05'] },
    checks: [
      ['2025-05-04T16:00:00Z', false], // 01:00 on the 5th in Tokyo
      ['2025-05-04T14:00:00Z', true], // 23:00 on the 4th in Tokyo
    ],
  },
];
for (const c of cases) {
  for (const [iso, want] of c.checks) {
    test(`${c.name}: ${iso} is ${want ? 'inside' : 'outside'}`, () =>
      assert.equal(inWindow(win(c.window), at(iso)), want));
  }
}

// ---- opening and closing instants, DST ----

const instants: {
  name: string;
  window: WindowInput;
  now: string;
  want: { open: boolean; at: string | undefined };
}[] = [
  {
    name: 'a window that crosses midnight closes the next morning',
    window: { rebootDays: ['fri'], startTime: '22:00', endTime: '05:00', timeZone: 'Europe/Berlin' },
    now: '2025-01-10T23:00:00+01:00',
    want: { open: true, at: '2025-01-11T04:00:00.000Z' },
  },
  {
    name: 'a closed window names its next opening',
    window: { rebootDays: ['fri'], startTime: '22:00', endTime: '05:00', timeZone: 'Europe/Berlin' },
    now: '2025-01-11T06:00:00+01:00',
    want: { open: false, at: '2025-01-17T21:00:00.000Z' },
  },
  {
    name: 'the next opening of a monthly rule is weeks away',
    window: { monthlyRule: ['2nd tuesday'], startTime: '22:00', endTime: '04:00', timeZone: 'Europe/Berlin' },
    now: '2025-01-16T12:00:00Z',
    want: { open: false, at: '2025-02-11T21:00:00.000Z' },
  },
  {
    name: 'an all-day window closes at a blackout date',
    window: { blackoutDates: ['2025-06-10'], timeZone: 'Europe/Berlin' },
    now: '2025-06-01T12:00:00Z',
    want: { open: true, at: '2025-06-09T22:00:00.000Z' },
  },
  {
    name: 'an all-day window opens again after a blackout range',
    window: { blackoutDates: ['2025-06-10..2025-09-30'], timeZone: 'Europe/Berlin' },
    now: '2025-06-10T12:00:00Z',
    want: { open: false, at: '2025-09-30T22:00:00.000Z' },
  },
  {
    name: 'consecutive all-day openings (sat, sun) merge: open until Monday 00:00',
    window: { rebootDays: ['sat', 'sun'], startTime: '00:00', endTime: '24:00' },
    now: '2025-01-11T12:00:00Z',
    want: { open: true, at: '2025-01-13T00:00:00.000Z' },
  },
  {
    name: 'DST starts (Berlin, 02:00 -> 03:00): a 02:30 start opens when the clock jumps past it',
    window: { startTime: '02:30', endTime: '04:00', timeZone: 'Europe/Berlin' },
    now: '2025-03-30T00:00:00Z',
    want: { open: false, at: '2025-03-30T01:00:00.000Z' },
  },
  {
    name: 'DST starts: that opening ends at 04:00 summer time',
    window: { startTime: '02:30', endTime: '04:00', timeZone: 'Europe/Berlin' },
    now: '2025-03-30T01:00:00Z',
    want: { open: true, at: '2025-03-30T02:00:00.000Z' },
  },
  {
    name: 'DST ends (Berlin, 03:00 -> 02:00): a 02:30 start opens at its first occurrence',
    window: { startTime: '02:30', endTime: '05:00', timeZone: 'Europe/Berlin' },
    now: '2025-10-26T00:00:00Z',
    want: { open: false, at: '2025-10-26T00:30:00.000Z' },
  },
  {
    name: 'DST ends: a 02:30 end closes at its first occurrence',
    window: { startTime: '01:00', endTime: '02:30', timeZone: 'Europe/Berlin' },
    now: '2025-10-25T23:30:00Z',
    want: { open: true, at: '2025-10-26T00:30:00.000Z' },
  },
  {
    name: 'DST ends inside a window across midnight (New York): nine real hours',
    window: { rebootDays: ['sat'], startTime: '22:00', endTime: '06:00', timeZone: 'America/New_York' },
    now: '2025-11-02T02:00:00Z',
    want: { open: true, at: '2025-11-02T11:00:00.000Z' },
  },
  {
    name: 'DST starts inside a window across midnight (New York): seven real hours',
    window: { rebootDays: ['sat'], startTime: '22:00', endTime: '06:00', timeZone: 'America/New_York' },
    now: '2025-03-09T03:00:00Z',
    want: { open: true, at: '2025-03-09T10:00:00.000Z' },
  },
  {
    name: 'a zone whose DST starts at midnight (Santiago): 00:00 is the jump',
    window: { startTime: '00:00', endTime: '03:00', timeZone: 'America/Santiago' },
    now: '2025-09-07T03:30:00Z',
    want: { open: false, at: '2025-09-07T04:00:00.000Z' },
  },
];
for (const tc of instants) {
  test(`${tc.name}`, () => {
    const s = windowState(win(tc.window), at(tc.now));
    assert.equal(s.open, tc.want.open);
    const got = s.open ? s.closesAt : s.opensAt;
    assert.equal(got?.toISOString(), tc.want.at);
  });
}

test('nextWindowStart is the instant itself inside the window, and the next opening outside', () => {
  const w = win({ rebootDays: ['fri'], startTime: '22:00', endTime: '05:00', timeZone: 'Europe/Berlin' });
  const inside = at('2025-01-10T23:00:00+01:00');
  assert.equal(nextWindowStart(w, inside)?.toISOString(), inside.toISOString());
  assert.equal(
    nextWindowStart(w, at('2025-01-11T06:00:00+01:00'))?.toISOString(),
    '2025-01-17T21:00:00.000Z',
  );
});

test('windowClosesAt is undefined outside the window and for a window that never closes', () => {
  const w = win({ rebootDays: ['fri'], startTime: '22:00', endTime: '05:00' });
  assert.equal(windowClosesAt(w, at('2025-01-11T06:00:00Z')), undefined);
  assert.equal(windowClosesAt(ALWAYS, at('2025-01-11T06:00:00Z')), undefined);
  assert.equal(windowClosesAt(w, at('2025-01-10T23:00:00Z'))?.toISOString(), '2025-01-11T05:00:00.000Z');
});

test('a window whose only day is blacked out for years opens after the blackout', () => {
  const w = win({ monthlyRule: ['day 1'], blackoutDates: ['2025-01-01..2027-12-31'] });
  assert.equal(nextWindowStart(w, at('2025-01-01T00:00:00Z'))?.toISOString(), '2028-01-01T00:00:00.000Z');
});

test('describeWindow and formatInZone read as an admin writes them', () => {
  const w = win({
    rebootDays: ['mon-fri'],
    startTime: '22:00',
    endTime: '4am',
    timeZone: 'Europe/Berlin',
    monthlyRule: ['2nd tuesday +1d'],
    blackoutDates: ['12-24..12-26'],
  });
  assert.equal(
    describeWindow(w),
    'mon-fri 22:00-04:00 Europe/Berlin, only 2nd tuesday +1d, except 12-24..12-26',
  );
  assert.equal(describeWindow(win({ rebootDays: ['sat', 'sun'] })), 'sat,sun 00:00-24:00 UTC');
  assert.equal(formatInZone(w, at('2025-01-14T21:00:00Z')), '2025-01-14 22:00 GMT+1');
});
