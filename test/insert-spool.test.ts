/**
 * The chDB RowBinary insert spool (sinks/clickhouse/connection.ts): a process SIGKILLed mid-insert leaves its
 * spool directory (`cdr-pipeline-insert-<pid>-XXXXXX`, in /dev/shm) behind; the next process to open embedded
 * ClickHouse removes the spools of dead processes, and never those of a live one or names it cannot attribute.
 */
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readlinkSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, expect, it } from 'vitest';
import { openEmbedded, removeStaleSpools } from '../sinks/clickhouse/connection.js';
import { chPath, uniqueName } from './helpers.js';

const cleanup: (() => void)[] = [];
afterAll(() => {
  for (const f of cleanup) f();
});

/** This process's PID namespace id, as spool names carry it. */
const ns = /(\d+)/.exec(readlinkSync('/proc/self/ns/pid'))![1]!;

/** A pid that just exited (a child that ran and was reaped). */
function deadPid(): number {
  const r = spawnSync(process.execPath, ['-e', '']);
  return r.pid!;
}

function spool(parent: string, name: string): string {
  const dir = join(parent, name);
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, '7.bin'), Buffer.alloc(1024));
  return dir;
}

it('removes the spools of dead processes and of this pid (not open), never a live process\'s or an unattributable one', async () => {
  const parent = mkdtempSync(join(tmpdir(), 'cdr-spool-test-'));
  cleanup.push(() => rmSync(parent, { recursive: true, force: true }));
  const live = spawn('sleep', ['30'], { stdio: 'ignore' });
  cleanup.push(() => live.kill('SIGKILL'));
  const dead = spool(parent, `cdr-pipeline-insert-${ns}-${deadPid()}-aB3xYz`);
  const mine = spool(parent, `cdr-pipeline-insert-${ns}-${process.pid}-Qq1234`);
  const alive = spool(parent, `cdr-pipeline-insert-${ns}-${live.pid}-Zz9876`);
  // Another PID namespace (a container sharing /dev/shm): its pid says nothing about its owner here.
  const foreign = spool(parent, `cdr-pipeline-insert-${Number(ns) + 1}-${deadPid()}-Fo1234`);
  const legacy = spool(parent, 'cdr-pipeline-insert-Ab12Cd');
  const other = spool(parent, `something-else-${deadPid()}-abcdef`);
  const removed = removeStaleSpools(parent);
  expect(removed.sort()).toEqual([dead, mine].sort());
  expect(existsSync(dead)).toBe(false);
  expect(existsSync(mine)).toBe(false);
  expect(existsSync(alive)).toBe(true);
  expect(existsSync(foreign)).toBe(true);
  expect(existsSync(legacy)).toBe(true);
  expect(existsSync(other)).toBe(true);
  // A missing parent is nothing to clean, not an error.
  expect(removeStaleSpools(join(parent, 'missing'))).toEqual([]);
});

it('opening embedded ClickHouse removes a killed process\'s spool; its own spool works and goes at close', async () => {
  const parent = existsSync('/dev/shm') ? '/dev/shm' : tmpdir();
  const stale = spool(parent, `cdr-pipeline-insert-${ns}-${deadPid()}-kIlLd1`);
  cleanup.push(() => rmSync(stale, { recursive: true, force: true }));
  const conn = await openEmbedded({ path: chPath(), database: uniqueName('spool') });
  try {
    expect(existsSync(stale)).toBe(false);
    // A RowBinary insert goes through this process's spool (named by its pid), which stays while open.
    await conn.command('CREATE TABLE t (x UInt32) ENGINE = MergeTree ORDER BY x');
    const header = Buffer.from([1, 1, 0x78, 6, ...Buffer.from('UInt32')]);
    const row = Buffer.alloc(4);
    row.writeUInt32LE(42);
    await conn.insert('t', Buffer.concat([header, row]), {}, { format: 'RowBinaryWithNamesAndTypes', columns: ['x'] });
    expect(await conn.query('SELECT x FROM t')).toEqual([{ x: 42 }]);
    // Another start-up check in this process (a second connection) leaves the open spool alone.
    expect(readdirSync(parent).filter((d) => d.startsWith(`cdr-pipeline-insert-${ns}-${process.pid}-`))).toHaveLength(1);
    expect(removeStaleSpools(parent).filter((d) => d.includes(`-${process.pid}-`))).toEqual([]);
    await conn.insert('t', Buffer.concat([header, row]), {}, { format: 'RowBinaryWithNamesAndTypes', columns: ['x'] });
    expect(await conn.query('SELECT count() AS n FROM t')).toEqual([{ n: '2' }]);
  } finally {
    await conn.close();
  }
});
