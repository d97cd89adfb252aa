import { test } from 'node:test';
import assert from 'node:assert/strict';
import { redactError, redactUrl, splitCredentials } from './http.ts';

const slack = 'https://hooks.slack.com/services/T000/B000/XXXXSECRET';

for (const tc of [
  { in: slack, want: 'https://hooks.slack.com/…' },
  { in: 'http://admin:pw@prom:9090', want: 'http://prom:9090' },
  { in: 'http://prom:9090/?token=abc', want: 'http://prom:9090/…' },
  { in: 'not a url', want: '<invalid URL>' },
]) {
  test(`redactUrl(${tc.in}) keeps only scheme, host and port`, () => assert.equal(redactUrl(tc.in), tc.want));
}

test('redactError removes the URL, with and without credentials, and the credentials themselves', () => {
  const url = 'https://bot:t0ken@hooks.example.com/hook/XXXXSECRET';
  const e = new Error(`request to ${url} failed`, {
    cause: new Error('getaddrinfo ENOTFOUND https://hooks.example.com/hook/XXXXSECRET (user bot, t0ken)'),
  });
  const msg = redactError(e, url);
  assert.equal(
    msg,
    'request to https://hooks.example.com/… failed: getaddrinfo ENOTFOUND https://hooks.example.com/… (user https://hooks.example.com/…, https://hooks.example.com/…)',
  );
  assert.ok(!msg.includes('t0ken') && !msg.includes('SECRET'));
});

test('splitCredentials turns userinfo into a Basic header', () => {
  assert.deepEqual(splitCredentials('http://a%40b:p%3Aw@prom:9090/x'), {
    url: 'http://prom:9090/x',
    authorization: `Basic ${Buffer.from('a@b:p:w').toString('base64')}`,
  });
  assert.deepEqual(splitCredentials('http://prom:9090'), { url: 'http://prom:9090' });
});
