/**
 * Where `restore` puts the LMDB it builds: a path that holds nothing yet (an empty directory, or an empty
 * file for a no_subdir LMDB, is accepted), never a configured live LMDB. The LMDB is built in a temporary
 * directory next to the target and moved into place only when complete, so an interrupted or failed restore
 * leaves no half LMDB at the target (a killed one may leave the `.tmp-` directory behind, never more).
 */
import { randomBytes } from 'node:crypto';
import { link, lstat, mkdir, readdir, realpath, rename, rm } from 'node:fs/promises';
import type { Stats } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import type { Config } from '../config/config.js';

export interface RestoreTarget {
  /** Absolute path of the LMDB to create (its directory, or its data file with no_subdir). */
  path: string;
  noSubdir: boolean;
  /** Where the LMDB is built before the move. */
  buildDir: string;
  /** The path to open the LMDB being built at. */
  buildPath: string;
}

async function lstatOrUndefined(path: string): Promise<Stats | undefined> {
  try {
    return await lstat(path);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
}

/** The path with symlinks resolved as far as it exists (a missing last part is kept as written). */
async function canonicalPath(path: string): Promise<string> {
  const abs = resolve(path);
  try {
    return await realpath(abs);
  } catch {
    try {
      return join(await realpath(dirname(abs)), basename(abs));
    } catch {
      return abs;
    }
  }
}

async function isEmptyTarget(path: string, st: Stats, noSubdir: boolean): Promise<boolean> {
  if (noSubdir) return st.isFile() && st.size === 0;
  return st.isDirectory() && (await readdir(path)).length === 0;
}

/** Checks the target (throws a one-line reason) and creates the temporary build directory next to it. */
export async function prepareRestoreTarget(target: string, noSubdir: boolean, config: Config): Promise<RestoreTarget> {
  const path = resolve(target);
  const canonical = await canonicalPath(path);
  for (const [name, lc] of Object.entries(config.lmdbs)) {
    if (canonical === await canonicalPath(lc.path)) {
      throw new Error(`refusing to restore into ${target}: it is the live LMDB lmdbs.${name} (${lc.path}); ` +
        'restore to another path and swap it in while the application is stopped');
    }
  }
  const st = await lstatOrUndefined(path);
  if (st && !(await isEmptyTarget(path, st, noSubdir))) {
    throw new Error(`refusing to restore into ${target}: it already exists${st.isDirectory() || st.size > 0 ? ' and is not empty' : ''} ` +
      '(restore always builds a new LMDB; remove it or choose another path)');
  }
  await mkdir(dirname(path), { recursive: true });
  const buildDir = `${path}.tmp-${randomBytes(4).toString('hex')}`;
  await mkdir(buildDir, { mode: 0o775 });
  return { path, noSubdir, buildDir, buildPath: noSubdir ? join(buildDir, basename(path)) : buildDir };
}

/** Moves the finished LMDB (closed) to the target; never replaces anything that appeared there meanwhile. */
export async function moveIntoPlace(t: RestoreTarget): Promise<void> {
  if (!t.noSubdir) {
    await rename(t.buildDir, t.path); // onto an empty directory at most: a non-empty one fails with ENOTEMPTY
    return;
  }
  if (await lstatOrUndefined(t.path)) await rename(t.buildPath, t.path); // the empty file checked before
  else await link(t.buildPath, t.path); // fails with EEXIST instead of replacing what appeared
  await discardBuild(t);
}

/** Removes the temporary build directory and everything in it. */
export async function discardBuild(t: RestoreTarget): Promise<void> {
  await rm(t.buildDir, { recursive: true, force: true });
}
