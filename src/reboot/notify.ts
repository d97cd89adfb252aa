// Notifications of the agent's state changes that matter to people (states.ts Notice: blocked and
// why, draining, rebooting, back, done, failed with its diagnosis), sent to a generic webhook as
// JSON and/or to a Slack-compatible incoming webhook (Slack, Mattermost, Rocket.Chat take `text`).
// Sending never throws and never blocks the agent for long: each request has a timeout, a failed
// one is tried once more, and the outcome is returned for the caller to log. Webhook URLs are
// secrets (the token is in the path): results and errors show only scheme and host.
import type { Clock } from '../common/ports.ts';
import { redactError, redactUrl, type HttpPort } from './http.ts';
import type { AgentState, Notice } from './states.ts';

/** Where notifications go. */
export interface NotifyConfig {
  /** The node this agent runs on. */
  node: string;
  /** A name for the cluster, shown in messages (optional). */
  clusterName?: string;
  /** A generic webhook: POSTed one JSON document per notice. */
  webhookUrl?: string;
  /** A Slack-compatible incoming webhook. */
  slack?: { url: string; channel?: string; username?: string };
  /** Per request, in milliseconds. */
  timeoutMs: number;
  /** Wait before the second try, in milliseconds. */
  retryDelayMs: number;
}

/** The JSON a generic webhook receives. Stable field names. */
export interface WebhookPayload {
  source: 'bosun';
  cluster?: string;
  node: string;
  /** The notice's kind: blocked, draining, rebooting, back, done, failed. */
  event: Notice['kind'];
  /** The agent's state after the change. */
  state: AgentState;
  message: string;
  diagnosis?: string[];
  /** RFC 3339. */
  time: string;
}

/** How one target fared. */
export interface NotifyResult {
  target: 'webhook' | 'slack';
  /** The target's URL, redacted (scheme and host only). */
  url: string;
  ok: boolean;
  /** Why it failed, redacted. */
  error?: string;
}

const EMOJI: Record<Notice['kind'], string> = {
  blocked: ':no_entry:',
  draining: ':arrow_down:',
  rebooting: ':arrows_counterclockwise:',
  back: ':arrow_up:',
  done: ':white_check_mark:',
  failed: ':x:',
};

/** The generic webhook's payload. */
export function webhookPayload(
  cfg: NotifyConfig,
  notice: Notice,
  state: AgentState,
  now: Date,
): WebhookPayload {
  return {
    source: 'bosun',
    ...(cfg.clusterName ? { cluster: cfg.clusterName } : {}),
    node: cfg.node,
    event: notice.kind,
    state,
    message: notice.message,
    ...(notice.diagnosis && notice.diagnosis.length > 0 ? { diagnosis: notice.diagnosis } : {}),
    time: now.toISOString().replace(/\.\d{3}Z$/, 'Z'),
  };
}

/** The one line people read: "[prod] worker-1: drained; rebooting". */
export function noticeText(cfg: Pick<NotifyConfig, 'node' | 'clusterName'>, notice: Notice): string {
  return `${cfg.clusterName ? `[${cfg.clusterName}] ` : ''}${cfg.node}: ${notice.message}`;
}

/** A Slack incoming-webhook payload (text, with the diagnosis as a code block). */
export function slackPayload(cfg: NotifyConfig, notice: Notice): Record<string, string> {
  const lines = [`${EMOJI[notice.kind]} ${noticeText(cfg, notice)}`];
  if (notice.diagnosis && notice.diagnosis.length > 0) lines.push('```', ...notice.diagnosis, '```');
  return {
    text: lines.join('\n'),
    ...(cfg.slack?.username ? { username: cfg.slack.username } : {}),
    ...(cfg.slack?.channel ? { channel: cfg.slack.channel } : {}),
  };
}

/** Whether a webhook answer or error is worth a second try. */
function retryable(status: number | undefined): boolean {
  return status === undefined || status === 429 || status >= 500;
}

/** Sends notices to the configured targets. */
export class Notifier {
  constructor(
    private readonly cfg: NotifyConfig,
    private readonly deps: { http: HttpPort; clock: Clock },
  ) {}

  /** True when at least one target is configured. */
  get enabled(): boolean {
    return this.cfg.webhookUrl !== undefined || this.cfg.slack !== undefined;
  }

  /** Sends one notice to every target at once; resolves with each target's outcome, never rejects. */
  async send(notice: Notice, state: AgentState, signal?: AbortSignal): Promise<NotifyResult[]> {
    const now = this.deps.clock.now();
    const sends: Promise<NotifyResult>[] = [];
    if (this.cfg.webhookUrl !== undefined)
      sends.push(
        this.post('webhook', this.cfg.webhookUrl, webhookPayload(this.cfg, notice, state, now), signal),
      );
    if (this.cfg.slack !== undefined)
      sends.push(this.post('slack', this.cfg.slack.url, slackPayload(this.cfg, notice), signal));
    return Promise.all(sends);
  }

  private async post(
    target: NotifyResult['target'],
    url: string,
    payload: unknown,
    signal: AbortSignal | undefined,
  ): Promise<NotifyResult> {
    const shown = redactUrl(url);
    let error = '';
    for (let attempt = 1; attempt <= 2; attempt++) {
      let status: number | undefined;
      try {
        const res = await this.deps.http.request({
          url,
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify(payload),
          timeoutMs: this.cfg.timeoutMs,
          ...(signal ? { signal } : {}),
        });
        status = res.status;
        if (res.status >= 200 && res.status < 300) return { target, url: shown, ok: true };
        // The body of an error answer is short and names the problem ("invalid_token", "no_text").
        const body = res.body.trim().slice(0, 200);
        error = `HTTP ${res.status}${body ? `: ${redactError(new Error(body), url)}` : ''}`;
      } catch (e) {
        error = redactError(e, url);
      }
      if (attempt === 2 || !retryable(status) || signal?.aborted) break;
      try {
        await this.deps.clock.sleep(this.cfg.retryDelayMs, signal);
      } catch {
        break;
      }
    }
    return { target, url: shown, ok: false, error };
  }
}
