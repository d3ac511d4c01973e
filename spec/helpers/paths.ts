/** Paths tests use: the repo root, its fixtures, and ../shared (absent on a user's machine). */
import * as fs from 'fs';
import * as path from 'path';

export const ROOT = path.resolve(__dirname, '../../..');
export const FIXTURES = path.join(ROOT, 'spec/fixtures');
export const MODELS = path.join(ROOT, 'models');
export const SHARED = process.env.SHARED_DIR ?? path.resolve(ROOT, '../shared');

export function sharedFile(rel: string): string | null {
  const p = path.join(SHARED, rel);
  return fs.existsSync(p) ? p : null;
}

/** Skips the calling test with a message when a ../shared file is absent. */
export function needShared(ctx: Mocha.Context, rel: string): string {
  const p = sharedFile(rel);
  if (!p) {
    console.log(`      (skipped: ${rel} not found under ${SHARED}; it exists only in the project's development machines)`);
    ctx.skip();
  }
  return p!;
}
