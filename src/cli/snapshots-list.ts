/**
 * `lightningstream snapshots list [-l] [-t] [-p PREFIX]`: the objects in the storage, as the Go tool lists
 * them: every object (snapshot name or not), one name per line, sorted by name; `-t` sorts by the
 * snapshot time in the name (names that do not parse first, by name); `-p` filters by name prefix.
 *
 * `-l` starts each line like Go's (`%12d<TAB>name`: size, name) and adds tab-separated columns: the
 * last-modified time, then db, instance and snapshot time parsed from the name, or `invalid name: <why>`
 * for an object that is not a valid snapshot name (sync ignores those).
 */
import type { Command } from 'commander';
import { compareNames, type ObjectInfo } from '../storage/index.js';
import { parseJournalRef, parseObjectName, type ParseObjectResult } from '../snapshot/index.js';
import type { CommandContext, ContextFactory } from './context.js';
import { isoNanos } from '../snapshot/go-display.js';
import { withOutput, withStorage } from './snapshots-common.js';

interface ListFlags {
  long?: boolean;
  time?: boolean;
  prefix?: string;
}

interface Row {
  object: ObjectInfo;
  parsed: ParseObjectResult;
}

/** Go's -t order: unparsable names first (by name), then by snapshot time; ties by name. */
function compareByTime(a: Row, b: Row): number {
  if (!a.parsed.ok || !b.parsed.ok) {
    if (a.parsed.ok !== b.parsed.ok) return a.parsed.ok ? 1 : -1;
  } else if (a.parsed.value.timestamp !== b.parsed.value.timestamp) {
    return a.parsed.value.timestamp < b.parsed.value.timestamp ? -1 : 1;
  }
  return compareNames(a.object.name, b.object.name);
}

/** `2026-11-26T09:40:00Z` (seconds: what S3 reports). */
function isoSeconds(d: Date): string {
  return `${d.toISOString().slice(0, 19)}Z`;
}

function longLine({ object, parsed }: Row): string {
  const head = `${String(object.size).padStart(12)}\t${object.name}\t${isoSeconds(object.lastModified)}`;
  const ref = parsed.ok ? undefined : parseJournalRef(object.name);
  if (ref?.ok) {
    const f = ref.value.target;
    return `${head}\t${f.db}\t${f.instance}\t${isoNanos(ref.value.timestamp)}\tannounces ${f.name}\n`;
  }
  if (!parsed.ok) {
    // The parser's message starts with the quoted name; the name is on the line already.
    const prefix = `${JSON.stringify(object.name)}: `;
    const why = parsed.error.startsWith(prefix) ? parsed.error.slice(prefix.length) : parsed.error;
    return `${head}\tinvalid name: ${why}\n`;
  }
  const n = parsed.value;
  const kind = n.kind === 'delta' ? `\tdelta after ${isoNanos(n.previous)}` : '';
  return `${head}\t${n.db}\t${n.instance}\t${isoNanos(n.timestamp)}${kind}\n`;
}

async function list(ctx: CommandContext, flags: ListFlags): Promise<number> {
  const objects = await withStorage(ctx, (storage) => storage.list(flags.prefix ?? '', ctx.signal));
  const rows: Row[] = objects.map((object) => ({ object, parsed: parseObjectName(object.name) }));
  if (flags.time) rows.sort(compareByTime);
  return withOutput(async (out) => {
    for (const row of rows) await out.print(flags.long ? longLine(row) : `${row.object.name}\n`);
  });
}

export function register(parent: Command, contexts: ContextFactory): void {
  parent
    .command('list')
    .description('List snapshots')
    .option('-p, --prefix <prefix>', 'Prefix filter')
    .option('-l, --long', 'Add extra information: size, last modified, and db, instance and time from the name')
    .option('-t, --time', 'Sort by snapshot time (from the name) instead of by name')
    .action(contexts.action((ctx, flags: ListFlags) => list(ctx, flags)));
}
