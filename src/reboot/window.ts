// Maintenance windows: when the reboot agent may start work on a node. A window is a start and an
// end time of day in one time zone, on some days of the week, optionally only on days that a
// monthly rule picks ("2nd tuesday +4d", "last friday", "day 15"), never on blackout dates. Kured's
// window (pkg/timewindow) cannot cross midnight (kured#204) and knows no monthly rule (kured#891,
// kured#1213); this one does both.
//
// Semantics, in the window's time zone:
// - An opening starts on a qualifying day D at startTime and ends at endTime, on D when endTime is
//   later than startTime, otherwise on D+1 (the window crosses midnight). "24:00" as endTime is the
//   end of the day. The day filter and the monthly rule apply to D, the day the opening starts.
// - Blackout dates are whole local days on which the window is closed, whatever opening covers
//   them (an opening from the 24th 22:00 to the 25th 04:00 with the 25th blacked out ends at
//   midnight).
// - Wall-clock times are resolved as "the first instant at which the local clock shows that time":
//   in a repeated hour (DST ends) the first occurrence, in a skipped hour (DST starts) the instant
//   the clock jumps past it.
// - When the window closes, work already started finishes and no new work starts: callers ask
//   windowState() before they start a node, and use closesAt for messages and status.
// Pure: luxon is used only for time-zone offsets and formatting; the time is always passed in.
import { DateTime, type Zone } from 'luxon';

/** Day of the week, 0 = Sunday .. 6 = Saturday (Go's time.Weekday, as Kured numbers them). */
export type Weekday = 0 | 1 | 2 | 3 | 4 | 5 | 6;

/** A time of day in seconds after local midnight, 0..86400 (86400 only as an end: "24:00"). */
export type TimeOfDay = number;

/** A day picked once a month. */
export type MonthlyRule =
  | {
      kind: 'weekday';
      /** 1..5 for first..fifth, -1 for last. */
      nth: 1 | 2 | 3 | 4 | 5 | -1;
      weekday: Weekday;
      /** Days added to that weekday, -27..27 ("2nd tuesday +4d" is the Saturday after Patch Tuesday). */
      offsetDays: number;
      /** The rule as written, for messages. */
      text: string;
    }
  | {
      kind: 'day';
      /** 1..31, or -1 for the last day of the month. A month without that day has no opening. */
      day: number;
      text: string;
    };

/** A blackout: one date or an inclusive range; yearly ones repeat every year. */
export type Blackout =
  | { kind: 'dates'; from: LocalDate; to: LocalDate; text: string }
  | {
      kind: 'yearly';
      from: { month: number; day: number };
      to: { month: number; day: number };
      text: string;
    };

/** A calendar date without a time zone. */
export interface LocalDate {
  year: number;
  month: number;
  day: number;
}

/** A parsed, valid maintenance window. */
export interface MaintenanceWindow {
  /** The days an opening may start on, sorted. Never empty. */
  days: readonly Weekday[];
  start: TimeOfDay;
  end: TimeOfDay;
  /** An IANA time zone name (or a fixed offset such as "UTC+2"). */
  timeZone: string;
  /** When not empty, an opening starts only on a day one of these rules picks. */
  monthly: readonly MonthlyRule[];
  blackout: readonly Blackout[];
}

/** The window as the agent's flags and Helm values spell it. Absent fields take the defaults. */
export interface WindowInput {
  /** Days ("mon", "tuesday", "sa", "0".."6", ranges "mon-fri"); default every day. */
  rebootDays?: readonly string[];
  /** Default "00:00". */
  startTime?: string;
  /** Default "24:00". */
  endTime?: string;
  /** Default "UTC". */
  timeZone?: string;
  monthlyRule?: readonly string[];
  /** "2025-12-24", "2025-12-24..2025-12-26", "12-25" (every year), "12-24..12-26". */
  blackoutDates?: readonly string[];
}

/** The outcome of parsing a window: the window, or the field at fault and one line saying why. */
export type WindowParse =
  { ok: true; window: MaintenanceWindow } | { ok: false; field: keyof WindowInput; error: string };

/** Whether the window is open at an instant, and until or from when. */
export type WindowState =
  | {
      open: true;
      /** When the current opening ends; undefined when it stays open for more than a year. */
      closesAt: Date | undefined;
    }
  | {
      open: false;
      /** When the next opening starts; undefined when none starts within the search horizon. */
      opensAt: Date | undefined;
    };

/** The window that is always open (Kured's default: every day, all day, UTC). */
export const ALWAYS: MaintenanceWindow = {
  days: [0, 1, 2, 3, 4, 5, 6],
  start: 0,
  end: 86_400,
  timeZone: 'UTC',
  monthly: [],
  blackout: [],
};

// ---- parsing ----

const DAY_NAMES: Record<string, Weekday> = {
  su: 0,
  sun: 0,
  sunday: 0,
  mo: 1,
  mon: 1,
  monday: 1,
  tu: 2,
  tue: 2,
  tuesday: 2,
  we: 3,
  wed: 3,
  wednesday: 3,
  th: 4,
  thu: 4,
  thursday: 4,
  fr: 5,
  fri: 5,
  friday: 5,
  sa: 6,
  sat: 6,
  saturday: 6,
};

const SHORT_DAY = ['sun', 'mon', 'tue', 'wed', 'thu', 'fri', 'sat'] as const;

function parseWeekday(text: string): Weekday | undefined {
  const t = text.trim().toLowerCase();
  if (/^[0-6]$/.test(t)) return Number(t) as Weekday;
  return DAY_NAMES[t];
}

/** Parses rebootDays entries: names, numbers 0..6 (0 = Sunday), ranges such as "mon-fri" or "fri-mon". */
export function parseDays(
  items: readonly string[],
): { ok: true; days: Weekday[] } | { ok: false; error: string } {
  const set = new Set<Weekday>();
  for (const raw of items) {
    const item = raw.trim();
    if (item === '') continue;
    const range = /^([^-]+)-([^-]+)$/.exec(item);
    if (range) {
      const a = parseWeekday(range[1] ?? '');
      const b = parseWeekday(range[2] ?? '');
      if (a === undefined || b === undefined)
        return { ok: false, error: `invalid day range "${item}" (e.g. mon-fri)` };
      for (let d = a; ; d = ((d + 1) % 7) as Weekday) {
        set.add(d);
        if (d === b) break;
      }
      continue;
    }
    const d = parseWeekday(item);
    if (d === undefined)
      return {
        ok: false,
        error: `invalid day "${item}" (use su, mo, tu, we, th, fr, sa, full names, 0-6 with 0 for Sunday, or a range such as mon-fri)`,
      };
    set.add(d);
  }
  return { ok: true, days: [...set].sort((x, y) => x - y) };
}

/**
 * Parses a time of day: "22:00", "7:30", "22:00:30", "22", "10pm", "7:30am", and "24:00" when
 * allow24 (an end of day). Returns seconds after midnight.
 */
export function parseTimeOfDay(text: string, allow24: boolean): TimeOfDay | undefined {
  const m = /^(\d{1,2})(?::(\d{2}))?(?::(\d{2}))?\s*(am|pm)?$/i.exec(text.trim());
  if (!m) return undefined;
  let h = Number(m[1]);
  const min = m[2] === undefined ? 0 : Number(m[2]);
  const sec = m[3] === undefined ? 0 : Number(m[3]);
  if (min > 59 || sec > 59) return undefined;
  const ampm = m[4]?.toLowerCase();
  if (ampm !== undefined) {
    if (h < 1 || h > 12) return undefined;
    h = (h % 12) + (ampm === 'pm' ? 12 : 0);
  }
  if (h === 24 && min === 0 && sec === 0 && ampm === undefined) return allow24 ? 86_400 : undefined;
  if (h > 23) return undefined;
  return h * 3600 + min * 60 + sec;
}

const ORDINALS: Record<string, 1 | 2 | 3 | 4 | 5 | -1> = {
  first: 1,
  '1st': 1,
  second: 2,
  '2nd': 2,
  third: 3,
  '3rd': 3,
  fourth: 4,
  '4th': 4,
  fifth: 5,
  '5th': 5,
  last: -1,
};

const MONTHLY_FORMS =
  'use "<first|second|third|fourth|fifth|last|1st..5th> <weekday> [+Nd]", "day N" or "last day"';

/** Parses one monthly rule: "first tuesday", "2nd sun", "last friday", "2nd tuesday +4d", "day 15", "last day". */
export function parseMonthlyRule(
  text: string,
): { ok: true; rule: MonthlyRule } | { ok: false; error: string } {
  const t = text.trim().toLowerCase().replace(/\s+/g, ' ');
  if (t === 'last day') return { ok: true, rule: { kind: 'day', day: -1, text: text.trim() } };
  const day = /^day (\d{1,2})$/.exec(t);
  if (day) {
    const n = Number(day[1]);
    if (n < 1 || n > 31) return { ok: false, error: `invalid monthly rule "${text}": day must be 1..31` };
    return { ok: true, rule: { kind: 'day', day: n, text: text.trim() } };
  }
  const m = /^([a-z0-9]+) ([a-z]+)(?: ?([+-]) ?(\d{1,2}) ?d?)?$/.exec(t);
  const nth = m ? ORDINALS[m[1] ?? ''] : undefined;
  const weekday = m ? DAY_NAMES[m[2] ?? ''] : undefined;
  if (!m || nth === undefined || weekday === undefined)
    return { ok: false, error: `invalid monthly rule "${text}": ${MONTHLY_FORMS}` };
  const offset = m[4] === undefined ? 0 : Number(m[4]) * (m[3] === '-' ? -1 : 1);
  if (Math.abs(offset) > 27)
    return { ok: false, error: `invalid monthly rule "${text}": the offset must be between -27d and +27d` };
  return { ok: true, rule: { kind: 'weekday', nth, weekday, offsetDays: offset, text: text.trim() } };
}

function parseIsoDate(s: string): LocalDate | undefined {
  const m = /^(\d{4})-(\d{2})-(\d{2})$/.exec(s);
  if (!m) return undefined;
  const d = { year: Number(m[1]), month: Number(m[2]), day: Number(m[3]) };
  return isRealDate(d) ? d : undefined;
}

function parseMonthDay(s: string): { month: number; day: number } | undefined {
  const m = /^(\d{2})-(\d{2})$/.exec(s);
  if (!m) return undefined;
  const d = { month: Number(m[1]), day: Number(m[2]) };
  // 2024 is a leap year: 02-29 is a valid yearly date (it only applies in leap years).
  return isRealDate({ year: 2024, ...d }) ? d : undefined;
}

function isRealDate(d: LocalDate): boolean {
  if (d.month < 1 || d.month > 12 || d.day < 1) return false;
  return d.day <= daysInMonth(d.year, d.month);
}

/** Parses a blackout: "2025-12-24", "2025-12-24..2025-12-26", "12-25", "12-24..12-26" (yearly). */
export function parseBlackout(text: string): { ok: true; blackout: Blackout } | { ok: false; error: string } {
  const t = text.trim();
  const [a = '', b, ...rest] = t.split('..').map((x) => x.trim());
  const bad = {
    ok: false as const,
    error: `invalid blackout date "${text}": use YYYY-MM-DD, YYYY-MM-DD..YYYY-MM-DD, or MM-DD (every year)`,
  };
  if (rest.length > 0) return bad;
  const fromDate = parseIsoDate(a);
  if (fromDate) {
    const toDate = b === undefined ? fromDate : parseIsoDate(b);
    if (!toDate) return bad;
    if (dayNumber(toDate) < dayNumber(fromDate))
      return { ok: false, error: `invalid blackout date "${text}": the range ends before it starts` };
    return { ok: true, blackout: { kind: 'dates', from: fromDate, to: toDate, text: t } };
  }
  const fromMd = parseMonthDay(a);
  const toMd = b === undefined ? fromMd : parseMonthDay(b);
  if (!fromMd || !toMd) return bad;
  return { ok: true, blackout: { kind: 'yearly', from: fromMd, to: toMd, text: t } };
}

/** Whether a time zone name is one the window accepts: IANA names and fixed offsets, never the host's own zone. */
export function isValidTimeZone(tz: string): boolean {
  const t = tz.trim();
  if (t === '' || /^(local|system)$/i.test(t)) return false;
  return DateTime.fromMillis(0, { zone: t }).isValid;
}

/** Parses and checks a whole window; the first problem found is reported with its field. */
export function parseWindow(input: WindowInput): WindowParse {
  const timeZone = (input.timeZone ?? 'UTC').trim();
  if (!isValidTimeZone(timeZone))
    return {
      ok: false,
      field: 'timeZone',
      error: `unknown time zone "${input.timeZone}" (use an IANA name such as Europe/Berlin or America/New_York, or UTC)`,
    };
  const dayItems = input.rebootDays ?? [];
  const days = parseDays(dayItems.length === 0 ? ['0-6'] : dayItems);
  if (!days.ok) return { ok: false, field: 'rebootDays', error: days.error };
  if (days.days.length === 0)
    return { ok: false, field: 'rebootDays', error: 'rebootDays names no day: the window would never open' };
  const startText = input.startTime ?? '00:00';
  const start = parseTimeOfDay(startText, false);
  if (start === undefined)
    return {
      ok: false,
      field: 'startTime',
      error: `invalid startTime "${startText}" (use HH:MM, HH:MM:SS or 10pm, 00:00 to 23:59)`,
    };
  const endText = input.endTime ?? '24:00';
  const end = parseTimeOfDay(endText, true);
  if (end === undefined)
    return {
      ok: false,
      field: 'endTime',
      error: `invalid endTime "${endText}" (use HH:MM, HH:MM:SS or 6am, 00:00 to 24:00)`,
    };
  if (start === end)
    return {
      ok: false,
      field: 'endTime',
      error: `startTime and endTime are both ${startText}: the window would be empty or a whole day (for whole days use 00:00 and 24:00)`,
    };
  const monthly: MonthlyRule[] = [];
  for (const text of input.monthlyRule ?? []) {
    if (text.trim() === '') continue;
    const r = parseMonthlyRule(text);
    if (!r.ok) return { ok: false, field: 'monthlyRule', error: r.error };
    monthly.push(r.rule);
  }
  if (monthly.length > 0 && !monthly.some((r) => ruleCanFallOn(r, days.days))) {
    return {
      ok: false,
      field: 'monthlyRule',
      error: `monthlyRule ${monthly.map((r) => `"${r.text}"`).join(', ')} never falls on rebootDays (${days.days.map((d) => SHORT_DAY[d]).join(',')}): the window would never open`,
    };
  }
  const blackout: Blackout[] = [];
  for (const text of input.blackoutDates ?? []) {
    if (text.trim() === '') continue;
    const b = parseBlackout(text);
    if (!b.ok) return { ok: false, field: 'blackoutDates', error: b.error };
    blackout.push(b.blackout);
  }
  return { ok: true, window: { days: days.days, start, end, timeZone, monthly, blackout } };
}

function ruleCanFallOn(rule: MonthlyRule, days: readonly Weekday[]): boolean {
  if (rule.kind === 'day') return true;
  const wd = (((rule.weekday + rule.offsetDays) % 7) + 7) % 7;
  return days.includes(wd as Weekday);
}

// ---- calendar arithmetic (zone-free) ----

const DAY_MS = 86_400_000;

function daysInMonth(year: number, month: number): number {
  return new Date(Date.UTC(year, month, 0)).getUTCDate();
}

/** Days since 1970-01-01 of a calendar date. */
function dayNumber(d: LocalDate): number {
  return Math.floor(Date.UTC(d.year, d.month - 1, d.day) / DAY_MS);
}

function fromDayNumber(n: number): LocalDate {
  const t = new Date(n * DAY_MS);
  return { year: t.getUTCFullYear(), month: t.getUTCMonth() + 1, day: t.getUTCDate() };
}

function weekdayOf(n: number): Weekday {
  // 1970-01-01 was a Thursday.
  return ((((n + 4) % 7) + 7) % 7) as Weekday;
}

/** The day number of the nth (or last) weekday of a month, undefined when there is no fifth one. */
function nthWeekday(year: number, month: number, nth: number, weekday: Weekday): number | undefined {
  if (nth === -1) {
    const last = dayNumber({ year, month, day: daysInMonth(year, month) });
    return last - ((weekdayOf(last) - weekday + 7) % 7);
  }
  const first = dayNumber({ year, month, day: 1 });
  const n = first + ((weekday - weekdayOf(first) + 7) % 7) + (nth - 1) * 7;
  return fromDayNumber(n).month === month ? n : undefined;
}

function ruleMatches(rule: MonthlyRule, dayNum: number): boolean {
  const d = fromDayNumber(dayNum);
  if (rule.kind === 'day')
    return rule.day === -1 ? d.day === daysInMonth(d.year, d.month) : d.day === rule.day;
  // With an offset the picked day may come from the month before or after.
  for (const delta of [-1, 0, 1]) {
    const m0 = d.month - 1 + delta;
    const year = d.year + Math.floor(m0 / 12);
    const month = (((m0 % 12) + 12) % 12) + 1;
    const base = nthWeekday(year, month, rule.nth, rule.weekday);
    if (base !== undefined && base + rule.offsetDays === dayNum) return true;
  }
  return false;
}

function isBlackedOut(w: MaintenanceWindow, dayNum: number): boolean {
  if (w.blackout.length === 0) return false;
  const d = fromDayNumber(dayNum);
  const md = d.month * 100 + d.day;
  for (const b of w.blackout) {
    if (b.kind === 'dates') {
      if (dayNum >= dayNumber(b.from) && dayNum <= dayNumber(b.to)) return true;
    } else {
      const from = b.from.month * 100 + b.from.day;
      const to = b.to.month * 100 + b.to.day;
      if (from <= to ? md >= from && md <= to : md >= from || md <= to) return true;
    }
  }
  return false;
}

function qualifies(w: MaintenanceWindow, dayNum: number): boolean {
  if (!w.days.includes(weekdayOf(dayNum))) return false;
  return w.monthly.length === 0 || w.monthly.some((r) => ruleMatches(r, dayNum));
}

// ---- time-zone resolution ----

function zoneOf(w: MaintenanceWindow): Zone {
  return DateTime.fromMillis(0, { zone: w.timeZone }).zone;
}

/** The local day number of an instant. */
function localDay(zone: Zone, t: number): number {
  return Math.floor((t + zone.offset(t) * 60_000) / DAY_MS);
}

/**
 * The first instant at which the local clock shows `seconds` after midnight of day `dayNum`
 * (seconds may exceed 86400 to mean the following day). In a repeated hour: the first occurrence.
 * In a skipped hour: the instant the clock jumps past it.
 */
function resolveWall(zone: Zone, dayNum: number, seconds: number): number {
  const wall = dayNum * DAY_MS + seconds * 1000;
  const offsets = new Set([zone.offset(wall - DAY_MS), zone.offset(wall), zone.offset(wall + DAY_MS)]);
  let best: number | undefined;
  for (const o of offsets) {
    const t = wall - o * 60_000;
    if (zone.offset(t) === o && (best === undefined || t < best)) best = t;
  }
  if (best !== undefined) return best;
  // A gap: find the first instant whose local time is at or past the wall time.
  const os = [...offsets];
  let lo = wall - Math.max(...os) * 60_000;
  let hi = wall - Math.min(...os) * 60_000;
  const local = (t: number): number => t + zone.offset(t) * 60_000;
  while (hi - lo > 1) {
    const mid = Math.floor((lo + hi) / 2);
    if (local(mid) >= wall) hi = mid;
    else lo = mid;
  }
  return hi;
}

interface Segment {
  start: number;
  end: number;
}

/** The open parts of the opening that starts on day dayNum (empty when that day does not qualify). */
function openingSegments(w: MaintenanceWindow, zone: Zone, dayNum: number): Segment[] {
  if (!qualifies(w, dayNum)) return [];
  const start = resolveWall(zone, dayNum, w.start);
  const end = resolveWall(zone, dayNum, w.end > w.start ? w.end : w.end + 86_400);
  if (end <= start) return [];
  // Split at local midnights and drop blacked-out days.
  const out: Segment[] = [];
  let from = start;
  for (let day = dayNum; from < end; day++) {
    const midnight = resolveWall(zone, day + 1, 0);
    const to = Math.min(end, midnight);
    if (!isBlackedOut(w, day) && to > from) {
      const prev = out[out.length - 1];
      if (prev && prev.end === from) prev.end = to;
      else out.push({ start: from, end: to });
    }
    from = to;
  }
  return out;
}

/** How far ahead openings are searched (days). */
const HORIZON_DAYS = 800;
/** An opening that lasts longer than this (days) is reported as never closing. */
const CLOSE_HORIZON_DAYS = 400;

function isAlwaysOpen(w: MaintenanceWindow): boolean {
  return (
    w.days.length === 7 &&
    w.start === 0 &&
    w.end === 86_400 &&
    w.monthly.length === 0 &&
    w.blackout.length === 0
  );
}

/** Whether the window is open at `now`, and until when; or when it opens next. */
export function windowState(w: MaintenanceWindow, now: Date): WindowState {
  if (isAlwaysOpen(w)) return { open: true, closesAt: undefined };
  const zone = zoneOf(w);
  const t = now.getTime();
  const today = localDay(zone, t);
  // Openings last at most a day, so the one containing t started today or yesterday.
  for (const day of [today - 1, today]) {
    const current = openingSegments(w, zone, day).find((s) => s.start <= t && t < s.end);
    if (current === undefined) continue;
    // Follow openings that begin where this one ends (every day 00:00-24:00, or 22:00-24:00 and
    // 00:00-...): openings of day d start at or after d's midnight, so stop past the end.
    let end = current.end;
    for (let d = day + 1; resolveWall(zone, d, 0) <= end; d++) {
      if (d > today + CLOSE_HORIZON_DAYS) return { open: true, closesAt: undefined };
      for (const s of openingSegments(w, zone, d)) if (s.start <= end && s.end > end) end = s.end;
    }
    return { open: true, closesAt: new Date(end) };
  }
  const horizon = today + HORIZON_DAYS + extraHorizon(w, today);
  for (let d = today - 1; d <= horizon; d++) {
    const next = openingSegments(w, zone, d).find((s) => s.start > t);
    if (next) return { open: false, opensAt: new Date(next.start) };
  }
  return { open: false, opensAt: undefined };
}

/** Days past the last absolute blackout, so that a long blackout does not hide the next opening. */
function extraHorizon(w: MaintenanceWindow, today: number): number {
  let last = today;
  for (const b of w.blackout) if (b.kind === 'dates') last = Math.max(last, dayNumber(b.to));
  return Math.min(last - today, 3650);
}

/** Whether the window is open at `now`. */
export function inWindow(w: MaintenanceWindow, now: Date): boolean {
  return windowState(w, now).open;
}

/** The start of the next opening at or after `from` (`from` itself when open); undefined when none is found. */
export function nextWindowStart(w: MaintenanceWindow, from: Date): Date | undefined {
  const s = windowState(w, from);
  return s.open ? from : s.opensAt;
}

/** When the opening that contains `now` ends; undefined when the window is closed now or stays open. */
export function windowClosesAt(w: MaintenanceWindow, now: Date): Date | undefined {
  const s = windowState(w, now);
  return s.open ? s.closesAt : undefined;
}

// ---- descriptions ----

function hhmm(t: TimeOfDay): string {
  const h = Math.floor(t / 3600);
  const m = Math.floor((t % 3600) / 60);
  const s = t % 60;
  return `${String(h).padStart(2, '0')}:${String(m).padStart(2, '0')}${s ? `:${String(s).padStart(2, '0')}` : ''}`;
}

function describeDays(days: readonly Weekday[]): string {
  if (days.length === 7) return 'every day';
  // Runs of consecutive days as ranges, Monday first.
  const order: Weekday[] = [1, 2, 3, 4, 5, 6, 0];
  const parts: string[] = [];
  let run: Weekday[] = [];
  const flush = (): void => {
    if (run.length === 0) return;
    const first = SHORT_DAY[run[0] as Weekday];
    const last = SHORT_DAY[run[run.length - 1] as Weekday];
    parts.push(run.length >= 3 ? `${first}-${last}` : run.map((d) => SHORT_DAY[d]).join(','));
    run = [];
  };
  for (const d of order) {
    if (days.includes(d)) run.push(d);
    else flush();
  }
  flush();
  return parts.join(',');
}

/** One line for logs and status: "mon-fri 22:00-04:00 Europe/Berlin, 2nd tuesday +4d, except 12-25". */
export function describeWindow(w: MaintenanceWindow): string {
  const parts = [`${describeDays(w.days)} ${hhmm(w.start)}-${hhmm(w.end)} ${w.timeZone}`];
  if (w.monthly.length > 0) parts.push(`only ${w.monthly.map((r) => r.text).join(' or ')}`);
  if (w.blackout.length > 0) parts.push(`except ${w.blackout.map((b) => b.text).join(', ')}`);
  return parts.join(', ');
}

/** An instant as the window's users read it: "2025-01-14 22:00 CET". */
export function formatInZone(w: MaintenanceWindow, at: Date): string {
  return DateTime.fromMillis(at.getTime(), { zone: w.timeZone }).toFormat('yyyy-MM-dd HH:mm ZZZZ');
}
