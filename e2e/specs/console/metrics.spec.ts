// /metrics after the operator's flow (a host approved, backups run): every
// metric the book's metrics reference documents is served, with its
// documented type, and the ones the flow drives carry what happened.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { expect, test } from '@playwright/test';
import { ctl } from '../support/cairn';
import { ADMIN_TOKEN_FILE } from '../support/env';

const BOOK = path.join(__dirname, '..', '..', '..', 'docs', 'book', 'src', 'reference', 'metrics.md');

/** The documented families: the table rows of the reference page, name and type. */
function documented(): { name: string; type: string }[] {
  const rows = fs.readFileSync(BOOK, 'utf8').split('\n');
  return rows
    .map((l) => /^\| `(cairn_[a-z_]+)` \| (counter|gauge|histogram) \|/.exec(l))
    .filter((m): m is RegExpExecArray => m !== null)
    .map((m) => ({ name: m[1], type: m[2] }));
}

/** Samples of the exposition: name → label sets with their values. */
function samples(text: string): Map<string, { labels: string; value: number }[]> {
  const out = new Map<string, { labels: string; value: number }[]>();
  for (const line of text.split('\n')) {
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[^}]*\})? (\S+)/.exec(line);
    if (!m) continue;
    const list = out.get(m[1]) ?? [];
    list.push({ labels: m[2] ?? '', value: Number(m[3]) });
    out.set(m[1], list);
  }
  return out;
}

test('every documented metric is served with its type, and the flow shows in them', async ({ request }) => {
  // A channel's test button, through the API: its name never resolves
  // (.invalid), so the attempt fails, and is counted like any other.
  const added = await ctl(['notifications', 'add', 'webhook', '--name', 'metrics probe', '--url', 'https://hooks.cairn-e2e.invalid/hook']);
  const channel = /added webhook channel (\d+)/.exec(added)?.[1];
  expect(channel, added).toBeDefined();
  await expect(ctl(['notifications', 'test', String(channel)])).rejects.toThrow(/resolve|not accepted|failed/i);

  const families = documented();
  expect(families.length, `metric rows in ${BOOK}`).toBeGreaterThan(10);
  const token = fs.readFileSync(ADMIN_TOKEN_FILE, 'utf8').trim();
  const answer = await request.get('/metrics', { headers: { authorization: `Bearer ${token}` } });
  expect(answer.status()).toBe(200);
  const text = await answer.text();

  const missing = families.filter((f) => !new RegExp(`^# TYPE ${f.name} ${f.type}$`, 'm').test(text));
  expect(missing, 'documented metrics not served with their documented type').toEqual([]);

  const got = samples(text);
  const sum = (name: string, where = '') =>
    (got.get(name) ?? []).filter((s) => s.labels.includes(where)).reduce((a, s) => a + s.value, 0);
  expect(sum('cairn_agents_connected'), 'the approved agent is connected').toBeGreaterThanOrEqual(1);
  expect(sum('cairn_hosts', 'status="approved"')).toBeGreaterThanOrEqual(1);
  expect(sum('cairn_jobs_finished_total', 'kind="backup",status="succeeded"') +
    sum('cairn_jobs_finished_total', 'status="succeeded",kind="backup"'), 'the flow\'s backups').toBeGreaterThanOrEqual(2);
  expect(sum('cairn_backup_added_bytes_total'), 'the bytes they added').toBeGreaterThan(0);
  const last = got.get('cairn_last_successful_backup_timestamp_seconds') ?? [];
  expect(last.length, 'a last-backup time per host and repository').toBeGreaterThan(0);
  const newest = Math.max(...last.map((s) => s.value));
  expect(Date.now() / 1000 - newest, 'the last backup is recent').toBeLessThan(3600);
  expect(sum('cairn_grpc_requests_total'), 'the agent\'s and ctl\'s calls').toBeGreaterThan(0);
  expect(sum('cairn_http_requests_total'), 'the console\'s pages').toBeGreaterThan(0);
  expect(sum('cairn_store_writes_failing'), 'the database is writable').toBe(0);
  expect(sum('cairn_notification_deliveries_total', 'outcome="failed"'), 'the failed test send').toBeGreaterThanOrEqual(1);
  const kinds = (got.get('cairn_alerts_firing') ?? []).map((s) => /kind="([a-z_]+)"/.exec(s.labels)?.[1]);
  expect(kinds, 'a series per alert kind, 0 while quiet').toEqual(expect.arrayContaining(['host_offline', 'job_failed', 'storage_failing']));
  await ctl(['notifications', 'remove', String(channel)]);
});
